use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::settings::{KeepBy, LogSettings, RetentionSettings};

/// Keeps what it is given, per file; can be told to fail or to stall.
#[derive(Clone, Default)]
struct MemorySink {
    files: Arc<Mutex<BTreeMap<LogFile, Vec<u8>>>>,
    writes: Arc<Mutex<Vec<(LogFile, usize)>>>,
    fail: Arc<AtomicBool>,
}

impl MemorySink {
    fn text(&self, file: LogFile) -> String {
        String::from_utf8_lossy(self.files.lock().unwrap().get(&file).map(Vec::as_slice).unwrap_or(b"")).into_owned()
    }
}

impl Sink for MemorySink {
    fn write(&mut self, file: LogFile, bytes: &[u8], _settings: &LogSettings) -> std::io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device"));
        }
        self.files.lock().unwrap().entry(file).or_default().extend_from_slice(bytes);
        self.writes.lock().unwrap().push((file, bytes.len()));
        Ok(())
    }
}

fn settings() -> LogSettings {
    let mut s = LogSettings::default();
    s.writer.min_interval_ms = 0;
    s.writer.max_interval_ms = 1_000;
    s.writer.increase_below_lines = 10;
    s.writer.increase_by_ms = 100;
    s.writer.decrease_above_lines = 100;
    s.writer.decrease_by_ms = 300;
    s.writer.min_lines_waiting = 5;
    s.writer.max_line_age_ms = 2_000;
    s
}

fn writer_with(s: &LogSettings) -> (LogWriter, Arc<ManualClock>, MemorySink, Bursts) {
    let clock = Arc::new(ManualClock::default());
    let writer = LogWriter::new(s, clock.clone());
    let sink = MemorySink::default();
    let bursts = Bursts::new(writer.clone(), Box::new(sink.clone()));
    (writer, clock, sink, bursts)
}

fn push_lines(writer: &LogWriter, file: LogFile, n: usize) {
    for i in 0..n {
        assert!(writer.push(file, format!("line {i}").as_bytes()));
    }
}

#[test]
fn interval_grows_when_little_is_written_and_shrinks_under_load() {
    let (writer, clock, _sink, mut bursts) = writer_with(&settings());
    assert_eq!(bursts.interval_ms(), 0);
    // Fewer than 10 lines a burst: +100 ms each time, up to the 1000 ms maximum.
    for expected in [100, 200, 300] {
        push_lines(&writer, LogFile::Postroom, 6);
        clock.advance(100);
        bursts.burst(false);
        assert_eq!(bursts.interval_ms(), expected);
        assert_eq!(writer.interval_ms(), expected, "the current interval is published");
    }
    for _ in 0..20 {
        clock.advance(1000);
        bursts.burst(false);
    }
    assert_eq!(bursts.interval_ms(), 1_000, "capped at the max");
    // Between 10 and 100 lines: unchanged.
    push_lines(&writer, LogFile::Postroom, 50);
    bursts.burst(false);
    assert_eq!(bursts.interval_ms(), 1_000);
    // More than 100 lines: −300 ms each time, down to the minimum.
    let mut seen = Vec::new();
    for _ in 0..5 {
        push_lines(&writer, LogFile::Postroom, 101);
        bursts.burst(false);
        seen.push(bursts.interval_ms());
    }
    assert_eq!(seen, [700, 400, 100, 0, 0]);
}

#[test]
fn exactly_at_a_threshold_the_interval_stays() {
    let (writer, _clock, _sink, mut bursts) = writer_with(&settings());
    push_lines(&writer, LogFile::Postroom, 10);
    bursts.burst(false);
    assert_eq!(bursts.interval_ms(), 0, "10 lines is not fewer than 10");
    let mut s = settings();
    s.writer.min_interval_ms = 500;
    writer.apply(&s);
    push_lines(&writer, LogFile::Postroom, 100);
    bursts.burst(false);
    assert_eq!(bursts.interval_ms(), 500, "100 is not more than 100; the new minimum applies at this burst");
}

