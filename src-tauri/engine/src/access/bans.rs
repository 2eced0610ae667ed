//! Failed-login bans, shared by every service.
//!
//! Failures are counted in memory per client address and per login name over [`WINDOW_SECS`]. At
//! [`FAILURES_BEFORE_BAN`] the address (or login) is banned for [`BAN_SECS`]: the ban is a row in the
//! `bans` table, so it survives a restart, shows in `postroomd bans list` and the Bans window, and the
//! admin can lift it from any process. Services check the address at connect (before the greeting)
//! and the login at authentication.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{ApiError, ApiResult};
use crate::store::{now, Store, StoreResult};

pub const FAILURES_BEFORE_BAN: usize = 5;
pub const WINDOW_SECS: i64 = 15 * 60;
pub const BAN_SECS: i64 = 30 * 60;

/// One current ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Ban {
    /// "address" or "login".
    pub kind: String,
    pub value: String,
    pub failures: u32,
    pub reason: String,
    pub banned_at: String,
    pub until: String,
}

pub struct Bans {
    store: Store,
    recent: Mutex<HashMap<(&'static str, String), Vec<i64>>>,
}

impl Bans {
    pub fn new(store: Store) -> Bans {
        Bans { store, recent: Mutex::new(HashMap::new()) }
    }

    /// Whether `ip` is banned now.
    pub fn address_banned(&self, ip: IpAddr) -> bool {
        self.banned("address", &ip.to_string())
    }

    /// Whether logins as `login` are blocked now.
    pub fn login_banned(&self, login: &str) -> bool {
        self.banned("login", login)
    }

    fn banned(&self, kind: &str, value: &str) -> bool {
        let (kind, value) = (kind.to_string(), value.to_string());
        self.store
            .read(move |c| {
                Ok(c.query_row("SELECT 1 FROM bans WHERE kind = ?1 AND value = ?2 AND until > ?3", params![kind, value, now()], |_| Ok(()))
                    .optional()?
                    .is_some())
            })
            .unwrap_or(false)
    }

    /// Counts a failed login; returns true when this failure banned the address.
    pub fn record_failure(&self, service: &str, ip: IpAddr, login: &str) -> StoreResult<bool> {
        let at = now();
        let mut new_bans = Vec::new();
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.retain(|_, times| {
                times.retain(|t| at - t < WINDOW_SECS);
                !times.is_empty()
            });
            for key in [("address", ip.to_string()), ("login", login.to_ascii_lowercase())] {
                if key.1.is_empty() {
                    continue;
                }
                let times = recent.entry(key.clone()).or_default();
                times.push(at);
                if times.len() >= FAILURES_BEFORE_BAN {
                    new_bans.push((key.0, key.1, times.len() as u32));
                    times.clear();
                }
            }
        }
        let address_banned = new_bans.iter().any(|b| b.0 == "address");
        if new_bans.is_empty() {
            return Ok(false);
        }
        for (kind, value, failures) in &new_bans {
            tracing::warn!(target: "security", kind, value = %value, failures, service, "banned after failed logins");
        }
        let reason = format!("{FAILURES_BEFORE_BAN} failed logins within {} minutes ({service})", WINDOW_SECS / 60);
        self.store.write(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT INTO bans(kind, value, failures, reason, banned_at, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(kind, value) DO UPDATE SET failures = excluded.failures, reason = excluded.reason,
                     banned_at = excluded.banned_at, until = excluded.until",
            )?;
            for (kind, value, failures) in &new_bans {
                stmt.execute(params![kind, value, failures, reason, at, at + BAN_SECS])?;
            }
            Ok(())
        })?;
        Ok(address_banned)
    }
}

/// Current bans, newest first.
pub fn list(store: &Store) -> ApiResult<Vec<Ban>> {
    Ok(store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT kind, value, failures, reason, banned_at, until FROM bans WHERE until > ?1 ORDER BY banned_at DESC",
        )?;
        let rows = stmt.query_map([now()], |r| {
            Ok(Ban {
                kind: r.get(0)?,
                value: r.get(1)?,
                failures: r.get(2)?,
                reason: r.get(3)?,
                banned_at: crate::time_text::rfc3339(r.get(4)?),
                until: crate::time_text::rfc3339(r.get(5)?),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?)
}

/// Lifts the ban on an address or login.
pub fn clear(store: &Store, value: &str) -> ApiResult<()> {
    let wanted = value.trim().to_string();
    let removed = store.write(move |c| Ok(c.execute("DELETE FROM bans WHERE value = ?1", [wanted])?))?;
    if removed == 0 {
        return Err(ApiError::not_found(format!("{value} is not banned")));
    }
    tracing::info!(target: "security", value, "ban lifted by the admin");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_ban_the_address_and_the_login_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let bans = Bans::new(store.clone());
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..FAILURES_BEFORE_BAN - 1 {
            assert!(!bans.record_failure("SMTP", ip, "Alice").unwrap());
        }
        assert!(!bans.address_banned(ip));
        assert!(bans.record_failure("POP3", ip, "alice").unwrap());
        assert!(bans.address_banned(ip) && bans.login_banned("ALICE"), "shared by every service, any case");
        assert_eq!(list(&store).unwrap().len(), 2);
        clear(&store, "192.0.2.9").unwrap();
        assert!(!bans.address_banned(ip));
        assert!(bans.login_banned("alice"));
        assert_eq!(clear(&store, "192.0.2.9").unwrap_err().code, "not_found");
    }
}
