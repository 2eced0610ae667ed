//! Token buckets for bandwidth shaping. A bucket fills at its rate (bytes per second) up to a burst of a
//! tenth of a second's worth; sending or receiving `n` bytes takes `n` tokens. A bucket may have a parent
//! (a pool nested in another), and bytes are reserved in every bucket up the chain, so children together
//! never exceed their parent. The rate can change at any time; a rate of 0 means no
//! limit at that level.
//!
//! Bytes are reserved a piece at a time (a slice of the burst). A bucket can go into debt, and a
//! reservation waits until the debt before it is paid: reservations are served first come, first
//! served, so connections sharing a pool take turns in small pieces and share it fairly.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The burst: this fraction of a second's worth of bytes.
const BURST_SECS: f64 = 0.1;
/// The smallest burst, so that a very low rate still moves whole packets.
const MIN_BURST: f64 = 1_500.0;
/// The smallest piece of a reservation.
const MIN_PIECE: f64 = 1_024.0;

struct State {
    rate: u64,
    tokens: f64,
    last: Instant,
}

pub struct Bucket {
    state: Mutex<State>,
    parent: Mutex<Option<Arc<Bucket>>>,
    /// Bytes granted since the bucket was made (for the live figures).
    granted: std::sync::atomic::AtomicU64,
}

/// Now, on tokio's clock when there is one (so that tests with paused time see buckets fill).
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn burst(rate: u64) -> f64 {
    (rate as f64 * BURST_SECS).max(MIN_BURST)
}

/// The most one reservation takes from a bucket: an eighth of the burst (at least about a packet), so
/// that sharers alternate often and a turn is short.
fn piece(rate: u64) -> f64 {
    (burst(rate) / 8.0).max(MIN_PIECE)
}

impl State {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        if self.rate > 0 {
            self.tokens = (self.tokens + elapsed * self.rate as f64).min(burst(self.rate));
        }
    }
}

