//! Running `postroomd service enable|disable` elevated on Windows and following it from an ordinary
//! process: the app's switch, and `postroomd service … --elevate` from an ordinary command prompt.
//!
//! Windows gives an elevated program no console or output its starter could read, so the helper is
//! started with `--progress PIPE`, a named pipe made here that only this user, SYSTEM and the
//! Administrators may open; the helper opens it allowing identification only, so this process can
//! never act as the elevated one. Windows asks for consent (or an administrator's password) itself.

use std::path::Path;
use std::sync::Arc;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Threading::{GetExitCodeProcess, WaitForSingleObject, INFINITE};
use windows_sys::Win32::UI::Shell::{ShellExecuteExW, SEE_MASK_NOASYNC, SEE_MASK_NOCLOSEPROCESS, SHELLEXECUTEINFOW};
use windows_sys::Win32::UI::WindowsAndMessaging::SW_HIDE;

use crate::winsec::{current_user_sid, SecurityDescriptor};

/// The user said no to Windows' consent prompt.
const ERROR_CANCELLED: u32 = 1223;

/// A process handle, closed when the last holder lets go (a waiting thread is one).
struct Handle(usize);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle ShellExecuteEx gave us, closed once.
        unsafe { CloseHandle(self.0 as HANDLE) };
    }
}

/// The elevated process.
pub struct Process(Arc<Handle>);

impl Process {
    /// Waits (on a blocking thread) for the process to end; its exit code.
    pub async fn exit_code(&self) -> Result<u32, String> {
        let handle = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut code = 0u32;
            // SAFETY: `handle` keeps it open until this thread is done with it.
            let ok = unsafe { WaitForSingleObject(handle.0 as HANDLE, INFINITE) == WAIT_OBJECT_0 && GetExitCodeProcess(handle.0 as HANDLE, &mut code) != 0 };
            if ok {
                Ok(code)
            } else {
                Err(format!("cannot tell how postroomd ended: {}", std::io::Error::last_os_error()))
            }
        })
        .await
        .map_err(|e| format!("the task failed: {e}"))?
    }
}

/// Starts `program words… --progress PIPE` elevated and waits for it to open the pipe; the pipe (one
/// line per step, then the outcome) and the process. Said plainly if consent is refused or the helper
/// ends before it reports.
pub async fn start(program: &Path, words: &[String]) -> Result<(NamedPipeServer, Process), String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let name = format!(r"\\.\pipe\postroom-progress-{}-{nanos:x}", std::process::id());
    let server = progress_pipe(&name)?;
    let mut words = words.to_vec();
    words.extend(["--progress".to_string(), name]);
    let process = run_as_administrator(program, &words)?;
    {
        let exited = process.exit_code();
        tokio::pin!(exited);
        tokio::select! {
            c = server.connect() => c.map_err(|e| format!("postroomd did not report: {e}"))?,
            code = &mut exited => return Err(format!("postroomd ended before it started its work (exit code {})", code?)),
        }
    }
    Ok((server, process))
}

fn progress_pipe(name: &str) -> Result<NamedPipeServer, String> {
    let sddl = format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{})", current_user_sid().map_err(|e| e.to_string())?);
    let security = SecurityDescriptor::from_sddl(&sddl).map_err(|e| e.to_string())?;
    let mut attributes = security.attributes();
    let mut options = ServerOptions::new();
    options.first_pipe_instance(true).reject_remote_clients(true).access_outbound(false);
    // SAFETY: the attributes and the descriptor they point at live across the call.
    unsafe { options.create_with_security_attributes_raw(name, &mut attributes as *mut _ as *mut std::ffi::c_void) }
        .map_err(|e| format!("cannot make the progress pipe: {e}"))
}

/// ShellExecuteEx "runas": Windows' consent prompt, then `program` with `words` as its command line.
fn run_as_administrator(program: &Path, words: &[String]) -> Result<Process, String> {
    let wide = |text: &str| text.encode_utf16().chain(std::iter::once(0)).collect::<Vec<u16>>();
    let verb = wide("runas");
    let file = wide(&program.to_string_lossy());
    let parameters = wide(&words.iter().map(|w| super::windows_argument(w)).collect::<Vec<_>>().join(" "));
    // SAFETY: every string outlives the call; the structure is zeroed and sized as Windows expects.
    unsafe {
        let mut info: SHELLEXECUTEINFOW = std::mem::zeroed();
        info.cbSize = std::mem::size_of::<SHELLEXECUTEINFOW>() as u32;
        info.fMask = SEE_MASK_NOCLOSEPROCESS | SEE_MASK_NOASYNC;
        info.lpVerb = verb.as_ptr();
        info.lpFile = file.as_ptr();
        info.lpParameters = parameters.as_ptr();
        info.nShow = SW_HIDE;
        if ShellExecuteExW(&mut info) == 0 {
            return Err(match GetLastError() {
                ERROR_CANCELLED => "the administrator's consent was not given, so nothing changed".to_string(),
                _ => format!("cannot run {} as administrator: {}", program.display(), std::io::Error::last_os_error()),
            });
        }
        if info.hProcess.is_null() {
            return Err("Windows started postroomd without saying which process it is".to_string());
        }
        Ok(Process(Arc::new(Handle(info.hProcess as usize))))
    }
}
