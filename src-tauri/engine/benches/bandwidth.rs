//! Bandwidth control: how close a pool holds to its allowance with 1, 10 and 100 connections over real
//! loopback TCP; the CPU cost of pushing 1 GB through the shaper compared with the same copy unshaped;
//! and the cost of one `GetBandwidth` call (the target is under 20 µs). See BENCHMARKS.md.
//!
//! Run: `cargo bench -p postroom-engine --no-default-features --bench bandwidth`
//! (`BANDWIDTH_BENCH_SECS` sets the accuracy runs' length, 10 s by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use postroom_engine::bandwidth::script::examples::TIME_OF_DAY;
use postroom_engine::bandwidth::script::{Params, Script};
use postroom_engine::bandwidth::{LimitSource, Pools, Shaper, Throttled};
use postroom_engine::settings::{BandwidthPool, BandwidthSettings, Throttle, ThrottleMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};


fn pools_with(pools: Vec<BandwidthPool>) -> Arc<Pools> {
    Arc::new(Pools::new(&BandwidthSettings { pools, ..Default::default() }))
}

/// `n` loopback connections; the server side of each is shaped by its shaper and sends as fast as it
/// may, the client side reads and counts. Returns the bytes each client received after `warmup`, over
/// `secs` seconds.
async fn pool_accuracy(n: usize, rate: u64, secs: f64) -> Vec<u64> {
    let pools = pools_with(vec![BandwidthPool { id: 1, name: "bench".into(), allowed: rate as i64 }]);
    let throttle = Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 1 };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let warmup = Duration::from_secs(1);
    let counted: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new((0..n).map(|_| Default::default()).collect());
    let mut tasks = Vec::new();
    for i in 0..n {
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut shaped = Throttled::new(server, Shaper::new(pools.clone(), &throttle));
        let stop_w = stop.clone();
        tasks.push(tokio::spawn(async move {
            let chunk = vec![0x55u8; 16 * 1024];
            while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
                if shaped.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }));
        let counted = counted.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            let mut client = client;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) if started.elapsed() >= warmup => {
                        counted[i].fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(_) => {}
                }
            }
        });
    }
    tokio::time::sleep(warmup).await;
    let before: Vec<u64> = counted.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let after: Vec<u64> = counted.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

/// What shapes the 1 GB copy.
#[derive(Clone, Copy)]
enum Shaping {
    /// A plain stream, no wrapper.
    Bare,
    /// The wrapper with no limit (every connection pays at least this).
    NoLimit,
    /// A per-connection Custom rate above what the copy reaches, so it never waits.
    CustomUnreached,
    /// A pool with no limit (counted for the live figures).
    UnlimitedPool,
    /// Pool 2, a child of pool 1; neither limit reached.
    NestedPool,
    /// Pool 1 limited to 400 MB/s: the copy waits for tokens.
    PoolAt400MB,
}

/// The connection's setting for each case (pool 1 is the parent, pool 2 its child, pool 3 unlimited).
fn throttle_of(shaping: Shaping) -> Throttle {
    match shaping {
        Shaping::Bare | Shaping::NoLimit => Throttle { mode: ThrottleMode::None, bytes_per_sec: 0, pool: 1 },
        Shaping::CustomUnreached => Throttle { mode: ThrottleMode::Custom, bytes_per_sec: 999_999_999, pool: 1 },
        Shaping::UnlimitedPool => Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 3 },
        Shaping::NestedPool => Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 2 },
        Shaping::PoolAt400MB => Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 1 },
    }
}