impl Bucket {
    pub fn new(rate: u64, parent: Option<Arc<Bucket>>) -> Arc<Bucket> {
        Arc::new(Bucket {
            state: Mutex::new(State { rate, tokens: burst(rate), last: now() }),
            parent: Mutex::new(parent),
            granted: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A new rate from now on; what is already in the bucket is kept (up to the new burst).
    pub fn set_rate(&self, rate: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.refill(now());
        s.rate = rate;
        if rate > 0 {
            s.tokens = s.tokens.min(burst(rate));
        }
    }

    /// Shares `parent`'s allowance from now on (or no longer shares any).
    pub fn set_parent(&self, parent: Option<Arc<Bucket>>) {
        *self.parent.lock().unwrap_or_else(|p| p.into_inner()) = parent;
    }

    /// Bytes granted so far.
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }

    /// The chain from this bucket up to the top. Settings validation keeps pools free of cycles, but
    /// while new settings are being applied one pool at a time a cycle can exist for an instant: the
    /// walk stops at the first bucket it has seen.
    fn chain(self: &Arc<Bucket>) -> Vec<Arc<Bucket>> {
        let mut out = vec![self.clone()];
        loop {
            let Some(p) = out.last().and_then(|b| b.parent.lock().unwrap_or_else(|p| p.into_inner()).clone()) else { break };
            if out.iter().any(|b| Arc::ptr_eq(b, &p)) {
                break;
            }
            out.push(p);
        }
        out
    }

    /// Reserves up to `want` bytes (at least 1, at most a piece) in every bucket of the chain, and says
    /// how long to wait before using them: zero when the tokens are there, otherwise until the chain's
    /// debt is paid off at its rate. A bucket may go into debt, so reservations are served in the order
    /// they were made: connections sharing a pool take turns, and none is starved however many there
    /// are. Buckets are locked one at a time (never two at once), so no order of locking can deadlock.
    pub fn reserve(self: &Arc<Bucket>, want: usize, now: Instant) -> (Reservation, Duration) {
        let chain = self.chain();
        let mut grant = want.max(1) as f64;
        for b in &chain {
            let mut s = b.lock();
            s.refill(now);
            if s.rate > 0 {
                grant = grant.min(piece(s.rate));
            }
        }
        let grant = grant.floor().max(1.0);
        let mut wait = Duration::ZERO;
        for b in &chain {
            let mut s = b.lock();
            if s.rate > 0 {
                s.tokens -= grant;
                if s.tokens < 0.0 {
                    wait = wait.max(Duration::from_secs_f64(-s.tokens / s.rate as f64));
                }
            }
            drop(s);
            b.granted.fetch_add(grant as u64, Ordering::Relaxed);
        }
        (Reservation { chain, bytes: grant as usize }, wait)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bytes reserved in a chain of buckets. What is not used goes back to the same buckets
/// ([`Reservation::refund`]), even if the connection has moved to another pool since.
pub struct Reservation {
    chain: Vec<Arc<Bucket>>,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps at most `n` of the reserved bytes and gives back the rest.
    pub fn keep(&mut self, n: usize) {
        if n < self.bytes {
            self.refund(self.bytes - n);
            self.bytes = n;
        }
    }

    /// Gives back `unused` of the reserved bytes (a short read or write, a reservation given up).
    pub fn refund(&self, unused: usize) {
        let unused = unused.min(self.bytes);
        if unused == 0 {
            return;
        }
        for b in &self.chain {
            let _ = b.granted.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| Some(g.saturating_sub(unused as u64)));
            let mut s = b.lock();
            if s.rate > 0 {
                s.tokens = (s.tokens + unused as f64).min(burst(s.rate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes moved in `secs` simulated seconds by greedy senders, one per bucket, on a 1 ms clock. A
    /// sender reserves, waits as told, then moves its piece and reserves again, as a session's writes do.
    fn simulate(buckets: &[Arc<Bucket>], secs: f64) -> Vec<u64> {
        let start = Instant::now();
        let mut moved = vec![0u64; buckets.len()];
        // Each sender's reservation: bytes, and when they may be moved.
        let mut pending: Vec<Option<(usize, Instant)>> = vec![None; buckets.len()];
        let steps = (secs * 1000.0) as u64;
        for step in 0..steps {
            let now = start + Duration::from_millis(step);
            loop {
                let mut any = false;
                for (i, b) in buckets.iter().enumerate() {
                    match pending[i] {
                        Some((_, at)) if at > now => continue,
                        Some((n, _)) => moved[i] += n as u64,
                        None => {}
                    }
                    let (r, wait) = b.reserve(64 * 1024, now);
                    pending[i] = Some((r.bytes(), now + wait));
                    any = true;
                }
                if !any {
                    break;
                }
            }
        }
        moved
    }

    #[test]
    fn one_connection_gets_its_rate() {
        let b = Bucket::new(100_000, None);
        let moved = simulate(&[b], 10.0)[0];
        // 10 s at 100,000 B/s plus at most the first burst and a piece.
        assert!((1_000_000..=1_012_000).contains(&moved), "{moved}");
    }

    #[test]
    fn two_connections_in_one_pool_share_it_evenly() {
        let pool = Bucket::new(200_000, None);
        let a = Bucket::new(0, Some(pool.clone()));
        let b = Bucket::new(0, Some(pool.clone()));
        let moved = simulate(&[a, b], 10.0);
        let total: u64 = moved.iter().sum();
        assert!((2_000_000..=2_020_000).contains(&total), "{moved:?}");
        for m in &moved {
            assert!((*m as f64 - 1_000_000.0).abs() < 100_000.0, "each within 10% of half: {moved:?}");
        }
    }

    #[test]
    fn children_of_a_nested_pool_stay_under_the_parent() {
        let parent = Bucket::new(100_000, None);
        let child1 = Bucket::new(80_000, Some(parent.clone()));
        let child2 = Bucket::new(80_000, Some(parent.clone()));
        let conns: Vec<_> = (0..4).map(|i| Bucket::new(0, Some(if i % 2 == 0 { child1.clone() } else { child2.clone() }))).collect();
        let total: u64 = simulate(&conns, 10.0).iter().sum();
        assert!(total <= 1_015_000, "{total}");
        assert!(total >= 990_000, "the parent's allowance is used: {total}");
    }

    #[test]
    fn a_rate_change_takes_effect_at_once_and_zero_means_no_limit() {
        let b = Bucket::new(10_000, None);
        let before = simulate(&[b.clone()], 1.0)[0];
        assert!(before <= 11_500, "{before}");
        b.set_rate(0);
        let (r, wait) = b.reserve(1 << 20, Instant::now());
        assert_eq!((r.bytes(), wait), (1 << 20, Duration::ZERO), "unlimited: everything at once");
        b.set_rate(50_000);
        let after = simulate(&[b], 1.0)[0];
        assert!((45_000..=56_000).contains(&after), "{after}");
    }

    #[test]
    fn refunds_return_unused_tokens() {
        let b = Bucket::new(10_000, None);
        let now = Instant::now();
        let (r, wait) = b.reserve(10_000, now);
        assert_eq!(wait, Duration::ZERO);
        r.refund(r.bytes());
        let (again, wait) = b.reserve(10_000, now);
        assert_eq!((again.bytes(), wait), (r.bytes(), Duration::ZERO), "the same piece again");
    }

    #[test]
    fn a_cycle_for_an_instant_while_settings_change_does_not_hang() {
        let a = Bucket::new(10_000, None);
        let b = Bucket::new(20_000, Some(a.clone()));
        a.set_parent(Some(b.clone()));
        let conn = Bucket::new(0, Some(a.clone()));
        let (r, _) = conn.reserve(100, Instant::now());
        assert_eq!(r.bytes(), 100);
        r.refund(100);
    }

    #[test]
    fn a_hundred_connections_in_one_pool_each_get_their_share() {
        let pool = Bucket::new(100_000, None);
        let conns: Vec<_> = (0..100).map(|_| Bucket::new(0, Some(pool.clone()))).collect();
        let moved = simulate(&conns, 30.0);
        let total: u64 = moved.iter().sum();
        assert!((3_000_000..=3_015_000).contains(&total), "{total}");
        // 30,000 bytes each, in pieces of 1,250: within two pieces of it.
        for m in &moved {
            assert!((27_500..=32_500).contains(m), "{moved:?}");
        }
    }
}
