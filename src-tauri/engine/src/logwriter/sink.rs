//! Where bursts go. [`FileSink`] appends to `<folder>/<name>.log` and looks after the files:
//!
//! - **Rotation**: a write that would take `name.log` past its maximum size first renames it to
//!   `name.lbk` (an older `name.lbk` becomes `name_YYYYMMDD_N.lbk`, dated by its last write).
//! - **Retention** of the dated files: the newest *N* of each log, or those younger than *D* days; then all
//!   log files together within the disk-use cap, oldest first; then, winning over everything, old files
//!   are deleted while the disk has less than the minimum free space — and if that is not enough, nothing
//!   is written (the write fails, the lines stay in memory, the main window says why).
//! - **A file removed or replaced** while open is noticed before each write (its identity is compared) and
//!   opened again, so lines never go into a deleted file. A failed write is cut back to where it began,
//!   so the retry does not write half a burst twice.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{LogFile, FILE_COUNT};
use crate::time_text as timefmt;
use crate::settings::{KeepBy, LogSettings, RetentionSettings};

/// Receives each file's waiting lines, one call per file per burst.
pub trait Sink: Send {
    fn write(&mut self, file: LogFile, bytes: &[u8], settings: &LogSettings) -> std::io::Result<()>;
}

/// How often retention runs besides after each rotation (for the "days" rule).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How often free space is checked while writing.
const FREE_SPACE_EVERY: Duration = Duration::from_secs(5);

struct Open {
    file: File,
    size: u64,
    identity: Identity,
}

pub struct FileSink {
    default_folder: PathBuf,
    folder: PathBuf,
    open: [Option<Open>; FILE_COUNT],
    last_retention: Option<(Instant, RetentionSettings, PathBuf)>,
    /// The free-space verdict and when it was reached.
    free_space: Option<(Instant, Result<(), LowDisk>)>,
}

impl FileSink {
    /// `default_folder` is used while the `log.folder` setting is empty.
    pub fn new(default_folder: PathBuf) -> FileSink {
        FileSink { folder: default_folder.clone(), default_folder, open: Default::default(), last_retention: None, free_space: None }
    }

    fn folder_for(&self, settings: &LogSettings) -> PathBuf {
        if settings.folder.trim().is_empty() {
            self.default_folder.clone()
        } else {
            PathBuf::from(settings.folder.trim())
        }
    }

    fn ensure_folder(&mut self, settings: &LogSettings) -> std::io::Result<()> {
        let folder = self.folder_for(settings);
        if folder != self.folder {
            self.open = Default::default();
            self.folder = folder;
            self.last_retention = None;
            self.free_space = None;
        }
        if !self.folder.is_dir() {
            std::fs::create_dir_all(&self.folder)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create the log folder {}: {e}", self.folder.display())))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&self.folder, std::fs::Permissions::from_mode(0o700));
            }
        }
        Ok(())
    }

    /// Runs retention when it is due (hourly, or the rules or folder changed), and enforces the minimum
    /// free space.
    fn housekeeping(&mut self, settings: &LogSettings) -> std::io::Result<()> {
        let r = settings.retention;
        let due = match &self.last_retention {
            None => true,
            Some((at, rules, folder)) => at.elapsed() >= RETENTION_EVERY || *rules != r || *folder != self.folder,
        };
        if due {
            apply_retention(&self.folder, &r, SystemTime::now());
            self.last_retention = Some((Instant::now(), r, self.folder.clone()));
            self.free_space = None;
        }
        let fresh = self.free_space.as_ref().is_some_and(|(at, _)| at.elapsed() < FREE_SPACE_EVERY);
        if !fresh {
            let verdict = ensure_free_space(&self.folder, &r);
            self.free_space = Some((Instant::now(), verdict));
        }
        match &self.free_space {
            Some((_, Err(why))) => Err(std::io::Error::new(std::io::ErrorKind::StorageFull, why.clone())),
            _ => Ok(()),
        }
    }

    fn path(&self, file: LogFile) -> PathBuf {
        self.folder.join(format!("{}.log", file.name()))
    }

    /// The open file for `file`, opened (again) if it is not open or the name now points elsewhere.
    fn open_file(&mut self, file: LogFile) -> std::io::Result<&mut Open> {
        let path = self.path(file);
        let slot = &mut self.open[file.index()];
        let still_there = match (slot.as_ref(), identity_of_path(&path)) {
            (Some(open), Some(id)) => open.identity == id,
            _ => false,
        };
        if !still_there {
            let f = open_append(&path)?;
            let meta = f.metadata()?;
            *slot = Some(Open { identity: identity_of_file(&meta), size: meta.len(), file: f });
        }
        slot.as_mut().ok_or_else(|| std::io::Error::other("log file not open"))
    }

    /// `name.log` → `name.lbk`, and an older `name.lbk` → `name_YYYYMMDD_N.lbk`.
    fn rotate(&mut self, file: LogFile, settings: &LogSettings) -> std::io::Result<()> {
        self.open[file.index()] = None;
        let name = file.name();
        let lbk = self.folder.join(format!("{name}.lbk"));
        if let Ok(meta) = std::fs::metadata(&lbk) {
            let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
            let secs = modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            let (y, m, d) = timefmt::local_date(secs);
            let mut n = 1;
            let dated = loop {
                let candidate = self.folder.join(format!("{name}_{y:04}{m:02}{d:02}_{n}.lbk"));
                if !candidate.exists() {
                    break candidate;
                }
                n += 1;
            };
            std::fs::rename(&lbk, &dated)?;
        }
        std::fs::rename(self.path(file), &lbk)?;
        apply_retention(&self.folder, &settings.retention, SystemTime::now());
        self.last_retention = Some((Instant::now(), settings.retention, self.folder.clone()));
        Ok(())
    }
}

