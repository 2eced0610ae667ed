//! COPY, MOVE and EXPUNGE (with UID EXPUNGE).

use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::sequence::{self, in_order};
use crate::mailbox::{self, Flags};

use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn copy(&mut self, tag: &str, set: &SequenceSet, uid: bool, mailbox: &Mailbox<'_>, moving: bool) {
        let verb = if moving { "MOVE" } else { "COPY" };
        let Some(sel) = &self.selected else { return };
        if moving && sel.read_only {
            return self.tagged(tag, "NO", "the mailbox is read-only (EXAMINE)");
        }
        let picked = match sel.resolve(set, uid) {
            Ok(p) => p,
            Err(e) => return self.tagged(tag, "BAD", &e),
        };
        let ids: Vec<i64> = picked.iter().map(|&i| sel.messages[i].id).collect();
        let source = sel.folder.id;
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let result = self
            .ctx
            .shared
            .store
            .write_async(move |c| {
                let Some(target) = mailbox::folder(c, user, &path)? else { return Ok(None) };
                let pairs = mailbox::copy_messages(c, source, &ids, target.id)?;
                if moving {
                    mailbox::expunge(c, source, &ids, mailbox::Removal::Moved)?;
                }
                Ok(Some((target.uidvalidity, pairs)))
            })
            .await;
        let (validity, pairs) = match result {
            Ok(Some(x)) => x,
            Ok(None) => return self.tagged(tag, "NO", "[TRYCREATE] no such folder"),
            Err(e) => return self.store_failed(tag, e),
        };
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let (from, to): (Vec<u32>, Vec<u32>) = pairs.iter().copied().unzip();
            format!("[COPYUID {validity} {} {}] ", in_order(&from), in_order(&to))
        };
        if moving {
            if !code.is_empty() {
                self.untagged(&format!("OK {code}moved"));
            }
            let mut gone: Vec<usize> = picked;
            gone.sort_unstable();
            let gone: Vec<(usize, u32)> = match &self.selected {
                Some(sel) => gone.into_iter().map(|i| (i, sel.messages[i].uid)).collect(),
                None => return,
            };
            let lines = self.expunge_lines(&gone);
            self.talk.out.extend_from_slice(&lines);
            if let Some(sel) = self.selected.as_mut() {
                sel.remove_at(gone.iter().map(|g| g.0));
            }
            self.refresh(true).await;
            self.tagged(tag, "OK", &format!("{verb} completed"));
        } else {
            self.refresh(false).await;
            self.tagged(tag, "OK", &format!("{code}{verb} completed"));
        }
    }

    /// Removes messages flagged \Deleted (only those in `only`, for UID EXPUNGE); `answer` sends EXPUNGE lines.
    pub(in crate::imap) async fn expunge(&mut self, only: Option<&SequenceSet>, answer: bool) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            return;
        }
        let last = sel.last_uid();
        let named: Option<std::collections::HashSet<usize>> = only.map(|s| sequence::select(s, last, sel.messages.iter().map(|m| m.uid)).into_iter().collect());
        let gone: Vec<usize> = sel
            .messages
            .iter()
            .enumerate()
            .filter(|(i, m)| m.flags.has(Flags::DELETED) && named.as_ref().is_none_or(|n| n.contains(i)))
            .map(|(i, _)| i)
            .collect();
        let ids: Vec<i64> = gone.iter().map(|&i| sel.messages[i].id).collect();
        let folder_id = sel.folder.id;
        if !ids.is_empty() {
            if let Err(e) = self.ctx.shared.store.write_async(move |c| mailbox::expunge(c, folder_id, &ids, mailbox::Removal::Deleted(mailbox::recycle::reason::IMAP))).await {
                tracing::error!(target: "imap", error = %e, "EXPUNGE failed");
                return;
            }
        }
        let lines = match &self.selected {
            Some(sel) => self.expunge_lines(&gone.iter().map(|&i| (i, sel.messages[i].uid)).collect::<Vec<_>>()),
            None => return,
        };
        if let Some(sel) = self.selected.as_mut() {
            sel.remove_at(gone.iter().copied());
            if answer {
                self.talk.out.extend_from_slice(&lines);
            }
        }
        if answer {
            self.refresh(true).await;
        }
    }
}
