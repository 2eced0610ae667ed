//! Failed-login bans, shared by every service, built so that a stranger cannot turn them against users.
//!
//! Failures are counted in memory over [`WINDOW_SECS`], per client address and per (address, login). An
//! IPv6 client counts by its /64 (one customer's whole network), so hopping through addresses gains nothing.
//! - [`FAILURES_BEFORE_BAN`] failures from an address ban the address for [`BAN_SECS`], for every service,
//!   unless someone logged in from it successfully within [`TRUSTED_SECS`] (the office's own NAT address is
//!   never locked out by one PC with a stale password, nor by a stranger).
//! - The same number of failures for one login from one address lock that login *for that address only*
//!   ("alice from 192.0.2.9"): a stranger guessing alice's password elsewhere never locks alice out.
//!
//! A ban is a row in the `bans` table, so it survives a restart, shows in `postroomd bans list` and the Bans
//! window, and the admin can lift it from any process. Expired rows are deleted as new failures come in.
//! Login names longer than [`MAX_LOGIN_LEN`] are refused before anything is counted, and the failure table
//! holds at most [`MAX_TRACKED`] keys (the oldest go first), so a flood of made-up names and addresses
//! cannot grow the server's memory.

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
/// An address with a successful login this recent is not banned as a whole.
pub const TRUSTED_SECS: i64 = 24 * 60 * 60;
/// Longest login name looked at; longer ones name nobody (user names are shorter) and are not counted.
pub const MAX_LOGIN_LEN: usize = 255;
/// Keys (addresses and address-login pairs) the failure table and the success table hold at most.
pub const MAX_TRACKED: usize = 10_000;

/// One current ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Ban {
    /// "address" or "login".
    pub kind: String,
    /// The address (an IPv6 /64 as `prefix::/64`), or for a login `name from address`.
    pub value: String,
    pub failures: u32,
    pub reason: String,
    pub banned_at: String,
    pub until: String,
}

/// How failures, successes and connections are counted for an address: IPv4 (and IPv4-mapped IPv6, and
/// an IPv4 client behind NAT64's well-known prefix 64:ff9b::/96) by address, IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => std::net::Ipv4Addr::from(u128::from(v6) as u32).to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// The ban value that locks `login` for one address.
pub fn login_key(ip: IpAddr, login: &str) -> String {
    format!("{} from {}", login.to_lowercase(), address_key(ip))
}

#[derive(Default)]
struct Tracker {
    /// (kind, value) → times of the failures in the window.
    failures: HashMap<(&'static str, String), Vec<i64>>,
    /// address key → time of the last successful login.
    successes: HashMap<String, i64>,
}

/// Makes room in a map for two more keys within [`MAX_TRACKED`]: the stale go first, then the oldest.
fn bound<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, fresh: impl Fn(&V) -> bool, age: impl Fn(&V) -> i64) {
    if map.len() + 2 <= MAX_TRACKED {
        return;
    }
    map.retain(|_, v| fresh(v));
    while map.len() + 2 > MAX_TRACKED {
        let Some(oldest) = map.iter().min_by_key(|(_, v)| age(v)).map(|(k, _)| k.clone()) else { break };
        map.remove(&oldest);
    }
}

pub struct Bans {
    store: Store,
    tracker: Mutex<Tracker>,
}

impl Bans {
    pub fn new(store: Store) -> Bans {
        Bans { store, tracker: Mutex::default() }
    }

    /// Whether `ip` (or, for IPv6, its /64) is banned now.
    pub fn address_banned(&self, ip: IpAddr) -> bool {
        self.banned("address", &address_key(ip))
    }

