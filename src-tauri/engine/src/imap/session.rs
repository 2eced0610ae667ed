//! One IMAP conversation: framing (imap-codec's Fragmentizer), the states (not authenticated,
//! authenticated, selected, idling), a handler per command, and the snapshot of the selected mailbox.

use std::time::Duration;

use imap_codec::fragmentizer::{DecodeMessageError, FragmentInfo, Fragmentizer};
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody, FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::imap_types::IntoStatic;
use imap_codec::decode::Decoder;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use tokio::io::AsyncReadExt;

use super::fetch::{self, Item};
use super::search;
use super::sequence::{self, highest_named, in_order};
use super::{esearch, list, utf7, Shared, UserSession};
use crate::access::login::LoginOutcome;
use crate::mailbox::meta::{self, Meta};
use crate::mailbox::{self, Flags, Folder, FolderError, MessageRow};
use crate::net::{BoxStream, Conversation, Next};
use crate::access::sasl as auth;
use crate::store::{blobs, now, StoreResult};

/// Longest command line, and all of a command apart from its accepted literals.
const MAX_LINE: usize = 64 * 1024;
/// Largest literal accepted before login (a user name or password).
const MAX_LITERAL_BEFORE_LOGIN: u32 = 1024;
/// All literals of one command together, before login (LOGIN's name and password, or AUTHENTICATE's).
const MAX_LITERALS_BEFORE_LOGIN: usize = 4096;
/// Time allowed from connecting to logging in, however the client trickles its bytes.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Errors tolerated before the client is dropped.
const MAX_ERRORS: u32 = 30;
/// The longest a SEARCH may take before it gives up with NO [LIMIT].
const SEARCH_LIMIT: Duration = Duration::from_secs(20);

const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE SASL-IR CONDSTORE SORT ESEARCH LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY QUOTA QUOTA=RES-STORAGE IMAP4rev2";

pub type SessionContext = crate::net::SessionContext<Shared>;

struct User {
    id: i64,
    _session: UserSession,
}

/// The selected mailbox as this session shows it.
struct Selected {
    folder: Folder,
    read_only: bool,
    /// In sequence-number order.
    messages: Vec<MessageRow>,
}

impl Selected {
    fn last_uid(&self) -> u32 {
        self.messages.last().map_or(0, |m| m.uid)
    }

    /// Indexes of the messages a set names (by sequence number or UID).
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, String> {
        let count = self.messages.len() as u32;
        if uid {
            let last = self.last_uid();
            return Ok(sequence::select(set, last, self.messages.iter().map(|m| m.uid)));
        }
        if highest_named(set) > count {
            return Err(format!("there are only {count} messages"));
        }
        Ok(sequence::select(set, count, 1..=count))
    }
}

