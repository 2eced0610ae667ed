//! Tauri commands: one file per window family, each a few lines over the engine API. Errors reach the UI
//! as the engine's `ApiError` (`{ code, message, field, fields }`). Work that may block (password hashing,
//! database writes) runs on the blocking pool, never on the UI thread.

mod bandwidth;
mod bans;
mod certificate;
mod collector;
mod diagnostics;
mod domains;
mod forwarding;
mod geoip;
mod messagestore;
mod overview;
mod queue;
mod services;
mod setup;
mod smtp;
mod spam;
mod users;

use postroom_engine::{ApiError, ApiResult, Engine};
use tauri::ipc::Invoke;
use tauri::{State, Wry};

/// Every `#[tauri::command]` in this folder (the list is generated: see handlers.rs).
pub fn handler() -> impl Fn(Invoke<Wry>) -> bool + Send + Sync + 'static {
    include!("handlers.rs")
}

/// Runs `f` with the engine on the blocking thread pool.
async fn blocking<T, F>(engine: State<'_, Engine>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> ApiResult<T> + Send + 'static,
{
    let engine = engine.inner().clone();
    tauri::async_runtime::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| ApiError::internal(format!("the task failed: {e}")))?
}

/// Shows a native open-file dialog and returns the chosen path (`None` when cancelled).
///
/// rfd's GTK backend keeps a GTK thread of its own and posts the dialog to GLib's default main context,
/// which Tauri's main thread runs: so the dialog must be awaited from a worker, never from the main
/// thread (that would deadlock).
async fn pick_one_file(dialog: rfd::AsyncFileDialog) -> Option<String> {
    dialog.pick_file().await.map(|f| f.path().display().to_string())
}
