//! Shaping a connection: the 1000 pools as buckets ([`Pools`]), a connection's own pair of buckets (one
//! per direction, [`Shaper`]) whose limit can change while it runs, and the stream wrapper
//! ([`Throttled`]) that waits for tokens before each read and write. Reads and writes are limited
//! separately; a connection with no limit anywhere passes straight through.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use std::time::Duration;

use super::bucket::{Bucket, Reservation};
use crate::settings::{BandwidthSettings, Throttle, ThrottleMode, POOLS};

/// A pool: one bucket per direction, shared by every connection assigned to it.
pub struct Pool {
    pub send: Arc<Bucket>,
    pub receive: Arc<Bucket>,
    pub connections: AtomicUsize,
}

/// All 1000 pools, following the settings.
pub struct Pools {
    pools: Vec<Pool>,
    /// Counts settings applied (waiting reservations look at it).
    changes: AtomicU64,
}

impl Pools {
    pub fn new(settings: &BandwidthSettings) -> Pools {
        let pools = (0..POOLS).map(|_| Pool { send: Bucket::new(0, None), receive: Bucket::new(0, None), connections: AtomicUsize::new(0) }).collect();
        let p = Pools { pools, changes: AtomicU64::new(0) };
        p.apply(settings);
        p
    }

    /// Pool `id` (1..1000).
    pub fn get(&self, id: u32) -> Option<&Pool> {
        self.pools.get((id as usize).checked_sub(1)?)
    }

