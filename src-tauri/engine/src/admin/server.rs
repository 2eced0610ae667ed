//! The admin socket: how the desktop app (and a script) reaches the engine of a `postroomd` it did not
//! start — the system service above all.
//!
//! A Unix socket, never TCP. Who may use it is checked on every connection from the kernel's word on
//! the peer (`SO_PEERCRED`), not only from the file's mode ([`Access`]): root and the server's own user
//! always; with `--admin-group` (the system service's `postroom`), the group's members as the user
//! database says at that moment, so an admin just added to the group needs no new login. Anyone else is
//! told so and closed before a request is read. One JSON object per line each way:
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

/// Who may use an admin socket besides root and the server's own user.
#[derive(Debug, Clone, Default)]
pub enum Access {
    /// Nobody else (mode 0600): a desktop user's own `postroomd`.
    #[default]
    Owner,
    /// Members of this group (mode 0666, each connection checked): the system service's admins.
    #[cfg(unix)]
    Group { name: String, gid: u32 },
    /// These accounts and groups (by SID) besides SYSTEM and the server's own user, in the named pipe's
    /// access list, which Windows checks when a client opens it: the system service's admins.
    #[cfg(windows)]
    Group { name: String, sids: Vec<String> },
}

impl Access {
    /// The group named `name`, which must exist.
    #[cfg(unix)]
    pub fn group(name: &str) -> io::Result<Access> {
        match crate::system_users::group_id(name) {
            Some(gid) => Ok(Access::Group { name: name.to_string(), gid }),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("there is no group named {name}"))),
        }
    }

    /// The account or group named `name`, which must exist.
    #[cfg(windows)]
    pub fn group(name: &str) -> io::Result<Access> {
        Ok(Access::Group { name: name.to_string(), sids: vec![crate::winsec::account_sid(name)?] })
    }

    #[cfg(unix)]
    fn mode(&self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::Group { .. } => 0o666,
        }
    }

    /// Whether the process of `uid` may use the socket (reads the user database: call off the runtime).
    #[cfg(unix)]
    pub fn allows(&self, uid: u32) -> bool {
        let (own, _) = crate::system_users::effective();
        if uid == 0 || uid == own {
            return true;
        }
        match self {
            Access::Owner => false,
            Access::Group { gid, .. } => crate::system_users::by_uid(uid).is_some_and(|user| crate::system_users::member_of(&user, *gid)),
        }
    }

    #[cfg(unix)]
    fn refusal(&self) -> String {
        match self {
            Access::Owner => "only the user running this mail server (and root) may manage it".to_string(),
            Access::Group { name, .. } => format!("only members of the {name} group (and root) may manage this mail server: sudo adduser $USER {name}"),
        }
    }
}

/// The listening socket; its file is removed when this is dropped (if it is still this socket).
#[cfg(unix)]
pub struct AdminSocket {
    listener: tokio::net::UnixListener,
    access: Access,
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

/// Binds the admin socket at `path` (its mode from `access`). A socket file left by a process that is gone is
/// replaced; one that answers belongs to a running Postroom and is an error, as is any other file there,
/// and a folder anyone may write to (without the sticky bit). The socket is made in a private folder
/// beside the path, given its mode there, and then renamed into place: nobody can connect to it before
/// its mode is final, and no link planted at the path is followed.
#[cfg(unix)]
pub fn bind(path: &Path, access: Access) -> io::Result<AdminSocket> {
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
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(access.mode()))?;
        std::fs::rename(&temporary, path)?;
        let meta = std::fs::symlink_metadata(path)?;
        Ok(AdminSocket { listener, access: access.clone(), path: path.to_path_buf(), id: (meta.dev(), meta.ino()) })
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
                let access = socket.access.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let mut stream = stream;
                    if !allowed(&access, &stream).await {
                        let error = ApiError::forbidden(access.refusal());
                        let _ = write_line(&mut stream, &Answer { id: 0, ok: None, error: Some(error) }).await;
                        return;
                    }
                    run_connection(&engine, stream).await;
                });
            }
            Err(_) => too_many(stream),
        }
    }
}

/// Serves one accepted connection until it ends.
async fn run_connection<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(engine: &Engine, stream: S) {
    let (read, write) = tokio::io::split(stream);
    if let Err(e) = connection(engine, read, write).await {
        tracing::debug!(target: "engine", "admin connection ended: {e}");
    }
}

/// Tells a connection over [`MAX_CONNECTIONS`] so, and closes it.
fn too_many<S: tokio::io::AsyncWrite + Unpin + Send + 'static>(mut stream: S) {
    tokio::spawn(async move {
        let error = ApiError::conflict(format!("too many admin connections (at most {MAX_CONNECTIONS})"));
        let _ = write_line(&mut stream, &Answer { id: 0, ok: None, error: Some(error) }).await;
    });
}

/// The named pipe on Windows (the path is its name, `\\.\pipe\…`).
#[cfg(windows)]
pub struct AdminSocket {
    name: String,
    security: crate::winsec::SecurityDescriptor,
    /// The instance waiting for the next client.
    next: Option<tokio::net::windows::named_pipe::NamedPipeServer>,
}

