//! What POP3 and IMAP4 share about a user's mail: listing a folder's messages, reading a body, setting
//! flags and expunging. Every change bumps the message's and the folder's mod-sequence (CONDSTORE). A
//! deleted message goes to the Recycle Bin ([`recycle`]) holding its body; a moved one releases its
//! reference at once.

pub mod history;
pub mod meta;
pub mod mime;
pub mod prune;
pub mod recycle;
pub mod section;
pub mod url;

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreResult;

/// The next mod-sequence of a folder (bumped).
fn next_modseq(c: &Connection, folder_id: i64) -> StoreResult<i64> {
    Ok(c.query_row("UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq", [folder_id], |r| r.get(0))?)
}

/// Sets \Seen on the messages that lack it; returns how many changed.
pub fn mark_seen(c: &Connection, folder_id: i64, ids: &[i64]) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let modseq = next_modseq(c, folder_id)?;
    let mut stmt = c.prepare_cached("UPDATE messages SET seen = 1, modseq = ?3 WHERE id = ?1 AND folder_id = ?2 AND seen = 0")?;
    let mut changed = 0;
    for id in ids {
        changed += stmt.execute(params![id, folder_id, modseq])?;
    }
    Ok(changed)
}

/// What becomes of messages taken out of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal<'a> {
    /// Deleted: each goes to the Recycle Bin (see [`recycle`]) with this reason, its body still held.
    Deleted(&'a str),
    /// Moved (IMAP's MOVE, renaming INBOX): the message lives on in another folder, so nothing is kept
    /// and this folder's reference on the body is released.
    Moved,
}

/// Takes the messages out of the folder; ids already gone are skipped. Returns how many went. Each
/// expunged UID is remembered with the expunge's mod-sequence (see `history`), so open sessions and
/// resynchronising clients are told.
pub fn expunge(c: &Connection, folder_id: i64, ids: &[i64], removal: Removal) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let modseq = next_modseq(c, folder_id)?;
    let mut uids = Vec::with_capacity(ids.len());
    match removal {
        Removal::Moved => {
            let mut delete = c.prepare_cached("DELETE FROM messages WHERE id = ?1 AND folder_id = ?2 RETURNING uid, blob_id")?;
            let mut release = c.prepare_cached("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1")?;
            for id in ids {
                let gone: Option<(u32, i64)> = delete.query_row(params![id, folder_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                if let Some((uid, blob_id)) = gone {
                    release.execute([blob_id])?;
                    uids.push(uid);
                }
            }
        }
        Removal::Deleted(reason) => {
            let mut keep = c.prepare_cached(recycle::KEEP_ONE)?;
            let mut delete = c.prepare_cached("DELETE FROM messages WHERE id = ?1 AND folder_id = ?2 RETURNING uid")?;
            let now = crate::store::now();
            for id in ids {
                if keep.execute(params![id, folder_id, now, reason])? == 1 {
                    uids.push(delete.query_row(params![id, folder_id], |r| r.get(0))?);
                }
            }
        }
    }
    history::remember(c, folder_id, modseq, &uids)?;
    Ok(uids.len())
}

/// The system flags of a message, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// A folder of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: i64,
    pub path: String,
    pub special_use: Option<String>,
    pub subscribed: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// The highest UID a session has been shown as \Recent; the messages above it are recent still.
    pub recent_uid: i64,
}

const FOLDER_COLUMNS: &str = "id, path, special_use, \
     EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = folders.user_id AND s.path = folders.path), \
     uidvalidity, uidnext, highestmodseq, recent_uid";

fn folder_row(r: &rusqlite::Row) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: r.get(0)?,
        path: r.get(1)?,
        special_use: r.get(2)?,
        subscribed: r.get(3)?,
        uidvalidity: r.get(4)?,
        uidnext: r.get(5)?,
        highestmodseq: r.get(6)?,
        recent_uid: r.get(7)?,
    })
}

