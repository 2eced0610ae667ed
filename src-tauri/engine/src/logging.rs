//! Logging: `tracing` everywhere, and one subscriber layer that routes each event to its log file
//! through the background [`LogWriter`]. No other path writes log files.
//!
//! Routing (by the event's target and level):
//!
//! | event | file |
//! |---|---|
//! | target `session.<name>` (a protocol transcript line) | `<name>.log` (smtpsvr, pop3svr, imapsvr, smtpclt, …) |
//! | target `security` (failed logins, bans, refusals) | security.log, and postroom.log |
//! | target `mail` (one line per message received or sent) | mail.log, and postroom.log |
//! | warnings and errors | errors.log, and postroom.log |
//! | anything else at or above `log.level` | postroom.log |
//!
//! A session runs inside a span `session{sid=N}`; every line logged within it — its transcript, its
//! failed logins, the message it delivered — carries `[#N]`, so one conversation can be followed across
//! files. Session transcripts are cheap when off: [`session_log_on`] is one atomic load.
//!
//! The server process ([`init_server`]) logs to files once the engine has [`attach`]ed the writer to
//! the data folder; lines logged before that wait in memory. Command-line admin commands ([`init`])
//! log to standard error only. Both keep the last warnings and errors for the main window.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::time_text as timefmt;
use crate::logwriter::{FileSink, LogFile, LogWriter, LogWriterStats, SystemClock};
use crate::settings::{LogLevel, LogSettings};

pub struct RecentErrorsLayer;

impl<S: Subscriber> Layer<S> for RecentErrorsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() > Level::WARN {
            return;
        }
        let mut text = Vec::new();
        event.record(&mut LineVisitor { out: &mut text, message_only: false });
        crate::recent::note(String::from_utf8_lossy(text.trim_ascii()).into_owned());
    }
}

// ----- the server's log files -----

struct Files {
    writer: LogWriter,
    /// `logs` in the data folder, once attached.
    default_folder: OnceLock<PathBuf>,
}

static FILES: OnceLock<Files> = OnceLock::new();
static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// A new session id for `session{sid}` spans.
pub fn next_session_id() -> u64 {
    SESSION_IDS.fetch_add(1, Ordering::Relaxed)
}

/// The process's log writer, if this process logs to files.
pub fn writer() -> Option<&'static LogWriter> {
    FILES.get().map(|f| &f.writer)
}

/// Whether a transcript line for this session log would be kept (logging on and its switch on).
#[inline]
pub fn session_log_on(file: LogFile) -> bool {
    FILES.get().is_some_and(|f| f.writer.wants(file))
}

/// Standard-error logging at `RUST_LOG` (default `info`) plus the recent-errors list: for admin commands.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
        .with(RecentErrorsLayer)
        .try_init();
}

/// For the server (postroomd serve, the desktop app): log files through the background writer, plus
/// warnings and errors on standard error (`RUST_LOG` changes that) and the recent-errors list.
pub fn init_server() {
    init_server_quieting(&[]);
}

/// [`init_server`], with the warnings of the `quiet` targets (crates of the program around the engine)
/// dropped: only their errors are kept.
pub fn init_server_quieting(quiet: &[&str]) {
    let mut targets = tracing_subscriber::filter::Targets::new().with_default(tracing::level_filters::LevelFilter::TRACE);
    for target in quiet {
        targets = targets.with_target(*target, tracing::level_filters::LevelFilter::ERROR);
    }
    let writer = LogWriter::new(&LogSettings::default(), Arc::new(SystemClock::new()));
    let files = FILES.get_or_init(|| Files { writer, default_folder: OnceLock::new() });
    // Transcripts only ever go to their session logs.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let filter = match "session=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::registry()
        .with(targets)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
        .with(RecentErrorsLayer)
        .with(FileLayer { writer: files.writer.clone() }.with_filter(Routing { writer: files.writer.clone() }))
        .try_init();
}

/// Starts writing to `default_folder` (or the `log.folder` setting) with these settings. Once per
/// process; later calls only apply the settings.
pub fn attach(default_folder: PathBuf, settings: &LogSettings) {
    let Some(files) = FILES.get() else { return };
    apply(settings);
    if !settings.enabled {
        // Lines logged before the settings were known go the way of all others.
        files.writer.discard_waiting();
    }
    if files.default_folder.set(default_folder.clone()).is_ok() {
        if let Err(e) = files.writer.spawn(Box::new(FileSink::new(default_folder))) {
            crate::recent::note(format!("cannot start the log writer: {e}"));
        }
    }
}

