//! The data folder: where it is, what it holds, and that only its owner can read it.
//!
//! ```text
//! <data dir>/postroom.db   the database (WAL files beside it)
//!            blobs/        large message bodies, named by SHA-256
//!            logs/         log files
//!            certs/        the self-signed certificate and key
//!            status.json   the running server's service states, for `postroomd status`
//!            postroom.lock held by the process serving this folder
//!            moved-away.json only when its mail moved (to the system service and back): never served again
//! ```

use std::io::Write;

use std::path::{Path, PathBuf};

/// Environment variable that overrides the default data folder.
pub const DATA_DIR_ENV: &str = "POSTROOM_DATA_DIR";

/// The marker in a data folder whose mail has moved elsewhere.
pub const MOVED: &str = "moved-away.json";

/// What a moved folder's marker says.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Moved {
    /// Where the mail is now.
    pub to: PathBuf,
    /// When it moved (seconds since 1970).
    pub at: i64,
    /// `service` when it went to the system service, `desktop` when it came back.
    pub by: String,
}

/// Reads `dir`'s marker: `Some` if the folder's mail has moved away.
pub fn moved(dir: &Path) -> Option<Moved> {
    let marker = dir.join(MOVED);
    std::fs::symlink_metadata(&marker).ok()?;
    // A marker that cannot be read still means the folder is not live.
    let unknown = Moved { to: PathBuf::new(), at: 0, by: String::new() };
    Some(std::fs::read(&marker).ok().and_then(|text| serde_json::from_slice(&text).ok()).unwrap_or(unknown))
}

/// The sentence saying where a moved folder's mail is.
pub fn moved_message(dir: &Path, moved: &Moved) -> String {
    let when = crate::time_text::rfc3339(moved.at);
    if moved.by.is_empty() {
        return format!("the mail in {} moved away (its note {MOVED} cannot be read)", dir.display());
    }
    if moved.by == "service" {
        format!(
            "the mail in {} moved to the system service ({}) on {when}; Postroom attaches to the service instead (to take it back: turn off \"Run the mail server as a system service\", or `sudo postroomd service disable --to {}`)",
            dir.display(),
            moved.to.display(),
            dir.display()
        )
    } else {
        format!("the mail in {} moved to {} on {when}; that folder is served now", dir.display(), moved.to.display())
    }
}

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the folder and its subfolders (owner-only) if they are missing. An existing folder that
    /// holds other files but no Postroom database is refused: Postroom never takes over (or changes the
    /// permissions of) a folder that is not its own.
    pub fn create(root: &Path) -> std::io::Result<DataDir> {
        let dir = DataDir { root: root.to_path_buf() };
        if root.is_dir() && !dir.database().exists() && std::fs::read_dir(root)?.next().is_some() {
            return Err(std::io::Error::other(format!(
                "{} already holds other files and is not a Postroom data folder; choose a new or empty folder",
                root.display()
            )));
        }
        for sub in [dir.root.clone(), dir.blobs(), dir.logs(), dir.certs()] {
            if !sub.exists() {
                std::fs::create_dir_all(&sub)?;
                restrict(&sub, 0o700)?;
            } else {
                tighten(&sub, 0o700, sub == dir.root)?;
            }
        }
        for file in [dir.database(), dir.root.join("postroom.db-wal"), dir.root.join("postroom.db-shm")] {
            if file.exists() {
                tighten(&file, 0o600, false)?;
            }
        }
        Ok(dir)
    }

    /// `--data-dir`, else `POSTROOM_DATA_DIR`, else the platform's app-data folder
    /// (`~/.local/share/postroom`, `%APPDATA%\Postroom`, `~/Library/Application Support/Postroom`).
    pub fn resolve(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let name = if cfg!(target_os = "linux") { "postroom" } else { "Postroom" };
        dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join(name)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("postroom.db")
    }
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn certs(&self) -> PathBuf {
        self.root.join("certs")
    }
    pub fn status_file(&self) -> PathBuf {
        self.root.join("status.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("postroom.lock")
    }
}

/// An existing folder or file of Postroom's that others can read or write (a copy restored by hand, an old
/// umask) is tightened to `mode`; one that is a symbolic link, or cannot be tightened, is refused with the reason.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32, may_be_link: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // The data folder itself may be a link the admin made; what is inside it may not.
    if !may_be_link && std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other(format!("{} is a symbolic link; Postroom keeps its files only in folders of its own", path.display())));
    }
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            std::io::Error::other(format!("{} can be read by other users and cannot be made private ({e}); fix its permissions (chmod {mode:o})", path.display()))
        })?;
        eprintln!("postroom: {} could be read by other users; made private ({mode:o})", path.display());
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32, _may_be_link: bool) -> std::io::Result<()> {
    Ok(())
}

