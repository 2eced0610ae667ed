//! The in-memory GeoIP index: every range of `geoipv4` / `geoipv6`, searchable in well under a
//! microsecond. Ranges may overlap, so they are dealt into *layers* in which they do not (sorted by
//! start, each range goes to the first layer whose last range ends before it begins); a lookup is one
//! binary search per layer, narrowed first by a table of the address's top bits. Real GeoIP data is
//! one layer; every overlapping tag adds at most one more.

use std::net::IpAddr;
use std::sync::Arc;

/// An address as a number: IPv4 in `u32`, IPv6 in `u128`.
pub trait Key: Copy + Ord + Default {
    const BITS: u32;
    /// The top `bits` bits, for the first-level table.
    fn top(self, bits: u32) -> usize;
}

impl Key for u32 {
    const BITS: u32 = 32;
    fn top(self, bits: u32) -> usize {
        (self >> (32 - bits)) as usize
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    fn top(self, bits: u32) -> usize {
        (self >> (128 - bits)) as usize
    }
}

/// One range: start, end and result side by side, so that a lookup touches one cache line for all three.
#[derive(Clone, Copy)]
struct Entry<K> {
    from: K,
    to: K,
    result: u32,
}

struct Layer<K: Copy> {
    /// While building.
    building: Vec<Entry<K>>,
    entries: Vec<Entry<K>>,
    /// How many top bits the first-level table uses: about log2 of the ranges in the layer (8 to 20), so
    /// that a bucket holds a handful of ranges and a small layer costs a small table.
    bits: u32,
    /// `starts[b]`: the first range whose start is in bucket `b` or later (`2^bits + 1` entries).
    starts: Vec<u32>,
}

impl<K: Key> Layer<K> {
    fn new() -> Layer<K> {
        Layer { building: Vec::new(), entries: Vec::new(), bits: 8, starts: Vec::new() }
    }

    fn last_end(&self) -> Option<K> {
        self.building.last().map(|e| e.to)
    }

    fn finish(&mut self) {
        let built = std::mem::take(&mut self.building);
        let wanted = usize::BITS - built.len().leading_zeros();
        self.bits = wanted.clamp(8, 20).min(K::BITS);
        let buckets = 1usize << self.bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for b in 0..=buckets {
            while i < built.len() && built[i].from.top(self.bits) < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        self.starts = starts;
        self.entries = built;
    }

    /// The range containing `x`, if any (in a layer at most one does).
    fn find(&self, x: K) -> Option<u32> {
        let b = x.top(self.bits);
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        // The last range starting at or before x: within this bucket, or the last of the earlier ones.
        let within = self.entries[lo..hi].partition_point(|e| e.from <= x);
        let i = if within > 0 { lo + within - 1 } else { lo.checked_sub(1)? };
        let e = &self.entries[i];
        (e.to >= x).then_some(e.result)
    }
}

struct Family<K: Copy> {
    layers: Vec<Layer<K>>,
    rows: usize,
}

impl<K: Key> Family<K> {
    /// From (start, end, result) rows in any order.
    fn build(mut rows: Vec<(K, K, u32)>) -> Family<K> {
        rows.sort_unstable();
        let count = rows.len();
        let mut layers: Vec<Layer<K>> = Vec::new();
        for (from, to, result) in rows {
            let free = layers.iter().position(|l| l.last_end().is_none_or(|end| end < from));
            let layer = match free {
                Some(i) => &mut layers[i],
                None => {
                    layers.push(Layer::new());
                    layers.last_mut().expect("just pushed")
                }
            };
            layer.building.push(Entry { from, to, result });
        }
        for l in &mut layers {
            l.finish();
        }
        Family { layers, rows: count }
    }

    fn triples(&self) -> Vec<(K, K, u32)> {
        let mut out = Vec::with_capacity(self.rows);
        for l in &self.layers {
            out.extend(l.entries.iter().map(|e| (e.from, e.to, e.result)));
        }
        out
    }

    fn each(&self, x: K, mut f: impl FnMut(u32)) {
        for l in &self.layers {
            if let Some(r) = l.find(x) {
                f(r);
            }
        }
    }
}

/// Rows as read from the database, before indexing.
#[derive(Default)]
pub struct Rows {
    pub v4: Vec<(u32, u32, String)>,
    pub v6: Vec<(u128, u128, String)>,
}

pub struct GeoIndex {
    v4: Family<u32>,
    v6: Family<u128>,
    results: Vec<Arc<str>>,
}

impl GeoIndex {
    pub fn empty() -> GeoIndex {
        GeoIndex::build(Rows::default())
    }

    pub fn build(rows: Rows) -> GeoIndex {
        GeoIndex::assemble(Vec::new(), Vec::new(), Vec::new(), rows)
    }

