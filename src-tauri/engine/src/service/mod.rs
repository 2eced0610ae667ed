//! "Run the mail server as a system service": the switch behind the app's checkbox and the wizard's
//! last question, as `postroomd service status|enable|disable` (the desktop app runs the last two
//! through `pkexec`, they need root).
//!
//! Turning it on moves the office's mail to the service: the desktop's data folder is copied into the
//! service's (`/var/lib/postroom`, owned by the `postroom` user; the database by `VACUUM INTO`, paths in
//! the settings that pointed into the old folder now point into the new one), the old folder is marked
//! as moved ([`MOVED`]: no engine opens it again, the app attaches to the service instead), the admin
//! joins the `postroom` group, and the unit is enabled and started; it is on once the service's admin
//! socket answers. If the service does not come up, everything is put back as it was. Turning it off
//! stops and disables the unit and, with `--to`, copies the mail back into the desktop's folder and marks
//! the service's as moved. Nothing is deleted: a folder that is replaced is renamed aside first.
//!
//! Exactly one folder is ever live: the copy happens with the source's lock held and the service
//! stopped; the marker is written before the service starts.
//!
//! Linux (systemd.rs) and Windows (windows.rs: a service of the Service Control Manager, the admin
//! channel a named pipe) so far; on macOS (a launchd daemon, not built yet) `status` says it is not
//! available and the app greys the switch out.

pub(crate) mod copy;
#[cfg(target_os = "linux")]
mod systemd;
#[cfg(windows)]
pub mod elevate;
#[cfg(windows)]
pub mod windows;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use copy::copy_folder;

/// The system service's data folder (on Windows: [`windows::data_dir`]).
#[cfg(unix)]
pub const SERVICE_DATA_DIR: &str = "/var/lib/postroom";
/// The system user (and group) the service runs as; members of the group may manage it.
#[cfg(unix)]
pub const SERVICE_USER: &str = "postroom";
pub use crate::paths::{moved, moved_message, Moved, MOVED};

fn write_marker(dir: &Path, marker: &Moved) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(marker)?;
    crate::paths::write_private(&dir.join(MOVED), &text, crate::paths::Durability::Durable)?;
    give_to_folder_owner(dir, MOVED)
}

/// Files this helper (root) makes in someone's data folder belong to the folder's owner, as the rest
/// of it does: else that owner's engine could not open its own lock file, nor read the marker.
fn give_to_folder_owner(dir: &Path, name: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(dir)?;
        std::os::unix::fs::lchown(dir.join(name), Some(owner.uid()), Some(owner.gid()))?;
    }
    // (On Windows a new file takes its folder's access list.)
    #[cfg(not(unix))]
    let _ = (dir, name);
    Ok(())
}

/// What the app shows beside the switch, and `postroomd service status` prints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ts_rs::TS)]
pub struct SystemService {
    /// The switch can be used on this computer (else `why_not` says why).
    pub available: bool,
    pub why_not: Option<String>,
    /// The unit is enabled (starts at boot).
    pub enabled: bool,
    /// The service runs now.
    pub active: bool,
    /// The service's data folder and admin socket.
    pub data_dir: String,
    pub socket: String,
}

impl SystemService {
    /// Usable, neither enabled nor running, serving `data_dir` through the service's admin socket:
    /// where each platform's status starts from.
    #[cfg(any(target_os = "linux", windows))]
    fn usable(data_dir: &Path) -> SystemService {
        SystemService {
            available: true,
            why_not: None,
            enabled: false,
            active: false,
            data_dir: data_dir.display().to_string(),
            socket: crate::admin::server::SERVICE_SOCKET.to_string(),
        }
    }
}

/// The service's state as an unprivileged user can see it.
pub fn status() -> SystemService {
    #[cfg(target_os = "linux")]
    {
        systemd::status()
    }
    #[cfg(windows)]
    {
        windows::status()
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        SystemService {
            available: false,
            why_not: Some("the system service is built for Linux (systemd) and Windows so far; on this computer Postroom runs in the tray, and \"Start Postroom when I log in\" starts it with you".into()),
            enabled: false,
            active: false,
            data_dir: String::new(),
            socket: String::new(),
        }
    }
}

