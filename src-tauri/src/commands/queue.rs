use postroom_engine::queue::{self, QueueEntry};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// Everything not yet sent, oldest first.
#[tauri::command]
pub async fn list_queue(engine: State<'_, Engine>) -> ApiResult<Vec<QueueEntry>> {
    super::blocking(engine, |e| queue::list(e.store())).await
}

/// Makes a waiting or failed recipient due now; `not_found` if it is gone.
#[tauri::command]
pub async fn retry_queue_entry(engine: State<'_, Engine>, id: i64) -> ApiResult<()> {
    super::blocking(engine, move |e| queue::retry(e.store(), id)).await
}

/// Removes a recipient from the queue (the message is never sent to it); `not_found` if it is gone.
#[tauri::command]
pub async fn delete_queue_entry(engine: State<'_, Engine>, id: i64) -> ApiResult<()> {
    super::blocking(engine, move |e| queue::delete(e.store(), id)).await
}
