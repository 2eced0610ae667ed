//! "Run the mail server as a system service": the switch in the main window and the wizard's last
//! question. The work is `postroomd service enable|disable` (postroom_engine::service), run as root
//! through pkexec, which asks for the administrator's password with the desktop's own dialog; on
//! Windows run elevated (ShellExecuteEx "runas": Windows' consent prompt), its steps coming back over a
//! named pipe this app makes (`--progress`), as Windows gives an elevated program no output to read.
//!
//! On: the helper says "waiting for <folder> to be let go" once it has its rights and has checked
//! everything; only then does this app stop its engine (so a refused password or a failed check leaves
//! it serving). Then Postroom restarts and attaches to the service. Off: the helper stops the service and
//! copies the mail back into this app's folder; Postroom restarts with its own engine. Either way a
//! failure after the engine stopped restarts Postroom too, on whichever folder is live.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postroom_engine::service::SystemService;
use postroom_engine::{ApiError, ApiResult};
use tauri::{AppHandle, State};
use tokio::io::AsyncBufReadExt;

use crate::backend::Backend;

/// The data folder this app serves when it runs its own engine (`--data-dir`, else the default).
pub struct OwnFolder(pub PathBuf);

/// Whether the mail server can run as a system service on this computer (and why not), and whether it is enabled and running.
#[tauri::command]
pub async fn get_system_service() -> ApiResult<SystemService> {
    tauri::async_runtime::spawn_blocking(postroom_engine::service::status).await.map_err(|e| ApiError::internal(format!("the task failed: {e}")))
}

/// Turns "Run the mail server as a system service" on (this app's mail moves to the service) or off (it comes back); asks for the administrator's password, then Postroom restarts attached to the service or with its own mail server. What was done.
#[tauri::command]
pub async fn set_system_service(app: AppHandle, backend: State<'_, Backend>, folder: State<'_, OwnFolder>, on: bool) -> ApiResult<String> {
    let state = get_system_service().await?;
    if let Some(why) = state.why_not {
        return Err(ApiError::conflict(why));
    }
    let attached_to_service = backend.link().socket.as_deref() == Some(state.socket.as_str());
    let (args, engine) = match (on, backend.engine()) {
        (true, Some(engine)) => {
            let args = vec!["enable".to_string(), "--from".into(), engine.data_dir().root().display().to_string()];
            // Elevation may run it as another (administrator) account: this app's user is the one who manages it.
            #[cfg(windows)]
            let args = [args, vec!["--admin".to_string(), windows_user()?]].concat();
            (args, Some(engine.clone()))
        }
        (true, None) if attached_to_service => return Ok("The mail server runs as the system service already.".into()),
        (false, None) if attached_to_service => {
            #[cfg(unix)]
            {
                // The mail comes back to this app's folder, owned by whoever runs this app.
                let me = postroom_engine::system_users::by_uid(postroom_engine::system_users::effective().0)
                    .ok_or_else(|| ApiError::internal("this app's user is not in the user database"))?;
                (vec!["disable".to_string(), "--to".into(), folder.0.display().to_string(), "--owner".into(), me.name], None)
            }
            // (On Windows the folder keeps its parent's access list: this user's profile.)
            #[cfg(windows)]
            (vec!["disable".to_string(), "--to".into(), folder.0.display().to_string()], None)
        }
        (false, Some(_)) => return Ok("The mail server runs in this app already.".into()),
        (_, None) => return Err(ApiError::conflict("this app is attached to a postroomd that is not the system service: change it where that one runs")),
    };
    let outcome = run_helper(&args, engine.as_ref()).await;
    let stopped_engine = engine.is_some_and(|e| e.is_stopped());
    match outcome {
        Ok(said) => {
            restart_soon(app);
            Ok(format!("{said}. Postroom restarts now."))
        }
        Err(e) if stopped_engine || !on => {
            // This app's engine let go of its folder (or the service was stopped): start again on whichever is live.
            restart_soon(app);
            Err(ApiError::io(format!("{e}. Postroom restarts now.")))
        }
        Err(e) => Err(ApiError::io(e)),
    }
}

