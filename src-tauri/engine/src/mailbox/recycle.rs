//! The message Recycle Bin. Everything deleted — an IMAP expunge, POP3's DELE at QUIT, a prune rule, the
//! admin, a deleted folder — comes here first (one `recycled` row per message, holding the body's
//! reference), so a user whose mail program "deleted everything" gets it back. A restored message returns
//! to its folder (made again if gone, INBOX if that fails) with a new UID, as an APPEND would, so no UID or
//! POP3 UIDL is ever used twice. Expiry ([`expire`], in bounded batches) deletes rows older than the
//! retention time and releases their bodies; the sweep then deletes the files.
//!
//! A deleted user stays as a `users` row with `deleted_at` (and a `recycle_bin` row with their aliases),
//! mail in place, restorable by the directory within the same retention time; [`expire`] purges them
//! with their mail after it.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use ts_rs::TS;

use super::Flags;
use crate::store::{blobs, StoreResult};

/// Why a message was deleted, as the bin lists it.
pub mod reason {
    pub const IMAP: &str = "IMAP expunge";
    pub const POP3: &str = "POP3 delete";
    pub const FOLDER_DELETED: &str = "folder deleted";
    pub const ADMIN: &str = "admin";
    pub const STORE_FORWARD: &str = "store and forward";

    /// A prune rule's reason names the rule.
    pub fn rule(id: i64) -> String {
        format!("prune rule {id}")
    }
}

/// The start of a statement copying message rows into the bin; the time and reason parameters follow.
macro_rules! keep {
    () => {
        "INSERT INTO recycled(user_id, folder, uid, blob_id, size, flags, keywords, spam, received_at, arrived_at, deleted_at, reason)
         SELECT f.user_id, f.path, m.uid, m.blob_id, m.size,
                m.seen | (m.answered << 1) | (m.flagged << 2) | (m.deleted << 3) | (m.draft << 4), m.keywords, m.spam, m.received_at, m.arrived_at, "
    };
}

macro_rules! from_messages {
    () => {
        "FROM messages m JOIN folders f ON f.id = m.folder_id "
    };
}

/// Keeps one message (?1 id, ?2 folder) in the bin: ?3 the time, ?4 the reason. The caller deletes the
/// `messages` row; the body's reference moves with it.
pub const KEEP_ONE: &str = concat!(keep!(), "?3, ?4 ", from_messages!(), "WHERE m.id = ?1 AND m.folder_id = ?2");

/// Keeps every message of a folder (?1) in the bin: ?2 the time, ?3 the reason.
pub const KEEP_FOLDER: &str = concat!(keep!(), "?2, ?3 ", from_messages!(), "WHERE m.folder_id = ?1");

/// One message in the bin, as the Recycle Bin window and `postroomd recycle list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Recycled {
    #[ts(type = "number")]
    pub id: i64,
    pub user: String,
    pub folder: String,
    pub subject: String,
    pub from: String,
    /// RFC 3339, UTC.
    pub deleted_at: String,
    pub reason: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// The bin's size, and each deleted user waiting in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct BinSize {
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    pub users: Vec<DeletedUser>,
}

/// A deleted user whose mail waits to be restored or purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DeletedUser {
    pub name: String,
    /// RFC 3339, UTC.
    pub deleted_at: String,
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user: Option<String>,
    /// Words that must all appear (any case) in the user, folder, subject, sender or reason.
    pub search: String,
    /// At most this many entries (0: [`LISTED`]).
    pub limit: usize,
}

/// Entries listed when no limit is given.
pub const LISTED: usize = 1000;
/// Entries a search looks through, newest first (each costs a read of the message's header).
pub const SEARCHED: usize = 20_000;
/// Bytes of a message read for its Subject and From.
const HEAD_BYTES: usize = 16 * 1024;

