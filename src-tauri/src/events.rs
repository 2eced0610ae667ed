//! The engine's changes reach the windows as one Tauri event, `engine-changed`, whose payload lists the
//! kinds of change (`Change`: services, data, errors, log_writer, bandwidth). The windows fetch again what
//! shows a kind they care about (`watch` in ui/src/changes.ts) instead of polling on a timer, so an idle
//! server with every window open asks nothing of the engine.
//!
//! The changes come gathered (a few notices a second at most, `postroom_engine::admin::changes`): from
//! this app's engine, or from an attached service's admin socket, watched again every
//! [`RETRY`] while the service is away (and the windows told, so that they show it).

use std::time::Duration;

use postroom_engine::views::Change;
use tauri::{AppHandle, Emitter};

use crate::backend::Backend;

pub const EVENT: &str = "engine-changed";

/// How often an attached app tries to watch a service that went away.
const RETRY: Duration = Duration::from_secs(2);

/// Forwards the engine's changes to every window until the app ends.
pub fn forward(app: AppHandle, backend: &Backend) {
    let backend = backend.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(engine) = backend.engine() {
            let mut changes = postroom_engine::admin::changes(engine);
            while let Some(kinds) = changes.recv().await {
                let _ = app.emit(EVENT, kinds);
            }
            return;
        }
        let Some(client) = backend.client() else { return };
        loop {
            if let Ok(mut watch) = client.watch().await {
                backend.refresh_link().await;
                // Whatever happened while not watching.
                let _ = app.emit(EVENT, Change::ALL.to_vec());
                while let Some(kinds) = watch.next().await {
                    let _ = app.emit(EVENT, kinds);
                }
            }
            let _ = app.emit(EVENT, vec![Change::Services]);
            tokio::time::sleep(RETRY).await;
        }
    });
}
