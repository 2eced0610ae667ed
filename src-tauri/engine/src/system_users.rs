//! The computer's own users and groups (not the mail users): who a local process is, and whether it is
//! a member of a group, read from the user database each time it is asked — so someone just added to
//! the `postroom` group may manage the service at once, without logging out and in again.
//!
//! Unix only; on Windows the service's admin channel checks its own way (see `service`).

/// One entry of the computer's user database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: std::path::PathBuf,
}

/// The user database entry named `name`.
#[cfg(unix)]
pub fn by_name(name: &str) -> Option<SystemUser> {
    let name = std::ffi::CString::new(name).ok()?;
    lookup(|pwd, buf, result| {
        // SAFETY: every pointer is valid for the call; the buffer's length is passed with it.
        unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

/// The user database entry of `uid`.
#[cfg(unix)]
pub fn by_uid(uid: u32) -> Option<SystemUser> {
    lookup(|pwd, buf, result| {
        // SAFETY: as in `by_name`.
        unsafe { libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

#[cfg(unix)]
fn lookup(call: impl Fn(*mut libc::passwd, &mut Vec<libc::c_char>, *mut *mut libc::passwd) -> libc::c_int) -> Option<SystemUser> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: a passwd is plain data; zeroed is a valid value to be filled in.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, &mut buf, &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: on success the strings point into `buf`, NUL-terminated, alive for this scope.
        let text = |p: *const libc::c_char| unsafe { std::ffi::CStr::from_ptr(p) };
        return Some(SystemUser {
            name: text(pwd.pw_name).to_string_lossy().into_owned(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(text(pwd.pw_dir).to_bytes())),
        });
    }
}

/// The id of the group named `name`.
#[cfg(unix)]
pub fn group_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: a group is plain data; zeroed is a valid value to be filled in.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the buffer's length is passed with it.
        let rc = unsafe { libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 22 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return (rc == 0 && !result.is_null()).then_some(grp.gr_gid);
    }
}

/// Whether `user` belongs to group `gid`: as its primary group or listed as a member, as the user
/// database says now.
#[cfg(unix)]
pub fn member_of(user: &SystemUser, gid: u32) -> bool {
    if user.gid == gid {
        return true;
    }
    let Ok(name) = std::ffi::CString::new(user.name.as_str()) else { return false };
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: `groups` holds `count` entries; getgrouplist writes at most that many and says how
        // many it needs when it is too few.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), user.gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            return groups[..count.max(0) as usize].contains(&gid);
        }
        if count as usize <= groups.len() || count > 1 << 16 {
            return false;
        }
        groups.resize(count as usize, 0);
    }
}

/// This process's effective user and group.
#[cfg(unix)]
pub fn effective() -> (u32, u32) {
    // SAFETY: these calls cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_by_name_and_id_and_belongs_to_its_own_group() {
        let root = by_name("root").expect("every Unix has root");
        assert_eq!(root.uid, 0);
        assert_eq!(by_uid(0).as_ref(), Some(&root));
        assert!(member_of(&root, root.gid));
        assert_eq!(group_id("root"), Some(0));
        assert!(by_name("no-such-user-postroom").is_none());
        assert!(group_id("no-such-group-postroom").is_none());
        assert!(by_name("nul\0inside").is_none());
    }
}