#[test]
fn a_file_waits_for_enough_lines_unless_its_oldest_line_is_too_old() {
    let (writer, clock, sink, mut bursts) = writer_with(&settings());
    push_lines(&writer, LogFile::Security, 4);
    clock.advance(1_999);
    let report = bursts.burst(false);
    assert_eq!(report.lines, 0, "4 lines < 5 and the oldest is 1999 ms old: not written");
    assert_eq!(sink.text(LogFile::Security), "");
    assert_eq!(writer.stats(false).files[LogFile::Security.index()].lines_waiting, 4);
    assert_eq!(writer.stats(false).files[LogFile::Security.index()].oldest_line_age_ms, Some(1_999));
    clock.advance(1);
    let report = bursts.burst(false);
    assert_eq!(report.lines, 4, "the oldest line reached 2000 ms: written although fewer than 5");
    assert!(sink.text(LogFile::Security).starts_with("line 0\nline 1\n"));

    // Five lines are written at once, however young.
    push_lines(&writer, LogFile::Mail, 5);
    assert_eq!(bursts.burst(false).lines, 5);
    // Each file is judged on its own, and written in one write.
    push_lines(&writer, LogFile::Mail, 7);
    push_lines(&writer, LogFile::Errors, 2);
    sink.writes.lock().unwrap().clear();
    assert_eq!(bursts.burst(false).lines, 7);
    assert_eq!(*sink.writes.lock().unwrap(), vec![(LogFile::Mail, 7 * 7)]);
}

#[test]
fn a_forced_flush_writes_everything_and_leaves_the_interval_alone() {
    let (writer, _clock, sink, mut bursts) = writer_with(&settings());
    push_lines(&writer, LogFile::Postroom, 1);
    push_lines(&writer, LogFile::Imapsvr, 0);
    let report = bursts.burst(true);
    assert_eq!(report.lines, 1);
    assert_eq!(bursts.interval_ms(), 0);
    assert_eq!(sink.text(LogFile::Postroom), "line 0\n");
    assert_eq!(writer.buffered_bytes(), 0);
}

#[test]
fn logging_disabled_discards_and_session_logs_follow_their_switch() {
    let mut s = settings();
    s.enabled = false;
    let (writer, _clock, sink, mut bursts) = writer_with(&s);
    assert!(!writer.push(LogFile::Postroom, b"gone"));
    assert!(!writer.push(LogFile::Errors, b"gone too"));
    bursts.burst(true);
    assert_eq!(sink.text(LogFile::Postroom), "");
    assert_eq!(writer.dropped(LogFile::Postroom), 0, "discarded by choice is not a drop");

    s.enabled = true;
    writer.apply(&s);
    assert!(writer.push(LogFile::Postroom, b"kept"));
    assert!(!writer.wants(LogFile::Smtpsvr), "session logs are off by default");
    assert!(!writer.push(LogFile::Smtpsvr, b"<<< EHLO"));
    s.session.smtpsvr.enabled = true;
    writer.apply(&s);
    assert!(writer.push(LogFile::Smtpsvr, b"<<< EHLO"));
    bursts.burst(true);
    assert_eq!(sink.text(LogFile::Postroom), "kept\n");
    assert_eq!(sink.text(LogFile::Smtpsvr), "<<< EHLO\n");
}

#[test]
fn memory_is_bounded_and_session_logs_are_dropped_first() {
    let mut s = settings();
    s.writer.memory_limit_kb = 64;
    s.session.imapsvr.enabled = true;
    let (writer, _clock, sink, mut bursts) = writer_with(&s);
    let line = [b'x'; 99]; // 100 bytes with its line end
    let mut kept = BTreeMap::new();
    for _ in 0..1_000 {
        for file in [LogFile::Imapsvr, LogFile::Postroom, LogFile::Security] {
            if writer.push(file, &line) {
                *kept.entry(file).or_insert(0u64) += 1;
            }
        }
    }
    let limit = 64 * 1024;
    assert!(writer.buffered_bytes() <= limit, "{} > {limit}", writer.buffered_bytes());
    // Session lines stop at half the limit, the main log at 80 %, security at 100 %.
    assert_eq!(kept[&LogFile::Imapsvr], ((limit / 2 - 100) / 300 + 1) as u64, "a session line is refused once it would pass half the limit");
    assert!(kept[&LogFile::Postroom] > kept[&LogFile::Imapsvr]);
    assert!(kept[&LogFile::Security] > kept[&LogFile::Postroom]);
    for file in [LogFile::Imapsvr, LogFile::Postroom, LogFile::Security] {
        assert_eq!(writer.dropped(file), 1_000 - kept[&file], "{file:?}: every drop is counted");
    }
    // Once written, each file says how many of its lines were lost.
    bursts.burst(true);
    for file in [LogFile::Imapsvr, LogFile::Postroom, LogFile::Security] {
        let text = sink.text(file);
        let dropped = 1_000 - kept[&file];
        assert!(text.contains(&format!("--- {dropped} lines dropped")), "{file:?}: {}", &text[text.len().saturating_sub(200)..]);
        assert_eq!(text.lines().filter(|l| *l == "x".repeat(99)).count() as u64, kept[&file]);
    }
    assert_eq!(writer.buffered_bytes(), 0);
    let stats = writer.stats(false);
    assert_eq!(stats.files[LogFile::Imapsvr.index()].dropped, 1_000 - kept[&LogFile::Imapsvr], "drops over 10 minutes");
}

