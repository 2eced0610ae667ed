//! The desktop's side of the admin socket (see server.rs for the protocol): calls, each on a connection
//! of its own while it runs (kept for the next call afterwards), and the watch for change notices.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::server::{Answer, Notice, Request};
use super::EngineLink;
use crate::error::{ApiError, ApiResult};
use crate::views::Change;

/// The largest answer read (a list of every user of a big office is a few MB).
const MAX_ANSWER: u64 = 64 << 20;
/// How long attaching may take: connecting and the engine saying who it is.
pub const CONNECT_TIME: std::time::Duration = std::time::Duration::from_secs(10);
/// Idle connections kept for the next calls.
const KEEP: usize = 4;
/// A kept connection is used again only this soon: well before the server closes it ([`super::server::IDLE`]).
const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(unix)]
type Stream = tokio::net::UnixStream;
#[cfg(windows)]
type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// Opens the admin socket (Unix) or named pipe (Windows) at `path`.
#[cfg(unix)]
async fn open_stream(path: &Path) -> io::Result<Stream> {
    Stream::connect(path).await
}

/// Opens the admin named pipe `path`, waiting a moment while every instance is busy (the server makes
/// the next one as soon as it has a client).
/// - It asks only to read and write data (not the write-all right that would let it add instances of
///   the pipe), as the server's access list grants.
/// - The server may only identify this client, never act as it.
/// - The pipe must belong to this user, SYSTEM, the Administrators group or LocalService (the service):
///   a pipe another user made while the service was stopped, to hear what admins say, is refused.
#[cfg(windows)]
async fn open_stream(path: &Path) -> io::Result<Stream> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::{AsRawHandle, IntoRawHandle};
    const ERROR_PIPE_BUSY: i32 = 231;
    // FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES (the last for the pipe's read mode).
    const ACCESS: u32 = 0x0012_0089 | 0x0002 | 0x0100;
    const FILE_FLAG_OVERLAPPED: u32 = 0x4000_0000;
    const SECURITY_IDENTIFICATION: u32 = 0x0001_0000;
    let deadline = std::time::Instant::now() + CONNECT_TIME;
    let file = loop {
        let opened = std::fs::OpenOptions::new()
            .access_mode(ACCESS)
            .custom_flags(FILE_FLAG_OVERLAPPED)
            .security_qos_flags(SECURITY_IDENTIFICATION)
            .open(path);
        match opened {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(e) => return Err(e),
            Ok(file) => break file,
        }
    };
    let owner = crate::winsec::owner_of_handle(file.as_raw_handle())?;
    let me = crate::winsec::current_user_sid()?;
    if ![me.as_str(), crate::winsec::SYSTEM, crate::winsec::ADMINISTRATORS, crate::winsec::LOCAL_SERVICE].contains(&owner.as_str()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} was not made by Postroom (its owner is {owner}): another program is posing as it", path.display()),
        ));
    }
    // SAFETY: a pipe handle opened for overlapped I/O, handed over whole to the tokio client.
    unsafe { tokio::net::windows::named_pipe::NamedPipeClient::from_raw_handle(file.into_raw_handle()) }
}

struct Connection {
    reader: BufReader<tokio::io::ReadHalf<Stream>>,
    writer: tokio::io::WriteHalf<Stream>,
    /// When its last answer came.
    used: std::time::Instant,
}

/// A connection to an engine's admin socket.
pub struct AdminClient {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    next_id: AtomicU64,
}

impl AdminClient {
    /// Connects and asks the engine who it is (within [`CONNECT_TIME`]); the link says so, with this socket.
    pub async fn connect(path: &Path) -> ApiResult<(AdminClient, EngineLink)> {
        let client = AdminClient { path: path.to_path_buf(), idle: Mutex::new(Vec::new()), next_id: AtomicU64::new(1) };
        let link = tokio::time::timeout(CONNECT_TIME, client.identity())
            .await
            .map_err(|_| ApiError::io(format!("the Postroom service on {} did not answer within {} s", path.display(), CONNECT_TIME.as_secs())))??;
        Ok((client, link))
    }

