//! Hands a process's clean library pages back to the page cache: the resident pages of the program's
//! and its loaded libraries' non-writable segments (code, read-only data) are dropped from the process
//! with `MADV_DONTNEED`, where smaps shows their mapping holds no private copy (`Anonymous: 0` and
//! `Swap: 0`, so exactly the file's bytes). They stay in the page cache, so a page touched again comes
//! straight back from memory; what is not touched again (a library's start-up code, Mesa's LLVM
//! initialising itself) stops counting against the process. Writable segments, relocated data, heap,
//! JIT code and files mapped by other means are never touched, and nothing is dropped while a library
//! is being loaded or unloaded (the work happens under the dynamic loader's lock).
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

    /// The read-only, file-backed, private mappings without private copies (none in memory, none
    /// swapped out), from smaps' text.
    fn clean_mappings(smaps: &str) -> Vec<Clean> {
        let mut out = Vec::new();
        let mut current: Option<(Clean, bool)> = None;
        // Private copies in memory (Anonymous) or swapped out (Swap): either would be lost.
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
                    "Anonymous:" | "Swap:" => anonymous += value,
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

    /// Drops the resident pages of this process's loaded programs and libraries (their segments that
    /// are not writable) where smaps shows no private copy. The drop happens inside `dl_iterate_phdr`'s
    /// callback, which holds the dynamic loader's lock: no library can be loaded or unloaded meanwhile,
    /// so the ranges are still those libraries' (smaps alone could be stale by then: an address range
    /// unmapped and reused for heap, or a library being loaded that maps its file read-only first and
    /// its data over it after).
    pub(super) fn drop_clean_file_pages() -> u64 {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
        let mut walk = Walk { clean: clean_mappings(&smaps), released_kb: 0 };
        // SAFETY: the callback only reads the loader's program headers for the duration of the call
        // and `walk` outlives it.
        unsafe {
            libc::dl_iterate_phdr(Some(each_object), (&mut walk as *mut Walk).cast());
        }
        walk.released_kb
    }

    struct Walk {
        clean: Vec<Clean>,
        released_kb: u64,
    }

    /// For one loaded object: its PT_LOAD segments without write permission (code and read-only data;
    /// the relocated read-only data sits in the writable segment, so it is never among them), where
    /// they lie in a clean mapping.
    unsafe extern "C" fn each_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the loader passes a valid info for this call, and `data` is the Walk given above.
        let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers of a loaded object.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let page = 4096usize;
        for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
            // The loader maps a segment in whole pages; the intersection with the clean mapping keeps
            // the rounding inside it.
            let start = (info.dlpi_addr as usize + h.p_vaddr as usize) / page * page;
            let end = (info.dlpi_addr as usize + (h.p_vaddr + h.p_memsz) as usize).next_multiple_of(page);
            for m in &walk.clean {
                let (from, to) = (start.max(m.start), end.min(m.end));
                if from < to {
                    // SAFETY: whole pages of a non-writable segment of an object the loader holds
                    // loaded (its lock is held), inside a mapping smaps showed with no private page:
                    // every page dropped reads back identical from the file.
                    if unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) } == 0 {
                        walk.released_kb += m.resident_kb * (to - from) as u64 / (m.end - m.start) as u64;
                    }
                }
            }
        }
        0
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
    Swap:                  0 kB
    7f0000300000-7f0000400000 r--p 00100000 08:01 789 /usr/lib/libLLVM.so
    Rss:                  64 kB
    Anonymous:             0 kB
    Swap:                  8 kB
    ";
            let found = clean_mappings(smaps);
            let starts: Vec<usize> = found.iter().map(|m| m.start).collect();
            assert_eq!(
                starts,
                vec![0x55d0a0000000, 0x55d0a0001000, 0x7f0000200000],
                "relocated (Anonymous, or swapped out), writable, anonymous (JIT) and non-resident mappings are left alone"
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

        /// This process's mapping of `file` with these permissions: (start, end).
        fn mapping(file: &str, perms: &str) -> Option<(usize, usize)> {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            smaps.lines().find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (start, end) = fields.first()?.split_once('-')?;
                (fields.len() >= 6 && fields[1] == perms && fields[5].contains(file))
                    .then(|| (usize::from_str_radix(start, 16).unwrap(), usize::from_str_radix(end, 16).unwrap()))
            })
        }

        #[test]
        fn a_loaded_librarys_code_leaves_the_process_and_runs_the_same_while_other_mappings_are_left_alone() {
            use std::io::Write;
            use std::os::fd::AsRawFd;
            // SAFETY: zlib is loaded and called as its header declares; the mappings are read within
            // their lengths and unmapped at the end.
            unsafe {
                let zlib = libc::dlopen(c"libz.so.1".as_ptr(), libc::RTLD_NOW);
                assert!(!zlib.is_null(), "zlib is on every Debian system");
                let version: extern "C" fn() -> *const libc::c_char = std::mem::transmute(libc::dlsym(zlib, c"zlibVersion".as_ptr()));
                let before = std::ffi::CStr::from_ptr(version()).to_owned();
                let (code, end) = mapping("libz.so", "r-xp").expect("zlib's code is mapped");
                let len = end - code;
                let sum: u64 = std::slice::from_raw_parts(code as *const u8, len).iter().map(|b| u64::from(*b)).sum();
                assert!(sum > 0);
                assert_eq!(resident_kb(code), (len / 1024) as u64, "read once, so every page of zlib's code is resident");

                // A file mapped by hand is not a loaded library: left alone, like a relocated copy.
                const LEN: usize = 16 * 4096;
                let path = std::env::temp_dir().join(format!("pagetrim-{}", std::process::id()));
                std::fs::File::create(&path).unwrap().write_all(&[7u8; LEN]).unwrap();
                let file = std::fs::File::open(&path).unwrap();
                let by_hand = libc::mmap(std::ptr::null_mut(), LEN, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0);
                assert!(by_hand != libc::MAP_FAILED);
                assert_eq!(std::slice::from_raw_parts(by_hand as *const u8, LEN), &[7u8; LEN][..]);

                let given_back = drop_clean_file_pages();

                assert!(given_back > 0, "{given_back} kB given back");
                assert_eq!(resident_kb(code), 0, "zlib's code holds no page now");
                assert_eq!(std::ffi::CStr::from_ptr(version()).to_owned(), before, "and runs the same, read back from the file");
                assert_eq!(resident_kb(by_hand as usize), (LEN / 1024) as u64, "the hand-made mapping is untouched");
                libc::munmap(by_hand, LEN);
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
}
