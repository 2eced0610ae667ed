//! The background log writer: many log files, written in bursts, in bounded memory.
//!
//! Every log line is appended to an in-memory queue for its file ([`LogWriter::push`]: a lock of that
//! file's queue and a copy; it never waits for the disk). A writer thread wakes every "time between
//! bursts" and writes each file's waiting lines in one `write` — unless fewer than *Only write to disk if
//! at least X lines waiting* are waiting and the oldest is younger than *Always write if oldest line is
//! over X ms old*. After each burst the time between bursts grows by Y ms when fewer than X lines were
//! written and shrinks by Y ms when more than X were, within the min and max (VPOP3's rules and names;
//! see `settings::WriterSettings`).
//!
//! Memory is bounded by *buffered bytes*: a line that would take the waiting bytes past its tier's share
//! of the limit is dropped and counted — session logs at half the limit, the main log at 80 %, errors,
//! security and mail at 100 % — so a slow or stalled disk costs log lines, never memory or a mail
//! session's time. The next time a file takes a line (or the writer visits it) a line saying how many
//! were dropped goes in first. A failed write (disk full, folder gone) puts the lines back, is shown in
//! the main window, and is retried at the next burst; lines are only ever lost by the memory rule, and
//! then they are counted.
//!
//! The writer is generic over its [`Sink`] (the real one is [`sink::FileSink`]: rotation and retention)
//! and its [`Clock`], so the rules are tested with a manual clock and a slow or stalled sink.

pub mod sink;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::settings::{LogSettings, SessionLogSetting};
pub use sink::{FileSink, Sink};
pub use stats::{FileStats, GraphPoint, LogWriterStats};

/// Every log file Postroom writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum LogFile {
    Postroom,
    Errors,
    Security,
    Mail,
    Smtpsvr,
    Smtpclt,
    Pop3svr,
    Pop3clt,
    Imapsvr,
    Nntpsvr,
    Nntpclt,
}

pub const FILE_COUNT: usize = 11;

/// Who is dropped first when memory runs short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Session,
    Main,
    Vital,
}

impl LogFile {
    pub const ALL: [LogFile; FILE_COUNT] = [
        LogFile::Postroom,
        LogFile::Errors,
        LogFile::Security,
        LogFile::Mail,
        LogFile::Smtpsvr,
        LogFile::Smtpclt,
        LogFile::Pop3svr,
        LogFile::Pop3clt,
        LogFile::Imapsvr,
        LogFile::Nntpsvr,
        LogFile::Nntpclt,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The file's base name: `postroom`, `errors`, …, `smtpsvr`.
    pub fn name(self) -> &'static str {
        match self {
            LogFile::Postroom => "postroom",
            LogFile::Errors => "errors",
            LogFile::Security => "security",
            LogFile::Mail => "mail",
            LogFile::Smtpsvr => "smtpsvr",
            LogFile::Smtpclt => "smtpclt",
            LogFile::Pop3svr => "pop3svr",
            LogFile::Pop3clt => "pop3clt",
            LogFile::Imapsvr => "imapsvr",
            LogFile::Nntpsvr => "nntpsvr",
            LogFile::Nntpclt => "nntpclt",
        }
    }

    pub fn from_name(name: &str) -> Option<LogFile> {
        let name = name.strip_suffix(".log").unwrap_or(name);
        LogFile::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn is_session(self) -> bool {
        self.tier() == Tier::Session
    }

    fn tier(self) -> Tier {
        match self {
            LogFile::Postroom => Tier::Main,
            LogFile::Errors | LogFile::Security | LogFile::Mail => Tier::Vital,
            _ => Tier::Session,
        }
    }

    /// The session log's own settings (`None` for the four main files).
    pub fn session_setting(self, s: &LogSettings) -> Option<SessionLogSetting> {
        let l = &s.session;
        Some(match self {
            LogFile::Smtpsvr => l.smtpsvr,
            LogFile::Smtpclt => l.smtpclt,
            LogFile::Pop3svr => l.pop3svr,
            LogFile::Pop3clt => l.pop3clt,
            LogFile::Imapsvr => l.imapsvr,
            LogFile::Nntpsvr => l.nntpsvr,
            LogFile::Nntpclt => l.nntpclt,
            _ => return None,
        })
    }

    /// Past this many bytes the file is rotated.
    pub fn max_size(self, s: &LogSettings) -> u64 {
        let kb = self.session_setting(s).map_or(s.max_size_kb, |l| l.max_size_kb);
        u64::from(kb) * 1024
    }
}

/// Milliseconds since some fixed start; manual in tests.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// Counts the batches that wrote lines: the Diagnostics window's and the log viewers' change signal.
pub static WRITES: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> = std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

pub struct SystemClock(Instant);

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// A clock that moves only when told to.
#[derive(Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct Queue {
    buf: Vec<u8>,
    lines: u64,
    /// When the oldest waiting line arrived (valid while `lines > 0`).
    oldest_ms: u64,
}

