//! One SMTP conversation: the read/answer loop and a handler per command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use smtp_proto::{Error as ParseError, Request, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS};

use super::data::{normalise_line_endings, DataReceiver};
use super::spool::{self, Spool};
use super::reply::Reply;
use super::stamp::{stamp, Trace};
use super::Shared;
use crate::access::sasl;
use crate::access::login::LoginOutcome;
use crate::delivery::{self, dsn, DsnRequest, Envelope, Recipient, RecipientDsn, Refusal, SpamVerdict};
use crate::spam::filter::Outcome;

use crate::net::conversation::Transfer;
use crate::net::line::LineEvent;
use crate::net::{BoxStream, Conversation, Next};
use crate::settings::{self, ServiceId};

/// Longest command line (RFC 5321 allows 512 plus extension parameters).
const MAX_LINE: u64 = 2048;
/// Errors tolerated before the client is dropped.
const MAX_ERRORS: u32 = 20;

pub type SessionContext = crate::net::SessionContext<Shared>;

struct Transaction {
    sender: String,
    recipients: Vec<Recipient>,
    /// RET and ENVID from MAIL, NOTIFY and ORCPT from each RCPT.
    dsn: DsnRequest,
    /// BDAT chunks so far (in memory up to a limit, then in a file), and whether they exceed the size limit.
    chunks: Spool,
    chunks_too_big: bool,
}

struct Session {
    ctx: SessionContext,
    talk: Conversation,
    helo: Option<String>,
    auth_user: Option<String>,
    /// The authenticated user's id and stored name (BURL reads their mail for them).
    auth_id: Option<(i64, String)>,
    tx: Option<Transaction>,
}

impl sasl::Challenge for Session {
    /// A 334 challenge and the answer line; `None` when the client cancels with `*` or leaves.
    async fn challenge(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        self.talk.out.extend_from_slice(format!("334 {prompt}\r\n").as_bytes());
        self.talk.flush().await?;
        let Some(line) = self.read_line(true).await? else { return Ok(None) };
        let answer = String::from_utf8_lossy(&line).trim().to_string();
        Ok((answer != "*").then_some(answer))
    }
}

/// Runs a session to its end.
pub async fn run(ctx: SessionContext, stream: BoxStream) -> std::io::Result<()> {
    let greeting = Reply::new(220, "", format!("{} Postroom ESMTP", ctx.settings.general.server_name));
    let talk = Conversation::new(stream, ctx.transcript, MAX_ERRORS, None);
    let mut s = Session { ctx, talk, helo: None, auth_user: None, auth_id: None, tx: None };
    s.reply(greeting);
    s.serve().await
}

impl Session {
    fn name(&self) -> &str {
        &self.ctx.settings.general.server_name
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(u64::from(self.ctx.settings.smtp.idle_timeout_secs))
    }

    fn reply(&mut self, reply: Reply) {
        if reply.is_error() {
            self.talk.error();
        }
        reply.write_to(&mut self.talk.out);
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        loop {
            // Pipelined commands are answered together: flush only when the client waits for us.
            self.talk.flush_before_reading().await?;
            let Some(line) = self.read_line(false).await? else { return Ok(()) };
            let next = self.command(&line).await?;
            if self.talk.too_many_errors() {
                self.reply(Reply::new(421, "4.7.0", format!("{} too many errors, closing connection", self.name())));
                return self.talk.close().await;
            }
            match next {
                Next::Continue => {}
                Next::Close => return self.talk.close().await,
                Next::StartTls => self.start_tls().await?,
            }
        }
    }

    /// The next line, or `None` when the session is over (client gone, idle, shutdown). An over-long line
    /// is answered here and comes back empty. A `secret` line (an AUTH answer) is not shown in the transcript.
    async fn read_line(&mut self, secret: bool) -> std::io::Result<Option<Vec<u8>>> {
        let idle = self.idle();
        let name = self.name().to_string();
        let event = if secret {
            self.talk.read_secret_line(MAX_LINE, idle, &self.ctx.shutdown).await?
        } else {
            self.talk.read_line(MAX_LINE, idle, &self.ctx.shutdown).await?
        };
        match event {
            LineEvent::Line(line) => Ok(Some(line)),
            LineEvent::TooLong => {
                self.reply(Reply::new(500, "5.5.2", "line too long"));
                // Already answered: an empty line (a real one holds at least its LF) means "nothing to do".
                Ok(Some(Vec::new()))
            }
            LineEvent::Closed => Ok(None),
            LineEvent::Idle => {
                self.reply(Reply::new(421, "4.4.2", format!("{name} idle too long, closing connection")));
                self.talk.close().await?;
                Ok(None)
            }
            LineEvent::Shutdown if !self.ctx.server_stopping() => {
                self.reply(Reply::new(421, "4.7.0", format!("{name} your account was changed (disabled, deleted or a new password); log in again")));
                self.talk.close().await?;
                Ok(None)
            }
            LineEvent::Shutdown => {
                self.reply(Reply::new(421, "4.3.2", format!("{name} Postroom is shutting down")));
                self.talk.close().await?;
                Ok(None)
            }
        }
    }

