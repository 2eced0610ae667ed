use postroom_engine::admin::EngineLink;
use postroom_engine::ApiError;
use postroom_engine::ApiResult;
use tauri::{AppHandle, State};

use crate::backend::Backend;

/// Which engine the windows are using: the one inside this app (no socket), or a postroomd service's over its admin socket; its program, process, version and data folder.
#[tauri::command]
pub fn get_engine_link(backend: State<'_, Backend>) -> EngineLink {
    backend.link()
}

/// Shows the named window, creating it if needed (an open one comes to the front).
#[tauri::command]
pub fn open_window(app: AppHandle, window: crate::windows::WindowName) {
    crate::windows::open(&app, window);
}

/// Whether Postroom starts (in the tray, without a window) when the user logs in.
#[tauri::command]
pub fn get_autostart(app: AppHandle) -> ApiResult<bool> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch().is_enabled().map_err(|e| ApiError::io(format!("cannot read the login items: {e}")))
}

/// Starts Postroom at login (in the tray) or stops doing so; the new state.
#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> ApiResult<bool> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let done = if enabled { launcher.enable() } else { launcher.disable() };
    done.map_err(|e| ApiError::io(format!("cannot change the login items: {e}")))?;
    launcher.is_enabled().map_err(|e| ApiError::io(format!("cannot read the login items: {e}")))
}
