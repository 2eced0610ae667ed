//! Giving the disk back: bodies nothing references any more, files no row names, and free database pages.
//!
//! A body is referenced by every mailbox message and by its outbound queue entry (`blobs.refcount`). A
//! queue entry lets go of its body once no recipient waits any more ([`release_finished`], called by the
//! queue worker after its reports are sent, and by the sweep as a safety net); sent recipients' rows go
//! at once, failed ones after [`FAILED_KEPT_SECS`] (the admin sees them in the Outbound Queue window).
//!
//! [`sweep`] then deletes blobs whose count reached zero at least [`GRACE_SECS`] ago, and their files. File removal happens on the
//! store's writer thread, between commits, and a delivery checks that its body file still exists before it
//! commits (`blobs::insert`), so a body being stored again at the same moment is never lost: the one that
//! loses the race fails its commit and the client retries. Files no row names (a crash between file and
//! row, temporary files) go once they are [`ORPHAN_AGE`] old. Free pages are returned with SQLite's
//! incremental vacuum, and the write-ahead log is truncated.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{now, Store, StoreResult};

/// How often the engine sweeps.
pub const INTERVAL: Duration = Duration::from_secs(30);
/// Files nobody references are kept this long (one may be a body about to be committed).
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// A body nothing uses, and a sent recipient's row, are kept this long before the sweep takes them.
pub const GRACE_SECS: i64 = 60;
/// Failed queue recipients stay listed this long.
pub const FAILED_KEPT_SECS: i64 = 7 * 24 * 3600;
/// Blobs deleted per write, so a large sweep never holds the writer for long.
const BATCH: i64 = 500;

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub queue_bodies_released: usize,
    pub blobs_deleted: usize,
    pub files_deleted: usize,
    pub bytes_freed: u64,
    pub pages_vacuumed: i64,
}

/// Releases the body of queue entries (one, or all when `queue_id` is `None`) none of whose recipients
/// is still queued. Returns how many were released.
pub fn release_finished(c: &Connection, queue_id: Option<i64>) -> StoreResult<usize> {
    // Two statements, not `?1 IS NULL OR q.id = ?1`: with that, SQLite cannot use the key and reads the whole
    // queue for every message recorded.
    const UNFINISHED: &str = "q.body_released = 0
           AND NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.id AND r.state = 'queued')";
    let mut stmt = match queue_id {
        Some(_) => c.prepare_cached(&format!("SELECT q.id, q.blob_id FROM queue q WHERE q.id = ?1 AND {UNFINISHED}"))?,
        None => c.prepare_cached(&format!("SELECT q.id, q.blob_id FROM queue q WHERE {UNFINISHED}"))?,
    };
    let done: Vec<(i64, i64)> = match queue_id {
        Some(id) => stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?,
        None => stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?,
    };
    for (id, blob_id) in &done {
        c.execute("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1", [blob_id])?;
        c.execute("UPDATE queue SET body_released = 1 WHERE id = ?1", [id])?;
    }
    Ok(done.len())
}

