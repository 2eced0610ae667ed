use postroom_engine::queue::{self, QueueEntry};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub async fn list_queue(engine: State<'_, Engine>) -> ApiResult<Vec<QueueEntry>> {
    super::blocking(engine, |e| queue::list(e.store())).await
}

#[tauri::command]
pub async fn retry_queue_entry(engine: State<'_, Engine>, id: i64) -> ApiResult<()> {
    super::blocking(engine, move |e| queue::retry(e.store(), id)).await
}

#[tauri::command]
pub async fn delete_queue_entry(engine: State<'_, Engine>, id: i64) -> ApiResult<()> {
    super::blocking(engine, move |e| queue::delete(e.store(), id)).await
}
