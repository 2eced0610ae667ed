//! The POP3 client of the mail collector (RFC 1939, STLS from RFC 2595, SASL PLAIN from RFC 5034, APOP):
//! connect with the collector's security, log in, list the mailbox by UIDL and size, fetch, mark for
//! deletion, and QUIT — deletions happen only at a clean QUIT, so a dropped connection deletes nothing.
//!
//! Every read is bounded: a reply line at most [`MAX_LINE`] bytes, a listing at most [`MAX_LISTED`]
//! entries, a message at most the size the caller allows (the rest is refused, not buffered), and each
//! step within [`STEP_TIMEOUT`]. The session log `pop3clt.log` shows the dialogue with the password and
//! the message data left out.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::net::transcript::Transcript;
use crate::net::BoxStream;

/// Longest reply line read (RFC 1939 allows 512 octets; servers send longer greetings and UIDLs).
pub const MAX_LINE: u64 = 4096;
/// Most messages read from one listing.
pub const MAX_LISTED: usize = 200_000;
/// Time for one command's answer (a RETR's answer may take longer: see [`Pop3::retr`]).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of one listing (UIDL, LIST, CAPA) read at most.
pub const MAX_LISTING_BYTES: usize = 32 * 1024 * 1024;
/// The slowest transfer a message may take: a server that drips it slower is given up on.
pub const MIN_BYTES_PER_SEC: u64 = 16 * 1024;

/// How long a transfer of up to `bytes` may take in all.
pub fn transfer_time(bytes: u64) -> Duration {
    STEP_TIMEOUT + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    None,
    /// TLS from the first byte (port 995).
    Tls,
    /// STLS, and fail if the server does not offer it.
    Starttls,
    /// STLS if the server offers it, else carry on in plain text.
    StarttlsIfAvailable,
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// SASL PLAIN when the server lists it, else USER/PASS.
    Auto,
    UserPass,
    Plain,
    /// APOP: the password never crosses the wire, but the server must offer a timestamp.
    Apop,
}

/// Where and who.
pub struct Account<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub security: Security,
    pub login: Login,
    /// Check the server's certificate against the system's roots (off for a self-signed test server).
    pub verify_certificate: bool,
    /// The bandwidth pool the connection's traffic is counted in and limited by, if any.
    pub shaper: Option<std::sync::Arc<crate::bandwidth::shaper::Shaper>>,
}

/// The TCP connection, within the step's time, under the collector's bandwidth pool when it has one.
pub(super) async fn open(account: &Account<'_>) -> Result<BoxStream> {
    let tcp = tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect((account.host, account.port)))
        .await
        .map_err(|_| Pop3Error::Connection(format!("{}:{} did not answer within {} s", account.host, account.port, STEP_TIMEOUT.as_secs())))?
        .map_err(|e| Pop3Error::Connection(format!("{}:{}: {e}", account.host, account.port)))?;
    let _ = tcp.set_nodelay(true);
    let raw: BoxStream = match &account.shaper {
        Some(shaper) => Box::new(crate::bandwidth::shaper::Throttled::new(tcp, shaper.clone())),
        None => Box::new(tcp),
    };
    Ok(if account.security == Security::Tls { Box::new(tls(raw, account).await?) } else { raw })
}

/// A failure, worded for the collector list and the error log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Error {
    /// Could not connect, or the connection broke.
    Connection(String),
    /// TLS could not be set up.
    Tls(String),
    /// The server refused the login.
    Login(String),
    /// The server answered something we cannot use.
    Protocol(String),
}

impl std::fmt::Display for Pop3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pop3Error::Connection(m) => write!(f, "connection: {m}"),
            Pop3Error::Tls(m) => write!(f, "TLS: {m}"),
            Pop3Error::Login(m) => write!(f, "login refused: {m}"),
            Pop3Error::Protocol(m) => write!(f, "{m}"),
        }
    }
}

type Result<T> = std::result::Result<T, Pop3Error>;

/// One message of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub number: u32,
    pub uidl: String,
    pub size: u64,
}

/// A logged-in POP3 session.
pub struct Pop3 {
    stream: BufReader<BoxStream>,
    transcript: Transcript,
}

fn io_error(e: std::io::Error) -> Pop3Error {
    Pop3Error::Connection(e.to_string())
}

