//! APPEND.

use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;

use crate::mailbox::meta;
use crate::mailbox;
use crate::store::{blobs, now};

use crate::imap::session::*;

/// One message of an APPEND: its flags, keywords, date (the internal date asked for) and text.
pub(in crate::imap) struct Appended {
    pub flags: mailbox::Flags,
    pub keywords: String,
    pub date: Option<i64>,
    pub data: Vec<u8>,
}

impl Appended {
    pub(in crate::imap) fn new(flags: &[Flag<'_>], date: Option<i64>, data: Vec<u8>) -> Appended {
        let (flags, keywords) = flag_bits(flags);
        Appended { flags, keywords, date, data }
    }
}

impl Session {
    /// APPEND of one message, or MULTIAPPEND (RFC 3502) of several: all in one commit, or none.
    pub(in crate::imap) async fn append(&mut self, tag: &str, mailbox: &Mailbox<'_>, messages: Vec<Appended>) {
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let max = self.ctx.settings.smtp.max_message_size;
        if messages.iter().any(|m| m.data.len() as u64 > max) {
            return self.tagged(tag, "NO", &format!("[TOOBIG] the message is larger than {max} bytes"));
        }
        let dir = self.ctx.shared.store.blobs_dir();
        let prepared = tokio::task::spawn_blocking(move || {
            messages
                .into_iter()
                .map(|m| {
                    let meta = meta::compute(&m.data);
                    let received = m.date.unwrap_or_else(now);
                    blobs::prepare(&dir, m.data).map(|b| (b, meta, m.flags, m.keywords, received))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        let Ok(Ok(prepared)) = prepared else { return self.store_failed(tag, "cannot prepare the message") };
        let result = self
            .ctx
            .shared
            .store
            .write_async(move |c| {
                let Some(f) = mailbox::folder(c, user, &path)? else { return Ok(None) };
                let mut uids = Vec::with_capacity(prepared.len());
                for (blob, meta, flags, keywords, received) in &prepared {
                    let blob_id = blobs::insert(c, blob, 1)?;
                    blobs::set_meta(c, blob_id, &meta.envelope, &meta.bodystructure, &meta.body)?;
                    uids.push(mailbox::add_message(c, f.id, blob_id, blob.size, *flags, keywords, *received)?);
                }
                Ok(Some((f.uidvalidity, uids)))
            })
            .await;
        match result {
            Ok(Some((validity, uids))) => {
                self.refresh(false).await;
                self.tagged(tag, "OK", &format!("[APPENDUID {validity} {}] APPEND completed", crate::imap::sequence::compact(&uids)));
            }
            Ok(None) => self.tagged(tag, "NO", "[TRYCREATE] no such folder"),
            Err(e) => self.store_failed(tag, e),
        }
    }
}
