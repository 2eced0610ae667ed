//! What the desktop app gives back when its last window closes, so that Postroom in the tray costs what
//! the mail server costs, not what a browser costs (the bar: under 60 MB PSS with the engine serving).
//!
//! The window's WebKitWebProcess exits with its webview. Three things would stay:
//! - **the WebKitNetworkProcess**, which WebKit keeps for the app's web context (about 30 MB): it is
//!   asked to end (SIGTERM); WebKit starts a new one with the next window, as it does after a crash;
//! - **freed heap** that glibc keeps for reuse: `malloc_trim` returns it;
//! - **resident pages of the libraries the window used** (WebKit, JavaScriptCore, GTK, Mesa's LLVM —
//!   some 60 MB, most of the process's PSS): the pages of read-only file mappings that hold no private
//!   copy (`Anonymous: 0` in smaps, so exactly the file's bytes) are dropped from this process with
//!   `MADV_DONTNEED`. They stay in the page cache, so a page touched again (the tray, the engine, the
//!   next window) comes straight back from memory. This is what Windows does to a minimised program's
//!   working set. Writable mappings and anything anonymous (heap, JIT code, the engine's data) are never
//!   touched.
//!
//! While a window is open, [`lean_webviews`] keeps WebKit from compositing on the GPU and from JIT-compiling
//! the UI's script, and [`after_window_loaded`] drops the clean library pages start-up touched (5 s after a
//! window opens, then every 30 s while one is open), so that
//! a window open costs under 200 MB PSS in all (it was 315).
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

/// Once a window has loaded: the pages its start-up touched (GTK, WebKit, the engine's start) that are
/// clean file pages go back to the page cache; those still in use come back at once.
pub fn after_window_loaded() -> u64 {
    #[cfg(target_os = "linux")]
    return drop_clean_file_pages();
    #[allow(unreachable_code)]
    0
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
        return drop_clean_file_pages();
    }
    #[allow(unreachable_code)]
    0
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

/// One mapping of /proc/self/smaps that may be dropped.
#[cfg(target_os = "linux")]
#[derive(Debug, PartialEq)]
struct Clean {
    start: usize,
    end: usize,
    resident_kb: u64,
}

/// The read-only, file-backed, private mappings without private copies, from smaps' text.
#[cfg(target_os = "linux")]
fn clean_mappings(smaps: &str) -> Vec<Clean> {
    let mut out = Vec::new();
    let mut current: Option<(Clean, bool)> = None;
    let mut anonymous = 0u64;
    let finish = |current: &mut Option<(Clean, bool)>, anonymous: u64, out: &mut Vec<Clean>| {
        if let Some((clean, eligible)) = current.take() {
            if eligible && anonymous == 0 && clean.resident_kb > 0 {
                out.push(clean);
            }
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if first.ends_with(':') {
            let value: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match first {
                "Rss:" => {
                    if let Some((clean, _)) = current.as_mut() {
                        clean.resident_kb = value;
                    }
                }
                "Anonymous:" => anonymous = value,
                _ => {}
            }
            continue;
        }
        // A mapping's header: "start-end perms offset dev inode path".
        finish(&mut current, anonymous, &mut out);
        anonymous = 0;
        let perms = fields.next().unwrap_or("");
        let _offset = fields.next();
        let _device = fields.next();
        let inode = fields.next().unwrap_or("0");
        let path = fields.next().unwrap_or("");
        let Some((start, end)) = first.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else { continue };
        let eligible = (perms == "r-xp" || perms == "r--p") && inode != "0" && path.starts_with('/');
        current = Some((Clean { start, end, resident_kb: 0 }, eligible));
    }
    finish(&mut current, anonymous, &mut out);
    out
}

/// Drops the resident pages of [`clean_mappings`] from this process.
#[cfg(target_os = "linux")]
fn drop_clean_file_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
    let mut released = 0;
    for m in clean_mappings(&smaps) {
        // SAFETY: the range is a whole mapping of this process, read-only and backed by a file with no
        // private (copied-on-write) page, so every page dropped reads back identical from the file.
        let ok = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) } == 0;
        if ok {
            released += m.resident_kb;
        }
    }
    released
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_file_mappings_without_private_copies_are_dropped() {
        let smaps = "\
55d0a0000000-55d0a0001000 r--p 00000000 08:01 123 /usr/bin/postroom
Rss:                   4 kB
Anonymous:             0 kB
55d0a0001000-55d0a0003000 r-xp 00001000 08:01 123 /usr/bin/postroom
Rss:                   8 kB
Anonymous:             0 kB
55d0a0003000-55d0a0004000 r--p 00003000 08:01 123 /usr/bin/postroom
Rss:                   4 kB
Anonymous:             4 kB
55d0a0004000-55d0a0005000 rw-p 00004000 08:01 123 /usr/bin/postroom
Rss:                   4 kB
Anonymous:             0 kB
7f0000000000-7f0000100000 r-xp 00000000 00:00 0 
Rss:                  64 kB
Anonymous:            64 kB
7f0000100000-7f0000200000 r-xp 00000000 08:01 456 /usr/lib/libwebkit.so
Rss:                   0 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 08:01 789 /usr/lib/libLLVM.so
Rss:                 512 kB
Anonymous:             0 kB
";
        let found = clean_mappings(smaps);
        let starts: Vec<usize> = found.iter().map(|m| m.start).collect();
        assert_eq!(
            starts,
            vec![0x55d0a0000000, 0x55d0a0001000, 0x7f0000200000],
            "relocated (Anonymous), writable, anonymous (JIT) and non-resident mappings are left alone"
        );
        assert_eq!(found[2].resident_kb, 512);
    }
}