    async fn start_tls(&mut self) -> std::io::Result<()> {
        // Anything the client pipelined after STARTTLS is dropped with the old reader (RFC 3207 5).
        self.talk.start_tls(&self.ctx.tls).await?;
        self.ctx.tls_active = true;
        // The session starts over (RFC 3207 4.2): forget HELO, AUTH and any transaction.
        self.helo = None;
        self.auth_user = None;
        self.auth_id = None;
        self.tx = None;
        Ok(())
    }

    async fn command(&mut self, line: &[u8]) -> std::io::Result<Next> {
        if line.is_empty() {
            return Ok(Next::Continue);
        }
        let parsed = Request::parse(&mut line.iter()).map(Request::into_owned);
        let request = match parsed {
            Ok(r) => r,
            Err(e) => {
                self.reply(parse_error(e));
                return Ok(Next::Continue);
            }
        };
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::Lhlo { .. } => self.reply(Reply::new(500, "5.5.1", "this is not an LMTP server")),
            Request::StartTls => return Ok(self.starttls()),
            Request::Auth { mechanism, initial_response } => return self.authenticate(mechanism, initial_response).await,
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { mut to } => {
                // smtp-proto reads <postmaster> (no domain) as the empty path; RFC 5321 4.5.1 says it must be
                // accepted, so it is given its name back. <> itself names nobody.
                if to.address.is_empty() && String::from_utf8_lossy(line).to_ascii_lowercase().contains("<postmaster>") {
                    to.address = "postmaster".into();
                }
                if to.address.is_empty() {
                    self.reply(Reply::new(501, "5.1.3", "the empty path <> is not a recipient"));
                } else {
                    self.rcpt(to).await
                }
            }
            Request::Data => self.data().await?,
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last).await?,
            Request::Burl { uri, is_last } => self.burl(&uri, is_last).await,
            Request::Rset => {
                self.tx = None;
                self.reply(Reply::new(250, "2.0.0", "OK"));
            }
            Request::Noop { .. } => self.reply(Reply::new(250, "2.0.0", "OK")),
            Request::Quit => {
                let name = self.name().to_string();
                self.reply(Reply::new(221, "2.0.0", format!("{name} closing connection")));
                return Ok(Next::Close);
            }
            Request::Vrfy { .. } => self.reply(Reply::new(252, "2.5.2", "cannot VRFY a user, but will accept mail for valid recipients")),
            Request::Help { .. } => self.reply(Reply::new(214, "2.0.0", "see RFC 5321; Postroom speaks ESMTP")),
            Request::Expn { .. } | Request::Etrn { .. } | Request::Atrn { .. } => {
                self.reply(Reply::new(502, "5.5.1", "command not implemented"))
            }
        }
        Ok(Next::Continue)
    }

    fn auth_offered(&self) -> bool {
        self.ctx.tls_active || self.ctx.settings.smtp.allow_plaintext_auth
    }

    fn hello(&mut self, host: String, extended: bool) {
        self.tx = None;
        self.helo = Some(host.clone());
        let name = self.name().to_string();
        if !extended {
            self.reply(Reply::new(250, "", format!("{name} Postroom greets {host}")));
            return;
        }
        let mut lines = vec![
            format!("{name} Postroom greets {host}"),
            format!("SIZE {}", self.ctx.settings.smtp.max_message_size),
            "PIPELINING".into(),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
            "CHUNKING".into(),
            "DSN".into(),
        ];
        if self.ctx.starttls && !self.ctx.tls_active {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered() && self.auth_user.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        // BURL (RFC 4468): an authenticated client sends a message it already stored, by IMAP URL.
        if self.auth_offered() || self.auth_user.is_some() {
            lines.push("BURL imap".into());
        }
        self.reply(Reply::lines(250, lines));
    }

    fn starttls(&mut self) -> Next {
        if !self.ctx.starttls || self.ctx.tls_active {
            self.reply(Reply::new(503, "5.5.1", "TLS is already active or not offered here"));
            return Next::Continue;
        }
        self.reply(Reply::new(220, "2.0.0", "ready to start TLS"));
        Next::StartTls
    }

    async fn authenticate(&mut self, mechanism: u64, initial: String) -> std::io::Result<Next> {
        if self.auth_user.is_some() {
            self.reply(Reply::new(503, "5.5.1", "already authenticated"));
            return Ok(Next::Continue);
        }
        if !self.auth_offered() {
            self.reply(Reply::new(538, "5.7.11", "encryption required: use STARTTLS first"));
            return Ok(Next::Continue);
        }
        if self.tx.is_some() {
            self.reply(Reply::new(503, "5.5.1", "AUTH is not allowed during a mail transaction"));
            return Ok(Next::Continue);
        }
        let mechanism = match mechanism {
            smtp_proto::AUTH_PLAIN => sasl::Mechanism::Plain,
            smtp_proto::AUTH_LOGIN => sasl::Mechanism::Login,
            _ => {
                self.reply(Reply::new(504, "5.5.4", "unsupported mechanism (use PLAIN or LOGIN)"));
                return Ok(Next::Continue);
            }
        };
        let (user, password) = match sasl::exchange(self, mechanism, (!initial.is_empty()).then_some(initial)).await? {
            sasl::Outcome::Credentials { user, password } => (user, password),
            sasl::Outcome::Cancelled => {
                self.reply(Reply::new(501, "5.7.0", "authentication cancelled"));
                return Ok(Next::Continue);
            }
            sasl::Outcome::Malformed => {
                self.reply(Reply::new(501, "5.5.2", "cannot decode the credentials"));
                return Ok(Next::Continue);
            }
        };
        match self.ctx.check_login(&mut self.talk, "SMTP", &user, &password).await {
            LoginOutcome::Accepted(verified) => {
                self.ctx.admit(&mut self.talk, &verified).await;
                self.auth_user = Some(user);
                self.auth_id = Some((verified.id, verified.name.clone()));
                self.reply(Reply::new(235, "2.7.0", "authentication succeeded"));
                return Ok(Next::Continue);
            }
            LoginOutcome::NowBanned => {
                self.reply(Reply::new(421, "4.7.0", "too many failed logins from your address; try later"));
                return Ok(Next::Close);
            }
            LoginOutcome::Refused => {}
        }
        self.reply(Reply::new(535, "5.7.8", "authentication credentials invalid"));
        if self.talk.too_many_login_failures() {
            self.reply(Reply::new(421, "4.7.0", "too many failed logins, closing connection"));
            return Ok(Next::Close);
        }
        Ok(Next::Continue)
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) {
        if self.helo.is_none() {
            return self.reply(Reply::new(503, "5.5.1", "send EHLO or HELO first"));
        }
        if self.tx.is_some() {
            return self.reply(Reply::new(503, "5.5.1", "a mail transaction is already open (RSET first)"));
        }
        if self.ctx.service == ServiceId::Submission && self.auth_user.is_none() {
            return self.reply(Reply::new(530, "5.7.0", "authentication required"));
        }
        let max = self.ctx.settings.smtp.max_message_size;
        if from.size as u64 > max {
            return self.reply(Reply::new(552, "5.3.4", format!("message too big: the limit is {max} bytes")));
        }
        let ret_full = match from.flags {
            // A stranger's RET=FULL would make us send a whole message to whatever address it forged as the
            // sender: reports return the full message only to logged-in users and trusted networks.
            f if f & smtp_proto::MAIL_RET_FULL != 0 => Some(self.may_relay()),
            f if f & smtp_proto::MAIL_RET_HDRS != 0 => Some(false),
            _ => None,
        };
        let dsn = DsnRequest { ret_full, envid: from.env_id, recipients: Vec::new() };
        let chunks = Spool::new(self.ctx.shared.store.blobs_dir());
        self.tx = Some(Transaction { sender: from.address, recipients: Vec::new(), dsn, chunks, chunks_too_big: false });
        self.reply(Reply::new(250, "2.1.0", "sender OK"));
    }

    fn may_relay(&self) -> bool {
        self.auth_user.is_some() || self.ctx.settings.smtp.trusted().iter().any(|n| n.contains(&self.ctx.peer.ip()))
    }

    async fn rcpt(&mut self, to: smtp_proto::RcptTo<String>) {
        let max = self.ctx.settings.smtp.max_recipients as usize;
        match &self.tx {
            None => return self.reply(Reply::new(503, "5.5.1", "send MAIL FROM first")),
            Some(tx) if tx.recipients.len() >= max => {
                return self.reply(Reply::new(452, "4.5.3", format!("too many recipients (at most {max} per message)")))
            }
            Some(_) => {}
        }
        let server_name = self.name().to_string();
        let address = to.address.clone();
        let may_relay = self.may_relay();
        let relay = self.ctx.settings.relay.clone();
        let routed = self.ctx.shared.store.read_async(move |c| delivery::route(c, &server_name, &relay, &address, may_relay)).await;
        let reply = match routed {
            Ok(Ok(_)) if !may_relay && self.ctx.settings.spam.greylist => match self.greylisted(&to.address).await {
                Some(reply) => reply,
                None => return self.accept_recipient(routed, &to, may_relay),
            },
            Ok(Ok(_)) => return self.accept_recipient(routed, &to, may_relay),
            Ok(Err(Refusal::UnknownUser)) => Reply::new(550, "5.1.1", format!("<{}>: no such user here", to.address)),
            Ok(Err(Refusal::RelayDenied)) => {
                tracing::warn!(target: "security", peer = %self.ctx.peer, recipient = %to.address, "relay denied");
                Reply::new(554, "5.7.1", format!("<{}>: relay access denied", to.address))
            }
            Ok(Err(Refusal::BadAddress(why))) => Reply::new(501, "5.1.3", why),
            Ok(Err(Refusal::NoRelayRoute(domain))) => {
                tracing::warn!(target: "mail", recipient = %to.address, "{domain} is a relay domain with no LAN forwarding rule (~@{domain}) to its primary server");
                Reply::new(451, "4.3.0", format!("<{}>: cannot pass mail for {domain} on now, try again later", to.address))
            }
            _ => Reply::new(451, "4.3.0", "temporary lookup failure, try again later"),
        };
        self.reply(reply);
    }

    /// Greylisting of a stranger's recipient ([`crate::spam::greylist`]): the 451 to send, or None to go on.
    /// Senders on the global allow list pass.
    async fn greylisted(&mut self, recipient: &str) -> Option<Reply> {
        let sender = self.tx.as_ref().map(|t| t.sender.clone()).unwrap_or_default();
        let settings = self.ctx.settings.clone();
        if settings::sender_listed(&settings.spam.allow_senders, &[&sender]) {
            return None;
        }
        let peer = self.ctx.peer;
        match crate::spam::greylist::check(&self.ctx.shared.store, settings.spam.greylist_delay, peer.ip(), &sender, recipient).await {
            Ok(None) => None,
            Ok(Some(wait)) => {
                tracing::info!(target: "mail", %peer, from = %sender, recipient, "greylisted: try again in {wait} s");
                Some(Reply::new(451, "4.7.1", format!("<{recipient}>: greylisted, please try again in {wait} seconds")))
            }
            Err(e) => {
                tracing::error!(target: "smtp", error = %e, "greylisting failed: the recipient passes");
                None
            }
        }
    }

    /// Adds a routed recipient to the transaction.
    fn accept_recipient(&mut self, routed: crate::store::StoreResult<Result<Recipient, Refusal>>, to: &smtp_proto::RcptTo<String>, may_relay: bool) {
        let reply = match routed {
            Ok(Ok(recipient)) => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.recipients.push(recipient);
                    let mut notify = to.flags & (RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY | RCPT_NOTIFY_NEVER);
                    if !may_relay && notify & RCPT_NOTIFY_SUCCESS != 0 {
                        // Success reports go only to senders we know: from a stranger they would be a way to
                        // make this server mail a forged address (reflection). What is left of the request stays.
                        notify &= !RCPT_NOTIFY_SUCCESS;
                        if notify == 0 {
                            notify = RCPT_NOTIFY_NEVER;
                        }
                    }
                    tx.dsn.recipients.push(RecipientDsn { notify, orcpt: to.orcpt.clone() });
                }
                Reply::new(250, "2.1.5", "recipient OK")
            }
            _ => Reply::new(451, "4.3.0", "temporary lookup failure, try again later"),
        };
        self.reply(reply);
    }

    /// Checks that a transaction with recipients is open, for DATA and BDAT.
    fn ready_for_data(&mut self) -> bool {
        match &self.tx {
            None => self.reply(Reply::new(503, "5.5.1", "send MAIL FROM first")),
            Some(tx) if tx.recipients.is_empty() => self.reply(Reply::new(554, "5.5.1", "no valid recipients")),
            Some(_) => return true,
        }
        false
    }

    async fn data(&mut self) -> std::io::Result<()> {
        if !self.ready_for_data() {
            return Ok(());
        }
        self.reply(Reply::new(354, "", "end data with <CR><LF>.<CR><LF>"));
        self.talk.flush().await?;
        let spool = Spool::new(self.ctx.shared.store.blobs_dir());
        let mut receiver = DataReceiver::with_spool(self.ctx.settings.smtp.max_message_size as usize, spool);
        let mut transfer = Transfer::start("DATA");
        let (idle, peer) = (self.idle(), self.ctx.peer);
        loop {
            let buf = self.talk.transfer_bytes(&mut transfer, idle).await.inspect_err(|e| too_slow(peer, e))?;
            match receiver.feed(buf) {
                Some(used) => {
                    self.talk.consume(&mut transfer, used);
                    break;
                }
                None => {
                    let n = buf.len();
                    self.talk.consume(&mut transfer, n);
                }
            }
        }
        self.talk.transcript().received_data(receiver.size());
        if receiver.too_big() {
            self.tx = None;
            let max = self.ctx.settings.smtp.max_message_size;
            self.reply(Reply::new(552, "5.3.4", format!("message too big: the limit is {max} bytes")));
            return Ok(());
        }
        self.finish_spool(receiver.into_spool(), false).await;
        Ok(())
    }

    async fn bdat(&mut self, size: usize, last: bool) -> std::io::Result<()> {
        // The chunk's bytes follow the command whatever we answer: read them first, keeping them only for a
        // transaction that can take them.
        let max = self.ctx.settings.smtp.max_message_size as usize;
        // Replies to what came before (EHLO, MAIL, RCPT) go out first: a chunk may take long to arrive.
        self.talk.flush().await?;
        let ready = self.tx.as_ref().is_some_and(|tx| !tx.recipients.is_empty());
        let mut left = size;
        let mut transfer = Transfer::start("BDAT");
        let (idle, peer) = (self.idle(), self.ctx.peer);
        while left > 0 {
            let buf = self.talk.transfer_bytes(&mut transfer, idle).await.inspect_err(|e| too_slow(peer, e))?;
            let n = buf.len().min(left);
            if let Some(tx) = self.tx.as_mut().filter(|_| ready) {
                if !tx.chunks_too_big && tx.chunks.len() + n <= max {
                    tx.chunks.extend(&buf[..n]);
                } else {
                    tx.chunks_too_big = true;
                }
            }
            self.talk.consume(&mut transfer, n);
            left -= n;
        }
        self.talk.transcript().received_data(size);
        if !self.ready_for_data() {
            return Ok(());
        }
        let Some(tx) = self.tx.as_mut() else { return Ok(()) };
        if tx.chunks_too_big {
            self.tx = None;
            self.reply(Reply::new(552, "5.3.4", format!("message too big: the limit is {max} bytes")));
            return Ok(());
        }
        if !last {
            self.reply(Reply::new(250, "2.0.0", format!("{size} bytes received")));
            return Ok(());
        }
        let chunks = std::mem::replace(&mut tx.chunks, Spool::in_memory());
        self.finish_spool(chunks, true).await;
        Ok(())
    }

    /// BURL (RFC 4468): the next piece of the message is what an IMAP URL names, read from the store for
    /// the authenticated user (their own mail, or a URL authorised for `submit+` them); LAST ends it as
    /// BDAT LAST would. A URL that cannot be read ends the transaction.
    async fn burl(&mut self, uri: &str, last: bool) {
        let Some((id, name)) = self.auth_id.clone() else {
            return self.reply(Reply::new(530, "5.7.0", "authenticate first: BURL reads your mailbox"));
        };
        if !self.ready_for_data() {
            return;
        }
        if !uri.to_ascii_lowercase().starts_with("imap://") {
            return self.reply(Reply::new(554, "5.7.8", "only imap:// URLs are read here"));
        }
        let store = self.ctx.shared.store.clone();
        let dir = store.blobs_dir();
        let text = uri.to_string();
        let read = store.read_async(move |c| crate::mailbox::url::resolve(c, &dir, &text, crate::mailbox::url::Requester::Submit { id, name: &name })).await;
        let piece = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(crate::mailbox::url::UrlError::NotAuthorised)) => {
                self.tx = None;
                return self.reply(Reply::new(554, "5.7.0", "the URL is not authorised for you (URLAUTH submit+your name)"));
            }
            Ok(Err(e)) => {
                self.tx = None;
                return self.reply(Reply::new(554, "5.6.6", format!("IMAP URL resolution failed: {e}")));
            }
            Err(e) => {
                tracing::error!(target: "smtp", error = %e, "BURL could not read the store");
                return self.reply(Reply::new(451, "4.3.0", "could not read the message; try again later"));
            }
        };
        let max = self.ctx.settings.smtp.max_message_size as usize;
        let Some(tx) = self.tx.as_mut() else { return };
        if tx.chunks_too_big || tx.chunks.len() + piece.len() > max {
            self.tx = None;
            return self.reply(Reply::new(552, "5.3.4", format!("message too big: the limit is {max} bytes")));
        }
        tx.chunks.extend(&piece);
        self.talk.transcript().received_data(piece.len());
        if !last {
            return self.reply(Reply::new(250, "2.0.0", format!("{} bytes read from the URL", piece.len())));
        }
        let chunks = std::mem::replace(&mut tx.chunks, Spool::in_memory());
        self.finish_spool(chunks, true).await;
    }

    /// Reads a complete message back from its spool (one large message at a time) and delivers it.
    async fn finish_spool(&mut self, spool: Spool, bdat: bool) {
        let _large = if spool.spilled() { Some(spool::finishing().await) } else { None };
        let read = tokio::task::spawn_blocking(move || spool.into_bytes()).await.map_err(std::io::Error::other).and_then(|r| r);
        match read {
            Ok(body) => {
                let body = if bdat { normalise_line_endings(&body) } else { body };
                self.finish(body).await;
            }
            Err(e) => {
                self.tx = None;
                tracing::error!(target: "smtp", error = %e, "could not spool a message");
                self.reply(Reply::new(451, "4.3.0", "could not store the message; try again later"));
            }
        }
    }

    /// The spam filter's look at a stranger's message ([`crate::spam::filter`]): the message with our
    /// `Authentication-Results:` and `X-Spam-*` fields on top and what delivery is to do with it, or None
    /// when it was refused (the reply is out). Logged-in users and trusted networks are not checked.
    async fn check_sender(&mut self, sender: &str, recipients: &[Recipient], body: Vec<u8>) -> Option<(Vec<u8>, SpamVerdict)> {
        let settings = self.ctx.settings.clone();
        if self.may_relay() || !settings.spam.any_check() {
            return Some((body, SpamVerdict::default()));
        }
        let peer = self.ctx.peer;
        let who = crate::spam::filter::Inbound { ip: peer.ip(), helo: self.helo.as_deref().unwrap_or(""), sender, recipients, collected: false };
        let (outcome, summary) = crate::spam::filter::check(&self.ctx.shared.store, &self.ctx.shared.auth, &settings, &who, body).await;
        match outcome {
            Outcome::Refuse { code, status, text } => {
                tracing::warn!(target: "security", %peer, from = %sender, results = %summary, "refused: {text}");
                self.reply(Reply::new(code, status, text));
                None
            }
            Outcome::Accept { message, verdict } => {
                let action = format!("{:?}", verdict.action).to_lowercase();
                tracing::info!(target: "mail", %peer, from = %sender, results = %summary, action = %action, "checked");
                Some((message, verdict))
            }
        }
    }

    /// DKIM-signs mail from a logged-in user or a trusted network that leaves this server, when its From:
    /// domain is local (the domain's keys are made the first time: [`crate::auth::dkim`]).
    async fn sign_own(&mut self, recipients: &[Recipient], body: Vec<u8>) -> Vec<u8> {
        let leaves = recipients.iter().any(|r| !matches!(r, Recipient::Local { .. }));
        if !leaves || !self.may_relay() {
            return body;
        }
        let Some(domain) = crate::auth::dkim::from_domain(&body) else { return body };
        let d = domain.clone();
        let local = self.ctx.shared.store.read_async(move |c| crate::users::is_local_domain(c, &d)).await;
        if !matches!(local, Ok(true)) {
            return body;
        }
        let keys = match crate::auth::dkim::ensure(&self.ctx.shared.store, &domain).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(target: "mail", %domain, error = %e, "no DKIM key: the message leaves unsigned");
                return body;
            }
        };
        let signatures = crate::auth::dkim::sign(&keys, &body);
        let mut out = signatures.into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Stamps and delivers the message; the 250 goes out only after the durable commit.
    async fn finish(&mut self, body: Vec<u8>) {
        let Some(tx) = self.tx.take() else { return };
        if super::stamp::looping(&body) {
            tracing::warn!(target: "mail", from = %tx.sender, peer = %self.ctx.peer, "refused: more than {} Received headers (a mail loop)", super::stamp::MAX_RECEIVED);
            self.reply(Reply::new(554, "5.4.6", format!("routing loop detected: more than {} Received headers", super::stamp::MAX_RECEIVED)));
            return;
        }
        let Some((body, spam)) = self.check_sender(&tx.sender, &tx.recipients, body).await else { return };
        let body = self.sign_own(&tx.recipients, body).await;
        let id = message_id();
        let protocol = match (self.ctx.tls_active, self.auth_user.is_some()) {
            (false, false) => "ESMTP",
            (true, false) => "ESMTPS",
            (false, true) => "ESMTPA",
            (true, true) => "ESMTPSA",
        };
        let single = match tx.recipients.as_slice() {
            [Recipient::Local { address, .. }] | [Recipient::Remote { address }] | [Recipient::Forward { address, .. }] => Some(address.as_str()),
            _ => None,
        };
        let trace = Trace {
            helo: self.helo.as_deref().unwrap_or("unknown"),
            peer: self.ctx.peer.ip(),
            server_name: &self.ctx.settings.general.server_name,
            protocol,
            auth_user: self.auth_user.as_deref(),
            id: &id,
            for_recipient: single,
        };
        let message = stamp(&trace, body);
        let size = message.len();
        let envelope = Envelope { sender: tx.sender.clone(), recipients: tx.recipients, auth_user: self.auth_user.clone(), dsn: tx.dsn, spam };
        let count = envelope.recipients.len();
        match dsn::deliver_and_report(&self.ctx.shared.store, &self.ctx.settings.general.server_name, &id, envelope, message).await {
            Ok(receipt) => {
                if receipt.queued > 0 || receipt.reports > 0 {
                    self.ctx.shared.queue_wake.notify_one();
                }
                tracing::info!(target: "mail", id = %id, from = %tx.sender, recipients = count, size,
                    local = receipt.local, queued = receipt.queued, quarantined = receipt.quarantined, peer = %self.ctx.peer, "message received");
                self.reply(Reply::new(250, "2.0.0", format!("OK: queued as {id}")));
            }
            Err(e) => {
                tracing::error!(target: "smtp", error = %e, "could not store a message");
                self.reply(Reply::new(451, "4.3.0", "could not store the message; try again later"));
            }
        }
    }
}

fn parse_error(e: ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "command not recognized"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        ParseError::InvalidRecipientAddress => Reply::new(501, "5.1.3", "bad recipient address syntax"),
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("syntax: {syntax}")),
        ParseError::InvalidParameter { param } => Reply::new(501, "5.5.4", format!("invalid parameter {param}")),
        ParseError::UnsupportedParameter { param } => Reply::new(555, "5.5.4", format!("unsupported parameter {param}")),
        ParseError::NeedsMoreData { .. } | ParseError::ResponseTooLong | ParseError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "command line not understood")
        }
    }
}

/// A short id unique within this server: time plus a counter.
fn message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    format!("{now:x}{:04x}", COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

/// A DATA or BDAT transfer that missed its deadline (see [`Transfer`]) is worth a line in the log.
fn too_slow(peer: std::net::SocketAddr, e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::TimedOut {
        tracing::info!(target: "smtp", %peer, "closing: {e}");
    }
}
