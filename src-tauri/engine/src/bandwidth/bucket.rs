//! Token buckets for bandwidth shaping. A bucket fills at its rate (bytes per second) up to a burst of a
//! tenth of a second's worth; sending or receiving `n` bytes takes `n` tokens. A bucket may have a parent
//! (a pool nested in another), and bytes are only granted when every bucket up the chain has them, so
//! children together never exceed their parent. The rate can change at any time; a rate of 0 means no
//! limit at that level.
//!
//! Grants are capped at a slice of the burst, so connections sharing a bucket take turns in small pieces
//! and share it fairly.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The burst: this fraction of a second's worth of bytes.
const BURST_SECS: f64 = 0.1;
/// The smallest burst, so that a very low rate still moves whole packets.
const MIN_BURST: f64 = 1_500.0;

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

    pub fn rate(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).rate
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
        self.granted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The chain from this bucket up to the top (settings validation keeps it free of cycles; the length
    /// cap guards against one anyway).
    fn chain(self: &Arc<Bucket>) -> Vec<Arc<Bucket>> {
        let mut out = vec![self.clone()];
        while out.len() <= crate::settings::POOLS + 1 {
            let Some(p) = out.last().and_then(|b| b.parent.lock().unwrap_or_else(|p| p.into_inner()).clone()) else { break };
            out.push(p);
        }
        out
    }

    /// Takes up to `want` bytes' worth now: `Ok(n)` with `n ≥ 1`, or `Err(wait)` when some bucket of the
    /// chain is empty, with how long until it has enough for a useful piece.
    pub fn take(self: &Arc<Bucket>, want: usize, now: Instant) -> Result<usize, Duration> {
        let chain = self.chain();
        let mut guards: Vec<_> = chain.iter().map(|b| b.state.lock().unwrap_or_else(|p| p.into_inner())).collect();
        let mut grant = want as f64;
        let mut wait = Duration::ZERO;
        for s in guards.iter_mut() {
            s.refill(now);
            if s.rate == 0 {
                continue;
            }
            // A piece: at most a quarter of the burst, so that sharers alternate.
            // Nothing is granted until a whole piece (or all that is wanted) is there: no trickle of tiny
            // writes, and a sharer that has waited gets its turn before the one that just sent.
            let piece = (burst(s.rate) / 4.0).max(1.0).min(want as f64);
            grant = grant.min(piece);
            if s.tokens < piece {
                wait = wait.max(Duration::from_secs_f64((piece - s.tokens) / s.rate as f64));
            }
        }
        if wait > Duration::ZERO {
            return Err(wait.max(Duration::from_millis(1)));
        }
        let grant = grant.max(1.0);
        for s in guards.iter_mut().filter(|s| s.rate > 0) {
            s.tokens -= grant;
        }
        drop(guards);
        for b in &chain {
            b.granted.fetch_add(grant as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(grant as usize)
    }

    /// Gives back bytes taken but not used (a short read or write).
    pub fn refund(self: &Arc<Bucket>, unused: usize) {
        if unused == 0 {
            return;
        }
        for b in self.chain() {
            b.granted.fetch_sub((unused as u64).min(b.granted()), std::sync::atomic::Ordering::Relaxed);
            let mut s = b.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.rate > 0 {
                s.tokens = (s.tokens + unused as f64).min(burst(s.rate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes moved in `secs` simulated seconds by greedy senders, one per bucket, each step advancing the
    /// clock by 1 ms. Within a step the senders take turns a piece at a time, as concurrent sessions do
    /// (each writes what it was granted before asking again), until none is granted more.
    fn simulate(buckets: &[Arc<Bucket>], secs: f64) -> Vec<u64> {
        let start = Instant::now();
        let mut moved = vec![0u64; buckets.len()];
        let steps = (secs * 1000.0) as u64;
        for step in 0..steps {
            let now = start + Duration::from_millis(step);
            loop {
                let mut any = false;
                // Who asks first varies from step to step, as wake-up order does between tasks.
                let n = buckets.len();
                for k in 0..n {
                    let i = (k + step as usize) % n;
                    let b = &buckets[i];
                    if let Ok(n) = b.take(64 * 1024, now) {
                        moved[i] += n as u64;
                        any = true;
                    }
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
        // 10 s at 100,000 B/s plus at most the first burst.
        assert!((1_000_000..=1_010_000).contains(&moved), "{moved}");
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
        assert!(total <= 1_010_000, "{total}");
        assert!(total >= 990_000, "the parent's allowance is used: {total}");
    }

    #[test]
    fn a_rate_change_takes_effect_at_once_and_zero_means_no_limit() {
        let b = Bucket::new(10_000, None);
        let before = simulate(&[b.clone()], 1.0)[0];
        assert!(before <= 11_500, "{before}");
        b.set_rate(0);
        assert_eq!(b.take(1 << 20, Instant::now()), Ok(1 << 20), "unlimited: everything at once");
        b.set_rate(50_000);
        let after = simulate(&[b], 1.0)[0];
        assert!((45_000..=56_000).contains(&after), "{after}");
    }

    #[test]
    fn refunds_return_unused_tokens() {
        let b = Bucket::new(10_000, None);
        let now = Instant::now();
        let n = b.take(10_000, now).unwrap();
        b.refund(n);
        assert_eq!(b.take(10_000, now), Ok(n), "the same piece again");
    }
}
