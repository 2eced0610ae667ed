//! The outbound queue: messages waiting to leave, one row per remote recipient with its own state
//! (`queued`, `sent`, `failed`), attempt count, next attempt time and last error.
//!
//! This module owns what the admin does with the queue (list, retry now, delete); the SMTP client that
//! works through it is [`client`], its bounces [`bounce`]. A message's body is shared by all its recipients and released when
//! the last one is deleted.

pub mod client;
pub mod reuse;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{ApiError, ApiResult};
use crate::store::{now, Store, StoreResult};

/// One recipient of a queued message, as the Queue window and `postroomd queue list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct QueueEntry {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub message_id: i64,
    pub sender: String,
    pub recipient: String,
    #[ts(type = "number")]
    pub size: i64,
    pub state: String,
    pub attempts: u32,
    /// RFC 3339; when it will be tried next.
    pub next_attempt: String,
    pub last_error: Option<String>,
    pub queued_at: String,
    /// 'internet' (MX or smart host), 'lan' (a LAN rule or a user's forward) or 'store_forward'.
    pub kind: String,
    /// Where a forwarded recipient goes (host:port); none for Internet mail.
    pub target: Option<String>,
}

/// Everything in the queue that has not been sent, oldest first.
pub fn list(store: &Store) -> ApiResult<Vec<QueueEntry>> {
    Ok(store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT r.id, q.id, q.sender, r.recipient, q.size, r.state, r.attempts, r.next_attempt_at, r.last_error, q.created_at, r.kind, r.route
             FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
             WHERE r.state <> 'sent' ORDER BY q.created_at, r.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(QueueEntry {
                id: r.get(0)?,
                message_id: r.get(1)?,
                sender: r.get(2)?,
                recipient: r.get(3)?,
                size: r.get(4)?,
                state: r.get(5)?,
                attempts: r.get(6)?,
                next_attempt: crate::time_text::rfc3339(r.get(7)?),
                last_error: r.get(8)?,
                queued_at: crate::time_text::rfc3339(r.get(9)?),
                kind: r.get(10)?,
                target: r.get::<_, Option<String>>(11)?.as_deref().and_then(crate::forward::Target::from_route).map(|t| t.shown()),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?)
}

/// Makes every waiting recipient due now (as `postqueue -f` flushes Postfix's queue): after the main
/// server came back, say. Failed recipients stay failed. Returns how many.
pub fn flush(store: &Store) -> ApiResult<usize> {
    Ok(store.write(|c| {
        Ok(c.execute("UPDATE queue_recipients SET next_attempt_at = ?1, updated_at = ?1 WHERE state = 'queued' AND next_attempt_at > ?1", [now()])?)
    })?)
}

/// Makes a waiting (or failed) recipient due now.
pub fn retry(store: &Store, id: i64) -> ApiResult<()> {
    let changed = store.write(move |c| {
        Ok(c.execute(
            "UPDATE queue_recipients SET state = 'queued', next_attempt_at = ?1, updated_at = ?1
             WHERE id = ?2 AND state <> 'sent' AND (SELECT body_released FROM queue q WHERE q.id = queue_id) = 0",
            params![now(), id],
        )?)
    })?;
    if changed == 0 {
        return Err(ApiError::not_found(format!("no queued recipient with id {id}")));
    }
    Ok(())
}

/// Removes a recipient from the queue (the message is never sent to it); the body goes with the last one.
pub fn delete(store: &Store, id: i64) -> ApiResult<()> {
    let deleted = store.write(move |c| delete_recipient(c, id))?;
    if !deleted {
        return Err(ApiError::not_found(format!("no queued recipient with id {id}")));
    }
    Ok(())
}

fn delete_recipient(c: &Connection, id: i64) -> StoreResult<bool> {
    let Some(queue_id): Option<i64> =
        c.query_row("SELECT queue_id FROM queue_recipients WHERE id = ?1", [id], |r| r.get(0)).optional()?
    else {
        return Ok(false);
    };
    c.execute("DELETE FROM queue_recipients WHERE id = ?1", [id])?;
    let left: i64 = c.query_row("SELECT count(*) FROM queue_recipients WHERE queue_id = ?1", [queue_id], |r| r.get(0))?;
    if left == 0 {
        let (blob_id, released): (i64, bool) = c.query_row("SELECT blob_id, body_released FROM queue WHERE id = ?1", [queue_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        c.execute("DELETE FROM queue WHERE id = ?1", [queue_id])?;
        if !released {
            c.execute("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1", [blob_id])?;
        }
    }
    Ok(true)
}

/// A forwarding target (a LAN rule's server, a user's forward, a Store-and-Forward main server) that is not
/// taking mail: what the main window and the tray warn about until it takes mail again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ForwardingProblem {
    /// host:port, as the admin wrote it.
    pub target: String,
    /// Recipients waiting for it.
    #[ts(type = "number")]
    pub waiting: i64,
    /// RFC 3339; when the oldest waiting message that failed there came in: about when it stopped taking
    /// mail. None when only refusals are left.
    pub since: Option<String>,
    /// No connection at all (as opposed to a server that answers but defers).
    pub unreachable: bool,
    /// Store-and-Forward messages it refused for good (5xx) within the last week: their copies stay in the
    /// users' mailboxes until the admin sees to it (and deletes them from the queue).
    #[ts(type = "number")]
    pub refused: i64,
    pub last_error: Option<String>,
}

impl ForwardingProblem {
    /// One line for the tray's tooltip and the log.
    pub fn headline(&self) -> String {
        let mut parts = Vec::new();
        if self.since.is_some() {
            let state = if self.unreachable { "unreachable" } else { "not taking mail" };
            parts.push(format!("{} {state}, {} held", self.target, self.waiting));
        }
        if self.refused > 0 {
            parts.push(format!("{} refused {} Store-and-Forward message(s)", self.target, self.refused));
        }
        parts.join("; ")
    }
}

/// The forwarding targets with mail that failed there and still waits, or Store-and-Forward copies they
/// refused, worst first.
pub fn forwarding_problems(c: &Connection) -> StoreResult<Vec<ForwardingProblem>> {
    let mut stmt = c.prepare_cached(
        "SELECT r.route,
                sum(r.state = 'queued'),
                min(CASE WHEN r.state = 'queued' AND r.attempts > 0 THEN q.created_at END),
                sum(r.state = 'failed' AND r.kind = 'store_forward'),
                (SELECT x.last_error FROM queue_recipients x
                  WHERE x.route = r.route AND x.last_error IS NOT NULL AND x.state <> 'sent'
                  ORDER BY x.updated_at DESC LIMIT 1)
         FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
         WHERE r.route IS NOT NULL AND r.state IN ('queued', 'failed')
         GROUP BY r.route
         HAVING min(CASE WHEN r.state = 'queued' AND r.attempts > 0 THEN 1 END) IS NOT NULL
             OR sum(r.state = 'failed' AND r.kind = 'store_forward') > 0
         ORDER BY 2 DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        let route: String = r.get(0)?;
        let last_error: Option<String> = r.get(4)?;
        let unreachable = last_error.as_deref().is_some_and(|e| e.starts_with("4.4.1 ") || e.starts_with("4.4.4 "));
        Ok(ForwardingProblem {
            target: crate::forward::Target::from_route(&route).map(|t| t.shown()).unwrap_or(route),
            waiting: r.get(1)?,
            since: r.get::<_, Option<i64>>(2)?.map(crate::time_text::rfc3339),
            unreachable,
            refused: r.get(3)?,
            last_error,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// How many recipients wait to be sent.
pub fn waiting(c: &Connection) -> StoreResult<i64> {
    Ok(c.query_row("SELECT count(*) FROM queue_recipients WHERE state = 'queued'", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{deliver, Envelope, Recipient};

    #[test]
    fn list_retry_and_delete_release_the_body_with_the_last_recipient() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let store = Store::open(&dir.path().join("postroom.db")).unwrap();
        let recipients = ["a@far.example", "b@far.example"].map(|a| Recipient::Remote { address: a.into() }).to_vec();
        let env = Envelope { sender: "me@office.test".into(), recipients, auth_user: Some("me".into()), dsn: Default::default(), spam: Default::default() };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(deliver(&store, env, b"Subject: out\r\n\r\nx\r\n".to_vec())).unwrap();
        let entries = list(&store).unwrap();
        assert_eq!(entries.iter().map(|e| e.recipient.as_str()).collect::<Vec<_>>(), ["a@far.example", "b@far.example"]);
        retry(&store, entries[0].id).unwrap();
        assert_eq!(retry(&store, 999).unwrap_err().code, crate::error::ErrorCode::NotFound);
        delete(&store, entries[0].id).unwrap();
        let refs = |s: &Store| s.read(|c| Ok(c.query_row("SELECT coalesce(sum(refcount), 0) FROM blobs", [], |r| r.get::<_, i64>(0))?)).unwrap();
        assert_eq!(refs(&store), 1, "the other recipient still needs the body");
        delete(&store, entries[1].id).unwrap();
        assert_eq!(refs(&store), 0);
        assert!(list(&store).unwrap().is_empty());
    }
}
