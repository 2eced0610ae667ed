//! The writer's figures over the last 10 minutes, kept per second (fixed memory however often it
//! bursts): per file writes, lines, bytes and drops; per second the bursts, lines and interval for the
//! Diagnostics graph.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{LogFile, FILE_COUNT};

/// The window the stats cover.
pub const WINDOW_SECS: u64 = 600;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub writes: u64,
    pub lines: u64,
    pub bytes: u64,
    /// When recording: the file's total drops so far (the history keeps the difference).
    pub dropped: u64,
}

struct Second {
    sec: u64,
    files: [Counts; FILE_COUNT],
    bursts: u32,
    lines: u64,
    interval_ms: u64,
}

#[derive(Default)]
pub struct History {
    seconds: VecDeque<Second>,
    last_dropped: [u64; FILE_COUNT],
}

impl History {
    /// Adds what one burst wrote at `now_ms`. `burst` is false for a forced flush, which counts its
    /// writes but is not a point on the graph.
    pub fn record(&mut self, now_ms: u64, per_file: &[Counts; FILE_COUNT], lines: u64, interval_ms: u64, burst: bool) {
        let sec = now_ms / 1000;
        while self.seconds.front().is_some_and(|s| s.sec + WINDOW_SECS <= sec) {
            self.seconds.pop_front();
        }
        if self.seconds.back().is_none_or(|s| s.sec != sec) {
            self.seconds.push_back(Second { sec, files: [Counts::default(); FILE_COUNT], bursts: 0, lines: 0, interval_ms });
        }
        let Some(b) = self.seconds.back_mut() else { return };
        for (i, c) in per_file.iter().enumerate() {
            let f = &mut b.files[i];
            f.writes += c.writes;
            f.lines += c.lines;
            f.bytes += c.bytes;
            f.dropped += c.dropped.saturating_sub(self.last_dropped[i]);
            self.last_dropped[i] = self.last_dropped[i].max(c.dropped);
        }
        if burst {
            b.bursts += 1;
            b.lines += lines;
        }
        b.interval_ms = interval_ms;
    }

    /// One file's totals over the window; `dropped_now` is its drop count so far, so drops since the last
    /// burst count too.
    pub fn file_totals(&self, file: LogFile, now_ms: u64, dropped_now: u64) -> Counts {
        let since = (now_ms / 1000).saturating_sub(WINDOW_SECS - 1);
        let mut total = Counts::default();
        for s in self.seconds.iter().filter(|s| s.sec >= since) {
            let c = &s.files[file.index()];
            total.writes += c.writes;
            total.lines += c.lines;
            total.bytes += c.bytes;
            total.dropped += c.dropped;
        }
        total.dropped += dropped_now.saturating_sub(self.last_dropped[file.index()]);
        total
    }

    /// Per second with a burst, oldest first: for the graph of lines per burst and the interval.
    pub fn graph(&self, now_ms: u64) -> Vec<GraphPoint> {
        let now_sec = now_ms / 1000;
        let since = now_sec.saturating_sub(WINDOW_SECS - 1);
        self.seconds
            .iter()
            .filter(|s| s.sec >= since && s.bursts > 0)
            .map(|s| GraphPoint {
                seconds_ago: (now_sec - s.sec) as u32,
                bursts: s.bursts,
                lines: s.lines,
                interval_ms: s.interval_ms,
            })
            .collect()
    }
}

/// One file's figures for the stats table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct FileStats {
    pub file: LogFile,
    /// `postroom.log`, `smtpsvr.log`, …
    pub name: String,
    /// Lines for it are kept (logging on and, for a session log, its switch on).
    pub enabled: bool,
    /// Over the last 10 minutes:
    #[ts(type = "number")]
    pub writes: u64,
    #[ts(type = "number")]
    pub lines: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub dropped: u64,
    /// Now:
    #[ts(type = "number")]
    pub lines_waiting: u64,
    #[ts(type = "number | null")]
    pub oldest_line_age_ms: Option<u64>,
    /// The last write error, until a write succeeds.
    pub error: Option<String>,
}

/// One second of the last 10 minutes in which the writer burst.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct GraphPoint {
    pub seconds_ago: u32,
    pub bursts: u32,
    #[ts(type = "number")]
    pub lines: u64,
    /// The time between bursts after the last burst of that second.
    #[ts(type = "number")]
    pub interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct LogWriterStats {
    pub enabled: bool,
    /// The folder the files are written to.
    #[serde(default)]
    pub folder: String,
    /// Current time between log writer bursts.
    #[ts(type = "number")]
    pub interval_ms: u64,
    #[ts(type = "number")]
    pub buffered_bytes: u64,
    #[ts(type = "number")]
    pub memory_limit_bytes: u64,
    pub files: Vec<FileStats>,
    #[serde(default)]
    pub graph: Vec<GraphPoint>,
}
