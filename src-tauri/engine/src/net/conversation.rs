//! The session kit: what an SMTP, POP3 or IMAP conversation does with its connection, written once.
//!
//! A [`Conversation`] owns the connection's reader and the replies waiting to be sent, and keeps the
//! bounds every protocol needs:
//! - **bounded output**: replies collect in [`Conversation::out`] and go out when the client waits for
//!   them, or as soon as more than [`super::OUTPUT_BOUND`] bytes wait (a client that pipelines much and
//!   reads nothing holds no more than that); a client that does not read within [`super::WRITE_TIMEOUT`]
//!   is dropped;
//! - **deadlines**: a line is waited for at most the idle time, and until a login at most until the
//!   absolute login deadline; a message transfer (DATA, BDAT) has a deadline that grows with its size
//!   ([`Transfer`]); so one byte a minute does not hold a slot;
//! - **the STARTTLS upgrade**, dropping whatever the client pipelined after the command;
//! - **the error count**: each protocol counts its error replies here and says goodbye in its own words
//!   once [`Conversation::too_many_errors`]; failed logins likewise ([`MAX_LOGIN_FAILURES`]);
//! - **the transcript** of what was said (the session log), with secrets masked.
//!
//! The protocol keeps only its own words: reply formats and the goodbye texts.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::line::{self, LineEvent};
use super::tls::TlsManager;
use super::transcript::Transcript;
use super::BoxStream;

/// Failed logins tolerated in one session (each also counts towards the address's ban).
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// One client connection as a protocol session sees it.
pub struct Conversation {
    reader: BufReader<BoxStream>,
    /// Replies not yet sent.
    pub out: Vec<u8>,
    transcript: Transcript,
    errors: u32,
    max_errors: u32,
    login_failures: u32,
    /// Until a login, the session ends at this instant.
    login_by: Option<Instant>,
}

impl Conversation {
    /// A conversation that tolerates `max_errors` error replies and, if `login_window` is given, ends
    /// that long after connecting unless someone logged in.
    pub fn new(stream: BoxStream, transcript: Transcript, max_errors: u32, login_window: Option<Duration>) -> Conversation {
        Conversation {
            reader: BufReader::new(stream),
            out: Vec::new(),
            transcript,
            errors: 0,
            max_errors,
            login_failures: 0,
            login_by: login_window.map(|w| Instant::now() + w),
        }
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    // ----- errors -----

    /// Counts one error reply.
    pub fn error(&mut self) {
        self.errors += 1;
    }

    /// The client has had its last chance: the protocol says goodbye and closes.
    pub fn too_many_errors(&self) -> bool {
        self.errors >= self.max_errors
    }

    /// Counts a refused login (done by [`super::SessionContext::check_login`]).
    pub fn login_refused(&mut self) {
        self.login_failures += 1;
    }

    /// The session has used up its [`MAX_LOGIN_FAILURES`] tries: the protocol closes it.
    pub fn too_many_login_failures(&self) -> bool {
        self.login_failures >= MAX_LOGIN_FAILURES
    }

    // ----- the login deadline -----

    /// Someone logged in: the absolute deadline is lifted, only the idle time counts from now on.
    pub fn logged_in(&mut self) {
        self.login_by = None;
    }

    /// Still before a login (and so under the absolute deadline).
    pub fn logging_in(&self) -> bool {
        self.login_by.is_some()
    }

    /// When the next read must have come: `idle` from now, but never past the login deadline.
    pub fn deadline(&self, idle: Duration) -> Instant {
        let idle_end = Instant::now() + idle;
        match self.login_by {
            Some(by) => by.min(idle_end),
            None => idle_end,
        }
    }

    // ----- output -----

    /// Sends what waits, or fails if the client does not take it within [`super::WRITE_TIMEOUT`].
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.transcript.sent(&out);
            super::write_all(self.reader.get_mut(), &out).await?;
        }
        Ok(())
    }

    /// Before reading the next command: sends the replies if the client has nothing more pipelined (it
    /// waits for them), or if too much waits.
    pub async fn flush_before_reading(&mut self) -> std::io::Result<()> {
        if self.reader.buffer().is_empty() || self.out.len() > super::OUTPUT_BOUND {
            self.flush().await?;
        }
        Ok(())
    }

    /// In the middle of a long answer: sends what waits once it passes the bound.
    pub async fn flush_if_over_bound(&mut self) -> std::io::Result<()> {
        if self.out.len() > super::OUTPUT_BOUND {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what waits and closes our side.
    pub async fn close(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        let _ = self.reader.get_mut().shutdown().await;
        Ok(())
    }

    // ----- input -----

    /// The next command line of at most `max` bytes, within `idle` (and the login deadline), recorded in
    /// the transcript.
    pub async fn read_line(&mut self, max: u64, idle: Duration, shutdown: &CancellationToken) -> std::io::Result<LineEvent> {
        let event = self.read_raw_line(max, idle, shutdown).await?;
        if let LineEvent::Line(l) = &event {
            self.transcript.received(l);
        }
        Ok(event)
    }

    /// Like [`Conversation::read_line`] for an answer that carries a password (a SASL exchange): the
    /// transcript shows only that something came.
    pub async fn read_secret_line(&mut self, max: u64, idle: Duration, shutdown: &CancellationToken) -> std::io::Result<LineEvent> {
        let event = self.read_raw_line(max, idle, shutdown).await?;
        if matches!(event, LineEvent::Line(_)) {
            self.transcript.received_secret();
        }
        Ok(event)
    }

    async fn read_raw_line(&mut self, max: u64, idle: Duration, shutdown: &CancellationToken) -> std::io::Result<LineEvent> {
        let wait = self.deadline(idle).saturating_duration_since(Instant::now());
        line::read_line(&mut self.reader, max, wait, shutdown).await
    }

    /// The buffered reader itself, for what is not line by line: message data (DATA, BDAT) and IMAP's
    /// literal framing. The caller keeps to [`Conversation::deadline`].
    pub fn reader(&mut self) -> &mut BufReader<BoxStream> {
        &mut self.reader
    }

    /// The next bytes of a message transfer (SMTP DATA or BDAT), waiting at most `idle` and never past
    /// the transfer's deadline (see [`Transfer`]); an error once the deadline passed or the client left.
    /// Mark what was used with [`Conversation::consume`].
    pub async fn transfer_bytes(&mut self, transfer: &mut Transfer, idle: Duration) -> std::io::Result<&[u8]> {
        use tokio::io::AsyncBufReadExt;
        let left = transfer.deadline().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{} transfer too slow", transfer.what)));
        }
        let buf = tokio::time::timeout(left.min(idle), self.reader.fill_buf())
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{} too slow", transfer.what)))??;
        if buf.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("client left during {}", transfer.what)));
        }
        Ok(buf)
    }

    /// Marks `n` bytes from [`Conversation::transfer_bytes`] as used (they count towards the deadline).
    pub fn consume(&mut self, transfer: &mut Transfer, n: usize) {
        use tokio::io::AsyncBufReadExt;
        transfer.received += n;
        self.reader.consume(n);
    }

    // ----- TLS -----

    /// STARTTLS / STLS: sends the replies that wait (the "go ahead"), then swaps the connection for TLS.
    /// Whatever the client pipelined after the command is thrown away unread (RFC 3207 §5).
    pub async fn start_tls(&mut self, tls: &TlsManager) -> std::io::Result<()> {
        self.flush().await?;
        line::upgrade(&mut self.reader, tls).await?;
        self.transcript.note("TLS started");
        Ok(())
    }
}

