//! Shaping a connection: the 1000 pools as buckets ([`Pools`]), a connection's own pair of buckets (one
//! per direction, [`Shaper`]) whose limit can change while it runs, and the stream wrapper
//! ([`Throttled`]) that waits for tokens before each read and write. Reads and writes are limited
//! separately; a connection with no limit anywhere passes straight through.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::bucket::Bucket;
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
}

impl Pools {
    pub fn new(settings: &BandwidthSettings) -> Pools {
        let pools = (0..POOLS).map(|_| Pool { send: Bucket::new(0, None), receive: Bucket::new(0, None), connections: AtomicUsize::new(0) }).collect();
        let p = Pools { pools };
        p.apply(settings);
        p
    }

    /// Pool `id` (1..1000).
    pub fn get(&self, id: u32) -> Option<&Pool> {
        self.pools.get((id as usize).checked_sub(1)?)
    }

    /// New allowances and nesting, in effect for every connection at once.
    pub fn apply(&self, settings: &BandwidthSettings) {
        for (i, pool) in self.pools.iter().enumerate() {
            let allowed = settings.allowed(i as u32 + 1);
            let (rate, parent) = if allowed < 0 { (0, self.get(allowed.unsigned_abs() as u32)) } else { (allowed as u64, None) };
            pool.send.set_rate(rate);
            pool.receive.set_rate(rate);
            pool.send.set_parent(parent.map(|p| p.send.clone()));
            pool.receive.set_parent(parent.map(|p| p.receive.clone()));
        }
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
}

impl Shaper {
    pub fn new(pools: Arc<Pools>, throttle: &Throttle) -> Arc<Shaper> {
        let s = Arc::new(Shaper { limited: std::sync::atomic::AtomicBool::new(false), send: Bucket::new(0, None), receive: Bucket::new(0, None), source: Mutex::new(LimitSource::None), pools });
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

/// One direction's reservation: bytes reserved in a bucket, usable once the timer has run out.
#[derive(Default)]
struct Gate {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    reserved: Option<(Arc<Bucket>, usize)>,
}

impl Gate {
    /// Bytes that may be moved now (up to `want`): `Ready(n)`, or `Pending` with a timer set to wake the
    /// task when its turn comes. The caller uses the bytes and gives back what it did not use.
    fn poll_take(&mut self, cx: &mut Context<'_>, bucket: &Arc<Bucket>, want: usize) -> Poll<usize> {
        if self.reserved.is_none() {
            let (n, wait) = bucket.reserve(want, super::bucket::now());
            self.reserved = Some((bucket.clone(), n));
            if !wait.is_zero() {
                self.sleep = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        let (reserved_in, n) = self.reserved.take().expect("reserved above");
        // A retried write may offer less than was reserved for it.
        reserved_in.refund(n.saturating_sub(want));
        Poll::Ready(n.min(want))
    }
}

impl Drop for Gate {
    /// A connection closed while waiting: its reservation goes back to the pool.
    fn drop(&mut self) {
        if let Some((bucket, n)) = self.reserved.take() {
            bucket.refund(n);
        }
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

    pub fn shaper(&self) -> &Arc<Shaper> {
        &self.shaper
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 || !this.shaper.limited.load(Ordering::Relaxed) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // A connection in an unlimited pool still goes through the buckets, so the pool's use is counted.
        let bucket = this.shaper.receive.clone();
        let n = match this.read_gate.poll_take(cx, &bucket, buf.remaining()) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        let mut part = buf.take(n);
        let polled = Pin::new(&mut this.inner).poll_read(cx, &mut part);
        let got = part.filled().len();
        // SAFETY: the inner read initialised and filled `got` bytes of `buf`'s unfilled part.
        unsafe { buf.assume_init(got) };
        buf.advance(got);
        bucket.refund(n - got);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() || !this.shaper.limited.load(Ordering::Relaxed) {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        // A connection in an unlimited pool still goes through the buckets, so the pool's use is counted.
        let bucket = this.shaper.send.clone();
        let n = match this.write_gate.poll_take(cx, &bucket, data.len()) {
            Poll::Ready(n) => n,
            Poll::Pending => return Poll::Pending,
        };
        let polled = Pin::new(&mut this.inner).poll_write(cx, &data[..n]);
        let written = match &polled {
            Poll::Ready(Ok(w)) => *w,
            _ => 0,
        };
        bucket.refund(n - written);
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