#[derive(Default)]
struct Slot {
    queue: Mutex<Queue>,
    /// Dropped since the last "N lines dropped" line.
    pending_drops: AtomicU64,
    dropped_total: AtomicU64,
    /// Session logs: switched on in the settings. The main files are always on.
    on: AtomicBool,
    /// Lines taken by the writer and being written now (still "waiting" for the stats), and when the
    /// oldest of them arrived.
    in_flight: AtomicU64,
    in_flight_oldest_ms: AtomicU64,
}

/// What readers (the GUI, `postroomd logwriter stats`) see of the writer thread.
struct Status {
    interval_ms: u64,
    stats: stats::History,
    /// Per file: the last write error, until a write succeeds.
    errors: [Option<String>; FILE_COUNT],
}

struct Control {
    /// A flush was asked for (generation); the writer answers with `flushed`.
    flush_wanted: u64,
    flushed: u64,
    stop: bool,
    thread: Option<std::thread::Thread>,
}

struct Shared {
    slots: [Slot; FILE_COUNT],
    buffered: AtomicUsize,
    limit: AtomicUsize,
    enabled: AtomicBool,
    max_age_ms: AtomicU64,
    /// When the writer thread will next wake (clock ms); a first line that must be written sooner wakes it.
    next_wake_ms: AtomicU64,
    clock: Arc<dyn Clock>,
    settings: Mutex<LogSettings>,
    status: Mutex<Status>,
    control: Mutex<Control>,
    flushed: Condvar,
}

