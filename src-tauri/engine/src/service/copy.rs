//! Copying a whole data folder to where another engine will serve it (the system service's folder, or
//! back to the desktop's), owned by that engine's user.
//!
//! The copy is made beside the target under a hidden name and renamed into place only when complete, so
//! a target is either as it was or the whole copy. A target that exists is renamed aside
//! (`<name>.before-<time>`), never deleted. The database is copied with `VACUUM INTO` (a consistent
//! snapshot, whatever its WAL holds); settings that named files inside the source folder name the same
//! files inside the target. What belongs to a running process (its lock, socket, status) and markers
//! are not copied; links are not followed (a data folder has none). Bounded: at most [`MAX_DEPTH`]
//! folders deep.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Folder depth copied (a data folder is two deep: blobs/ab/…).
pub const MAX_DEPTH: usize = 8;

/// Top-level names that belong to the process serving the folder, or are written separately.
const NOT_COPIED: &[&str] = &["postroom.db", "postroom.db-wal", "postroom.db-shm", "postroom.lock", "admin.sock", "status.json", super::MOVED];

/// Who the copy belongs to: a user and group on Unix (owner-only modes); on Windows an access list
/// (SDDL) the copy gets instead of inheriting its parent folder's, or None to inherit it (a copy made
/// in the user's own profile).
#[cfg(unix)]
pub type Owner = (u32, u32);
#[cfg(windows)]
pub type Owner = Option<&'static str>;

/// Copies the Postroom data folder `src` to `dst`, owned by `owner`. Returns where an existing `dst`
/// was renamed to, if there was one.
pub fn copy_folder(src: &Path, dst: &Path, owner: Owner) -> anyhow::Result<Option<PathBuf>> {
    let name = dst.file_name().context("the target has no folder name")?.to_string_lossy().into_owned();
    let parent = dst.parent().context("the target has no parent folder")?;
    std::fs::create_dir_all(parent)?;
    let incoming = parent.join(format!(".{name}.incoming-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&incoming);
    let made = (|| {
        #[cfg(unix)]
        make_dir(&incoming)?;
        // Made with its access list from the start (what is copied in inherits it): there is no moment
        // in which another user could add a file to it.
        #[cfg(windows)]
        match owner {
            Some(sddl) => crate::winsec::create_dir(&incoming, &crate::winsec::SecurityDescriptor::from_sddl(sddl)?)
                .with_context(|| format!("cannot create {}", incoming.display()))?,
            None => make_dir(&incoming)?,
        }
        snapshot_database(&src.join("postroom.db"), &incoming.join("postroom.db"), src, dst)?;
        copy_tree(src, &incoming, 0)?;
        #[cfg(unix)]
        {
            own_tree(&incoming, owner.0, owner.1)?;
            // Everything on disk before it is put in place.
            // SAFETY: sync has no arguments and cannot fail.
            unsafe { libc::sync() };
        }
        // (On Windows each copied file was flushed as it was written.)
        anyhow::Ok(())
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&incoming);
        return Err(e.context(format!("copying {} to {}", src.display(), dst.display())));
    }
    let aside = if std::fs::symlink_metadata(dst).is_ok() {
        let aside = parent.join(format!("{name}.before-{}", crate::time_text::rfc3339(crate::store::now()).replace(':', "")));
        rename_folder(dst, &aside).with_context(|| format!("cannot rename {} aside", dst.display()))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = rename_folder(&incoming, dst) {
        // Put the old one back: the target is as it was.
        if let Some(aside) = &aside {
            let _ = rename_folder(aside, dst);
        }
        let _ = std::fs::remove_dir_all(&incoming);
        return Err(anyhow::anyhow!("cannot put the copy in place at {}: {e}", dst.display()));
    }
    Ok(aside)
}

/// Renames a folder. On Windows a virus scanner or the search indexer may hold a file in it open for
/// a moment ("Access denied", "in use"): tried again for up to 5 s before giving up.
fn rename_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        const ERROR_ACCESS_DENIED: i32 = 5;
        const ERROR_SHARING_VIOLATION: i32 = 32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match std::fs::rename(from, to) {
                Err(e) if matches!(e.raw_os_error(), Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION)) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100))
                }
                done => return done,
            }
        }
    }
    #[cfg(not(windows))]
    std::fs::rename(from, to)
}

fn make_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    let made = {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(dir)
    };
    #[cfg(not(unix))]
    let made = std::fs::create_dir(dir);
    made.with_context(|| format!("cannot create {}", dir.display()))
}