/// Writes `total` bytes in 16 KB chunks (a TLS record's worth, as sessions write), through the shaper
/// unless the case is the bare stream, then shuts the stream down. Returns the bytes written.
async fn send_chunks<W: tokio::io::AsyncWrite + Unpin>(stream: W, shaping: Shaping, pools: Arc<Pools>, total: u64) -> u64 {
    async fn send<W: tokio::io::AsyncWrite + Unpin>(mut w: W, total: u64) -> u64 {
        let chunk = vec![0xAAu8; 16 * 1024];
        let mut sent = 0u64;
        while sent < total {
            w.write_all(&chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
        w.shutdown().await.unwrap();
        sent
    }
    match shaping {
        Shaping::Bare => send(stream, total).await,
        _ => send(Throttled::new(stream, Shaper::new(pools, &throttle_of(shaping))), total).await,
    }
}

/// Copies `total` bytes over loopback TCP through the given shaping. The sending side runs alone on a
/// thread of its own (a current-thread runtime), as a session's task does; its CPU time, user and
/// system, is what the server pays. The receiver is a plain blocking socket on another thread.
/// Returns (sender CPU s, wall s).
fn copy_gb(shaping: Shaping, total: u64) -> (f64, f64) {
    let pools = pools_with(vec![
        BandwidthPool { id: 1, name: "parent".into(), allowed: if matches!(shaping, Shaping::PoolAt400MB) { 400_000_000 } else { 999_999_999 } },
        BandwidthPool { id: 2, name: "child".into(), allowed: -1 },
    ]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 {
                break;
            }
            got += k as u64;
        }
        got
    });
    let sender = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let socket = TcpStream::connect(addr).await.unwrap();
            let cpu = thread_cpu_seconds();
            let wall = Instant::now();
            let sent = send_chunks(socket, shaping, pools, total).await;
            (sent, thread_cpu_seconds() - cpu, wall.elapsed().as_secs_f64())
        })
    });
    let (sent, cpu, wall) = sender.join().unwrap();
    assert_eq!(reader.join().unwrap(), sent);
    (cpu, wall)
}

/// This thread's CPU time so far (user + system).
fn thread_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// The shaper's own cost, without a kernel: 1 GB in 16 KB writes into a sink that discards them, on a
/// current-thread runtime. Returns CPU seconds per GB for (bare sink, the given shaping).
fn sink_gb(shaping: Shaping) -> f64 {
    let pools = pools_with(vec![BandwidthPool { id: 2, name: "child".into(), allowed: -1 }]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let cpu = thread_cpu_seconds();
        send_chunks(tokio::io::sink(), shaping, pools, 1u64 << 30).await;
        thread_cpu_seconds() - cpu
    })
}

fn params(clientip: &str, username: &str) -> Params {
    Params {
        clientip: clientip.into(),
        serveraddress: "192.168.1.10".into(),
        serverport: 110,
        servertype: "POP3".into(),
        serverid: "pop3".into(),
        username: username.into(),
        ..Default::default()
    }
}

