//! The background log writer against tracing-appender's non-blocking writer, on the same workload:
//! 100-byte lines into one file, from 4 producer threads.
//!
//! - criterion: the cost of one enqueue (`push` / `NonBlocking::write_all`) with the writer thread
//!   running and writing to a real file;
//! - then, measured by hand and printed as a summary: sustained throughput (lines per second until every
//!   line is in the file, none dropped), the enqueue latency distribution (p50/p99/p99.9, each call timed),
//!   and memory with a stalled disk (a sink that never returns).
//!
//! Run: `cargo bench -p postroom-engine --bench logwriter` (see BENCHMARKS.md).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use postroom_engine::logwriter::{FileSink, LogFile, LogWriter, Sink, SystemClock};
use postroom_engine::settings::LogSettings;

const PRODUCERS: usize = 4;
const LINE: &[u8] = b"2026-11-24 10:11:12.345 INFO  smtp: [#42] message received id=6610e6c0d9cc00000 size=4021 ok=1";

fn settings(memory_mb: u32) -> LogSettings {
    let mut s = LogSettings::default();
    s.writer.memory_limit_kb = memory_mb * 1024;
    s.max_size_kb = 4 * 1024 * 1024; // no rotation during the run
    s.retention.min_free_mb = 0;
    s
}

fn postroom(dir: &std::path::Path, memory_mb: u32) -> (LogWriter, std::thread::JoinHandle<()>) {
    let writer = LogWriter::new(&settings(memory_mb), Arc::new(SystemClock::new()));
    let thread = writer.spawn(Box::new(FileSink::new(dir.to_path_buf()))).expect("writer thread");
    (writer, thread)
}

fn appender(dir: &std::path::Path) -> (tracing_appender::non_blocking::NonBlocking, tracing_appender::non_blocking::WorkerGuard) {
    let file = std::fs::File::create(dir.join("appender.log")).expect("file");
    // Not lossy: it must write every line, as Postroom does in this test.
    tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(file)
}