/// Takes the folder's recent messages for one session (RFC 3501: a message is \Recent in exactly one
/// session): returns the UIDs `(after, up_to]` now recent there, or `None` when there are none. Runs
/// through the single writer, so two sessions never both get a message.
pub fn claim_recent(c: &Connection, folder_id: i64) -> StoreResult<Option<(u32, u32)>> {
    let (recent, next): (i64, i64) = c.query_row("SELECT recent_uid, uidnext FROM folders WHERE id = ?1", [folder_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if recent >= next - 1 {
        return Ok(None);
    }
    c.execute("UPDATE folders SET recent_uid = ?2 WHERE id = ?1", params![folder_id, next - 1])?;
    Ok(Some((recent as u32, (next - 1) as u32)))
}

/// Every folder of the user, INBOX first, then by path.
pub fn folders(c: &Connection, user_id: i64) -> StoreResult<Vec<Folder>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = ?1 ORDER BY path <> 'INBOX', path"
    ))?;
    let rows = stmt.query_map([user_id], folder_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The folder at `path` ("INBOX" in any letter case is the inbox).
pub fn folder(c: &Connection, user_id: i64, path: &str) -> StoreResult<Option<Folder>> {
    let path = canonical(path);
    Ok(c.query_row(&format!("SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = ?1 AND path = ?2"), params![user_id, path], folder_row)
        .optional()?)
}

/// "inbox" → "INBOX"; anything else as given.
pub fn canonical(path: &str) -> String {
    if path.eq_ignore_ascii_case("INBOX") {
        "INBOX".into()
    } else {
        path.to_string()
    }
}

/// Why a folder operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderError {
    AlreadyExists,
    NotFound,
    /// INBOX cannot be deleted, and a name must not be empty or contain control characters.
    NotAllowed(&'static str),
}

fn check_name(path: &str) -> Result<(), FolderError> {
    if path.is_empty() || path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return Err(FolderError::NotAllowed("a folder name cannot be empty or start or end with /"));
    }
    if path.chars().any(char::is_control) || path.len() > 500 {
        return Err(FolderError::NotAllowed("a folder name cannot contain control characters or be longer than 500 bytes"));
    }
    Ok(())
}

pub fn create_folder(c: &Connection, user_id: i64, path: &str) -> StoreResult<Result<Folder, FolderError>> {
    let path = canonical(path.trim_end_matches('/'));
    if let Err(e) = check_name(&path) {
        return Ok(Err(e));
    }
    if folder(c, user_id, &path)?.is_some() {
        return Ok(Err(FolderError::AlreadyExists));
    }
    // Parents that do not exist yet are created too (RFC 3501 6.3.3).
    let mut prefix = String::new();
    for piece in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(piece);
        if folder(c, user_id, &prefix)?.is_none() {
            c.execute(
                "INSERT INTO folders(user_id, path, uidvalidity) VALUES (?1, ?2, ?3)",
                params![user_id, prefix, next_uidvalidity(c, user_id)?],
            )?;
            subscribe(c, user_id, &prefix)?;
        }
    }
    Ok(folder(c, user_id, &path)?.ok_or(FolderError::NotFound))
}

/// A UIDVALIDITY for a new folder of the user: the time, or one more than the last one given if that is
/// later, so no two folders the user ever had share one (a name deleted and created again must not).
pub fn next_uidvalidity(c: &Connection, user_id: i64) -> StoreResult<i64> {
    let last: i64 = c.query_row("SELECT last_uidvalidity FROM users WHERE id = ?1", [user_id], |r| r.get(0))?;
    let next = crate::store::now().max(last + 1);
    c.execute("UPDATE users SET last_uidvalidity = ?2 WHERE id = ?1", params![user_id, next])?;
    Ok(next)
}

/// Deletes a folder and its messages; INBOX cannot go. Folders below it stay.
pub fn delete_folder(c: &Connection, user_id: i64, path: &str) -> StoreResult<Result<(), FolderError>> {
    let Some(f) = folder(c, user_id, path)? else { return Ok(Err(FolderError::NotFound)) };
    if f.path == "INBOX" {
        return Ok(Err(FolderError::NotAllowed("INBOX cannot be deleted")));
    }
    // Its messages go to the Recycle Bin, holding their bodies; restored, they come back to a folder of
    // this name made again.
    c.execute(recycle::KEEP_FOLDER, params![f.id, crate::store::now(), recycle::reason::FOLDER_DELETED])?;
    c.execute("DELETE FROM messages WHERE folder_id = ?1", [f.id])?;
    c.execute("DELETE FROM folders WHERE id = ?1", [f.id])?;
    Ok(Ok(()))
}

