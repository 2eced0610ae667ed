//! The admin socket: how the desktop app (and a script) reaches the engine of a `postroomd` it did not
//! start — the system service above all.
//!
//! A Unix socket, never TCP: who may connect is the socket file's mode (0660: the service's user and
//! group; admins join the `postroom` group) and its folder's. One JSON object per line each way:
//!
//! - request `{"id": 7, "call": "list_users", "args": {…}}` (args as the windows send them);
//! - answer `{"id": 7, "ok": …}` or `{"id": 7, "error": {"code", "message", "field", "fields"}}`;
//! - the request `{"id": 1, "call": "watch"}` is answered `{"id": 1, "ok": null}` and then turns the
//!   connection into notices `{"changed": ["data", …]}` until either side closes it.
//!
//! Bounds: [`MAX_CONNECTIONS`] at once (one more is told so and closed), a request line of at most
//! [`super::MAX_LINE`] (a longer one is answered with an error and the connection closed), one request
//! at a time per connection (a client wanting more opens more connections), and [`IDLE`] to send the
//! next request (or to finish one begun) before the connection is closed, so nobody holds a slot by
//! saying nothing; an answer or notice the client does not take within [`IDLE`] closes it too. A
//! watching connection may be silent: it is waiting for the server.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::error::ApiError;

/// Admin connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send its next request before it is closed.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// One request line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub call: String,
    #[serde(default)]
    pub args: Value,
}

/// One answer line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

/// One notice on a watching connection.
#[derive(Debug, Serialize, Deserialize)]
pub struct Notice {
    pub changed: Vec<crate::views::Change>,
}

/// The listening socket; its file is removed when this is dropped (if it is still this socket).
#[cfg(unix)]
pub struct AdminSocket {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    /// The socket file's device and inode: what is at the path on drop is removed only if it is ours.
    id: (u64, u64),
}

#[cfg(unix)]
impl Drop for AdminSocket {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds the admin socket at `path` (mode 0660). A socket file left by a process that is gone is
/// replaced; one that answers belongs to a running Postroom and is an error, as is any other file there,
/// and a folder anyone may write to (without the sticky bit). The socket is made in a private folder
/// beside the path, given its mode there, and then renamed into place: nobody can connect to it before
/// its mode is final, and no link planted at the path is followed.
#[cfg(unix)]
pub fn bind(path: &Path) -> io::Result<AdminSocket> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = std::fs::metadata(parent)?;
    if folder.mode() & 0o002 != 0 && folder.mode() & 0o1000 == 0 {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{} can be written by anyone: choose a private folder for the admin socket", parent.display())));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists and is not a socket", path.display())));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another Postroom answers on {}", path.display())));
        }
    }
    let private = parent.join(format!(".admin-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let made = (|| {
        let temporary = private.join("s");
        let listener = tokio::net::UnixListener::bind(&temporary)?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o660))?;
        std::fs::rename(&temporary, path)?;
        let meta = std::fs::symlink_metadata(path)?;
        Ok(AdminSocket { listener, path: path.to_path_buf(), id: (meta.dev(), meta.ino()) })
    })();
    let _ = std::fs::remove_dir_all(&private);
    made
}

/// Serves admin connections until the engine stops.
#[cfg(unix)]
pub async fn serve(engine: Engine, socket: AdminSocket) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tracing::info!(target: "engine", "admin socket at {}", socket.path.display());
    loop {
        let accepted = tokio::select! {
            a = socket.listener.accept() => a,
            _ = engine.stopped() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(target: "engine", "admin socket: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let engine = engine.clone();
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(async move {
                    let _slot = slot;
                    let (read, write) = stream.into_split();
                    if let Err(e) = connection(&engine, read, write).await {
                        tracing::debug!(target: "engine", "admin connection ended: {e}");
                    }
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let error = ApiError::conflict(format!("too many admin connections (at most {MAX_CONNECTIONS})"));
                    let _ = write_line(&mut stream, &Answer { id: 0, ok: None, error: Some(error) }).await;
                });
            }
        }
    }
}