/// The queues and the handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogWriter {
    pub fn new(settings: &LogSettings, clock: Arc<dyn Clock>) -> LogWriter {
        let writer = LogWriter {
            shared: Arc::new(Shared {
                slots: Default::default(),
                buffered: AtomicUsize::new(0),
                limit: AtomicUsize::new(0),
                enabled: AtomicBool::new(true),
                max_age_ms: AtomicU64::new(0),
                next_wake_ms: AtomicU64::new(u64::MAX),
                clock,
                settings: Mutex::new(settings.clone()),
                status: Mutex::new(Status {
                    interval_ms: u64::from(settings.writer.min_interval_ms),
                    stats: stats::History::default(),
                    errors: Default::default(),
                }),
                control: Mutex::new(Control { flush_wanted: 0, flushed: 0, stop: false, thread: None }),
                flushed: Condvar::new(),
            }),
        };
        writer.apply(settings);
        writer
    }

    /// New settings. Switches and the memory limit apply to the next line; the burst rules, sizes and
    /// folder at the next burst.
    pub fn apply(&self, settings: &LogSettings) {
        let s = &self.shared;
        s.enabled.store(settings.enabled, Ordering::Relaxed);
        s.limit.store(settings.writer.memory_limit_kb as usize * 1024, Ordering::Relaxed);
        s.max_age_ms.store(u64::from(settings.writer.max_line_age_ms), Ordering::Relaxed);
        for file in LogFile::ALL {
            let on = file.session_setting(settings).is_none_or(|l| l.enabled);
            s.slots[file.index()].on.store(on, Ordering::Relaxed);
        }
        *lock(&s.settings) = settings.clone();
        self.wake();
    }

    pub fn settings(&self) -> LogSettings {
        lock(&self.shared.settings).clone()
    }

    /// Whether a line for `file` would be kept: logging on and, for a session log, its switch on. Session
    /// code asks first so that a switched-off transcript costs nothing.
    pub fn wants(&self, file: LogFile) -> bool {
        self.shared.enabled.load(Ordering::Relaxed) && self.shared.slots[file.index()].on.load(Ordering::Relaxed)
    }

    /// Queues one line (without its line end). Returns false when it was discarded (logging off, the
    /// session log off) or dropped for memory (counted). Never waits for the disk.
    pub fn push(&self, file: LogFile, line: &[u8]) -> bool {
        if !self.wants(file) {
            return false;
        }
        let s = &self.shared;
        let slot = &s.slots[file.index()];
        let len = line.len() + 1;
        let limit = s.limit.load(Ordering::Relaxed);
        let share = match file.tier() {
            Tier::Session => limit / 2,
            Tier::Main => limit / 5 * 4,
            Tier::Vital => limit,
        };
        let before = s.buffered.fetch_add(len, Ordering::Relaxed);
        if before + len > share {
            s.buffered.fetch_sub(len, Ordering::Relaxed);
            slot.pending_drops.fetch_add(1, Ordering::Relaxed);
            slot.dropped_total.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let now = s.clock.now_ms();
        let first = {
            let mut q = lock(&slot.queue);
            self.note_drops(slot, &mut q, now);
            let first = q.lines == 0;
            if first {
                q.oldest_ms = now;
            }
            q.buf.extend_from_slice(line);
            q.buf.push(b'\n');
            q.lines += 1;
            first
        };
        // A first line that must be on disk before the writer's next planned burst wakes it.
        if first && now.saturating_add(s.max_age_ms.load(Ordering::Relaxed)) < s.next_wake_ms.load(Ordering::Relaxed) {
            self.wake();
        }
        true
    }

    /// Puts the "N lines dropped" line into the queue if lines were dropped since the last one. Its few
    /// bytes are allowed past the limit: the count must reach the file.
    fn note_drops(&self, slot: &Slot, q: &mut Queue, now: u64) {
        let n = slot.pending_drops.swap(0, Ordering::Relaxed);
        if n == 0 {
            return;
        }
        let limit_kb = self.shared.limit.load(Ordering::Relaxed) / 1024;
        let mut line = Vec::with_capacity(120);
        crate::time_text::timestamp(&mut line, crate::time_text::unix_ms_now());
        line.extend_from_slice(
            format!(" --- {n} lines dropped: lines waiting to be written reached the log writer's memory limit ({limit_kb} KB) ---\n")
                .as_bytes(),
        );
        self.shared.buffered.fetch_add(line.len(), Ordering::Relaxed);
        if q.lines == 0 {
            q.oldest_ms = now;
        }
        q.buf.extend_from_slice(&line);
        q.lines += 1;
    }

    fn wake(&self) {
        if let Some(t) = &lock(&self.shared.control).thread {
            t.unpark();
        }
    }

    /// Forgets every waiting line (logging was off all along).
    pub fn discard_waiting(&self) {
        for slot in &self.shared.slots {
            let mut q = lock(&slot.queue);
            self.shared.buffered.fetch_sub(q.buf.len(), Ordering::Relaxed);
            q.buf.clear();
            q.lines = 0;
        }
    }

    /// Bytes of lines waiting in memory now.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.buffered.load(Ordering::Relaxed)
    }

    pub fn dropped(&self, file: LogFile) -> u64 {
        self.shared.slots[file.index()].dropped_total.load(Ordering::Relaxed)
    }

    /// The current time between bursts.
    pub fn interval_ms(&self) -> u64 {
        lock(&self.shared.status).interval_ms
    }

    /// Write errors not yet cleared by a successful write, as "errors.log: No space left on device".
    pub fn write_problem(&self) -> Option<String> {
        let status = lock(&self.shared.status);
        let problems: Vec<String> = LogFile::ALL
            .iter()
            .filter_map(|f| status.errors[f.index()].as_ref().map(|e| format!("{}.log: {e}", f.name())))
            .collect();
        (!problems.is_empty()).then(|| format!("Cannot write log files ({}); the lines are kept and retried", problems.join("; ")))
    }

    /// Figures for the last 10 minutes and now. `with_graph` adds the per-second series for the graph.
    pub fn stats(&self, with_graph: bool) -> LogWriterStats {
        let s = &self.shared;
        let now = s.clock.now_ms();
        let status = lock(&s.status);
        let mut files = Vec::with_capacity(FILE_COUNT);
        for file in LogFile::ALL {
            let slot = &s.slots[file.index()];
            let (waiting, oldest) = {
                let q = lock(&slot.queue);
                (q.lines, (q.lines > 0).then_some(q.oldest_ms))
            };
            let flying = slot.in_flight.load(Ordering::Relaxed);
            let oldest = if flying > 0 { Some(slot.in_flight_oldest_ms.load(Ordering::Relaxed)) } else { oldest };
            let (waiting, oldest_age) = (waiting + flying, oldest.map(|t| now.saturating_sub(t)));
            let window = status.stats.file_totals(file, now, slot.dropped_total.load(Ordering::Relaxed));
            files.push(FileStats {
                file,
                name: format!("{}.log", file.name()),
                enabled: self.wants(file),
                writes: window.writes,
                lines: window.lines,
                bytes: window.bytes,
                dropped: window.dropped,
                lines_waiting: waiting,
                oldest_line_age_ms: oldest_age,
                error: status.errors[file.index()].clone(),
            });
        }
        LogWriterStats {
            enabled: s.enabled.load(Ordering::Relaxed),
            folder: String::new(),
            interval_ms: status.interval_ms,
            buffered_bytes: s.buffered.load(Ordering::Relaxed) as u64,
            memory_limit_bytes: s.limit.load(Ordering::Relaxed) as u64,
            files,
            graph: if with_graph { status.stats.graph(now) } else { Vec::new() },
        }
    }

    /// Starts the writer thread over `sink`.
    pub fn spawn(&self, sink: Box<dyn Sink>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let mut bursts = Bursts::new(self.clone(), sink);
        let handle = std::thread::Builder::new().name("log-writer".into()).spawn(move || bursts.run())?;
        lock(&self.shared.control).thread = Some(handle.thread().clone());
        Ok(handle)
    }

    /// Asks the writer thread to write everything waiting now, whatever the burst rules say, and waits
    /// up to `timeout` for it. False if the thread did not finish in time (a stalled disk) or none runs.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.shared;
        let mut control = lock(&s.control);
        let Some(thread) = control.thread.clone() else { return false };
        control.flush_wanted += 1;
        let wanted = control.flush_wanted;
        thread.unpark();
        let (control, _) = s
            .flushed
            .wait_timeout_while(control, timeout, |c| c.flushed < wanted && !c.stop)
            .unwrap_or_else(|p| p.into_inner());
        control.flushed >= wanted
    }

    /// Writes everything waiting and stops the thread (waiting up to `timeout` for the disk).
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        let mut control = lock(&self.shared.control);
        control.stop = true;
        if let Some(t) = control.thread.take() {
            t.unpark();
        }
        flushed
    }
}