/// Holds `dir` and every folder below it (up to [`MAX_DEPTH`]) open until the handles are dropped, so
/// that none of them can be renamed, deleted or swapped for a link while an administrator's process
/// works in a folder its user may change (Windows refuses to rename or delete a folder that is open
/// without delete sharing, or one with an open folder below it). A folder that is a link or other
/// reparse point is refused, not followed.
#[cfg(windows)]
pub(super) fn pin_tree(dir: &Path) -> anyhow::Result<Vec<std::fs::File>> {
    let mut held = Vec::new();
    let mut folders = vec![(dir.to_path_buf(), 0usize)];
    while let Some((folder, depth)) = folders.pop() {
        if depth > MAX_DEPTH {
            anyhow::bail!("{} is more than {MAX_DEPTH} folders deep: not a Postroom data folder", dir.display());
        }
        held.push(pin_folder(&folder)?);
        for entry in std::fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))? {
            let entry = entry?;
            // A link among them is left for copy_tree, which skips it; folders are held.
            if entry.file_type()?.is_dir() {
                folders.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(held)
}

/// Holds the one folder `dir` open as [`pin_tree`] does; refused if it is a link or no folder.
#[cfg(windows)]
pub(super) fn pin_folder(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
    const FILE_SHARE_READ_WRITE: u32 = 0x1 | 0x2;
    const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
    const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ_WRITE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(dir)
        .with_context(|| format!("cannot hold {} open", dir.display()))?;
    let attributes = handle.metadata()?.file_attributes();
    if attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 || attributes & FILE_ATTRIBUTE_DIRECTORY == 0 {
        anyhow::bail!("{} is a link or not a folder: Postroom works only in folders of its own", dir.display());
    }
    Ok(handle)
}

/// `VACUUM INTO` the target, then the settings' paths moved from `src` to `dst`.
fn snapshot_database(db: &Path, into: &Path, src: &Path, dst: &Path) -> anyhow::Result<()> {
    if !std::fs::symlink_metadata(db).is_ok_and(|m| m.file_type().is_file()) {
        anyhow::bail!("{} is not a plain file", db.display());
    }
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW)
        .with_context(|| format!("cannot open {}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute("VACUUM INTO ?1", [into.to_string_lossy()]).with_context(|| format!("cannot copy the database {}", db.display()))?;
    drop(conn);
    let conn = rusqlite::Connection::open(into)?;
    // Settings are stored as JSON text: a path's opening quote and its characters as JSON writes them
    // (a Windows path's backslashes doubled).
    let opening = |p: &Path| -> anyhow::Result<String> {
        let quoted = serde_json::to_string(&p.to_string_lossy())?;
        Ok(quoted[..quoted.len() - 1].to_string())
    };
    let (from, to) = (opening(src)?, opening(dst)?);
    // A value naming the folder itself, or a file inside it (on Windows also after a backslash, which
    // JSON doubles). One statement, so no value is moved twice.
    // Windows compares paths without regard to case, so the match does too there (SQLite's lower()
    // folds ASCII letters: drive letters and most folder names).
    let backslash = if cfg!(windows) { "\\\\" } else { "" };
    let fold = if cfg!(windows) { "lower" } else { "" };
    conn.execute(
        &format!(
            "UPDATE settings SET value = ?2 || substr(value, length(?1) + 1)
             WHERE {fold}(substr(value, 1, length(?1) + 1)) IN ({fold}(?1 || '/'), {fold}(?1 || '\"'))
                OR (?3 <> '' AND {fold}(substr(value, 1, length(?1) + 2)) = {fold}(?1 || ?3))"
        ),
        [&from, &to, &backslash.to_string()],
    )?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path, depth: usize) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        anyhow::bail!("{} is more than {MAX_DEPTH} folders deep: not a Postroom data folder", src.display());
    }
    for entry in std::fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if depth == 0 && (NOT_COPIED.contains(&text.as_ref()) || text.starts_with(".admin-sock-") || text.starts_with(".postroom")) {
            continue;
        }
        let kind = entry.file_type()?;
        let (from, to) = (entry.path(), dst.join(&name));
        if kind.is_dir() {
            make_dir(&to)?;
            copy_tree(&from, &to, depth + 1)?;
        } else if kind.is_file() {
            copy_file(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        }
        // Links (on Windows, any reparse point), sockets and devices have no place in a data folder and
        // are left behind.
    }
    Ok(())
}

/// One regular file, opened without following a link (one swapped in since the folder was listed is
/// refused, so a link never makes root read a file it names), into a new owner-only file.
pub(super) fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    let (mut read, mut write) = (std::fs::OpenOptions::new(), std::fs::OpenOptions::new());
    read.read(true);
    write.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        read.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        write.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(windows)]
    {
        // FILE_FLAG_OPEN_REPARSE_POINT: a link swapped in is opened as itself, and refused below.
        use std::os::windows::fs::OpenOptionsExt;
        read.custom_flags(0x0020_0000);
    }
    let mut source = read.open(from)?;
    let meta = source.metadata()?;
    if !meta.is_file() || meta.file_type().is_symlink() {
        anyhow::bail!("not a plain file");
    }
    let mut target = write.open(to)?;
    std::io::copy(&mut source, &mut target)?;
    #[cfg(not(unix))]
    target.sync_all()?;
    Ok(())
}

#[cfg(unix)]
fn own_tree(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).with_context(|| format!("cannot give {} to its new owner", dir.display()))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            own_tree(&entry.path(), uid, gid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}