/// What `enable` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Enable {
    /// The desktop's data folder whose mail moves to the service (none: the service keeps its own).
    pub from: Option<PathBuf>,
    /// The computer user who becomes an admin of the service (default: who ran pkexec or sudo).
    pub admin: Option<String>,
    /// Replace mail the service already holds (renamed aside, not deleted).
    pub replace: bool,
    /// How long to wait for the desktop app to let go of `from`.
    pub wait: std::time::Duration,
}

/// What `disable` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Disable {
    /// The folder the mail comes back to (none: it stays in the service's folder).
    pub to: Option<PathBuf>,
    /// The computer user who owns `to` (default: who ran pkexec or sudo).
    pub owner: Option<String>,
}

/// Turns the service on; `say` gets each step as it happens (the app shows them, and waits for the
/// line "waiting for …" to let go of its data folder).
pub fn enable(options: &Enable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    #[cfg(target_os = "linux")]
    {
        systemd::enable(options, say)
    }
    #[cfg(windows)]
    {
        windows::enable(options, say)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (options, say);
        anyhow::bail!("{}", status().why_not.unwrap_or_default())
    }
}

/// Turns the service off.
pub fn disable(options: &Disable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    #[cfg(target_os = "linux")]
    {
        systemd::disable(options, say)
    }
    #[cfg(windows)]
    {
        windows::disable(options, say)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (options, say);
        anyhow::bail!("{}", status().why_not.unwrap_or_default())
    }
}

/// The computer user who asked for this through pkexec or sudo, if any.
#[cfg(unix)]
fn invoking_user() -> Option<crate::system_users::SystemUser> {
    if let Some(uid) = std::env::var("PKEXEC_UID").ok().and_then(|u| u.parse::<u32>().ok()) {
        return crate::system_users::by_uid(uid);
    }
    std::env::var("SUDO_USER").ok().and_then(|name| crate::system_users::by_name(&name))
}

/// Serves the data folder `root` with its admin socket (`admin_socket`, else the folder's own) until
/// `stop` completes, then shuts the engine down: `postroomd serve` (stopped by a signal) and the Windows
/// service (stopped by the Service Control Manager).
pub fn serve_until(
    root: &Path,
    listen: std::collections::BTreeMap<crate::settings::ServiceId, std::net::SocketAddr>,
    admin_socket: Option<PathBuf>,
    access: crate::admin::server::Access,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let engine = crate::Engine::open(root, crate::EngineOptions { listen })?;
    // Store reads run on blocking threads; a bounded pool keeps memory bounded under load.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(crate::engine::MAX_BLOCKING_THREADS).build()?;
    runtime.block_on(async {
        // Opened only once the data folder is ours (its lock is held), so an answering socket
        // always belongs to the engine serving that folder.
        match admin_socket {
            Some(path) => {
                let socket = crate::admin::server::bind(&path, access).with_context(|| format!("cannot open the admin socket {}", path.display()))?;
                tokio::spawn(crate::admin::server::serve(engine.clone(), socket));
            }
            // The folder's own socket is a convenience: a folder whose path is too long for a socket
            // name (108 bytes) still serves mail, without it.
            None => {
                let path = crate::admin::server::default_path(engine.data_dir().root());
                match crate::admin::server::bind(&path, access) {
                    Ok(socket) => drop(tokio::spawn(crate::admin::server::serve(engine.clone(), socket))),
                    Err(e) => tracing::warn!(target: "engine", "no admin socket at {}: {e}; the desktop app cannot attach (give one with --admin-socket)", path.display()),
                }
            }
        }
        engine.start();
        stop.await;
        engine.shutdown().await;
        anyhow::Ok(())
    })
}

/// Serves as the Windows service (`postroomd service run`, started by the Service Control Manager).
#[cfg(windows)]
pub fn run_as_service(data_dir: Option<&Path>, admin_sids: Vec<String>) -> anyhow::Result<()> {
    windows::run(data_dir.map_or_else(windows::data_dir, Path::to_path_buf), admin_sids)
}

