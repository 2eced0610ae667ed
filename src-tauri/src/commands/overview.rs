use postroom_engine::views::Overview;
use postroom_engine::{ApiError, ApiResult, Engine};
use tauri::{AppHandle, State};

#[tauri::command]
pub async fn get_overview(engine: State<'_, Engine>) -> ApiResult<Overview> {
    super::blocking(engine, |e| e.overview()).await
}

#[tauri::command]
pub fn set_paused(engine: State<'_, Engine>, paused: bool) {
    engine.set_paused(paused);
}

#[tauri::command]
pub fn open_window(app: AppHandle, window: String) -> ApiResult<()> {
    if !crate::windows::is_known(&window) {
        return Err(ApiError::not_found(format!("no window called {window}")));
    }
    crate::windows::open(&app, &window);
    Ok(())
}
