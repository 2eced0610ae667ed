//! One POP3 conversation: the read/answer loop, the AUTHORIZATION and TRANSACTION states, and the
//! UPDATE at QUIT.

use std::time::Duration;

use super::command::{parse, Command, ParseError};
use super::{MaildropLock, Shared};
use crate::access::login::LoginOutcome;
use crate::mailbox::{self, Flags, MessageRow};
use crate::net::line::LineEvent;
use crate::net::{BoxStream, Conversation, Next};
use crate::access::sasl;
use crate::store::{blobs, StoreError};

/// Longest command line (RFC 2449 allows 255 octets of arguments; SASL responses need more).
const MAX_LINE: u64 = 2048;
/// Time allowed from connecting to logging in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Errors tolerated before the client is dropped.
const MAX_ERRORS: u32 = 20;
/// Mail programs retrieve messages in order, so a RETR that has to read the store reads the next
/// few small ones too: up to this many messages...
const READ_AHEAD: usize = 16;
/// ...of at most this size each.
const READ_AHEAD_MAX_SIZE: i64 = 256 * 1024;

pub type SessionContext = crate::net::SessionContext<Shared>;

/// The mailbox as the session sees it: the INBOX at login, with the session's marks.
struct Maildrop {
    user: String,
    folder_id: i64,
    uidvalidity: i64,
    messages: Vec<MessageRow>,
    deleted: Vec<bool>,
    retrieved: Vec<bool>,
    /// Bodies read ahead, by message index.
    ahead: std::collections::HashMap<usize, Vec<u8>>,
    _lock: MaildropLock,
}

/// A message number that names no live message (the `-ERR` text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum NoMessage {
    #[error("no message {n} (there are {count})")]
    Missing { n: u32, count: usize },
    #[error("message {0} is deleted")]
    Deleted(u32),
}

impl Maildrop {
    /// The message numbered `n` (from 1), unless it is marked deleted.
    fn get(&self, n: u32) -> Result<&MessageRow, NoMessage> {
        let i = n as usize - 1;
        match self.messages.get(i) {
            None => Err(NoMessage::Missing { n, count: self.messages.len() }),
            Some(_) if self.deleted[i] => Err(NoMessage::Deleted(n)),
            Some(m) => Ok(m),
        }
    }

    fn live(&self) -> impl Iterator<Item = (usize, &MessageRow)> {
        self.messages.iter().enumerate().filter(|(i, _)| !self.deleted[*i])
    }

    fn unique_id(&self, m: &MessageRow) -> String {
        format!("{}.{}", self.uidvalidity, m.uid)
    }
}

enum State {
    Authorization { user: Option<String> },
    Transaction(Maildrop),
}

struct Session {
    ctx: SessionContext,
    talk: Conversation,
    state: State,
}

impl sasl::Challenge for Session {
    /// A "+ " challenge and the answer; `None` when the client cancels with "*" or leaves.
    async fn challenge(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        self.talk.out.extend_from_slice(format!("+ {prompt}\r\n").as_bytes());
        self.talk.flush().await?;
        match self.talk.read_secret_line(MAX_LINE, self.idle(), &self.ctx.shutdown).await? {
            LineEvent::Line(l) => {
                let answer = String::from_utf8_lossy(&l).trim().to_string();
                Ok((answer != "*").then_some(answer))
            }
            _ => Ok(None),
        }
    }
}

/// Runs a session to its end.
pub async fn run(ctx: SessionContext, stream: BoxStream) -> std::io::Result<()> {
    let talk = Conversation::new(stream, ctx.transcript, MAX_ERRORS, Some(LOGIN_TIMEOUT));
    let mut s = Session { ctx, talk, state: State::Authorization { user: None } };
    let name = s.ctx.settings.general.server_name.clone();
    s.ok(&format!("{name} Postroom POP3 ready"));
    s.serve().await
}

impl Session {
    fn ok(&mut self, text: &str) {
        self.talk.out.extend_from_slice(b"+OK ");
        self.talk.out.extend_from_slice(text.as_bytes());
        self.talk.out.extend_from_slice(b"\r\n");
    }

    /// An error reply; `code` is an RFC 2449 response code such as "AUTH" or "IN-USE".
    fn err(&mut self, code: Option<&str>, text: &str) {
        self.talk.error();
        let code = code.map(|c| format!("[{c}] ")).unwrap_or_default();
        self.talk.out.extend_from_slice(format!("-ERR {code}{text}\r\n").as_bytes());
    }

