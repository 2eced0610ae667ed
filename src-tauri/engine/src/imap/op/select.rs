//! SELECT and EXAMINE, and keeping the selected snapshot in step with the folder (EXISTS, EXPUNGE, FETCH FLAGS).

use imap_codec::imap_types::mailbox::Mailbox;

use crate::imap::fetch;
use crate::mailbox::{self, Flags};

use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn select(&mut self, tag: &str, mailbox: &Mailbox<'_>, read_only: bool) {
        if self.selected.take().is_some() && self.rev2 {
            self.untagged("OK [CLOSED] the previous mailbox is closed");
        }
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let loaded = with_folder(self.ctx.shared.store.clone(), user, path, |c, f| mailbox::messages(c, f.id)).await;
        let (messages, folder) = match loaded {
            Ok(Some(x)) => x,
            Ok(None) => return self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Err(e) => return self.store_failed(tag, e),
        };
        self.untagged("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        self.untagged("OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags permitted");
        self.untagged(&format!("{} EXISTS", messages.len()));
        if !self.rev2 {
            self.untagged("0 RECENT");
            if let Some(first) = messages.iter().position(|m| !m.flags.has(Flags::SEEN)) {
                self.untagged(&format!("OK [UNSEEN {}] first unseen", first + 1));
            }
        }
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", folder.uidvalidity));
        self.untagged(&format!("OK [UIDNEXT {}] predicted next UID", folder.uidnext));
        self.untagged(&format!("OK [HIGHESTMODSEQ {}] highest", folder.highestmodseq));
        self.selected = Some(Selected { folder, read_only, messages });
        let mode = if read_only { "[READ-ONLY] EXAMINE" } else { "[READ-WRITE] SELECT" };
        self.tagged(tag, "OK", &format!("{mode} completed"));
    }

    /// Looks for changes to the selected folder and tells the client. `expunges`: EXPUNGE may be sent now.
    pub(in crate::imap) async fn refresh(&mut self, expunges: bool) {
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
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else { return };
        let mut out = Vec::new();
        let mut deferred = false;
        if let Some(present) = present {
            if expunges {
                // Highest number first, so each number is right when the client applies it.
                let mut keep = vec![true; sel.messages.len()];
                for (i, m) in sel.messages.iter().enumerate().rev() {
                    if m.uid <= known_last && present.binary_search(&m.uid).is_err() {
                        out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                        keep[i] = false;
                    }
                }
                let mut k = keep.iter();
                sel.messages.retain(|_| *k.next().unwrap_or(&true));
            } else {
                deferred = true;
            }
        }
        let mut added = Vec::new();
        for fresh in changed {
            if fresh.uid > known_last {
                added.push(fresh);
                continue;
            }
            let Ok(i) = sel.messages.binary_search_by_key(&fresh.uid, |m| m.uid) else { continue };
            let m = &mut sel.messages[i];
            if fresh.flags != m.flags || fresh.keywords != m.keywords {
                out.extend_from_slice(format!("* {} FETCH (UID {} FLAGS ", i + 1, fresh.uid).as_bytes());
                fetch::write_flags(&mut out, fresh.flags, &fresh.keywords);
                if condstore {
                    out.extend_from_slice(format!(" MODSEQ ({})", fresh.modseq).as_bytes());
                }
                out.extend_from_slice(b")\r\n");
            }
            *m = fresh;
        }
        if !added.is_empty() {
            sel.messages.extend(added);
            out.extend_from_slice(format!("* {} EXISTS\r\n", sel.messages.len()).as_bytes());
        }
        // With expunges held back, the folder's mod-sequence stays where it was, so the next look finds them.
        if deferred {
            sel.folder.uidnext = folder.uidnext;
        } else {
            sel.folder = folder;
        }
        self.talk.out.extend_from_slice(&out);
    }
}