/// Each sample: a fresh writer (untimed), `iters` lines from one thread (timed), then everything written
/// (untimed). Both writers are given room for every line, so this is the enqueue itself, never a drop.
fn enqueue(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("enqueue one 100-byte line");
    group.throughput(Throughput::Elements(1));
    group.bench_function("postroom LogWriter::push", |b| {
        b.iter_custom(|iters| {
            let (writer, thread) = postroom(dir.path(), 1024);
            let t = Instant::now();
            for _ in 0..iters {
                writer.push(LogFile::Postroom, std::hint::black_box(LINE));
            }
            let elapsed = t.elapsed();
            assert_eq!(writer.dropped(LogFile::Postroom), 0, "a sample overflowed the memory bound");
            writer.shutdown(Duration::from_secs(300));
            thread.join().unwrap();
            let _ = std::fs::remove_file(dir.path().join("postroom.log"));
            elapsed
        })
    });
    group.bench_function("tracing-appender NonBlocking::write_all", |b| {
        b.iter_custom(|iters| {
            let file = std::fs::File::create(dir.path().join("appender.log")).expect("file");
            let (mut nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(iters.max(1) as usize)
                .finish(file);
            let mut line = LINE.to_vec();
            line.push(b'\n');
            let t = Instant::now();
            for _ in 0..iters {
                nb.write_all(std::hint::black_box(&line)).unwrap();
            }
            let elapsed = t.elapsed();
            drop(nb);
            drop(guard);
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, enqueue);

/// Lines per second from `PRODUCERS` threads until all are in the file.
fn throughput_postroom(lines_each: usize) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (writer, thread) = postroom(dir.path(), 256);
    let start = Barrier::new(PRODUCERS + 1);
    let t0 = std::thread::scope(|s| {
        for _ in 0..PRODUCERS {
            s.spawn(|| {
                start.wait();
                for _ in 0..lines_each {
                    writer.push(LogFile::Postroom, LINE);
                }
            });
        }
        start.wait();
        Instant::now()
    });
    assert!(writer.shutdown(Duration::from_secs(300)));
    let elapsed = t0.elapsed();
    thread.join().unwrap();
    let written = std::fs::read(dir.path().join("postroom.log")).unwrap().split(|&b| b == b'\n').filter(|l| l.len() == LINE.len()).count();
    let total = (PRODUCERS * lines_each) as u64;
    assert_eq!(written as u64 + writer.dropped(LogFile::Postroom), total);
    (written as f64 / elapsed.as_secs_f64(), writer.dropped(LogFile::Postroom))
}

fn throughput_appender(lines_each: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (nb, guard) = appender(dir.path());
    let start = Barrier::new(PRODUCERS + 1);
    let t0 = std::thread::scope(|s| {
        for _ in 0..PRODUCERS {
            let mut nb = nb.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                let mut line = LINE.to_vec();
                line.push(b'\n');
                for _ in 0..lines_each {
                    nb.write_all(&line).unwrap();
                }
            });
        }
        start.wait();
        Instant::now()
    });
    drop(nb);
    drop(guard); // waits for the worker to write everything
    let elapsed = t0.elapsed();
    let written = std::fs::read(dir.path().join("appender.log")).unwrap().split(|&b| b == b'\n').filter(|l| l.len() == LINE.len()).count();
    assert_eq!(written, PRODUCERS * lines_each, "tracing-appender (not lossy) wrote every line");
    written as f64 / elapsed.as_secs_f64()
}

/// Each call timed: (p50, p99, p99.9) in ns, over `PRODUCERS` threads × `calls`.
fn latencies(calls: usize, mut call: impl FnMut() + Clone + Send) -> (u64, u64, u64) {
    let start = Barrier::new(PRODUCERS);
    let mut all: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let mut call = call.clone();
                let start = &start;
                s.spawn(move || {
                    let mut v = Vec::with_capacity(calls);
                    start.wait();
                    for _ in 0..calls {
                        let t = Instant::now();
                        call();
                        v.push(t.elapsed().as_nanos() as u64);
                    }
                    v
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let _ = &mut call;
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (at(0.50), at(0.99), at(0.999))
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// A disk that never answers.
struct Stalled(Arc<AtomicBool>);

impl Sink for Stalled {
    fn write(&mut self, _file: LogFile, _bytes: &[u8], _s: &LogSettings) -> std::io::Result<()> {
        while !self.0.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        while !self.0.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Producers log `lines_each` lines each into a writer whose disk never answers. Returns (peak
/// buffered bytes, RSS growth, lines kept, lines dropped, producers finished).
fn stalled_postroom(memory_mb: u32, lines_each: usize) -> (u64, u64, u64, u64, bool) {
    let release = Arc::new(AtomicBool::new(false));
    let writer = LogWriter::new(&settings(memory_mb), Arc::new(SystemClock::new()));
    let thread = writer.spawn(Box::new(Stalled(release.clone()))).unwrap();
    let rss0 = rss_bytes();
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..PRODUCERS {
            s.spawn(|| {
                for i in 0..lines_each {
                    writer.push(LogFile::Postroom, LINE);
                    if i % 1024 == 0 {
                        peak.fetch_max(writer.buffered_bytes(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let grown = rss_bytes().saturating_sub(rss0);
    let dropped = writer.dropped(LogFile::Postroom);
    let kept = (PRODUCERS * lines_each) as u64 - dropped;
    release.store(true, Ordering::Relaxed);
    writer.shutdown(Duration::from_secs(60));
    thread.join().unwrap();
    (peak.load(Ordering::Relaxed) as u64, grown, kept, dropped, true)
}

/// The same against tracing-appender (lossy, its default): (RSS growth, producers finished within 30 s).
fn stalled_appender(lines_each: usize, lossy: bool) -> (u64, bool) {
    let release = Arc::new(AtomicBool::new(false));
    let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(lossy).finish(Stalled(release.clone()));
    let rss0 = rss_bytes();
    let done = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let mut nb = nb.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut line = LINE.to_vec();
                line.push(b'\n');
                for _ in 0..lines_each {
                    let _ = nb.write_all(&line);
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::SeqCst) < PRODUCERS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let finished = done.load(Ordering::SeqCst) == PRODUCERS;
    let grown = rss_bytes().saturating_sub(rss0);
    release.store(true, Ordering::Relaxed);
    for p in producers {
        let _ = p.join();
    }
    drop(nb);
    drop(guard);
    (grown, finished)
}

fn summary() {
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("\n=== Sustained throughput: {PRODUCERS} producers, 100-byte lines, until all are in the file ===");
    let lines_each = 1_000_000;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..3 {
        let (rate, dropped) = throughput_postroom(lines_each);
        let peer = throughput_appender(lines_each);
        println!("round {round}: postroom {rate:>12.0} lines/s (dropped {dropped})   tracing-appender {peer:>12.0} lines/s");
        ours.push(rate);
        theirs.push(peer);
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    println!("median: postroom {:.0} lines/s, tracing-appender {:.0} lines/s, ratio {:.2}x", ours[1], theirs[1], ours[1] / theirs[1]);

    println!("\n=== Enqueue latency, {PRODUCERS} threads x 250000 calls each, writer running on a real file ===");
    let dir = tempfile::tempdir().unwrap();
    let (writer, thread) = postroom(dir.path(), 256);
    let (p50, p99, p999) = latencies(250_000, || {
        writer.push(LogFile::Postroom, LINE);
    });
    println!("postroom push:            p50 {p50} ns, p99 {p99} ns, p99.9 {p999} ns");
    writer.shutdown(Duration::from_secs(120));
    thread.join().unwrap();
    let (nb, guard) = appender(dir.path());
    let mut line = LINE.to_vec();
    line.push(b'\n');
    let (a50, a99, a999) = latencies(250_000, {
        let nb = nb.clone();
        let line = line.clone();
        move || {
            let mut nb = nb.clone();
            nb.write_all(&line).unwrap();
        }
    });
    println!("tracing-appender write:   p50 {a50} ns, p99 {a99} ns, p99.9 {a999} ns");
    drop(nb);
    drop(guard);

    println!("\n=== Stalled disk: {PRODUCERS} producers x 2,000,000 lines, the sink never returns ===");
    let (peak, grown, kept, dropped, finished) = stalled_postroom(16, 2_000_000);
    println!(
        "postroom (16 MB bound):  producers finished: {finished}; peak waiting {:.1} MB; RSS grew {:.1} MB; kept {kept}, dropped {dropped} (counted)",
        mb(peak),
        mb(grown)
    );
    let (grown, finished) = stalled_appender(2_000_000, true);
    println!("tracing-appender lossy:  producers finished: {finished}; RSS grew {:.1} MB (bound is 128,000 lines, drops not reported)", mb(grown));
    let (grown, finished) = stalled_appender(2_000_000, false);
    println!("tracing-appender blocking: producers finished within 30 s: {finished}; RSS grew {:.1} MB", mb(grown));
}

fn main() {
    let only_summary = std::env::args().any(|a| a == "--summary-only");
    if !only_summary {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    summary();
}
