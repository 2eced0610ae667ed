//! The engine's changes reach the windows as one Tauri event, `engine-changed`, whose payload lists the
//! kinds of change (`Change`: services, data, errors, log_writer, bandwidth). The windows fetch again what
//! shows a kind they care about (`watch` in ui/src/changes.ts) instead of polling on a timer, so an idle
//! server with every window open asks nothing of the engine.
//!
//! The engine's signals are `watch` channels that coalesce bursts; on top of that, changes are gathered
//! for [`GATHER`] and sent together, so a busy server costs each window at most a few fetches a second.

use std::collections::BTreeSet;
use std::time::Duration;

use postroom_engine::views::Change;
use postroom_engine::Engine;
use tauri::{AppHandle, Emitter};
use tokio::sync::mpsc;

/// How long changes are gathered into one event.
const GATHER: Duration = Duration::from_millis(250);

pub const EVENT: &str = "engine-changed";

/// Forwards the engine's change signals to every window until the app ends: one small task per signal
/// hands its kinds to the forwarder, which gathers them for [`GATHER`] and emits one event.
pub fn forward(app: AppHandle, engine: &Engine) {
    let (tx, mut rx) = mpsc::channel::<&'static [Change]>(16);
    for (kinds, mut signal) in engine.change_signals() {
        let tx = tx.clone();
        tauri::async_runtime::spawn(async move {
            while signal.changed().await.is_ok() {
                if tx.send(kinds).await.is_err() {
                    return;
                }
            }
        });
    }
    tauri::async_runtime::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut gathered: BTreeSet<Change> = first.iter().copied().collect();
            tokio::time::sleep(GATHER).await;
            while let Ok(more) = rx.try_recv() {
                gathered.extend(more.iter().copied());
            }
            let _ = app.emit(EVENT, gathered.into_iter().collect::<Vec<_>>());
        }
    });
}