    /// Which engine answers here now (a restarted service has a new process).
    pub async fn identity(&self) -> ApiResult<EngineLink> {
        let mut link: EngineLink = serde_json::from_value(self.call("get_engine_identity", Value::Null).await?)
            .map_err(|e| ApiError::internal(format!("{} did not say which engine it is: {e}", self.path.display())))?;
        link.socket = Some(self.path.display().to_string());
        Ok(link)
    }

    async fn open(&self) -> ApiResult<Connection> {
        let stream = open_stream(&self.path).await.map_err(|e| self.unreachable(&e))?;
        let (read, writer) = tokio::io::split(stream);
        Ok(Connection { reader: BufReader::new(read), writer, used: std::time::Instant::now() })
    }

    fn unreachable(&self, e: &io::Error) -> ApiError {
        ApiError::io(format!("the Postroom service does not answer on {}: {e}", self.path.display()))
    }

    /// One call, answered by the engine behind the socket.
    pub async fn call(&self, call: &str, args: Value) -> ApiResult<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = serde_json::to_vec(&Request { id, call: call.to_string(), args }).map_err(|e| ApiError::internal(e))?;
        line.push(b'\n');
        if line.len() > super::MAX_LINE {
            return Err(ApiError::io(format!("too much to send to the service at once (at most {} MB)", super::MAX_LINE >> 20)));
        }
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop().filter(|c| c.used.elapsed() < KEEP_FOR);
        let mut conn = match pooled {
            // A kept connection whose service has gone (restarted) fails on the write, before anything
            // was asked: then a new one is opened. A failure after the write is never retried.
            Some(mut conn) => match conn.writer.write_all(&line).await {
                Ok(()) => conn,
                Err(_) => self.send_on_new(&line).await?,
            },
            None => self.send_on_new(&line).await?,
        };
        let mut answer = Vec::new();
        let n = (&mut conn.reader).take(MAX_ANSWER).read_until(b'\n', &mut answer).await.map_err(|e| self.unreachable(&e))?;
        if n == 0 || answer.last() != Some(&b'\n') {
            return Err(ApiError::io(format!("the Postroom service on {} closed the connection before answering {call}", self.path.display())));
        }
        let answer: Answer = serde_json::from_slice(&answer).map_err(|e| ApiError::internal(format!("the service's answer is not understood: {e}")))?;
        if answer.id != id {
            return Err(ApiError::internal(format!("the service answered request {} to request {id} ({call})", answer.id)));
        }
        conn.used = std::time::Instant::now();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEEP {
                idle.push(conn);
            }
        }
        match (answer.error, answer.ok) {
            (Some(error), _) => Err(error),
            (None, ok) => Ok(ok.unwrap_or(Value::Null)),
        }
    }

    async fn send_on_new(&self, line: &[u8]) -> ApiResult<Connection> {
        let mut conn = self.open().await?;
        conn.writer.write_all(line).await.map_err(|e| self.unreachable(&e))?;
        Ok(conn)
    }

    /// A connection that receives the engine's change notices.
    pub async fn watch(&self) -> ApiResult<Watch> {
        let mut conn = self.send_on_new(b"{\"id\":0,\"call\":\"watch\"}\n").await?;
        let mut first = Vec::new();
        (&mut conn.reader).take(4096).read_until(b'\n', &mut first).await.map_err(|e| self.unreachable(&e))?;
        let answer: Answer = serde_json::from_slice(&first).map_err(|e| ApiError::io(format!("the service refused to send changes: {e}")))?;
        if let Some(error) = answer.error {
            return Err(error);
        }
        Ok(Watch { conn })
    }
}

/// Change notices from a service.
pub struct Watch {
    conn: Connection,
}

impl Watch {
    /// The next notice's kinds; None when the service has closed the connection (stopped, restarted).
    pub async fn next(&mut self) -> Option<Vec<Change>> {
        let mut line = Vec::new();
        let n = (&mut self.conn.reader).take(1 << 16).read_until(b'\n', &mut line).await.ok()?;
        if n == 0 {
            return None;
        }
        serde_json::from_slice::<Notice>(&line).ok().map(|n| n.changed)
    }
}
