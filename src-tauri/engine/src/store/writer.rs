//! The single writer thread and its group commit.
//!
//! Requests arrive on a channel as boxed jobs. The thread takes the first waiting job, then every other
//! job already queued, runs each inside its own savepoint within one `BEGIN IMMEDIATE` transaction, takes
//! in any job that arrived meanwhile (up to [`MAX_BATCH`] in all), commits (one fsync for the batch), and
//! only then answers each caller.

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{StoreError, StoreResult};

const MAX_BATCH: usize = 256;

/// A job runs against the write connection and returns the function that answers its caller once the
/// batch's commit has succeeded or failed.
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

pub struct Writer {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(conn: Connection, changes: tokio::sync::watch::Sender<u64>) -> StoreResult<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("postroom-store-writer".into())
            .spawn(move || run(conn, rx, changes))?;
        Ok(Writer { sender: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    /// Queues `f`; `reply` receives its result once the batch's commit is durable (or has failed).
    pub(super) fn submit<R, F>(&self, f: F, reply: impl FnOnce(StoreResult<R>) + Send + 'static) -> StoreResult<()>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let job: Job = Box::new(move |conn| {
            let outcome = in_savepoint(conn, f);
            Box::new(move |commit: Result<(), String>| {
                let result = match commit {
                    Ok(()) => outcome,
                    Err(e) => Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                        Some(format!("commit failed: {e}")),
                    ))),
                };
                reply(result);
            })
        });
        let guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let sender = guard.as_ref().ok_or(StoreError::WriterStopped)?;
        sender.send(job).map_err(|_| StoreError::WriterStopped)
    }

    /// Closes the channel and waits for the thread to commit what it already has.
    pub(super) fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>, changes: tokio::sync::watch::Sender<u64>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch, &rx);
        // Sessions that watch mailboxes (IMAP) look again.
        changes.send_modify(|n| *n += 1);
    }
}

/// Runs the batch in one transaction; jobs that arrive while it runs join it before the commit (up to
/// [`MAX_BATCH`] in all), so a request that comes in during a long job — a prune batch, say — shares that
/// job's fsync instead of waiting for it and then for one of its own.
fn commit_batch(conn: &Connection, batch: Vec<Job>, rx: &mpsc::Receiver<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let message = e.to_string();
        tracing::error!(target: "store", error = %message, "could not start a write transaction");
        // Each job still runs (in autocommit mode it commits by itself) so that nothing is dropped.
        for job in batch {
            job(conn)(Ok(()));
        }
        return;
    }
    let mut completions: Vec<Completion> = batch.into_iter().map(|job| job(conn)).collect();
    while completions.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => completions.push(job(conn)),
            Err(_) => break,
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(target: "store", error = ?commit, "group commit failed");
    }
    for done in completions {
        done(commit.clone());
    }
}
