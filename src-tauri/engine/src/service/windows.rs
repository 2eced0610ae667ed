//! The system service on Windows: `postroomd service run`, registered with the Service Control Manager
//! as `postroomd` ("Postroom mail server"), started with the computer, running as LocalService.
//!
//! - Its data folder is `%ProgramData%\Postroom`, with an access list of its own (SYSTEM, the
//!   Administrators group and LocalService; nothing inherited from ProgramData, which every user may read).
//! - Its admin channel is the named pipe `\\.\pipe\postroomd-service`, open to SYSTEM, Administrators and
//!   each admin `enable` named (by SID: an administrator's everyday, non-elevated window has the
//!   Administrators group only as "deny", so the desktop app could not attach through the group alone).
//!   Those SIDs travel in the service's command line (`--admin-sid`), so the Service Control Manager
//!   keeps them with the service and each `enable` adds to them.
//! - The service runs only a `postroomd.exe` installed under Program Files, where only administrators
//!   can change it, as the Linux switch runs only a root-owned `postroomd`.
//! - `enable` and `disable` need an elevated prompt (the installer's and the app's "Run as
//!   administrator"); `status` does not.
//!
//! `disable` stops the service and removes it from the Service Control Manager (the installer's
//! uninstaller does too), so nothing of Postroom starts with the computer afterwards; the mail stays.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{absolute, check_movable, copy_folder, lock_folder, moved, moved_message, plain, refuse_if_live, wait_for_answer, write_marker, Disable, Enable, Moved, SystemService};
use crate::admin::server::{Access, SERVICE_SOCKET};

/// The service's name in the Service Control Manager (`sc query postroomd`).
pub const NAME: &str = "postroomd";
const DISPLAY_NAME: &str = "Postroom mail server";
const DESCRIPTION: &str = "Postroom's mail server (SMTP, POP3, IMAP) for this office; managed from the Postroom app.";
/// The account it runs as: no password, few rights, network access as the computer.
const ACCOUNT: &str = r"NT AUTHORITY\LocalService";
/// The service folder's owner (Administrators) and access list: SYSTEM, Administrators and
/// LocalService, inherited by what is made inside, and nothing from ProgramData.
const FOLDER_ACCESS: &str = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;LS)";
use crate::winsec::ADMINISTRATORS;
/// How long the started service has to answer on its named pipe, and the stopped one to stop.
const START_TIME: Duration = Duration::from_secs(30);
const STOP_TIME: Duration = Duration::from_secs(30);

/// `%ProgramData%\Postroom`.
pub fn data_dir() -> PathBuf {
    let program_data = std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    program_data.join("Postroom")
}

pub fn status() -> SystemService {
    let mut state = SystemService::usable(&data_dir());
    match ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT) {
        Err(e) => {
            state.available = false;
            state.why_not = Some(format!("the Service Control Manager does not answer: {e}"));
        }
        Ok(manager) => {
            if let Ok(service) = manager.open_service(NAME, ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG) {
                state.enabled = service.query_config().is_ok_and(|c| c.start_type == ServiceStartType::AutoStart);
                state.active = service.query_status().is_ok_and(|s| s.current_state == ServiceState::Running);
            }
        }
    }
    if state.available {
        if let Err(why) = installed_program() {
            state.available = false;
            state.why_not = Some(format!("{why:#}"));
        }
    }
    state
}

/// This `postroomd.exe`, if it is one installed under Program Files.
fn installed_program() -> anyhow::Result<PathBuf> {
    let exe = plain(std::fs::canonicalize(std::env::current_exe()?)?);
    let program_files: Vec<PathBuf> = ["ProgramFiles", "ProgramW6432", "ProgramFiles(x86)"]
        .iter()
        .filter_map(std::env::var_os)
        .filter_map(|p| std::fs::canonicalize(PathBuf::from(p)).ok().map(plain))
        .collect();
    let inside = |root: &PathBuf| exe.to_string_lossy().to_lowercase().starts_with(&format!("{}\\", root.to_string_lossy().to_lowercase()));
    if !program_files.iter().any(inside) {
        bail!(
            "the system service runs Postroom as installed (under Program Files, where only administrators can change it), and this copy is {}: install Postroom with its installer",
            exe.display()
        );
    }
    Ok(exe)
}

