//! Bandwidth settings: each service's Bandwidth Throttling (no limit, a custom rate per connection, or
//! a pool shared by its connections) and the 1000 bandwidth pools (Settings → Misc Settings → Bandwidth
//! Pools), VPOP3's names and meanings: a pool's allowed bandwidth is bytes per second, 0 for no limit,
//! and −K to share pool K's allowance (a child of K).

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// How many pools there are.
pub const POOLS: usize = 1000;

/// Whether `v` is a limit in bandwidth.lua's terms: 0 (no limit), 1..999999999 (bytes per second for
/// the connection) or −1..−1000 (a pool).
pub fn check_limit_value(v: i64) -> Result<(), NotALimit> {
    match v {
        -1000..=999_999_999 => Ok(()),
        _ => Err(NotALimit(v)),
    }
}

/// A number that is not a limit in bandwidth.lua's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a limit: use 0 (no limit), 1 to 999999999 (bytes per second) or -1 to -1000 (a pool)")]
pub struct NotALimit(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleMode {
    /// No limit (the default).
    None,
    /// `bytes_per_sec` for each connection of the service.
    Custom,
    /// Every connection of the service shares pool `pool`.
    Pool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct Throttle {
    pub mode: ThrottleMode,
    #[ts(type = "number")]
    pub bytes_per_sec: u64,
    /// 1..1000.
    pub pool: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle { mode: ThrottleMode::None, bytes_per_sec: 100_000, pool: 1 }
    }
}

/// One pool. Pools not listed have no name and no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct BandwidthPool {
    /// 1..1000.
    pub id: u32,
    pub name: String,
    /// Bytes per second; 0 = no limit; −K = a child of pool K, sharing its allowance.
    #[ts(type = "number")]
    pub allowed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, ts_rs::TS)]
#[serde(default)]
pub struct BandwidthSettings {
    pub smtp: Throttle,
    pub submission: Throttle,
    pub smtps: Throttle,
    pub pop3: Throttle,
    pub pop3s: Throttle,
    pub imap: Throttle,
    pub imaps: Throttle,
    pub http: Throttle,
    pub https: Throttle,
    /// The pools that have a name or a limit, by id.
    pub pools: Vec<BandwidthPool>,
}

super::services::per_service!(BandwidthSettings, Throttle);

impl BandwidthSettings {
    /// Pool `id`'s allowance (0 for a pool not listed).
    pub fn allowed(&self, id: u32) -> i64 {
        self.pools.iter().find(|p| p.id == id).map_or(0, |p| p.allowed)
    }

    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        for id in super::ServiceId::ALL {
            let t = self.get(id);
            let field = |name: &str| format!("bandwidth.{}.{name}", id.key());
            if t.mode == ThrottleMode::Custom && t.bytes_per_sec == 0 {
                errors.push(FieldError::new(field("bytes_per_sec"), "at least 1 byte per second (choose No Limit for none)"));
            }
            if t.mode == ThrottleMode::Custom && t.bytes_per_sec > 999_999_999 {
                errors.push(FieldError::new(field("bytes_per_sec"), "at most 999999999 bytes per second"));
            }
            if t.mode == ThrottleMode::Pool && !(1..=POOLS as u32).contains(&t.pool) {
                errors.push(FieldError::new(field("pool"), format!("a pool from 1 to {POOLS}")));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.pools {
            let field = format!("bandwidth.pools.{}", p.id);
            if !(1..=POOLS as u32).contains(&p.id) {
                errors.push(FieldError::new(field, format!("pool numbers go from 1 to {POOLS}")));
                continue;
            }
            if !seen.insert(p.id) {
                errors.push(FieldError::new(field, format!("pool {} is listed twice", p.id)));
                continue;
            }
            if p.allowed > 999_999_999 {
                errors.push(FieldError::new(field, format!("pool {}: at most 999999999 bytes per second", p.id)));
            } else if p.allowed < 0 {
                let parent = p.allowed.unsigned_abs();
                if parent > POOLS as u64 {
                    errors.push(FieldError::new(field, format!("pool {}: there is no pool {parent} to share (pools go from 1 to {POOLS})", p.id)));
                } else if let Some(cycle) = self.cycle_from(p.id) {
                    let path: Vec<String> = cycle.iter().map(u32::to_string).collect();
                    errors.push(FieldError::new(field, format!("pool {}: the pools share each other's allowance in a circle ({})", p.id, path.join(" → "))));
                }
            }
        }
    }

    /// The chain of parents from `id` if it comes back to a pool already on it.
    fn cycle_from(&self, id: u32) -> Option<Vec<u32>> {
        let mut path = vec![id];
        let mut at = id;
        loop {
            let allowed = self.allowed(at);
            if allowed >= 0 {
                return None;
            }
            at = allowed.unsigned_abs() as u32;
            if path.contains(&at) {
                path.push(at);
                return Some(path);
            }
            path.push(at);
            if path.len() > POOLS + 1 {
                return Some(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(id: u32, allowed: i64) -> BandwidthPool {
        BandwidthPool { id, name: format!("pool {id}"), allowed }
    }

    fn messages(b: &BandwidthSettings) -> Vec<String> {
        let mut errors = Vec::new();
        b.validate(&mut errors);
        errors.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn nested_pools_are_fine_and_cycles_and_missing_pools_are_refused() {
        let mut b = BandwidthSettings { pools: vec![pool(3, 100_000), pool(1, -3), pool(2, -3)], ..Default::default() };
        assert!(messages(&b).is_empty());
        b.pools = vec![pool(1, -2), pool(2, -3), pool(3, -1)];
        let m = messages(&b);
        assert!(m.iter().any(|m| m.contains("in a circle (1 → 2 → 3 → 1)")), "{m:?}");
        b.pools = vec![pool(4, -4)];
        assert!(messages(&b)[0].contains("in a circle (4 → 4)"));
        b.pools = vec![pool(5, -1001)];
        assert!(messages(&b)[0].contains("there is no pool 1001"));
        b.pools = vec![pool(0, 5)];
        assert!(messages(&b)[0].contains("from 1 to 1000"));
        b.pools = vec![];
        b.imap = Throttle { mode: ThrottleMode::Pool, pool: 1001, ..Default::default() };
        b.pop3 = Throttle { mode: ThrottleMode::Custom, bytes_per_sec: 0, ..Default::default() };
        assert_eq!(messages(&b).len(), 2);
    }
}
