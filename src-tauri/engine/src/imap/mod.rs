//! The IMAP4 server (services imap 143, imaps 993): IMAP4rev1 (RFC 3501) with IDLE, UIDPLUS, MOVE,
//! NAMESPACE, SPECIAL-USE, CHILDREN, LITERAL+, ENABLE, ID, UNSELECT, SASL-IR, CONDSTORE,
//! SORT, ESEARCH, LIST-EXTENDED, LIST-STATUS, STATUS=SIZE and BINARY; IMAP4rev2 (RFC 9051) for a client that
//! ENABLEs it: UTF-8 folder names, ESEARCH answers to SEARCH, no RECENT, [CLOSED]. QUOTA is read-only: one root
//! "" whose STORAGE limit is what the mailbox uses plus the free space on the disk (there is no per-user limit).
//!
//! Commands are framed and parsed by imap-codec's `Fragmentizer` and `CommandCodec`, which tell the size
//! of a literal before its data arrives, so oversize literals are refused before the client sends them
//! (small ones only before login). Answers are written by hand: FETCH splices the stored ENVELOPE and
//! BODYSTRUCTURE bytes (see [`crate::mailbox::meta`]) and message text straight into the output.
//!
//! Several sessions on one mailbox see each other's changes: every commit bumps the store's change
//! counter ([`crate::store::Store::changes`]), and a selected session compares its snapshot (UIDs,
//! flags, mod-sequences) with the folder at the end of each command, and at once while it IDLEs, then
//! sends EXISTS, EXPUNGE and FETCH FLAGS. Messages are numbered from the snapshot, so numbers never shift
//! under a client in the middle of a command.
//!
//! \Recent (RFC 3501 §2.3.2) is kept per folder as the highest UID a session has been shown as recent
//! (`folders.recent_uid`): SELECT, and a selected session that hears of new mail, take the messages above it
//! through the single writer, so exactly one session sees each new message as recent; EXAMINE shows them
//! without taking them. A keyword is announced (FLAGS and PERMANENTFLAGS) to a session before any FETCH
//! shows it there.

mod esearch;
mod fetch;
mod append_forms;
mod decode;
mod list;
mod notify;
mod op;
mod search;
mod searchres;
mod sequence;
mod session;
mod thread;
mod urlauth;
pub mod utf7;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use session::{run, SessionContext};

use crate::store::Store;
use crate::users::Directory;

/// What every IMAP session shares.
pub struct Shared {
    pub store: Store,
    pub directory: Directory,
    pub bans: Arc<crate::access::Bans>,
    /// Open sessions per user, for `imap.max_connections_per_user`.
    sessions: Arc<Mutex<HashMap<i64, u32>>>,
}

crate::login_desk!(Shared);

impl crate::net::Service for Shared {
    fn serve(self: Arc<Self>, ctx: crate::net::SessionContext<()>, stream: crate::net::BoxStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(run(ctx.with_shared(self), stream))
    }

    fn refusal(&self, _server_name: &str, why: &str) -> String {
        format!("* BYE {why}\r\n")
    }

    fn denial(&self, _server_name: &str) -> String {
        "* BYE access from your address is not allowed\r\n".to_string()
    }
}

impl Shared {
    pub fn new(store: Store, directory: Directory, bans: Arc<crate::access::Bans>) -> Shared {
        Shared { store, directory, bans, sessions: Arc::default() }
    }
}

/// One logged-in session of a user, counted until dropped.
pub struct UserSession {
    sessions: Arc<Mutex<HashMap<i64, u32>>>,
    user_id: i64,
}

impl UserSession {
    fn take(shared: &Shared, user_id: i64, max: u32) -> Option<UserSession> {
        let mut open = shared.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user_id).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(UserSession { sessions: shared.sessions.clone(), user_id })
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        let mut open = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
        }
    }
}
