//! URLAUTH (RFC 4467: GENURLAUTH, RESETKEY, URLFETCH) and CATENATE (RFC 4469): IMAP URLs of stored
//! messages, resolved by `mailbox::url`.

use imap_codec::imap_types::mailbox::Mailbox;

use crate::imap::append_forms::CatPart;
use crate::imap::urlauth::UrlCommand;
use crate::mailbox::meta;
use crate::mailbox::url::{self, Requester};

use super::Appended;
use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn url_command(&mut self, tag: &str, command: UrlCommand) {
        let (id, name) = match &self.user {
            Some(u) => (u.id, u.name.clone()),
            None => return self.tagged(tag, "BAD", "log in first"),
        };
        let store = self.ctx.shared.store.clone();
        match command {
            UrlCommand::Generate(pairs) => {
                if let Some((_, m)) = pairs.iter().find(|(_, m)| !m.eq_ignore_ascii_case("INTERNAL")) {
                    return self.tagged(tag, "NO", &format!("unsupported URLAUTH mechanism {m} (INTERNAL is supported)"));
                }
                let made = store
                    .write_async(move |c| pairs.iter().map(|(u, _)| url::authorise(c, id, &name, u).map(|r| r.map_err(|e| (u.clone(), e)))).collect::<Result<Vec<_>, _>>())
                    .await;
                match made {
                    Ok(results) => match results.into_iter().collect::<Result<Vec<String>, _>>() {
                        Ok(urls) => {
                            let mut line = b"* GENURLAUTH".to_vec();
                            for u in urls {
                                line.push(b' ');
                                meta::string(&mut line, u.as_bytes());
                            }
                            line.extend_from_slice(b"\r\n");
                            self.talk.out.extend_from_slice(&line);
                            self.tagged(tag, "OK", "GENURLAUTH completed");
                        }
                        Err((u, e)) => self.tagged(tag, "NO", &format!("[BADURL {}] {e}", quoted(&u))),
                    },
                    Err(e) => self.store_failed(tag, e),
                }
            }
            UrlCommand::ResetKey(mailbox) => {
                let path = match &mailbox {
                    Some(m) => match Mailbox::try_from(m.as_str()) {
                        Ok(m) => Some(self.path_of(&m)),
                        Err(_) => return self.tagged(tag, "BAD", "not a mailbox name"),
                    },
                    None => None,
                };
                match store.write_async(move |c| url::reset_keys(c, id, path.as_deref())).await {
                    Ok(true) => self.tagged(tag, "OK", "RESETKEY completed: URLs authorised before no longer work"),
                    Ok(false) => self.tagged(tag, "NO", "[NONEXISTENT] no such mailbox"),
                    Err(e) => self.store_failed(tag, e),
                }
            }
            UrlCommand::Fetch(urls) => {
                // One URL at a time, each written (and flushed past the bound) before the next is read;
                // together they may carry no more than one message of the largest size.
                let mut budget = self.ctx.settings.smtp.max_message_size;
                for u in urls {
                    let (dir, who, text) = (store.blobs_dir(), name.clone(), u.clone());
                    let fetched = store.read_async(move |c| url::resolve(c, &dir, &text, Requester::User { id, name: &who })).await;
                    let mut line = b"* URLFETCH ".to_vec();
                    meta::string(&mut line, u.as_bytes());
                    match fetched {
                        Ok(Ok(bytes)) if bytes.len() as u64 <= budget => {
                            budget -= bytes.len() as u64;
                            line.extend_from_slice(format!(" {{{}}}\r\n", bytes.len()).as_bytes());
                            self.talk.out.extend_from_slice(&line);
                            self.talk.out.extend_from_slice(&bytes);
                            self.talk.out.extend_from_slice(b"\r\n");
                        }
                        Ok(_) => {
                            line.extend_from_slice(b" NIL\r\n");
                            self.talk.out.extend_from_slice(&line);
                        }
                        Err(e) => return self.store_failed(tag, e),
                    }
                    if let Err(e) = self.talk.flush_if_over_bound().await {
                        tracing::debug!(target: "imap", error = %e, "client went away during URLFETCH");
                        return;
                    }
                }
                self.tagged(tag, "OK", "URLFETCH completed");
            }
        }
    }

    /// APPEND … CATENATE: the message made of its pieces, each URL read as its owner (or through URLAUTH).
    pub(in crate::imap) async fn catenate(&mut self, tag: &str, mailbox: &Mailbox<'_>, mut message: Appended, parts: Vec<CatPart>) {
        let (id, name) = match &self.user {
            Some(u) => (u.id, u.name.clone()),
            None => return self.tagged(tag, "BAD", "log in first"),
        };
        let max = self.ctx.settings.smtp.max_message_size;
        let store = self.ctx.shared.store.clone();
        let dir = store.blobs_dir();
        let built = store
            .read_async(move |c| {
                let mut data = Vec::new();
                for part in &parts {
                    let piece = match part {
                        CatPart::Text(t) => t.clone(),
                        CatPart::Url(u) => match url::resolve(c, &dir, u, Requester::User { id, name: &name })? {
                            Ok(bytes) => bytes,
                            Err(e) => return Ok(Err(format!("[BADURL {}] {e}", quoted(u)))),
                        },
                    };
                    data.extend_from_slice(&piece);
                    if data.len() as u64 > max {
                        return Ok(Err(format!("[TOOBIG] the message would be larger than {max} bytes")));
                    }
                }
                Ok(Ok(data))
            })
            .await;
        match built {
            Ok(Ok(data)) => {
                message.data = data;
                self.append(tag, mailbox, vec![message]).await;
            }
            Ok(Err(why)) => self.tagged(tag, "NO", &why),
            Err(e) => self.store_failed(tag, e),
        }
    }
}

/// A URL as an IMAP quoted string (for response codes).
fn quoted(u: &str) -> String {
    let mut out = Vec::new();
    meta::string(&mut out, u.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}