    /// New allowances and nesting, in effect for every connection at once. Every parent link is cut
    /// first, so that no mix of old and new links forms a circle.
    pub fn apply(&self, settings: &BandwidthSettings) {
        for pool in &self.pools {
            pool.send.set_parent(None);
            pool.receive.set_parent(None);
        }
        for (i, pool) in self.pools.iter().enumerate() {
            let allowed = settings.allowed(i as u32 + 1);
            let (rate, parent) = if allowed < 0 { (0, self.get(allowed.unsigned_abs() as u32)) } else { (allowed as u64, None) };
            pool.send.set_rate(rate);
            pool.receive.set_rate(rate);
            pool.send.set_parent(parent.map(|p| p.send.clone()));
            pool.receive.set_parent(parent.map(|p| p.receive.clone()));
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a connection's limit comes from, for the live figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase", tag = "source", content = "value")]
pub enum LimitSource {
    /// No limit.
    None,
    /// The service's Custom rate (bytes per second).
    Custom(#[ts(type = "number")] u64),
    /// A pool, by the service's setting.
    Pool(u32),
}

/// One connection's buckets. The limit can be changed at any time (a login, new settings).
pub struct Shaper {
    /// False while the source is `None`: reads and writes then skip the buckets altogether.
    limited: std::sync::atomic::AtomicBool,
    send: Arc<Bucket>,
    receive: Arc<Bucket>,
    source: Mutex<LimitSource>,
    pools: Arc<Pools>,
    /// Counts changes of this connection's limit (waiting reservations look at it).
    changes: std::sync::atomic::AtomicU64,
}

impl Shaper {
    pub fn new(pools: Arc<Pools>, throttle: &Throttle) -> Arc<Shaper> {
        let s = Arc::new(Shaper {
            limited: std::sync::atomic::AtomicBool::new(false),
            send: Bucket::new(0, None),
            receive: Bucket::new(0, None),
            source: Mutex::new(LimitSource::None),
            pools,
            changes: Default::default(),
        });
        s.set(LimitSource::from_throttle(throttle));
        s
    }

    pub fn source(&self) -> LimitSource {
        self.source.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, source: LimitSource) {
        let mut current = self.source.lock().unwrap_or_else(|p| p.into_inner());
        if let LimitSource::Pool(old) = *current {
            if let Some(p) = self.pools.get(old) {
                p.connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let (rate, pool) = match source {
            LimitSource::None => (0, None),
            LimitSource::Custom(r) => (r, None),
            LimitSource::Pool(id) => (0, self.pools.get(id)),
        };
        if let Some(p) = pool {
            p.connections.fetch_add(1, Ordering::Relaxed);
        }
        self.send.set_rate(rate);
        self.receive.set_rate(rate);
        self.send.set_parent(pool.map(|p| p.send.clone()));
        self.receive.set_parent(pool.map(|p| p.receive.clone()));
        self.limited.store(source != LimitSource::None, Ordering::Relaxed);
        *current = source;
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes so far to this connection's limit or to the pools' settings.
    fn generation(&self) -> u64 {
        self.changes.load(Ordering::Relaxed) + self.pools.changes.load(Ordering::Relaxed)
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        if let LimitSource::Pool(id) = *self.source.get_mut().unwrap_or_else(|p| p.into_inner()) {
            if let Some(p) = self.pools.get(id) {
                p.connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl LimitSource {
    pub fn from_throttle(t: &Throttle) -> LimitSource {
        match t.mode {
            ThrottleMode::None => LimitSource::None,
            ThrottleMode::Custom => LimitSource::Custom(t.bytes_per_sec),
            ThrottleMode::Pool => LimitSource::Pool(t.pool),
        }
    }
}

/// The longest a reservation sleeps before looking whether its connection's limit has changed.
const RECHECK: Duration = Duration::from_millis(100);

/// One direction's reservation: bytes reserved in a chain of buckets, usable once their turn comes.
#[derive(Default)]
struct Gate {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    waiting: Option<Waiting>,
}

struct Waiting {
    reservation: Reservation,
    due: tokio::time::Instant,
    /// The shaper's limit when the reservation was made.
    generation: u64,
}

impl Gate {
    /// Bytes that may be moved now (up to `want`): `Ready(n)`, or `Pending` with a timer set to wake the
    /// task. The caller uses the bytes and gives back what it did not use. A long wait wakes every
    /// [`RECHECK`]: if the connection's limit changed meanwhile, the reservation is given back and made
    /// again under the new limit.
    fn poll_take(&mut self, cx: &mut Context<'_>, shaper: &Shaper, bucket: &Arc<Bucket>, want: usize) -> Poll<Reservation> {
        loop {
            let generation = shaper.generation();
            if let Some(w) = self.waiting.as_ref().filter(|w| w.generation != generation) {
                w.reservation.refund(w.reservation.bytes());
                self.waiting = None;
                self.sleep = None;
            }
            let w = match self.waiting.as_mut() {
                Some(w) => w,
                None => {
                    let (reservation, wait) = bucket.reserve(want, super::bucket::now());
                    self.waiting.insert(Waiting { reservation, due: tokio::time::Instant::now() + wait, generation })
                }
            };
            let now = tokio::time::Instant::now();
            if w.due <= now {
                self.sleep = None;
                let mut reservation = self.waiting.take().expect("waiting above").reservation;
                // A retried write may offer less than was reserved for it.
                reservation.keep(want);
                return Poll::Ready(reservation);
            }
            let wake = w.due.min(now + RECHECK);
            match self.sleep.as_mut() {
                Some(sleep) => sleep.as_mut().reset(wake),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(wake))),
            }
            if self.sleep.as_mut().expect("set above").as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Gives back a reservation that will not be used (the connection no longer has a limit).
    fn release(&mut self) {
        if let Some(w) = self.waiting.take() {
            w.reservation.refund(w.reservation.bytes());
        }
        self.sleep = None;
    }
}

impl Drop for Gate {
    /// A connection closed while waiting: its reservation goes back to the pool.
    fn drop(&mut self) {
        self.release();
    }
}

use std::future::Future;

/// A stream shaped by a [`Shaper`].
pub struct Throttled<S> {
    inner: S,
    shaper: Arc<Shaper>,
    read_gate: Gate,
    write_gate: Gate,
}

impl<S> Throttled<S> {
    pub fn new(inner: S, shaper: Arc<Shaper>) -> Throttled<S> {
        Throttled { inner, shaper, read_gate: Gate::default(), write_gate: Gate::default() }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 || !this.shaper.limited.load(Ordering::Relaxed) {
            this.read_gate.release();
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // A connection in an unlimited pool still goes through the buckets, so the pool's use is counted.
        let reservation = match this.read_gate.poll_take(cx, &this.shaper, &this.shaper.receive, buf.remaining()) {
            Poll::Ready(r) => r,
            Poll::Pending => return Poll::Pending,
        };
        let mut part = buf.take(reservation.bytes());
        let polled = Pin::new(&mut this.inner).poll_read(cx, &mut part);
        let got = part.filled().len();
        // SAFETY: the inner read initialised and filled `got` bytes of `buf`'s unfilled part.
        unsafe { buf.assume_init(got) };
        buf.advance(got);
        reservation.refund(reservation.bytes() - got);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() || !this.shaper.limited.load(Ordering::Relaxed) {
            this.write_gate.release();
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        // A connection in an unlimited pool still goes through the buckets, so the pool's use is counted.
        let reservation = match this.write_gate.poll_take(cx, &this.shaper, &this.shaper.send, data.len()) {
            Poll::Ready(r) => r,
            Poll::Pending => return Poll::Pending,
        };
        let n = reservation.bytes();
        let polled = Pin::new(&mut this.inner).poll_write(cx, &data[..n]);
        let written = match &polled {
            Poll::Ready(Ok(w)) => *w,
            _ => 0,
        };
        reservation.refund(n - written);
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_custom_limit_paces_writes_and_reads_and_can_change_midway() {
        let pools = Arc::new(Pools::new(&BandwidthSettings::default()));
        let shaper = Shaper::new(pools, &Throttle { mode: ThrottleMode::Custom, bytes_per_sec: 10_000, pool: 1 });
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Throttled::new(a, shaper.clone());
        let start = tokio::time::Instant::now();
        a.write_all(&vec![7u8; 50_000]).await.unwrap();
        // 50 KB at 10 KB/s, less the first burst: about 5 s of (paused, simulated) time.
        let took = start.elapsed().as_secs_f64();
        assert!((4.5..5.5).contains(&took), "{took}");
        let mut got = vec![0u8; 50_000];
        b.read_exact(&mut got).await.unwrap();
        shaper.set(LimitSource::None);
        let start = tokio::time::Instant::now();
        a.write_all(&vec![7u8; 500_000]).await.unwrap();
        assert!(start.elapsed().as_secs_f64() < 0.01, "no limit: at once");
        assert_eq!(shaper.source(), LimitSource::None);
    }

    #[tokio::test(start_paused = true)]
    async fn each_direction_has_its_own_allowance() {
        let pools = Arc::new(Pools::new(&BandwidthSettings::default()));
        let shaper = Shaper::new(pools, &Throttle { mode: ThrottleMode::Custom, bytes_per_sec: 10_000, pool: 1 });
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (mut read_half, mut write_half) = tokio::io::split(Throttled::new(ours, shaper));
        let (mut their_read, mut their_write) = tokio::io::split(theirs);
        let start = tokio::time::Instant::now();
        // 50 KB each way at the same time: about 5 s if each direction has 10 KB/s, 10 s if they shared.
        let sending = async {
            write_half.write_all(&vec![1u8; 50_000]).await.unwrap();
            start.elapsed().as_secs_f64()
        };
        let receiving = async {
            let mut got = vec![0u8; 50_000];
            read_half.read_exact(&mut got).await.unwrap();
            start.elapsed().as_secs_f64()
        };
        let peer = async {
            their_write.write_all(&vec![2u8; 50_000]).await.unwrap();
            let mut sink = vec![0u8; 50_000];
            their_read.read_exact(&mut sink).await.unwrap();
        };
        let (sent, received, ()) = tokio::join!(sending, receiving, peer);
        for took in [sent, received] {
            assert!((4.5..5.5).contains(&took), "sent in {sent} s, received in {received} s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waiting_for_its_turn_feels_a_new_limit_at_once() {
        let mut settings = BandwidthSettings::default();
        settings.pools.push(crate::settings::BandwidthPool { id: 1, name: "slow".into(), allowed: 1_000 });
        let pools = Arc::new(Pools::new(&settings));
        let shaper = Shaper::new(pools.clone(), &Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 1 });
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Throttled::new(a, shaper.clone());
        let start = tokio::time::Instant::now();
        let writer = tokio::spawn(async move {
            // 100 KB at 1000 B/s: 100 s, unless the limit changes.
            a.write_all(&vec![3u8; 100_000]).await.unwrap();
            start.elapsed().as_secs_f64()
        });
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        shaper.set(LimitSource::None);
        let took = writer.await.unwrap();
        assert!(took < 2.5, "the rest went at once after the change: {took} s");
        let mut got = vec![0u8; 100_000];
        b.read_exact(&mut got).await.unwrap();
        // The reservation given up went back to the pool: it is not left in debt.
        let (r, wait) = pools.get(1).unwrap().send.reserve(10, crate::bandwidth::bucket::now());
        assert!(wait < std::time::Duration::from_secs(2), "pool debt {wait:?}");
        r.refund(r.bytes());
        // And a settings change reaches a waiting connection too.
        let shaper = Shaper::new(pools.clone(), &Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 1 });
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Throttled::new(a, shaper);
        let start = tokio::time::Instant::now();
        let writer = tokio::spawn(async move {
            a.write_all(&vec![3u8; 100_000]).await.unwrap();
            start.elapsed().as_secs_f64()
        });
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        settings.pools[0].allowed = 0;
        pools.apply(&settings);
        let took = writer.await.unwrap();
        assert!(took < 2.5, "no limit any more: {took} s");
        b.read_exact(&mut got).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn pool_connections_are_counted_and_share_the_pool() {
        let mut settings = BandwidthSettings::default();
        settings.pools.push(crate::settings::BandwidthPool { id: 7, name: "shared".into(), allowed: 20_000 });
        let pools = Arc::new(Pools::new(&settings));
        let throttle = Throttle { mode: ThrottleMode::Pool, bytes_per_sec: 0, pool: 7 };
        let (s1, s2) = (Shaper::new(pools.clone(), &throttle), Shaper::new(pools.clone(), &throttle));
        assert_eq!(pools.get(7).unwrap().connections.load(Ordering::Relaxed), 2);
        let run = |shaper: Arc<Shaper>| async move {
            let (a, mut b) = tokio::io::duplex(1 << 20);
            let mut a = Throttled::new(a, shaper);
            let reader = tokio::spawn(async move {
                let mut sink = Vec::new();
                b.read_to_end(&mut sink).await.unwrap();
                sink.len()
            });
            let start = tokio::time::Instant::now();
            a.write_all(&vec![1u8; 100_000]).await.unwrap();
            drop(a);
            (start.elapsed().as_secs_f64(), reader.await.unwrap())
        };
        let (r1, r2) = tokio::join!(run(s1.clone()), run(s2.clone()));
        // 200 KB through a 20 KB/s pool: about 10 s for both, each finishing near the end.
        for (took, n) in [r1, r2] {
            assert_eq!(n, 100_000);
            assert!((9.0..11.0).contains(&took), "{took}");
        }
        drop(s1);
        drop(s2);
        assert_eq!(pools.get(7).unwrap().connections.load(Ordering::Relaxed), 0);
    }
}