#[test]
fn a_failed_write_keeps_the_lines_and_says_so_until_it_succeeds() {
    let (writer, _clock, sink, mut bursts) = writer_with(&settings());
    push_lines(&writer, LogFile::Errors, 3);
    sink.fail.store(true, Ordering::SeqCst);
    let report = bursts.burst(true);
    assert_eq!(report.failures, 1);
    assert!(writer.write_problem().unwrap().contains("errors.log: No space left on device"));
    assert_eq!(writer.stats(false).files[LogFile::Errors.index()].error.as_deref(), Some("No space left on device"));
    push_lines(&writer, LogFile::Errors, 1);
    sink.fail.store(false, Ordering::SeqCst);
    bursts.burst(true);
    assert_eq!(sink.text(LogFile::Errors), "line 0\nline 1\nline 2\nline 0\n", "in order, none lost, none twice");
    assert_eq!(writer.write_problem(), None);
    assert_eq!(writer.buffered_bytes(), 0);
}

/// A sink that takes a few KB per second, or nothing at all while stalled.
struct SlowSink {
    inner: MemorySink,
    bytes_per_sec: usize,
    stalled: Arc<AtomicBool>,
}

impl Sink for SlowSink {
    fn write(&mut self, file: LogFile, bytes: &[u8], settings: &LogSettings) -> std::io::Result<()> {
        while self.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_micros((bytes.len() as u64 * 1_000_000) / self.bytes_per_sec as u64));
        self.inner.write(file, bytes, settings)
    }
}

#[test]
fn a_stalled_then_slow_disk_costs_lines_never_memory_or_the_producers_time() {
    let mut s = LogSettings::default();
    s.writer.memory_limit_kb = 64;
    s.writer.min_interval_ms = 10;
    s.writer.max_interval_ms = 50;
    s.session.smtpsvr.enabled = true;
    let writer = LogWriter::new(&s, Arc::new(SystemClock::new()));
    let memory = MemorySink::default();
    let stalled = Arc::new(AtomicBool::new(true));
    let thread = writer.spawn(Box::new(SlowSink { inner: memory.clone(), bytes_per_sec: 16 * 1024, stalled: stalled.clone() })).unwrap();
    // Four "sessions" log 20,000 lines each while the disk takes nothing: if a push ever waited for the
    // disk they would never finish, since the disk does not move until they have.
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let writer = writer.clone();
            let peak = peak.clone();
            std::thread::spawn(move || {
                let mut kept = [0u64; 2];
                for i in 0..20_000 {
                    let (file, k) = if i % 2 == 0 { (LogFile::Smtpsvr, 0) } else { (LogFile::Postroom, 1) };
                    if writer.push(file, format!("[#{t}] line {i} of a busy session, padded to look like a real one").as_bytes()) {
                        kept[k] += 1;
                    }
                    peak.fetch_max(writer.buffered_bytes(), Ordering::Relaxed);
                }
                kept
            })
        })
        .collect();
    let kept: Vec<[u64; 2]> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let limit = 64 * 1024;
    assert!(peak.load(Ordering::Relaxed) <= limit, "peak {} > {limit}", peak.load(Ordering::Relaxed));
    let kept_session: u64 = kept.iter().map(|k| k[0]).sum();
    let kept_main: u64 = kept.iter().map(|k| k[1]).sum();
    assert!(kept_session < 40_000 && kept_main < 40_000);
    assert_eq!(writer.dropped(LogFile::Smtpsvr), 40_000 - kept_session);
    assert_eq!(writer.dropped(LogFile::Postroom), 40_000 - kept_main);
    assert_eq!(writer.stats(false).files[LogFile::Smtpsvr.index()].dropped, 40_000 - kept_session);
    // The disk comes back (slowly): everything kept reaches it, with the drop counts, at shutdown.
    stalled.store(false, Ordering::SeqCst);
    assert!(writer.shutdown(Duration::from_secs(120)), "flushed at shutdown");
    thread.join().unwrap();
    let session = memory.text(LogFile::Smtpsvr);
    let main = memory.text(LogFile::Postroom);
    assert_eq!(session.lines().filter(|l| l.contains("of a busy session")).count() as u64, kept_session);
    assert_eq!(dropped_in(&session), 40_000 - kept_session, "the file says how many lines it lost");
    assert_eq!(dropped_in(&main), 40_000 - kept_main);
    assert_eq!(main.lines().filter(|l| l.contains("of a busy session")).count() as u64, kept_main);
    assert_eq!(writer.buffered_bytes(), 0);
}