/// A continuation the session waits for.
enum Pending {
    /// AUTHENTICATE: the tag, the mechanism, and the user name (LOGIN's second step).
    Authenticate { tag: String, mechanism: AuthMechanism<'static>, user: Option<String> },
    /// IDLE: the tag.
    Idle { tag: String },
}

struct Session {
    ctx: SessionContext,
    talk: Conversation,
    user: Option<User>,
    selected: Option<Selected>,
    pending: Option<Pending>,
    changes: tokio::sync::watch::Receiver<u64>,
    /// The client uses CONDSTORE (RFC 7162): FETCH answers carry MODSEQ.
    condstore: bool,
    /// The client enabled IMAP4rev2 (RFC 9051): UTF-8 folder names, ESEARCH answers, no RECENT.
    rev2: bool,
    /// The client enabled UTF8=ACCEPT (RFC 6855): folder names in UTF-8.
    utf8: bool,
}

pub async fn run(ctx: SessionContext, stream: BoxStream) -> std::io::Result<()> {
    let changes = ctx.shared.store.changes();
    let talk = Conversation::new(stream, ctx.transcript, MAX_ERRORS, Some(LOGIN_TIMEOUT));
    let mut s = Session {
        ctx,
        talk,
        user: None,
        selected: None,
        pending: None,
        changes,
        condstore: false,
        rev2: false,
        utf8: false,
    };
    let caps = s.capabilities();
    s.untagged(&format!("OK [CAPABILITY {caps}] {} Postroom IMAP4 ready", s.ctx.settings.general.server_name));
    s.serve().await
}

/// The message a command came in, owned.
enum Incoming {
    Command(Command<'static>),
    /// A LIST in extended form (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE selection).
    List(String, list::ListRequest),
    /// Not understood, with a reason of our own.
    BadText(Option<String>, String),
    /// A SEARCH with a RETURN clause (ESEARCH): the search, and what to return.
    ESearch(Command<'static>, esearch::ReturnOptions),
    AuthData(AuthenticateData<'static>),
    IdleDone,
    /// Not understood; the tag if one could be read.
    Bad(Option<String>, &'static str),
}

impl Session {
    // ----- output -----

    fn untagged(&mut self, text: &str) {
        self.talk.out.extend_from_slice(b"* ");
        self.talk.out.extend_from_slice(text.as_bytes());
        self.talk.out.extend_from_slice(b"\r\n");
    }

    fn tagged(&mut self, tag: &str, status: &str, text: &str) {
        if status != "OK" {
            self.talk.error();
        }
        self.talk.out.extend_from_slice(format!("{tag} {status} {text}\r\n").as_bytes());
    }

    fn capabilities(&self) -> String {
        let mut caps = CAPABILITIES.to_string();
        if !self.ctx.settings.imap.idle_enabled {
            caps = caps.replace(" IDLE", "");
        }
        if self.user.is_none() {
            if self.ctx.starttls && !self.ctx.tls_active {
                caps.push_str(" STARTTLS");
            }
            if self.plaintext_allowed() {
                caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                caps.push_str(" LOGINDISABLED");
            }
        }
        caps
    }

    fn plaintext_allowed(&self) -> bool {
        self.ctx.password_in_clear_allowed(self.ctx.settings.imap.allow_plaintext_login)
    }

    /// Folder names travel in UTF-8 once the client enabled IMAP4rev2 or UTF8=ACCEPT, else in modified UTF-7.
    fn utf8_names(&self) -> bool {
        self.rev2 || self.utf8
    }

    /// A folder name as sent to this client.
    fn wire_name(&self, path: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.utf8_names() {
            meta::string(&mut out, path.as_bytes());
        } else {
            meta::string(&mut out, utf7::encode(path).as_bytes());
        }
        out
    }

    // ----- the loop -----

    async fn serve(&mut self) -> std::io::Result<()> {
        let mut fr = self.framer();
        let mut allowed = MAX_LINE;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // Work through every complete message already received.
            while let Some(info) = fr.progress() {
                if let FragmentInfo::Line { announcement: Some(a), .. } = info {
                    let limit = if self.user.is_some() { self.ctx.settings.smtp.max_message_size.min(u64::from(u32::MAX)) as u32 } else { MAX_LITERAL_BEFORE_LOGIN };
                    // Before login the literals of one command count together, not only each.
                    let total_too_big = self.user.is_none() && (allowed - MAX_LINE).saturating_add(a.length as usize) > MAX_LITERALS_BEFORE_LOGIN;
                    if a.length > limit || total_too_big {
                        let tag = fr.decode_tag().map(|t| t.inner().to_string()).unwrap_or_else(|| "*".into());
                        match a.mode {
                            LiteralMode::Sync => {
                                // Refused before the client sends it.
                                self.tagged(&tag, "NO", &format!("[TOOBIG] literal too big (the limit is {limit} bytes)"));
                                fr.skip_message();
                            }
                            LiteralMode::NonSync => fr.poison_message(),
                        }
                        if self.user.is_none() {
                            self.untagged("BYE too much data before login");
                            return self.talk.close().await;
                        }
                        continue;
                    }
                    allowed = allowed.saturating_add(a.length as usize);
                    if a.mode == LiteralMode::Sync {
                        self.talk.out.extend_from_slice(b"+ Ready for literal data\r\n");
                        self.talk.flush().await?;
                    }
                }
                if !fr.is_message_complete() {
                    continue;
                }
                allowed = MAX_LINE;
                if matches!(self.pending, Some(Pending::Authenticate { .. })) {
                    self.talk.transcript().received_secret();
                } else {
                    self.talk.transcript().received_imap(fr.message_bytes());
                }
                let incoming = self.decode(&fr);
                fr.skip_message();
                let next = self.handle(incoming).await?;
                self.talk.flush_if_over_bound().await?;
                if self.talk.too_many_errors() {
                    self.untagged("BYE too many errors");
                    return self.talk.close().await;
                }
                match next {
                    Next::Continue => {}
                    Next::Close => return self.talk.close().await,
                    Next::StartTls => {
                        // A new framer: whatever was pipelined after STARTTLS is gone with the old one.
                        self.talk.start_tls(&self.ctx.tls).await?;
                        self.ctx.tls_active = true;
                        // The same limits as before TLS: APPEND of a large message must still work after STARTTLS.
                        fr = self.framer();
                    }
                }
            }
            if fr.message_bytes().len() > allowed {
                self.untagged("BYE command line too long");
                return self.talk.close().await;
            }
            self.talk.flush().await?;
            // Before login the deadline is absolute (from the connect); after it, the idle time restarts with each read.
            let deadline = self.talk.deadline(Duration::from_secs(u64::from(self.ctx.settings.imap.idle_timeout_secs)));
            let idling = matches!(self.pending, Some(Pending::Idle { .. }));
            let n = tokio::select! {
                _ = self.ctx.shutdown.cancelled() => {
                    self.untagged(if self.ctx.server_stopping() { "BYE Postroom is shutting down" } else { "BYE your account was changed (disabled, deleted or a new password); log in again" });
                    return self.talk.close().await;
                }
                changed = self.changes.changed(), if idling => {
                    if changed.is_ok() {
                        self.refresh(true).await;
                    }
                    continue;
                }
                r = tokio::time::timeout_at(deadline, self.talk.reader().read(&mut buf)) => match r {
                    Err(_) => {
                        self.untagged(if self.talk.logging_in() { "BYE log in within a minute of connecting" } else { "BYE idle for too long" });
                        return self.talk.close().await;
                    }
                    Ok(r) => r?,
                },
            };
            if n == 0 {
                return Ok(());
            }
            fr.enqueue_bytes(&buf[..n]);
        }
    }

    /// The command framer: a message (command line plus literals) may be as large as a mail message.
    fn framer(&self) -> Fragmentizer {
        Fragmentizer::new(self.ctx.settings.smtp.max_message_size.min(u64::from(u32::MAX - 70_000)) as u32 + 65_536)
    }

    fn decode(&self, fr: &Fragmentizer) -> Incoming {
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
                // The extended LIST and SEARCH RETURN forms imap-codec does not know are read first.
                if let Some((tag, request)) = list::parse(fr.message_bytes()) {
                    return match request {
                        Ok(request) => Incoming::List(tag, request),
                        Err(why) => Incoming::BadText(Some(tag), why.to_string()),
                    };
                }
                match esearch::strip_return(fr.message_bytes()) {
                    Some(Ok((command, options))) => match CommandCodec::default().decode(&command) {
                        Ok((b"", parsed)) => Incoming::ESearch(parsed.into_static(), options),
                        _ => Incoming::Bad(tag(), "command not understood"),
                    },
                    Some(Err(_)) => Incoming::Bad(tag(), "unsupported RETURN option (MIN, MAX, COUNT and ALL are supported)"),
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

    async fn handle(&mut self, incoming: Incoming) -> std::io::Result<Next> {
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
            Incoming::ESearch(command, options) => {
                let tag = command.tag.inner().to_string();
                if self.user.is_none() || self.selected.is_none() {
                    self.tagged(&tag, "BAD", "select a mailbox first");
                } else if let CommandBody::Search { criteria, uid, .. } = command.body {
                    self.search_or_sort(&tag, &SearchKey::And(criteria), None, uid, Some(options)).await;
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

    async fn command(&mut self, tag: &str, body: CommandBody<'static>) -> std::io::Result<Next> {
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
            CommandBody::Close | CommandBody::Unselect | CommandBody::Expunge | CommandBody::ExpungeUid { .. } | CommandBody::Search { .. } | CommandBody::Fetch { .. } | CommandBody::Store { .. } | CommandBody::Copy { .. } | CommandBody::Move { .. } | CommandBody::Check
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
                        "IMAP4REV2" => !std::mem::replace(&mut self.rev2, true),
                        "UTF8=ACCEPT" => !std::mem::replace(&mut self.utf8, true),
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
            CommandBody::Select { mailbox, parameters } => {
                self.condstore |= parameters.contains(&SelectParameter::CondStore);
                self.select(tag, &mailbox, false).await
            }
            CommandBody::Examine { mailbox, parameters } => {
                self.condstore |= parameters.contains(&SelectParameter::CondStore);
                self.select(tag, &mailbox, true).await
            }
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
                self.append(tag, &mailbox, &flags, date, data).await;
            }
            CommandBody::Expunge => {
                self.expunge(None, true).await;
                self.tagged(tag, "OK", "EXPUNGE completed");
            }
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(Some(&sequence_set), true).await;
                self.tagged(tag, "OK", "UID EXPUNGE completed");
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
                self.condstore |= changed_since.is_some() || items.contains(&Item::ModSeq);
                if self.condstore && !items.contains(&Item::ModSeq) && changed_since.is_some() {
                    items.push(Item::ModSeq);
                }
                self.fetch(tag, &sequence_set, uid, &items, changed_since).await;
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

    // ----- logging in -----

    /// Answers a LOGIN or AUTHENTICATE that cannot go ahead (already logged in, or no TLS); true if it did.
    fn refuse_login(&mut self, tag: &str) -> bool {
        if self.user.is_some() {
            self.tagged(tag, "BAD", "already logged in");
        } else if !self.plaintext_allowed() {
            self.tagged(tag, "NO", "[PRIVACYREQUIRED] logging in without encryption is not allowed here: use STARTTLS, or port 993");
        } else {
            return false;
        }
        true
    }

    async fn login(&mut self, tag: &str, user: &str, password: &str) -> std::io::Result<Next> {
        if self.refuse_login(tag) {
            return Ok(Next::Continue);
        }
        let shared = self.ctx.shared.clone();
        match self.ctx.check_login(&mut self.talk, "IMAP4", user, password).await {
            LoginOutcome::Accepted(verified) => {
                let Some(session) = UserSession::take(&shared, verified.id, self.ctx.settings.imap.max_connections_per_user) else {
                    self.tagged(tag, "NO", "[LIMIT] too many IMAP sessions for this user");
                    return Ok(Next::Continue);
                };
                self.ctx.admit(&mut self.talk, &verified).await;
                self.user = Some(User { id: verified.id, _session: session });
                let caps = self.capabilities();
                self.tagged(tag, "OK", &format!("[CAPABILITY {caps}] logged in"));
                Ok(Next::Continue)
            }
            LoginOutcome::NowBanned => {
                self.untagged("BYE too many failed logins from your address; try later");
                self.tagged(tag, "NO", "[AUTHENTICATIONFAILED] too many failed logins");
                Ok(Next::Close)
            }
            LoginOutcome::Refused => {
                self.tagged(tag, "NO", "[AUTHENTICATIONFAILED] wrong user name or password");
                Ok(if self.talk.too_many_login_failures() { Next::Close } else { Next::Continue })
            }
        }
    }

    async fn authenticate(&mut self, tag: &str, mechanism: AuthMechanism<'static>, initial: Option<Vec<u8>>) -> std::io::Result<Next> {
        if self.refuse_login(tag) {
            return Ok(Next::Continue);
        }
        match (&mechanism, initial) {
            (AuthMechanism::Plain, Some(data)) => self.finish_plain(tag, &data).await,
            (AuthMechanism::Plain, None) => {
                self.talk.out.extend_from_slice(b"+ \r\n");
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: None });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, Some(user)) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Password:")).as_bytes());
                let user = String::from_utf8_lossy(&user).into_owned();
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: Some(user) });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, None) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Username:")).as_bytes());
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: None });
                Ok(Next::Continue)
            }
            _ => {
                self.tagged(tag, "NO", "unsupported mechanism (use PLAIN or LOGIN)");
                Ok(Next::Continue)
            }
        }
    }

