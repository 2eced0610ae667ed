//! Importing GeoIP data into `geoipv4` / `geoipv6`: a CSV with range start, range end and result in
//! chosen columns (`125`: the legacy GeoIP Country CSV), or MaxMind's GeoLite2 blocks and locations
//! files. Both address families go to their tables in one pass.
//!
//! Replacing (the default) fills new tables beside the live ones, in batches of [`BATCH`] rows so that
//! the server's own writes are never held up for long, and swaps them in with one short transaction:
//! a running server sees the old data or the new, never a mix. Appending adds to the live tables. Bad
//! rows are reported with their line numbers and skipped; a file without a single good row changes
//! nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::addr::{parse_cidr, parse_range, Addr};

/// Rows written per transaction.
pub const BATCH: usize = 20_000;
/// Bad rows listed in the report (all are counted).
pub const LISTED: usize = 100;

/// Which columns hold the range start, the range end and the result (1-based in the text form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    pub start: usize,
    pub end: usize,
    pub result: usize,
}

/// Why an import stopped (bad rows do not stop it: they are listed in the report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("'{0}' is not a column list: give three digits, the columns of the range start, the range end and the result (e.g. 125)")]
    BadColumns(String),
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("{file} has no '{name}' column: is it a GeoLite2 CSV file?")]
    MissingColumn { file: String, name: String },
    #[error("cannot prepare the import: {0}")]
    Prepare(String),
    #[error("cannot write the rows: {0}")]
    Write(String),
    #[error("no valid row in {input}{why}; nothing was changed")]
    NoValidRow { input: String, why: String },
    #[error("cannot put the new data in place: {0}")]
    SwapIn(String),
}

impl ImportError {
    fn open(path: &Path, e: impl std::fmt::Display) -> ImportError {
        ImportError::Open { path: path.display().to_string(), reason: e.to_string() }
    }

    fn write(e: impl std::fmt::Display) -> ImportError {
        ImportError::Write(e.to_string())
    }
}

impl ColumnSpec {
    /// `125`: start in column 1, end in 2, result in 5. Three digits 1–9.
    pub fn parse(text: &str) -> Result<ColumnSpec, ImportError> {
        let digits: Vec<usize> = text.trim().chars().map(|c| c.to_digit(10).map(|d| d as usize)).collect::<Option<_>>().unwrap_or_default();
        match digits[..] {
            [s, e, r] if s > 0 && e > 0 && r > 0 => Ok(ColumnSpec { start: s - 1, end: e - 1, result: r - 1 }),
            _ => Err(ImportError::BadColumns(text.trim().to_string())),
        }
    }

    pub fn text(&self) -> String {
        format!("{}{}{}", self.start + 1, self.end + 1, self.result + 1)
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Keep the rows already there (default: replace them all).
    pub append: bool,
    pub delimiter: u8,
    /// The first row is a header (it is also recognised on its own when its addresses do not parse).
    pub skip_header: bool,
    /// Parse and report only.
    pub dry_run: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { append: false, delimiter: b',', skip_header: false, dry_run: false }
    }
}

