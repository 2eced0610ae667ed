//! The expunge history of a folder, for QRESYNC (RFC 7162 §3.2.5.1): which UIDs were expunged after a
//! given mod-sequence, so a client coming back tomorrow is sent only what went (VANISHED (EARLIER)), not
//! the whole mailbox again. It survives restarts (it is a table) and is bounded: at most `2 × KEPT` rows
//! per folder, trimmed to the newest `KEPT`; the mod-sequence up to which entries were dropped is the
//! folder's `vanished_floor`. A client older than the floor is told every UID below UIDNEXT that is not
//! in the folder — a superset the RFC allows (UIDs it never knew are ignored by it).

use rusqlite::{params, Connection};

use crate::store::StoreResult;

/// Expunged UIDs kept per folder after a trim.
pub const KEPT: i64 = 50_000;

/// Records that `uids` were expunged from the folder at mod-sequence `modseq`, trimming the oldest
/// entries once the folder keeps more than twice `KEPT` (amortised: one trim per `KEPT` expunges).
pub fn remember(c: &Connection, folder_id: i64, modseq: i64, uids: &[u32]) -> StoreResult<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let mut insert = c.prepare_cached("INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) VALUES (?1, ?2, ?3)")?;
    for uid in uids {
        insert.execute(params![folder_id, uid, modseq])?;
    }
    let kept: i64 = c.query_row(
        "UPDATE folders SET expunged_kept = expunged_kept + ?2 WHERE id = ?1 RETURNING expunged_kept",
        params![folder_id, uids.len() as i64],
        |r| r.get(0),
    )?;
    if kept > 2 * KEPT {
        trim(c, folder_id, KEPT)?;
    }
    Ok(())
}

/// Keeps the newest `keep` entries of the folder; the floor rises to the newest mod-sequence dropped.
fn trim(c: &Connection, folder_id: i64, keep: i64) -> StoreResult<()> {
    let cutoff: Option<i64> = rusqlite::OptionalExtension::optional(c.query_row(
        "SELECT modseq FROM expunged WHERE folder_id = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2",
        params![folder_id, keep],
        |r| r.get(0),
    ))?;
    if let Some(cutoff) = cutoff {
        c.execute("DELETE FROM expunged WHERE folder_id = ?1 AND modseq <= ?2", params![folder_id, cutoff])?;
        c.execute(
            "UPDATE folders SET vanished_floor = max(vanished_floor, ?2),
                 expunged_kept = (SELECT count(*) FROM expunged WHERE folder_id = ?1) WHERE id = ?1",
            params![folder_id, cutoff],
        )?;
    }
    Ok(())
}

/// The UIDs expunged from the folder after mod-sequence `since`, as ascending, merged, inclusive
/// ranges; when the history no longer reaches back that far, every UID below UIDNEXT not in the folder.
pub fn vanished_since(c: &Connection, folder_id: i64, since: u64) -> StoreResult<Vec<(u32, u32)>> {
    let (floor, uidnext): (i64, i64) =
        c.query_row("SELECT vanished_floor, uidnext FROM folders WHERE id = ?1", [folder_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    if since >= floor.max(0) as u64 {
        let mut stmt = c.prepare_cached("SELECT uid FROM expunged WHERE folder_id = ?1 AND modseq > ?2 ORDER BY uid")?;
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        for uid in stmt.query_map(params![folder_id, since], |r| r.get::<_, u32>(0))? {
            push(&mut ranges, uid?);
        }
        return Ok(ranges);
    }
    // The gaps between the UIDs present, below UIDNEXT.
    let mut stmt = c.prepare_cached("SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid")?;
    let mut next_expected = 1u32;
    for uid in stmt.query_map([folder_id], |r| r.get::<_, u32>(0))? {
        let uid = uid?;
        if uid > next_expected {
            ranges.push((next_expected, uid - 1));
        }
        next_expected = uid.saturating_add(1);
    }
    let last = (uidnext - 1).clamp(0, i64::from(u32::MAX)) as u32;
    if last >= next_expected {
        ranges.push((next_expected, last));
    }
    Ok(ranges)
}

fn push(ranges: &mut Vec<(u32, u32)>, uid: u32) {
    match ranges.last_mut() {
        Some(last) if last.1.checked_add(1) == Some(uid) => last.1 = uid,
        _ => ranges.push((uid, uid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(uids: u32) -> (Connection, i64) {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c.execute("INSERT INTO users(name, password_hash, created_at) VALUES ('alice', '', 0)", []).unwrap();
        c.execute("INSERT INTO folders(user_id, path, uidvalidity) VALUES (1, 'INBOX', 1)", []).unwrap();
        c.execute("INSERT INTO blobs(sha256, size, refcount, data) VALUES ('x', 1, 1000000, x'00')", []).unwrap();
        for _ in 0..uids {
            crate::mailbox::add_message(&c, 1, 1, 1, crate::mailbox::Flags::default(), "", 0).unwrap();
        }
        (c, 1)
    }

    fn ids_of(c: &Connection, folder: i64, uids: &[u32]) -> Vec<i64> {
        uids.iter().map(|u| c.query_row("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2", params![folder, u], |r| r.get(0)).unwrap()).collect()
    }

    fn modseq(c: &Connection) -> u64 {
        c.query_row("SELECT highestmodseq FROM folders WHERE id = 1", [], |r| r.get::<_, i64>(0)).unwrap() as u64
    }

    #[test]
    fn expunges_are_listed_after_the_modseq_they_happened_at() {
        let (c, f) = folder_with(10);
        let before = modseq(&c);
        crate::mailbox::expunge(&c, f, &ids_of(&c, f, &[2, 3, 4]), crate::mailbox::Removal::Moved).unwrap();
        let middle = modseq(&c);
        crate::mailbox::expunge(&c, f, &ids_of(&c, f, &[9]), crate::mailbox::Removal::Moved).unwrap();
        assert_eq!(vanished_since(&c, f, before).unwrap(), vec![(2, 4), (9, 9)]);
        assert_eq!(vanished_since(&c, f, middle).unwrap(), vec![(9, 9)]);
        assert_eq!(vanished_since(&c, f, modseq(&c)).unwrap(), vec![]);
    }

    #[test]
    fn the_history_is_bounded_and_an_older_client_gets_every_gap() {
        let (c, f) = folder_with(30);
        let start = modseq(&c);
        for uid in 1..=25u32 {
            crate::mailbox::expunge(&c, f, &ids_of(&c, f, &[uid]), crate::mailbox::Removal::Moved).unwrap();
            let kept: i64 = c.query_row("SELECT expunged_kept FROM folders WHERE id = 1", [], |r| r.get(0)).unwrap();
            if kept > 10 {
                trim(&c, f, 5).unwrap();
            }
        }
        let rows: i64 = c.query_row("SELECT count(*) FROM expunged", [], |r| r.get(0)).unwrap();
        assert!(rows <= 10, "{rows} rows kept");
        // From before the floor: the gaps below UIDNEXT (1..=25 went; 26..=30 remain).
        assert_eq!(vanished_since(&c, f, start).unwrap(), vec![(1, 25)]);
        // From after it: exactly the newer ones.
        let recent = modseq(&c) - 3;
        assert_eq!(vanished_since(&c, f, recent).unwrap(), vec![(23, 25)]);
    }
}
