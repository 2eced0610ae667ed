//! GeoIP: a table of address ranges with a result each (a country code, or any tag), imported from
//! CSV files ([`import`]) and queried live by the access rules at every connection.
//!
//! The tables are the seed's: `geoipv4` and `geoipv6` with `id, addrfrom, addrto, result`, IPv4 ends
//! as integers and IPv6 ends as 16-byte big-endian blobs (both sort as addresses, and are indexed).
//! Ranges may overlap; a lookup returns every result whose range holds the address.
//!
//! The server looks addresses up in an in-memory [`index::GeoIndex`] built from the tables. Triggers
//! count inserts and other changes in `geoip_state`; the engine's change watcher (every 500 ms) reads
//! those counters and, when they moved, loads only the new rows (inserts) or everything (an import,
//! an update, a delete) on a blocking thread, then swaps the index in. A row inserted from the sqlite3
//! shell is in effect for new connections within a second, and lookups never wait for a load.

pub mod addr;
pub mod import;
pub mod index;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use rusqlite::Connection;

pub use index::GeoIndex;
use index::Rows;

/// `geoip_state`: change counters and the last import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub generation: i64,
    pub inserts: i64,
    pub changes: i64,
    pub imported_at: Option<i64>,
    pub source: Option<String>,
}

pub fn read_state(conn: &Connection) -> rusqlite::Result<State> {
    conn.query_row("SELECT generation, inserts, changes, imported_at, source FROM geoip_state WHERE id = 1", [], |r| {
        Ok(State { generation: r.get(0)?, inserts: r.get(1)?, changes: r.get(2)?, imported_at: r.get(3)?, source: r.get(4)? })
    })
}

/// An address end as stored: integer or 16-byte blob, or (typed by hand in the sqlite3 shell) text.
fn stored_addr(value: rusqlite::types::ValueRef<'_>) -> Option<addr::Addr> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Integer(n) => u32::try_from(n).ok().map(addr::Addr::V4),
        ValueRef::Blob(b) => <[u8; 16]>::try_from(b).ok().map(|a| addr::Addr::V6(u128::from_be_bytes(a))),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|t| addr::parse_addr(t).ok()),
        _ => None,
    }
}

/// Rows with an id above the given ones (0: all); returns them and the highest ids seen. Rows that do
/// not make sense (an end before its start, mixed families) are left out.
pub fn load_rows(conn: &Connection, after_v4: i64, after_v6: i64) -> rusqlite::Result<(Rows, i64, i64)> {
    let mut rows = Rows::default();
    let mut max = (after_v4, after_v6);
    for (table, after) in [("geoipv4", after_v4), ("geoipv6", after_v6)] {
        let mut stmt = conn.prepare(&format!("SELECT id, addrfrom, addrto, result FROM {table} WHERE id > ?1"))?;
        let mut q = stmt.query([after])?;
        while let Some(r) = q.next()? {
            let id: i64 = r.get(0)?;
            let result: String = match r.get_ref(3)? {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).trim().to_string(),
                other => format!("{:?}", other.data_type()),
            };
            if table == "geoipv4" {
                max.0 = max.0.max(id);
            } else {
                max.1 = max.1.max(id);
            }
            match (stored_addr(r.get_ref(1)?), stored_addr(r.get_ref(2)?)) {
                (Some(addr::Addr::V4(a)), Some(addr::Addr::V4(b))) if a <= b => rows.v4.push((a, b, result)),
                (Some(addr::Addr::V6(a)), Some(addr::Addr::V6(b))) if a <= b => rows.v6.push((a, b, result)),
                _ => {}
            }
        }
    }
    Ok((rows, max.0, max.1))
}

struct Loaded {
    index: Arc<GeoIndex>,
    state: State,
    max_v4: i64,
    max_v6: i64,
}

/// The live index and what it was built from.
pub struct GeoIp {
    loaded: RwLock<Loaded>,
}

impl Default for GeoIp {
    fn default() -> Self {
        GeoIp { loaded: RwLock::new(Loaded { index: Arc::new(GeoIndex::empty()), state: State { generation: -1, ..State::default() }, max_v4: 0, max_v6: 0 }) }
    }
}

