//! The settings windows: one webview each, loading the front end at `index.html#/<name>`. Opening a
//! window that is already open brings it to the front. Closing the main window hides it to the tray.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent};

/// Name, title and size of every window the app opens.
const WINDOWS: [(&str, &str, f64, f64); 13] = [
    ("main", "Postroom", 940.0, 660.0),
    ("services", "Services", 720.0, 600.0),
    ("users", "Users", 800.0, 540.0),
    ("domains", "Local Domains", 520.0, 440.0),
    ("certificate", "TLS Certificate", 680.0, 540.0),
    ("smtp", "SMTP", 700.0, 620.0),
    ("queue", "Outbound Queue", 860.0, 520.0),
    ("bans", "Bans", 700.0, 440.0),
    ("diagnostics", "Diagnostics", 820.0, 700.0),
    ("geoip", "GeoIP", 640.0, 460.0),
    ("geoimport", "Import GeoIP Data", 800.0, 680.0),
    ("bandwidth", "Bandwidth Pools", 860.0, 660.0),
    ("bandwidthscript", "bandwidth.lua", 980.0, 720.0),
];

pub fn is_known(name: &str) -> bool {
    WINDOWS.iter().any(|w| w.0 == name)
}

/// Shows the named window, creating it if needed.
pub fn open(app: &AppHandle, name: &str) {
    if let Some(window) = app.get_webview_window(name) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some((label, title, width, height)) = WINDOWS.iter().find(|w| w.0 == name).copied() else {
        tracing::warn!(target: "desktop", window = name, "no such window");
        return;
    };
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
    let built = WebviewWindowBuilder::new(app, label, url)
        .title(title)
        .inner_size(width, height)
        .min_inner_size(width * 0.7, height * 0.7)
        .center()
        .build();
    if let Err(e) = built {
        tracing::error!(target: "desktop", window = label, error = %e, "cannot open window");
    }
}

/// The main window hides instead of closing: Postroom keeps running in the tray.
pub fn on_event(window: &Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == "main" {
            api.prevent_close();
            let _ = window.hide();
        }
    }
}