/// New log settings: the switches at once, the writer's rules at its next burst.
pub fn apply(settings: &LogSettings) {
    if let Some(files) = FILES.get() {
        MAIN_LEVEL.store(level_code(settings.level), Ordering::Relaxed);
        files.writer.apply(settings);
    }
}

/// The logging as a settings consumer (the level switches and the log writer's rules).
pub struct Logging;

impl crate::settings::Consumer for Logging {
    fn apply(&self, old: &crate::settings::Settings, new: &crate::settings::Settings) {
        if old.log != new.log {
            apply(&new.log);
        }
    }
}

/// Writes everything waiting and stops the writer (waiting up to `timeout` for the disk).
pub fn shutdown(timeout: Duration) {
    if let Some(files) = FILES.get() {
        if !files.writer.shutdown(timeout) && files.writer.buffered_bytes() > 0 {
            eprintln!("postroom: the log files could not be written in time; {} bytes of log lines were not written", files.writer.buffered_bytes());
        }
    }
}

/// The writer's problem writing files, if any, for the main window.
pub fn write_problem() -> Option<String> {
    writer().and_then(|w| w.write_problem())
}

/// Wakes when the log writer has written lines (to any file).
pub fn changes() -> tokio::sync::watch::Receiver<u64> {
    crate::logwriter::WRITES.subscribe()
}

pub fn stats(with_graph: bool) -> Option<LogWriterStats> {
    let mut stats = writer()?.stats(with_graph);
    stats.folder = folder().map(|f| f.display().to_string()).unwrap_or_default();
    Some(stats)
}

/// The folder log files go to now.
pub fn folder() -> Option<PathBuf> {
    let files = FILES.get()?;
    let configured = files.writer.settings().folder;
    if configured.trim().is_empty() {
        files.default_folder.get().cloned()
    } else {
        Some(PathBuf::from(configured.trim()))
    }
}

/// The end of a log file for the viewer, after writing what is waiting (up to 2 s).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct LogTail {
    pub name: String,
    pub path: String,
    #[ts(type = "number")]
    pub size: u64,
    /// The text shown: the last `max_bytes` of the file, from a line start.
    pub text: String,
    /// The file is longer than what is shown.
    pub truncated: bool,
}

pub fn tail(file: LogFile, max_bytes: u64) -> std::io::Result<LogTail> {
    let folder = folder().ok_or_else(|| std::io::Error::other("this process does not write log files"))?;
    if let Some(w) = writer() {
        w.flush(Duration::from_secs(2));
    }
    let path = folder.join(format!("{}.log", file.name()));
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogTail { name: format!("{}.log", file.name()), path: path.display().to_string(), size: 0, text: String::new(), truncated: false })
        }
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    let start = size.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((size - start) as usize);
    f.take(max_bytes).read_to_end(&mut bytes)?;
    if start > 0 {
        // Start at a whole line.
        if let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            bytes.drain(..=nl);
        }
    }
    Ok(LogTail {
        name: format!("{}.log", file.name()),
        path: path.display().to_string(),
        size,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        truncated: start > 0,
    })
}

// ----- routing -----

static MAIN_LEVEL: AtomicU8 = AtomicU8::new(2);

fn level_code(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
        LogLevel::Trace => 4,
    }
}

fn event_level_code(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Where an event goes, by target and level.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Route {
    session: Option<LogFile>,
    main: bool,
    errors: bool,
    security: bool,
    mail: bool,
}

fn route(meta: &Metadata<'_>) -> Route {
    let target = meta.target();
    if let Some(name) = target.strip_prefix("session.") {
        return Route { session: LogFile::from_name(name).filter(|f| f.is_session()), ..Route::default() };
    }
    let level = event_level_code(meta.level());
    Route {
        session: None,
        main: level <= MAIN_LEVEL.load(Ordering::Relaxed),
        errors: level <= 1,
        security: target == "security",
        mail: target == "mail",
    }
}

/// The file layer's filter: a session span always; an event when some file would take it.
struct Routing {
    writer: LogWriter,
}

impl<S> Filter<S> for Routing {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        if meta.is_span() {
            return meta.name() == "session";
        }
        let r = route(meta);
        match r.session {
            Some(file) => self.writer.wants(file),
            None => r.main || r.errors || r.security || r.mail,
        }
    }

    fn callsite_enabled(&self, _meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Levels and switches change at run time: ask per event.
        tracing::subscriber::Interest::sometimes()
    }
}

