//! STORE and UID STORE, with CONDSTORE's UNCHANGEDSINCE.

use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::fetch;
use crate::imap::sequence::in_order;
use crate::mailbox::{self, Flags};

use crate::imap::session::*;

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(in crate::imap) async fn store(&mut self, tag: &str, set: &SequenceSet, uid: bool, kind: StoreType, response: StoreResponse, flags: &[Flag<'_>], unchanged_since: Option<u64>) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            return self.tagged(tag, "NO", "the mailbox is read-only (EXAMINE)");
        }
        let picked = match sel.resolve(set, uid) {
            Ok(p) => p,
            Err(e) => return self.tagged(tag, "BAD", &e),
        };
        let (bits, keywords) = flag_bits(flags);
        let keywords: Vec<&str> = keywords.split(' ').filter(|k| !k.is_empty()).collect();
        let mut changes = Vec::new();
        let mut modified = Vec::new();
        for &i in &picked {
            let m = &sel.messages[i];
            // CONDSTORE: a message changed since the client's mod-sequence is left alone and reported.
            if unchanged_since.is_some_and(|n| m.modseq as u64 > n) {
                modified.push(if uid { m.uid } else { i as u32 + 1 });
                continue;
            }
            let mut kw: Vec<String> = m.keywords.split(' ').filter(|k| !k.is_empty()).map(str::to_string).collect();
            let new = match kind {
                StoreType::Replace => {
                    kw = keywords.iter().map(|k| k.to_string()).collect();
                    bits
                }
                StoreType::Add => {
                    for k in &keywords {
                        if !kw.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                            kw.push(k.to_string());
                        }
                    }
                    Flags(m.flags.0 | bits.0)
                }
                StoreType::Remove => {
                    kw.retain(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)));
                    Flags(m.flags.0 & !bits.0)
                }
            };
            changes.push((i, m.id, new, kw.join(" ")));
        }
        let folder_id = sel.folder.id;
        let writes: Vec<(i64, Flags, String)> = changes.iter().map(|(_, id, f, k)| (*id, *f, k.clone())).collect();
        let modseq = if writes.is_empty() {
            0
        } else {
            match self.ctx.shared.store.write_async(move |c| mailbox::set_flags(c, folder_id, &writes)).await {
                Ok(m) => m,
                Err(e) => return self.store_failed(tag, e),
            }
        };
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else { return };
        let mut out = Vec::new();
        let rev2 = self.rev2;
        for (i, _, new, kw) in changes {
            if let Some(lines) = sel.announce(&kw) {
                out.extend_from_slice(lines.as_bytes());
            }
            let recent = !rev2 && sel.is_recent(sel.messages[i].uid);
            let m = &mut sel.messages[i];
            m.flags = new;
            m.keywords = kw;
            m.modseq = modseq;
            if response == StoreResponse::Answer {
                out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
                if uid {
                    out.extend_from_slice(format!("UID {} ", m.uid).as_bytes());
                }
                out.extend_from_slice(b"FLAGS ");
                fetch::write_flags(&mut out, m.flags, &m.keywords, recent);
                if condstore {
                    out.extend_from_slice(format!(" MODSEQ ({modseq})").as_bytes());
                }
                out.extend_from_slice(b")\r\n");
            }
        }
        self.talk.out.extend_from_slice(&out);
        self.refresh(false).await;
        if modified.is_empty() {
            self.tagged(tag, "OK", "STORE completed");
        } else {
            modified.sort_unstable();
            self.tagged(tag, "OK", &format!("[MODIFIED {}] STORE completed, except where changed meanwhile", in_order(&modified)));
        }
    }
}
