//! Hands a process's clean library pages back to the page cache: the resident pages of its read-only,
//! file-backed, private mappings that hold no private copy (`Anonymous: 0` in smaps, so exactly the
//! file's bytes) are dropped from the process with `MADV_DONTNEED`. They stay in the page cache, so a page
//! touched again comes straight back from memory; what is not touched again (a library's start-up code,
//! Mesa's LLVM initialising itself) stops counting against the process. Writable mappings and anything
//! anonymous (heap, JIT code, relocated data) are never touched.
//!
//! Used by the desktop app (`src-tauri/src/memory.rs`) and by its WebKit web processes through the web
//! process extension (`src-tauri/webext`). A leaf: depends on nothing of Postroom's.
//!
//! Linux only; elsewhere [`drop_clean_file_pages`] does nothing.

/// Drops the resident pages of this process's clean file mappings; returns the kilobytes that were
/// resident in them (an estimate of what was given back: pages in use come back at once).
pub fn drop_clean_file_pages() -> u64 {
    #[cfg(target_os = "linux")]
    return linux::drop_clean_file_pages();
    #[allow(unreachable_code)]
    0
}

#[cfg(target_os = "linux")]
mod linux {
    /// One mapping of /proc/self/smaps that may be dropped.
    #[derive(Debug, PartialEq)]
    struct Clean {
        start: usize,
        end: usize,
        resident_kb: u64,
    }

    /// The read-only, file-backed, private mappings without private copies, from smaps' text.
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
    pub(super) fn drop_clean_file_pages() -> u64 {
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

    #[cfg(test)]
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

        /// The resident kilobytes of this process's mapping that starts at `start`.
        fn resident_kb(start: usize) -> u64 {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let header = format!("{start:x}-");
            let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
            lines.find_map(|l| l.strip_prefix("Rss:")).map(|v| v.trim().trim_end_matches(" kB").parse().unwrap()).unwrap()
        }

        #[test]
        fn clean_pages_leave_the_process_and_read_back_the_same_while_private_copies_are_kept() {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            const LEN: usize = 64 * 4096;
            let path = std::env::temp_dir().join(format!("pagetrim-{}", std::process::id()));
            let bytes: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            // SAFETY: fresh mappings of a file this test owns, unmapped at the end; the pointers are
            // only read within LEN, and written only where mapped writable.
            unsafe {
                let map = |prot| libc::mmap(std::ptr::null_mut(), LEN, prot, libc::MAP_PRIVATE, file.as_raw_fd(), 0);
                let clean = map(libc::PROT_READ);
                // Like a library's relocated data: written once, then made read-only.
                let relocated = map(libc::PROT_READ | libc::PROT_WRITE);
                assert!(clean != libc::MAP_FAILED && relocated != libc::MAP_FAILED);
                *(relocated as *mut u8) = 0xAB;
                assert_eq!(libc::mprotect(relocated, LEN, libc::PROT_READ), 0);
                let clean_slice = std::slice::from_raw_parts(clean as *const u8, LEN);
                assert_eq!(clean_slice, &bytes[..], "read once, so every page is resident");
                assert_eq!(resident_kb(clean as usize), (LEN / 1024) as u64);

                let given_back = drop_clean_file_pages();

                assert!(given_back >= (LEN / 1024) as u64, "{given_back} kB given back");
                assert_eq!(resident_kb(clean as usize), 0, "the clean mapping holds no page now");
                assert_eq!(*(relocated as *const u8), 0xAB, "the private copy is kept");
                assert!(resident_kb(relocated as usize) > 0);
                assert_eq!(clean_slice, &bytes[..], "the pages read back from the page cache unchanged");
                libc::munmap(clean, LEN);
                libc::munmap(relocated, LEN);
            }
            std::fs::remove_file(&path).unwrap();
        }
    }
}
