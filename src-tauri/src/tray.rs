//! The tray icon: a one-line status in its tooltip, a warning icon when a service has failed (or an
//! attached service does not answer), a grey one while paused, and the menu Open / Pause services
//! (Resume services) / Quit. Attached to a service, the tooltip says so, and Quit ends only the app.

use std::time::Duration;

use postroom_engine::views::Overview;
use serde_json::json;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

use crate::backend::Backend;

const NORMAL: &[u8] = include_bytes!("../../icons/tray.png");
const WARNING: &[u8] = include_bytes!("../../icons/tray-warning.png");
const PAUSED: &[u8] = include_bytes!("../../icons/tray-paused.png");
const REFRESH: Duration = Duration::from_secs(2);

/// What the tray shows: the tooltip, the icon, and the pause item's words.
fn look(backend: &Backend, overview: &Result<Overview, postroom_engine::ApiError>) -> (String, &'static [u8], &'static str) {
    let attached = backend.engine().is_none();
    match overview {
        Ok(o) => {
            let icon = if o.paused {
                PAUSED
            } else if o.has_failure() {
                WARNING
            } else {
                NORMAL
            };
            let summary = o.summary();
            let tooltip = if attached { format!("{summary} (the postroomd service, pid {})", backend.link().pid) } else { summary };
            (tooltip, icon, if o.paused { "Resume services" } else { "Pause services" })
        }
        Err(e) => (format!("Postroom: {}", e.message), WARNING, "Pause services"),
    }
}

pub fn create(app: &AppHandle, backend: &Backend) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Postroom", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause services", true, None::<&str>)?;
    let quit_words = if backend.engine().is_some() { "Quit" } else { "Quit (the service keeps running)" };
    let quit = MenuItem::with_id(app, "quit", quit_words, true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pause, &PredefinedMenuItem::separator(app)?, &quit])?;
    let tray = TrayIconBuilder::with_id("postroom")
        .icon(Image::from_bytes(NORMAL)?)
        .tooltip("Postroom")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::windows::open(app, crate::windows::WindowName::Main),
            "pause" => {
                let backend = app.state::<Backend>().inner().clone();
                tauri::async_runtime::spawn(async move {
                    if let Ok(o) = backend.call_as::<Overview>("get_overview", serde_json::Value::Null).await {
                        let _ = backend.call("set_paused", json!({ "paused": !o.paused })).await;
                    }
                });
            }
            "quit" => crate::quit(app),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                crate::windows::open(tray.app_handle(), crate::windows::WindowName::Main);
            }
        })
        .build(app)?;

    let backend = backend.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = None;
        loop {
            let overview = backend.call_as::<Overview>("get_overview", serde_json::Value::Null).await;
            let (tooltip, icon, pause_words) = look(&backend, &overview);
            let _ = tray.set_tooltip(Some(tooltip));
            let _ = pause.set_text(pause_words);
            if shown != Some(icon) {
                if let Ok(image) = Image::from_bytes(icon) {
                    let _ = tray.set_icon(Some(image));
                    shown = Some(icon);
                }
            }
            match backend.engine() {
                Some(engine) => tokio::select! {
                    _ = engine.stopped() => return,
                    _ = tokio::time::sleep(REFRESH) => {}
                },
                None => tokio::time::sleep(REFRESH).await,
            }
        }
    });
    Ok(())
}