/// A DATA or BDAT transfer may take [`TRANSFER_BASE`], plus a second for every [`TRANSFER_MIN_RATE`]
/// bytes received: a client sending a byte a minute cannot hold its slot, a slow honest link can.
pub const TRANSFER_BASE: Duration = Duration::from_secs(120);
pub const TRANSFER_MIN_RATE: usize = 1024;

/// One message transfer under way, for its size-scaled deadline.
pub struct Transfer {
    what: &'static str,
    started: Instant,
    received: usize,
}

impl Transfer {
    /// A transfer starting now; `what` names it in errors ("DATA", "BDAT").
    pub fn start(what: &'static str) -> Transfer {
        Transfer { what, started: Instant::now(), received: 0 }
    }

    fn deadline(&self) -> Instant {
        self.started + TRANSFER_BASE + Duration::from_secs((self.received / TRANSFER_MIN_RATE) as u64)
    }

    /// Bytes used so far.
    pub fn received(&self) -> usize {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn conversation(login_window: Option<Duration>) -> (Conversation, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let transcript = Transcript::new(crate::logwriter::LogFile::Imapsvr);
        (Conversation::new(Box::new(ours), transcript, 3, login_window), theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn before_a_login_the_wait_for_a_line_ends_at_the_login_deadline_not_the_idle_time() {
        let (mut talk, _client) = conversation(Some(Duration::from_secs(60)));
        let started = Instant::now();
        let event = talk.read_line(100, Duration::from_secs(1800), &CancellationToken::new()).await.unwrap();
        assert_eq!(event, LineEvent::Idle);
        assert_eq!(started.elapsed().as_secs(), 60, "the 30-minute idle time was cut to the login minute");
        talk.logged_in();
        let started = Instant::now();
        talk.read_line(100, Duration::from_secs(1800), &CancellationToken::new()).await.unwrap();
        assert_eq!(started.elapsed().as_secs(), 1800, "after a login only the idle time counts");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transfer_may_take_longer_the_more_it_has_carried() {
        let (mut talk, mut client) = conversation(None);
        client.write_all(&vec![b'x'; 100 * 1024]).await.unwrap();
        let mut transfer = Transfer::start("DATA");
        let mut got = 0;
        while got < 100 * 1024 {
            let n = talk.transfer_bytes(&mut transfer, Duration::from_secs(600)).await.unwrap().len();
            talk.consume(&mut transfer, n);
            got += n;
        }
        // 100 KB earned 100 s on top of the base: the wait for more ends then, with an error.
        let started = Instant::now();
        let e = talk.transfer_bytes(&mut transfer, Duration::from_secs(600)).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), TRANSFER_BASE.as_secs() + 100);
    }

    #[tokio::test]
    async fn error_replies_and_refused_logins_are_counted_to_their_limits() {
        let (mut talk, _client) = conversation(None);
        for _ in 0..2 {
            talk.error();
            talk.login_refused();
        }
        assert!(!talk.too_many_errors() && !talk.too_many_login_failures());
        talk.error();
        talk.login_refused();
        assert!(talk.too_many_errors() && talk.too_many_login_failures());
    }
}
