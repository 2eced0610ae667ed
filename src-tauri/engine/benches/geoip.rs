//! GeoIP: importing a GeoLite2 City-sized blocks file, and looking addresses up — Postroom's index side
//! by side with the maxminddb crate reading an .mmdb of the same networks.
//!
//! The data comes from `bench/geoip/gen.py` (3.5 million IPv4 networks, their locations, the same
//! networks as `cities.mmdb`, and a million addresses to look up); see BENCHMARKS.md.
//!
//! Run: `.venv/bin/pip install -r bench/geoip/requirements.txt` and `.venv/bin/python bench/geoip/gen.py /tmp/geoip-bench` once, then
//! `GEOIP_BENCH_DIR=/tmp/geoip-bench cargo bench -p postroom-engine --no-default-features --bench geoip`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use postroom_engine::geoip::import::{import, Options, Source};
use postroom_engine::geoip::GeoIp;

fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("GEOIP_BENCH_DIR").unwrap_or_else(|_| "/tmp/geoip-bench".into()))
}

fn addresses(limit: usize) -> Vec<IpAddr> {
    let text = std::fs::read_to_string(data_dir().join("lookups.txt")).expect("lookups.txt (run bench/geoip/gen.py)");
    text.lines().take(limit).filter_map(|l| l.trim().parse().ok()).collect()
}

/// Imports the blocks file into a fresh database the way `postroomd geoimport importgeolite2` does, and
/// loads it as the server would. Returns the index holder and (import seconds, load seconds).
fn imported() -> (GeoIp, tempfile::TempDir, f64, f64) {
    let dir = data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let store = postroom_engine::store::Store::open(&tmp.path().join("postroom.db")).expect("database");
    let source = Source::GeoLite2 { blocks: vec![dir.join("GeoLite2-City-Blocks-IPv4.csv")], locations: dir.join("GeoLite2-City-Locations-en.csv") };
    let t = Instant::now();
    let report = import(&tmp.path().join("postroom.db"), &source, &Options::default(), &mut |_| {}).expect("import");
    let import_secs = t.elapsed().as_secs_f64();
    println!("import: {} IPv4 rows, {} skipped, {:.2} s", report.v4_rows, report.skipped, import_secs);
    let geoip = GeoIp::default();
    let t = Instant::now();
    store.read(|conn| Ok(geoip.refresh(conn)?)).expect("load");
    let load_secs = t.elapsed().as_secs_f64();
    println!("load into the in-memory index: {load_secs:.2} s ({} layers)", geoip.index().counts().2);
    drop(store);
    (geoip, tmp, import_secs, load_secs)
}

fn mmdb() -> maxminddb::Reader<Vec<u8>> {
    maxminddb::Reader::open_readfile(data_dir().join("cities.mmdb")).expect("cities.mmdb (run bench/geoip/gen.py)")
}

fn mmdb_country<'a>(reader: &'a maxminddb::Reader<Vec<u8>>, ip: IpAddr) -> Option<&'a str> {
    reader.lookup(ip).ok()?.decode_path(&maxminddb::path!["country", "iso_code"]).ok()?
}

fn percentiles(mut ns: Vec<u64>) -> (u64, u64, u64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    (at(0.5), at(0.99), at(0.999))
}

fn lookups(c: &mut Criterion) {
    let (geoip, _tmp, _, _) = imported();
    let index = geoip.index();
    let reader = mmdb();
    let ips = addresses(10_000);
    let mut group = c.benchmark_group("lookup one IPv4 address (3.5M networks)");
    let mut i = 0;
    group.bench_function("postroom GeoIndex::for_each", |b| {
        b.iter(|| {
            let ip = ips[i % ips.len()];
            i += 1;
            let mut n = 0;
            index.for_each(std::hint::black_box(ip), |_| n += 1);
            n
        })
    });
    let mut j = 0;
    group.bench_function("maxminddb lookup + decode_path(country.iso_code)", |b| {
        b.iter(|| {
            let ip = ips[j % ips.len()];
            j += 1;
            mmdb_country(&reader, std::hint::black_box(ip)).map(str::len)
        })
    });
    group.finish();
}