/// The writer thread's own state: the sink, the current time between bursts, spare buffers.
pub struct Bursts {
    writer: LogWriter,
    sink: Box<dyn Sink>,
    interval_ms: u64,
    last_burst_ms: u64,
    spare: [Vec<u8>; FILE_COUNT],
}

/// What one burst did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BurstReport {
    pub lines: u64,
    pub bytes: u64,
    pub writes: u64,
    pub failures: u64,
}

impl Bursts {
    pub fn new(writer: LogWriter, sink: Box<dyn Sink>) -> Bursts {
        let interval_ms = writer.interval_ms();
        let last_burst_ms = writer.shared.clock.now_ms();
        Bursts { writer, sink, interval_ms, last_burst_ms, spare: Default::default() }
    }

    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    fn run(&mut self) {
        let s = self.writer.shared.clone();
        let mut last_offset_check = Instant::now();
        crate::time_text::refresh_local_offset();
        loop {
            let (flush_wanted, flushed, stop) = {
                let c = lock(&s.control);
                (c.flush_wanted, c.flushed, c.stop)
            };
            if flush_wanted > flushed || stop {
                self.burst(true);
                let mut c = lock(&s.control);
                c.flushed = c.flushed.max(flush_wanted);
                s.flushed.notify_all();
                if stop || c.stop {
                    c.thread = None;
                    return;
                }
                continue;
            }
            let now = s.clock.now_ms();
            let due = self.next_due(now);
            if now >= due {
                self.burst(false);
                if last_offset_check.elapsed() >= Duration::from_secs(60) {
                    crate::time_text::refresh_local_offset();
                    last_offset_check = Instant::now();
                }
                continue;
            }
            s.next_wake_ms.store(due, Ordering::Relaxed);
            // Woken early by a flush, a stop, new settings or a line that cannot wait.
            std::thread::park_timeout(Duration::from_millis((due - now).min(1_000)));
        }
    }