/// Creates the admin named pipe `path` (`\\.\pipe\NAME`), open to SYSTEM, the user running this
/// server and `access`'s accounts only: Windows checks its access list when a client opens it, and
/// remote clients are refused. A pipe of that name someone else already made (another Postroom, or a
/// program waiting to hear what is said to Postroom) is an error.
#[cfg(windows)]
pub fn bind(path: &Path, access: Access) -> io::Result<AdminSocket> {
    let name = path.to_string_lossy().into_owned();
    if !name.starts_with(r"\\.\pipe\") || name.len() <= r"\\.\pipe\".len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("on Windows the admin channel is a named pipe (\\\\.\\pipe\\NAME), not {name}")));
    }
    // The server's own user may do anything; its clients only read and write data (0x0012019B:
    // not FILE_CREATE_PIPE_INSTANCE, with which a client could add instances of its own and hear
    // other admins, nor WRITE_DAC).
    // Owned by the server's user, said outright (a process may always name itself): clients check it.
    let me = crate::winsec::current_user_sid()?;
    let mut sddl = format!("O:{me}D:P(A;;GA;;;SY)(A;;GA;;;{me})");
    if let Access::Group { sids, .. } = &access {
        for sid in sids {
            if !crate::winsec::is_sid(sid) {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{sid} is not a SID")));
            }
            sddl.push_str(&format!("(A;;0x0012019b;;;{sid})"));
        }
    }
    let security = crate::winsec::SecurityDescriptor::from_sddl(&sddl)?;
    // A server already there is found by opening its pipe (it sees a client leave at once), as well as
    // by Windows refusing a first instance below: Wine, where the tests run, does only the former.
    const ERROR_ACCESS_DENIED: i32 = 5;
    const ERROR_PIPE_BUSY: i32 = 231;
    match tokio::net::windows::named_pipe::ClientOptions::new().open(&name) {
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another Postroom answers on the named pipe {name}"))),
        Err(e) if matches!(e.raw_os_error(), Some(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY)) => {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another program (another Postroom?) has the named pipe {name}")))
        }
        Err(_) => {}
    }
    let first = pipe_instance(&name, &security, true).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            io::Error::new(io::ErrorKind::AddrInUse, format!("another program (another Postroom?) has the named pipe {name}"))
        } else {
            e
        }
    })?;
    Ok(AdminSocket { name, security, next: Some(first) })
}

#[cfg(windows)]
fn pipe_instance(name: &str, security: &crate::winsec::SecurityDescriptor, first: bool) -> io::Result<tokio::net::windows::named_pipe::NamedPipeServer> {
    let mut attributes = security.attributes();
    let mut options = tokio::net::windows::named_pipe::ServerOptions::new();
    options.first_pipe_instance(first).reject_remote_clients(true);
    // SAFETY: the attributes and the descriptor they point at live across the call.
    unsafe { options.create_with_security_attributes_raw(name, &mut attributes as *mut _ as *mut std::ffi::c_void) }
}

/// Serves admin connections until the engine stops.
#[cfg(windows)]
pub async fn serve(engine: Engine, mut socket: AdminSocket) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tracing::info!(target: "engine", "admin named pipe at {}", socket.name);
    loop {
        let server = match socket.next.take() {
            Some(server) => server,
            None => match pipe_instance(&socket.name, &socket.security, false) {
                Ok(server) => server,
                Err(e) => {
                    tracing::warn!(target: "engine", "admin named pipe: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => continue,
                        _ = engine.stopped() => return,
                    }
                }
            },
        };
        let connected = tokio::select! {
            c = server.connect() => c,
            _ = engine.stopped() => return,
        };
        if let Err(e) = connected {
            tracing::debug!(target: "engine", "admin named pipe: a client left before it was served: {e}");
            continue;
        }
        let engine = engine.clone();
        match slots.clone().try_acquire_owned() {
            Ok(slot) => drop(tokio::spawn(async move {
                let _slot = slot;
                run_connection(&engine, server).await;
            })),
            Err(_) => too_many(server),
        }
    }
}

/// Whether the peer of `stream` may use the socket: the kernel's credentials, the user database asked
/// on a blocking thread.
#[cfg(unix)]
async fn allowed(access: &Access, stream: &tokio::net::UnixStream) -> bool {
    let Ok(peer) = stream.peer_cred() else { return false };
    let (uid, access) = (peer.uid(), access.clone());
    tokio::task::spawn_blocking(move || access.allows(uid)).await.unwrap_or(false)
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
#[cfg(unix)]
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Where `postroomd serve` opens its admin named pipe unless told otherwise: a name made from the data
/// folder's path (as Windows compares paths: without regard to case), so each folder has its own.
#[cfg(windows)]
pub fn default_path(data_dir: &Path) -> PathBuf {
    let folder = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for unit in folder.to_string_lossy().to_lowercase().encode_utf16() {
        for byte in unit.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    PathBuf::from(format!(r"\\.\pipe\postroom-{hash:016x}"))
}

/// The system service's admin socket (`RuntimeDirectory=postroomd` in postroomd.service): the desktop app,
/// started without a data folder, attaches to the service when it answers here.
#[cfg(target_os = "macos")]
pub const SERVICE_SOCKET: &str = "/var/run/postroomd/admin.sock";
#[cfg(all(unix, not(target_os = "macos")))]
pub const SERVICE_SOCKET: &str = "/run/postroomd/admin.sock";
/// The Windows service's admin named pipe.
#[cfg(windows)]
pub const SERVICE_SOCKET: &str = r"\\.\pipe\postroomd-service";

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
