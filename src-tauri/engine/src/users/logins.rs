//! Checking passwords without letting argon2 dominate the server. Each argon2id check takes tens of
//! milliseconds and 19 MB of memory, by design. Mail programs log in often: IMAP clients open extra
//! connections, and phones poll POP3 every few minutes. So:
//! - a successful check is remembered for [`REMEMBER`]. Only a keyed SHA-256 of the password is kept in
//!   memory, never the password. It is bound to the stored hash, so a new password or a disabled user
//!   stops matching at once. A wrong password is never remembered, and always pays for argon2.
//! - at most [`CONCURRENT_CHECKS`] argon2 checks run at once, which caps their memory at ~40 MB under a
//!   login storm instead of 19 MB per waiting client.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

pub const REMEMBER: Duration = Duration::from_secs(15 * 60);
pub const CONCURRENT_CHECKS: usize = 2;
const MAX_REMEMBERED: usize = 4096;

pub struct LoginChecks {
    key: [u8; 32],
    remembered: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    running: Mutex<usize>,
    turn: Condvar,
}

impl Default for LoginChecks {
    fn default() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        LoginChecks { key, remembered: Mutex::default(), running: Mutex::new(0), turn: Condvar::new() }
    }
}

impl LoginChecks {
    fn digest(&self, stored_hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(stored_hash.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether `password` matches `stored_hash`, with `slow_check` (argon2) run only when needed.
    pub fn matches(&self, stored_hash: &str, password: &str, slow_check: impl FnOnce() -> bool) -> bool {
        let digest = self.digest(stored_hash, password);
        {
            let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((known, at)) = remembered.get(stored_hash) {
                if *known == digest && at.elapsed() < REMEMBER {
                    return true;
                }
            }
        }
        let ok = self.one_at_a_time(slow_check);
        if ok {
            let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.len() >= MAX_REMEMBERED {
                remembered.retain(|_, (_, at)| at.elapsed() < REMEMBER);
                if remembered.len() >= MAX_REMEMBERED {
                    remembered.clear();
                }
            }
            remembered.insert(stored_hash.to_string(), (digest, Instant::now()));
        }
        ok
    }

    /// Runs a check whose answer is already "no" (an unknown or disabled user) at the cost of a real one.
    pub fn slow_refusal(&self, check: impl FnOnce() -> bool) {
        let _ = self.one_at_a_time(check);
    }

    fn one_at_a_time(&self, check: impl FnOnce() -> bool) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= CONCURRENT_CHECKS {
            running = self.turn.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        drop(running);
        let ok = check();
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.turn.notify_one();
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_right_password_is_remembered_a_wrong_one_never() {
        let checks = LoginChecks::default();
        let slow = AtomicUsize::new(0);
        let argon = |ok: bool| {
            slow.fetch_add(1, Ordering::SeqCst);
            ok
        };
        assert!(checks.matches("$hash1", "right", || argon(true)));
        assert!(checks.matches("$hash1", "right", || argon(true)));
        assert_eq!(slow.load(Ordering::SeqCst), 1, "the second login was remembered");
        assert!(!checks.matches("$hash1", "wrong", || argon(false)));
        assert!(!checks.matches("$hash1", "wrong", || argon(false)));
        assert_eq!(slow.load(Ordering::SeqCst), 3, "wrong passwords always pay");
        assert!(checks.matches("$hash2", "right", || argon(true)), "a new stored hash (new password) is checked again");
        assert_eq!(slow.load(Ordering::SeqCst), 4);
    }
}
