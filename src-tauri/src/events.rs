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
            let Some(first) = next_change(&mut signals).await else { return };
            // The signal that woke us has been marked seen by `changed()`: its kinds are taken here.
            let mut kinds: BTreeSet<Change> = signals[first].0.iter().copied().collect();
            tokio::time::sleep(GATHER).await;
            for (what, rx) in &mut signals {
                if rx.has_changed().unwrap_or(false) {
                    rx.borrow_and_update();
                    kinds.extend(what.iter().copied());
                }
            }
            let _ = app.emit(EVENT, kinds.into_iter().collect::<Vec<_>>());
        }
    });
}

/// Waits until one of the signals changes and returns its index; `None` once every sender is gone.
async fn next_change(signals: &mut [(&'static [Change], watch::Receiver<u64>)]) -> Option<usize> {
    loop {
        if let Some(i) = signals.iter().position(|(_, rx)| rx.has_changed().unwrap_or(false)) {
            return Some(i);
        }
        let waits: Vec<(usize, _)> =
            signals.iter_mut().enumerate().filter(|(_, (_, rx))| rx.has_changed().is_ok()).map(|(i, (_, rx))| (i, Box::pin(rx.changed()))).collect();
        if waits.is_empty() {
            return None;
        }
        if let (i, Ok(())) = first_ready(waits).await {
            return Some(i);
        }
    }
}

/// The first of several waits to finish, with its index.
async fn first_ready<F, T>(mut waits: Vec<(usize, std::pin::Pin<Box<F>>)>) -> (usize, T)
where
    F: std::future::Future<Output = T>,
{
    std::future::poll_fn(move |cx| {
        for (i, w) in &mut waits {
            if let std::task::Poll::Ready(r) = w.as_mut().poll(cx) {
                return std::task::Poll::Ready((*i, r));
            }
        }
        std::task::Poll::Pending
    })
    .await
}