pub enum Source {
    Columns { file: PathBuf, columns: ColumnSpec },
    /// GeoLite2 Country or City: one or more blocks files (IPv4, IPv6) and the locations file.
    GeoLite2 { blocks: Vec<PathBuf>, locations: PathBuf },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Columns { file, columns } => format!("{} (columns {})", file.display(), columns.text()),
            Source::GeoLite2 { blocks, locations } => {
                let names: Vec<String> = blocks.iter().chain(std::iter::once(locations)).map(|p| p.display().to_string()).collect();
                format!("GeoLite2: {}", names.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct BadRow {
    #[ts(type = "number")]
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ImportReport {
    #[ts(type = "number")]
    pub v4_rows: u64,
    #[ts(type = "number")]
    pub v6_rows: u64,
    /// Bad rows skipped, all of them; `bad_rows` lists the first [`LISTED`].
    #[ts(type = "number")]
    pub skipped: u64,
    pub bad_rows: Vec<BadRow>,
    /// A header row was found and skipped.
    pub header: bool,
    /// The old rows were replaced (false: appended, or a dry run).
    pub replaced: bool,
    pub dry_run: bool,
    #[ts(type = "number")]
    pub millis: u64,
}

impl ImportReport {
    fn bad(&mut self, line: u64, message: String) {
        self.skipped += 1;
        if self.bad_rows.len() < LISTED {
            self.bad_rows.push(BadRow { line, message });
        }
    }
}

/// How far an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct Progress {
    #[ts(type = "number")]
    pub bytes_read: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
    #[ts(type = "number")]
    pub rows: u64,
}

/// Rows on their way to the database.
struct Sink<'c> {
    conn: Option<&'c mut Connection>,
    tables: (&'static str, &'static str),
    v4: Vec<(i64, i64, String)>,
    v6: Vec<(Vec<u8>, Vec<u8>, String)>,
}

impl Sink<'_> {
    fn push(&mut self, from: Addr, to: Addr, result: &str) -> rusqlite::Result<()> {
        match (from, to) {
            (Addr::V4(a), Addr::V4(b)) => self.v4.push((i64::from(a), i64::from(b), result.to_string())),
            (Addr::V6(a), Addr::V6(b)) => self.v6.push((a.to_be_bytes().to_vec(), b.to_be_bytes().to_vec(), result.to_string())),
            _ => {}
        }
        if self.v4.len() + self.v6.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> rusqlite::Result<()> {
        let Some(conn) = self.conn.as_deref_mut() else {
            self.v4.clear();
            self.v6.clear();
            return Ok(());
        };
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut s4 = tx.prepare_cached(&format!("INSERT INTO {}(addrfrom, addrto, result) VALUES (?1, ?2, ?3)", self.tables.0))?;
            for (a, b, r) in self.v4.drain(..) {
                s4.execute(params![a, b, r])?;
            }
            let mut s6 = tx.prepare_cached(&format!("INSERT INTO {}(addrfrom, addrto, result) VALUES (?1, ?2, ?3)", self.tables.1))?;
            for (a, b, r) in self.v6.drain(..) {
                s6.execute(params![a, b, r])?;
            }
        }
        tx.commit()
    }
}

/// Empty staging tables beside the live ones, indexed already (an index name the live table does not use).
fn create_staging(conn: &Connection) -> rusqlite::Result<()> {
    for (table, kind) in [("geoipv4", "INTEGER"), ("geoipv6", "BLOB")] {
        let live_index: Option<String> = conn
            .query_row("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 LIMIT 1", [table], |r| r.get(0))
            .ok();
        let index = if live_index.as_deref() == Some(&format!("{table}_range_a")) { format!("{table}_range_b") } else { format!("{table}_range_a") };
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {table}_new;
             DROP TABLE IF EXISTS {table}_old;
             CREATE TABLE {table}_new (id INTEGER PRIMARY KEY, addrfrom {kind} NOT NULL, addrto {kind} NOT NULL, result TEXT NOT NULL);
             CREATE INDEX {index} ON {table}_new(addrfrom, addrto);"
        ))?;
    }
    Ok(())
}

/// The new tables become the live ones in one transaction; the old ones are dropped after. The change
/// counting triggers (defined by the schema migration) are moved over to the new tables as they are.
fn swap_in(conn: &mut Connection, source: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let triggers: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('geoipv4', 'geoipv6')")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (name, _) in &triggers {
        tx.execute_batch(&format!("DROP TRIGGER \"{name}\";"))?;
    }
    tx.execute_batch(
        "ALTER TABLE geoipv4 RENAME TO geoipv4_old;
         ALTER TABLE geoipv4_new RENAME TO geoipv4;
         ALTER TABLE geoipv6 RENAME TO geoipv6_old;
         ALTER TABLE geoipv6_new RENAME TO geoipv6;",
    )?;
    for (_, sql) in &triggers {
        tx.execute_batch(sql)?;
    }
    tx.execute("UPDATE geoip_state SET generation = generation + 1, imported_at = ?1, source = ?2", params![crate::store::now(), source])?;
    tx.commit()?;
    conn.execute_batch("DROP TABLE geoipv4_old; DROP TABLE geoipv6_old;")
}