impl Pop3 {
    /// Connects, secures and logs in.
    pub async fn connect(account: &Account<'_>, transcript: Transcript) -> Result<Pop3> {
        transcript.note(&format!("connecting to {}:{}", account.host, account.port));
        let stream = open(account).await?;
        let mut pop = Pop3 { stream: BufReader::new(stream), transcript };
        let greeting = pop.reply().await?;
        if account.security == Security::Tls {
            pop.transcript.note("TLS started");
        }
        let timestamp = apop_timestamp(&greeting);
        let mut capabilities = pop.capabilities().await;
        if matches!(account.security, Security::Starttls | Security::StarttlsIfAvailable) {
            if capabilities.iter().any(|c| c.eq_ignore_ascii_case("STLS")) {
                pop.command("STLS").await?;
                let Pop3 { stream, transcript } = pop;
                // Nothing may be buffered past the STLS answer (RFC 2595: the server sends nothing more).
                if !stream.buffer().is_empty() {
                    return Err(Pop3Error::Protocol("the server sent data after its STLS answer".into()));
                }
                let secured = tls(stream.into_inner(), account).await?;
                pop = Pop3 { stream: BufReader::new(Box::new(secured)), transcript };
                pop.transcript.note("TLS started");
                capabilities = pop.capabilities().await;
            } else if account.security == Security::Starttls {
                return Err(Pop3Error::Tls(format!("{} does not offer STLS", account.host)));
            }
        }
        pop.login(account, &capabilities, timestamp.as_deref()).await?;
        Ok(pop)
    }

    async fn login(&mut self, account: &Account<'_>, capabilities: &[String], timestamp: Option<&str>) -> Result<()> {
        let sasl_plain = capabilities.iter().any(|c| {
            let mut words = c.split_ascii_whitespace();
            words.next().is_some_and(|w| w.eq_ignore_ascii_case("SASL")) && words.any(|w| w.eq_ignore_ascii_case("PLAIN"))
        });
        let refused = |e: Pop3Error| match e {
            Pop3Error::Protocol(m) => Pop3Error::Login(m),
            other => other,
        };
        match account.login {
            Login::Apop => {
                let Some(timestamp) = timestamp else {
                    return Err(Pop3Error::Login(format!("{} does not offer APOP (no timestamp in its greeting)", account.host)));
                };
                use md5::Digest;
                let digest = md5::Md5::digest(format!("{timestamp}{}", account.password).as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                self.command(&format!("APOP {} {hex}", clean(account.user))).await.map_err(refused)?;
            }
            Login::Plain | Login::Auto if sasl_plain || account.login == Login::Plain => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", account.user, account.password));
                self.command(&format!("AUTH PLAIN {token}")).await.map_err(refused)?;
            }
            _ => {
                self.command(&format!("USER {}", clean(account.user))).await.map_err(refused)?;
                self.command(&format!("PASS {}", clean(account.password))).await.map_err(refused)?;
            }
        }
        Ok(())
    }

    /// CAPA's list, or nothing when the server has no CAPA (RFC 2449 is optional).
    async fn capabilities(&mut self) -> Vec<String> {
        if self.command("CAPA").await.is_err() {
            return Vec::new();
        }
        self.listing(1000).await.unwrap_or_default()
    }

    /// Sends a command and reads its `+OK` line (the text after it); `-ERR` is a [`Pop3Error::Protocol`].
    pub async fn command(&mut self, line: &str) -> Result<String> {
        self.transcript.sent(format!("{line}\r\n").as_bytes());
        let stream = self.stream.get_mut();
        tokio::time::timeout(STEP_TIMEOUT, async {
            stream.write_all(line.as_bytes()).await?;
            stream.write_all(b"\r\n").await?;
            stream.flush().await
        })
        .await
        .map_err(|_| Pop3Error::Connection("the server stopped reading".into()))?
        .map_err(io_error)?;
        self.reply().await
    }

    async fn reply(&mut self) -> Result<String> {
        let line = self.line().await?;
        self.transcript.received(line.as_bytes());
        if let Some(rest) = line.strip_prefix("+OK") {
            Ok(rest.trim().to_string())
        } else if let Some(rest) = line.strip_prefix("-ERR") {
            Err(Pop3Error::Protocol(format!("the server said: {}", rest.trim())))
        } else {
            Err(Pop3Error::Protocol(format!("not a POP3 answer: {}", line.chars().take(200).collect::<String>())))
        }
    }