    async fn authenticate_step(&mut self, data: AuthenticateData<'static>) -> std::io::Result<Next> {
        let Some(Pending::Authenticate { tag, mechanism, user }) = self.pending.take() else { return Ok(Next::Continue) };
        let AuthenticateData::Continue(data) = data else {
            self.tagged(&tag, "BAD", "authentication cancelled");
            return Ok(Next::Continue);
        };
        let data = data.declassify().to_vec();
        match (mechanism, user) {
            (AuthMechanism::Plain, _) => self.finish_plain(&tag, &data).await,
            (AuthMechanism::Login, None) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Password:")).as_bytes());
                let user = String::from_utf8_lossy(&data).into_owned();
                self.pending = Some(Pending::Authenticate { tag, mechanism: AuthMechanism::Login, user: Some(user) });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, Some(user)) => {
                let password = String::from_utf8_lossy(&data).into_owned();
                self.login(&tag, &user, &password).await
            }
            _ => Ok(Next::Continue),
        }
    }

    async fn finish_plain(&mut self, tag: &str, data: &[u8]) -> std::io::Result<Next> {
        // imap-codec has already undone the base64.
        match auth::split_plain(data) {
            Some((user, password)) => self.login(tag, &user, &password).await,
            None => {
                self.tagged(tag, "BAD", "cannot decode the credentials");
                Ok(Next::Continue)
            }
        }
    }

