//! Connection caps per protocol and client address (an IPv6 client's /64), checked at accept before
//! anything is read.

/// The web service's connections per client address and in all (it has no settings of its own for these:
/// a mail program fetches one document and goes).
pub const HTTP_PER_ADDRESS: u32 = 16;
pub const HTTP_CONNECTIONS: u32 = 256;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::settings::Protocol;

#[derive(Default)]
pub struct ConnectionLimits {
    counts: Mutex<HashMap<(Protocol, String), u32>>,
}

/// Holds a connection's place; released on drop.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    key: (Protocol, String),
}

impl ConnectionLimits {
    /// A slot for `ip` on `protocol`, or `None` when it (or the protocol in all) already has as many as allowed.
    pub fn acquire(limits: &Arc<ConnectionLimits>, protocol: Protocol, ip: IpAddr, per_address: u32, total: u32) -> Option<ConnectionSlot> {
        let mut counts = limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        let all: u32 = counts.iter().filter(|((p, _), _)| *p == protocol).map(|(_, n)| *n).sum();
        // One client: an IPv4 address, or an IPv6 /64 (a site's network, which hands its machines, and an
        // attacker, 2^64 addresses); counted as the bans count them.
        let key = (protocol, crate::access::bans::address_key(ip));
        let mine = counts.get(&key).copied().unwrap_or(0);
        if mine >= per_address || all >= total {
            return None;
        }
        counts.insert(key.clone(), mine + 1);
        Some(ConnectionSlot { limits: limits.clone(), key })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_per_protocol_and_free_on_drop() {
        let limits = Arc::new(ConnectionLimits::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = ConnectionLimits::acquire(&limits, Protocol::Smtp, a, 2, 3).unwrap();
        let _second = ConnectionLimits::acquire(&limits, Protocol::Smtp, a, 2, 3).unwrap();
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, a, 2, 3).is_none(), "per address");
        let _third = ConnectionLimits::acquire(&limits, Protocol::Smtp, b, 2, 3).unwrap();
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, b, 2, 3).is_none(), "in all");
        assert!(ConnectionLimits::acquire(&limits, Protocol::Imap, a, 2, 3).is_some(), "other protocols count apart");
        drop(first);
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, a, 2, 3).is_some());
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address_and_mapped_ipv4_as_itself() {
        let limits = Arc::new(ConnectionLimits::default());
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = ConnectionLimits::acquire(&limits, Protocol::Smtp, one, 1, 10).unwrap();
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, same_64, 1, 10).is_none(), "another address in the same /64");
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, next_64, 1, 10).is_some());
        let _v4 = ConnectionLimits::acquire(&limits, Protocol::Smtp, "192.0.2.7".parse().unwrap(), 1, 10).unwrap();
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, "::ffff:192.0.2.7".parse().unwrap(), 1, 10).is_none(), "mapped IPv4 is the same client");
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, "64:ff9b::192.0.2.7".parse().unwrap(), 1, 10).is_none(), "so is an IPv4 client through NAT64");
        assert!(ConnectionLimits::acquire(&limits, Protocol::Smtp, "64:ff9b::192.0.2.8".parse().unwrap(), 1, 10).is_some(), "NAT64 clients are not one /64");
    }
}