impl Sink for FileSink {
    fn write(&mut self, file: LogFile, bytes: &[u8], settings: &LogSettings) -> std::io::Result<()> {
        self.ensure_folder(settings)?;
        self.housekeeping(settings)?;
        let max = file.max_size(settings);
        let size = self.open_file(file)?.size;
        if size > 0 && size + bytes.len() as u64 > max {
            self.rotate(file, settings)?;
        }
        let open = self.open_file(file)?;
        let start = open.size;
        match open.file.write_all(bytes) {
            Ok(()) => {
                open.size += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut back what went in, so the retry writes the whole burst once.
                let _ = open.file.set_len(start);
                self.open[file.index()] = None;
                Err(e)
            }
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A log file is never written through a symbolic link someone planted in the log folder.
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64);

#[cfg(unix)]
fn identity_of_file(meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Identity(meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity_of_file(meta: &std::fs::Metadata) -> Identity {
    // Without inode numbers, a file that shrank was replaced.
    Identity(0, meta.created().ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64))
}

fn identity_of_path(path: &Path) -> Option<Identity> {
    std::fs::metadata(path).ok().map(|m| identity_of_file(&m))
}

/// An old log file in the folder.
#[derive(Debug, Clone)]
pub struct OldFile {
    pub path: PathBuf,
    pub log: LogFile,
    pub modified: SystemTime,
    pub size: u64,
    /// `name_YYYYMMDD_N.lbk` (true) or `name.lbk`.
    pub dated: bool,
}

/// The old files of every log, oldest first, and the bytes all log files (current and old) take.
pub fn old_files(folder: &Path) -> (Vec<OldFile>, u64) {
    let mut old = Vec::new();
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(folder) else { return (old, 0) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let Some((log, dated)) = classify(&name) else { continue };
        total += meta.len();
        if let Some(dated) = dated {
            old.push(OldFile {
                path: entry.path(),
                log,
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                size: meta.len(),
                dated,
            });
        }
    }
    old.sort_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.path.cmp(&b.path)));
    (old, total)
}

/// Which log a file name belongs to: `(log, None)` for `name.log`, `(log, Some(false))` for `name.lbk`,
/// `(log, Some(true))` for `name_YYYYMMDD_N.lbk`. Other files are not ours.
fn classify(file_name: &str) -> Option<(LogFile, Option<bool>)> {
    if let Some(base) = file_name.strip_suffix(".log") {
        return LogFile::ALL.into_iter().find(|f| f.name() == base).map(|f| (f, None));
    }
    let base = file_name.strip_suffix(".lbk")?;
    if let Some(f) = LogFile::ALL.into_iter().find(|f| f.name() == base) {
        return Some((f, Some(false)));
    }
    let (rest, n) = base.rsplit_once('_')?;
    let (name, date) = rest.rsplit_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if date.len() != 8 || !digits(date) || !digits(n) {
        return None;
    }
    LogFile::ALL.into_iter().find(|f| f.name() == name).map(|f| (f, Some(true)))
}

/// The keep rule, then the disk-use cap (dated files oldest first, then `name.lbk` files).
pub fn apply_retention(folder: &Path, rules: &RetentionSettings, now: SystemTime) {
    let (old, mut total) = old_files(folder);
    let mut kept = Vec::with_capacity(old.len());
    match rules.keep_by {
        KeepBy::Count => {
            for log in LogFile::ALL {
                let mine: Vec<&OldFile> = old.iter().filter(|o| o.log == log && o.dated).collect();
                let excess = mine.len().saturating_sub(rules.keep_count as usize);
                for o in &mine[..excess] {
                    if std::fs::remove_file(&o.path).is_ok() {
                        total = total.saturating_sub(o.size);
                    }
                }
            }
            let (after, _) = old_files(folder);
            kept = after;
        }
        KeepBy::Days => {
            let limit = now.checked_sub(Duration::from_secs(u64::from(rules.keep_days) * 86_400)).unwrap_or(SystemTime::UNIX_EPOCH);
            for o in old {
                if o.dated && o.modified < limit {
                    if std::fs::remove_file(&o.path).is_ok() {
                        total = total.saturating_sub(o.size);
                    }
                } else {
                    kept.push(o);
                }
            }
        }
    }
    let cap = u64::from(rules.max_total_mb) * 1024 * 1024;
    let mut order: Vec<&OldFile> = kept.iter().filter(|o| o.dated).chain(kept.iter().filter(|o| !o.dated)).collect();
    order.reverse();
    while total > cap {
        let Some(o) = order.pop() else { break };
        if std::fs::remove_file(&o.path).is_ok() {
            total = total.saturating_sub(o.size);
        }
    }
}

/// Deletes old files, oldest first, while the disk has less than the minimum free space. Err says why
/// writing must wait when even that is not enough.
fn ensure_free_space(folder: &Path, rules: &RetentionSettings) -> Result<(), LowDisk> {
    let min = u64::from(rules.min_free_mb) * 1024 * 1024;
    let Ok(mut free) = crate::paths::free_space(folder) else { return Ok(()) };
    if free >= min {
        return Ok(());
    }
    let (old, _) = old_files(folder);
    let mut order: Vec<&OldFile> = old.iter().filter(|o| o.dated).chain(old.iter().filter(|o| !o.dated)).collect();
    order.reverse();
    while free < min {
        let Some(o) = order.pop() else { break };
        let _ = std::fs::remove_file(&o.path);
        free = crate::paths::free_space(folder).unwrap_or(free);
    }
    if free >= min {
        Ok(())
    } else {
        Err(LowDisk { free_mb: free / (1024 * 1024), folder: folder.to_path_buf(), min_free_mb: rules.min_free_mb })
    }
}

/// The log folder's disk has less free space than the retention rules keep, even after deleting old logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only {free_mb} MB free on the disk of {} (the minimum kept free is {min_free_mb} MB); log lines wait in memory", folder.display())]
pub struct LowDisk {
    free_mb: u64,
    folder: PathBuf,
    min_free_mb: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_classified() {
        assert_eq!(classify("postroom.log").map(|c| c.0), Some(LogFile::Postroom));
        assert_eq!(classify("smtpsvr.lbk"), Some((LogFile::Smtpsvr, Some(false))));
        assert_eq!(classify("errors_20261124_3.lbk"), Some((LogFile::Errors, Some(true))));
        assert_eq!(classify("errors_2026112_3.lbk"), None);
        assert_eq!(classify("notes.txt"), None);
        assert_eq!(classify("other_20261124_1.lbk"), None);
    }
}
