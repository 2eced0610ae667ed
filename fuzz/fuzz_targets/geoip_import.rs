//! The GeoIP importer on arbitrary files: every row is either imported or reported with its line number,
//! and nothing panics. Also the address, range and network parsers and the access-rule parser.
//! The first byte is the mode: even, the rest is the file as it is; odd, the rest is choices for a
//! generated file (a 4 MB field, 100,000 rows or columns, a quoted field over 100,000 lines, a
//! million-digit address: see postroom_fuzz::shapes::geoip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::geoip::addr::{parse_addr, parse_cidr, parse_range};
use postroom_engine::geoip::import::{import, ColumnSpec, Options, Source};
use postroom_fuzz::{on_worker_stack, shapes, Gen};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let generated;
    let data = if mode % 2 == 1 {
        generated = shapes::geoip::generate(&mut Gen::new(rest));
        &generated[..]
    } else {
        rest
    };
    on_worker_stack(|| check(data));
});

fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_addr(&text);
    let _ = parse_cidr(&text);
    if let Some((a, b)) = text.split_once(',') {
        let _ = parse_range(a, b);
    }
    let _ = ColumnSpec::parse(&text);
    let dir = std::env::temp_dir().join(format!("postroom-fuzz-geoip-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("in.csv");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let options = Options { dry_run: true, ..Options::default() };
    let source = Source::Columns { file, columns: ColumnSpec { start: 0, end: 1, result: 2 } };
    if let Ok(report) = import(std::path::Path::new(":memory:"), &source, &options, &mut |_| {}) {
        let rows = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        assert!(report.v4_rows + report.v6_rows + report.skipped <= rows + 1, "more rows than lines");
        assert!(report.bad_rows.iter().all(|b| b.line >= 1));
    }
}
