//! Logged-in sessions by account, so that disabling a user, deleting them or changing their password ends
//! the sessions they have open (a stolen password stops working at once, not at the client's next login).
//!
//! A session that logs in registers its own cancellation token with the account's current stamp (password
//! hash, enabled, deleted). After every commit, in this process or another (`postroomd user set …`), the
//! engine asks [`Accounts::revalidate`] to compare the stamps of the accounts that have sessions, and the
//! sessions of a changed account are cancelled: they say goodbye in their protocol's words and close.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::OptionalExtension;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreResult};

#[derive(Default)]
pub struct Accounts {
    open: Mutex<HashMap<i64, Vec<(String, CancellationToken)>>>,
}

/// What must stay the same for a session to go on: the password, enabled, not deleted.
fn stamp(store: &Store, user_id: i64) -> StoreResult<String> {
    Ok(store
        .read(move |c| {
            Ok(c.query_row("SELECT password_hash || '|' || enabled || '|' || coalesce(deleted_at, '') FROM users WHERE id = ?1", [user_id], |r| r.get::<_, String>(0))
                .optional()?)
        })?
        .unwrap_or_default())
}

impl Accounts {
    /// Registers a session of `user_id`; `token` is cancelled when the account changes.
    pub fn watch(&self, store: &Store, user_id: i64, token: CancellationToken) {
        let now = stamp(store, user_id).unwrap_or_default();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let list = open.entry(user_id).or_default();
        list.retain(|(_, t)| !t.is_cancelled());
        list.push((now, token));
    }

    /// Whether any session is registered (the engine skips the look-up otherwise).
    pub fn any(&self) -> bool {
        !self.open.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Cancels the sessions of every account whose stamp changed; forgets ended sessions. Blocking.
    pub fn revalidate(&self, store: &Store) -> usize {
        let ids: Vec<i64> = self.open.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        let mut ended = 0;
        for id in ids {
            let Ok(now) = stamp(store, id) else { continue };
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let Some(list) = open.get_mut(&id) else { continue };
            for (seen, token) in list.iter() {
                if *seen != now && !token.is_cancelled() {
                    token.cancel();
                    ended += 1;
                }
            }
            list.retain(|(seen, t)| !t.is_cancelled() && *seen == now);
            if list.is_empty() {
                open.remove(&id);
            }
        }
        if ended > 0 {
            tracing::info!(target: "security", sessions = ended, "sessions ended: their account was disabled, deleted or given a new password");
        }
        ended
    }
}
