//! The recent-errors list the main window shows: the last warnings and errors, newest first. A leaf: the
//! logging layer feeds it, the log writer reports its own problems into it (they cannot be logged through
//! the files they are about), and the views read it.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Entries kept.
const KEPT: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RecentError {
    /// RFC 3339, UTC.
    pub time: String,
    pub message: String,
}

static RECENT: Mutex<VecDeque<RecentError>> = Mutex::new(VecDeque::new());
static VERSION: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> = std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// Wakes when an entry is added (the main window's change signal).
pub fn changes() -> tokio::sync::watch::Receiver<u64> {
    VERSION.subscribe()
}

/// The most recent warnings and errors, newest first.
pub fn recent_errors() -> Vec<RecentError> {
    RECENT.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().cloned().collect()
}

/// Adds one entry, dropping the oldest past [`KEPT`].
pub fn note(message: String) {
    let entry = RecentError { time: crate::time_text::rfc3339_now(), message };
    let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    if recent.len() == KEPT {
        recent.pop_front();
    }
    recent.push_back(entry);
    drop(recent);
    VERSION.send_modify(|v| *v += 1);
}