    /// One line without its line end, at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<String> {
        read_line(&mut self.stream, MAX_LINE).await
    }

    /// The lines of a multi-line answer up to its ".", unstuffed; at most `max` of them.
    async fn listing(&mut self, max: usize) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut bytes = 0;
        loop {
            let line = self.line().await?;
            if line == "." {
                return Ok(lines);
            }
            bytes += line.len() + 2;
            if lines.len() >= max || bytes > MAX_LISTING_BYTES {
                return Err(Pop3Error::Protocol(format!("a listing of more than {max} lines or {MAX_LISTING_BYTES} bytes")));
            }
            lines.push(line.strip_prefix('.').map(str::to_string).unwrap_or(line));
        }
    }

    /// Every message with its unique id and size (UIDL and LIST). A server without UIDL cannot be
    /// collected from safely: nothing would tell a message already collected from a new one.
    pub async fn list(&mut self) -> Result<Vec<Listed>> {
        self.command("UIDL")
            .await
            .map_err(|e| Pop3Error::Protocol(format!("the server has no UIDL, so messages collected before cannot be told apart ({e})")))?;
        let uidls = self.listing(MAX_LISTED).await?;
        self.transcript.note(&format!("{} messages listed", uidls.len()));
        let mut out = Vec::with_capacity(uidls.len());
        for line in &uidls {
            let mut w = line.split_ascii_whitespace();
            let (Some(Ok(number)), Some(uidl)) = (w.next().map(str::parse::<u32>), w.next()) else {
                return Err(Pop3Error::Protocol(format!("an unreadable UIDL line: {}", line.chars().take(100).collect::<String>())));
            };
            // RFC 1939: 1 to 70 characters 0x21..0x7E.
            if uidl.len() > 70 || !uidl.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(Pop3Error::Protocol(format!("message {number} has an invalid unique id")));
            }
            out.push(Listed { number, uidl: uidl.to_string(), size: 0 });
        }
        drop(uidls);
        self.command("LIST").await?;
        let sizes = self.listing(MAX_LISTED).await?;
        let sizes: std::collections::HashMap<u32, u64> = sizes
            .iter()
            .filter_map(|l| {
                let mut w = l.split_ascii_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .collect();
        for m in &mut out {
            m.size = sizes.get(&m.number).copied().unwrap_or(0);
        }
        Ok(out)
    }

    /// Fetches message `number`, unstuffed, with CRLF line ends; refuses (and drops the connection's
    /// usefulness) past `limit` bytes. The answer may take `STEP_TIMEOUT` per 64 KiB line-chunk read.
    pub async fn retr(&mut self, number: u32, limit: u64) -> Result<Vec<u8>> {
        self.command(&format!("RETR {number}")).await?;
        let mut message = Vec::new();
        let mut line = Vec::new();
        // Each line within a step's time, and the whole message within its transfer time.
        let deadline = tokio::time::Instant::now() + transfer_time(limit);
        loop {
            line.clear();
            let step = (tokio::time::Instant::now() + STEP_TIMEOUT).min(deadline);
            let read = tokio::time::timeout_at(step, (&mut self.stream).take(limit + 3).read_until(b'\n', &mut line))
                .await
                .map_err(|_| Pop3Error::Connection(format!("message {number} stopped arriving, or arrived slower than {} KB/s", MIN_BYTES_PER_SEC / 1024)))?
                .map_err(io_error)?;
            if read == 0 {
                return Err(Pop3Error::Connection(format!("the connection closed during message {number}")));
            }
            let body = line.strip_suffix(b"\n").ok_or_else(|| Pop3Error::Protocol(format!("message {number} is larger than {limit} bytes")))?;
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            if body == b"." {
                break;
            }
            let body = body.strip_prefix(b".").unwrap_or(body);
            if (message.len() + body.len() + 2) as u64 > limit {
                return Err(Pop3Error::Protocol(format!("message {number} is larger than {limit} bytes")));
            }
            message.extend_from_slice(body);
            message.extend_from_slice(b"\r\n");
        }
        self.transcript.received_data(message.len());
        Ok(message)
    }

    /// The header section of message `number` (TOP n 0), at most [`routing::MAX_HEADER`] bytes read.
    ///
    /// [`routing::MAX_HEADER`]: super::routing::MAX_HEADER
    pub async fn top(&mut self, number: u32) -> Result<Vec<u8>> {
        self.command(&format!("TOP {number} 0")).await?;
        let lines = self.listing(super::routing::MAX_HEADER / 4).await?;
        let mut out = Vec::new();
        for line in lines {
            if out.len() + line.len() + 2 > super::routing::MAX_HEADER {
                break;
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }

    /// Marks message `number` for deletion at QUIT.
    pub async fn dele(&mut self, number: u32) -> Result<()> {
        self.command(&format!("DELE {number}")).await.map(|_| ())
    }

    /// Ends the session: the server deletes what was marked.
    pub async fn quit(mut self) -> Result<()> {
        self.command("QUIT").await?;
        self.transcript.note("closed");
        Ok(())
    }
}

/// One line from the server without its line end, at most `max` bytes, within [`STEP_TIMEOUT`] (the IMAP
/// client reads its response lines the same way).
pub(super) async fn read_line(stream: &mut BufReader<BoxStream>, max: u64) -> Result<String> {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(STEP_TIMEOUT, stream.take(max).read_until(b'\n', &mut buf))
        .await
        .map_err(|_| Pop3Error::Connection(format!("no answer within {} s", STEP_TIMEOUT.as_secs())))?
        .map_err(io_error)?;
    if read == 0 {
        return Err(Pop3Error::Connection("the server closed the connection".into()));
    }
    if buf.last() != Some(&b'\n') {
        return Err(Pop3Error::Protocol(format!("an answer line longer than {max} bytes")));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The `<...>` of a greeting that offers APOP.
fn apop_timestamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let end = start + greeting[start..].find('>')?;
    let stamp = &greeting[start..=end];
    stamp.contains('@').then(|| stamp.to_string())
}

/// A user name or password must not carry a line break into the command.
fn clean(value: &str) -> String {
    value.chars().filter(|c| !matches!(c, '\r' | '\n')).collect()
}

pub(super) async fn tls<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(tcp: S, account: &Account<'_>) -> Result<tokio_rustls::client::TlsStream<S>> {
    let connector = mail_send::smtp::tls::build_tls_connector(!account.verify_certificate).map_err(|e| Pop3Error::Tls(e.to_string()))?;
    let name = rustls_pki_types::ServerName::try_from(account.host.to_string()).map_err(|e| Pop3Error::Tls(format!("{}: {e}", account.host)))?;
    tokio::time::timeout(STEP_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| Pop3Error::Tls("the handshake did not finish".into()))?
        .map_err(|e| Pop3Error::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile server on loopback: it greets, answers every command with `+OK`, and answers `trigger`
    /// with `reply` (sent in 64 KiB pieces as long as the client reads).
    async fn hostile(trigger: &'static str, reply: Vec<u8>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"+OK hello\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                let answer: Vec<u8> = if line.starts_with(trigger) { reply.clone() } else if line == "CAPA" { b"-ERR no\r\n".to_vec() } else { b"+OK\r\n".to_vec() };
                for piece in answer.chunks(65536) {
                    if write.write_all(piece).await.is_err() {
                        return;
                    }
                }
            }
        });
        port
    }

    async fn session(port: u16) -> Pop3 {
        let account = Account { host: "127.0.0.1", port, user: "u", password: "p", security: Security::None, login: Login::UserPass, verify_certificate: false, shaper: None };
        Pop3::connect(&account, Transcript::new(crate::logwriter::LogFile::Pop3clt)).await.unwrap()
    }

    #[tokio::test]
    async fn a_hostile_server_gets_an_error_not_our_memory() {
        // An endless line.
        let mut pop = session(hostile("UIDL", vec![b'x'; 10 * 1024 * 1024]).await).await;
        assert!(matches!(pop.list().await, Err(Pop3Error::Protocol(m)) if m.contains("longer than")));
        // A listing of more entries than allowed.
        let mut many = b"+OK\r\n".to_vec();
        for i in 0..=MAX_LISTED {
            many.extend_from_slice(format!("{i} u{i}\r\n").as_bytes());
        }
        let mut pop = session(hostile("UIDL", many).await).await;
        assert!(matches!(pop.list().await, Err(Pop3Error::Protocol(m)) if m.contains("a listing of more than")));
        // A message longer than the limit, and one with a line longer than the limit.
        let mut big = b"+OK\r\n".to_vec();
        for _ in 0..2000 {
            big.extend_from_slice(&[b'y'; 998]);
            big.extend_from_slice(b"\r\n");
        }
        let mut pop = session(hostile("RETR", big).await).await;
        assert!(matches!(pop.retr(1, 1_000_000).await, Err(Pop3Error::Protocol(m)) if m.contains("larger than")));
        let mut pop = session(hostile("RETR", [b"+OK\r\n".to_vec(), vec![b'z'; 3_000_000]].concat()).await).await;
        assert!(matches!(pop.retr(1, 1_000_000).await, Err(Pop3Error::Protocol(m)) if m.contains("larger than")));
        // An invalid unique id.
        let mut pop = session(hostile("UIDL", b"+OK\r\n1 has\x01control\r\n.\r\n".to_vec()).await).await;
        assert!(matches!(pop.list().await, Err(Pop3Error::Protocol(m)) if m.contains("invalid unique id")));
    }

    #[test]
    fn an_apop_timestamp_is_the_bracketed_part_with_an_at() {
        assert_eq!(apop_timestamp("+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>").as_deref(), Some("<1896.697170952@dbc.mtview.ca.us>"));
        assert_eq!(apop_timestamp("+OK ready <nothing here>"), None);
        assert_eq!(apop_timestamp("+OK ready"), None);
        assert_eq!(clean("pass\r\nDELE 1"), "passDELE 1");
    }
}
