//! Open SMTP sessions kept between messages, as Postfix's connection cache keeps them: after a transaction
//! the queue worker puts its session back here, and the next message for the same server (same address,
//! name, TLS policy and login) takes it instead of connecting, greeting, STARTTLS and logging in again.
//!
//! Bounds: a session waits here at most [`IDLE`] (the server's own patience is longer), carries at most
//! [`MAX_USES`] messages and lives at most [`MAX_AGE`]; at most [`MAX_PER_SERVER`] wait per server and
//! [`MAX_TOTAL`] in all. The worker checks a taken session with RSET before using it, so one the server
//! closed meanwhile costs a round trip, never a message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest an unused session waits for the next message.
pub const IDLE: Duration = Duration::from_secs(5);
/// Messages one connection carries before it is closed (as Postfix's reuse limits).
pub const MAX_USES: u32 = 100;
/// The longest one connection is used.
pub const MAX_AGE: Duration = Duration::from_secs(300);
pub const MAX_PER_SERVER: usize = 32;
pub const MAX_TOTAL: usize = 64;

/// A session with what the cache needs to know of it.
pub struct Kept<S> {
    pub session: S,
    /// When it was opened, and how many messages it carried.
    pub opened: Instant,
    pub uses: u32,
    idle_since: Instant,
}

impl<S> Kept<S> {
    pub fn new(session: S) -> Kept<S> {
        let now = Instant::now();
        Kept { session, opened: now, uses: 0, idle_since: now }
    }

    /// Whether it may carry another message after this one.
    fn reusable(&self, now: Instant) -> bool {
        self.uses < MAX_USES && now.duration_since(self.opened) < MAX_AGE
    }
}

/// Idle sessions by server key.
pub struct Reuse<S> {
    idle: Mutex<HashMap<String, Vec<Kept<S>>>>,
}

impl<S> Default for Reuse<S> {
    fn default() -> Self {
        Reuse { idle: Mutex::new(HashMap::new()) }
    }
}

impl<S> Reuse<S> {
    /// The most recently used session for `key` that is still fresh. Stale ones found on the way are
    /// returned too, for the caller to close politely.
    pub fn take(&self, key: &str) -> (Option<Kept<S>>, Vec<Kept<S>>) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = idle.get_mut(key) else { return (None, Vec::new()) };
        let (fresh, stale): (Vec<_>, Vec<_>) = list.drain(..).partition(|k| now.duration_since(k.idle_since) < IDLE && k.reusable(now));
        *list = fresh;
        let taken = list.pop();
        if list.is_empty() {
            idle.remove(key);
        }
        (taken, stale)
    }

    /// Keeps a session that just finished a message cleanly; gives it back when it should be closed instead
    /// (worn out, or no room).
    pub fn put(&self, key: String, mut kept: Kept<S>) -> Option<Kept<S>> {
        let now = Instant::now();
        kept.uses += 1;
        if !kept.reusable(now) {
            return Some(kept);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = idle.values().map(Vec::len).sum();
        let list = idle.entry(key).or_default();
        if total >= MAX_TOTAL || list.len() >= MAX_PER_SERVER {
            return Some(kept);
        }
        kept.idle_since = now;
        list.push(kept);
        None
    }

    /// Removes every session idle longer than [`IDLE`], for the caller to close.
    pub fn expire(&self) -> Vec<Kept<S>> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let mut stale = Vec::new();
        for list in idle.values_mut() {
            let (fresh, old): (Vec<_>, Vec<_>) = list.drain(..).partition(|k| now.duration_since(k.idle_since) < IDLE);
            *list = fresh;
            stale.extend(old);
        }
        idle.retain(|_, l| !l.is_empty());
        stale
    }

    /// Every idle session (at shutdown).
    pub fn drain(&self) -> Vec<Kept<S>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.drain().flat_map(|(_, l)| l).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_taken_by_its_own_server_only_and_worn_out_ones_are_not_kept() {
        let reuse: Reuse<u32> = Reuse::default();
        assert!(reuse.put("a".into(), Kept::new(1)).is_none());
        assert!(reuse.take("b").0.is_none(), "another server's session is never handed out");
        let taken = reuse.take("a").0.expect("kept");
        assert_eq!((taken.session, taken.uses), (1, 1));
        assert!(reuse.take("a").0.is_none(), "one session serves one message at a time");
        let mut worn = Kept::new(2);
        worn.uses = MAX_USES - 1;
        assert_eq!(reuse.put("a".into(), worn).map(|k| k.session), Some(2), "its last message: closed, not kept");
        assert!(reuse.is_empty());
    }

    #[test]
    fn idle_sessions_expire_and_the_cache_has_a_ceiling() {
        let reuse: Reuse<usize> = Reuse::default();
        for i in 0..MAX_TOTAL + 5 {
            let back = reuse.put(format!("s{}", i % 3), Kept::new(i));
            assert_eq!(back.is_some(), i >= MAX_TOTAL, "session {i}");
        }
        {
            let mut idle = reuse.idle.lock().unwrap();
            let old = Instant::now() - IDLE - Duration::from_millis(1);
            idle.get_mut("s0").unwrap().iter_mut().for_each(|k| k.idle_since = old);
        }
        let (taken, stale) = reuse.take("s0");
        assert!(taken.is_none() && stale.len() == (MAX_TOTAL + 2) / 3, "stale ones are handed back to be closed");
        assert_eq!(reuse.expire().len(), 0);
        assert_eq!(reuse.drain().len(), MAX_TOTAL - (MAX_TOTAL + 2) / 3);
    }
}