fn manager_for_changes() -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE).map_err(|e| {
        anyhow::anyhow!("this needs administrator rights: run it from a command prompt opened with \"Run as administrator\" (the app asks Windows for them) ({e})")
    })
}

fn service_access() -> ServiceAccess {
    ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG | ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::STOP | ServiceAccess::DELETE
}

/// The admins' SIDs in the registered service's command line.
fn registered_admins(manager: &ServiceManager) -> Vec<String> {
    let Ok(service) = manager.open_service(NAME, ServiceAccess::QUERY_CONFIG) else { return Vec::new() };
    let Ok(config) = service.query_config() else { return Vec::new() };
    let line = config.executable_path.to_string_lossy().into_owned();
    let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_matches('"')).collect();
    words.windows(2).filter(|w| w[0] == "--admin-sid" && crate::winsec::is_sid(w[1])).map(|w| w[1].to_string()).collect()
}

fn is_running(manager: &ServiceManager) -> bool {
    manager
        .open_service(NAME, ServiceAccess::QUERY_STATUS)
        .and_then(|s| s.query_status())
        .is_ok_and(|s| s.current_state != ServiceState::Stopped)
}

/// Stops the service if it is registered and runs, and waits until it has.
fn stop(manager: &ServiceManager) -> anyhow::Result<()> {
    let Ok(service) = manager.open_service(NAME, ServiceAccess::QUERY_STATUS | ServiceAccess::STOP) else { return Ok(()) };
    let deadline = std::time::Instant::now() + STOP_TIME;
    loop {
        let state = service.query_status().context("cannot ask the service how it is")?.current_state;
        match state {
            ServiceState::Stopped => return Ok(()),
            ServiceState::Running | ServiceState::Paused => drop(service.stop()),
            _ => {}
        }
        if std::time::Instant::now() > deadline {
            bail!("the service did not stop within {} s", STOP_TIME.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops the service, removes it from the Service Control Manager and closes Windows Firewall to it.
fn remove(manager: &ServiceManager) -> anyhow::Result<()> {
    stop(manager)?;
    if let Ok(service) = manager.open_service(NAME, ServiceAccess::DELETE) {
        service.delete().context("cannot remove the service")?;
    }
    let _ = netsh(&["advfirewall", "firewall", "delete", "rule", &format!("name=\"{FIREWALL_RULE}\"")]);
    Ok(())
}

/// The Windows Firewall rule that lets other computers reach the service's ports.
const FIREWALL_RULE: &str = "Postroom mail server";

/// Lets other computers on private and domain networks (the office's; not public ones) reach
/// `program`'s ports: a service has no window in which Windows could ask, so without a rule only this
/// computer could use it. A failure is said, not fatal: the admin can allow it by hand.
fn open_firewall(program: &Path, say: &mut dyn FnMut(&str)) {
    say("letting the office's computers reach it through Windows Firewall (private and domain networks)");
    let _ = netsh(&["advfirewall", "firewall", "delete", "rule", &format!("name=\"{FIREWALL_RULE}\"")]);
    let added = netsh(&[
        "advfirewall",
        "firewall",
        "add",
        "rule",
        &format!("name=\"{FIREWALL_RULE}\""),
        "dir=in",
        "action=allow",
        &format!("program=\"{}\"", program.display()),
        "enable=yes",
        "profile=private,domain",
    ]);
    if let Err(e) = added {
        say(&format!("Windows Firewall was not changed ({e:#}): allow {} there for other computers to reach it", program.display()));
    }
}

/// Runs Windows' own netsh.exe (from the system folder, never found through PATH: this runs elevated)
/// with `words` passed as they are (netsh reads `name="…"` itself).
fn netsh(words: &[&str]) -> anyhow::Result<()> {
    use std::os::windows::process::CommandExt;
    let mut folder = vec![0u16; 260];
    // SAFETY: the buffer's length is passed; Windows writes at most that many characters.
    let n = unsafe { windows_sys::Win32::System::SystemInformation::GetSystemDirectoryW(folder.as_mut_ptr(), folder.len() as u32) } as usize;
    if n == 0 || n >= folder.len() {
        bail!("cannot find Windows' system folder");
    }
    let program = PathBuf::from(String::from_utf16_lossy(&folder[..n])).join("netsh.exe");
    let mut command = std::process::Command::new(&program);
    for word in words {
        command.raw_arg(word);
    }
    let out = command.output().with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!("netsh {} failed: {}", words.join(" "), String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}

/// The service folder with its own owner and access list: made so if missing; if it is there, it must
/// be a folder SYSTEM, the administrators (this one among them) or the service made (one a user made in ProgramData, which
/// every user may, would stay theirs to open up again).
fn prepare_folder(target: &Path) -> anyhow::Result<()> {
    let security = crate::winsec::SecurityDescriptor::from_sddl(FOLDER_ACCESS)?;
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return crate::winsec::create_dir(target, &security).with_context(|| format!("cannot create {}", target.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", target.display())),
        Ok(meta) if !meta.is_dir() || meta.file_type().is_symlink() => bail!("{} is not a plain folder: rename it aside", target.display()),
        Ok(_) => {}
    }
    let owner = crate::winsec::owner_of_path(target).with_context(|| format!("cannot tell who owns {}", target.display()))?;
    // (An elevated administrator's new folders are the Administrators group's on Windows, but their
    // own under Wine: the administrator running this is trusted either way.)
    let me = crate::winsec::current_user_sid()?;
    if ![crate::winsec::SYSTEM, ADMINISTRATORS, crate::winsec::LOCAL_SERVICE, me.as_str()].contains(&owner.as_str()) {
        bail!("{} belongs to {owner}, not to the administrators or the service: it was not made by Postroom; rename it aside", target.display());
    }
    security.protect(target).with_context(|| format!("cannot make {} private", target.display()))
}

pub fn enable(options: &Enable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    let program = installed_program()?;
    let manager = manager_for_changes()?;
    let admin = match &options.admin {
        Some(name) => (name.clone(), crate::winsec::account_sid(name)?),
        None => (std::env::var("USERNAME").unwrap_or_else(|_| "you".into()), crate::winsec::current_user_sid()?),
    };
    let mut admins = registered_admins(&manager);
    if !admins.contains(&admin.1) {
        admins.push(admin.1.clone());
    }
    let target = data_dir();
    let mut moved_from: Option<PathBuf> = None;
    if let Some(from) = &options.from {
        let from = plain(std::fs::canonicalize(from).with_context(|| format!("cannot find {}", from.display()))?);
        check_movable(&from, &target)?;
        let check_target = || refuse_if_live(&target, &from, options.replace);
        // Asked before anything stops, so a refusal disturbs nothing.
        check_target()?;
        // Its user may change it: held open (no rename, no link swapped in) until the move is done.
        let pinned = super::copy::pin_tree(&from)?;
        say(&format!("waiting for {} to be let go", from.display()));
        let lock = lock_folder(&from, options.wait)?;
        let was_running = is_running(&manager);
        say("stopping the service if it runs");
        stop(&manager)?;
        let copied = check_target().and_then(|_| {
            say(&format!("copying {} to {}", from.display(), target.display()));
            copy_folder(&from, &target, Some(FOLDER_ACCESS))
        });
        let aside = match copied {
            Ok(aside) => aside,
            Err(e) => {
                if was_running {
                    if let Ok(service) = manager.open_service(NAME, ServiceAccess::START) {
                        let _ = service.start::<&str>(&[]);
                    }
                }
                return Err(e);
            }
        };
        if let Some(aside) = aside {
            say(&format!("what {} held before is in {}", target.display(), aside.display()));
        }
        write_marker(&from, &Moved { to: target.clone(), at: crate::store::now(), by: "service".into() })?;
        drop(lock);
        drop(pinned);
        moved_from = Some(from);
    }
    let turned_on = register_and_start(&manager, program, &admins, &target, say);
    match turned_on {
        Ok(pid) => Ok(format!(
            "the mail server runs as the system service (pid {pid}), serving {}, and starts with the computer; {} may manage it",
            target.display(),
            admin.0
        )),
        Err(e) => {
            // Back as it was: the desktop's folder is live again, the service's copy is not.
            let _ = remove(&manager);
            if let Some(from) = &moved_from {
                let _ = write_marker(&target, &Moved { to: from.clone(), at: crate::store::now(), by: "desktop".into() });
                let _ = std::fs::remove_file(from.join(super::MOVED));
            }
            bail!("the service did not start, so nothing was changed: {e:#} (its log is in {})", target.join("logs").display())
        }
    }
}

/// Makes the folder ready, registers the service (or updates it) and starts it; its pid once it answers.
fn register_and_start(manager: &ServiceManager, program: PathBuf, admins: &[String], target: &Path, say: &mut dyn FnMut(&str)) -> anyhow::Result<u32> {
    prepare_folder(target)?;
    // The folder named, not found again by the service: its environment may differ from this one's.
    let mut arguments: Vec<OsString> = vec!["--data-dir".into(), target.into(), "service".into(), "run".into()];
    for sid in admins {
        arguments.push("--admin-sid".into());
        arguments.push(sid.into());
    }
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: program,
        launch_arguments: arguments,
        dependencies: Vec::new(),
        account_name: Some(ACCOUNT.into()),
        account_password: None,
    };
    say("registering the service");
    let registered = match manager.open_service(NAME, service_access()) {
        Ok(service) => {
            stop(manager)?;
            service.change_config(&info).map(|_| service)
        }
        Err(_) => manager.create_service(&info, service_access()),
    };
    let service = registered.context("cannot register the service")?;
    let _ = service.set_description(DESCRIPTION);
    // Restarted after a crash, as the Linux unit's Restart=on-failure.
    let restart = ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![ServiceAction { action_type: ServiceActionType::Restart, delay: Duration::from_secs(5) }; 3]),
    };
    // (Also when it stops with an error of its own, not only when it crashes.)
    if let Err(e) = service.update_failure_actions(restart).and_then(|_| service.set_failure_actions_on_non_crash_failures(true)) {
        say(&format!("the service will not be restarted by Windows if it fails ({e})"));
    }
    open_firewall(&info.executable_path, say);
    say("starting the service");
    service.start::<&str>(&[]).context("cannot start the service")?;
    let stopped = || {
        let state = service.query_status().ok()?.current_state;
        (state == ServiceState::Stopped).then(|| match last_error(target) {
            Some(line) => format!("it stopped at once: {line}"),
            None => "it stopped at once".to_string(),
        })
    };
    wait_for_answer(START_TIME, &stopped)
}

/// The last error line of the folder's `postroom.log` (what the service said as it stopped).
fn last_error(folder: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(folder.join("logs").join("postroom.log")).ok()?;
    let size = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(64 << 10))).ok()?;
    let mut tail = Vec::new();
    file.take(64 << 10).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().rev().find(|l| l.contains(" ERROR "))?;
    // "<time> ERROR <target>: <message>": the message.
    let rest = line.split_once(" ERROR ").map_or(line, |(_, rest)| rest).trim();
    Some(rest.split_once(": ").filter(|(target, _)| !target.contains(' ')).map_or(rest, |(_, message)| message).to_string())
}

/// Writes `message` into the folder's `postroom.log` as an error line, for when the service stops
/// before its log writer has the folder (the data folder could not be opened): a service has no
/// console, so this is where the admin (and `enable`) can read why.
fn log_start_error(folder: &Path, message: &str) {
    use std::io::Write;
    let logs = folder.join("logs");
    let _ = std::fs::create_dir_all(&logs);
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(logs.join("postroom.log")) {
        let _ = writeln!(file, "{} ERROR engine: {message}", chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f"));
    }
}

pub fn disable(options: &Disable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    let manager = manager_for_changes()?;
    if options.owner.is_some() {
        bail!("--owner is for Linux: on Windows the folder the mail comes back to keeps its parent folder's access list (your profile's)");
    }
    let target = data_dir();
    let Some(to) = &options.to else {
        say("stopping the service");
        remove(&manager)?;
        return Ok(format!("the system service is off and will not start with the computer; its mail stays in {}", target.display()));
    };
    let to = absolute(to)?;
    if let Some(m) = moved(&target) {
        bail!("{}", moved_message(&target, &m));
    }
    if to.join("postroom.db").exists() && moved(&to).is_none() {
        bail!("{} holds mail of its own (it is not the folder that moved to the service): choose another folder", to.display());
    }
    // The folder the copy is made in is the user's: held open (no rename, no link swapped in) meanwhile.
    let parent = to.parent().context("name a folder")?;
    let pinned = std::fs::create_dir_all(parent).map_err(anyhow::Error::from).and_then(|_| super::copy::pin_folder(parent))?;
    say("stopping the service");
    stop(&manager)?;
    let moved_back = lock_folder(&target, Duration::from_secs(30)).and_then(|lock| {
        say(&format!("copying {} to {}", target.display(), to.display()));
        let aside = copy_folder(&target, &to, None)?;
        write_marker(&target, &Moved { to: to.clone(), at: crate::store::now(), by: "desktop".into() })?;
        drop(lock);
        Ok(aside)
    });
    let aside = match moved_back {
        Ok(aside) => aside,
        Err(e) => {
            // The mail stays with the service, serving as before.
            if let Ok(service) = manager.open_service(NAME, ServiceAccess::START) {
                let _ = service.start::<&str>(&[]);
            }
            return Err(e);
        }
    };
    drop(pinned);
    remove(&manager)?;
    let kept = aside.map(|a| format!(" (the copy it had before is in {})", a.display())).unwrap_or_default();
    Ok(format!("the system service is off; its mail is back in {}{kept}, for Postroom in the tray", to.display()))
}

/// The data folder and the admins' SIDs the service was registered with, for its main function.
static SERVED: Mutex<Option<(PathBuf, Vec<String>)>> = Mutex::new(None);

windows_service::define_windows_service!(ffi_service_main, service_main);

/// `postroomd service run`: hands this process to the Service Control Manager, which calls
/// [`service_main`]; returns when the service has stopped.
pub fn run(data_dir: PathBuf, admin_sids: Vec<String>) -> anyhow::Result<()> {
    for sid in &admin_sids {
        if !crate::winsec::is_sid(sid) {
            bail!("{sid} is not a SID");
        }
    }
    *SERVED.lock().unwrap_or_else(|p| p.into_inner()) = Some((data_dir, admin_sids));
    windows_service::service_dispatcher::start(NAME, ffi_service_main)
        .context("this is what the Service Control Manager starts as the Postroom service; to serve from a command prompt, run `postroomd serve`")
}

fn service_main(_arguments: Vec<OsString>) {
    crate::logging::init_server();
    if let Err(e) = serve_as_service() {
        tracing::error!(target: "engine", "the Postroom service could not start: {e:#}");
    }
}

/// Records why the service stops with an error, before it says it has stopped (whoever waits for it
/// reads the reason then): in the log files, or straight into the folder's postroom.log when the log
/// writer never got the folder.
fn record_failure(folder: &Path, error: &anyhow::Error) {
    let message = format!("the Postroom service stopped: {error:#}");
    tracing::error!(target: "engine", "{message}");
    if crate::logging::folder().is_none() {
        log_start_error(folder, &message);
    }
    crate::logging::shutdown(Duration::from_secs(2));
}

fn serve_as_service() -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(());
            }
            // (serve_as_service reports StopPending as it begins to shut down.)
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let status = service_control_handler::register(NAME, handler)?;
    let report = |state: ServiceState, accept: ServiceControlAccept, exit: u32| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: if exit == 0 { ServiceExitCode::Win32(0) } else { ServiceExitCode::ServiceSpecific(exit) },
            checkpoint: 0,
            wait_hint: Duration::from_secs(30),
            process_id: None,
        });
    };
    report(ServiceState::Running, ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN, 0);
    let (folder, admins) = SERVED.lock().unwrap_or_else(|p| p.into_inner()).clone().context("the service was started without its folder")?;
    let mut sids = vec![ADMINISTRATORS.to_string()];
    sids.extend(admins);
    let access = Access::Group { name: "the service's admins".into(), sids };
    let served = super::serve_until(&folder, Default::default(), Some(PathBuf::from(SERVICE_SOCKET)), access, async {
        let _ = stop_rx.await;
        // The engine finishes its sessions and writes its state: up to wait_hint.
        report(ServiceState::StopPending, ServiceControlAccept::empty(), 0);
    });
    if let Err(e) = &served {
        record_failure(&folder, e);
    }
    report(ServiceState::Stopped, ServiceControlAccept::empty(), u32::from(served.is_err()));
    served
}