criterion_group!(benches, lookups);

fn summary() {
    println!("\n=== Import and load, 3.5M-row GeoLite2 City blocks file ===");
    let (geoip, _tmp, _, _) = imported();
    let index = geoip.index();
    let reader = mmdb();
    let ips = addresses(1_000_000);

    // Both answer the same.
    let (mut same, mut differ, mut both_none) = (0, 0, 0);
    for ip in ips.iter().take(200_000) {
        let ours = index.lookup(*ip).first().map(|r| r.to_string());
        let theirs = mmdb_country(&reader, *ip).map(str::to_string);
        match (ours, theirs) {
            (None, None) => both_none += 1,
            (a, b) if a == b => same += 1,
            _ => differ += 1,
        }
    }
    println!("agreement on 200,000 addresses: {same} same country, {both_none} unknown to both, {differ} different");

    // What timing one call costs on this machine (two clock reads), to take off the per-call figures.
    let mut empty = Vec::with_capacity(ips.len());
    for ip in &ips {
        let t = Instant::now();
        std::hint::black_box(ip);
        empty.push(t.elapsed().as_nanos() as u64);
    }
    let (timer, _, _) = percentiles(empty);
    println!("\n=== Lookup, one thread, {} addresses (90% inside a network), each call timed (the timer's own p50 of {timer} ns is taken off) ===", ips.len());
    for round in 0..3 {
        let mut ours = Vec::with_capacity(ips.len());
        let mut found = 0u64;
        for ip in &ips {
            let t = Instant::now();
            index.for_each(*ip, |_| found += 1);
            ours.push(t.elapsed().as_nanos() as u64);
        }
        let mut theirs = Vec::with_capacity(ips.len());
        let mut found_mm = 0u64;
        for ip in &ips {
            let t = Instant::now();
            if mmdb_country(&reader, *ip).is_some() {
                found_mm += 1;
            }
            theirs.push(t.elapsed().as_nanos() as u64);
        }
        let (a50, a99, a999) = percentiles(ours.into_iter().map(|n| n.saturating_sub(timer)).collect());
        let (b50, b99, b999) = percentiles(theirs.into_iter().map(|n| n.saturating_sub(timer)).collect());
        println!("round {round}: postroom p50 {a50} ns p99 {a99} ns p99.9 {a999} ns ({found} found) | maxminddb p50 {b50} ns p99 {b99} ns p99.9 {b999} ns ({found_mm} found)");
    }
    // Without the timer in the loop: the mean.
    let t = Instant::now();
    let mut n = 0u64;
    for ip in &ips {
        index.for_each(*ip, |_| n += 1);
    }
    let ours_mean = t.elapsed().as_nanos() as f64 / ips.len() as f64;
    let t = Instant::now();
    let mut m = 0u64;
    for ip in &ips {
        m += mmdb_country(&reader, *ip).map_or(0, |_| 1);
    }
    let theirs_mean = t.elapsed().as_nanos() as f64 / ips.len() as f64;
    println!("mean without per-call timing: postroom {ours_mean:.0} ns, maxminddb {theirs_mean:.0} ns ({n}/{m} found)");
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let rss = statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096;
    let huge = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default().lines().find(|l| l.starts_with("AnonHugePages")).unwrap_or("").to_string();
    println!("resident memory of this process now: {:.0} MB ({})", rss as f64 / 1048576.0, huge.split_whitespace().collect::<Vec<_>>().join(" "));
}

fn main() {
    if !data_dir().join("lookups.txt").exists() {
        eprintln!("no benchmark data in {}: run `.venv/bin/python bench/geoip/gen.py {}` first (see bench/geoip/README.md)", data_dir().display(), data_dir().display());
        return;
    }
    if !std::env::args().any(|a| a == "--summary-only") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    summary();
}
