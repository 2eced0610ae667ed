//! Checking a login for any service, with the failed-login bans: a login locked for this address is
//! refused without looking at the password (so guessing gains nothing), each failure is counted per
//! address and per (address, login), and a success makes the address trusted (see [`super::bans`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Bans;
use crate::users::Directory;

/// A pause after a wrong password: guessing becomes slow, an honest typo costs little.
const FAILURE_PAUSE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Accepted(crate::users::VerifiedUser),
    /// Wrong name or password (or a banned login); the session may go on.
    Refused,
    /// This failure banned the address: the session should end.
    NowBanned,
}

/// Checks `login`/`password` for `service` ("SMTP", "POP3", "IMAP4") from `ip`.
pub async fn check(directory: &Directory, bans: &Arc<Bans>, service: &'static str, ip: IpAddr, login: &str, password: &str) -> LoginOutcome {
    if login.len() > super::bans::MAX_LOGIN_LEN {
        // Names nobody has; refused before anything is counted or hashed.
        tracing::warn!(target: "security", service, %ip, length = login.len(), "login name too long; refused");
        tokio::time::sleep(FAILURE_PAUSE).await;
        return LoginOutcome::Refused;
    }
    // Failures are counted for the account the login names, whichever of its spellings was typed.
    let (dir, b, name, pw) = (directory.clone(), bans.clone(), login.to_string(), password.to_string());
    let checked = tokio::task::spawn_blocking(move || {
        let identity = dir.login_identity(&name);
        let user = if b.login_banned(ip, &identity) { None } else { dir.verify(&name, &pw).ok().flatten() };
        (user, identity)
    })
    .await;
    let (verified, identity) = checked.unwrap_or_else(|_| (None, login.to_lowercase()));
    if let Some(user) = verified {
        tracing::info!(target: "security", service, user = %login, %ip, "logged in");
        bans.record_success(ip, &identity);
        return LoginOutcome::Accepted(user);
    }
    tracing::warn!(target: "security", service, user = %login, %ip, "login failed");
    let b = bans.clone();
    let banned = tokio::task::spawn_blocking(move || b.record_failure(service, ip, &identity)).await;
    if matches!(banned, Ok(Ok(true))) {
        return LoginOutcome::NowBanned;
    }
    tokio::time::sleep(FAILURE_PAUSE).await;
    LoginOutcome::Refused
}
