//! Message bodies. Small ones live in their `blobs` row; large ones in `blobs/<sha256>`, written to a
//! temporary name, fsynced, renamed and the folder fsynced *before* the row that names them commits, so a
//! committed row never points at a missing or partial file. Identical bodies are stored once
//! (`refcount` counts the messages and queue entries that use a blob).

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult};

/// Bodies up to this size are kept in the database row.
pub const INLINE_MAX: usize = 64 * 1024;

/// A body ready to be referenced by a row: hashed, and if large, already durable on disk.
pub struct PreparedBlob {
    pub sha256: String,
    pub size: i64,
    pub inline: Option<Vec<u8>>,
    /// The file of a large body.
    pub file: Option<PathBuf>,
}

/// Hashes `body`; a large body is written durably to `blobs_dir` now (call off the async threads).
pub fn prepare(blobs_dir: &Path, body: Vec<u8>) -> std::io::Result<PreparedBlob> {
    let sha256 = hex::encode(Sha256::digest(&body));
    let size = body.len() as i64;
    if body.len() <= INLINE_MAX {
        return Ok(PreparedBlob { sha256, size, inline: Some(body), file: None });
    }
    let path = file_path(blobs_dir, &sha256);
    if !path.exists() {
        let tmp = blobs_dir.join(format!(".{sha256}.tmp"));
        let mut f = crate::paths::create_private(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        crate::paths::sync_dir(blobs_dir)?;
    }
    Ok(PreparedBlob { sha256, size, inline: None, file: Some(path) })
}

fn file_path(blobs_dir: &Path, sha256: &str) -> PathBuf {
    blobs_dir.join(sha256)
}

/// Inserts the blob's row, or adds a reference to an identical one; returns its id. Runs on the writer
/// thread, where the sweep also removes files: a body file that went between `prepare` (which found it
/// already there) and now fails the commit, and the client tries again (see `store::sweep`).
pub fn insert(conn: &Connection, blob: &PreparedBlob, references: i64) -> StoreResult<i64> {
    if let Some(file) = &blob.file {
        if !file.exists() {
            return Err(StoreError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, "the message file was removed while it was stored; try again")));
        }
    }
    Ok(conn.query_row(
        "INSERT INTO blobs(sha256, size, data, refcount) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(sha256) DO UPDATE SET refcount = refcount + excluded.refcount
         RETURNING id",
        params![blob.sha256, blob.size, blob.inline, references],
        |r| r.get(0),
    )?)
}

/// Stores IMAP's view of the body (its ENVELOPE, BODYSTRUCTURE and BODY texts), unless it has one already.
pub fn set_meta(conn: &Connection, blob_id: i64, envelope: &[u8], bodystructure: &[u8], body: &[u8]) -> StoreResult<()> {
    conn.execute(
        "UPDATE blobs SET envelope = ?2, bodystructure = ?3, body = ?4 WHERE id = ?1 AND envelope IS NULL",
        params![blob_id, envelope, bodystructure, body],
    )?;
    Ok(())
}

/// Reads a body back.
pub fn read(conn: &Connection, blobs_dir: &Path, blob_id: i64) -> StoreResult<Vec<u8>> {
    let (sha256, data): (String, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT sha256, data FROM blobs WHERE id = ?1")?
        .query_row([blob_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
    match data {
        Some(bytes) => Ok(bytes),
        None => Ok(std::fs::read(file_path(blobs_dir, &sha256))?),
    }
}

/// The first `max` bytes of a body (its header, for listing), without reading a large file whole.
pub fn read_head(conn: &Connection, blobs_dir: &Path, blob_id: i64, max: usize) -> StoreResult<Vec<u8>> {
    let (sha256, data): (String, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT sha256, substr(data, 1, ?2) FROM blobs WHERE id = ?1")?
        .query_row(rusqlite::params![blob_id, max as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
    match data {
        Some(bytes) => Ok(bytes),
        None => {
            use std::io::Read;
            let mut head = Vec::with_capacity(max);
            std::fs::File::open(file_path(blobs_dir, &sha256))?.take(max as u64).read_to_end(&mut head)?;
            Ok(head)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_inline_large_ones_become_files_and_duplicates_share_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("t.db")).unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        let small = prepare(&blobs, b"hello".to_vec()).unwrap();
        assert!(small.inline.is_some());
        let big_body = vec![b'x'; INLINE_MAX + 1];
        let big = prepare(&blobs, big_body.clone()).unwrap();
        assert!(big.inline.is_none() && blobs.join(&big.sha256).exists());
        let again = prepare(&blobs, big_body.clone()).unwrap();
        let (a, b, c) = store
            .write(move |c| Ok((insert(c, &small, 1)?, insert(c, &big, 1)?, insert(c, &again, 2)?)))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(b, c, "identical bodies share one row");
        let blobs2 = blobs.clone();
        let (body, refs): (Vec<u8>, i64) = store
            .read(move |c| Ok((read(c, &blobs2, b)?, c.query_row("SELECT refcount FROM blobs WHERE id = ?1", [b], |r| r.get(0))?)))
            .unwrap();
        assert_eq!(body, big_body);
        assert_eq!(refs, 3);
    }
}