    // ----- folders -----

    fn user_id(&self) -> i64 {
        self.user.as_ref().map_or(0, |u| u.id)
    }

    fn path_of(&self, mailbox: &Mailbox) -> String {
        match mailbox {
            Mailbox::Inbox => "INBOX".into(),
            Mailbox::Other(other) => {
                let raw = String::from_utf8_lossy(other.inner().as_ref()).into_owned();
                if self.utf8_names() {
                    raw
                } else {
                    utf7::decode(&raw).unwrap_or(raw)
                }
            }
        }
    }


    fn store_failed(&mut self, tag: &str, e: impl std::fmt::Display) {
        tracing::error!(target: "imap", error = %e, "store error");
        self.tagged(tag, "NO", "[SERVERBUG] the mail store failed; try again");
    }

    async fn folder_change<F>(&mut self, tag: &str, verb: &str, f: F)
    where
        F: FnOnce(&rusqlite::Connection, i64) -> StoreResult<Result<(), FolderError>> + Send + 'static,
    {
        let user = self.user_id();
        match self.ctx.shared.store.write_async(move |c| f(c, user)).await {
            Ok(Ok(())) => self.tagged(tag, "OK", &format!("{verb} completed")),
            Ok(Err(FolderError::AlreadyExists)) => self.tagged(tag, "NO", "[ALREADYEXISTS] a folder with that name exists"),
            Ok(Err(FolderError::NotFound)) => self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Ok(Err(FolderError::NotAllowed(why))) => self.tagged(tag, "NO", &format!("[CANNOT] {why}")),
            Err(e) => self.store_failed(tag, e),
        }
    }

