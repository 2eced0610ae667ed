//! What the desktop app gives back when its last window closes, so that Postroom in the tray costs what
//! the mail server costs, not what a browser costs (the bar: under 60 MB PSS with the engine serving).
//!
//! The window's WebKitWebProcess exits with its webview. Three things would stay:
//! - **the WebKitNetworkProcess**, which WebKit keeps for the app's web context (about 30 MB): it is
//!   asked to end (SIGTERM); WebKit starts a new one with the next window, as it does after a crash;
//! - **freed heap** that glibc keeps for reuse: `malloc_trim` returns it;
//! - **resident pages of the libraries the window used** (WebKit, JavaScriptCore, GTK, Mesa's LLVM —
//!   some 60 MB, most of the process's PSS): the clean pages of the program's and its libraries'
//!   read-only segments are dropped from this process (`postroom-pagetrim`). They stay in the page
//!   cache, so a page touched again (the tray, the engine, the next window) comes straight back from
//!   memory. This is what Windows does to a minimised program's working set.
//!
//! While a window is open, [`lean_webviews`] keeps WebKit from compositing on the GPU and from JIT-compiling
//! the UI's script, and [`after_window_loaded`] drops the clean library pages start-up touched (5 s after a
//! window opens, then every 30 s while one is open). Each window's WebKitWebProcess does the same for
//! itself through the web process extension in [`web_extension_dir`] (`src-tauri/webext`): its start-up
//! touches some 35 MB of Mesa's LLVM under software GL that it never runs again. A window open costs
//! some 166 MB PSS in all (it was 315; the bar is 200).
//!
//! Linux only; elsewhere the functions do nothing but the heap trim where there is one.

/// Asks WebKit for lean windows, before any exists: the settings windows are forms, so no GPU
/// compositing (under software GL it alone costs the web process some 100 MB) and no JavaScript JIT (the
/// interpreter runs a form's script well enough; the JIT's code pools cost several MB). An admin's own
/// setting of either variable wins.
pub fn lean_webviews() {
    for (name, value) in [("WEBKIT_DISABLE_COMPOSITING_MODE", "1"), ("JSC_useJIT", "0")] {
        if std::env::var_os(name).is_none() {
            // SAFETY (edition 2021: set_var is safe, but not thread-safe): called first thing in main's
            // thread, before the engine, GTK or WebKit start any other thread.
            std::env::set_var(name, value);
        }
    }
}

/// The web process extension's file name (the `postroom-webext` crate, a cdylib).
#[cfg(target_os = "linux")]
const WEB_EXTENSION: &str = "libpostroom_webext.so";

/// The folder WebKit loads web process extensions from, holding only Postroom's ([`WEB_EXTENSION`]), so
/// that each window's web process hands its clean library pages back as this process does. `None` when
/// it is not there (a build without it): the windows work as before, only heavier.
pub fn web_extension_dir() -> Option<std::path::PathBuf> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let found = std::env::current_exe().ok().and_then(|exe| find_web_extension(&exe));
        if found.is_none() {
            tracing::debug!(target: "desktop", "no web process extension beside the program; windows keep their start-up pages");
        }
        found
    })
    .clone()
}

/// Installed (.deb, .rpm, AppImage): `<prefix>/lib/postroom/webkit/` beside `<prefix>/bin/postroom`.
/// Built from source: cargo leaves the library beside the program, among other files, and WebKit loads
/// every module of the folder it is given, so the library is copied into a folder of its own there.
#[cfg(target_os = "linux")]
fn find_web_extension(exe: &std::path::Path) -> Option<std::path::PathBuf> {
    let bin = exe.parent()?;
    let installed = bin.parent()?.join("lib/postroom/webkit");
    if installed.join(WEB_EXTENSION).is_file() {
        return Some(installed);
    }
    let built = bin.join(WEB_EXTENSION);
    let meta = std::fs::metadata(&built).ok()?;
    let dir = bin.join("webkit-extension");
    let copy = dir.join(WEB_EXTENSION);
    let current = std::fs::metadata(&copy)
        .is_ok_and(|c| c.len() == meta.len() && c.modified().ok() >= meta.modified().ok());
    if !current {
        // Copied under a temporary name and renamed, so that a web process never loads half a file.
        let partial = dir.join(format!(".{WEB_EXTENSION}.{}", std::process::id()));
        let copied = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::copy(&built, &partial))
            .and_then(|_| std::fs::rename(&partial, &copy));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            tracing::warn!(target: "desktop", error = %e, dir = %dir.display(), "cannot set up the web process extension");
            return None;
        }
    }
    Some(dir)
}

#[cfg(not(target_os = "linux"))]
fn find_web_extension(_exe: &std::path::Path) -> Option<std::path::PathBuf> {
    None
}

/// Once a window has loaded: the pages its start-up touched (GTK, WebKit, the engine's start) that are
/// clean file pages go back to the page cache; those still in use come back at once.
pub fn after_window_loaded() -> u64 {
    postroom_pagetrim::drop_clean_file_pages()
}

/// Releases what the windows held; returns the kilobytes of resident pages given back (an estimate).
pub fn release_window_memory() -> u64 {
    #[cfg(target_os = "linux")]
    {
        end_network_process();
        // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
    }
    postroom_pagetrim::drop_clean_file_pages()
}

/// Sends SIGTERM to this process's WebKitNetworkProcess children.
#[cfg(target_os = "linux")]
fn end_network_process() {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let parent = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        let name = head.split_once('(').map_or("", |(_, n)| n);
        if parent == Some(me) && name.starts_with("WebKitNetworkPr") {
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
}