/// A private scratch file at `path` that is gone when it is closed, whatever ends the process: on Unix
/// its name is removed at once; on Windows (where an open file keeps its name) Windows deletes it when
/// its last handle closes.
pub fn create_scratch(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_FLAG_DELETE_ON_CLOSE: u32 = 0x0400_0000;
        const FILE_SHARE_DELETE: u32 = 0x4;
        let _ = std::fs::remove_file(path);
        std::fs::OpenOptions::new().read(true).write(true).create_new(true).share_mode(FILE_SHARE_DELETE).custom_flags(FILE_FLAG_DELETE_ON_CLOSE).open(path)
    }
    #[cfg(not(windows))]
    {
        let file = create_private(path)?;
        std::fs::remove_file(path)?;
        Ok(file)
    }
}

/// Opens a new file for writing, owner-only, never through a symbolic link: whatever is at `path` (a
/// stale temporary file, or a link someone planted) is removed first, then the file is created exclusively.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// For tests: makes `path` a device node that behaves like /dev/full (every write fails with ENOSPC), so a
/// full disk can be shown without a symbolic link (which log files refuse). Needs root, as the tests run.
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub fn full_disk_node(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: mknod with a valid C string; /dev/full is character device 1:7.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 7)) };
    assert_eq!(rc, 0, "mknod {} (the tests run as root): {}", path.display(), std::io::Error::last_os_error());
}

/// Makes a file Postroom created readable by its owner only.
pub fn owner_only_file(path: &Path) -> std::io::Result<()> {
    restrict(path, 0o600)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Whether a file written with [`write_private`] must survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsynced before it replaces the old file: the admin's work (a script, a certificate).
    Durable,
    /// Replaced atomically but not fsynced: state rewritten every few seconds (status.json).
    Ephemeral,
}

/// Writes a file readable by its owner only, atomically (temporary name, then rename).
pub fn write_private(path: &Path, contents: &[u8], durability: Durability) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = create_private(&tmp)?;
        f.write_all(contents)?;
        if durability == Durability::Durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn folders_are_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(&tmp.path().join("data")).unwrap();
        for p in [dir.root().to_path_buf(), dir.blobs(), dir.logs(), dir.certs()] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_loose_data_folder_is_tightened_and_a_planted_link_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(&tmp.path().join("data")).unwrap();
        std::fs::write(dir.database(), b"").unwrap();
        std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.database(), std::fs::Permissions::from_mode(0o644)).unwrap();
        DataDir::create(dir.root()).unwrap();
        assert_eq!(std::fs::metadata(dir.root()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(dir.database()).unwrap().permissions().mode() & 0o777, 0o600);
        // A link planted where a temporary file will be written is replaced, never followed.
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.root().join("status.tmp")).unwrap();
        write_private(&dir.root().join("status.json"), b"{}", Durability::Ephemeral).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(dir.root().join("status.json")).unwrap(), b"{}");
    }

    #[test]
    fn a_foreign_folder_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let err = DataDir::create(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("not a Postroom data folder"), "{err}");
        assert!(!tmp.path().join("blobs").exists());
    }

    #[test]
    fn explicit_folder_wins_over_the_environment() {
        assert_eq!(DataDir::resolve(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
    }
}

/// Bytes free for this user on the volume that holds `path`.
#[cfg(windows)]
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    use std::os::windows::ffi::OsStrExt;
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain(std::iter::once(0)).collect();
    let mut available = 0u64;
    // SAFETY: a NUL-terminated path and one out-parameter; the others may be null.
    if unsafe { windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW(wide.as_ptr(), &mut available, std::ptr::null_mut(), std::ptr::null_mut()) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(available)
}

#[cfg(not(any(unix, windows)))]
pub fn free_space(_path: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "free space is not known on this system"))
}

/// Makes what was created or renamed in `dir` durable (the folder's own entries). On Windows a folder
/// is flushed through a handle opened as a folder for writing; where the file system cannot (Wine), its
/// own journal is all there is.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        let folder = std::fs::OpenOptions::new().write(true).custom_flags(FILE_FLAG_BACKUP_SEMANTICS).open(dir)?;
        let _ = folder.sync_all();
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Bytes free for an unprivileged writer on the file system that holds `path`.
#[cfg(unix)]
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a properly sized out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Whether process `pid` exists (a lease or status file left by a process that died is stale).
#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    // Signal 0 checks existence without touching the process; EPERM still means it exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether process `pid` exists and has not ended.
#[cfg(windows)]
pub fn process_alive(pid: u32) -> bool {
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};
    const STILL_ACTIVE: u32 = 259;
    // SAFETY: a handle opened for a query and closed before returning.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            // Access denied still means it exists (another user's process).
            return std::io::Error::last_os_error().raw_os_error() == Some(5);
        }
        let mut code = 0u32;
        let running = GetExitCodeProcess(handle, &mut code) != 0 && code == STILL_ACTIVE;
        windows_sys::Win32::Foundation::CloseHandle(handle);
        running
    }
}

/// Without a cheap check, every process counts as alive (leases then end by their time).
#[cfg(not(any(unix, windows)))]
pub fn process_alive(_pid: u32) -> bool {
    true
}