    /// A multi-line body: each line starting with "." gets another, and "." ends it.
    fn multiline(&mut self, body: &[u8]) {
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                self.talk.out.push(b'.');
            }
            self.talk.out.extend_from_slice(line);
        }
        if !body.is_empty() && !body.ends_with(b"\n") {
            self.talk.out.extend_from_slice(b"\r\n");
        }
        self.talk.out.extend_from_slice(b".\r\n");
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(u64::from(self.ctx.settings.pop3.idle_timeout_secs))
    }

    fn plaintext_allowed(&self) -> bool {
        self.ctx.password_in_clear_allowed(self.ctx.settings.pop3.allow_plaintext_login)
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        loop {
            self.talk.flush_before_reading().await?;
            let line = match self.talk.read_line(MAX_LINE, self.idle(), &self.ctx.shutdown).await? {
                LineEvent::Line(l) => l,
                LineEvent::TooLong => {
                    self.err(None, "line too long");
                    continue;
                }
                LineEvent::Closed => return Ok(()),
                LineEvent::Idle => {
                    self.err(None, if self.talk.logging_in() { "log in within a minute of connecting" } else { "idle for too long, closing the connection" });
                    return self.talk.close().await;
                }
                LineEvent::Shutdown if !self.ctx.server_stopping() => {
                    self.err(Some("SYS/PERM"), "your account was changed (disabled, deleted or a new password); nothing was changed; log in again");
                    return self.talk.close().await;
                }
                LineEvent::Shutdown => {
                    self.err(Some("SYS/TEMP"), "the server is shutting down; nothing was changed");
                    return self.talk.close().await;
                }
            };
            let next = match parse(&line) {
                Ok(command) => self.command(command).await?,
                Err(ParseError::Unknown(verb)) => {
                    self.err(None, &format!("unknown command {verb}"));
                    Next::Continue
                }
                Err(ParseError::Syntax(why)) => {
                    self.err(None, why);
                    Next::Continue
                }
            };
            if self.talk.too_many_errors() {
                self.err(None, "too many errors, closing the connection");
                return self.talk.close().await;
            }
            match next {
                Next::Continue => {}
                Next::Close => return self.talk.close().await,
                Next::StartTls => {
                    self.talk.start_tls(&self.ctx.tls).await?;
                    self.ctx.tls_active = true;
                    self.state = State::Authorization { user: None };
                }
            }
        }
    }

    async fn command(&mut self, command: Command) -> std::io::Result<Next> {
        let in_transaction = matches!(self.state, State::Transaction(_));
        match command {
            Command::Capa => self.capa(),
            Command::Quit => return self.quit().await,
            Command::Noop if in_transaction => self.ok("nothing to do"),
            Command::Stls if !in_transaction && self.ctx.starttls && !self.ctx.tls_active => {
                self.ok("begin TLS negotiation");
                return Ok(Next::StartTls);
            }
            Command::Stls => self.err(None, "STLS is not available here"),
            Command::Apop => self.err(Some("AUTH"), "APOP is not supported: use USER/PASS or AUTH PLAIN over TLS"),
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if in_transaction => self.err(None, "already logged in"),
            Command::User(_) | Command::Pass(_) | Command::Auth { mechanism: Some(_), .. } if !self.plaintext_allowed() => {
                self.err(Some("AUTH"), "logging in without encryption is not allowed here: use STLS first, or port 995")
            }
            Command::User(name) => {
                self.state = State::Authorization { user: Some(name) };
                self.ok("send PASS");
            }
            Command::Pass(password) => {
                let State::Authorization { user: Some(user) } = &self.state else {
                    self.err(None, "send USER first");
                    return Ok(Next::Continue);
                };
                let user = user.clone();
                return self.login(&user, &password).await;
            }
            Command::Auth { mechanism: None, .. } => {
                self.talk.out.extend_from_slice(b"+OK methods follow\r\nPLAIN\r\nLOGIN\r\n.\r\n");
            }
            Command::Auth { mechanism: Some(m), initial } => return self.sasl(&m, initial).await,
            _ if !in_transaction => self.err(None, "log in first"),
            other => self.transaction(other).await?,
        }
        Ok(Next::Continue)
    }

    fn capa(&mut self) {
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION Postroom"];
        let authorizing = matches!(self.state, State::Authorization { .. });
        if authorizing && self.plaintext_allowed() {
            lines.extend(["USER", "SASL PLAIN LOGIN"]);
        }
        if authorizing && self.ctx.starttls && !self.ctx.tls_active {
            lines.push("STLS");
        }
        self.ok("capability list follows");
        for l in lines {
            self.talk.out.extend_from_slice(l.as_bytes());
            self.talk.out.extend_from_slice(b"\r\n");
        }
        self.talk.out.extend_from_slice(b".\r\n");
    }

    /// AUTH PLAIN / LOGIN, with or without an initial response.
    async fn sasl(&mut self, mechanism: &str, initial: Option<String>) -> std::io::Result<Next> {
        let Some(mechanism) = sasl::Mechanism::from_name(mechanism) else {
            self.err(None, "unsupported mechanism (use PLAIN or LOGIN)");
            return Ok(Next::Continue);
        };
        match sasl::exchange(self, mechanism, initial).await? {
            sasl::Outcome::Credentials { user, password } => return self.login(&user, &password).await,
            sasl::Outcome::Cancelled => self.err(None, "authentication cancelled"),
            sasl::Outcome::Malformed => self.err(Some("AUTH"), "cannot decode the credentials"),
        }
        Ok(Next::Continue)
    }

    async fn login(&mut self, user: &str, password: &str) -> std::io::Result<Next> {
        let shared = self.ctx.shared.clone();
        let verified = match self.ctx.check_login(&mut self.talk, "POP3", user, password).await {
            LoginOutcome::Accepted(verified) => verified,
            LoginOutcome::NowBanned => {
                self.err(Some("AUTH"), "too many failed logins from your address; try later");
                return Ok(Next::Close);
            }
            LoginOutcome::Refused => {
                self.state = State::Authorization { user: None };
                self.err(Some("AUTH"), "wrong user name or password");
                return Ok(if self.talk.too_many_login_failures() { Next::Close } else { Next::Continue });
            }
        };
        let user_id = verified.id;
        let Some(lock) = MaildropLock::take(&shared.locks, user_id) else {
            self.state = State::Authorization { user: None };
            self.err(Some("IN-USE"), "the mailbox is open in another POP3 session");
            return Ok(Next::Continue);
        };
        self.ctx.admit(&mut self.talk, &verified).await;
        let inbox = shared.store.read_async(move |c| {
            let folder = mailbox::folder(c, user_id, "INBOX")?.ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
            Ok((mailbox::messages(c, folder.id)?, folder))
        });
        let Ok((messages, folder)) = inbox.await else {
            self.err(Some("SYS/TEMP"), "cannot open the mailbox now; try again later");
            return Ok(Next::Close);
        };
        let n = messages.len();
        let octets: i64 = messages.iter().map(|m| m.size).sum();
        self.state = State::Transaction(Maildrop {
            user: user.to_string(),
            folder_id: folder.id,
            uidvalidity: folder.uidvalidity,
            messages,
            deleted: vec![false; n],
            retrieved: vec![false; n],
            ahead: Default::default(),
            _lock: lock,
        });
        self.ok(&format!("{user} has {n} messages ({octets} octets)"));
        Ok(Next::Continue)
    }

    async fn transaction(&mut self, command: Command) -> std::io::Result<()> {
        let State::Transaction(maildrop) = &mut self.state else { return Ok(()) };
        let reply: Result<String, String> = match command {
            Command::Stat => {
                let (n, size) = maildrop.live().fold((0, 0), |(n, s), (_, m)| (n + 1, s + m.size));
                Ok(format!("{n} {size}"))
            }
            Command::List(Some(n)) => maildrop.get(n).map(|m| format!("{n} {}", m.size)).map_err(|e| e.to_string()),
            Command::Uidl(Some(n)) => maildrop.get(n).map(|m| format!("{n} {}", maildrop.unique_id(m))).map_err(|e| e.to_string()),
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(command, Command::Uidl(None));
                let lines: Vec<String> = maildrop
                    .live()
                    .map(|(i, m)| if uidl { format!("{} {}", i + 1, maildrop.unique_id(m)) } else { format!("{} {}", i + 1, m.size) })
                    .collect();
                self.ok(&format!("{} messages", lines.len()));
                let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
                self.multiline(body.as_bytes());
                return Ok(());
            }
            Command::Dele(n) => match maildrop.get(n) {
                Ok(_) => {
                    maildrop.deleted[n as usize - 1] = true;
                    Ok(format!("message {n} deleted"))
                }
                Err(e) => Err(e.to_string()),
            },
            Command::Rset => {
                maildrop.deleted.iter_mut().for_each(|d| *d = false);
                Ok(format!("{} messages", maildrop.messages.len()))
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let lines = match command {
                    Command::Top(_, l) => Some(l),
                    _ => None,
                };
                return self.retrieve(n, lines).await;
            }
            _ => Err("not allowed now".into()),
        };
        match reply {
            Ok(text) => self.ok(&text),
            Err(text) => self.err(None, &text),
        }
        Ok(())
    }

    /// RETR (whole message) or TOP (headers and the first `lines` body lines).
    async fn retrieve(&mut self, n: u32, lines: Option<u32>) -> std::io::Result<()> {
        let State::Transaction(maildrop) = &self.state else { return Ok(()) };
        let message = match maildrop.get(n) {
            Ok(m) => m.clone(),
            Err(e) => {
                self.err(None, &e.to_string());
                return Ok(());
            }
        };
        let index = n as usize - 1;
        let cached = match &mut self.state {
            State::Transaction(maildrop) => maildrop.ahead.remove(&index),
            _ => None,
        };
        let body = match cached {
            Some(body) => body,
            None => match self.read_with_ahead(index, message.blob_id).await {
                Some(body) => body,
                None => {
                    self.err(Some("SYS/TEMP"), "cannot read the message now");
                    return Ok(());
                }
            },
        };
        match lines {
            None => {
                if let State::Transaction(maildrop) = &mut self.state {
                    maildrop.retrieved[n as usize - 1] = true;
                }
                self.ok(&format!("{} octets", body.len()));
                self.multiline(&body);
            }
            Some(count) => {
                self.ok("top of message follows");
                self.multiline(top(&body, count));
            }
        }
        Ok(())
    }

    /// Reads message `index` and, in the same trip to the store, the next few small ones not yet
    /// retrieved; those wait in the maildrop for their RETR.
    async fn read_with_ahead(&mut self, index: usize, blob_id: i64) -> Option<Vec<u8>> {
        let State::Transaction(maildrop) = &self.state else { return None };
        let ahead: Vec<(usize, i64)> = (index + 1..maildrop.messages.len())
            .filter(|&i| !maildrop.deleted[i] && !maildrop.retrieved[i] && maildrop.messages[i].size <= READ_AHEAD_MAX_SIZE)
            .take(READ_AHEAD)
            .map(|i| (i, maildrop.messages[i].blob_id))
            .collect();
        let dir = self.ctx.shared.store.blobs_dir();
        let read = self
            .ctx
            .shared
            .store
            .read_async(move |c| {
                let body = blobs::read(c, &dir, blob_id)?;
                let more = ahead.into_iter().filter_map(|(i, b)| blobs::read(c, &dir, b).ok().map(|body| (i, body))).collect::<Vec<_>>();
                Ok((body, more))
            })
            .await;
        let Ok((body, more)) = read else { return None };
        if let State::Transaction(maildrop) = &mut self.state {
            maildrop.ahead.clear();
            maildrop.ahead.extend(more);
        }
        Some(body)
    }

    /// QUIT: in TRANSACTION, the UPDATE state — expunge what was deleted, flag what was retrieved.
    async fn quit(&mut self) -> std::io::Result<Next> {
        let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
        let State::Transaction(maildrop) = state else {
            self.ok("goodbye");
            return Ok(Next::Close);
        };
        let pick = |marks: &[bool]| maildrop.messages.iter().zip(marks).filter(|(_, m)| **m).map(|(msg, _)| msg.id).collect::<Vec<_>>();
        let deleted = pick(&maildrop.deleted);
        let seen: Vec<i64> = maildrop.messages.iter().zip(&maildrop.retrieved).filter(|(m, r)| **r && !m.flags.has(Flags::SEEN)).map(|(m, _)| m.id).collect();
        let folder = maildrop.folder_id;
        let count = deleted.len();
        if count == 0 && seen.is_empty() {
            self.ok(&format!("goodbye {}", maildrop.user));
            return Ok(Next::Close);
        }
        let result = self
            .ctx
            .shared
            .store
            .write_async(move |c| {
                mailbox::mark_seen(c, folder, &seen)?;
                mailbox::expunge(c, folder, &deleted, mailbox::Removal::Deleted(mailbox::recycle::reason::POP3))
            })
            .await;
        match result {
            Ok(_) => self.ok(&format!("goodbye {} ({count} messages deleted)", maildrop.user)),
            Err(e) => {
                tracing::error!(target: "pop3", error = %e, user = %maildrop.user, "could not apply the session's deletions");
                self.err(Some("SYS/TEMP"), "some deleted messages could not be removed; they are still there");
            }
        }
        Ok(Next::Close)
    }
}

/// The header section, the blank line, and the first `lines` lines of the body.
fn top(message: &[u8], lines: u32) -> &[u8] {
    let body_start = message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(message.len());
    let mut end = body_start;
    for _ in 0..lines {
        match message[end..].iter().position(|&b| b == b'\n') {
            Some(p) => end += p + 1,
            None => {
                end = message.len();
                break;
            }
        }
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::top;

    #[test]
    fn top_gives_headers_blank_line_and_n_body_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\nthree\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top(m, 2), b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\n");
        assert_eq!(top(m, 99), &m[..]);
        assert_eq!(top(b"Subject: no body", 3), b"Subject: no body");
    }
}