    /// Whether logins as `login` from `ip` are blocked now.
    pub fn login_banned(&self, ip: IpAddr, login: &str) -> bool {
        self.banned("login", &login_key(ip, login))
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

    /// Remembers a successful login: the address is trusted for a day, and its failures start over.
    pub fn record_success(&self, ip: IpAddr, login: &str) {
        let at = now();
        let address = address_key(ip);
        let mut t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        t.failures.remove(&("login", login_key(ip, login)));
        bound(&mut t.successes, |&when| at - when < TRUSTED_SECS, |&when| when);
        t.successes.insert(address, at);
    }

    /// Counts a failed login; returns true when this failure banned the address.
    pub fn record_failure(&self, service: &str, ip: IpAddr, login: &str) -> StoreResult<bool> {
        if login.len() > MAX_LOGIN_LEN {
            return Ok(false);
        }
        let at = now();
        let address = address_key(ip);
        let mut new_bans = Vec::new();
        {
            let mut t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            let trusted = t.successes.get(&address).is_some_and(|&when| at - when < TRUSTED_SECS);
            let mut keys = vec![("login", login_key(ip, login))];
            if !trusted {
                keys.push(("address", address.clone()));
            }
            bound(&mut t.failures, |times| times.last().is_some_and(|&last| at - last < WINDOW_SECS), |times| times.last().copied().unwrap_or(0));
            for key in keys {
                let times = t.failures.entry(key.clone()).or_default();
                times.retain(|&x| at - x < WINDOW_SECS);
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
            // Expired bans go as new ones come, so the table holds only what is in force.
            c.execute("DELETE FROM bans WHERE until <= ?1", [at])?;
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

    /// How many keys the failure and success tables hold (for tests and the status).
    pub fn tracked(&self) -> (usize, usize) {
        let t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        (t.failures.len(), t.successes.len())
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

/// Lifts the ban on an address or login (a bare login name: on every address).
pub fn clear(store: &Store, value: &str) -> ApiResult<()> {
    // A login name alone lifts that login's locks for every address ("alice" clears "alice from …").
    let wanted = value.trim().to_string();
    let removed = store.write(move |c| {
        let from = format!("{} from %", wanted.to_lowercase());
        Ok(c.execute("DELETE FROM bans WHERE value = ?1 OR (kind = 'login' AND value LIKE ?2 ESCAPE '\\')", params![wanted, from.replace('_', "\\_")])?)
    })?;
    if removed == 0 {
        return Err(ApiError::not_found(format!("{value} is not banned")));
    }
    tracing::info!(target: "security", value, "ban lifted by the admin");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bans() -> (tempfile::TempDir, Store, Bans) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let bans = Bans::new(store.clone());
        (dir, store, bans)
    }

    #[test]
    fn five_failures_ban_the_address_and_lock_the_login_for_that_address_only() {
        let (_dir, store, bans) = bans();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let elsewhere: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..FAILURES_BEFORE_BAN - 1 {
            assert!(!bans.record_failure("SMTP", ip, "Alice").unwrap());
        }
        assert!(!bans.address_banned(ip));
        assert!(bans.record_failure("POP3", ip, "alice").unwrap());
        assert!(bans.address_banned(ip) && bans.login_banned(ip, "ALICE"), "shared by every service, any case");
        assert!(!bans.login_banned(elsewhere, "alice"), "alice is not locked out where nobody failed");
        assert_eq!(list(&store).unwrap().iter().map(|b| b.value.as_str()).collect::<Vec<_>>().len(), 2);
        clear(&store, "192.0.2.9").unwrap();
        assert!(!bans.address_banned(ip));
        assert!(bans.login_banned(ip, "alice"));
        assert_eq!(clear(&store, "192.0.2.9").unwrap_err().code, crate::error::ErrorCode::NotFound);
        clear(&store, "alice").unwrap();
        assert!(!bans.login_banned(ip, "alice"), "the login's name alone lifts its locks");
    }

    #[test]
    fn an_address_with_a_recent_login_is_not_banned_by_failures_on_it() {
        let (_dir, _store, bans) = bans();
        let office: IpAddr = "203.0.113.5".parse().unwrap();
        bans.record_success(office, "bob");
        for i in 0..20 {
            assert!(!bans.record_failure("IMAP4", office, &format!("user{}", i % 3)).unwrap());
        }
        assert!(!bans.address_banned(office), "the office's address stays open");
        assert!(bans.login_banned(office, "user0"), "the guessed login is locked there");
        assert!(!bans.login_banned(office, "bob"));
    }

    #[test]
    fn ipv6_counts_by_64_and_long_names_and_floods_stay_bounded() {
        let (_dir, _store, bans) = bans();
        for i in 0..FAILURES_BEFORE_BAN {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            bans.record_failure("SMTP", ip, &format!("name{i}")).unwrap();
        }
        assert!(bans.address_banned("2001:db8:1:2:ffff::1".parse().unwrap()), "the whole /64");
        assert!(!bans.address_banned("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        let before = bans.tracked();
        assert!(!bans.record_failure("SMTP", "192.0.2.1".parse().unwrap(), &"x".repeat(256)).unwrap());
        assert_eq!(bans.tracked(), before, "an over-long name is not counted");
        for i in 0..(MAX_TRACKED + 500) as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            bans.record_failure("SMTP", ip, "x").unwrap();
        }
        assert!(bans.tracked().0 <= MAX_TRACKED, "{:?}", bans.tracked());
    }

    #[test]
    fn expired_bans_are_deleted() {
        let (_dir, store, bans) = bans();
        store.write(|c| Ok(c.execute("INSERT INTO bans(kind, value, failures, reason, banned_at, until) VALUES ('address', '192.0.2.50', 5, 'old', 1, 2)", [])?)).unwrap();
        let ip: IpAddr = "192.0.2.51".parse().unwrap();
        for _ in 0..FAILURES_BEFORE_BAN {
            bans.record_failure("SMTP", ip, "x").unwrap();
        }
        let rows: i64 = store.read(|c| Ok(c.query_row("SELECT count(*) FROM bans WHERE value = '192.0.2.50'", [], |r| r.get(0))?)).unwrap();
        assert_eq!(rows, 0);
    }
}
