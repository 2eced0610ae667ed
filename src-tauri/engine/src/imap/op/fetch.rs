//! FETCH and UID FETCH (the answer itself is written by `imap::fetch`).

use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::fetch::{self, Item};
use crate::imap::sequence;
use crate::mailbox::{self, Flags, MessageRow};
use crate::store::blobs;

use crate::imap::session::*;

impl Session {
    /// `since`: CHANGEDSINCE's mod-sequence, and whether VANISHED was asked for too (QRESYNC: the UIDs
    /// of the set expunged since then go first, as VANISHED (EARLIER), RFC 7162 §3.2.6).
    pub(in crate::imap) async fn fetch(&mut self, tag: &str, set: &SequenceSet, uid: bool, items: &[Item], since: Option<(u64, bool)>) {
        let Some(sel) = &self.selected else { return };
        let picked = match sel.resolve(set, uid) {
            Ok(p) => p,
            Err(e) => return self.tagged(tag, "BAD", &e),
        };
        let changed_since = since.map(|s| s.0);
        if let Some((modseq, true)) = since {
            let folder_id = sel.folder.id;
            // "*" is the highest UID the folder has given, so expunges at its end are included.
            let asked = sequence::intervals(set, (sel.folder.uidnext - 1).max(0) as u32);
            match self.ctx.shared.store.read_async(move |c| mailbox::history::vanished_since(c, folder_id, modseq)).await {
                Ok(vanished) => {
                    let vanished = sequence::intersect(&vanished, &asked);
                    if !vanished.is_empty() {
                        self.untagged(&format!("VANISHED (EARLIER) {}", sequence::ranges_text(&vanished)));
                    }
                }
                Err(e) => return self.store_failed(tag, e),
            }
        }
        let Some(sel) = &self.selected else { return };
        let picked: Vec<usize> = picked.into_iter().filter(|&i| changed_since.is_none_or(|n| sel.messages[i].modseq as u64 > n)).collect();
        let (_, _, sets_seen) = fetch::needs(items);
        let mut items = items.to_vec();
        let mark_seen = sets_seen && !sel.read_only;
        let folder_id = sel.folder.id;
        let rows: Vec<(usize, MessageRow)> = picked.iter().map(|&i| (i, sel.messages[i].clone())).collect();
        // Messages that become \Seen now: their FLAGS go out with this FETCH.
        let newly_seen: Vec<i64> = if mark_seen { rows.iter().filter(|(_, m)| !m.flags.has(Flags::SEEN)).map(|(_, m)| m.id).collect() } else { Vec::new() };
        if !newly_seen.is_empty() {
            let ids = newly_seen.clone();
            if let Err(e) = self.ctx.shared.store.write_async(move |c| mailbox::mark_seen(c, folder_id, &ids)).await {
                return self.store_failed(tag, e);
            }
            if !items.contains(&Item::Flags) {
                items.push(Item::Flags);
            }
        }
        if !self.write_fetch(rows, &newly_seen, &items).await {
            return;
        }
        self.refresh(false).await;
        self.tagged(tag, "OK", "FETCH completed");
    }

    /// Writes `* n FETCH (…)` for each (index, row), the ones in `newly_seen` with \Seen added; `false`
    /// when the client went away meanwhile.
    pub(in crate::imap) async fn write_fetch(&mut self, rows: Vec<(usize, MessageRow)>, newly_seen: &[i64], items: &[Item]) -> bool {
        let (needs_meta, needs_text, _) = fetch::needs(items);
        let store = self.ctx.shared.store.clone();
        let dir = store.blobs_dir();
        for (index, mut row) in rows {
            if newly_seen.contains(&row.id) {
                row.flags = Flags(row.flags.0 | Flags::SEEN);
                if let Some(sel) = self.selected.as_mut() {
                    sel.messages[index].flags = row.flags;
                }
            }
            let blob_id = row.blob_id;
            let dir = dir.clone();
            // FLAGS, UID, sizes and dates are in the row: only ENVELOPE, BODYSTRUCTURE and text go to the store.
            let loaded = if !needs_meta && !needs_text {
                Ok((None, None))
            } else {
                store
                    .read_async(move |c| {
                        let stored = if needs_meta { stored_meta(c, blob_id)? } else { None };
                        let raw = if needs_text || (needs_meta && stored.is_none()) { Some(blobs::read(c, &dir, blob_id)?) } else { None };
                        let meta = if needs_meta { fetch::meta_or_compute(stored, || raw.clone()) } else { None };
                        Ok((meta, raw))
                    })
                    .await
            };
            let Ok((meta, raw)) = loaded else {
                tracing::error!(target: "imap", uid = row.uid, "cannot read a message");
                continue;
            };
            self.talk.out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
            // Sent as it is written: at most one item of one message waits in memory.
            let mut writer = fetch::MessageWriter::new(&row, meta.as_ref(), raw.as_deref());
            writer.recent = !self.rev2 && self.selected.as_ref().is_some_and(|s| s.is_recent(row.uid));
            for (i, item) in items.iter().enumerate() {
                writer.item(&mut self.talk.out, i, item);
                if let Err(e) = self.talk.flush_if_over_bound().await {
                    tracing::debug!(target: "imap", error = %e, "client went away during FETCH");
                    return false;
                }
            }
            self.talk.out.extend_from_slice(b")\r\n");
        }
        true
    }
}
