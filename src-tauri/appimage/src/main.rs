//! The runtime at the head of Postroom's AppImage (built by `scripts/appimage.sh`): an ELF program with a
//! SquashFS image of the AppDir appended to it, the AppImage "type 2" layout (the magic `AI\x02` at byte
//! 8 of the ELF header; the image starts where the ELF's section headers end).
//!
//! Run as `Postroom.AppImage [ARGS]`, it unpacks the image once per version into the user's cache
//! (`$XDG_CACHE_HOME/postroom/appimage/<key>`; that folder and each version's are 0700, and the cache
//! folder must be the user's own and writable by nobody else) and runs its `AppRun` with ARGS, setting
//! `APPIMAGE`, `APPDIR`, `ARGV0` and `OWD` as AppImage runtimes do. Later starts find the unpacked copy
//! and start at once. Copies of other versions that no running process uses are removed. A lock file in
//! the cache folder keeps two starts from unpacking or removing at the same time.
//!
//! Why unpack instead of mounting with FUSE, as the reference runtime does: the reference runtime comes
//! from GitHub, which this project's build machines cannot reach, and mounting needs FUSE on the user's
//! computer, which many distributions no longer ship in the version AppImages need. Unpacking once is
//! what the reference runtime's `--appimage-extract-and-run` does every time; here it is kept.
//!
//! The AppImage options: `--appimage-extract [PATH]` (into ./squashfs-root), `--appimage-extract-and-run`
//! (a temporary copy, removed after), `--appimage-offset`, `--appimage-version`, `--appimage-help`.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use backhand::{FilesystemReader, InnerNode};

const HELP: &str = "\
Postroom's AppImage. Run it to start Postroom; the arguments go to Postroom
(`Postroom.AppImage postroomd ARGS` runs the headless server instead).

  --appimage-extract [PATH]     unpack the image (or only PATH in it) into ./squashfs-root
  --appimage-extract-and-run    unpack into a temporary folder, run, and remove it afterwards
  --appimage-offset             print where the SquashFS image starts in this file
  --appimage-version            print the version
  --appimage-help               print this

The first start unpacks the image into $XDG_CACHE_HOME/postroom/appimage (about 200 MB).";

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Postroom AppImage: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32, String> {
    let image = std::env::current_exe().map_err(|e| format!("cannot find this AppImage: {e}"))?;
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let option = args.first().and_then(|a| a.to_str()).map(str::to_owned);
    match option.as_deref() {
        Some("--appimage-help") => println!("{HELP}"),
        Some("--appimage-version") => println!("{}", env!("CARGO_PKG_VERSION")),
        Some("--appimage-offset") => println!("{}", offset(&image)?),
        Some("--appimage-extract") => {
            let only = args.get(1).map(PathBuf::from);
            let dest = PathBuf::from("squashfs-root");
            let count = extract(&image, &dest, only.as_deref())?;
            println!("{count} entries unpacked into {}", dest.display());
        }
        Some("--appimage-extract-and-run") => {
            args.remove(0);
            return extract_and_run(&image, args);
        }
        Some(o) if o.starts_with("--appimage-") => return Err(format!("unknown option {o} (see --appimage-help)")),
        _ => {
            let dir = unpacked(&image)?;
            let error = app_run(&image, &dir, args).exec();
            return Err(format!("cannot start {}: {error}", dir.join("AppRun").display()));
        }
    }
    Ok(0)
}

/// Where the SquashFS image starts: the end of the ELF's section header table, which is the end of the
/// runtime program (the linker puts that table last).
fn offset(image: &Path) -> Result<u64, String> {
    let mut head = [0u8; 64];
    let mut file = File::open(image).map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    file.read_exact(&mut head).map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Err(format!("{} is not a 64-bit little-endian ELF file", image.display()));
    }
    let section_headers = u64::from_le_bytes(head[0x28..0x30].try_into().expect("8 bytes"));
    let entry_size = u64::from(u16::from_le_bytes([head[0x3a], head[0x3b]]));
    let entries = u64::from(u16::from_le_bytes([head[0x3c], head[0x3d]]));
    let at = section_headers + entry_size * entries;
    let mut magic = [0u8; 4];
    let damaged = "no SquashFS image follows the runtime: the AppImage is damaged or cut short";
    file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut magic)).map_err(|_| damaged.to_string())?;
    if &magic != b"hsqs" {
        return Err(damaged.into());
    }
    Ok(at)
}

