use postroom_engine::access::{bans, Ban};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub async fn list_bans(engine: State<'_, Engine>) -> ApiResult<Vec<Ban>> {
    super::blocking(engine, |e| bans::list(e.store())).await
}

#[tauri::command]
pub async fn clear_ban(engine: State<'_, Engine>, value: String) -> ApiResult<()> {
    super::blocking(engine, move |e| bans::clear(e.store(), &value)).await
}
