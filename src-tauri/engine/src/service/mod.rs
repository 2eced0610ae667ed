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
//! Linux with systemd only so far; on Windows (a service) and macOS (a launchd daemon) `status` says it
//! is not available and the app greys the switch out.

pub(crate) mod copy;
#[cfg(target_os = "linux")]
mod systemd;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use copy::copy_folder;

/// The system service's data folder.
pub const SERVICE_DATA_DIR: &str = "/var/lib/postroom";
/// The system user (and group) the service runs as; members of the group may manage it.
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

/// The service's state as an unprivileged user can see it.
pub fn status() -> SystemService {
    #[cfg(target_os = "linux")]
    {
        systemd::status()
    }
    #[cfg(not(target_os = "linux"))]
    {
        SystemService {
            available: false,
            why_not: Some("the system service is built for Linux (systemd) so far; on this computer Postroom runs in the tray, and \"Start Postroom when I log in\" starts it with you".into()),
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
    #[cfg(not(target_os = "linux"))]
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
    #[cfg(not(target_os = "linux"))]
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
