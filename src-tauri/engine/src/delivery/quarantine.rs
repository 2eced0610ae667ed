//! The quarantine: strangers' messages whose spam score reached `spam.quarantine_score`, held out of every
//! mailbox until the admin releases them (delivered then, exactly once: the held row goes in the same commit
//! that stores the copies), deletes them, or they expire after `spam.quarantine_days`.
//!
//! A held message keeps one reference on its body and the users it was for (with the address each was
//! reached at); what happens on release is what would have happened without the filter: each user's
//! forwarding applies then.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;

use super::{plan, write, Envelope, Receipt, Recipient};
use crate::store::StoreResult;

/// One held message as the Quarantine window and `postroomd quarantine list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HeldMessage {
    #[ts(type = "number")]
    pub id: i64,
    /// Seconds since 1970.
    #[ts(type = "number")]
    pub received_at: i64,
    /// The envelope sender (empty for `<>`).
    pub sender: String,
    /// The From: field's address.
    pub from: String,
    pub subject: String,
    /// The client's address.
    pub peer: String,
    pub score: i32,
    /// The rules that fired, `SPF_FAIL(3),GTUBE(1000)`.
    pub reasons: String,
    #[ts(type = "number")]
    pub size: i64,
    /// The addresses it was for.
    pub recipients: Vec<String>,
}

/// Most messages one listing returns (newest first).
pub const LIST_MAX: usize = 5000;

/// Holds a message for `users` (user id, the address they were reached at).
pub(super) fn hold(conn: &Connection, envelope: &Envelope, blob_id: i64, size: i64, at: i64, users: &[(i64, String)]) -> StoreResult<i64> {
    let v = &envelope.spam;
    conn.execute(
        "INSERT INTO quarantine(blob_id, size, sender, from_header, subject, peer, score, reasons, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![blob_id, size, envelope.sender, v.from, v.subject, v.peer, v.score, v.tests, at],
    )?;
    let id = conn.last_insert_rowid();
    let mut add = conn.prepare_cached("INSERT INTO quarantine_recipients(quarantine_id, user_id, address) VALUES (?1, ?2, ?3)")?;
    for (user_id, address) in users {
        add.execute(params![id, user_id, address])?;
    }
    Ok(id)
}

/// The held messages, newest first.
pub fn list(conn: &Connection) -> StoreResult<Vec<HeldMessage>> {
    let mut stmt = conn.prepare(
        "SELECT q.id, q.received_at, q.sender, q.from_header, q.subject, q.peer, q.score, q.reasons, q.size,
                (SELECT group_concat(address, ' ') FROM quarantine_recipients r WHERE r.quarantine_id = q.id)
         FROM quarantine q ORDER BY q.received_at DESC, q.id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([LIST_MAX as i64], |r| {
            Ok(HeldMessage {
                id: r.get(0)?,
                received_at: r.get(1)?,
                sender: r.get(2)?,
                from: r.get(3)?,
                subject: r.get(4)?,
                peer: r.get(5)?,
                score: r.get(6)?,
                reasons: r.get(7)?,
                size: r.get(8)?,
                recipients: r.get::<_, Option<String>>(9)?.unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many messages are held.
pub fn count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))?)
}

/// The address "Allow sender" puts on the allow list for a held message: its From: address, or the envelope
/// sender without one (lower case). None when nothing is held under `id`; Some("") when it has neither.
pub fn sender_to_allow(conn: &Connection, id: i64) -> StoreResult<Option<String>> {
    let row: Option<(String, String)> = conn.query_row("SELECT sender, from_header FROM quarantine WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    Ok(row.map(|(sender, from)| if from.is_empty() { sender } else { from }.to_ascii_lowercase()))
}

/// Delivers a held message to the users it was for (those who still exist), unfiltered; None when no
/// message is held under `id` (already released or deleted).
pub fn release(conn: &Connection, id: i64) -> StoreResult<Option<Receipt>> {
    let row: Option<(i64, i64, String)> =
        conn.query_row("SELECT blob_id, size, sender FROM quarantine WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    let Some((blob_id, size, sender)) = row else { return Ok(None) };
    let mut stmt = conn.prepare(
        "SELECT u.id, u.name, r.address FROM quarantine_recipients r JOIN users u ON u.id = r.user_id
         WHERE r.quarantine_id = ?1 AND u.deleted_at IS NULL ORDER BY r.rowid",
    )?;
    let recipients = stmt
        .query_map([id], |r| Ok(Recipient::Local { user_id: r.get(0)?, user: r.get(1)?, address: r.get(2)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope { sender, recipients, auth_user: None, dsn: Default::default(), spam: Default::default() };
    let plan = plan(conn, &envelope)?;
    // The quarantine's reference passes to the copies.
    conn.execute("UPDATE blobs SET refcount = refcount + ?2 - 1 WHERE id = ?1", params![blob_id, plan.references()])?;
    conn.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
    let receipt = write(conn, &envelope, plan, blob_id, size)?;
    Ok(Some(receipt))
}

/// Deletes a held message; false when none is held under `id`.
pub fn delete(conn: &Connection, id: i64) -> StoreResult<bool> {
    let blob: Option<i64> = conn.query_row("DELETE FROM quarantine WHERE id = ?1 RETURNING blob_id", [id], |r| r.get(0)).optional()?;
    if let Some(blob_id) = blob {
        drop_reference(conn, blob_id)?;
    }
    Ok(blob.is_some())
}

/// Deletes what was held before `before` (seconds since 1970); how many.
pub fn expire(conn: &Connection, before: i64) -> StoreResult<usize> {
    let gone: Vec<i64> = conn
        .prepare("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at < ?1 LIMIT 500) RETURNING blob_id")?
        .query_map([before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for blob_id in &gone {
        drop_reference(conn, *blob_id)?;
    }
    Ok(gone.len())
}

fn drop_reference(conn: &Connection, blob_id: i64) -> StoreResult<()> {
    conn.execute("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1", [blob_id])?;
    conn.execute("UPDATE blobs SET unused_since = 0 WHERE id = ?1 AND refcount <= 0", [blob_id])?;
    Ok(())
}