    async fn list(&mut self, tag: &str, reference: &Mailbox<'_>, pattern: &ListMailbox<'_>, subscribed_only: bool) {
        let reference = match reference {
            Mailbox::Inbox => "INBOX".to_string(),
            Mailbox::Other(o) => String::from_utf8_lossy(o.inner().as_ref()).into_owned(),
        };
        let pattern = match pattern {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let request = list::ListRequest { reference, patterns: vec![pattern], subscribed: subscribed_only, ..Default::default() };
        self.list_folders(tag, if subscribed_only { "LSUB" } else { "LIST" }, request).await;
    }

    /// LIST and LSUB, basic and extended.
    async fn list_folders(&mut self, tag: &str, verb: &str, r: list::ListRequest) {
        if let Err(why) = list::check_patterns(&r.patterns) {
            return self.tagged(tag, "BAD", &why.to_string());
        }
        if r.patterns.len() == 1 && r.patterns[0].is_empty() {
            self.untagged(&format!("{verb} (\\Noselect) \"/\" \"\""));
            self.tagged(tag, "OK", &format!("{verb} completed"));
            return;
        }
        let utf8 = self.utf8_names();
        let patterns: Vec<String> = r
            .patterns
            .iter()
            .map(|p| {
                let full = format!("{}{p}", r.reference);
                if utf8 {
                    full
                } else {
                    utf7::decode(&full).unwrap_or_default()
                }
            })
            .collect();
        let user = self.user_id();
        let want_status = !r.status.is_empty();
        let listed = self.ctx.shared.store.read_async(move |c| {
            let folders = mailbox::folders(c, user)?;
            let mut statuses = Vec::new();
            if want_status {
                for f in &folders {
                    statuses.push(mailbox::status(c, f.id)?);
                }
            }
            Ok((folders, statuses))
        })
        .await;
        let (folders, statuses) = match listed {
            Ok(x) => x,
            Err(e) => return self.store_failed(tag, e),
        };
        let extended = verb == "LIST";
        // Which folders have children, and subscribed ones, in one pass over every folder's parents.
        let mut parents: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
        for o in &folders {
            let mut path = o.path.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                *parents.entry(parent).or_insert(false) |= o.subscribed;
                path = parent;
            }
        }
        for (k, f) in folders.iter().enumerate() {
            if !patterns.iter().any(|p| wildcard_match(p, &f.path)) {
                continue;
            }
            let children = parents.contains_key(f.path.as_str());
            let subscribed_child = parents.get(f.path.as_str()).copied().unwrap_or(false);
            if r.special_use && f.special_use.is_none() {
                continue;
            }
            // SUBSCRIBED selection: the subscribed folders, and with RECURSIVEMATCH their parents (CHILDINFO).
            let childinfo = r.subscribed && r.recursive_match && !f.subscribed && subscribed_child;
            if r.subscribed && !f.subscribed && !childinfo {
                continue;
            }
            let mut attrs = vec![if children { "\\HasChildren" } else { "\\HasNoChildren" }.to_string()];
            if extended && f.subscribed && (r.subscribed || r.return_subscribed) {
                attrs.push("\\Subscribed".into());
            }
            if let Some(special) = &f.special_use {
                attrs.push(special.clone());
            }
            let mut line = format!("* {verb} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            line.extend_from_slice(&self.wire_name(&f.path));
            if childinfo {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            self.talk.out.extend_from_slice(&line);
            if let Some(st) = statuses.get(k) {
                let items: Vec<String> = r.status.iter().filter_map(|item| status_item(item, st, f)).collect();
                let mut line = b"* STATUS ".to_vec();
                line.extend_from_slice(&self.wire_name(&f.path));
                line.extend_from_slice(format!(" ({})\r\n", items.join(" ")).as_bytes());
                self.talk.out.extend_from_slice(&line);
            }
        }
        self.tagged(tag, "OK", &format!("{verb} completed"));
    }

    async fn status(&mut self, tag: &str, mailbox: &Mailbox<'_>, items: &[StatusDataItemName]) {
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let found = with_folder(self.ctx.shared.store.clone(), user, path, |c, f| mailbox::status(c, f.id)).await;
        let (st, f) = match found {
            Ok(Some(x)) => x,
            Ok(None) => return self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Err(e) => return self.store_failed(tag, e),
        };
        let parts: Vec<String> = items
            .iter()
            .filter_map(|i| {
                let name = match i {
                    StatusDataItemName::Messages => "MESSAGES",
                    StatusDataItemName::Recent => "RECENT",
                    StatusDataItemName::UidNext => "UIDNEXT",
                    StatusDataItemName::UidValidity => "UIDVALIDITY",
                    StatusDataItemName::Unseen => "UNSEEN",
                    StatusDataItemName::Deleted => "DELETED",
                    StatusDataItemName::Size => "SIZE",
                    StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
                    _ => return None,
                };
                status_item(name, &st, &f)
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        line.extend_from_slice(&self.wire_name(&f.path));
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.talk.out.extend_from_slice(&line);
        self.tagged(tag, "OK", "STATUS completed");
    }

    async fn select(&mut self, tag: &str, mailbox: &Mailbox<'_>, read_only: bool) {
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

    // ----- keeping the snapshot in step -----

    /// Looks for changes to the selected folder and tells the client. `expunges`: EXPUNGE may be sent now.
    async fn refresh(&mut self, expunges: bool) {
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

    // ----- messages -----

    async fn append(&mut self, tag: &str, mailbox: &Mailbox<'_>, flags: &[Flag<'_>], date: Option<i64>, data: Vec<u8>) {
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

    async fn fetch(&mut self, tag: &str, set: &SequenceSet, uid: bool, items: &[Item], changed_since: Option<u64>) {
        let Some(sel) = &self.selected else { return };
        let picked = match sel.resolve(set, uid) {
            Ok(p) => p,
            Err(e) => return self.tagged(tag, "BAD", &e),
        };
        let picked: Vec<usize> = picked.into_iter().filter(|&i| changed_since.is_none_or(|n| sel.messages[i].modseq as u64 > n)).collect();
        let (needs_meta, needs_text, sets_seen) = fetch::needs(items);
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
            let loaded = store
                .read_async(move |c| {
                    let stored = if needs_meta { stored_meta(c, blob_id)? } else { None };
                    let raw = if needs_text || (needs_meta && stored.is_none()) { Some(blobs::read(c, &dir, blob_id)?) } else { None };
                    let meta = if needs_meta { fetch::meta_or_compute(stored, || raw.clone()) } else { None };
                    Ok((meta, raw))
                })
                .await;
            let Ok((meta, raw)) = loaded else {
                tracing::error!(target: "imap", uid = row.uid, "cannot read a message");
                continue;
            };
            self.talk.out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
            // Sent as it is written: at most one item of one message waits in memory.
            let mut writer = fetch::MessageWriter::new(&row, meta.as_ref(), raw.as_deref());
            for (i, item) in items.iter().enumerate() {
                writer.item(&mut self.talk.out, i, item);
                if let Err(e) = self.talk.flush_if_over_bound().await {
                    tracing::debug!(target: "imap", error = %e, "client went away during FETCH");
                    return;
                }
            }
            self.talk.out.extend_from_slice(b")\r\n");
        }
        self.refresh(false).await;
        self.tagged(tag, "OK", "FETCH completed");
    }

    #[allow(clippy::too_many_arguments)]
    async fn store(&mut self, tag: &str, set: &SequenceSet, uid: bool, kind: StoreType, response: StoreResponse, flags: &[Flag<'_>], unchanged_since: Option<u64>) {
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
        for (i, _, new, kw) in changes {
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
                fetch::write_flags(&mut out, m.flags, &m.keywords);
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

    /// The user's one quota root "": the storage the mailbox uses, against what it could use — that plus
    /// the space left on the disk of the data folder (Postroom sets no per-user limit).
    async fn quota(&mut self, tag: &str, verb: &str) {
        let user = self.user_id();
        let used = self.ctx.shared.store.read_async(move |c| {
            Ok(c.query_row("SELECT coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = ?1", [user], |r| r.get::<_, i64>(0))?)
        })
        .await;
        let used = match used {
            Ok(u) => (u as u64).div_ceil(1024),
            Err(e) => return self.store_failed(tag, e),
        };
        let folder = self.ctx.shared.store.path().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        let free = crate::paths::free_space(&folder).unwrap_or(0) / 1024;
        self.untagged(&format!("QUOTA \"\" (STORAGE {used} {})", used + free));
        self.tagged(tag, "OK", &format!("{verb} completed"));
    }

    async fn copy(&mut self, tag: &str, set: &SequenceSet, uid: bool, mailbox: &Mailbox<'_>, moving: bool) {
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
                    mailbox::expunge(c, source, &ids)?;
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
            if let Some(sel) = self.selected.as_mut() {
                let mut lines = Vec::new();
                for &i in gone.iter().rev() {
                    lines.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                    sel.messages.remove(i);
                }
                self.talk.out.extend_from_slice(&lines);
            }
            self.refresh(true).await;
            self.tagged(tag, "OK", &format!("{verb} completed"));
        } else {
            self.refresh(false).await;
            self.tagged(tag, "OK", &format!("{code}{verb} completed"));
        }
    }

    /// Removes messages flagged \Deleted (only those in `only`, for UID EXPUNGE); `answer` sends EXPUNGE lines.
    async fn expunge(&mut self, only: Option<&SequenceSet>, answer: bool) {
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
            if let Err(e) = self.ctx.shared.store.write_async(move |c| mailbox::expunge(c, folder_id, &ids)).await {
                tracing::error!(target: "imap", error = %e, "EXPUNGE failed");
                return;
            }
        }
        if let Some(sel) = self.selected.as_mut() {
            let mut lines = Vec::new();
            for &i in gone.iter().rev() {
                lines.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
            }
            let mut k = 0;
            let mut next_gone = gone.iter().peekable();
            sel.messages.retain(|_| {
                let keep = next_gone.peek() != Some(&&k);
                if !keep {
                    next_gone.next();
                }
                k += 1;
                keep
            });
            if answer {
                self.talk.out.extend_from_slice(&lines);
            }
        }
        if answer {
            self.refresh(true).await;
        }
    }

    async fn search(&mut self, tag: &str, key: &SearchKey<'static>, uid: bool) {
        self.search_or_sort(tag, key, None, uid, None).await;
    }

    async fn sort(&mut self, tag: &str, criteria: Vec<SortCriterion>, key: &SearchKey<'static>, uid: bool) {
        self.search_or_sort(tag, key, Some(criteria), uid, None).await;
    }

    /// SEARCH, or SORT when `sort` is given; answers with message numbers, or UIDs for the UID forms.
    async fn search_or_sort(&mut self, tag: &str, key: &SearchKey<'static>, sort: Option<Vec<SortCriterion>>, uid: bool, esearch: Option<esearch::ReturnOptions>) {
        let Some(sel) = &self.selected else { return };
        let rows = sel.messages.clone();
        let store = self.ctx.shared.store.clone();
        let key = key.clone();
        let verb = if sort.is_some() { "SORT" } else { "SEARCH" };
        let found = tokio::task::spawn_blocking(move || {
            let hits = search::run(&store, &rows, &key, sort.as_deref(), SEARCH_LIMIT)?;
            Ok::<_, search::TooSlow>(hits.into_iter().map(|i| if uid { rows[i].uid } else { i as u32 + 1 }).collect::<Vec<u32>>())
        })
        .await;
        match found {
            Ok(Ok(hits)) => {
                let esearch = esearch.or((self.rev2 && verb == "SEARCH").then(esearch::ReturnOptions::all));
                match esearch {
                    Some(options) => self.untagged(&esearch::answer(tag, uid, options, &hits)),
                    None => {
                        let list: Vec<String> = hits.iter().map(|n| n.to_string()).collect();
                        self.untagged(&format!("{verb}{}{}", if list.is_empty() { "" } else { " " }, list.join(" ")));
                    }
                }
                self.refresh(false).await;
                self.tagged(tag, "OK", &format!("{verb} completed"));
            }
            Ok(Err(search::TooSlow)) => self.tagged(tag, "NO", "[LIMIT] the search took too long; narrow it down"),
            Err(e) => self.store_failed(tag, e),
        }
    }
}

/// One STATUS item ("MESSAGES 4"), or `None` for one Postroom does not know.
fn status_item(name: &str, st: &mailbox::FolderStatus, f: &Folder) -> Option<String> {
    let value = match name {
        "MESSAGES" => st.messages,
        "RECENT" => 0,
        "UIDNEXT" => f.uidnext,
        "UIDVALIDITY" => f.uidvalidity,
        "UNSEEN" => st.unseen,
        "DELETED" => st.deleted,
        "SIZE" => st.size,
        "HIGHESTMODSEQ" => f.highestmodseq,
        _ => return None,
    };
    Some(format!("{name} {value}"))
}

/// Looks up the user's folder at `path` and reads something of it; `None` when there is no such folder.
async fn with_folder<T: Send + 'static>(
    store: crate::store::Store,
    user: i64,
    path: String,
    f: impl FnOnce(&rusqlite::Connection, &Folder) -> StoreResult<T> + Send + 'static,
) -> StoreResult<Option<(T, Folder)>> {
    store.read_async(move |c| match mailbox::folder(c, user, &path)? {
        Some(folder) => Ok(Some((f(c, &folder)?, folder))),
        None => Ok(None),
    })
    .await
}

fn stored_meta(c: &rusqlite::Connection, blob_id: i64) -> StoreResult<Option<Meta>> {
    use rusqlite::OptionalExtension;
    let row: Option<(Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>)> =
        c.query_row("SELECT envelope, bodystructure, body FROM blobs WHERE id = ?1", [blob_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    Ok(match row {
        Some((Some(envelope), Some(bodystructure), Some(body))) => Some(Meta { envelope, bodystructure, body }),
        _ => None,
    })
}

/// System flags as bits, and keywords as a space-separated list.
fn flag_bits(flags: &[Flag<'_>]) -> (Flags, String) {
    let mut bits = 0;
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => bits |= Flags::SEEN,
            Flag::Answered => bits |= Flags::ANSWERED,
            Flag::Flagged => bits |= Flags::FLAGGED,
            Flag::Deleted => bits |= Flags::DELETED,
            Flag::Draft => bits |= Flags::DRAFT,
            Flag::Keyword(k) => keywords.push(k.as_ref().to_string()),
            Flag::Extension(_) => {}
        }
    }
    keywords.dedup();
    (Flags(bits), keywords.join(" "))
}

/// LIST wildcards: "*" matches anything, "%" anything but the hierarchy delimiter "/". INBOX matches
/// in any letter case.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern = match pattern.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => format!("INBOX{}", &pattern[5..]),
        _ => pattern.to_string(),
    };
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // matched[j]: the pattern so far matches the first j characters of the name. One pass per
    // pattern character keeps it O(pattern × name) however many wildcards a client sends.
    let mut matched = vec![false; n.len() + 1];
    matched[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        match c {
            '*' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=n.len() {
                    if j > 0 && n[j - 1] == '/' {
                        any = false;
                    }
                    any |= matched[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=n.len() {
                    next[j] = matched[j - 1] && n[j - 1] == c;
                }
            }
        }
        matched = next;
    }
    matched[n.len()]
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn list_wildcards_follow_rfc_3501() {
        assert!(wildcard_match("*", "Work/Projects/2026"));
        assert!(wildcard_match("%", "Sent") && !wildcard_match("%", "Work/Projects"));
        assert!(wildcard_match("Work/%", "Work/Projects") && !wildcard_match("Work/%", "Work/Projects/2026"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(!wildcard_match("Sent", "Sent Items"));
        assert!(!wildcard_match("    \u{fffd}x", "INBOX"), "a pattern with multi-byte characters near the start (found by fuzzing)");
        assert!(wildcard_match(&"*".repeat(200), ""));
        assert!(!wildcard_match(&format!("{}x", "*".repeat(200)), &"a".repeat(500)), "many wildcards stay fast");
        assert!(wildcard_match("Work/%/2026", "Work/Projects/2026") && !wildcard_match("Work/%", "Work/a/b"));
    }
}