/// The entries matching `filter`, newest first, with their subjects and senders read from the bodies.
pub fn list(c: &Connection, blobs_dir: &std::path::Path, filter: &Filter) -> StoreResult<Vec<Recycled>> {
    let limit = if filter.limit == 0 { LISTED } else { filter.limit };
    let words: Vec<String> = filter.search.split_whitespace().map(str::to_lowercase).collect();
    let mut stmt = c.prepare(
        "SELECT r.id, u.name, r.folder, r.deleted_at, r.reason, r.size, r.blob_id FROM recycled r JOIN users u ON u.id = r.user_id
         WHERE ?1 IS NULL OR u.name = ?1 ORDER BY r.deleted_at DESC, r.id DESC LIMIT ?2",
    )?;
    let scan = if words.is_empty() { limit } else { SEARCHED };
    let mut rows = stmt.query(params![filter.user, scan as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let blob_id: i64 = r.get(6)?;
        let (subject, from) = blobs::read_head(c, blobs_dir, blob_id, HEAD_BYTES).map(|h| subject_and_from(&h)).unwrap_or_default();
        let entry = Recycled {
            id: r.get(0)?,
            user: r.get(1)?,
            folder: r.get(2)?,
            subject,
            from,
            deleted_at: crate::time_text::rfc3339(r.get(3)?),
            reason: r.get(4)?,
            size: r.get::<_, i64>(5)? as u64,
        };
        if !words.is_empty() {
            let text = format!("{} {} {} {} {}", entry.user, entry.folder, entry.subject, entry.from, entry.reason).to_lowercase();
            if !words.iter().all(|w| text.contains(w.as_str())) {
                continue;
            }
        }
        out.push(entry);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The Subject and From of a message's header, decoded (RFC 2047) and made one line.
fn subject_and_from(head: &[u8]) -> (String, String) {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(head.len());
    let Some(message) = mail_parser::MessageParser::new().parse_headers(&head[..end]) else { return Default::default() };
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let subject = message.subject().map(one_line).unwrap_or_default();
    let from = message
        .from()
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(addr)) => format!("{} <{addr}>", one_line(n)),
            (None, Some(addr)) => addr.to_string(),
            (Some(n), None) => one_line(n),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    (subject, from)
}

/// How many messages and bytes the bin holds, and the deleted users.
pub fn size(c: &Connection) -> StoreResult<BinSize> {
    let (messages, bytes): (i64, i64) = c.query_row("SELECT count(*), coalesce(sum(size), 0) FROM recycled", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut stmt = c.prepare(
        "SELECT u.name, u.deleted_at,
                (SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = u.id),
                (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = u.id)
         FROM users u WHERE u.deleted_at IS NOT NULL ORDER BY u.deleted_at DESC, u.id DESC",
    )?;
    let users = stmt
        .query_map([], |r| {
            Ok(DeletedUser {
                name: r.get(0)?,
                deleted_at: crate::time_text::rfc3339(r.get(1)?),
                messages: r.get::<_, i64>(2)? as u64,
                bytes: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BinSize { messages: messages as u64, bytes: bytes as u64, users })
}

/// The ids of a live user's entries deleted at or after `since` (Unix seconds), oldest first.
pub fn since(c: &Connection, user: &str, since: i64) -> StoreResult<Option<Vec<i64>>> {
    let Some(user_id) = live_user(c, user)? else { return Ok(None) };
    let mut stmt = c.prepare("SELECT id FROM recycled WHERE user_id = ?1 AND deleted_at >= ?2 ORDER BY deleted_at, id")?;
    let ids = stmt.query_map(params![user_id, since], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ids))
}

fn live_user(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    Ok(c.query_row("SELECT id FROM users WHERE name = ?1 AND deleted_at IS NULL", [name], |r| r.get(0)).optional()?)
}

/// What became of one entry asked to be restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Restored {
    #[ts(type = "number")]
    pub id: i64,
    pub user: String,
    /// The folder it is in now (its own, or INBOX), and its new UID; `None` with `error` when it was not restored.
    pub folder: Option<String>,
    pub uid: Option<u32>,
    pub error: Option<String>,
}

/// Puts entries back into their users' folders with new UIDs, \Deleted cleared, and \Flagged set when
/// `mark`. Their age counts from now, so that an age rule does not take them again at once. The body's
/// reference moves back. One write: callers with many ids use [`restore_all`].
pub fn restore(c: &Connection, ids: &[i64], mark: bool) -> StoreResult<Vec<Restored>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        type Row = (i64, String, String, i64, i64, u8, String, bool, i64, Option<i64>, Option<i64>);
        let row: Option<Row> = c
            .query_row(
                "SELECT r.user_id, u.name, r.folder, r.blob_id, r.size, r.flags, r.keywords, r.spam, r.received_at, r.arrived_at, u.deleted_at
                 FROM recycled r JOIN users u ON u.id = r.user_id WHERE r.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?)),
            )
            .optional()?;
        let Some((user_id, user, path, blob_id, size, flags, keywords, spam, received_at, arrived_at, user_deleted)) = row else {
            out.push(Restored { id, user: String::new(), folder: None, uid: None, error: Some(format!("there is no entry {id} in the Recycle Bin")) });
            continue;
        };
        if user_deleted.is_some() {
            let error = Some(format!("user {user} is deleted: restore the user first"));
            out.push(Restored { id, user, folder: None, uid: None, error });
            continue;
        }
        let folder = match super::folder(c, user_id, &path)? {
            Some(f) => f,
            None => match super::create_folder(c, user_id, &path)? {
                Ok(f) => f,
                Err(_) => match super::folder(c, user_id, "INBOX")? {
                    Some(inbox) => inbox,
                    None => super::create_folder(c, user_id, "INBOX")?.map_err(|e| std::io::Error::other(format!("{e:?}")))?,
                },
            },
        };
        let mut bits = flags & !Flags::DELETED;
        if mark {
            bits |= Flags::FLAGGED;
        }
        // add_message dates its arrival now: a restored message's age starts again, so an age rule does
        // not take it straight back (the mark protects it from rules that skip flagged mail for good).
        let _ = arrived_at;
        let uid = super::add_message(c, folder.id, blob_id, size, Flags(bits), &keywords, received_at)?;
        c.execute("UPDATE messages SET spam = ?3 WHERE folder_id = ?1 AND uid = ?2", params![folder.id, uid, spam])?;
        c.execute("DELETE FROM recycled WHERE id = ?1", [id])?;
        out.push(Restored { id, user, folder: Some(folder.path), uid: Some(uid), error: None });
    }
    Ok(out)
}