    /// When the next burst is due: the interval after the last one, or sooner if a waiting line reaches
    /// the age limit before that.
    fn next_due(&self, _now: u64) -> u64 {
        let s = &self.writer.shared;
        let mut due = self.last_burst_ms.saturating_add(self.interval_ms.max(1));
        let max_age = s.max_age_ms.load(Ordering::Relaxed);
        for slot in &s.slots {
            let q = lock(&slot.queue);
            if q.lines > 0 {
                due = due.min(q.oldest_ms.saturating_add(max_age));
            }
        }
        due
    }

    /// One burst: writes each file whose lines are due (all of them when `force`), then adapts the time
    /// between bursts to what was written (not for forced flushes).
    pub fn burst(&mut self, force: bool) -> BurstReport {
        let s = self.writer.shared.clone();
        let settings = lock(&s.settings).clone();
        let w = settings.writer;
        let now = s.clock.now_ms();
        let mut report = BurstReport::default();
        let mut per_file = [stats::Counts::default(); FILE_COUNT];
        let mut errors: [Option<Option<String>>; FILE_COUNT] = Default::default();
        for file in LogFile::ALL {
            let i = file.index();
            let slot = &s.slots[i];
            let (mut bytes, lines, oldest) = {
                let mut q = lock(&slot.queue);
                self.writer.note_drops(slot, &mut q, now);
                if q.lines == 0 {
                    continue;
                }
                let due = force
                    || q.lines >= u64::from(w.min_lines_waiting)
                    || now.saturating_sub(q.oldest_ms) >= u64::from(w.max_line_age_ms);
                if !due {
                    continue;
                }
                let lines = q.lines;
                q.lines = 0;
                let taken = std::mem::replace(&mut q.buf, std::mem::take(&mut self.spare[i]));
                (taken, lines, q.oldest_ms)
            };
            slot.in_flight_oldest_ms.store(oldest, Ordering::Relaxed);
            slot.in_flight.store(lines, Ordering::Relaxed);
            let written = self.sink.write(file, &bytes, &settings);
            match written {
                Ok(()) => {
                    s.buffered.fetch_sub(bytes.len(), Ordering::Relaxed);
                    report.lines += lines;
                    report.bytes += bytes.len() as u64;
                    report.writes += 1;
                    per_file[i].writes += 1;
                    per_file[i].lines += lines;
                    per_file[i].bytes += bytes.len() as u64;
                    errors[i] = Some(None);
                    slot.in_flight.store(0, Ordering::Relaxed);
                    bytes.clear();
                    if bytes.capacity() > 1 << 20 {
                        bytes.shrink_to(64 * 1024);
                    }
                    self.spare[i] = bytes;
                }
                Err(e) => {
                    report.failures += 1;
                    errors[i] = Some(Some(e.to_string()));
                    // Back in front of whatever arrived meanwhile; still counted in `buffered`.
                    let mut q = lock(&slot.queue);
                    bytes.extend_from_slice(&q.buf);
                    q.buf = bytes;
                    q.lines += lines;
                    q.oldest_ms = oldest;
                    slot.in_flight.store(0, Ordering::Relaxed);
                }
            }
        }
        if !force {
            let (min, max) = (u64::from(w.min_interval_ms), u64::from(w.max_interval_ms.max(w.min_interval_ms)));
            if report.lines < u64::from(w.increase_below_lines) {
                self.interval_ms = self.interval_ms.saturating_add(u64::from(w.increase_by_ms));
            } else if report.lines > u64::from(w.decrease_above_lines) {
                self.interval_ms = self.interval_ms.saturating_sub(u64::from(w.decrease_by_ms));
            }
            self.interval_ms = self.interval_ms.clamp(min, max);
            self.last_burst_ms = now;
        }
        for (i, slot) in s.slots.iter().enumerate() {
            per_file[i].dropped = slot.dropped_total.load(Ordering::Relaxed);
        }
        let mut status = lock(&s.status);
        status.interval_ms = self.interval_ms;
        status.stats.record(now, &per_file, report.lines, self.interval_ms, !force);
        if report.lines > 0 {
            WRITES.send_modify(|v| *v += 1);
        }
        for (i, e) in errors.into_iter().enumerate() {
            if let Some(e) = e {
                if let Some(text) = &e {
                    if status.errors[i].as_ref() != Some(text) {
                        crate::recent::note(format!("Cannot write {}.log: {text}", LogFile::ALL[i].name()));
                    }
                }
                status.errors[i] = e;
            }
        }
        report
    }
}

#[cfg(test)]
mod tests;
