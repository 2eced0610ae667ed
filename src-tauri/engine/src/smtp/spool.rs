//! Where a message being received waits: in memory up to [`MEMORY_LIMIT`], then in a temporary file, so
//! a hundred clients each sending a 25 MB message slowly hold a hundred megabytes of disk, not of RAM.
//!
//! The file is created owner-only in the blobs folder (never through a symbolic link) and unlinked at once
//! on Unix, so a crash leaves nothing behind. When the message is complete it is read back for stamping,
//! IMAP's metadata and the store; [`finishing`] lets one large message at a time do that, which bounds the
//! memory of the last step too.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of one message kept in memory before it moves to a file.
pub const MEMORY_LIMIT: usize = 1 << 20;

pub struct Spool {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    len: usize,
    dir: Option<PathBuf>,
    error: Option<std::io::Error>,
}

impl Spool {
    /// A spool that never leaves memory (tests, fuzzing, small callers).
    pub fn in_memory() -> Spool {
        Spool { mem: Vec::with_capacity(8192), file: None, len: 0, dir: None, error: None }
    }

    /// A spool that moves to a file in `dir` past [`MEMORY_LIMIT`].
    pub fn new(dir: PathBuf) -> Spool {
        Spool { dir: Some(dir), ..Spool::in_memory() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the message moved to a file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Adds bytes. A write error is kept and reported by [`Spool::into_bytes`]; later bytes are dropped.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.len += bytes.len();
        if self.file.is_none() {
            if self.mem.len() + bytes.len() <= MEMORY_LIMIT || self.dir.is_none() {
                self.mem.extend_from_slice(bytes);
                return;
            }
            if let Err(e) = self.spill() {
                self.error = Some(e);
                return;
            }
        }
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }

    fn spill(&mut self) -> std::io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir.as_ref().ok_or_else(|| std::io::Error::other("no spool folder"))?;
        let path = dir.join(format!(".spool-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let file = crate::paths::create_scratch(&path)?;
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        w.write_all(&self.mem)?;
        self.mem = Vec::new();
        self.file = Some(w);
        Ok(())
    }

    /// The whole message, read back from the file if it moved there.
    pub fn into_bytes(mut self) -> std::io::Result<Vec<u8>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(w) = self.file.take() else { return Ok(std::mem::take(&mut self.mem)) };
        let mut f = w.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        let mut out = Vec::with_capacity(self.len);
        f.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// One large (spooled) message at a time is read back and stored.
pub async fn finishing() -> tokio::sync::SemaphorePermit<'static> {
    static LARGE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    LARGE.acquire().await.expect("the semaphore is never closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_memory_limit_the_message_moves_to_an_unlinked_file_and_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf());
        let piece: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        for _ in 0..30 {
            spool.extend(&piece);
        }
        assert!(spool.spilled());
        assert_eq!(spool.len(), 3_000_000);
        // On Unix it has no name from the start; on Windows it keeps one until it is closed.
        #[cfg(unix)]
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the file has no name left");
        let back = spool.into_bytes().unwrap();
        assert_eq!(back.len(), 3_000_000);
        assert!(back.chunks(100_000).all(|c| c == &piece[..]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is left behind");
        let mut small = Spool::new(dir.path().to_path_buf());
        small.extend(b"hello");
        assert!(!small.spilled());
        assert_eq!(small.into_bytes().unwrap(), b"hello");
    }
}