/// Renames a folder and everything below it. Renaming INBOX moves its messages into a new folder and
/// leaves INBOX empty (RFC 3501 6.3.5).
pub fn rename_folder(c: &Connection, user_id: i64, from: &str, to: &str) -> StoreResult<Result<(), FolderError>> {
    let to = canonical(to.trim_end_matches('/'));
    if let Err(e) = check_name(&to) {
        return Ok(Err(e));
    }
    let Some(source) = folder(c, user_id, from)? else { return Ok(Err(FolderError::NotFound)) };
    if folder(c, user_id, &to)?.is_some() {
        return Ok(Err(FolderError::AlreadyExists));
    }
    if source.path == "INBOX" {
        let target = match create_folder(c, user_id, &to)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let ids: Vec<i64> = {
            let mut s = c.prepare("SELECT id FROM messages WHERE folder_id = ?1 ORDER BY uid")?;
            let ids = s.query_map([source.id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            ids
        };
        copy_messages(c, source.id, &ids, target.id)?;
        expunge(c, source.id, &ids, Removal::Moved)?;
        return Ok(Ok(()));
    }
    if to == "INBOX" || to.starts_with(&format!("{}/", source.path)) {
        return Ok(Err(FolderError::NotAllowed("a folder cannot be renamed to INBOX or into itself")));
    }
    let old_prefix = format!("{}/", source.path);
    let children: Vec<(i64, String)> = {
        let mut s = c.prepare("SELECT id, path FROM folders WHERE user_id = ?1 AND substr(path, 1, length(?2)) = ?2")?;
        let rows = s.query_map(params![user_id, old_prefix], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
        rows
    };
    c.execute("UPDATE folders SET path = ?2 WHERE id = ?1", params![source.id, to])?;
    for (id, path) in children {
        c.execute("UPDATE folders SET path = ?2 WHERE id = ?1", params![id, format!("{to}/{}", &path[old_prefix.len()..])])?;
    }
    // The subscriptions go with the names, as Dovecot moves them.
    c.execute(
        "UPDATE OR REPLACE subscriptions SET path = ?3 || substr(path, length(?2) + 1)
         WHERE user_id = ?1 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
        params![user_id, source.path, to],
    )?;
    // Parents of the new name come into being as folders, as with CREATE.
    if let Some((parent, _)) = to.rsplit_once('/') {
        if folder(c, user_id, parent)?.is_none() {
            let _ = create_folder(c, user_id, parent)?;
        }
    }
    Ok(Ok(()))
}

/// SUBSCRIBE (the folder must exist) or UNSUBSCRIBE (the name must be subscribed, folder or not).
pub fn set_subscribed(c: &Connection, user_id: i64, path: &str, subscribed: bool) -> StoreResult<Result<(), FolderError>> {
    let path = canonical(path);
    if subscribed {
        if folder(c, user_id, &path)?.is_none() {
            return Ok(Err(FolderError::NotFound));
        }
        subscribe(c, user_id, &path)?;
        return Ok(Ok(()));
    }
    let n = c.execute("DELETE FROM subscriptions WHERE user_id = ?1 AND path = ?2", params![user_id, path])?;
    Ok(if n == 0 { Err(FolderError::NotFound) } else { Ok(()) })
}

pub fn subscribe(c: &Connection, user_id: i64, path: &str) -> StoreResult<()> {
    c.execute("INSERT OR IGNORE INTO subscriptions(user_id, path) VALUES (?1, ?2)", params![user_id, path])?;
    Ok(())
}

/// Every subscribed name of the user, whether its folder exists or not, sorted.
pub fn subscriptions(c: &Connection, user_id: i64) -> StoreResult<Vec<String>> {
    let mut stmt = c.prepare_cached("SELECT path FROM subscriptions WHERE user_id = ?1 ORDER BY path")?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One message as IMAP tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub uid: u32,
    pub modseq: i64,
    pub flags: Flags,
    pub keywords: String,
    pub received_at: i64,
    pub size: i64,
    pub blob_id: i64,
}

const MESSAGE_COLUMNS: &str =
    "id, uid, modseq, seen | (answered << 1) | (flagged << 2) | (deleted << 3) | (draft << 4), keywords, received_at, size, blob_id";

fn message_row(r: &rusqlite::Row) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        uid: r.get(1)?,
        modseq: r.get(2)?,
        flags: Flags(r.get(3)?),
        keywords: r.get(4)?,
        received_at: r.get(5)?,
        size: r.get(6)?,
        blob_id: r.get(7)?,
    })
}

