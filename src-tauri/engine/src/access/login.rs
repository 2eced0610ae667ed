//! Checking a login for any service, with the failed-login bans: a banned login is refused without
//! looking at the password (so guessing gains nothing), and each failure is counted per address and
//! per login; the failure that crosses the line bans both for every service.

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
    let (dir, b, name, pw) = (directory.clone(), bans.clone(), login.to_string(), password.to_string());
    let verified = tokio::task::spawn_blocking(move || if b.login_banned(&name) { None } else { dir.verify(&name, &pw).ok().flatten() })
        .await
        .ok()
        .flatten();
    if let Some(user) = verified {
        tracing::info!(target: "security", service, user = %login, %ip, "logged in");
        return LoginOutcome::Accepted(user);
    }
    tracing::warn!(target: "security", service, user = %login, %ip, "login failed");
    let (b, name) = (bans.clone(), login.to_string());
    let banned = tokio::task::spawn_blocking(move || b.record_failure(service, ip, &name)).await;
    if matches!(banned, Ok(Ok(true))) {
        return LoginOutcome::NowBanned;
    }
    tokio::time::sleep(FAILURE_PAUSE).await;
    LoginOutcome::Refused
}