    /// This index with `rows` added (the rows inserted since it was built).
    pub fn extended(&self, rows: Rows) -> GeoIndex {
        GeoIndex::assemble(self.results.clone(), self.v4.triples(), self.v6.triples(), rows)
    }

    fn assemble(mut results: Vec<Arc<str>>, mut v4: Vec<(u32, u32, u32)>, mut v6: Vec<(u128, u128, u32)>, rows: Rows) -> GeoIndex {
        let mut ids: std::collections::HashMap<Arc<str>, u32> = results.iter().enumerate().map(|(i, r)| (r.clone(), i as u32)).collect();
        let mut intern = |text: String| -> u32 {
            if let Some(&id) = ids.get(text.as_str()) {
                return id;
            }
            let s: Arc<str> = Arc::from(text);
            let id = results.len() as u32;
            results.push(s.clone());
            ids.insert(s, id);
            id
        };
        v4.extend(rows.v4.into_iter().map(|(f, t, r)| (f, t, intern(r))));
        v6.extend(rows.v6.into_iter().map(|(f, t, r)| (f, t, intern(r))));
        GeoIndex { v4: Family::build(v4), v6: Family::build(v6), results }
    }

    /// Every result whose range holds `ip` (IPv4-mapped IPv6 addresses are looked up as IPv4).
    pub fn lookup(&self, ip: IpAddr) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        self.for_each(ip, |r| out.push(r.clone()));
        out
    }

    pub fn for_each(&self, ip: IpAddr, mut f: impl FnMut(&Arc<str>)) {
        match canonical(ip) {
            IpAddr::V4(v4) => self.v4.each(u32::from(v4), |r| f(&self.results[r as usize])),
            IpAddr::V6(v6) => self.v6.each(u128::from(v6), |r| f(&self.results[r as usize])),
        }
    }

    /// (IPv4 rows, IPv6 rows, layers in all).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.v4.rows, self.v6.rows, self.v4.layers.len() + self.v6.layers.len())
    }
}

/// `::ffff:1.2.3.4` is 1.2.3.4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn lookups_find_every_overlapping_range_and_nothing_else() {
        let rows = Rows {
            v4: vec![
                (v4("1.0.0.0"), v4("1.0.0.255"), "AU".into()),
                (v4("1.0.1.0"), v4("1.0.3.255"), "CN".into()),
                (v4("127.0.0.0"), v4("127.255.255.255"), "LOOPBACK".into()),
                (v4("127.0.0.1"), v4("127.0.0.1"), "THIS-HOST".into()),
                (v4("0.0.0.0"), v4("255.255.255.255"), "ANY".into()),
                (v4("255.255.255.255"), v4("255.255.255.255"), "LAST".into()),
            ],
            v6: vec![(u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap()), u128::from("2001:db8::ffff".parse::<std::net::Ipv6Addr>().unwrap()), "DOC".into())],
        };
        let index = GeoIndex::build(rows);
        let sorted = |ip_text: &str| {
            let mut v: Vec<String> = index.lookup(ip(ip_text)).iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(sorted("1.0.0.7"), ["ANY", "AU"]);
        assert_eq!(sorted("1.0.2.0"), ["ANY", "CN"]);
        assert_eq!(sorted("1.0.4.0"), ["ANY"]);
        assert_eq!(sorted("127.0.0.1"), ["ANY", "LOOPBACK", "THIS-HOST"]);
        assert_eq!(sorted("::ffff:127.0.0.2"), ["ANY", "LOOPBACK"]);
        assert_eq!(sorted("255.255.255.255"), ["ANY", "LAST"]);
        assert_eq!(sorted("2001:db8::1"), ["DOC"]);
        assert!(sorted("2001:db9::1").is_empty());
        assert_eq!(index.counts().0, 6);
    }

    #[test]
    fn a_range_that_starts_in_an_earlier_bucket_is_found() {
        let index = GeoIndex::build(Rows { v4: vec![(v4("10.0.0.0"), v4("10.255.255.255"), "TEN".into())], v6: vec![] });
        assert_eq!(index.lookup(ip("10.200.1.1")).len(), 1);
        assert!(index.lookup(ip("11.0.0.0")).is_empty());
        assert!(index.lookup(ip("9.255.255.255")).is_empty());
        assert!(GeoIndex::empty().lookup(ip("10.0.0.1")).is_empty());
        let more = index.extended(Rows { v4: vec![(v4("10.1.0.0"), v4("10.1.0.255"), "TEN-ONE".into()), (v4("11.0.0.0"), v4("11.0.0.0"), "TEN".into())], v6: vec![] });
        assert_eq!(more.lookup(ip("10.1.0.9")).len(), 2, "added rows join the old ones");
        assert_eq!(more.lookup(ip("11.0.0.0")).len(), 1);
        assert_eq!(more.counts().0, 3);
    }
}
