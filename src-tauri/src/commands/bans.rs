use postroom_engine::access::{bans, Ban};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The addresses banned for failed logins or errors, with when the ban ends.
#[tauri::command]
pub async fn list_bans(engine: State<'_, Engine>) -> ApiResult<Vec<Ban>> {
    super::blocking(engine, |e| bans::list(e.store())).await
}

/// Lifts a ban; `not_found` if the address is no longer banned.
#[tauri::command]
pub async fn clear_ban(engine: State<'_, Engine>, value: String) -> ApiResult<()> {
    super::blocking(engine, move |e| bans::clear(e.store(), &value)).await
}
