//! The IMAP client of the mail collector (RFC 9051/3501, the parts a collector needs): connect with the
//! collector's security (STARTTLS or implicit TLS), log in (AUTHENTICATE PLAIN where offered, else
//! LOGIN), SELECT one folder, list its messages by UID and size, fetch each with BODY.PEEK[] (so nothing
//! is marked seen at the ISP), and afterwards move a message to another folder (MOVE, or COPY + \Deleted +
//! UID EXPUNGE) or delete it (\Deleted + UID EXPUNGE, or EXPUNGE without UIDPLUS).
//!
//! Bounds: a response line at most [`MAX_LINE`] bytes outside literals, a literal at most what the caller
//! allows, at most [`super::pop3::MAX_LISTED`] messages listed, each step within
//! [`super::pop3::STEP_TIMEOUT`]. Folder names are ASCII (no modified UTF-7) and quoted.

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

use super::pop3::{transfer_time, Account, Listed, Login, Pop3Error, Security, MAX_LISTED, MAX_LISTING_BYTES, STEP_TIMEOUT};
use crate::net::transcript::Transcript;
use crate::net::BoxStream;

/// Longest response line read, outside literals.
pub const MAX_LINE: u64 = 64 * 1024;
/// Largest literal read outside a message fetch.
const MAX_OTHER_LITERAL: u64 = 64 * 1024;

type Result<T> = std::result::Result<T, Pop3Error>;

/// One untagged response: its text with each literal shown as `{N}`, and the literals' bytes.
struct Untagged {
    text: String,
    literals: Vec<Vec<u8>>,
}

/// A logged-in IMAP session with a folder selected.
pub struct Imap {
    stream: BufReader<BoxStream>,
    transcript: Transcript,
    tag: u32,
    capabilities: Vec<String>,
    /// UIDVALIDITY of the selected folder.
    pub uid_validity: u64,
    exists: u64,
}

fn io_error(e: std::io::Error) -> Pop3Error {
    Pop3Error::Connection(e.to_string())
}

/// A folder name as an IMAP quoted string; only printable ASCII.
pub fn quoted(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 200 || !name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\"")))
}

impl Imap {
    /// Connects, secures, logs in and selects `folder`.
    pub async fn connect(account: &Account<'_>, folder: &str, transcript: Transcript) -> Result<Imap> {
        transcript.note(&format!("connecting to {}:{}", account.host, account.port));
        let stream = super::pop3::open(account).await?;
        let mut imap = Imap { stream: BufReader::new(stream), transcript, tag: 0, capabilities: Vec::new(), uid_validity: 0, exists: 0 };
        let greeting = imap.read_untagged(MAX_OTHER_LITERAL).await?;
        if account.security == Security::Tls {
            imap.transcript.note("TLS started");
        }
        if !greeting.text.starts_with("* OK") {
            return Err(Pop3Error::Protocol(format!("the server's greeting: {}", greeting.text.chars().take(200).collect::<String>())));
        }
        imap.refresh_capabilities().await?;
        if matches!(account.security, Security::Starttls | Security::StarttlsIfAvailable) {
            if imap.has("STARTTLS") {
                imap.command("STARTTLS", MAX_OTHER_LITERAL).await?;
                if !imap.stream.buffer().is_empty() {
                    return Err(Pop3Error::Protocol("the server sent data after its STARTTLS answer".into()));
                }
                let Imap { stream, transcript, tag, .. } = imap;
                let secured = super::pop3::tls(stream.into_inner(), account).await?;
                imap = Imap { stream: BufReader::new(Box::new(secured)), transcript, tag, capabilities: Vec::new(), uid_validity: 0, exists: 0 };
                imap.transcript.note("TLS started");
                imap.refresh_capabilities().await?;
            } else if account.security == Security::Starttls {
                return Err(Pop3Error::Tls(format!("{} does not offer STARTTLS", account.host)));
            }
        }
        imap.login(account).await?;
        let Some(name) = quoted(folder) else { return Err(Pop3Error::Protocol(format!("the folder name '{folder}' cannot be used (ASCII only)"))) };
        let answers = imap.command(&format!("SELECT {name}"), MAX_OTHER_LITERAL).await?;
        for a in &answers {
            let upper = a.text.to_ascii_uppercase();
            if let Some(i) = upper.find("[UIDVALIDITY ") {
                imap.uid_validity = upper[i + 13..].split(']').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
            }
            if let Some(n) = upper.strip_prefix("* ").and_then(|r| r.strip_suffix(" EXISTS")) {
                imap.exists = n.trim().parse().unwrap_or(0);
            }
        }
        if imap.uid_validity == 0 {
            return Err(Pop3Error::Protocol(format!("the server gave no UIDVALIDITY for {folder}")));
        }
        Ok(imap)
    }

    fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c.eq_ignore_ascii_case(capability))
    }

    async fn refresh_capabilities(&mut self) -> Result<()> {
        let answers = self.command("CAPABILITY", MAX_OTHER_LITERAL).await?;
        self.capabilities = answers
            .iter()
            .filter_map(|a| a.text.strip_prefix("* CAPABILITY "))
            .flat_map(|l| l.split_ascii_whitespace().map(str::to_string))
            .take(500)
            .collect();
        Ok(())
    }

    async fn login(&mut self, account: &Account<'_>) -> Result<()> {
        let refused = |e: Pop3Error| match e {
            Pop3Error::Protocol(m) => Pop3Error::Login(m),
            other => other,
        };
        let plain = self.has("AUTH=PLAIN") && self.has("SASL-IR");
        match account.login {
            Login::Apop => return Err(Pop3Error::Login("APOP is a POP3 login; IMAP has none".into())),
            Login::Plain | Login::Auto if plain || account.login == Login::Plain => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", account.user, account.password));
                self.command(&format!("AUTHENTICATE PLAIN {token}"), MAX_OTHER_LITERAL).await.map_err(refused)?;
            }
            _ => {
                if self.has("LOGINDISABLED") {
                    return Err(Pop3Error::Login(format!("{} does not allow LOGIN on this connection (choose TLS or STARTTLS)", account.host)));
                }
                let quote = |s: &str| format!("\"{}\"", s.replace(['\r', '\n'], "").replace('\\', "\\\\").replace('"', "\\\""));
                self.command(&format!("LOGIN {} {}", quote(account.user), quote(account.password)), MAX_OTHER_LITERAL).await.map_err(refused)?;
            }
        }
        // Capabilities may change after login.
        self.refresh_capabilities().await
    }

    /// Sends a command and reads until its tagged answer; the untagged responses before it. A NO or BAD
    /// is a [`Pop3Error::Protocol`].
    async fn command(&mut self, command: &str, literal_limit: u64) -> Result<Vec<Untagged>> {
        self.tag += 1;
        let tag = format!("c{}", self.tag);
        let line = format!("{tag} {command}\r\n");
        self.transcript.sent(line.as_bytes());
        let stream = self.stream.get_mut();
        tokio::time::timeout(STEP_TIMEOUT, async {
            stream.write_all(line.as_bytes()).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| Pop3Error::Connection("the server stopped reading".into()))?
        .map_err(io_error)?;
        let mut untagged = Vec::new();
        // All the answers to one command: at most the literal allowed and a listing's worth besides, within
        // the time such a transfer may take.
        let budget = literal_limit as usize + MAX_LISTING_BYTES;
        let deadline = tokio::time::Instant::now() + transfer_time(budget as u64);
        let mut bytes = 0;
        loop {
            let response = tokio::time::timeout_at(deadline, self.read_untagged(literal_limit))
                .await
                .map_err(|_| Pop3Error::Connection(format!("the answer to {} arrived slower than {} KB/s", command.split(' ').next().unwrap_or(""), super::pop3::MIN_BYTES_PER_SEC / 1024)))??;
            bytes += response.text.len() + response.literals.iter().map(Vec::len).sum::<usize>();
            if bytes > budget {
                return Err(Pop3Error::Protocol(format!("the answer to one command exceeded {budget} bytes")));
            }
            if let Some(rest) = response.text.strip_prefix(&format!("{tag} ")) {
                let upper = rest.to_ascii_uppercase();
                if upper.starts_with("OK") {
                    return Ok(untagged);
                }
                return Err(Pop3Error::Protocol(format!("the server said: {}", rest.chars().take(300).collect::<String>())));
            }
            if response.text.starts_with("* BYE") && command != "LOGOUT" {
                return Err(Pop3Error::Connection(format!("the server ended the session: {}", response.text.chars().take(300).collect::<String>())));
            }
            if untagged.len() > MAX_LISTED + 100 {
                return Err(Pop3Error::Protocol("too many responses to one command".into()));
            }
            untagged.push(response);
        }
    }

    /// One response: a line, and where it announces a literal `{N}`, the N bytes and the line's rest.
    async fn read_untagged(&mut self, literal_limit: u64) -> Result<Untagged> {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let line = super::pop3::read_line(&mut self.stream, MAX_LINE).await?;
            let literal = line.strip_suffix('}').and_then(|l| l.rfind('{').map(|i| (i, &l[i + 1..]))).and_then(|(i, n)| Some((i, n.trim_end_matches('+').parse::<u64>().ok()?)));
            text.push_str(&line);
            let Some((_, size)) = literal else {
                if literals.is_empty() {
                    self.transcript.received(line.as_bytes());
                } else {
                    self.transcript.received(format!("{} <{} bytes in literals>", text.chars().take(200).collect::<String>(), literals.iter().map(Vec::len).sum::<usize>()).as_bytes());
                }
                return Ok(Untagged { text, literals });
            };
            if size > literal_limit {
                return Err(Pop3Error::Protocol(format!("a literal of {size} bytes, more than the {literal_limit} allowed")));
            }
            if literals.len() >= 100 {
                return Err(Pop3Error::Protocol("too many literals in one response".into()));
            }
            let mut data = vec![0u8; size as usize];
            let wait = STEP_TIMEOUT + std::time::Duration::from_secs(size / 65_536);
            tokio::time::timeout(wait, self.stream.read_exact(&mut data))
                .await
                .map_err(|_| Pop3Error::Connection("a literal stopped arriving".into()))?
                .map_err(io_error)?;
            literals.push(data);
        }
    }

    /// Every message of the folder: `uidl` is "UIDVALIDITY.UID", `number` the UID.
    pub async fn list(&mut self) -> Result<Vec<Listed>> {
        if self.exists == 0 {
            return Ok(Vec::new());
        }
        let answers = self.command("UID FETCH 1:* (UID RFC822.SIZE)", MAX_OTHER_LITERAL).await?;
        let mut out = Vec::new();
        for a in &answers {
            let upper = a.text.to_ascii_uppercase();
            if !upper.contains(" FETCH (") {
                continue;
            }
            let number = |key: &str| upper.find(key).and_then(|i| upper[i + key.len()..].split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok());
            let (Some(uid), Some(size)) = (number("UID "), number("RFC822.SIZE ")) else { continue };
            if uid == 0 || uid > u64::from(u32::MAX) {
                continue;
            }
            out.push(Listed { number: uid as u32, uidl: format!("{}.{uid}", self.uid_validity), size });
            if out.len() > MAX_LISTED {
                return Err(Pop3Error::Protocol(format!("a folder of more than {MAX_LISTED} messages")));
            }
        }
        self.transcript.note(&format!("{} messages listed", out.len()));
        Ok(out)
    }

    /// Fetches message `uid` without marking it seen; refuses it past `limit` bytes.
    pub async fn fetch(&mut self, uid: u32, limit: u64) -> Result<Vec<u8>> {
        let answers = self.command(&format!("UID FETCH {uid} BODY.PEEK[]"), limit).await?;
        body_of(answers, uid).ok_or_else(|| Pop3Error::Protocol(format!("message {uid} came back without its body")))
    }

    /// The header section of message `uid`, without marking it seen.
    pub async fn header(&mut self, uid: u32) -> Result<Vec<u8>> {
        let answers = self.command(&format!("UID FETCH {uid} BODY.PEEK[HEADER]"), super::routing::MAX_HEADER as u64).await?;
        body_of(answers, uid).ok_or_else(|| Pop3Error::Protocol(format!("message {uid} came back without its header")))
    }

    /// Moves message `uid` to `folder`.
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<()> {
        let name = quoted(folder).ok_or_else(|| Pop3Error::Protocol(format!("the folder name '{folder}' cannot be used (ASCII only)")))?;
        if self.has("MOVE") {
            self.command(&format!("UID MOVE {uid} {name}"), MAX_OTHER_LITERAL).await?;
            return Ok(());
        }
        self.command(&format!("UID COPY {uid} {name}"), MAX_OTHER_LITERAL).await?;
        self.delete(uid).await
    }

    /// Deletes message `uid` (only that one where the server has UIDPLUS).
    pub async fn delete(&mut self, uid: u32) -> Result<()> {
        self.command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), MAX_OTHER_LITERAL).await?;
        if self.has("UIDPLUS") {
            self.command(&format!("UID EXPUNGE {uid}"), MAX_OTHER_LITERAL).await?;
        } else {
            self.command("EXPUNGE", MAX_OTHER_LITERAL).await?;
        }
        Ok(())
    }

    /// Ends the session.
    pub async fn logout(mut self) -> Result<()> {
        self.command("LOGOUT", MAX_OTHER_LITERAL).await?;
        self.transcript.note("closed");
        Ok(())
    }
}