fn drop_staging(conn: &Connection) {
    let _ = conn.execute_batch("DROP TABLE IF EXISTS geoipv4_new; DROP TABLE IF EXISTS geoipv6_new;");
}

fn open(db: &Path) -> Result<Connection, ImportError> {
    let conn = Connection::open(db).map_err(|e| ImportError::open(db, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(15)).map_err(|e| ImportError::open(db, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| ImportError::open(db, e))?;
    Ok(conn)
}

fn csv_reader(path: &Path, delimiter: u8, headers: bool) -> Result<(csv::Reader<std::fs::File>, u64), ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::open(path, e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(headers).flexible(true).from_reader(file);
    Ok((reader, size))
}

/// Imports `source` into the database at `db`. `progress` is called every few thousand rows.
pub fn import(db: &Path, source: &Source, options: &Options, progress: &mut dyn FnMut(Progress)) -> Result<ImportReport, ImportError> {
    let started = std::time::Instant::now();
    let mut conn = open(db)?;
    let mut report = ImportReport { dry_run: options.dry_run, ..ImportReport::default() };
    let replace = !options.append && !options.dry_run;
    if replace {
        create_staging(&conn).map_err(|e| ImportError::Prepare(e.to_string()))?;
    }
    let tables = if replace { ("geoipv4_new", "geoipv6_new") } else { ("geoipv4", "geoipv6") };
    let mut sink = Sink { conn: (!options.dry_run).then_some(&mut conn), tables, v4: Vec::new(), v6: Vec::new() };
    let read = match source {
        Source::Columns { file, columns } => read_columns(file, *columns, options, &mut sink, &mut report, progress),
        Source::GeoLite2 { blocks, locations } => read_geolite2(blocks, locations, &mut sink, &mut report, progress),
    };
    let finished = read.and_then(|_| sink.flush().map_err(ImportError::write));
    drop(sink);
    if let Err(e) = finished {
        if replace {
            drop_staging(&conn);
        }
        return Err(e);
    }
    if report.v4_rows + report.v6_rows == 0 {
        if replace {
            drop_staging(&conn);
        }
        let why = report.bad_rows.first().map(|b| format!(" (line {}: {})", b.line, b.message)).unwrap_or_default();
        return Err(ImportError::NoValidRow { input: source.describe(), why });
    }
    if replace {
        swap_in(&mut conn, &source.describe()).map_err(|e| ImportError::SwapIn(e.to_string()))?;
        report.replaced = true;
    } else if !options.dry_run {
        conn.execute("UPDATE geoip_state SET imported_at = ?1, source = ?2", params![crate::store::now(), source.describe()])
            .map_err(ImportError::write)?;
    }
    report.millis = started.elapsed().as_millis() as u64;
    Ok(report)
}

fn note_progress(progress: &mut dyn FnMut(Progress), rows: u64, read: u64, total: u64) {
    if rows % 50_000 == 0 {
        progress(Progress { bytes_read: read, bytes_total: total, rows });
    }
}

fn read_columns(
    path: &Path,
    spec: ColumnSpec,
    options: &Options,
    sink: &mut Sink<'_>,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ImportError> {
    let (mut reader, total) = csv_reader(path, options.delimiter, false)?;
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    let mut first = true;
    while let Some(line) = next_record(&mut reader, &mut record, report, "") {
        let field = |i: usize| record.get(i).map(str::trim);
        let parsed = match (field(spec.start), field(spec.end), field(spec.result)) {
            (Some(s), Some(e), Some(r)) => parse_range(s, e).map(|range| (range, r)).map_err(|e| e.to_string()),
            _ => Err(format!("has {} columns; columns {} are needed", record.len(), spec.text())),
        };
        let is_first = std::mem::replace(&mut first, false);
        match parsed {
            Ok(_) if is_first && options.skip_header => report.header = true,
            Err(_) if is_first => report.header = true,
            Ok((_, "")) => report.bad(line, "the result column is empty".into()),
            Ok(((from, to), result)) => {
                sink.push(from, to, result).map_err(ImportError::write)?;
                match from {
                    Addr::V4(_) => report.v4_rows += 1,
                    Addr::V6(_) => report.v6_rows += 1,
                }
                rows += 1;
                note_progress(progress, rows, record.position().map_or(0, |p| p.byte()), total);
            }
            Err(message) => report.bad(line, message),
        }
    }
    progress(Progress { bytes_read: total, bytes_total: total, rows });
    Ok(())
}

/// The next record and its line; a record that cannot be read is reported (as `prefix` + why) and
/// skipped. `None` at the end of the file.
fn next_record<R: std::io::Read>(reader: &mut csv::Reader<R>, record: &mut csv::StringRecord, report: &mut ImportReport, prefix: &str) -> Option<u64> {
    loop {
        let line = reader.position().line();
        match reader.read_record(record) {
            Ok(false) => return None,
            Ok(true) => return Some(record.position().map_or(line, |p| p.line())),
            Err(e) => report.bad(line, format!("{prefix}unreadable: {e}")),
        }
    }
}

/// Column positions by header name.
fn column(headers: &csv::StringRecord, name: &str, file: &Path) -> Result<usize, ImportError> {
    headers
        .iter()
        .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
        .ok_or_else(|| ImportError::MissingColumn { file: file.display().to_string(), name: name.to_string() })
}

fn read_geolite2(
    blocks: &[PathBuf],
    locations: &Path,
    sink: &mut Sink<'_>,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ImportError> {
    // geoname_id → country ISO code.
    let (mut reader, _) = csv_reader(locations, b',', true)?;
    let headers = reader.headers().map_err(|e| ImportError::open(locations, e))?.clone();
    let (id_col, iso_col) = (column(&headers, "geoname_id", locations)?, column(&headers, "country_iso_code", locations)?);
    let mut countries: HashMap<u64, String> = HashMap::new();
    for record in reader.records().flatten() {
        if let (Some(Ok(id)), Some(iso)) = (record.get(id_col).map(|s| s.trim().parse::<u64>()), record.get(iso_col)) {
            if !iso.trim().is_empty() {
                countries.insert(id, iso.trim().to_string());
            }
        }
    }
    let total: u64 = blocks.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let mut done_bytes = 0u64;
    let mut rows = 0u64;
    for path in blocks {
        let (mut reader, size) = csv_reader(path, b',', true)?;
        let headers = reader.headers().map_err(|e| ImportError::open(path, e))?.clone();
        let net_col = column(&headers, "network", path)?;
        let geo_col = column(&headers, "geoname_id", path)?;
        let reg_col = column(&headers, "registered_country_geoname_id", path).ok();
        let mut record = csv::StringRecord::new();
        let prefix = format!("{}: ", path.display());
        while let Some(line) = next_record(&mut reader, &mut record, report, &prefix) {
            let country = |col: Option<usize>| {
                col.and_then(|c| record.get(c)).and_then(|id| id.trim().parse::<u64>().ok()).and_then(|id| countries.get(&id))
            };
            let Some(iso) = country(Some(geo_col)).or_else(|| country(reg_col)) else {
                report.bad(line, format!("{}: no country for this network", path.display()));
                continue;
            };
            match record.get(net_col).map(parse_cidr) {
                Some(Ok((from, to))) => {
                    sink.push(from, to, iso).map_err(ImportError::write)?;
                    match from {
                        Addr::V4(_) => report.v4_rows += 1,
                        Addr::V6(_) => report.v6_rows += 1,
                    }
                    rows += 1;
                    note_progress(progress, rows, done_bytes + record.position().map_or(0, |p| p.byte()), total);
                }
                Some(Err(message)) => report.bad(line, format!("{}: {message}", path.display())),
                None => report.bad(line, format!("{}: no network column", path.display())),
            }
        }
        done_bytes += size;
    }
    progress(Progress { bytes_read: total, bytes_total: total, rows });
    Ok(())
}
