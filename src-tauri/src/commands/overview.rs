use postroom_engine::views::Overview;
use postroom_engine::{ApiResult, Engine};
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
