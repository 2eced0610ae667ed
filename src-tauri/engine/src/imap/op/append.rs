//! APPEND.

use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;

use crate::mailbox::meta;
use crate::mailbox;
use crate::store::{blobs, now};

use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn append(&mut self, tag: &str, mailbox: &Mailbox<'_>, flags: &[Flag<'_>], date: Option<i64>, data: Vec<u8>) {
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let max = self.ctx.settings.smtp.max_message_size;
        if data.len() as u64 > max {
            return self.tagged(tag, "NO", &format!("[TOOBIG] the message is larger than {max} bytes"));
        }
        let (bits, keywords) = flag_bits(flags);
        let dir = self.ctx.shared.store.blobs_dir();
        let prepared = tokio::task::spawn_blocking(move || {
            let meta = meta::compute(&data);
            blobs::prepare(&dir, data).map(|b| (b, meta))
        })
        .await;
        let Ok(Ok((blob, meta))) = prepared else { return self.store_failed(tag, "cannot prepare the message") };
        let received = date.unwrap_or_else(now);
        let result = self
            .ctx
            .shared
            .store
            .write_async(move |c| {
                let Some(f) = mailbox::folder(c, user, &path)? else { return Ok(None) };
                let blob_id = blobs::insert(c, &blob, 1)?;
                blobs::set_meta(c, blob_id, &meta.envelope, &meta.bodystructure, &meta.body)?;
                let uid = mailbox::add_message(c, f.id, blob_id, blob.size, bits, &keywords, received)?;
                Ok(Some((f.uidvalidity, uid)))
            })
            .await;
        match result {
            Ok(Some((validity, uid))) => {
                self.refresh(false).await;
                self.tagged(tag, "OK", &format!("[APPENDUID {validity} {uid}] APPEND completed"));
            }
            Ok(None) => self.tagged(tag, "NO", "[TRYCREATE] no such folder"),
            Err(e) => self.store_failed(tag, e),
        }
    }
}