/// A name for this image's contents: the version and FNV-1a over its SquashFS superblock, which holds
/// the image's size, creation time and the offsets of every table, so two different builds of one
/// version are all but certain to differ.
fn key(image: &Path, at: u64) -> Result<String, String> {
    let mut superblock = [0u8; 96];
    let mut file = File::open(image).map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut superblock)).map_err(|e| format!("cannot read the image: {e}"))?;
    let hash = superblock.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    Ok(format!("{}-{hash:016x}", env!("CARGO_PKG_VERSION")))
}

/// Unpacks the image into `dest` (which must not exist yet); `only`: just that path and what is under
/// it. Returns how many entries were written.
fn extract(image: &Path, dest: &Path, only: Option<&Path>) -> Result<usize, String> {
    let at = offset(image)?;
    let file = File::open(image).map_err(|e| format!("cannot read {}: {e}", image.display()))?;
    let system = FilesystemReader::from_reader_with_offset(BufReader::new(file), at).map_err(|e| format!("the AppImage is damaged: {e}"))?;
    DirBuilder::new().mode(0o700).create(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut count = 0;
    // Directories are made writable while their contents are written and get their own mode at the end.
    let mut modes = Vec::new();
    // Every entry goes into a folder this run made (or `dest`): never through a link in the image.
    let mut made: std::collections::HashSet<PathBuf> = [dest.to_path_buf()].into();
    for node in system.files() {
        let relative = inside(&node.fullpath)?;
        if relative.as_os_str().is_empty() || only.is_some_and(|o| !relative.starts_with(o)) {
            continue;
        }
        let out = dest.join(&relative);
        // With `only`, the folders above the first entries wanted are made here.
        let mut missing = Vec::new();
        let mut parent = out.parent();
        while let Some(p) = parent.filter(|p| !made.contains(*p)) {
            missing.push(p.to_path_buf());
            parent = p.parent();
        }
        for dir in missing.into_iter().rev() {
            if !dir.starts_with(dest) || fs::symlink_metadata(&dir).is_ok() {
                return Err(format!("the AppImage is damaged: {} is not a folder of its own", dir.display()));
            }
            DirBuilder::new().mode(0o700).create(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            made.insert(dir);
        }
        // No set-user-ID or set-group-ID bit leaves the image.
        let mode = u32::from(node.header.permissions) & 0o777;
        let written = match &node.inner {
            InnerNode::Dir(_) => {
                modes.push((out.clone(), mode));
                let made_now = made.contains(&out) || DirBuilder::new().mode(0o700).create(&out).is_ok();
                made.insert(out.clone());
                if made_now { Ok(()) } else { Err(io::Error::other("it is there already")) }
            }
            InnerNode::File(f) => OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode | 0o600)
                // Never written through a link.
                .custom_flags(libc::O_NOFOLLOW)
                .open(&out)
                .and_then(|mut w| io::copy(&mut system.file(f).reader(), &mut w))
                .and_then(|_| fs::set_permissions(&out, fs::Permissions::from_mode(mode))),
            InnerNode::Symlink(link) => symlink(&link.link, &out),
            // Devices, pipes and sockets have no place in an application's files.
            _ => continue,
        };
        written.map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        count += 1;
    }
    for (dir, mode) in modes.into_iter().rev() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700)).map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
    }
    Ok(count)
}

/// A path in the image as a relative path with only plain names (the image's own root is "").
fn inside(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            _ => return Err(format!("the AppImage is damaged: the path {} leaves the image", path.display())),
        }
    }
    Ok(out)
}

/// The folder under the user's cache (made 0700) where unpacked versions are kept.
fn cache_root() -> Result<PathBuf, String> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set, so there is nowhere to unpack (try --appimage-extract-and-run)")?;
    let root = base.join("postroom").join("appimage");
    DirBuilder::new().recursive(true).mode(0o700).create(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    // The real path: processes' program paths (which remove_unused compares) are real paths too.
    let root = fs::canonicalize(&root).map_err(|e| format!("cannot find {}: {e}", root.display()))?;
    let meta = fs::metadata(&root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if std::os::unix::fs::MetadataExt::uid(&meta) != me || meta.permissions().mode() & 0o022 != 0 {
        return Err(format!("{} must be your own folder, writable by nobody else (programs are run from it)", root.display()));
    }
    Ok(root)
}

/// The cache's lock, held while a version is unpacked or others removed (released when dropped).
fn lock(root: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(root.join(".lock"))
        .map_err(|e| format!("cannot open the cache's lock: {e}"))?;
    // SAFETY: flock on an open descriptor; it waits for a concurrent start to finish.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
        return Err(format!("cannot lock the cache: {}", io::Error::last_os_error()));
    }
    Ok(file)
}

