use crate::queue::{self, QueueEntry};
use crate::engine::Engine;
use crate::error::ApiResult;

/// Everything not yet sent, oldest first.
pub fn list_queue(e: &Engine) -> ApiResult<Vec<QueueEntry>> {
    queue::list(e.store())
}

/// Makes a waiting or failed recipient due now; `not_found` if it is gone.
pub fn retry_queue_entry(e: &Engine, id: i64) -> ApiResult<()> {
    queue::retry(e.store(), id)
}

/// Removes a recipient from the queue (the message is never sent to it); `not_found` if it is gone.
pub fn delete_queue_entry(e: &Engine, id: i64) -> ApiResult<()> {
    queue::delete(e.store(), id)
}
