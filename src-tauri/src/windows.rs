//! The settings windows: one webview each, loading the front end at `index.html#/<name>`. Opening a
//! window that is already open brings it to the front.
//!
//! Closing a window destroys it — the main window too: Postroom lives on in the tray, and a hidden
//! webview would keep its WebKit processes (some 200 MB) for nothing. Once the last window is gone the
//! web processes exit and the freed heap is handed back to the system; the tray's Open builds a new
//! main window.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent};

/// Every window the app opens. The UI spells them in lower case (`WindowName` in ui/src/commands.ts,
/// generated from this enum by postroom-contract) and loads `index.html#/<name>` in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowName {
    Main,
    Services,
    Users,
    Domains,
    Certificate,
    Smtp,
    Queue,
    Bans,
    Diagnostics,
    Geoip,
    Geoimport,
    Bandwidth,
    Bandwidthscript,
    Messagestore,
    Recyclebin,
    Lanforward,
    Spamfilter,
    Quarantine,
    Collectors,
    Setup,
}

impl WindowName {
    /// The window's label (its name), title and size.
    fn frame(self) -> (&'static str, &'static str, f64, f64) {
        match self {
            WindowName::Main => ("main", "Postroom", 940.0, 720.0),
            WindowName::Services => ("services", "Services", 720.0, 600.0),
            WindowName::Users => ("users", "Users", 800.0, 540.0),
            WindowName::Domains => ("domains", "Local Domains", 680.0, 560.0),
            WindowName::Certificate => ("certificate", "TLS Certificate", 680.0, 540.0),
            WindowName::Smtp => ("smtp", "SMTP", 700.0, 620.0),
            WindowName::Queue => ("queue", "Outbound Queue", 860.0, 520.0),
            WindowName::Bans => ("bans", "Bans", 700.0, 440.0),
            WindowName::Diagnostics => ("diagnostics", "Diagnostics", 820.0, 700.0),
            WindowName::Geoip => ("geoip", "GeoIP", 640.0, 460.0),
            WindowName::Geoimport => ("geoimport", "Import GeoIP Data", 800.0, 680.0),
            WindowName::Bandwidth => ("bandwidth", "Bandwidth Pools", 860.0, 660.0),
            WindowName::Bandwidthscript => ("bandwidthscript", "bandwidth.lua", 980.0, 720.0),
            WindowName::Messagestore => ("messagestore", "Message Store", 900.0, 700.0),
            WindowName::Recyclebin => ("recyclebin", "Recycle Bin", 980.0, 600.0),
            WindowName::Lanforward => ("lanforward", "LAN Forwarding", 900.0, 620.0),
            WindowName::Spamfilter => ("spamfilter", "Spam Filter", 760.0, 640.0),
            WindowName::Quarantine => ("quarantine", "Quarantine", 1000.0, 600.0),
            WindowName::Collectors => ("collectors", "Mail Collectors", 1000.0, 680.0),
            WindowName::Setup => ("setup", "Set Up Postroom", 820.0, 680.0),
        }
    }
}

/// Shows the window, creating it if needed.
pub fn open(app: &AppHandle, name: WindowName) {
    let (label, title, width, height) = name.frame();
    if let Some(window) = app.get_webview_window(label) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    build(app, label, &format!("index.html#/{label}"), title, width, height);
}

/// The viewer of one log file, in a window of its own (`log-security`, …).
pub fn open_log_viewer(app: &AppHandle, file: &str) {
    let label = format!("log-{file}");
    if let Some(window) = app.get_webview_window(&label) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    build(app, &label, &format!("index.html#/logview/{file}"), &format!("{file}.log"), 900.0, 620.0);
}

fn build(app: &AppHandle, label: &str, route: &str, title: &str, width: f64, height: f64) {
    let url = WebviewUrl::App(route.into());
    let mut builder = WebviewWindowBuilder::new(app, label, url)
        .title(title)
        .inner_size(width, height)
        .min_inner_size(width * 0.7, height * 0.7)
        .center();
    if let Some(dir) = crate::memory::web_extension_dir() {
        builder = builder.extensions_path(dir);
    }
    let built = builder.build();
    if let Err(e) = built {
        tracing::error!(target: "desktop", window = label, error = %e, "cannot open window");
        return;
    }
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE_AFTER_OPEN).await;
        let _ = tauri::async_runtime::spawn_blocking(crate::memory::after_window_loaded).await;
    });
}

/// How long after a window opens its start-up is taken to be over (see memory.rs).
const SETTLE_AFTER_OPEN: std::time::Duration = std::time::Duration::from_secs(5);

/// While windows are open, clean library pages are handed back this often (see memory.rs).
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands clean library pages back every [`TRIM_EVERY`] while a window is open (closed, the last window's
/// close did it once and nothing new is touched but what the tray and the engine use).
pub fn trim_while_open(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(TRIM_EVERY).await;
            if !app.webview_windows().is_empty() {
                let _ = tauri::async_runtime::spawn_blocking(crate::memory::after_window_loaded).await;
            }
        }
    });
}

/// How long after the last window closed the memory is handed back (its webview's teardown finishes
/// meanwhile).
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// A window closed: when it was the last one, the memory the windows used goes back to the system.
pub fn on_event(window: &Window, event: &WindowEvent) {
    if let WindowEvent::Destroyed = event {
        let app = window.app_handle().clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(TRIM_AFTER).await;
            if app.webview_windows().is_empty() {
                let released = tauri::async_runtime::spawn_blocking(crate::memory::release_window_memory).await.unwrap_or_default();
                tracing::info!(target: "desktop", released_kb = released, "every window closed; Postroom runs on in the tray");
            }
        });
    }
}
