//! Log file settings (Settings → Diagnostics): where log files go, the main log's level, size limits,
//! the session logs, the background writer's burst rules and the retention of old files. The names are
//! those of VPOP3's Diagnostics dialog; see `logwriter` for what each rule does.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct LogSettings {
    /// Enable logging to file. Off: every log line is discarded (a diagnostic aid, not for normal use).
    pub enabled: bool,
    /// The folder for log files; empty = `logs` in the data folder.
    pub folder: String,
    /// What goes into postroom.log. errors.log takes warnings and errors whatever this says.
    pub level: LogLevel,
    /// postroom.log, errors.log, security.log and mail.log start again past this size (KB).
    pub max_size_kb: u32,
    pub session: SessionLogs,
    pub writer: WriterSettings,
    pub retention: RetentionSettings,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            folder: String::new(),
            level: LogLevel::Info,
            max_size_kb: 10 * 1024,
            session: SessionLogs::default(),
            writer: WriterSettings::default(),
            retention: RetentionSettings::default(),
        }
    }
}

/// One session log: a transcript of every conversation of one kind, each line tagged with its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct SessionLogSetting {
    pub enabled: bool,
    pub max_size_kb: u32,
}

impl Default for SessionLogSetting {
    fn default() -> Self {
        Self { enabled: false, max_size_kb: 10 * 1024 }
    }
}

/// The session logs, one per kind of conversation (off by default: they are large).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ts_rs::TS)]
#[serde(default)]
pub struct SessionLogs {
    /// Incoming SMTP (smtpsvr.log).
    pub smtpsvr: SessionLogSetting,
    /// The outbound queue talking to other servers (smtpclt.log).
    pub smtpclt: SessionLogSetting,
    /// POP3 service (pop3svr.log).
    pub pop3svr: SessionLogSetting,
    /// The POP3 collector fetching from an ISP (pop3clt.log).
    pub pop3clt: SessionLogSetting,
    /// IMAP4 service (imapsvr.log).
    pub imapsvr: SessionLogSetting,
    /// NNTP service (nntpsvr.log).
    pub nntpsvr: SessionLogSetting,
    /// The NNTP client (nntpclt.log).
    pub nntpclt: SessionLogSetting,
}

/// The background log writer's burst rules (Settings → Diagnostics → Log File Writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct WriterSettings {
    /// Min time between log writer bursts (ms).
    pub min_interval_ms: u32,
    /// Max time between log writer bursts (ms).
    pub max_interval_ms: u32,
    /// If lines written < X (this) then increase time between bursts by `increase_by_ms`.
    pub increase_below_lines: u32,
    pub increase_by_ms: u32,
    /// If lines written > X (this) then decrease time between bursts by `decrease_by_ms`.
    pub decrease_above_lines: u32,
    pub decrease_by_ms: u32,
    /// Only write a file to disk if at least this many of its lines are waiting…
    pub min_lines_waiting: u32,
    /// …but always write if its oldest line is over this many ms old.
    pub max_line_age_ms: u32,
    /// Memory for lines waiting to be written (KB). Past it lines are dropped — session logs first, then
    /// the main log, then errors, security and mail — and counted.
    pub memory_limit_kb: u32,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            min_interval_ms: 0,
            max_interval_ms: 10_000,
            increase_below_lines: 50,
            increase_by_ms: 100,
            decrease_above_lines: 500,
            decrease_by_ms: 500,
            min_lines_waiting: 10,
            max_line_age_ms: 5_000,
            memory_limit_kb: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum KeepBy {
    /// Keep the newest `keep_count` old files of each log.
    Count,
    /// Keep old files for `keep_days` days.
    Days,
}

/// What happens to old log files (`name.lbk`, `name_YYYYMMDD_N.lbk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct RetentionSettings {
    pub keep_by: KeepBy,
    pub keep_count: u32,
    pub keep_days: u32,
    /// All log files together stay under this (MB); the oldest old files go first.
    pub max_total_mb: u32,
    /// Old log files are deleted, oldest first, while the disk has less free space than this (MB); this
    /// wins over every other rule, and below it nothing more is written.
    pub min_free_mb: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { keep_by: KeepBy::Count, keep_count: 10, keep_days: 30, max_total_mb: 1024, min_free_mb: 200 }
    }
}

impl LogSettings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        let w = &self.writer;
        if self.max_size_kb < 16 {
            errors.push(FieldError::new("log.max_size_kb", "at least 16 KB"));
        }
        let sessions = [
            ("smtpsvr", self.session.smtpsvr),
            ("smtpclt", self.session.smtpclt),
            ("pop3svr", self.session.pop3svr),
            ("pop3clt", self.session.pop3clt),
            ("imapsvr", self.session.imapsvr),
            ("nntpsvr", self.session.nntpsvr),
            ("nntpclt", self.session.nntpclt),
        ];
        for (name, s) in sessions {
            if s.max_size_kb < 16 {
                errors.push(FieldError::new(format!("log.session.{name}.max_size_kb"), "at least 16 KB"));
            }
        }
        if w.max_interval_ms > 600_000 {
            errors.push(FieldError::new("log.writer.max_interval_ms", "at most 600000 ms (10 minutes)"));
        }
        if w.min_interval_ms > w.max_interval_ms {
            errors.push(FieldError::new("log.writer.min_interval_ms", "must not be more than the max time between bursts"));
        }
        if w.memory_limit_kb < 64 {
            errors.push(FieldError::new("log.writer.memory_limit_kb", "at least 64 KB"));
        }
        if w.memory_limit_kb > 4 * 1024 * 1024 {
            errors.push(FieldError::new("log.writer.memory_limit_kb", "at most 4194304 KB (4 GB)"));
        }
        if w.max_line_age_ms > 3_600_000 {
            errors.push(FieldError::new("log.writer.max_line_age_ms", "at most 3600000 ms (an hour)"));
        }
        let r = &self.retention;
        if r.keep_by == KeepBy::Days && r.keep_days == 0 {
            errors.push(FieldError::new("log.retention.keep_days", "at least 1 day"));
        }
        if r.max_total_mb == 0 {
            errors.push(FieldError::new("log.retention.max_total_mb", "at least 1 MB"));
        }
    }
}