/// This version unpacked in the cache: found, or unpacked now (into a hidden folder renamed into place,
/// so that a half-unpacked copy is never run). Then other versions nobody runs are removed.
fn unpacked(image: &Path) -> Result<PathBuf, String> {
    let root = cache_root()?;
    let key = key(image, offset(image)?)?;
    let dir = root.join(&key);
    let _lock = lock(&root)?;
    if !dir.join("AppRun").exists() {
        eprintln!("Postroom: unpacking the AppImage into {} (once for this version)", dir.display());
        let partial = root.join(format!(".{key}.{}", std::process::id()));
        if let Err(e) = extract(image, &partial, None).and_then(|_| {
            fs::rename(&partial, &dir).map_err(|e| format!("cannot move the unpacked AppImage into {}: {e}", dir.display()))
        }) {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    }
    remove_unused(&root, &key);
    Ok(dir)
}

/// Removes other versions' copies that no process runs from (no process's program or working folder
/// is inside them), and folders left half-unpacked or half-removed by a start that died. A copy is
/// renamed aside before it is removed, so an interrupted removal never leaves a copy that looks whole.
/// Called with the cache's lock held.
fn remove_unused(root: &Path, keep: &str) {
    let Ok(entries) = fs::read_dir(root) else { return };
    let in_use: Vec<PathBuf> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .flat_map(|e| [fs::read_link(e.path().join("exe")), fs::read_link(e.path().join("cwd"))])
        .flatten()
        .collect();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // symlink_metadata's type: a link is never followed, nor removed as if it were a folder.
        if name == keep || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // Hidden folders are unpackings and removals in progress (".KEY.PID", ".trash.PID"): theirs
        // while their process lives; the lock means no live one is this start's concern otherwise.
        if let Some(hidden) = name.strip_prefix('.') {
            let pid = hidden.rsplit('.').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
            let _ = fs::remove_dir_all(&path);
            continue;
        }
        if !in_use.iter().any(|p| p.starts_with(&path)) {
            let trash = root.join(format!(".trash.{}", std::process::id()));
            if fs::rename(&path, &trash).is_ok() {
                let _ = fs::remove_dir_all(&trash);
            }
        }
    }
}

/// The command that runs the unpacked AppImage's AppRun with the AppImage's environment.
fn app_run(image: &Path, dir: &Path, args: Vec<OsString>) -> Command {
    let mut command = Command::new(dir.join("AppRun"));
    command.args(args).env("APPIMAGE", image).env("APPDIR", dir).env("ARGV0", std::env::args_os().next().unwrap_or_default());
    // Where the user started it; kept when Postroom restarts itself (from inside the unpacked copy).
    if std::env::var_os("OWD").is_none() {
        if let Ok(here) = std::env::current_dir() {
            command.env("OWD", here);
        }
    }
    command
}

/// `--appimage-extract-and-run`: a private temporary copy, run, then removed.
fn extract_and_run(image: &Path, args: Vec<OsString>) -> Result<i32, String> {
    let key = key(image, offset(image)?)?;
    let dir = std::env::temp_dir().join(format!("appimage_extracted_{key}.{}", std::process::id()));
    // Ctrl+C reaches Postroom (the terminal's whole group gets it); this process stays to clean up.
    // SAFETY: setting a signal's disposition; the child gets the default back before it runs.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let result = extract(image, &dir, None).and_then(|_| {
        let mut command = app_run(image, &dir, args);
        // SAFETY: only an async-signal-safe call between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        command.status().map_err(|e| format!("cannot start {}: {e}", dir.join("AppRun").display()))
    });
    let _ = fs::remove_dir_all(&dir);
    let status = result?;
    Ok(status.code().unwrap_or(1))
}