/// The sum of the "--- N lines dropped" lines in a file.
fn dropped_in(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(" --- ").and_then(|(_, rest)| rest.split_once(" lines dropped")).map(|(n, _)| n.parse::<u64>().unwrap()))
        .sum()
}

#[test]
fn shutdown_writes_lines_the_rules_would_have_kept_waiting() {
    let mut s = LogSettings::default();
    s.writer.min_interval_ms = 60_000;
    s.writer.max_interval_ms = 60_000;
    s.writer.min_lines_waiting = 1_000;
    s.writer.max_line_age_ms = 3_600_000;
    let writer = LogWriter::new(&s, Arc::new(SystemClock::new()));
    let memory = MemorySink::default();
    let thread = writer.spawn(Box::new(memory.clone())).unwrap();
    writer.push(LogFile::Mail, b"received id=1");
    writer.push(LogFile::Security, b"login failed");
    assert!(writer.shutdown(Duration::from_secs(10)));
    thread.join().unwrap();
    assert_eq!(memory.text(LogFile::Mail), "received id=1\n");
    assert_eq!(memory.text(LogFile::Security), "login failed\n");
}

#[test]
fn a_line_that_cannot_wait_wakes_a_sleeping_writer() {
    let mut s = LogSettings::default();
    s.writer.min_interval_ms = 60_000;
    s.writer.max_interval_ms = 60_000;
    s.writer.max_line_age_ms = 50;
    let writer = LogWriter::new(&s, Arc::new(SystemClock::new()));
    let memory = MemorySink::default();
    let _thread = writer.spawn(Box::new(memory.clone())).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // the writer is asleep for a minute now
    writer.push(LogFile::Errors, b"disk trouble");
    // Wait (bounded) for the line to arrive: a writer that slept on would miss it by a minute.
    let mut waited = 0;
    while memory.text(LogFile::Errors).is_empty() && waited < 200 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    assert_eq!(memory.text(LogFile::Errors), "disk trouble\n");
    writer.shutdown(Duration::from_secs(5));
}

// ----- the file sink -----

fn file_settings(max_kb: u32) -> LogSettings {
    let mut s = LogSettings::default();
    s.max_size_kb = max_kb;
    s.retention = RetentionSettings { keep_by: KeepBy::Count, keep_count: 2, keep_days: 30, max_total_mb: 1024, min_free_mb: 0 };
    s
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn files_rotate_past_their_size_and_old_ones_are_kept_by_count() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_settings(16);
    let mut sink = FileSink::new(dir.path().join("logs"));
    let chunk = vec![b'a'; 10 * 1024];
    sink.write(LogFile::Errors, &chunk, &s).unwrap();
    assert_eq!(names(&dir.path().join("logs")), ["errors.log"]);
    // 20 KB would pass 16 KB: errors.log becomes errors.lbk.
    sink.write(LogFile::Errors, &chunk, &s).unwrap();
    assert_eq!(names(&dir.path().join("logs")), ["errors.lbk", "errors.log"]);
    // Next time errors.lbk gets a dated name; only the newest 2 dated files are kept.
    for _ in 0..6 {
        sink.write(LogFile::Errors, &chunk, &s).unwrap();
    }
    let files = names(&dir.path().join("logs"));
    let dated: Vec<&String> = files.iter().filter(|n| n.starts_with("errors_")).collect();
    assert_eq!(dated.len(), 2, "{files:?}");
    assert!(dated.iter().all(|n| n.len() == "errors_20261124_1.lbk".len()), "{files:?}");
    assert!(files.contains(&"errors.lbk".to_string()) && files.contains(&"errors.log".to_string()));
    assert_eq!(std::fs::metadata(dir.path().join("logs/errors.log")).unwrap().len(), 10 * 1024);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("logs/errors.log")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "log files are the owner's only");
    }
}