/// Every message of a folder in UID order.
pub fn messages(c: &Connection, folder_id: i64) -> StoreResult<Vec<MessageRow>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE folder_id = ?1 ORDER BY uid"))?;
    let rows = stmt.query_map([folder_id], message_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The messages of a folder changed (flags) or added after mod-sequence `modseq`, in UID order.
pub fn changed_since(c: &Connection, folder_id: i64, modseq: i64) -> StoreResult<Vec<MessageRow>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid"))?;
    let rows = stmt.query_map(params![folder_id, modseq], message_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The UIDs of a folder, ascending.
pub fn uids(c: &Connection, folder_id: i64) -> StoreResult<Vec<u32>> {
    let mut stmt = c.prepare_cached("SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid")?;
    let rows = stmt.query_map([folder_id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn count(c: &Connection, folder_id: i64) -> StoreResult<usize> {
    Ok(c.query_row("SELECT count(*) FROM messages WHERE folder_id = ?1", [folder_id], |r| r.get::<_, i64>(0))? as usize)
}

/// Whether a keyword list holds `$Junk` (Some(true)) or `$NotJunk` (Some(false)).
fn junk_keyword(keywords: &str) -> Option<bool> {
    let has = |k: &str| keywords.split_whitespace().any(|w| w.eq_ignore_ascii_case(k));
    if has("$Junk") {
        Some(true)
    } else if has("$NotJunk") {
        Some(false)
    } else {
        None
    }
}

/// A lesson for the spam classifier (`spam::bayes` learns it later): the body is spam, or not.
fn teach(c: &Connection, blob_id: i64, spam: bool) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO bayes_lessons(blob_id, spam) VALUES (?1, ?2)")?.execute(params![blob_id, spam])?;
    Ok(())
}

/// Sets flags and keywords of messages (given by id); returns the new mod-sequence. Setting `$Junk` or
/// `$NotJunk` (RFC 9051 2.3.2's keywords for what the user judged) teaches the spam classifier.
pub fn set_flags(c: &Connection, folder_id: i64, changes: &[(i64, Flags, String)]) -> StoreResult<i64> {
    let mut before = c.prepare_cached("SELECT keywords, blob_id FROM messages WHERE id = ?1 AND folder_id = ?2")?;
    for (id, _, keywords) in changes {
        if let Some(judged) = junk_keyword(keywords) {
            let old: Option<(String, i64)> = before.query_row(params![id, folder_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            if let Some((_, blob_id)) = old.filter(|(old, _)| junk_keyword(old) != Some(judged)) {
                teach(c, blob_id, judged)?;
            }
        }
    }
    let modseq = next_modseq(c, folder_id)?;
    let mut stmt = c.prepare_cached(
        "UPDATE messages SET seen = ?3, answered = ?4, flagged = ?5, deleted = ?6, draft = ?7, keywords = ?8, modseq = ?9
         WHERE id = ?1 AND folder_id = ?2",
    )?;
    for (id, f, keywords) in changes {
        stmt.execute(params![
            id,
            folder_id,
            f.has(Flags::SEEN),
            f.has(Flags::ANSWERED),
            f.has(Flags::FLAGGED),
            f.has(Flags::DELETED),
            f.has(Flags::DRAFT),
            keywords,
            modseq
        ])?;
    }
    Ok(modseq)
}

/// Adds a message to a folder; returns its UID.
pub fn add_message(c: &Connection, folder_id: i64, blob_id: i64, size: i64, flags: Flags, keywords: &str, received_at: i64) -> StoreResult<u32> {
    let (uid, modseq): (u32, i64) = c.query_row(
        "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
        [folder_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    c.execute(
        "INSERT INTO messages(folder_id, uid, received_at, size, seen, answered, flagged, deleted, draft, keywords, modseq, blob_id, arrived_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            folder_id,
            uid,
            received_at,
            size,
            flags.has(Flags::SEEN),
            flags.has(Flags::ANSWERED),
            flags.has(Flags::FLAGGED),
            flags.has(Flags::DELETED),
            flags.has(Flags::DRAFT),
            keywords,
            modseq,
            blob_id,
            crate::store::now()
        ],
    )?;
    Ok(uid)
}

/// Copies messages (by id, in the order given) into another folder, sharing their bodies; returns
/// (old UID, new UID) pairs.
/// A copy (or move) into a Junk folder teaches the spam classifier spam; out of one into anything but
/// Trash, ham.
pub fn copy_messages(c: &Connection, from: i64, ids: &[i64], to: i64) -> StoreResult<Vec<(u32, u32)>> {
    let use_of = |id: i64| -> StoreResult<String> {
        Ok(c.query_row("SELECT coalesce(special_use, ''), path FROM folders WHERE id = ?1", [id], |r| {
            let (special, path): (String, String) = (r.get(0)?, r.get(1)?);
            Ok(if special.is_empty() && path.eq_ignore_ascii_case("Junk") { "\\Junk".to_string() } else { special })
        })
        .optional()?
        .unwrap_or_default())
    };
    let (source, target) = (use_of(from)?, use_of(to)?);
    let lesson = match (source.as_str(), target.as_str()) {
        (s, "\\Junk") if s != "\\Junk" => Some(true),
        ("\\Junk", t) if t != "\\Junk" && t != "\\Trash" => Some(false),
        _ => None,
    };
    let mut pairs = Vec::with_capacity(ids.len());
    for id in ids {
        let row: Option<MessageRow> =
            c.query_row(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND folder_id = ?2"), params![id, from], message_row).optional()?;
        let Some(m) = row else { continue };
        let uid = add_message(c, to, m.blob_id, m.size, m.flags, &m.keywords, m.received_at)?;
        c.execute("UPDATE blobs SET refcount = refcount + 1 WHERE id = ?1", [m.blob_id])?;
        if let Some(spam) = lesson {
            teach(c, m.blob_id, spam)?;
        }
        // A copy (and a move) keeps the time Postroom first saw the message: prune rules count from it; and
        // its Store-and-Forward link: a message moved to another folder is still forwarded.
        c.execute(
            "UPDATE messages SET (arrived_at, forward_id) = (SELECT arrived_at, forward_id FROM messages WHERE id = ?1) WHERE folder_id = ?2 AND uid = ?3",
            params![id, to, uid],
        )?;
        pairs.push((m.uid, uid));
    }
    Ok(pairs)
}

/// IMAP STATUS figures of a folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: i64,
    /// Messages no session has been shown as \Recent yet.
    pub recent: i64,
    pub unseen: i64,
    pub deleted: i64,
    pub size: i64,
}

pub fn status(c: &Connection, folder_id: i64) -> StoreResult<FolderStatus> {
    Ok(c.query_row(
        "SELECT count(*), coalesce(sum(seen = 0), 0), coalesce(sum(deleted), 0), coalesce(sum(size), 0),
                coalesce(sum(uid > (SELECT recent_uid FROM folders WHERE id = ?1)), 0)
         FROM messages WHERE folder_id = ?1",
        [folder_id],
        |r| Ok(FolderStatus { messages: r.get(0)?, unseen: r.get(1)?, deleted: r.get(2)?, size: r.get(3)?, recent: r.get(4)? }),
    )?)
}
