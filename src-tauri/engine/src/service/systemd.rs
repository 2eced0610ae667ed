//! The system service on Linux: the `postroomd.service` unit the packages install, run by systemd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::{absolute, check_movable, copy_folder, invoking_user, lock_folder, moved, moved_message, refuse_if_live, wait_for_answer, write_marker, Disable, Enable, Moved, SystemService, SERVICE_DATA_DIR, SERVICE_USER};
use crate::system_users::{self, SystemUser};

const UNIT: &str = "postroomd.service";
const UNIT_FOLDERS: &[&str] = &["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];
/// How long the started service has to answer on its admin socket.
const START_TIME: Duration = Duration::from_secs(30);

pub fn status() -> SystemService {
    let mut state = SystemService::usable(Path::new(SERVICE_DATA_DIR));
    let why_not = if !Path::new("/run/systemd/system").is_dir() {
        Some("this computer does not run systemd, so the mail server cannot be made one of its system services; Postroom keeps serving from the tray (\"Start Postroom when I log in\" starts it with you)".to_string())
    } else if !UNIT_FOLDERS.iter().any(|f| Path::new(f).join(UNIT).exists()) {
        Some("the system service comes with Postroom's .deb and .rpm packages, and this copy was not installed from one".to_string())
    } else if system_users::effective().0 != 0 && which("pkexec").is_none() {
        Some("turning it on asks for the administrator's password through pkexec, which is not installed (Debian/Ubuntu: the pkexec package; Fedora: polkit)".to_string())
    } else {
        None
    };
    if let Some(why) = why_not {
        state.available = false;
        state.why_not = Some(why);
    }
    if Path::new("/run/systemd/system").is_dir() {
        state.enabled = systemctl_says(&["is-enabled", UNIT]) == "enabled";
        state.active = systemctl_says(&["is-active", UNIT]) == "active";
    }
    state
}

pub fn enable(options: &Enable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    let service = preconditions()?;
    let admin = match &options.admin {
        Some(name) => Some(system_users::by_name(name).with_context(|| format!("there is no user named {name} on this computer"))?),
        None => invoking_user().filter(|u| u.uid != 0),
    };
    let target = Path::new(SERVICE_DATA_DIR);
    let mut moved_from: Option<PathBuf> = None;
    if let Some(from) = &options.from {
        let from = std::fs::canonicalize(from).with_context(|| format!("cannot find {}", from.display()))?;
        check_movable(&from, target)?;
        let check_target = || refuse_if_live(target, &from, options.replace);
        // Asked before anything stops, so a refusal disturbs nothing.
        check_target()?;
        say(&format!("waiting for {} to be let go", from.display()));
        let lock = lock_folder(&from, options.wait)?;
        let was_active = systemctl_says(&["is-active", UNIT]) == "active";
        say("stopping the service if it runs");
        systemctl(&["stop", UNIT])?;
        let copied = check_target().and_then(|_| {
            say(&format!("copying {} to {SERVICE_DATA_DIR}", from.display()));
            copy_folder(&from, target, (service.uid, service.gid))
        });
        let aside = match copied {
            Ok(aside) => aside,
            Err(e) => {
                // Serving again what it served before.
                if was_active {
                    let _ = systemctl(&["start", UNIT]);
                }
                return Err(e);
            }
        };
        if let Some(aside) = aside {
            say(&format!("what {SERVICE_DATA_DIR} held before is in {}", aside.display()));
        }
        write_marker(&from, &Moved { to: target.to_path_buf(), at: crate::store::now(), by: "service".into() })?;
        drop(lock);
        moved_from = Some(from);
    }
    let mut admins = String::new();
    if let Some(admin) = &admin {
        if !system_users::member_of(admin, service.gid) {
            say(&format!("adding {} to the {SERVICE_USER} group", admin.name));
            run("gpasswd", &["-a", &admin.name, SERVICE_USER])?;
        }
        admins = format!("; {} may manage it (the {SERVICE_USER} group)", admin.name);
    }
    say("starting the service");
    match systemctl(&["enable", "--now", UNIT]).and_then(|_| wait_for_answer(START_TIME, &|| None)) {
        Ok(pid) => Ok(format!("the mail server runs as the system service (pid {pid}), serving {SERVICE_DATA_DIR}, and starts with the computer{admins}")),
        Err(e) => {
            // Back as it was: the desktop's folder is live again, the service's copy is not.
            let _ = systemctl(&["disable", "--now", UNIT]);
            if let Some(from) = &moved_from {
                let _ = write_marker(target, &Moved { to: from.clone(), at: crate::store::now(), by: "desktop".into() });
                let _ = std::fs::remove_file(from.join(super::MOVED));
            }
            bail!("the service did not start, so nothing was changed: {e:#}{}", journal())
        }
    }
}

pub fn disable(options: &Disable, say: &mut dyn FnMut(&str)) -> anyhow::Result<String> {
    preconditions()?;
    let Some(to) = &options.to else {
        say("stopping the service");
        systemctl(&["disable", "--now", UNIT])?;
        return Ok(format!("the system service is off and will not start with the computer; its mail stays in {SERVICE_DATA_DIR}"));
    };
    // Everything checked before the service stops, so a refusal leaves it serving.
    let to = absolute(to)?;
    let owner = match &options.owner {
        Some(name) => system_users::by_name(name).with_context(|| format!("there is no user named {name} on this computer"))?,
        // Who ran pkexec or sudo, else whoever owns the folder the mail came from.
        None => invoking_user().or_else(|| folder_owner(&to)).context("say whose folder it is with --owner")?,
    };
    let target = Path::new(SERVICE_DATA_DIR);
    if let Some(m) = moved(target) {
        bail!("{}", moved_message(target, &m));
    }
    if to.join("postroom.db").exists() && moved(&to).is_none() {
        bail!("{} holds mail of its own (it is not the folder that moved to the service): choose another folder", to.display());
    }
    let was_enabled = systemctl_says(&["is-enabled", UNIT]) == "enabled";
    say("stopping the service");
    systemctl(&["disable", "--now", UNIT])?;
    let moved_back = lock_folder(target, Duration::from_secs(30)).and_then(|lock| {
        say(&format!("copying {SERVICE_DATA_DIR} to {}", to.display()));
        let aside = copy_folder(target, &to, (owner.uid, owner.gid))?;
        write_marker(target, &Moved { to: to.clone(), at: crate::store::now(), by: "desktop".into() })?;
        drop(lock);
        Ok(aside)
    });
    let aside = match moved_back {
        Ok(aside) => aside,
        Err(e) => {
            // The mail stays with the service, serving as before.
            if was_enabled {
                let _ = systemctl(&["enable", "--now", UNIT]);
            }
            return Err(e);
        }
    };
    let kept = aside.map(|a| format!(" (the copy it had before is in {})", a.display())).unwrap_or_default();
    Ok(format!("the system service is off; its mail is back in {}{kept}, for Postroom in the tray", to.display()))
}

/// Root, systemd, the unit and the service's user.
fn preconditions() -> anyhow::Result<SystemUser> {
    if system_users::effective().0 != 0 {
        bail!("this needs administrator rights: run it with sudo (the app asks through pkexec)");
    }
    let state = status();
    if let Some(why) = state.why_not {
        bail!("{why}");
    }
    system_users::by_name(SERVICE_USER).context("there is no postroom user on this computer: reinstall the postroom package")
}

fn folder_owner(dir: &Path) -> Option<SystemUser> {
    use std::os::unix::fs::MetadataExt;
    system_users::by_uid(std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir())?.uid())
}

/// The service's last log lines, to say why it did not start.
fn journal() -> String {
    let out = Command::new("journalctl").args(["-u", UNIT, "-n", "12", "--no-pager", "-o", "cat"]).output();
    match out {
        Ok(out) if !out.stdout.is_empty() => format!("\nits last log lines:\n{}", String::from_utf8_lossy(&out.stdout).trim_end()),
        _ => String::new(),
    }
}

fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    run("systemctl", args)
}

fn systemctl_says(args: &[&str]) -> String {
    Command::new("systemctl").args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program).args(args).output().with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}
