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

pub mod data;
pub mod reply;
pub mod spool;
mod session;
pub mod stamp;

use std::sync::Arc;

pub use session::{run, SessionContext};

use crate::store::Store;
use crate::users::Directory;

/// What every SMTP session shares.
pub struct Shared {
    pub store: Store,
    pub directory: Directory,
    pub bans: Arc<crate::access::Bans>,
    /// Wakes the outbound queue when a message for a remote recipient was accepted.
    pub queue_wake: Arc<tokio::sync::Notify>,
    /// Sender authentication (SPF, DKIM, DMARC, ARC) with its resolver and caches.
    pub auth: Arc<crate::auth::Authenticator>,
}

crate::login_desk!(Shared);

impl crate::net::Service for Shared {
    fn serve(self: Arc<Self>, ctx: crate::net::SessionContext<()>, stream: crate::net::BoxStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(run(ctx.with_shared(self), stream))
    }

    fn refusal(&self, server_name: &str, why: &str) -> String {
        format!("421 4.7.0 {server_name} {why}\r\n")
    }

    fn denial(&self, server_name: &str) -> String {
        format!("554 5.7.1 {server_name} access from your address is not allowed\r\n")
    }
}