/// The session id carried by a `session{sid}` span.
struct SessionId(u64);

struct SidVisitor(Option<u64>);

impl Visit for SidVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "sid" {
            self.0 = Some(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "sid" {
            self.0 = Some(value as u64);
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

struct FileLayer {
    writer: LogWriter,
}

thread_local! {
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for FileLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut sid = SidVisitor(None);
        attrs.record(&mut sid);
        if let (Some(sid), Some(span)) = (sid.0, ctx.span(id)) {
            span.extensions_mut().insert(SessionId(sid));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let r = route(meta);
        let sid = ctx.event_scope(event).and_then(|scope| scope.from_root().find_map(|s| s.extensions().get::<SessionId>().map(|x| x.0)));
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else { return };
            line.clear();
            timefmt::timestamp(&mut line, timefmt::unix_ms_now());
            line.push(b' ');
            let head = line.len();
            if let Some(sid) = sid {
                line.extend_from_slice(format!("[#{sid}] ").as_bytes());
            }
            event.record(&mut LineVisitor { out: &mut line, message_only: r.session.is_some() });
            while line.last() == Some(&b' ') {
                line.pop();
            }
            if let Some(file) = r.session {
                self.writer.push(file, &line);
                return;
            }
            // security.log and mail.log: the record itself.
            if r.security {
                self.writer.push(LogFile::Security, &line);
            }
            if r.mail {
                self.writer.push(LogFile::Mail, &line);
            }
            if r.main || r.errors {
                // postroom.log and errors.log add the level and where it came from.
                let tag = format!("{:<5} {}: ", meta.level().as_str(), meta.target());
                line.splice(head..head, tag.bytes());
                if r.main {
                    self.writer.push(LogFile::Postroom, &line);
                }
                if r.errors {
                    self.writer.push(LogFile::Errors, &line);
                }
            }
        });
    }
}

/// Writes an event as `message key=value key=value`; line ends inside values become spaces so that
/// one event is one line.
struct LineVisitor<'a> {
    out: &'a mut Vec<u8>,
    message_only: bool,
}

impl LineVisitor<'_> {
    fn value(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '\r' | '\n' => self.out.push(b' '),
                c if c.is_control() => self.out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes()),
                c => {
                    let mut buf = [0u8; 4];
                    self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    fn field(&mut self, field: &Field, text: &str) {
        if field.name() == "message" {
            self.value(text);
            self.out.push(b' ');
        } else if !self.message_only {
            self.out.extend_from_slice(field.name().as_bytes());
            self.out.push(b'=');
            if text.is_empty() || text.contains(' ') {
                self.out.push(b'"');
                self.value(text);
                self.out.push(b'"');
            } else {
                self.value(text);
            }
            self.out.push(b' ');
        }
    }
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.field(field, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_routed_by_target_and_level() {
        use tracing::callsite::Identifier;
        use tracing::metadata::Kind;
        struct Cs;
        impl tracing::callsite::Callsite for Cs {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static CS: Cs = Cs;
        let meta = |target: &'static str, level: Level| {
            Metadata::new("e", target, level, None, None, None, tracing::field::FieldSet::new(&[], Identifier(&CS)), Kind::EVENT)
        };
        MAIN_LEVEL.store(level_code(LogLevel::Info), Ordering::Relaxed);
        assert_eq!(route(&meta("session.smtpsvr", Level::INFO)).session, Some(LogFile::Smtpsvr));
        let security = route(&meta("security", Level::WARN));
        assert!(security.security && security.main && security.errors && !security.mail);
        let mail = route(&meta("mail", Level::INFO));
        assert!(mail.mail && mail.main && !mail.errors);
        let debug = route(&meta("smtp", Level::DEBUG));
        assert_eq!(debug, Route::default());
        // A session log is never the main log, and an unknown one goes nowhere.
        assert_eq!(route(&meta("session.postroom", Level::INFO)), Route::default());
    }
}
