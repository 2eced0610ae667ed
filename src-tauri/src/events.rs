//! The engine's changes reach the windows as one Tauri event, `engine-changed`, whose payload lists the
//! kinds of change (`Change`: services, data, errors, log_writer, bandwidth). The windows fetch again what
//! shows a kind they care about (`watch` in ui/src/widgets/dom.ts) instead of polling on a timer, so an
//! idle server with every window open does no work at all.
//!
//! The engine's signals are `watch` channels that coalesce bursts; on top of that, changes are gathered
//! for [`GATHER`] and sent together, so a busy server costs each window at most a few fetches a second.

use std::collections::BTreeSet;
use std::time::Duration;

use postroom_engine::views::Change;
use postroom_engine::Engine;
use tauri::{AppHandle, Emitter};
use tokio::sync::watch;

/// How long changes are gathered into one event.
const GATHER: Duration = Duration::from_millis(250);

pub const EVENT: &str = "engine-changed";

/// Forwards the engine's change signals to every window until the app ends.
pub fn forward(app: AppHandle, engine: &Engine) {
    let mut signals = engine.change_signals();
    tauri::async_runtime::spawn(async move {
        loop {
            if !any_changed(&mut signals).await {
                return;
            }
            tokio::time::sleep(GATHER).await;
            let mut kinds = BTreeSet::new();
            for (what, rx) in &mut signals {
                if rx.has_changed().unwrap_or(false) {
                    rx.borrow_and_update();
                    kinds.extend(what.iter().copied());
                }
            }
            if !kinds.is_empty() {
                let _ = app.emit(EVENT, kinds.into_iter().collect::<Vec<_>>());
            }
        }
    });
}

/// Waits until one of the signals changes; false once every sender is gone.
async fn any_changed(signals: &mut [(&'static [Change], watch::Receiver<u64>)]) -> bool {
    loop {
        let live: Vec<_> = signals.iter_mut().filter(|(_, rx)| rx.has_changed().is_ok()).collect();
        if live.is_empty() {
            return false;
        }
        if live.iter().any(|(_, rx)| rx.has_changed().unwrap_or(false)) {
            return true;
        }
        let waits = live.into_iter().map(|(_, rx)| Box::pin(rx.changed()));
        if select_first(waits).await {
            return true;
        }
    }
}

/// The first of several waits to finish: true if it saw a change, false if its sender went away.
async fn select_first<F>(waits: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> bool
where
    F: std::future::Future<Output = Result<(), watch::error::RecvError>>,
{
    let mut waits: Vec<_> = waits.collect();
    std::future::poll_fn(move |cx| {
        for w in &mut waits {
            if let std::task::Poll::Ready(r) = w.as_mut().poll(cx) {
                return std::task::Poll::Ready(r.is_ok());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