fn touch_old(path: &std::path::Path, days: u64, bytes: usize) {
    std::fs::write(path, vec![b'x'; bytes]).unwrap();
    let t = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

#[test]
fn retention_by_days_and_the_disk_use_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    touch_old(&d.join("mail_20240101_1.lbk"), 40, 10);
    touch_old(&d.join("mail_20240201_1.lbk"), 20, 10);
    touch_old(&d.join("mail.lbk"), 50, 10);
    touch_old(&d.join("notes_20240101_1.lbk"), 400, 10);
    let mut rules = RetentionSettings { keep_by: KeepBy::Days, keep_count: 1, keep_days: 30, max_total_mb: 1024, min_free_mb: 0 };
    sink::apply_retention(d, &rules, std::time::SystemTime::now());
    assert_eq!(names(d), ["mail.lbk", "mail_20240201_1.lbk", "notes_20240101_1.lbk"], "over 30 days goes; name.lbk and other files stay");

    // The cap: 2 MB of logs, oldest old files first, dated before name.lbk, current files never.
    touch_old(&d.join("smtpsvr.log"), 0, 1_400_000);
    touch_old(&d.join("smtpsvr_20240301_1.lbk"), 3, 600_000);
    touch_old(&d.join("smtpsvr_20240302_1.lbk"), 2, 600_000);
    rules.max_total_mb = 2;
    sink::apply_retention(d, &rules, std::time::SystemTime::now());
    assert_eq!(names(d), ["mail.lbk", "notes_20240101_1.lbk", "smtpsvr.log", "smtpsvr_20240302_1.lbk"], "the two oldest dated files went");
    rules.max_total_mb = 1;
    sink::apply_retention(d, &rules, std::time::SystemTime::now());
    assert_eq!(names(d), ["notes_20240101_1.lbk", "smtpsvr.log"], "still over: every old file goes, the current one stays");
}

#[test]
fn the_minimum_free_space_wins_and_stops_writing() {
    let dir = tempfile::tempdir().unwrap();
    let free_mb = crate::paths::free_space(dir.path()).unwrap() / (1024 * 1024);
    let mut s = file_settings(1024);
    s.retention.min_free_mb = (free_mb + 1_000_000) as u32;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    touch_old(&logs.join("postroom_20240101_1.lbk"), 1, 100);
    touch_old(&logs.join("postroom.lbk"), 1, 100);
    let mut sink = FileSink::new(logs.clone());
    let err = sink.write(LogFile::Postroom, b"hello\n", &s).unwrap_err();
    assert!(err.to_string().contains("the minimum kept free is"), "{err}");
    assert!(names(&logs).is_empty(), "old files were deleted to make room, and nothing was written: {:?}", names(&logs));
}

// (On Windows a log file being written cannot be removed: the situation does not arise.)
#[cfg(unix)]
#[test]
fn a_removed_or_unwritable_file_is_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let s = file_settings(1024);
    let mut sink = FileSink::new(logs.clone());
    sink.write(LogFile::Postroom, b"one\n", &s).unwrap();
    std::fs::remove_file(logs.join("postroom.log")).unwrap();
    sink.write(LogFile::Postroom, b"two\n", &s).unwrap();
    assert_eq!(std::fs::read_to_string(logs.join("postroom.log")).unwrap(), "two\n", "not into the deleted file");
    #[cfg(target_os = "linux")]
    {
        // A link planted in the log folder is never written through.
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), logs.join("errors.log")).unwrap();
        assert_eq!(sink.write(LogFile::Errors, b"lost?\n", &s).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        assert!(!dir.path().join("elsewhere").exists());
        std::fs::remove_file(logs.join("errors.log")).unwrap();
        // A disk that is full: a device node like /dev/full refuses every write with ENOSPC.
        crate::paths::full_disk_node(&logs.join("errors.log"));
        let err = sink.write(LogFile::Errors, b"lost?\n", &s).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        std::fs::remove_file(logs.join("errors.log")).unwrap();
        sink.write(LogFile::Errors, b"lost?\n", &s).unwrap();
        assert_eq!(std::fs::read_to_string(logs.join("errors.log")).unwrap(), "lost?\n");
    }
}

#[test]
fn the_log_folder_setting_moves_the_files_at_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = file_settings(1024);
    let mut sink = FileSink::new(dir.path().join("logs"));
    sink.write(LogFile::Mail, b"a\n", &s).unwrap();
    s.folder = dir.path().join("elsewhere").display().to_string();
    sink.write(LogFile::Mail, b"b\n", &s).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("logs/mail.log")).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("elsewhere/mail.log")).unwrap(), "b\n");
}
