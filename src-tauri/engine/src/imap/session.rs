//! One IMAP conversation: framing (imap-codec's Fragmentizer), the states (not authenticated,
//! authenticated, selected, idling), a handler per command, and the snapshot of the selected mailbox.

use std::time::Duration;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::SequenceSet;
use tokio::io::AsyncReadExt;

use super::sequence::{self, highest_named};
use super::op::{LiveSearch, NotifyState};
use super::{utf7, Shared, UserSession};
use crate::mailbox::meta::{self, Meta};
use crate::mailbox::{self, Flags, Folder, MessageRow};
use crate::net::{BoxStream, Conversation, Next};
use crate::store::StoreResult;

/// Longest command line, and all of a command apart from its accepted literals.
pub(super) const MAX_LINE: usize = 64 * 1024;
/// Largest literal accepted before login (a user name or password).
pub(super) const MAX_LITERAL_BEFORE_LOGIN: u32 = 1024;
/// All literals of one command together, before login (LOGIN's name and password, or AUTHENTICATE's).
pub(super) const MAX_LITERALS_BEFORE_LOGIN: usize = 4096;
/// Time allowed from connecting to logging in, however the client trickles its bytes.
pub(super) const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Errors tolerated before the client is dropped.
pub(super) const MAX_ERRORS: u32 = 30;
/// The longest a SEARCH may take before it gives up with NO [LIMIT].
pub(super) const SEARCH_LIMIT: Duration = Duration::from_secs(20);

pub(super) const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE SASL-IR CONDSTORE QRESYNC SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESEARCH ESORT CONTEXT=SEARCH CONTEXT=SORT SEARCHRES PARTIAL MULTIAPPEND CATENATE URLAUTH NOTIFY LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY QUOTA QUOTA=RES-STORAGE IMAP4rev2";

pub type SessionContext = crate::net::SessionContext<Shared>;

pub(super) struct User {
    pub(super) id: i64,
    /// The login name as stored.
    pub(super) name: String,
    pub(super) _session: UserSession,
}

/// The selected mailbox as this session shows it.
pub(super) struct Selected {
    pub(super) folder: Folder,
    pub(super) read_only: bool,
    /// In sequence-number order.
    pub(super) messages: Vec<MessageRow>,
    /// The UIDs that are \Recent in this session (RFC 3501 §2.3.2), as ranges `(after, up_to]`.
    pub(super) recent: Vec<(u32, u32)>,
    /// The keywords the client has been told of in FLAGS and PERMANENTFLAGS.
    pub(super) keywords: std::collections::BTreeSet<String>,
    /// The UIDs of the last SEARCH or SORT with RETURN (SAVE), ascending: what `$` stands for (RFC 5182).
    pub(super) saved: Vec<u32>,
    /// Searches the client is kept told about (RETURN (UPDATE), RFC 5267 §4).
    pub(super) contexts: Vec<LiveSearch>,
}

impl Selected {
    /// How many messages of the snapshot are \Recent here.
    pub(super) fn recent_count(&self) -> usize {
        self.messages.iter().filter(|m| self.is_recent(m.uid)).count()
    }

    pub(super) fn is_recent(&self, uid: u32) -> bool {
        in_ranges(&self.recent, uid)
    }

    /// Takes note of `keywords` and returns the FLAGS and PERMANENTFLAGS lines to send first when one is
    /// new to the client (RFC 3501 §7.2.6: a client learns of a keyword before any FETCH shows it).
    pub(super) fn announce(&mut self, keywords: &str) -> Option<String> {
        let mut grew = false;
        for k in keywords.split(' ').filter(|k| !k.is_empty()) {
            grew |= self.keywords.insert(k.to_string());
        }
        grew.then(|| flags_lines(&self.keywords))
    }