/// One pass: queue bodies, dead blobs, orphan files, free pages. Blocking; call off the async threads.
pub fn sweep(store: &Store) -> StoreResult<SweepReport> {
    let mut report = SweepReport::default();
    let (cutoff, grace) = (now() - FAILED_KEPT_SECS, now() - GRACE_SECS);
    report.queue_bodies_released = store.write(move |c| {
        let released = release_finished(c, None)?;
        c.execute("DELETE FROM queue_recipients WHERE (state = 'sent' AND updated_at < ?2) OR (state = 'failed' AND updated_at < ?1)", [cutoff, grace])?;
        c.execute("DELETE FROM queue WHERE body_released = 1 AND NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = queue.id)", [])?;
        Ok(released)
    })?;
    let dir = store.blobs_dir();
    loop {
        let d = dir.clone();
        let (rows, files, bytes) = store.write(move |c| delete_dead_blobs(c, &d, grace))?;
        report.blobs_deleted += rows;
        report.files_deleted += files;
        report.bytes_freed += bytes;
        if rows < BATCH as usize {
            break;
        }
    }
    let (files, bytes) = remove_orphans(store, &dir)?;
    report.files_deleted += files;
    report.bytes_freed += bytes;
    report.pages_vacuumed = store.write(vacuum)?;
    // The log of recent writes keeps its largest size until truncated; nothing must be reading for that to
    // take, so it is only tried.
    if let Ok(conn) = Connection::open(store.path()) {
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    if report != SweepReport::default() {
        tracing::info!(target: "store", released = report.queue_bodies_released, blobs = report.blobs_deleted,
            files = report.files_deleted, bytes = report.bytes_freed, pages = report.pages_vacuumed, "disk space reclaimed");
    }
    Ok(report)
}

/// Returns every free page of the database file to the disk; how many. SQLite's incremental vacuum frees
/// one page per step of its statement, so the statement is stepped to its end (run once, as
/// `execute_batch` does, it freed a single page per sweep and a big delete took hours to give back).
fn vacuum(c: &Connection) -> StoreResult<i64> {
    let before: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let mut stmt = c.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    let after: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(before - after)
}

/// Deletes up to [`BATCH`] blobs nothing has referenced since before `unused_before`, with their files (on
/// the writer thread).
fn delete_dead_blobs(c: &Connection, dir: &Path, unused_before: i64) -> StoreResult<(usize, usize, u64)> {
    let mut stmt = c.prepare_cached("SELECT id, sha256, size, data IS NULL FROM blobs WHERE refcount <= 0 AND coalesce(unused_since, 0) < ?2 LIMIT ?1")?;
    let dead: Vec<(i64, String, i64, bool)> = stmt.query_map(params![BATCH, unused_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
    let (mut files, mut bytes) = (0, 0u64);
    for (id, sha, size, in_file) in &dead {
        c.execute("DELETE FROM blobs WHERE id = ?1", [id])?;
        bytes += *size as u64;
        if *in_file && remove_quietly(&dir.join(sha)) {
            files += 1;
        }
    }
    Ok((dead.len(), files, bytes))
}

fn remove_quietly(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(target: "store", file = %path.display(), error = %e, "cannot remove an unused message file");
            false
        }
    }
}

/// Files in the blobs folder no row names, older than [`ORPHAN_AGE`]: leftovers of a crash.
fn remove_orphans(store: &Store, dir: &Path) -> StoreResult<(usize, u64)> {
    let old_enough = |p: &Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > ORPHAN_AGE)
            .unwrap_or(false)
    };
    let mut candidates: Vec<(PathBuf, String, u64)> = Vec::new();
    let (mut files, mut bytes) = (0, 0u64);
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !old_enough(&path) {
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if name.starts_with('.') {
            // Temporary files of a write or a spool that never finished.
            if remove_quietly(&path) {
                files += 1;
                bytes += size;
            }
        } else if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            candidates.push((path, name, size));
        }
    }
    for chunk in candidates.chunks(BATCH as usize) {
        let chunk = chunk.to_vec();
        let (f, b) = store.write(move |c| {
            let (mut f, mut b) = (0, 0u64);
            for (path, sha, size) in &chunk {
                let named = c.query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", params![sha], |_| Ok(())).optional()?.is_some();
                if !named && remove_quietly(path) {
                    f += 1;
                    b += size;
                }
            }
            Ok((f, b))
        })?;
        files += f;
        bytes += b;
    }
    Ok((files, bytes))
}

/// The data the store holds on disk, and what a sweep could give back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub store_bytes: u64,
    pub reclaimable_bytes: u64,
}

/// Measures the database (with its log) and the blobs folder.
pub fn usage(store: &Store) -> StoreResult<Usage> {
    let db = store.path().to_path_buf();
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        total += std::fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0);
    }
    let mut orphan_like = 0;
    for entry in std::fs::read_dir(store.blobs_dir())?.flatten() {
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        total += len;
        if entry.file_name().to_string_lossy().starts_with('.') {
            orphan_like += len;
        }
    }
    let (free_pages, page_size, dead): (i64, i64, i64) = store.read(|c| {
        Ok((
            c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?,
            c.query_row("PRAGMA page_size", [], |r| r.get(0))?,
            c.query_row(
                "SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.refcount <= 0
                    OR (b.refcount = 1 AND EXISTS (SELECT 1 FROM queue q WHERE q.blob_id = b.id AND q.body_released = 0
                        AND NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.id AND r.state = 'queued')))",
                [],
                |r| r.get(0),
            )?,
        ))
    })?;
    Ok(Usage { store_bytes: total, reclaimable_bytes: (free_pages * page_size + dead).max(0) as u64 + orphan_like })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a big delete every free page goes back in one sweep (not one page a sweep).
    #[test]
    fn one_sweep_gives_every_free_page_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        std::fs::create_dir_all(store.blobs_dir()).unwrap();
        store
            .write(|c| {
                for n in 0..2000 {
                    c.execute("INSERT INTO domains(name, created_at) VALUES (?1, 0)", [format!("d{n}.{}.test", "x".repeat(200))])?;
                }
                Ok(())
            })
            .unwrap();
        store.write(|c| Ok(c.execute("DELETE FROM domains", [])?)).unwrap();
        let free = |s: &Store| s.read(|c| Ok(c.query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))?)).unwrap();
        let before = free(&store);
        assert!(before > 50, "the delete left many free pages ({before})");
        let report = sweep(&store).unwrap();
        assert_eq!(report.pages_vacuumed, before, "every free page, at once");
        assert_eq!(free(&store), 0);
    }
}