/// Waits for the started service to answer on its admin socket (or named pipe); its pid.
#[cfg(any(target_os = "linux", windows))]
/// `stopped` says why when the service has already stopped again (no use waiting for it).
fn wait_for_answer(limit: std::time::Duration, stopped: &dyn Fn() -> Option<String>) -> anyhow::Result<u32> {
    use crate::admin::server::SERVICE_SOCKET;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match crate::admin::client::AdminClient::connect(Path::new(SERVICE_SOCKET)).await {
                Ok((_, link)) => return Ok(link.pid),
                Err(e) => e,
            };
            if let Some(why) = stopped() {
                anyhow::bail!("{why}");
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("it did not answer on {SERVICE_SOCKET} within {} s ({})", limit.as_secs(), last.message);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
}

/// `path` made absolute and resolved (its last part need not exist yet), as people write paths.
#[cfg(any(target_os = "linux", windows))]
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Ok(plain(p));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().context("name a folder")?;
    Ok(plain(std::fs::canonicalize(parent).with_context(|| format!("cannot find {}", parent.display()))?).join(name))
}

/// A resolved path as people and settings write it: on Windows without the `\\?\` prefix
/// `canonicalize` gives (for a drive-letter path).
fn plain(path: PathBuf) -> PathBuf {
    #[cfg(windows)]
    {
        let text = path.to_string_lossy();
        if let Some(rest) = text.strip_prefix(r"\\?\").filter(|rest| rest.as_bytes().get(1) == Some(&b':')) {
            return PathBuf::from(rest);
        }
    }
    path
}

/// Refuses to move `from` (resolved) into the service's folder `target` when it is that folder, has
/// moved away already, or is no Postroom folder.
fn check_movable(from: &Path, target: &Path) -> anyhow::Result<()> {
    if std::fs::canonicalize(target).is_ok_and(|t| plain(t) == from) {
        anyhow::bail!("{} is the service's own folder already: turn the service on without --from", from.display());
    }
    if let Some(m) = moved(from) {
        anyhow::bail!("{}", moved_message(from, &m));
    }
    if !from.join("postroom.db").is_file() {
        anyhow::bail!("{} is not a Postroom data folder (it has no postroom.db)", from.display());
    }
    Ok(())
}

/// Refuses to replace mail the service holds of its own (users or domains) unless asked to.
fn refuse_if_live(target: &Path, from: &Path, replace: bool) -> anyhow::Result<()> {
    if moved(target).is_none() && holds_mail_setup(target)? && !replace {
        anyhow::bail!(
            "the system service already holds mail of its own in {} (users or domains): add --replace to set it aside and move {}'s in, or turn the service on without --from to keep it",
            target.display(),
            from.display()
        );
    }
    Ok(())
}

/// One argument of a Windows command line, as the C runtime splits it (the app starts the elevated
/// helper with one): in quotes when it has a space, tab or quote,
/// with backslashes doubled where they precede a quote (or the closing one).
pub fn windows_argument(word: &str) -> String {
    if !word.is_empty() && !word.contains([' ', '\t', '"']) {
        return word.to_string();
    }
    let mut quoted = String::from('"');
    let mut backslashes = 0;
    for c in word.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                quoted.push_str(&"\\".repeat(backslashes * 2 + 1));
                quoted.push('"');
                backslashes = 0;
            }
            _ => {
                quoted.push_str(&"\\".repeat(backslashes));
                quoted.push(c);
                backslashes = 0;
            }
        }
    }
    quoted.push_str(&"\\".repeat(backslashes * 2));
    quoted.push('"');
    quoted
}

/// Whether the Postroom data folder `dir` holds users or domains (read-only; false if it has no database).
fn holds_mail_setup(dir: &Path) -> anyhow::Result<bool> {
    let db = dir.join("postroom.db");
    if !db.exists() {
        return Ok(false);
    }
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let count: i64 = conn.query_row("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM domains)", [], |r| r.get(0))?;
    Ok(count > 0)
}

/// Takes `dir`'s lock (the one a serving engine holds), waiting up to `wait` for its holder to let go.
fn lock_folder(dir: &Path, wait: std::time::Duration) -> anyhow::Result<std::fs::File> {
    // Not through a link: root never creates or opens a file some link in the folder names.
    let mut options = std::fs::File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(dir.join("postroom.lock")).with_context(|| format!("cannot open {}'s lock", dir.display()))?;
    give_to_folder_owner(dir, "postroom.lock")?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!("Postroom is still serving {}: quit it first", dir.display()),
            Err(std::fs::TryLockError::Error(e)) => anyhow::bail!("cannot lock {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests;