    /// Drops the messages at the ascending `indexes` from the snapshot, in one pass.
    pub(super) fn remove_at(&mut self, indexes: impl Iterator<Item = usize>) {
        let mut gone = indexes.peekable();
        let mut k = 0;
        self.messages.retain(|_| {
            let keep = gone.peek() != Some(&k);
            if !keep {
                gone.next();
            }
            k += 1;
            keep
        });
    }

    pub(super) fn last_uid(&self) -> u32 {
        self.messages.last().map_or(0, |m| m.uid)
    }

    /// Indexes of the messages a set names (by sequence number or UID).
    pub(super) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, String> {
        let count = self.messages.len() as u32;
        if uid {
            let last = self.last_uid();
            return Ok(sequence::select(set, last, self.messages.iter().map(|m| m.uid)));
        }
        // `$` with nothing saved (SEARCHRES: `searchres::NOTHING`) names no message.
        if highest_named(set) == u32::MAX {
            return Ok(Vec::new());
        }
        if highest_named(set) > count {
            return Err(format!("there are only {count} messages"));
        }
        Ok(sequence::select(set, count, 1..=count))
    }
}

/// Whether `uid` is in one of the ranges `(after, up_to]`.
pub(super) fn in_ranges(ranges: &[(u32, u32)], uid: u32) -> bool {
    ranges.iter().any(|&(after, up_to)| uid > after && uid <= up_to)
}

/// The FLAGS and PERMANENTFLAGS lines for a mailbox whose messages carry `keywords`.
pub(super) fn flags_lines(keywords: &std::collections::BTreeSet<String>) -> String {
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let mut words = String::new();
    for k in keywords {
        words.push(' ');
        words.push_str(k);
    }
    format!("* FLAGS ({system}{words})\r\n* OK [PERMANENTFLAGS ({system}{words} \\*)] flags permitted\r\n")
}

/// A continuation the session waits for.
pub(super) enum Pending {
    /// AUTHENTICATE: the tag, the mechanism, and the user name (LOGIN's second step).
    Authenticate { tag: String, mechanism: AuthMechanism<'static>, user: Option<String> },
    /// IDLE: the tag.
    Idle { tag: String },
}

pub(super) struct Session {
    pub(super) ctx: SessionContext,
    pub(super) talk: Conversation,
    pub(super) user: Option<User>,
    pub(super) selected: Option<Selected>,
    pub(super) pending: Option<Pending>,
    pub(super) changes: tokio::sync::watch::Receiver<u64>,
    /// The client uses CONDSTORE (RFC 7162): FETCH answers carry MODSEQ.
    pub(super) condstore: bool,
    /// The client enabled QRESYNC (RFC 7162 §3.2): expunges are told as VANISHED (by UID), never EXPUNGE.
    pub(super) qresync: bool,
    /// The client enabled IMAP4rev2 (RFC 9051): UTF-8 folder names, ESEARCH answers, no RECENT.
    pub(super) rev2: bool,
    /// The NOTIFY in effect (RFC 5465).
    pub(super) notify: Option<NotifyState>,
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
        qresync: false,
        rev2: false,
        notify: None,
    };
    let caps = s.capabilities();
    s.untagged(&format!("OK [CAPABILITY {caps}] {} Postroom IMAP4 ready", s.ctx.settings.general.server_name));
    s.serve().await
}


impl Session {
    // ----- output -----

    pub(super) fn untagged(&mut self, text: &str) {
        self.talk.out.extend_from_slice(b"* ");
        self.talk.out.extend_from_slice(text.as_bytes());
        self.talk.out.extend_from_slice(b"\r\n");
    }

    pub(super) fn tagged(&mut self, tag: &str, status: &str, text: &str) {
        if status != "OK" {
            self.talk.error();
        }
        self.talk.out.extend_from_slice(format!("{tag} {status} {text}\r\n").as_bytes());
    }

