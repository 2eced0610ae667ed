//! Reading one complete command (its line and literals, as the framer gathered them) into what the
//! session acts on: imap-codec's commands, and the forms it does not know (extended LIST, SEARCH and SORT
//! RETURN, `$`, MULTIAPPEND, CATENATE, NOTIFY, the URLAUTH commands, CANCELUPDATE), read here first.

use imap_codec::fragmentizer::{DecodeMessageError, Fragmentizer};
use imap_codec::imap_types::auth::AuthenticateData;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::IntoStatic;
use imap_codec::decode::Decoder;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};

use super::op::Appended;
use super::sequence;
use super::session::{Pending, Session};
use super::{append_forms, esearch, list, notify, searchres, urlauth};

/// The message a command came in, owned.
pub(super) enum Incoming {
    Command(Command<'static>),
    /// A LIST in extended form (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE selection).
    List(String, list::ListRequest),
    /// Not understood, with a reason of our own.
    BadText(Option<String>, String),
    /// NOTIFY: the tag and the command, or why it is refused.
    Notify(String, Result<notify::Command, notify::Refusal>),
    /// GENURLAUTH, RESETKEY or URLFETCH: the tag and the command.
    Url(String, urlauth::UrlCommand),
    /// APPEND … CATENATE: the tag, the mailbox, the flags and date (an empty message), the pieces.
    Catenate(String, Mailbox<'static>, Appended, Vec<append_forms::CatPart>),
    /// CANCELUPDATE: the tag, and the tags of the searches to stop updating.
    CancelUpdate(String, Vec<String>),
    /// An APPEND of several messages (MULTIAPPEND): the tag, the mailbox, the messages.
    Append(String, Mailbox<'static>, Vec<Appended>),
    /// A SEARCH with a RETURN clause (ESEARCH): the search, and what to return.
    ESearch(Command<'static>, esearch::ReturnOptions),
    AuthData(AuthenticateData<'static>),
    IdleDone,
    /// Not understood; the tag if one could be read.
    Bad(Option<String>, &'static str),
}

impl Session {
    pub(super) fn decode(&self, fr: &Fragmentizer) -> Incoming {
        let tag = || fr.decode_tag().map(|t| t.inner().to_string());
        match &self.pending {
            Some(Pending::Idle { .. }) => match fr.decode_message(&IdleDoneCodec::default()) {
                Ok(_) => Incoming::IdleDone,
                Err(_) => Incoming::Bad(None, "expected DONE"),
            },
            Some(Pending::Authenticate { .. }) => match fr.decode_message(&AuthenticateDataCodec::default()) {
                Ok(data) => Incoming::AuthData(data.into_static()),
                Err(_) => Incoming::AuthData(AuthenticateData::Cancel),
            },
            None => {
                // `$` (SEARCHRES) is written out as the saved set before anything reads the command.
                let substituted = self.selected.as_ref().and_then(|sel| {
                    searchres::substitute(fr.message_bytes(), |uids| {
                        if uids {
                            sequence::compact(&sel.saved)
                        } else {
                            let numbers: Vec<u32> = sel.messages.iter().enumerate().filter(|(_, m)| sel.saved.binary_search(&m.uid).is_ok()).map(|(i, _)| i as u32 + 1).collect();
                            sequence::compact(&numbers)
                        }
                    })
                });
                let substituted = match substituted {
                    Some(Err(why)) => return Incoming::BadText(tag(), why),
                    Some(Ok(bytes)) => Some(bytes),
                    None => None,
                };
                let bytes = substituted.as_deref().unwrap_or(fr.message_bytes());
                // The forms imap-codec does not read, chosen by the verb (read once, from the first line).
                match verb_of(bytes).as_deref() {
                    Some("CANCELUPDATE") => {
                        if let Some((tag, tags)) = esearch::cancel_update(bytes) {
                            return Incoming::CancelUpdate(tag, tags);
                        }
                    }
                    Some("NOTIFY") => {
                        if let Some((tag, command)) = notify::parse(bytes) {
                            return Incoming::Notify(tag, command);
                        }
                    }
                    Some("GENURLAUTH" | "RESETKEY" | "URLFETCH") => {
                        if let Some((tag, command)) = urlauth::parse(bytes) {
                            return match command {
                                Ok(command) => Incoming::Url(tag, command),
                                Err(why) => Incoming::BadText(Some(tag), why),
                            };
                        }
                    }
                    Some("APPEND") => {
                        if let Some(incoming) = self.append_form(bytes, &tag) {
                            return incoming;
                        }
                    }
                    Some("LIST") => {
                        if let Some((tag, request)) = list::parse(bytes) {
                            return match request {
                                Ok(request) => Incoming::List(tag, request),
                                Err(why) => Incoming::BadText(Some(tag), why.to_string()),
                            };
                        }
                    }
                    _ => {}
                }
                match esearch::strip_return(bytes) {
                    Some(Ok((command, options))) => match CommandCodec::default().decode(&command) {
                        Ok((b"", parsed)) => Incoming::ESearch(parsed.into_static(), options),
                        _ => Incoming::Bad(tag(), "command not understood"),
                    },
                    Some(Err(why)) => Incoming::BadText(tag(), why),
                    None if substituted.is_some() => match CommandCodec::default().decode(bytes) {
                        Ok((b"", parsed)) => Incoming::Command(parsed.into_static()),
                        _ => Incoming::Bad(tag(), "command not understood"),
                    },
                    None => match fr.decode_message(&CommandCodec::default()) {
                        Ok(command) => Incoming::Command(command.into_static()),
                        Err(DecodeMessageError::MessageTooLong { .. }) | Err(DecodeMessageError::MessagePoisoned { .. }) => {
                            Incoming::Bad(tag(), "[TOOBIG] command too long")
                        }
                        Err(_) => Incoming::Bad(tag(), "command not understood"),
                    },
                }
            }
        }
    }

    /// MULTIAPPEND and CATENATE, cut into what imap-codec reads; `None` for a plain APPEND.
    fn append_form(&self, bytes: &[u8], tag: &dyn Fn() -> Option<String>) -> Option<Incoming> {
        if let Some(cat) = append_forms::catenate(bytes) {
            let (head, parts) = match cat {
                Ok(x) => x,
                Err(why) => return Some(Incoming::BadText(tag(), why)),
            };
            return Some(match CommandCodec::default().decode(&head) {
                Ok((b"", Command { tag: t, body: CommandBody::Append { mailbox, flags, date, .. } })) => {
                    let message = Appended::new(&flags, date.map(|d| d.as_ref().timestamp()), Vec::new());
                    Incoming::Catenate(t.inner().to_string(), mailbox.into_static(), message, parts)
                }
                _ => Incoming::Bad(tag(), "APPEND not understood"),
            });
        }
        let parts = match append_forms::split(bytes)? {
            Ok(parts) => parts,
            Err(why) => return Some(Incoming::BadText(tag(), why)),
        };
        let mut messages = Vec::with_capacity(parts.len());
        let mut target = None;
        for part in parts {
            match CommandCodec::default().decode(&part) {
                Ok((b"", Command { body: CommandBody::Append { mailbox, flags, date, message }, .. })) => {
                    let data = match message {
                        LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                        LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
                    };
                    messages.push(Appended::new(&flags, date.map(|d| d.as_ref().timestamp()), data));
                    target = Some(mailbox.into_static());
                }
                _ => return Some(Incoming::Bad(tag(), "APPEND not understood")),
            }
        }
        Some(match (tag(), target) {
            (Some(tag), Some(mailbox)) => Incoming::Append(tag, mailbox, messages),
            (tag, _) => Incoming::Bad(tag, "APPEND not understood"),
        })
    }
}

/// A command's verb in capitals, the one after UID for the UID forms.
fn verb_of(bytes: &[u8]) -> Option<String> {
    let (_, verb, args) = list::command_line(bytes)?;
    let verb = if verb.eq_ignore_ascii_case("UID") { args.split(' ').next()? } else { verb };
    Some(verb.to_ascii_uppercase())
}
