//! The SMTP server (services smtp, submission, smtps): ESMTP per RFC 5321 with SIZE, PIPELINING,
//! 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN/LOGIN, SMTPUTF8, CHUNKING and DSN.
//!
//! Parsing of command lines is smtp-proto's; line framing (with a hard length cap), the DATA receiver
//! ([`data`], strict about end-of-data) and everything that decides are ours. A session reads one line,
//! answers, and only flushes its replies when no more pipelined input is waiting. Recipients are routed
//! at RCPT time ([`crate::delivery::route`]); the final 250 after DATA/BDAT is sent only after
//! [`crate::delivery::deliver`] has committed the message with fsync.
//!
//! Relaying: only for an authenticated client or an address in `smtp.trusted_networks`. AUTH is offered
//! only over TLS unless `smtp.allow_plaintext_auth`; the submission service requires it.

pub mod auth;
pub mod data;
pub mod reply;
mod session;
pub mod stamp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use session::{run, SessionContext};

use crate::store::Store;
use crate::users::Directory;

/// What every SMTP session shares.
pub struct Shared {
    pub store: Store,
    pub directory: Directory,
    pub limits: ConnectionLimits,
    /// Wakes the outbound queue when a message for a remote recipient was accepted.
    pub queue_wake: Arc<tokio::sync::Notify>,
}

/// Counts SMTP connections per address and in all.
#[derive(Default)]
pub struct ConnectionLimits {
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// Holds a connection's place; released on drop.
pub struct ConnectionSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// A slot for `ip`, or `None` when it (or the server) already has as many as allowed.
    pub fn acquire(shared: &Arc<Shared>, ip: IpAddr, per_address: u32, total: u32) -> Option<ConnectionSlot> {
        let mut counts = shared.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        let all: u32 = counts.values().sum();
        let mine = counts.get(&ip).copied().unwrap_or(0);
        if mine >= per_address || all >= total {
            return None;
        }
        counts.insert(ip, mine + 1);
        Some(ConnectionSlot { shared: shared.clone(), ip })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.shared.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}
