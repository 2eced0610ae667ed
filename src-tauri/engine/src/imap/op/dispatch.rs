//! The dispatch: each command to its handler, in the state it needs (logged in, a mailbox selected).

use imap_codec::imap_types::command::{CommandBody, FetchModifier, StoreModifier};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::IntoStatic;

use crate::imap::decode::Incoming;
use crate::imap::fetch::{self, Item};
use crate::mailbox;
use crate::net::Next;

use super::Appended;
use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn handle(&mut self, incoming: Incoming) -> std::io::Result<Next> {
        match incoming {
            Incoming::Bad(tag, why) => {
                let tag = tag.unwrap_or_else(|| "*".into());
                self.tagged(&tag, "BAD", why);
                Ok(Next::Continue)
            }
            Incoming::BadText(tag, why) => {
                let tag = tag.unwrap_or_else(|| "*".into());
                self.tagged(&tag, "BAD", &why);
                Ok(Next::Continue)
            }
            Incoming::List(tag, request) => {
                if self.user.is_none() {
                    self.tagged(&tag, "BAD", "log in first");
                } else {
                    self.list_folders(&tag, "LIST", request).await;
                }
                Ok(Next::Continue)
            }
            Incoming::IdleDone => {
                if let Some(Pending::Idle { tag }) = self.pending.take() {
                    self.refresh(true).await;
                    self.tagged(&tag, "OK", "IDLE terminated");
                }
                Ok(Next::Continue)
            }
            Incoming::AuthData(data) => self.authenticate_step(data).await,
            Incoming::Notify(tag, command) => {
                if self.user.is_none() {
                    self.tagged(&tag, "BAD", "log in first");
                } else {
                    self.notify(&tag, command).await;
                }
                Ok(Next::Continue)
            }
            Incoming::Url(tag, command) => {
                self.url_command(&tag, command).await;
                Ok(Next::Continue)
            }
            Incoming::Catenate(tag, mailbox, message, parts) => {
                self.catenate(&tag, &mailbox, message, parts).await;
                Ok(Next::Continue)
            }
            Incoming::CancelUpdate(tag, tags) => {
                match self.selected.as_mut() {
                    Some(sel) if self.user.is_some() => {
                        sel.contexts.retain(|c| !tags.contains(&c.tag));
                        self.tagged(&tag, "OK", "CANCELUPDATE completed");
                    }
                    _ => self.tagged(&tag, "BAD", "select a mailbox first"),
                }
                Ok(Next::Continue)
            }
            Incoming::Append(tag, mailbox, messages) => {
                if self.user.is_none() {
                    self.tagged(&tag, "BAD", "log in first");
                } else {
                    self.append(&tag, &mailbox, messages).await;
                }
                Ok(Next::Continue)
            }
            Incoming::ESearch(command, options) => {
                let tag = command.tag.inner().to_string();
                if self.user.is_none() || self.selected.is_none() {
                    self.tagged(&tag, "BAD", "select a mailbox first");
                } else {
                    match command.body {
                        CommandBody::Search { criteria, uid, .. } => self.search_or_sort(&tag, &SearchKey::And(criteria), None, uid, Some(options)).await,
                        CommandBody::Sort { sort_criteria, charset, search_criteria, uid } => {
                            if !matches!(charset.as_ref().to_ascii_uppercase().as_str(), "UTF-8" | "US-ASCII") {
                                self.tagged(&tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
                            } else {
                                self.search_or_sort(&tag, &SearchKey::And(search_criteria), Some(sort_criteria.into_inner()), uid, Some(options)).await;
                            }
                        }
                        _ => self.tagged(&tag, "BAD", "RETURN goes with SEARCH and SORT"),
                    }
                }
                Ok(Next::Continue)
            }
            Incoming::Command(command) => {
                let tag = command.tag.inner().to_string();
                let next = self.command(&tag, command.body).await?;
                Ok(next)
            }
        }
    }

    pub(in crate::imap) async fn command(&mut self, tag: &str, body: CommandBody<'static>) -> std::io::Result<Next> {
        // Commands that need a state the session is not in.
        let needs_auth = !matches!(
            body,
            CommandBody::Capability | CommandBody::Noop | CommandBody::Logout | CommandBody::StartTLS | CommandBody::Authenticate { .. } | CommandBody::Login { .. } | CommandBody::Id { .. }
        );
        if needs_auth && self.user.is_none() {
            self.tagged(tag, "BAD", "log in first");
            return Ok(Next::Continue);
        }
        let needs_selected = matches!(
            body,
            CommandBody::Close | CommandBody::Unselect | CommandBody::Expunge | CommandBody::ExpungeUid { .. } | CommandBody::Search { .. } | CommandBody::Sort { .. } | CommandBody::Thread { .. } | CommandBody::Fetch { .. } | CommandBody::Store { .. } | CommandBody::Copy { .. } | CommandBody::Move { .. } | CommandBody::Check
        );
        if needs_selected && self.selected.is_none() {
            self.tagged(tag, "BAD", "select a mailbox first");
            return Ok(Next::Continue);
        }
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.tagged(tag, "OK", "CAPABILITY completed");
            }
            CommandBody::Noop | CommandBody::Check => {
                self.refresh(true).await;
                self.tagged(tag, "OK", "NOOP completed");
            }
            CommandBody::Logout => {
                self.untagged("BYE logging out");
                self.tagged(tag, "OK", "LOGOUT completed");
                return Ok(Next::Close);
            }
            CommandBody::StartTLS => {
                if self.user.is_some() || !self.ctx.starttls || self.ctx.tls_active {
                    self.tagged(tag, "BAD", "STARTTLS is not available now");
                } else {
                    self.tagged(tag, "OK", "begin TLS negotiation now");
                    return Ok(Next::StartTls);
                }
            }
            CommandBody::Id { .. } => {
                self.untagged("ID (\"name\" \"Postroom\" \"vendor\" \"Postroom\")");
                self.tagged(tag, "OK", "ID completed");
            }
            CommandBody::Login { username, password } => {
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                return self.login(tag, &user, &password).await;
            }
            CommandBody::Authenticate { mechanism, initial_response } => {
                return self.authenticate(tag, mechanism.into_static(), initial_response.map(|r| r.declassify().to_vec())).await;
            }
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for c in capabilities.as_ref() {
                    let name = c.to_string().to_ascii_uppercase();
                    let newly = match name.as_str() {
                        "CONDSTORE" => !std::mem::replace(&mut self.condstore, true),
                        // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                        "QRESYNC" => {
                            self.condstore = true;
                            !std::mem::replace(&mut self.qresync, true)
                        }
                        "IMAP4REV2" => !std::mem::replace(&mut self.rev2, true),
                        // UTF8=ACCEPT is not advertised (APPEND's UTF8 form is not read), so it is not enabled:
                        // RFC 5161 enables only what the server announces. IMAP4rev2 brings UTF-8 names.
                        _ => false,
                    };
                    if newly {
                        enabled.push(if name == "IMAP4REV2" { "IMAP4rev2".to_string() } else { name });
                    }
                }
                self.untagged(&format!("ENABLED{}{}", if enabled.is_empty() { "" } else { " " }, enabled.join(" ")));
                self.tagged(tag, "OK", "ENABLE completed");
            }
            CommandBody::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.tagged(tag, "OK", "NAMESPACE completed");
            }
            CommandBody::Idle => {
                if !self.ctx.settings.imap.idle_enabled {
                    self.tagged(tag, "BAD", "IDLE is switched off on this server");
                } else {
                    self.talk.out.extend_from_slice(b"+ idling\r\n");
                    self.pending = Some(Pending::Idle { tag: tag.to_string() });
                    self.refresh(true).await;
                }
            }
            CommandBody::Select { mailbox, parameters } => self.select_with(tag, &mailbox, false, &parameters).await,
            CommandBody::Examine { mailbox, parameters } => self.select_with(tag, &mailbox, true, &parameters).await,
            CommandBody::Unselect => {
                self.selected = None;
                self.tagged(tag, "OK", "UNSELECT completed");
            }
            CommandBody::Close => {
                if self.selected.as_ref().is_some_and(|s| !s.read_only) {
                    self.expunge(None, false).await;
                }
                self.selected = None;
                self.tagged(tag, "OK", "CLOSE completed");
            }
            CommandBody::Create { mailbox } => {
                let path = self.path_of(&mailbox);
                self.folder_change(tag, "CREATE", move |c, u| mailbox::create_folder(c, u, &path).map(|r| r.map(|_| ()))).await;
            }
            CommandBody::Delete { mailbox } => {
                let path = self.path_of(&mailbox);
                if self.selected.as_ref().is_some_and(|s| s.folder.path == mailbox::canonical(&path)) {
                    self.selected = None;
                }
                self.folder_change(tag, "DELETE", move |c, u| mailbox::delete_folder(c, u, &path)).await;
            }
            CommandBody::Rename { from, to } => {
                let (from, to) = (self.path_of(&from), self.path_of(&to));
                self.folder_change(tag, "RENAME", move |c, u| mailbox::rename_folder(c, u, &from, &to)).await;
            }
            CommandBody::Subscribe { mailbox } => {
                let path = self.path_of(&mailbox);
                self.folder_change(tag, "SUBSCRIBE", move |c, u| mailbox::set_subscribed(c, u, &path, true)).await;
            }
            CommandBody::Unsubscribe { mailbox } => {
                let path = self.path_of(&mailbox);
                self.folder_change(tag, "UNSUBSCRIBE", move |c, u| mailbox::set_subscribed(c, u, &path, false)).await;
            }
            CommandBody::List { reference, mailbox_wildcard } => self.list(tag, &reference, &mailbox_wildcard, false).await,
            CommandBody::Lsub { reference, mailbox_wildcard } => self.list(tag, &reference, &mailbox_wildcard, true).await,
            CommandBody::Status { mailbox, item_names } => self.status(tag, &mailbox, &item_names).await,
            CommandBody::Append { mailbox, flags, date, message } => {
                let data = match message {
                    LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
                    LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
                };
                let date = date.map(|d| d.as_ref().timestamp());
                self.append(tag, &mailbox, vec![Appended::new(&flags, date, data)]).await;
            }
            CommandBody::Expunge => {
                self.expunge(None, true).await;
                let code = self.highestmodseq_code();
                self.tagged(tag, "OK", &format!("{code}EXPUNGE completed"));
            }
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(Some(&sequence_set), true).await;
                let code = self.highestmodseq_code();
                self.tagged(tag, "OK", &format!("{code}UID EXPUNGE completed"));
            }
            CommandBody::Search { charset, criteria, uid } => {
                let charset = charset.map(|c| c.as_ref().to_ascii_uppercase());
                if charset.as_deref().is_some_and(|c| c != "UTF-8" && c != "US-ASCII") {
                    self.tagged(tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
                } else {
                    let key = SearchKey::And(criteria);
                    self.search(tag, &key, uid).await;
                }
            }
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid, modifiers } => {
                let mut items = match fetch::items(&macro_or_item_names, uid) {
                    Ok(items) => items,
                    Err(why) => {
                        self.tagged(tag, "BAD", &why);
                        return Ok(Next::Continue);
                    }
                };
                let changed_since = modifiers.iter().find_map(|m| match m {
                    FetchModifier::ChangedSince(n) => Some(n.get()),
                    FetchModifier::Vanished => None,
                });
                // VANISHED: only in UID FETCH with CHANGEDSINCE, once QRESYNC is enabled (RFC 7162 §3.2.6).
                let vanished = modifiers.contains(&FetchModifier::Vanished);
                if vanished && !(self.qresync && uid && changed_since.is_some()) {
                    self.tagged(tag, "BAD", "VANISHED needs ENABLE QRESYNC, UID FETCH and CHANGEDSINCE");
                    return Ok(Next::Continue);
                }
                self.condstore |= changed_since.is_some() || items.contains(&Item::ModSeq);
                if self.condstore && !items.contains(&Item::ModSeq) && changed_since.is_some() {
                    items.push(Item::ModSeq);
                }
                let since = changed_since.map(|n| (n, vanished));
                self.fetch(tag, &sequence_set, uid, &items, since).await;
            }
            CommandBody::Store { sequence_set, kind, response, flags, uid, modifiers } => {
                let unchanged_since = modifiers.iter().map(|StoreModifier::UnchangedSince(n)| *n).next();
                self.condstore |= unchanged_since.is_some();
                self.store(tag, &sequence_set, uid, kind, response, &flags, unchanged_since).await
            }
            CommandBody::Sort { sort_criteria, charset, search_criteria, uid } => {
                let charset = charset.as_ref().to_ascii_uppercase();
                if charset != "UTF-8" && charset != "US-ASCII" {
                    self.tagged(tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
                } else {
                    let key = SearchKey::And(search_criteria);
                    self.sort(tag, sort_criteria.into_inner(), &key, uid).await;
                }
            }
            CommandBody::Thread { algorithm, charset, search_criteria, uid } => {
                let charset = charset.as_ref().to_ascii_uppercase();
                if charset != "UTF-8" && charset != "US-ASCII" {
                    self.tagged(tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
                } else {
                    self.thread(tag, algorithm, &SearchKey::And(search_criteria), uid).await;
                }
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                let (user, path) = (self.user_id(), self.path_of(&mailbox));
                match with_folder(self.ctx.shared.store.clone(), user, path, |_, _| Ok(())).await {
                    Ok(Some((_, f))) => {
                        let mut line = b"* QUOTAROOT ".to_vec();
                        line.extend_from_slice(&self.wire_name(&f.path));
                        line.extend_from_slice(b" \"\"\r\n");
                        self.talk.out.extend_from_slice(&line);
                        self.quota(tag, "GETQUOTAROOT").await;
                    }
                    Ok(None) => self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
                    Err(e) => self.store_failed(tag, e),
                }
            }
            CommandBody::GetQuota { root } => {
                if root.as_ref().is_empty() {
                    self.quota(tag, "GETQUOTA").await;
                } else {
                    self.tagged(tag, "NO", "[NONEXISTENT] the only quota root is \"\"");
                }
            }
            CommandBody::SetQuota { .. } => self.tagged(tag, "NO", "[CANNOT] quotas are read-only here"),
            CommandBody::Copy { sequence_set, mailbox, uid } => self.copy(tag, &sequence_set, uid, &mailbox, false).await,
            CommandBody::Move { sequence_set, mailbox, uid } => self.copy(tag, &sequence_set, uid, &mailbox, true).await,
            _ => self.tagged(tag, "BAD", "command not supported"),
        }
        Ok(Next::Continue)
    }
}
