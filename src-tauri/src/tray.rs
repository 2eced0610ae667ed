//! The tray icon: a one-line status in its tooltip, a warning icon when a service has failed, a grey
//! one while paused, and the menu Open / Pause services (Resume services) / Quit.

use std::time::Duration;

use postroom_engine::Engine;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

const NORMAL: &[u8] = include_bytes!("../../icons/tray.png");
const WARNING: &[u8] = include_bytes!("../../icons/tray-warning.png");
const PAUSED: &[u8] = include_bytes!("../../icons/tray-paused.png");
const REFRESH: Duration = Duration::from_secs(2);

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Postroom", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause services", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pause, &PredefinedMenuItem::separator(app)?, &quit])?;
    let tray = TrayIconBuilder::with_id("postroom")
        .icon(Image::from_bytes(NORMAL)?)
        .tooltip("Postroom")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::windows::open(app, crate::windows::WindowName::Main),
            "pause" => {
                let engine = app.state::<Engine>();
                engine.set_paused(!engine.paused());
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

    let engine = app.state::<Engine>().inner().clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = None;
        loop {
            let reader = engine.clone();
            let overview = tauri::async_runtime::spawn_blocking(move || reader.overview()).await;
            if let Ok(Ok(overview)) = overview {
                let look: &'static [u8] = if overview.paused {
                    PAUSED
                } else if overview.has_failure() {
                    WARNING
                } else {
                    NORMAL
                };
                let _ = tray.set_tooltip(Some(overview.summary()));
                let _ = pause.set_text(if overview.paused { "Resume services" } else { "Pause services" });
                if shown != Some(look) {
                    if let Ok(icon) = Image::from_bytes(look) {
                        let _ = tray.set_icon(Some(icon));
                        shown = Some(look);
                    }
                }
            }
            tokio::select! {
                _ = engine.stopped() => return,
                _ = tokio::time::sleep(REFRESH) => {}
            }
        }
    });
    Ok(())
}
