//! What POP3 and IMAP4 share about a user's mail: listing a folder's messages, reading a body, setting
//! flags and expunging. Every change bumps the message's and the folder's mod-sequence (CONDSTORE), and
//! an expunge releases the message's reference on its body.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreResult;

/// One message as a listing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: i64,
    pub uid: i64,
    pub size: i64,
    pub blob_id: i64,
    pub seen: bool,
}

/// A folder's identity and its messages in UID order.
#[derive(Debug, Clone)]
pub struct FolderListing {
    pub folder_id: i64,
    pub uidvalidity: i64,
    pub messages: Vec<Listed>,
}

/// The user's INBOX.
pub fn inbox(c: &Connection, user_id: i64) -> StoreResult<FolderListing> {
    let (folder_id, uidvalidity): (i64, i64) =
        c.query_row("SELECT id, uidvalidity FROM folders WHERE user_id = ?1 AND path = 'INBOX'", [user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut stmt = c.prepare_cached("SELECT id, uid, size, blob_id, seen FROM messages WHERE folder_id = ?1 ORDER BY uid")?;
    let messages = stmt
        .query_map([folder_id], |r| Ok(Listed { id: r.get(0)?, uid: r.get(1)?, size: r.get(2)?, blob_id: r.get(3)?, seen: r.get(4)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FolderListing { folder_id, uidvalidity, messages })
}

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

/// Removes the messages from the folder for good; ids already gone are skipped. Returns how many went.
pub fn expunge(c: &Connection, folder_id: i64, ids: &[i64]) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    next_modseq(c, folder_id)?;
    let mut delete = c.prepare_cached("DELETE FROM messages WHERE id = ?1 AND folder_id = ?2 RETURNING blob_id")?;
    let mut release = c.prepare_cached("UPDATE blobs SET refcount = refcount - 1 WHERE id = ?1")?;
    let mut removed = 0;
    for id in ids {
        let blob: Option<i64> = delete.query_row(params![id, folder_id], |r| r.get(0)).optional()?;
        if let Some(blob_id) = blob {
            release.execute([blob_id])?;
            removed += 1;
        }
    }
    Ok(removed)
}