impl GeoIp {
    pub fn index(&self) -> Arc<GeoIndex> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).index.clone()
    }

    pub fn lookup(&self, ip: IpAddr) -> Vec<Arc<str>> {
        self.index().lookup(ip)
    }

    pub fn state(&self) -> State {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).state.clone()
    }

    /// Brings the index up to date with the tables (blocking: call off the async threads). Returns
    /// whether it changed.
    pub fn refresh(&self, conn: &Connection) -> rusqlite::Result<bool> {
        let state = read_state(conn)?;
        let (old_state, old_index, max_v4, max_v6) = {
            let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            (l.state.clone(), l.index.clone(), l.max_v4, l.max_v6)
        };
        if state == old_state {
            return Ok(false);
        }
        let only_inserts = state.generation == old_state.generation && state.changes == old_state.changes;
        let (index, max_v4, max_v6) = if only_inserts {
            let (rows, a, b) = load_rows(conn, max_v4, max_v6)?;
            (old_index.extended(rows), a, b)
        } else {
            let (rows, a, b) = load_rows(conn, 0, 0)?;
            (GeoIndex::build(rows), a, b)
        };
        let (v4, v6, layers) = index.counts();
        tracing::info!(target: "geoip", v4, v6, layers, incremental = only_inserts, "GeoIP data loaded");
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Loaded { index: Arc::new(index), state, max_v4, max_v6 };
        Ok(true)
    }
}

/// What the GeoIP window shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct GeoIpStatus {
    #[ts(type = "number")]
    pub v4_rows: u64,
    #[ts(type = "number")]
    pub v6_rows: u64,
    /// RFC 3339, or null if nothing was ever imported.
    pub imported_at: Option<String>,
    pub source: Option<String>,
    pub import: ImportState,
}

/// An import started from the window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ImportRequest {
    /// "columns" (a CSV with range start, end and result columns) or "geolite2".
    pub kind: String,
    /// The CSV file; for GeoLite2 the blocks files, then the locations file.
    pub files: Vec<String>,
    /// `125`-style column spec (columns only).
    pub columns: String,
    pub delimiter: String,
    pub skip_header: bool,
    pub append: bool,
}

/// The window's import, as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ImportState {
    pub running: bool,
    pub progress: Option<import::Progress>,
    pub report: Option<import::ImportReport>,
    pub error: Option<String>,
}

impl ImportRequest {
    pub fn source_and_options(&self) -> Result<(import::Source, import::Options), crate::error::ApiError> {
        use crate::error::ApiError;
        let delimiter = match self.delimiter.as_bytes() {
            [] => b',',
            [b'\\', b't'] => b'\t',
            [c] if *c != b'\\' => *c,
            _ => return Err(ApiError::field("delimiter", "one character, such as , or ; (\\t for a tab)")),
        };
        let options = import::Options { append: self.append, delimiter, skip_header: self.skip_header, dry_run: false };
        let files: Vec<std::path::PathBuf> = self.files.iter().map(|f| f.trim()).filter(|f| !f.is_empty()).map(Into::into).collect();
        let source = match self.kind.as_str() {
            "columns" => {
                let file = files.first().cloned().ok_or_else(|| ApiError::field("files", "choose the CSV file"))?;
                let columns = import::ColumnSpec::parse(&self.columns).map_err(|m| ApiError::field("columns", m))?;
                import::Source::Columns { file, columns }
            }
            "geolite2" => {
                if files.len() < 2 {
                    return Err(ApiError::field("files", "choose at least one blocks file and the locations file"));
                }
                let mut blocks = files;
                let locations = blocks.pop().unwrap_or_default();
                import::Source::GeoLite2 { blocks, locations }
            }
            other => return Err(ApiError::field("kind", format!("unknown kind of file '{other}'"))),
        };
        Ok((source, options))
    }
}

/// The first `rows` rows of a CSV file, split into columns, for the wizard's preview.
/// The most of a file the import window's preview reads.
pub const PREVIEW_BYTES: u64 = 1 << 20;

pub fn preview(path: &std::path::Path, delimiter: u8, rows: usize) -> Result<Vec<Vec<String>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // Ten rows of a CSV are a few KB: a file with no line end (or /dev/zero) is read no further than this.
    let file = std::io::Read::take(file, PREVIEW_BYTES);
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(file);
    let mut out = Vec::new();
    for record in reader.records().take(rows) {
        match record {
            Ok(r) => out.push(r.iter().map(|f| f.chars().take(80).collect()).collect()),
            Err(e) => out.push(vec![format!("(unreadable: {e})")]),
        }
    }
    Ok(out)
}