    pub(super) fn capabilities(&self) -> String {
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

    pub(super) fn plaintext_allowed(&self) -> bool {
        self.ctx.password_in_clear_allowed(self.ctx.settings.imap.allow_plaintext_login)
    }

    /// Folder names travel in UTF-8 once the client enabled IMAP4rev2, else in modified UTF-7.
    pub(super) fn utf8_names(&self) -> bool {
        self.rev2
    }

    /// A folder name as sent to this client.
    pub(super) fn wire_name(&self, path: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.utf8_names() {
            meta::string(&mut out, path.as_bytes());
        } else {
            meta::string(&mut out, utf7::encode(path).as_bytes());
        }
        out
    }

    // ----- the loop -----

    pub(super) async fn serve(&mut self) -> std::io::Result<()> {
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
                changed = self.changes.changed(), if idling || self.notify.is_some() => {
                    if changed.is_ok() {
                        // NOTIFY tells of changes between commands too; IDLE only while idling.
                        let told = self.notify.as_ref().is_some_and(|n| n.selected_events());
                        if idling && !told {
                            self.refresh(true).await;
                        }
                        self.notify_changes().await;
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
    pub(super) fn framer(&self) -> Fragmentizer {
        Fragmentizer::new(self.ctx.settings.smtp.max_message_size.min(u64::from(u32::MAX - 70_000)) as u32 + 65_536)
    }

    // ----- folders -----

    pub(super) fn user_id(&self) -> i64 {
        self.user.as_ref().map_or(0, |u| u.id)
    }

    pub(super) fn path_of(&self, mailbox: &Mailbox) -> String {
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


    /// `[HIGHESTMODSEQ n] ` for the tagged OK of an EXPUNGE once QRESYNC is enabled (RFC 7162 §3.2.7).
    pub(super) fn highestmodseq_code(&self) -> String {
        match &self.selected {
            Some(sel) if self.qresync => format!("[HIGHESTMODSEQ {}] ", sel.folder.highestmodseq),
            _ => String::new(),
        }
    }

    /// The lines telling the client that the messages at `gone` (ascending (index, UID) pairs of the
    /// snapshot before they went) are expunged: one VANISHED by UID once QRESYNC is enabled, else one
    /// EXPUNGE each, highest number first so every number is right when the client applies it.
    pub(super) fn expunge_lines(&self, gone: &[(usize, u32)]) -> Vec<u8> {
        if gone.is_empty() {
            return Vec::new();
        }
        if self.qresync {
            let uids: Vec<u32> = gone.iter().map(|g| g.1).collect();
            return format!("* VANISHED {}\r\n", sequence::compact(&uids)).into_bytes();
        }
        let mut out = Vec::new();
        for (i, _) in gone.iter().rev() {
            out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
        }
        out
    }

    pub(super) fn store_failed(&mut self, tag: &str, e: impl std::fmt::Display) {
        tracing::error!(target: "imap", error = %e, "store error");
        self.tagged(tag, "NO", "[SERVERBUG] the mail store failed; try again");
    }






}

/// One STATUS item ("MESSAGES 4"), or `None` for one Postroom does not know.
pub(super) fn status_item(name: &str, st: &mailbox::FolderStatus, f: &Folder) -> Option<String> {
    let value = match name {
        "MESSAGES" => st.messages,
        "RECENT" => st.recent,
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
pub(super) async fn with_folder<T: Send + 'static>(
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

pub(super) fn stored_meta(c: &rusqlite::Connection, blob_id: i64) -> StoreResult<Option<Meta>> {
    use rusqlite::OptionalExtension;
    let row: Option<(Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>)> =
        c.query_row("SELECT envelope, bodystructure, body FROM blobs WHERE id = ?1", [blob_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    Ok(match row {
        Some((Some(envelope), Some(bodystructure), Some(body))) => Some(Meta { envelope, bodystructure, body }),
        _ => None,
    })
}

/// System flags as bits, and keywords as a space-separated list.
pub(super) fn flag_bits(flags: &[Flag<'_>]) -> (Flags, String) {
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
