//! What DNS said, kept until its TTL runs out, for the authentication checks: a mail server sees the same
//! few domains (and their SPF includes, DKIM keys and DMARC records) again and again. Each table holds at
//! most [`MAX_ENTRIES`]; a full table first drops what expired, then everything (a stranger cannot grow it).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::{RecordSet, ResolverCache, Txt, MX};

pub const MAX_ENTRIES: usize = 10_000;

/// One table: key → (value, valid until).
pub struct Ttl<K, V> {
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for Ttl<K, V> {
    fn default() -> Self {
        Ttl { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Ttl<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                map.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (value, valid_until));
    }
}

impl<K, V> Ttl<K, V> {
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The tables mail-auth asks for.
#[derive(Default)]
pub struct Caches {
    pub txt: Ttl<Box<str>, Txt>,
    pub mx: Ttl<Box<str>, RecordSet<MX>>,
    pub ipv4: Ttl<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: Ttl<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: Ttl<IpAddr, RecordSet<Box<str>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_live_until_their_ttl_and_a_full_table_starts_again() {
        let cache: Ttl<Box<str>, u32> = Ttl::default();
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert("a.example".into(), 1, later);
        cache.insert("b.example".into(), 2, Instant::now());
        assert_eq!(cache.get("a.example"), Some(1));
        assert_eq!(cache.get("b.example"), None, "expired");
        for i in 0..MAX_ENTRIES + 1 {
            cache.insert(format!("{i}.example").into(), 0, later);
        }
        assert!(cache.len() <= MAX_ENTRIES, "{}", cache.len());
    }
}