/// The literal of the FETCH response for `uid` (a server may send other FETCH responses, for other
/// messages, among the answers: they are not taken for this one).
fn body_of(answers: Vec<Untagged>, uid: u32) -> Option<Vec<u8>> {
    let wanted = format!("UID {uid}");
    answers.into_iter().find_map(|a| {
        let upper = a.text.to_ascii_uppercase();
        let at = upper.find(" FETCH (")?;
        let ours = upper[at..].match_indices(&wanted).any(|(i, _)| !upper[at + i + wanted.len()..].starts_with(|c: char| c.is_ascii_digit()));
        if ours {
            a.literals.into_iter().next()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    /// A hostile IMAP server: it answers every command OK (SELECT with a UIDVALIDITY and one message),
    /// and the command starting with `trigger` with `reply` before its OK.
    async fn hostile(trigger: &'static str, reply: Vec<u8>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let _ = write.write_all(b"* OK hello\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
                let mut answer = Vec::new();
                if command.starts_with(trigger) {
                    answer.extend_from_slice(&reply);
                } else if command.starts_with("SELECT") {
                    answer.extend_from_slice(b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n");
                }
                answer.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                for piece in answer.chunks(65536) {
                    if write.write_all(piece).await.is_err() {
                        return;
                    }
                }
            }
        });
        port
    }

    async fn session(port: u16) -> Imap {
        let account = Account { host: "127.0.0.1", port, user: "u", password: "p", security: Security::None, login: Login::UserPass, verify_certificate: false, shaper: None };
        Imap::connect(&account, "INBOX", Transcript::new(crate::logwriter::LogFile::Pop3clt)).await.unwrap()
    }

    #[tokio::test]
    async fn a_hostile_server_gets_an_error_not_our_memory() {
        // A message whose literal is larger than allowed: refused before it is read.
        let mut imap = session(hostile("UID FETCH 5 BODY", b"* 1 FETCH (UID 5 BODY[] {900000000}\r\n".to_vec()).await).await;
        assert!(matches!(imap.fetch(5, 1_000_000).await, Err(Pop3Error::Protocol(m)) if m.contains("more than the 1000000 allowed")));
        // A listing made of many small literals: the answer's budget ends it.
        let piece = format!("* 1 FETCH (UID 1 RFC822.SIZE 10 X {{60000}}\r\n{})\r\n", "a".repeat(60000));
        let mut imap = session(hostile("UID FETCH 1:*", piece.repeat(700).into_bytes()).await).await;
        assert!(matches!(imap.list().await, Err(Pop3Error::Protocol(m)) if m.contains("exceeded")));
        // Another message's FETCH response first: not taken for the one asked for.
        let other = b"* 2 FETCH (UID 55 BODY[] {5}\r\nWRONG)\r\n* 1 FETCH (UID 5 BODY[] {5}\r\nRIGHT)\r\n".to_vec();
        let mut imap = session(hostile("UID FETCH 5 BODY", other).await).await;
        assert_eq!(imap.fetch(5, 1_000_000).await.unwrap(), b"RIGHT");
        // A line without an end.
        let mut imap = session(hostile("UID FETCH 1:*", vec![b'x'; 1_000_000]).await).await;
        assert!(matches!(imap.list().await, Err(Pop3Error::Protocol(m)) if m.contains("longer than")));
    }

    #[test]
    fn folder_names_are_quoted_and_odd_ones_refused() {
        assert_eq!(quoted("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quoted("Archive/\"2026\"").as_deref(), Some("\"Archive/\\\"2026\\\"\""));
        assert_eq!(quoted("Entwürfe"), None);
        assert_eq!(quoted("a\r\nb"), None);
        assert_eq!(quoted(""), None);
    }
}
