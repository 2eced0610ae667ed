use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub async fn list_domains(engine: State<'_, Engine>) -> ApiResult<Vec<String>> {
    super::blocking(engine, |e| e.directory().domains()).await
}

#[tauri::command]
/// Returns the name as stored (lower case, no trailing dot).
pub async fn add_domain(engine: State<'_, Engine>, name: String) -> ApiResult<String> {
    super::blocking(engine, move |e| e.directory().add_domain(&name)).await
}

#[tauri::command]
pub async fn delete_domain(engine: State<'_, Engine>, name: String) -> ApiResult<()> {
    super::blocking(engine, move |e| e.directory().delete_domain(&name)).await
}
