//! The store: one SQLite database (`postroom.db`) in WAL mode with `synchronous=FULL`.
//!
//! Writes go through a single writer thread ([`writer`]) that commits every request waiting at that moment
//! in one transaction (group commit), so many sessions share one fsync; each request runs in its own
//! savepoint, so one request's failure never undoes another's. A caller gets its answer only after the
//! commit is durable. Reads use a small pool of read-only connections. Other processes (the `postroomd`
//! command line while `serve` runs) open the same file; SQLite's locking and a busy timeout keep them in
//! step, and [`Store::data_version`] lets the running engine notice their commits.
//!
//! Schema changes are numbered migrations in [`schema`], applied at open; never edit a released one.

pub mod blobs;
pub mod sweep;
pub(crate) mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use writer::Writer;

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);
/// Read connections kept open for reuse.
/// Read connections kept open between reads (one per busy session, roughly; more are opened and
/// closed when needed).
const READ_POOL_SIZE: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database is busy")]
    Busy,
    #[error("the store's writer has stopped")]
    WriterStopped,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the database was written by a newer Postroom (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database: cheap to clone, shared by the engine and its tasks.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// Counts commits (this process's, and others' once the engine notices them).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the writer thread.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let mut conn = open_connection(path, false)?;
        // auto_vacuum only takes on a new, empty file: before WAL mode writes the header.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // SQLite gives the -wal and -shm files the database file's permissions.
        crate::paths::owner_only_file(path)?;
        schema::migrate(&mut conn)?;
        let changes = tokio::sync::watch::Sender::new(0);
        let writer = Writer::start(conn, changes.clone())?;
        Ok(Store {
            inner: Arc::new(StoreInner { path: path.to_path_buf(), writer, readers: Mutex::new(Vec::new()), changes }),
        })
    }

    /// Changes after every commit: a session that shows a mailbox waits on it to look for news.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Tells the watchers that another process committed something.
    pub fn note_external_change(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Where large message bodies live: `blobs/` beside the database.
    pub fn blobs_dir(&self) -> PathBuf {
        self.inner.path.parent().unwrap_or(Path::new(".")).join("blobs")
    }

    /// Runs `f` on the writer thread inside the next group commit; returns once that commit is durable.
    /// If `f` fails, only its own changes are rolled back.
    pub fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        // A std channel, not a tokio one: blocking on it is safe even from inside a runtime.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.writer.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// The async form of [`Store::write`], for protocol sessions.
    pub async fn write_async<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.writer.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// The async form of [`Store::read`]: runs `f` on a blocking thread, for protocol sessions.
    pub async fn read_async<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read(f)).await.map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// Runs `f` on a pooled read-only connection.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        let conn = self.take_reader()?;
        let result = f(&conn);
        let mut pool = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READ_POOL_SIZE {
            pool.push(conn);
        }
        result
    }

    fn take_reader(&self) -> StoreResult<Connection> {
        let pooled = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => open_connection(&self.inner.path, true),
        }
    }

    /// A number that changes whenever any connection (this process's or another's) commits to the
    /// database. Read on a dedicated connection; see SQLite's `PRAGMA data_version`.
    pub fn change_watcher(&self) -> StoreResult<ChangeWatcher> {
        Ok(ChangeWatcher { conn: open_connection(&self.inner.path, true)? })
    }

    /// Stops the writer after it has committed everything already submitted.
    pub fn close(&self) {
        self.inner.writer.stop();
    }
}

/// Notices commits made by any connection, including other processes.
pub struct ChangeWatcher {
    conn: Connection,
}

impl ChangeWatcher {
    pub fn data_version(&self) -> StoreResult<i64> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

fn open_connection(path: &Path, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Seconds since the Unix epoch, the unit of every time column.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Maps "no rows" to `None`, as rusqlite's `optional()` does, for `StoreResult`.
pub fn optional<T>(r: rusqlite::Result<T>) -> StoreResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commit_isolates_a_failing_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let s = store.clone();
                std::thread::spawn(move || {
                    s.write(move |c| {
                        c.execute("INSERT INTO domains(name, created_at) VALUES (?1, 0)", [format!("d{i}.test")])?;
                        if i % 5 == 0 {
                            // A failure after a change: that change must not survive.
                            c.execute("INSERT INTO domains(name, created_at) VALUES (?1, 0)", [format!("d{i}.test")])?;
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        let failures = handles.into_iter().map(|h| h.join().unwrap()).filter(|r| r.is_err()).count();
        assert_eq!(failures, 4, "the requests that insert twice fail");
        let count: i64 = store.read(|c| Ok(c.query_row("SELECT count(*) FROM domains", [], |r| r.get(0))?)).unwrap();
        assert_eq!(count, 16, "each failing request rolls back only its own rows");
    }

    #[test]
    fn a_new_database_vacuums_incrementally_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        let mode: i64 = store.read(|c| Ok(c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?)).unwrap();
        assert_eq!(mode, 2, "INCREMENTAL");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn data_version_sees_commits_from_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        let watcher = store.change_watcher().unwrap();
        let before = watcher.data_version().unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute("INSERT INTO domains(name, created_at) VALUES ('x.test', 0)", []).unwrap();
        assert_ne!(watcher.data_version().unwrap(), before);
    }
}
