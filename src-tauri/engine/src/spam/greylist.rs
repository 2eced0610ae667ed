//! Greylisting (`spam.greylist`, off by default): a stranger's first attempt for a triplet — client network
//! (the /24 of an IPv4 address, the /64 of an IPv6 one: big senders retry from a neighbouring address),
//! envelope sender, recipient — gets 451 4.7.1 at RCPT; a retry after `spam.greylist_delay` seconds
//! passes, and the client's network then passes at once for [`PASSED_DAYS`] days. Spam engines that never
//! retry are gone; real servers retry within minutes. Triplets never retried are forgotten after
//! [`TRIPLET_HOURS`] hours (the upkeep's [`expire`]).

use std::net::IpAddr;

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{now, Store, StoreResult};

/// How long a network that passed once is let through.
pub const PASSED_DAYS: i64 = 36;
/// How long a first attempt is remembered.
pub const TRIPLET_HOURS: i64 = 48;

/// The network a client's address is greylisted as.
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Whether this attempt may go on: None, or the seconds the client must still wait.
pub async fn check(store: &Store, delay: u32, ip: IpAddr, sender: &str, recipient: &str) -> StoreResult<Option<i64>> {
    let net = network(ip);
    let triplet = format!("{net} {} {}", sender.to_ascii_lowercase(), recipient.to_ascii_lowercase());
    store.write_async(move |c| decide(c, &net, &triplet, i64::from(delay), now())).await
}

fn decide(c: &Connection, net: &str, triplet: &str, delay: i64, at: i64) -> StoreResult<Option<i64>> {
    let passed: Option<i64> = c.query_row("SELECT until FROM greylist_passed WHERE network = ?1", [net], |r| r.get(0)).optional()?;
    if passed.is_some_and(|until| until >= at) {
        return Ok(None);
    }
    let first: Option<i64> = c.query_row("SELECT first_at FROM greylist WHERE triplet = ?1", [triplet], |r| r.get(0)).optional()?;
    match first {
        None => {
            c.execute("INSERT INTO greylist(triplet, first_at) VALUES (?1, ?2)", params![triplet, at])?;
            Ok(Some(delay.max(1)))
        }
        Some(first) if at - first < delay => Ok(Some(delay - (at - first))),
        Some(_) => {
            c.execute("DELETE FROM greylist WHERE triplet = ?1", [triplet])?;
            c.execute("INSERT OR REPLACE INTO greylist_passed(network, until) VALUES (?1, ?2)", params![net, at + PASSED_DAYS * 86_400])?;
            Ok(None)
        }
    }
}

/// Forgets old first attempts and networks whose pass ran out; how many rows went.
pub fn expire(c: &Connection, at: i64) -> StoreResult<usize> {
    let a = c.execute("DELETE FROM greylist WHERE first_at < ?1", [at - TRIPLET_HOURS * 3600])?;
    let b = c.execute("DELETE FROM greylist_passed WHERE until < ?1", [at])?;
    Ok(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_attempt_waits_retry_passes_and_the_network_is_then_known() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("t.db")).unwrap();
        let run = |net: &str, t: &str, at: i64| {
            let (net, t) = (net.to_string(), t.to_string());
            store.write(move |c| decide(c, &net, &t, 300, at)).unwrap()
        };
        assert_eq!(run("192.0.2.0/24", "a", 1000), Some(300));
        assert_eq!(run("192.0.2.0/24", "a", 1100), Some(200), "too early");
        assert_eq!(run("192.0.2.0/24", "a", 1300), None);
        assert_eq!(run("192.0.2.0/24", "b", 1301), None, "a network that passed passes");
        assert_eq!(run("198.51.100.0/24", "b", 1302), Some(300));
        assert_eq!(store.write(|c| expire(c, 1302 + PASSED_DAYS * 86_400)).unwrap(), 2, "the triplet of the other network and the pass");
        assert_eq!(network("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1:2::/64");
    }
}
