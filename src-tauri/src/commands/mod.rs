//! The windows' commands. Most are the engine's admin calls (`postroom_engine::admin`: the list is
//! `CALLS`), sent to the engine the app uses (`Backend`: its own, or a service's over the admin socket)
//! with the JSON the window sent; their errors reach the UI as the engine's `ApiError` (`{ code, message,
//! field, fields }`). The rest are the desktop's own `#[tauri::command]`s, one file per window family:
//! native dialogs, opening windows, the login item, and reading a file the admin picked. Work that may
//! block runs on the blocking pool, never on the UI thread.

mod certificate;
mod diagnostics;
mod geoip;
mod overview;
pub mod service;
mod setup;
mod users;

use postroom_engine::admin::CALLS;
use postroom_engine::{ApiError, ApiResult};
use serde_json::Value;
use tauri::ipc::{Invoke, InvokeBody, InvokeError};
use tauri::{Manager, Wry};

use crate::backend::Backend;

/// Every command: an admin call goes to the backend; the desktop's own commands (their list is
/// generated: see handlers.rs) run here.
pub fn handler() -> impl Fn(Invoke<Wry>) -> bool + Send + Sync + 'static {
    let desktop: Box<dyn Fn(Invoke<Wry>) -> bool + Send + Sync> = Box::new(include!("handlers.rs"));
    move |invoke: Invoke<Wry>| {
        let name = invoke.message.command();
        let Some(call) = CALLS.iter().find(|c| **c == name) else { return desktop(invoke) };
        let backend = invoke.message.webview().state::<Backend>().inner().clone();
        let args = match invoke.message.payload() {
            InvokeBody::Json(value) => value.clone(),
            InvokeBody::Raw(_) => Value::Null,
        };
        invoke.resolver.respond_async(async move {
            backend.call(call, args).await.map_err(|e| InvokeError(serde_json::to_value(e).unwrap_or_default()))
        });
        true
    }
}

/// Shows a native open-file dialog and returns the chosen path (`None` when cancelled).
///
/// rfd's GTK backend keeps a GTK thread of its own and posts the dialog to GLib's default main context,
/// which Tauri's main thread runs: so the dialog must be awaited from a worker, never from the main
/// thread (that would deadlock).
async fn pick_one_file(dialog: rfd::AsyncFileDialog) -> Option<String> {
    dialog.pick_file().await.map(|f| f.path().display().to_string())
}

/// The largest users file read (a list of an office's users is a few KB; anything over this is not one).
const MAX_CSV: u64 = 4 << 20;

/// Reads a users CSV the admin picked, here in the app (with the admin's own rights), bounded at [`MAX_CSV`].
async fn read_users_file(path: String) -> ApiResult<Vec<u8>> {
    tauri::async_runtime::spawn_blocking(move || {
        use std::io::Read;
        let file = std::fs::File::open(&path).map_err(|e| ApiError::io(format!("cannot read {path}: {e}")))?;
        let mut bytes = Vec::new();
        file.take(MAX_CSV + 1).read_to_end(&mut bytes).map_err(|e| ApiError::io(format!("cannot read {path}: {e}")))?;
        if bytes.len() as u64 > MAX_CSV {
            return Err(ApiError::io(format!("{path} is larger than {} MB: not a list of users", MAX_CSV >> 20)));
        }
        Ok(bytes)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the task failed: {e}")))?
}