/// Entries (and then deleted users) handled per write, so that expiry never holds the writer long.
pub const BATCH: usize = 500;

/// [`restore`] through the writer, [`BATCH`] entries per write.
pub fn restore_all(store: &crate::store::Store, ids: &[i64], mark: bool) -> StoreResult<Vec<Restored>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH) {
        let chunk = chunk.to_vec();
        out.extend(store.write(move |c| restore(c, &chunk, mark))?);
    }
    Ok(out)
}

/// Deletes up to [`BATCH`] entries deleted before `before` (all of them with `i64::MAX`), releasing their
/// bodies. Returns (entries, bytes).
pub fn expire_batch(c: &Connection, before: i64) -> StoreResult<(usize, u64)> {
    let mut stmt = c.prepare_cached("DELETE FROM recycled WHERE id IN (SELECT id FROM recycled WHERE deleted_at < ?1 ORDER BY deleted_at LIMIT ?2) RETURNING blob_id, size")?;
    let gone: Vec<(i64, i64)> = stmt.query_map(params![before, BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut bytes = 0u64;
    for (blob_id, size) in &gone {
        release(c, *blob_id)?;
        bytes += *size as u64;
    }
    Ok((gone.len(), bytes))
}

/// Lets go of one reference on a body the bin (or a purged user) held. A body nothing uses any more is
/// marked unused since long ago: it has waited its time in the bin, so the sweep that follows deletes it
/// without the grace a freshly released body gets.
fn release(c: &Connection, blob_id: i64) -> StoreResult<()> {
    c.prepare_cached("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1")?.execute([blob_id])?;
    c.prepare_cached("UPDATE blobs SET unused_since = 0 WHERE id = ?1 AND refcount <= 0")?.execute([blob_id])?;
    Ok(())
}

/// Purges, a batch at a time, a user deleted before `before`: their messages first (releasing bodies),
/// then, once none is left, the user with everything else of theirs. Returns (messages, bytes, the
/// user's name once purged), or `None` when no deleted user is due.
pub fn expire_user_batch(c: &Connection, before: i64) -> StoreResult<Option<(usize, u64, Option<String>)>> {
    let due: Option<(i64, String)> =
        c.query_row("SELECT id, name FROM users WHERE deleted_at IS NOT NULL AND deleted_at < ?1 ORDER BY deleted_at LIMIT 1", [before], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let Some((user_id, name)) = due else { return Ok(None) };
    // From now on the user cannot be restored: part of their mail may already be gone.
    c.execute("UPDATE users SET purging = 1 WHERE id = ?1", [user_id])?;
    let mut stmt = c.prepare_cached(
        "DELETE FROM messages WHERE id IN (SELECT m.id FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = ?1 LIMIT ?2)
         RETURNING blob_id, size",
    )?;
    let gone: Vec<(i64, i64)> = stmt.query_map(params![user_id, BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut bytes = 0u64;
    for (blob_id, size) in &gone {
        release(c, *blob_id)?;
        bytes += *size as u64;
    }
    if !gone.is_empty() {
        return Ok(Some((gone.len(), bytes, None)));
    }
    // The bin's own entries of the user hold bodies too.
    let mut stmt = c.prepare_cached("DELETE FROM recycled WHERE id IN (SELECT id FROM recycled WHERE user_id = ?1 LIMIT ?2) RETURNING blob_id, size")?;
    let rows: Vec<(i64, i64)> = stmt.query_map(params![user_id, BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    for (blob_id, _) in &rows {
        release(c, *blob_id)?;
    }
    let (n, b) = (rows.len(), rows.iter().map(|r| r.1 as u64).sum::<u64>());
    if n > 0 {
        return Ok(Some((n, b, None)));
    }
    c.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
    Ok(Some((0, 0, Some(name))))
}

/// Empties the bin and purges every deleted user now (the admin's Purge Recycle Bin), and sweeps, so the
/// disk space is back when it returns. Returns (messages, bytes).
pub fn purge(store: &crate::store::Store) -> StoreResult<(u64, u64)> {
    let done = expire(store, i64::MAX, &|| false)?;
    crate::store::sweep::sweep(store)?;
    Ok(done)
}

/// Deletes what was deleted before `before` (Unix seconds), a batch per write, until done or `stop()`
/// says so (shutdown). Returns (messages, bytes).
pub fn expire(store: &crate::store::Store, before: i64, stop: &dyn Fn() -> bool) -> StoreResult<(u64, u64)> {
    let (mut messages, mut bytes) = (0u64, 0u64);
    loop {
        if stop() {
            return Ok((messages, bytes));
        }
        let (n, b) = store.write(move |c| expire_batch(c, before))?;
        messages += n as u64;
        bytes += b;
        if n < BATCH {
            break;
        }
    }
    while !stop() {
        let Some((n, b, purged)) = store.write(move |c| expire_user_batch(c, before))? else { break };
        messages += n as u64;
        bytes += b;
        if let Some(name) = purged {
            tracing::info!(target: "users", user = %name, "deleted user purged from the Recycle Bin with their mail");
        }
    }
    Ok((messages, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{self, Removal};

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c.execute("INSERT INTO users(name, password_hash, created_at) VALUES ('alice', '', 0)", []).unwrap();
        mailbox::create_folder(&c, 1, "INBOX").unwrap().unwrap();
        mailbox::create_folder(&c, 1, "Work").unwrap().unwrap();
        c
    }

    fn add(c: &Connection, path: &str, body: &[u8], flags: u8) -> (i64, u32) {
        let sha = format!("{:064x}", c.query_row("SELECT count(*) FROM blobs", [], |r| r.get::<_, i64>(0)).unwrap());
        c.execute("INSERT INTO blobs(sha256, size, data, refcount) VALUES (?1, ?2, ?3, 1)", params![sha, body.len() as i64, body]).unwrap();
        let blob = c.last_insert_rowid();
        let f = mailbox::folder(c, 1, path).unwrap().unwrap();
        let uid = mailbox::add_message(c, f.id, blob, body.len() as i64, Flags(flags), "$Label1", 1000).unwrap();
        (c.query_row("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2", params![f.id, uid], |r| r.get(0)).unwrap(), uid)
    }

    fn refcount(c: &Connection, blob: i64) -> i64 {
        c.query_row("SELECT refcount FROM blobs WHERE id = ?1", [blob], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_deleted_message_keeps_its_body_and_comes_back_with_a_new_uid() {
        let c = store();
        let (id, uid) = add(&c, "Work", b"From: Bob <bob@far.example>\r\nSubject: =?utf-8?q?caf=C3=A9?= plans\r\n\r\nhi\r\n", Flags::SEEN | Flags::DELETED);
        let work = mailbox::folder(&c, 1, "Work").unwrap().unwrap();
        assert_eq!(mailbox::expunge(&c, work.id, &[id], Removal::Deleted(reason::IMAP)).unwrap(), 1);
        assert_eq!(mailbox::count(&c, work.id).unwrap(), 0);
        assert_eq!(refcount(&c, 1), 1, "the bin holds the body");
        let listed = list(&c, std::path::Path::new("/nonexistent"), &Filter::default()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].subject.as_str(), listed[0].from.as_str(), listed[0].reason.as_str()), ("café plans", "Bob <bob@far.example>", "IMAP expunge"));
        // The folder is deleted meanwhile: it is made again (a new UIDVALIDITY), so no UID is ever reused.
        mailbox::delete_folder(&c, 1, "Work").unwrap().unwrap();
        let back = restore(&c, &[listed[0].id], true).unwrap();
        assert_eq!((back[0].folder.as_deref(), back[0].uid), (Some("Work"), Some(1)));
        let again = mailbox::folder(&c, 1, "Work").unwrap().unwrap();
        assert_ne!(again.uidvalidity, work.uidvalidity, "{uid}");
        let work = again;
        let m = &mailbox::messages(&c, work.id).unwrap()[0];
        assert!(m.flags.has(Flags::SEEN) && m.flags.has(Flags::FLAGGED) && !m.flags.has(Flags::DELETED));
        assert_eq!((m.keywords.as_str(), m.received_at), ("$Label1", 1000));
        assert_eq!(refcount(&c, 1), 1);
        assert_eq!(size(&c).unwrap().messages, 0);
        // Restoring twice says so.
        assert!(restore(&c, &[listed[0].id], false).unwrap()[0].error.as_deref().unwrap().contains("no entry"));
    }

    #[test]
    fn a_move_keeps_nothing_and_expiry_releases_bodies() {
        let c = store();
        let (a, _) = add(&c, "INBOX", b"Subject: a\r\n\r\n", 0);
        let (b, _) = add(&c, "INBOX", b"Subject: b\r\n\r\n", 0);
        let inbox = mailbox::folder(&c, 1, "INBOX").unwrap().unwrap();
        mailbox::expunge(&c, inbox.id, &[a], Removal::Moved).unwrap();
        assert_eq!((refcount(&c, 1), size(&c).unwrap().messages), (0, 0));
        mailbox::expunge(&c, inbox.id, &[b], Removal::Deleted(reason::POP3)).unwrap();
        c.execute("UPDATE recycled SET deleted_at = 100", []).unwrap();
        assert_eq!(expire_batch(&c, 100).unwrap().0, 0, "not yet due");
        assert_eq!(expire_batch(&c, 101).unwrap(), (1, 14));
        assert_eq!(refcount(&c, 2), 0);
    }

    #[test]
    fn a_deleted_user_is_purged_with_their_mail() {
        let c = store();
        add(&c, "INBOX", b"Subject: a\r\n\r\n", 0);
        let (b, _) = add(&c, "Work", b"Subject: b\r\n\r\n", 0);
        let work = mailbox::folder(&c, 1, "Work").unwrap().unwrap();
        mailbox::expunge(&c, work.id, &[b], Removal::Deleted(reason::ADMIN)).unwrap();
        c.execute("UPDATE users SET deleted_at = 50", []).unwrap();
        assert_eq!(size(&c).unwrap().users[0].messages, 1);
        assert_eq!(expire_user_batch(&c, 50).unwrap(), None);
        assert_eq!(expire_user_batch(&c, 51).unwrap(), Some((1, 14, None)), "the mail in folders");
        assert_eq!(expire_user_batch(&c, 51).unwrap(), Some((1, 14, None)), "the user's bin entries");
        assert_eq!(expire_user_batch(&c, 51).unwrap(), Some((0, 0, Some("alice".into()))));
        assert_eq!(expire_user_batch(&c, 51).unwrap(), None);
        assert_eq!((refcount(&c, 1), refcount(&c, 2)), (0, 0));
        assert_eq!(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
    }
}
