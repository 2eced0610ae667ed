use postroom_engine::views::Overview;
use postroom_engine::{ApiError, ApiResult, Engine};
use tauri::{AppHandle, State};

/// The main window's figures: version, data folder, whether paused, every service's state, connections, today's counts, queue size, recent errors, user count, a log file that cannot be written.
#[tauri::command]
pub async fn get_overview(engine: State<'_, Engine>) -> ApiResult<Overview> {
    super::blocking(engine, |e| e.overview()).await
}

/// Pauses (closes every listener) or resumes (binds them again) the mail services.
#[tauri::command]
pub fn set_paused(engine: State<'_, Engine>, paused: bool) {
    engine.set_paused(paused);
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