/// One connection: request, answer, until it closes (or turns into a watch).
pub async fn connection<R, W>(engine: &Engine, read: R, mut write: W) -> io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut bounded = (&mut reader).take(super::MAX_LINE as u64 + 1);
        let n = match tokio::time::timeout(IDLE, bounded.read_until(b'\n', &mut line)).await {
            Ok(n) => n?,
            // Quietly: a client keeping connections for later calls opens a new one (client.rs).
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            let error = if line.len() > super::MAX_LINE {
                ApiError::io(format!("a request is at most {} MB", super::MAX_LINE >> 20))
            } else {
                ApiError::io("the request line was cut off")
            };
            return write_line(&mut write, &Answer { id: 0, ok: None, error: Some(error) }).await;
        }
        let parsed = serde_json::from_slice::<Request>(&line);
        // A large request's buffer is not kept for the connection's life.
        if line.capacity() > 1 << 16 {
            line = Vec::new();
        }
        let request = match parsed {
            Ok(r) => r,
            Err(e) => {
                let error = ApiError::field("request", format!("not a request: {e}"));
                write_line(&mut write, &Answer { id: 0, ok: None, error: Some(error) }).await?;
                continue;
            }
        };
        if request.call == "watch" {
            write_line(&mut write, &Answer { id: request.id, ok: Some(Value::Null), error: None }).await?;
            return watch(engine, reader, write).await;
        }
        let answer = match super::dispatch(engine, &request.call, request.args).await {
            Ok(value) => Answer { id: request.id, ok: Some(value), error: None },
            Err(error) => Answer { id: request.id, ok: None, error: Some(error) },
        };
        write_line(&mut write, &answer).await?;
    }
}

/// Sends a notice for every gathered change until the client closes the connection or the engine stops.
async fn watch<R, W>(engine: &Engine, mut reader: BufReader<R>, mut write: W) -> io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut changes = super::changes(engine);
    let mut scratch = [0u8; 512];
    loop {
        tokio::select! {
            kinds = changes.recv() => match kinds {
                Some(changed) => write_line(&mut write, &Notice { changed }).await?,
                None => return Ok(()),
            },
            // Anything the client sends now is ignored; its end ends the watch.
            n = reader.read(&mut scratch) => if n? == 0 { return Ok(()) },
            _ = engine.stopped() => return Ok(()),
        }
    }
}

/// Writes one line; a client that reads nothing for [`IDLE`] loses the connection.
async fn write_line<W: tokio::io::AsyncWrite + Unpin, T: Serialize>(write: &mut W, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let written = async {
        write.write_all(&bytes).await?;
        write.flush().await
    };
    tokio::time::timeout(IDLE, written).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client read nothing"))?
}

/// Where `postroomd serve` puts its admin socket unless told otherwise: in the data folder.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// The system service's admin socket (`RuntimeDirectory=postroomd` in postroomd.service): the desktop app,
/// started without a data folder, attaches to the service when it answers here.
#[cfg(target_os = "macos")]
pub const SERVICE_SOCKET: &str = "/var/run/postroomd/admin.sock";
#[cfg(not(target_os = "macos"))]
pub const SERVICE_SOCKET: &str = "/run/postroomd/admin.sock";

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    /// A connection that says nothing for [`IDLE`] is closed (its slot comes back); one that keeps
    /// asking is not. Runs on tokio's paused clock.
    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_idle_time_and_a_busy_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), crate::EngineOptions::default()).unwrap();
        let (client, server) = tokio::io::duplex(1 << 16);
        let (server_read, server_write) = tokio::io::split(server);
        let (client_read, mut client_write) = tokio::io::split(client);
        let e = engine.clone();
        let served = tokio::spawn(async move { connection(&e, server_read, server_write).await });
        let mut answers = tokio::io::BufReader::new(client_read).lines();
        for id in 1..=3 {
            tokio::time::sleep(IDLE - std::time::Duration::from_secs(1)).await;
            client_write.write_all(format!("{{\"id\":{id},\"call\":\"list_domains\"}}\n").as_bytes()).await.unwrap();
            let answer = answers.next_line().await.unwrap().expect("an answer while the client keeps asking");
            assert_eq!(answer, format!("{{\"id\":{id},\"ok\":[]}}"));
        }
        tokio::time::sleep(IDLE + std::time::Duration::from_secs(1)).await;
        assert!(served.is_finished(), "closed once the client said nothing for the idle time");
        assert_eq!(answers.next_line().await.unwrap(), None);
    }
}