fn main() {
    let secs: f64 = std::env::var("BANDWIDTH_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    println!("== Accuracy: one pool, {secs} s after a 1 s warm-up, loopback TCP ==");
    println!("{:>11} {:>12} {:>14} {:>9} {:>24}", "connections", "pool B/s", "achieved B/s", "ratio", "per connection min/max");
    for (n, rate) in [(1usize, 1_000_000u64), (10, 1_000_000), (100, 1_000_000), (1, 100_000), (10, 100_000), (100, 100_000)] {
        let got = rt.block_on(pool_accuracy(n, rate, secs));
        let total: u64 = got.iter().sum();
        let achieved = total as f64 / secs;
        let fair = rate as f64 / n as f64 * secs;
        let (min, max) = (*got.iter().min().unwrap() as f64 / fair, *got.iter().max().unwrap() as f64 / fair);
        println!("{n:>11} {rate:>12} {achieved:>14.0} {:>9.4} {:>11.2} / {:<11.2}", achieved / rate as f64, min, max);
    }

    println!("\n== CPU cost of shaping 1 GB (loopback TCP, 16 KB writes; the sending thread's CPU, median of 3) ==");
    println!("{:<44} {:>8} {:>8} {:>10}", "shaping", "CPU s", "wall s", "vs bare");
    let gb = 1u64 << 30;
    let mut bare_cpu = 0.0;
    for (name, shaping) in [
        ("bare TcpStream (no wrapper)", Shaping::Bare),
        ("Throttled, No Limit", Shaping::NoLimit),
        ("Custom 999999999 B/s (never waits)", Shaping::CustomUnreached),
        ("pool with no limit (counted)", Shaping::UnlimitedPool),
        ("child pool of a 999999999 B/s parent", Shaping::NestedPool),
        ("pool limited to 400 MB/s (waits)", Shaping::PoolAt400MB),
    ] {
        let mut runs: Vec<(f64, f64)> = (0..3).map(|_| copy_gb(shaping, gb)).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (cpu, wall) = runs[1];
        if matches!(shaping, Shaping::Bare) {
            bare_cpu = cpu;
        }
        println!("{name:<44} {cpu:>8.3} {wall:>8.3} {:>9.3}×", cpu / bare_cpu);
    }

    println!("\n== The shaper alone: 1 GB in 16 KB writes into a discarding sink (CPU s, median of 3) ==");
    for (name, shaping) in [
        ("bare sink", Shaping::Bare),
        ("Throttled, No Limit", Shaping::NoLimit),
        ("pool with no limit (counted)", Shaping::UnlimitedPool),
        ("Custom 999999999 B/s (waits: the sink is faster)", Shaping::CustomUnreached),
        ("child pool of an unlimited parent", Shaping::NestedPool),
    ] {
        let mut runs: Vec<f64> = (0..3).map(|_| sink_gb(shaping)).collect();
        runs.sort_by(f64::total_cmp);
        println!("{name:<52} {:>8.4} s/GB  {:>7.0} ns per 16 KB write", runs[1], runs[1] * 1e9 / 65536.0);
    }

    println!("\n== GetBandwidth ==");
    let script = Script::compile(TIME_OF_DAY).unwrap();
    let (office, outside, boss) = (params("192.168.1.20", ""), params("203.0.113.9", "alice"), params("203.0.113.9", "theboss"));
    let mut c = Criterion::default().configure_from_args().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    c.bench_function("GetBandwidth time-of-day example, office address", |b| b.iter(|| script.call(&office).unwrap()));
    c.bench_function("GetBandwidth time-of-day example, outside (os.date)", |b| b.iter(|| script.call(&outside).unwrap()));
    c.bench_function("GetBandwidth time-of-day example, the boss", |b| b.iter(|| script.call(&boss).unwrap()));
    // What a connection pays at connect: its shaper, the script's call with its parameters, the live entry.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("bandwidth.lua"), TIME_OF_DAY).unwrap();
    let control = postroom_engine::bandwidth::Bandwidth::new(folder.path(), &BandwidthSettings::default());
    control.reload_script(true);
    let settings = postroom_engine::settings::Settings::default();
    let (peer, local) = ("203.0.113.9:50000".parse().unwrap(), "192.168.1.10:110".parse().unwrap());
    c.bench_function("a connection's limit at connect (Bandwidth::connect, script deciding)", |b| {
        let mut session = 0u64;
        b.iter(|| {
            session += 1;
            rt.block_on(control.connect(session, postroom_engine::settings::ServiceId::Pop3, peer, local, &settings))
        })
    });
    assert!(control.live().script.last_error.is_none(), "the script answered every call");
    // The same call on the blocking pool, as a script that has once been slow is called.
    let shared = Arc::new(script);
    c.bench_function("GetBandwidth via spawn_blocking from a task", |b| {
        b.iter(|| {
            let s = shared.clone();
            let p = outside.clone();
            rt.block_on(async move { tokio::task::spawn_blocking(move || s.call(&p).unwrap()).await.unwrap() })
        })
    });
    let pools = pools_with(vec![]);
    let shaper = Shaper::new(pools, &Throttle::default());
    c.bench_function("Shaper::set (a login moving a connection to a pool)", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i % 1000 + 1;
            shaper.set(LimitSource::Pool(i))
        })
    });
    c.final_summary();
}
