//! The runtime at the head of Postroom's AppImage (built by `scripts/appimage.sh`): an ELF program with a
//! SquashFS image of the AppDir appended to it, the AppImage "type 2" layout (the magic `AI\x02` at byte
//! 8 of the ELF header; the image starts where the ELF's section headers end).
//!
//! Run as `Postroom.AppImage [ARGS]`, it unpacks the image once per version into the user's cache
//! (`$XDG_CACHE_HOME/postroom/appimage/<key>`, folders 0700) and runs its `AppRun` with ARGS, setting
//! `APPIMAGE`, `APPDIR`, `ARGV0` and `OWD` as AppImage runtimes do. Later starts find the unpacked copy
//! and start at once. Copies of other versions that no running process uses are removed.
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
    file.seek(SeekFrom::Start(at)).and_then(|_| file.read_exact(&mut magic)).map_err(|_| "no SquashFS image follows the runtime".to_string())?;
    if &magic != b"hsqs" {
        return Err("no SquashFS image follows the runtime (was the AppImage cut short?)".into());
    }
    Ok(at)
}

/// A name for this image's contents: FNV-1a over its SquashFS superblock, which holds the image's size,
/// creation time and the offsets of every table, so two different images do not share it.
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
    for node in system.files() {
        let relative = inside(&node.fullpath)?;
        if relative.as_os_str().is_empty() || only.is_some_and(|o| !relative.starts_with(o)) {
            continue;
        }
        let out = dest.join(&relative);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        // No set-user-ID or set-group-ID bit leaves the image.
        let mode = u32::from(node.header.permissions) & 0o777;
        let written = match &node.inner {
            InnerNode::Dir(_) => {
                modes.push((out.clone(), mode));
                match DirBuilder::new().mode(0o700).create(&out) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && out.is_dir() => Ok(()),
                    other => other,
                }
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
    Ok(root)
}

/// This version unpacked in the cache: found, or unpacked now (into a hidden folder renamed into place,
/// so that a half-unpacked copy is never run). Then other versions nobody runs are removed.
fn unpacked(image: &Path) -> Result<PathBuf, String> {
    let root = cache_root()?;
    let key = key(image, offset(image)?)?;
    let dir = root.join(&key);
    if !dir.join("AppRun").exists() {
        eprintln!("Postroom: unpacking the AppImage into {} (once for this version)", dir.display());
        let partial = root.join(format!(".{key}.{}", std::process::id()));
        let _ = fs::remove_dir_all(&partial);
        if let Err(e) = extract(image, &partial, None) {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
        if let Err(e) = fs::rename(&partial, &dir) {
            let _ = fs::remove_dir_all(&partial);
            // Another start of the same AppImage got there first.
            if !dir.join("AppRun").exists() {
                return Err(format!("cannot move the unpacked AppImage into {}: {e}", dir.display()));
            }
        }
    }
    remove_unused(&root, &key);
    Ok(dir)
}

/// Removes other versions' copies (and half-unpacked folders) that no process runs from: no process's
/// program or working folder is inside them.
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
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let trimmed = name.trim_start_matches('.');
        if trimmed == keep || trimmed.starts_with(&format!("{keep}.")) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if !in_use.iter().any(|p| p.starts_with(&path)) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The command that runs the unpacked AppImage's AppRun with the AppImage's environment.
fn app_run(image: &Path, dir: &Path, args: Vec<OsString>) -> Command {
    let mut command = Command::new(dir.join("AppRun"));
    command.args(args).env("APPIMAGE", image).env("APPDIR", dir).env("ARGV0", std::env::args_os().next().unwrap_or_default());
    if let Ok(here) = std::env::current_dir() {
        command.env("OWD", here);
    }
    command
}

/// `--appimage-extract-and-run`: a private temporary copy, run, then removed.
fn extract_and_run(image: &Path, args: Vec<OsString>) -> Result<i32, String> {
    let key = key(image, offset(image)?)?;
    let dir = std::env::temp_dir().join(format!("appimage_extracted_{key}.{}", std::process::id()));
    let result = extract(image, &dir, None).and_then(|_| {
        app_run(image, &dir, args).status().map_err(|e| format!("cannot start {}: {e}", dir.join("AppRun").display()))
    });
    let _ = fs::remove_dir_all(&dir);
    let status = result?;
    Ok(status.code().unwrap_or(1))
}
