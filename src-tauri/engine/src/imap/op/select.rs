//! SELECT and EXAMINE, and keeping the selected snapshot in step with the folder (EXISTS, EXPUNGE, FETCH FLAGS).

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::mailbox::Mailbox;

use crate::imap::fetch;
use crate::imap::sequence::{self, intersect, ranges_text};
use crate::mailbox::{self, history, Flags};

use crate::imap::session::*;

/// What a client resynchronising with QRESYNC knows of the mailbox (RFC 7162 §3.2.5).
pub(in crate::imap) struct Resync {
    uidvalidity: u32,
    modseq: u64,
    /// The UIDs it knows, as ranges; all below UIDNEXT when it did not say.
    known: Option<Vec<(u32, u32)>>,
}

impl Session {
    /// SELECT or EXAMINE with their parameters: CONDSTORE, and QRESYNC once enabled.
    pub(in crate::imap) async fn select_with(&mut self, tag: &str, mailbox: &Mailbox<'_>, read_only: bool, parameters: &[SelectParameter]) {
        let mut resync = None;
        for p in parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync { uid_validity, mod_sequence_value, known_uids, .. } => {
                    if !self.qresync {
                        return self.tagged(tag, "BAD", "QRESYNC is not enabled (ENABLE QRESYNC first)");
                    }
                    // The sequence-match data only narrows what a server without history would send;
                    // the history here answers exactly, so it is not needed.
                    resync = Some(Resync {
                        uidvalidity: uid_validity.get(),
                        modseq: mod_sequence_value.get(),
                        known: known_uids.as_ref().map(|k| sequence::intervals(k, u32::MAX)),
                    });
                }
            }
        }
        self.select(tag, mailbox, read_only, resync).await
    }

    pub(in crate::imap) async fn select(&mut self, tag: &str, mailbox: &Mailbox<'_>, read_only: bool, resync: Option<Resync>) {
        if self.selected.take().is_some() && (self.rev2 || self.qresync) {
            self.untagged("OK [CLOSED] the previous mailbox is closed");
        }
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        // The messages and what went since the client's mod-sequence, read together so they agree.
        let since = resync.as_ref().map(|r| (r.uidvalidity, r.modseq));
        let loaded = with_folder(self.ctx.shared.store.clone(), user, path, move |c, f| {
            let vanished = match since {
                Some((validity, modseq)) if i64::from(validity) == f.uidvalidity => Some(history::vanished_since(c, f.id, modseq)?),
                _ => None,
            };
            Ok((mailbox::messages(c, f.id)?, vanished))
        })
        .await;
        let ((messages, vanished), folder) = match loaded {
            Ok(Some(x)) => x,
            Ok(None) => return self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Err(e) => return self.store_failed(tag, e),
        };
        // SELECT takes the recent messages for this session; EXAMINE changes nothing and shows the ones
        // no session has taken yet.
        let recent = if read_only {
            vec![(folder.recent_uid as u32, u32::MAX)]
        } else {
            match claim_recent(self.ctx.shared.store.clone(), folder.id).await {
                Ok(r) => r.into_iter().collect(),
                Err(e) => return self.store_failed(tag, e),
            }
        };
        let keywords = messages.iter().flat_map(|m| m.keywords.split(' ')).filter(|k| !k.is_empty()).map(str::to_string).collect();
        let sel = Selected { folder, read_only, messages, recent, keywords, saved: Vec::new(), contexts: Vec::new() };
        self.talk.out.extend_from_slice(flags_lines(&sel.keywords).as_bytes());
        self.untagged(&format!("{} EXISTS", sel.messages.len()));
        if !self.rev2 {
            self.untagged(&format!("{} RECENT", sel.recent_count()));
            if let Some(first) = sel.messages.iter().position(|m| !m.flags.has(Flags::SEEN)) {
                self.untagged(&format!("OK [UNSEEN {}] first unseen", first + 1));
            }
        }
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", sel.folder.uidvalidity));
        self.untagged(&format!("OK [UIDNEXT {}] predicted next UID", sel.folder.uidnext));
        self.untagged(&format!("OK [HIGHESTMODSEQ {}] highest", sel.folder.highestmodseq));
        // QRESYNC with the UIDVALIDITY the client knew: what went, then what changed or came since its
        // mod-sequence (RFC 7162 §3.2.5.1). A different UIDVALIDITY means its cache is void: nothing more.
        if let (Some(vanished), Some(resync)) = (vanished, resync) {
            let known = resync.known.unwrap_or_else(|| vec![(1, u32::MAX)]);
            let vanished = intersect(&vanished, &known);
            if !vanished.is_empty() {
                self.untagged(&format!("VANISHED (EARLIER) {}", ranges_text(&vanished)));
            }
            let mut out = Vec::new();
            for (i, m) in sel.messages.iter().enumerate().filter(|(_, m)| m.modseq as u64 > resync.modseq) {
                out.extend_from_slice(format!("* {} FETCH (UID {} FLAGS ", i + 1, m.uid).as_bytes());
                fetch::write_flags(&mut out, m.flags, &m.keywords, !self.rev2 && sel.is_recent(m.uid));
                out.extend_from_slice(format!(" MODSEQ ({}))\r\n", m.modseq).as_bytes());
            }
            self.talk.out.extend_from_slice(&out);
        }
        self.selected = Some(sel);
        let mode = if read_only { "[READ-ONLY] EXAMINE" } else { "[READ-WRITE] SELECT" };
        self.tagged(tag, "OK", &format!("{mode} completed"));
    }

    /// Looks for changes to the selected folder and tells the client. `expunges`: EXPUNGE may be sent now
    /// (and with it, the changes to searches kept up to date).
    pub(in crate::imap) async fn refresh(&mut self, expunges: bool) {
        self.refresh_snapshot(expunges).await;
        if expunges {
            self.update_contexts().await;
        }
    }

    async fn refresh_snapshot(&mut self, expunges: bool) {
        let Some(sel) = &self.selected else { return };
        let (folder_id, known_modseq, known_next) = (sel.folder.id, sel.folder.highestmodseq, sel.folder.uidnext);
        let (known_count, known_last) = (sel.messages.len(), sel.last_uid());
        let user = self.user_id();
        let path = sel.folder.path.clone();
        // Only what changed since the snapshot's mod-sequence is read; the UID list only when messages
        // have gone.
        let fresh = self.ctx.shared.store.read_async(move |c| {
            let Some(f) = mailbox::folder(c, user, &path)? else { return Ok(None) };
            if f.id != folder_id || (f.highestmodseq == known_modseq && f.uidnext == known_next) {
                return Ok(None);
            }
            let changed = mailbox::changed_since(c, f.id, known_modseq)?;
            let added = changed.iter().filter(|m| m.uid > known_last).count();
            let present = if mailbox::count(c, f.id)? < known_count + added { Some(mailbox::uids(c, f.id)?) } else { None };
            Ok(Some((f, changed, present)))
        })
        .await;
        let Ok(Some((folder, changed, present))) = fresh else { return };
        // New messages are recent in the session that sees them first.
        let claimed = match &self.selected {
            Some(sel) if !sel.read_only && folder.uidnext > sel.folder.uidnext => claim_recent(self.ctx.shared.store.clone(), folder.id).await.ok().flatten(),
            _ => None,
        };
        let (condstore, rev2) = (self.condstore, self.rev2);
        let mut out = Vec::new();
        let mut deferred = false;
        if let Some(present) = present {
            if expunges {
                let gone: Vec<(usize, u32)> = match &self.selected {
                    Some(sel) => sel.messages.iter().enumerate().filter(|(_, m)| m.uid <= known_last && present.binary_search(&m.uid).is_err()).map(|(i, m)| (i, m.uid)).collect(),
                    None => return,
                };
                out = self.expunge_lines(&gone);
                if let Some(sel) = self.selected.as_mut() {
                    sel.remove_at(gone.iter().map(|g| g.0));
                }
            } else {
                deferred = true;
            }
        }
        let Some(sel) = self.selected.as_mut() else { return };
        sel.recent.extend(claimed);
        let mut added = Vec::new();
        for fresh in changed {
            if fresh.uid > known_last {
                added.push(fresh);
                continue;
            }
            let Ok(i) = sel.messages.binary_search_by_key(&fresh.uid, |m| m.uid) else { continue };
            if fresh.flags != sel.messages[i].flags || fresh.keywords != sel.messages[i].keywords {
                if let Some(lines) = sel.announce(&fresh.keywords) {
                    out.extend_from_slice(lines.as_bytes());
                }
                out.extend_from_slice(format!("* {} FETCH (UID {} FLAGS ", i + 1, fresh.uid).as_bytes());
                fetch::write_flags(&mut out, fresh.flags, &fresh.keywords, !rev2 && sel.is_recent(fresh.uid));
                if condstore {
                    out.extend_from_slice(format!(" MODSEQ ({})", fresh.modseq).as_bytes());
                }
                out.extend_from_slice(b")\r\n");
            }
            sel.messages[i] = fresh;
        }
        if !added.is_empty() {
            for m in &added {
                if let Some(lines) = sel.announce(&m.keywords) {
                    out.extend_from_slice(lines.as_bytes());
                }
            }
            sel.messages.extend(added);
            out.extend_from_slice(format!("* {} EXISTS\r\n", sel.messages.len()).as_bytes());
            if !rev2 {
                out.extend_from_slice(format!("* {} RECENT\r\n", sel.recent_count()).as_bytes());
            }
        }
        // With expunges held back, the folder's mod-sequence stays where it was, so the next look finds them;
        // a CONDSTORE client is told that mod-sequence, lower than the held-back expunge's, so that the MODSEQ
        // of a FETCH sent meanwhile does not make it skip the expunge when it resynchronises (RFC 7162
        // errata 1810).
        if deferred {
            if condstore {
                out.extend_from_slice(format!("* OK [HIGHESTMODSEQ {known_modseq}] expunges are pending\r\n").as_bytes());
            }
            sel.folder.uidnext = folder.uidnext;
        } else {
            sel.folder = folder;
        }
        self.talk.out.extend_from_slice(&out);
    }
}

/// Takes the folder's recent messages for a session (see `mailbox::claim_recent`).
async fn claim_recent(store: crate::store::Store, folder_id: i64) -> crate::store::StoreResult<Option<(u32, u32)>> {
    store.write_async(move |c| mailbox::claim_recent(c, folder_id)).await
}