/// Runs `postroomd service ARGS` as root (pkexec unless this app is root), stopping `engine` when the
/// helper is ready for its folder. The helper's last line, or why it failed.
#[cfg(unix)]
async fn run_helper(args: &[String], engine: Option<&postroom_engine::Engine>) -> Result<String, String> {
    let postroomd = helper_program()?;
    let mut command = if postroom_engine::system_users::effective().0 == 0 {
        tokio::process::Command::new(&postroomd)
    } else {
        let mut c = tokio::process::Command::new("pkexec");
        c.arg(&postroomd);
        c
    };
    command.arg("service").args(args).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| format!("cannot run {}: {e}", postroomd.display()))?;
    let stdout = child.stdout.take().ok_or("no output from the helper")?;
    let stderr = child.stderr.take().ok_or("no output from the helper")?;
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if text.len() < 64 << 10 {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    let last = follow_helper(stdout, engine).await;
    let status = child.wait().await.map_err(|e| format!("the helper failed: {e}"))?;
    let errors = errors.await.unwrap_or_default();
    if status.success() {
        return Ok(last.trim_end_matches('…').to_string());
    }
    // pkexec: 126 when the password dialog was dismissed, 127 when not authorised.
    match status.code() {
        Some(126) if errors.trim().is_empty() || errors.contains("dismissed") => Err("the administrator's password was not given, so nothing changed".into()),
        Some(127) if errors.contains("Not authorized") => Err("this account may not administer the computer, so nothing changed".into()),
        _ => Err(errors.trim().trim_start_matches("postroomd: ").to_string()),
    }
}

/// Reads the helper's steps until it closes its end, stopping `engine` when the helper is ready for its
/// folder; the last line. The consent or password dialog waits for a person; the copy of a large mail
/// store takes its time: no limit here but the helper's own (it waits at most 30 s for the folder, 30 s
/// for the service to answer).
async fn follow_helper<R: tokio::io::AsyncRead + Unpin>(output: R, engine: Option<&postroom_engine::Engine>) -> String {
    let mut lines = tokio::io::BufReader::new(output).lines();
    let mut last = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "engine", "system service: {line}");
        if line.starts_with("waiting for ") {
            if let Some(engine) = engine {
                engine.shutdown().await;
            }
        }
        last = line;
    }
    last
}

/// Runs `postroomd.exe service ARGS` elevated (Windows asks for consent, or an administrator's
/// password), following its steps over a named pipe (postroom_engine::service::elevate).
#[cfg(windows)]
async fn run_helper(args: &[String], engine: Option<&postroom_engine::Engine>) -> Result<String, String> {
    let postroomd = helper_program()?;
    let mut words = vec!["service".to_string()];
    words.extend(args.iter().cloned());
    let (steps, process) = postroom_engine::service::elevate::start(&postroomd, &words).await?;
    let last = follow_helper(steps, engine).await;
    if process.exit_code().await? == 0 {
        return Ok(last.trim_end_matches('…').to_string());
    }
    Err(last.trim_start_matches("postroomd: ").to_string())
}

/// This app's user as Windows names accounts (`DOMAIN\user`).
#[cfg(windows)]
fn windows_user() -> ApiResult<String> {
    let user = std::env::var("USERNAME").map_err(|_| ApiError::internal("Windows did not say who runs this app (USERNAME)"))?;
    Ok(match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{user}"),
        _ => user,
    })
}

/// The postroomd.exe beside this program, as the installers put them (the helper itself refuses to
/// become the service unless it is installed under Program Files).
#[cfg(windows)]
fn helper_program() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let beside = exe.parent().unwrap_or(Path::new(".")).join("postroomd.exe");
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!("postroomd.exe is not installed beside {}: reinstall Postroom", exe.display()))
    }
}

/// The postroomd that runs as root: beside this program (as the packages install them), else the
/// installed /usr/bin/postroomd, as an absolute path for pkexec. Only a file that only root can change,
/// in a folder only root can change: a postroomd its user could replace (the AppImage's unpacked copy,
/// a build folder) would let any program of that user's become root with the administrator's password.
#[cfg(unix)]
fn helper_program() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let beside = exe.parent().unwrap_or(Path::new("/")).join("postroomd");
    [beside.clone(), PathBuf::from("/usr/bin/postroomd")]
        .into_iter()
        .find(|p| root_only(p) && p.parent().is_some_and(root_only))
        .ok_or_else(|| format!("no postroomd that only the administrator can change is installed (beside {} or in /usr/bin): install the .deb or .rpm", exe.display()))
}

/// A regular file or folder owned by root and writable by nobody else (links not followed).
#[cfg(unix)]
fn root_only(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink() && m.uid() == 0 && m.permissions().mode() & 0o022 == 0)
}

/// Restarts Postroom after the window has had a moment to show the answer.
fn restart_soon(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.restart();
    });
}

