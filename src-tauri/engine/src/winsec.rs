//! Windows access control, as little as Postroom needs: who this process runs as, an account's SID by
//! name, and access lists written in SDDL (for the admin named pipe and the service's data folder).
//!
//! Everything here is a thin, checked wrapper over advapi32; memory Windows allocates is freed by the
//! owning type's `Drop`.

use std::ffi::c_void;
use std::io;
use std::path::Path;

use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_INSUFFICIENT_BUFFER, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, GetSecurityInfo, SetNamedSecurityInfoW,
    SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, GetTokenInformation, LookupAccountNameW, TokenUser, ACL, DACL_SECURITY_INFORMATION,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// SYSTEM, the Administrators group and LocalService: the owners a folder or pipe of the service's may have.
pub const SYSTEM: &str = "S-1-5-18";
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
pub const LOCAL_SERVICE: &str = "S-1-5-19";

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

fn wide_path(path: &Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
}

/// The text form of a SID (`S-1-5-…`).
///
/// # Safety
/// `sid` points at a valid SID.
unsafe fn sid_text(sid: *mut c_void) -> io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    if ConvertSidToStringSidW(sid, &mut text) == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut len = 0;
    while *text.add(len) != 0 {
        len += 1;
    }
    let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
    LocalFree(text as *mut c_void);
    Ok(s)
}

/// The SID of the user this process runs as.
pub fn current_user_sid() -> io::Result<String> {
    // SAFETY: a token handle we open and close; the buffer is sized by the first call and outlives its use.
    unsafe {
        let mut token: HANDLE = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut needed = 0u32;
        GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed);
        // u64s: the TOKEN_USER at the start is pointer-aligned.
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        let ok = GetTokenInformation(token, TokenUser, buffer.as_mut_ptr() as *mut c_void, (buffer.len() * 8) as u32, &mut needed);
        let error = io::Error::last_os_error();
        CloseHandle(token);
        if ok == 0 {
            return Err(error);
        }
        let user = &*(buffer.as_ptr() as *const TOKEN_USER);
        sid_text(user.User.Sid)
    }
}

/// The SID of the account or group called `name` (`alice`, `OFFICE\alice`, `Administrators`).
pub fn account_sid(name: &str) -> io::Result<String> {
    let name_w = wide(name);
    // SAFETY: both buffers are sized by the first call; the SID lives in `sid` while it is converted.
    unsafe {
        let (mut sid_len, mut domain_len, mut kind): (u32, u32, SID_NAME_USE) = (0, 0, 0);
        LookupAccountNameW(std::ptr::null(), name_w.as_ptr(), std::ptr::null_mut(), &mut sid_len, std::ptr::null_mut(), &mut domain_len, &mut kind);
        let first = io::Error::last_os_error();
        if first.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) || sid_len == 0 {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("there is no account or group named {name} on this computer")));
        }
        let mut sid = vec![0u64; (sid_len as usize).div_ceil(8)];
        let mut domain = vec![0u16; domain_len.max(1) as usize];
        if LookupAccountNameW(std::ptr::null(), name_w.as_ptr(), sid.as_mut_ptr() as *mut c_void, &mut sid_len, domain.as_mut_ptr(), &mut domain_len, &mut kind) == 0 {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("there is no account or group named {name} on this computer ({})", io::Error::last_os_error())));
        }
        sid_text(sid.as_mut_ptr() as *mut c_void)
    }
}

/// Whether `text` looks like a SID (`S-1-` and digits and dashes): what goes into SDDL unquoted.
pub fn is_sid(text: &str) -> bool {
    text.strip_prefix("S-1-").is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

/// A security descriptor made from SDDL, freed on drop.
pub struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable once made, and only read by the calls it is handed to.
unsafe impl Send for SecurityDescriptor {}
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    pub fn from_sddl(sddl: &str) -> io::Result<SecurityDescriptor> {
        let text = wide(sddl);
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string in; Windows allocates the descriptor, freed in Drop.
        if unsafe { ConvertStringSecurityDescriptorToSecurityDescriptorW(text.as_ptr(), SDDL_REVISION_1, &mut sd, std::ptr::null_mut()) } == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a valid access list ({sddl}): {}", io::Error::last_os_error())));
        }
        Ok(SecurityDescriptor(sd))
    }

    /// Attributes for a Create… call; valid while `self` lives.
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES { nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32, lpSecurityDescriptor: self.0, bInheritHandle: 0 }
    }

    /// Gives the file or folder at `path` this descriptor's access list, not inheriting its parent's,
    /// and its owner if it names one.
    pub fn protect(&self, path: &Path) -> io::Result<()> {
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut owner: PSID = std::ptr::null_mut();
        // SAFETY: the DACL and owner point into our descriptor, which outlives the call.
        unsafe {
            if GetSecurityDescriptorDacl(self.0, &mut present, &mut dacl, &mut defaulted) == 0 || present == 0 {
                return Err(io::Error::other("the access list has no DACL"));
            }
            let mut what = DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION;
            if GetSecurityDescriptorOwner(self.0, &mut owner, &mut defaulted) != 0 && !owner.is_null() {
                what |= OWNER_SECURITY_INFORMATION;
            }
            let path_w = wide_path(path);
            let rc = SetNamedSecurityInfoW(path_w.as_ptr(), SE_FILE_OBJECT, what, owner, std::ptr::null_mut(), dacl, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc as i32));
            }
        }
        Ok(())
    }
}

/// Makes the folder `path` with `security` from the start: no moment in which it has its parent's
/// access list (ProgramData's lets every user add files).
pub fn create_dir(path: &Path, security: &SecurityDescriptor) -> io::Result<()> {
    let path_w = wide_path(path);
    let attributes = security.attributes();
    // SAFETY: a NUL-terminated path; the attributes and their descriptor live across the call.
    if unsafe { CreateDirectoryW(path_w.as_ptr(), &attributes) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The SID of the owner of the file or folder at `path`.
pub fn owner_of_path(path: &Path) -> io::Result<String> {
    let path_w = wide_path(path);
    let (mut owner, mut sd): (PSID, PSECURITY_DESCRIPTOR) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: Windows allocates the descriptor the owner points into; it is freed after the conversion.
    unsafe {
        let rc = GetNamedSecurityInfoW(path_w.as_ptr(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &mut owner, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), &mut sd);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        let text = sid_text(owner);
        LocalFree(sd);
        text
    }
}

/// The SID of the owner of the kernel object behind `handle` (a named pipe: who made it).
pub fn owner_of_handle(handle: HANDLE) -> io::Result<String> {
    let (mut owner, mut sd): (PSID, PSECURITY_DESCRIPTOR) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: as in owner_of_path; the handle is the caller's, open across the call.
    unsafe {
        let rc = GetSecurityInfo(handle, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &mut owner, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), &mut sd);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        let text = sid_text(owner);
        LocalFree(sd);
        text
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW, freed once.
        unsafe { LocalFree(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_recognised_and_nothing_else_is() {
        assert!(is_sid("S-1-5-32-544"));
        assert!(!is_sid("S-1-"));
        assert!(!is_sid("S-1-5)(A;;GA;;;WD"));
        assert!(!is_sid("Administrators"));
    }
}
