//! The POP3 server (services pop3 110, pop3s 995): RFC 1939 with CAPA (RFC 2449), STLS (RFC 2595),
//! SASL PLAIN and LOGIN (RFC 5034), UIDL, TOP, RESP-CODES and AUTH-RESP-CODE.
//!
//! A session logs in, takes the user's maildrop lock (a second POP3 login to the same mailbox gets
//! `[IN-USE]`; IMAP sessions are not affected), and works on a snapshot of the INBOX taken at login.
//! DELE only marks; at QUIT the marked messages are expunged and the retrieved ones flagged \Seen, in
//! one write. A session that ends any other way changes nothing. UIDs are the IMAP UIDs, so UIDL is
//! stable across sessions and in step with IMAP.
//!
//! APOP is not offered: it needs the password in clear on the server, and Postroom keeps only argon2
//! hashes. Without TLS, logins are offered only from this computer or when
//! `pop3.allow_plaintext_login` is on.

mod command;
mod session;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub use command::{parse, Command, ParseError};
pub use session::{run, SessionContext};

use crate::store::Store;
use crate::users::Directory;

/// What every POP3 session shares.
pub struct Shared {
    pub store: Store,
    pub directory: Directory,
    pub bans: Arc<crate::access::Bans>,
    /// Users whose maildrop a POP3 session holds.
    pub locks: Arc<Mutex<HashSet<i64>>>,
}

crate::login_desk!(Shared);

impl crate::net::Service for Shared {
    fn serve(self: Arc<Self>, ctx: crate::net::SessionContext<()>, stream: crate::net::BoxStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(run(ctx.with_shared(self), stream))
    }

    fn refusal(&self, _server_name: &str, why: &str) -> String {
        format!("-ERR [SYS/TEMP] {why}\r\n")
    }

    fn denial(&self, _server_name: &str) -> String {
        "-ERR [SYS/PERM] access from your address is not allowed\r\n".to_string()
    }
}

impl Shared {
    pub fn new(store: Store, directory: Directory, bans: Arc<crate::access::Bans>) -> Shared {
        Shared { store, directory, bans, locks: Arc::default() }
    }
}

/// The maildrop lock of one user, released when dropped.
pub struct MaildropLock {
    locks: Arc<Mutex<HashSet<i64>>>,
    user_id: i64,
}

impl MaildropLock {
    /// Takes the lock, or `None` when another POP3 session holds it.
    pub fn take(locks: &Arc<Mutex<HashSet<i64>>>, user_id: i64) -> Option<MaildropLock> {
        let mut held = locks.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(user_id).then(|| MaildropLock { locks: locks.clone(), user_id })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user_id);
    }
}
