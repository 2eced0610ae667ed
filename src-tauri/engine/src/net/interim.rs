//! The interim greeter POP3 and IMAP4 services run until their protocol sessions land (issue 4); SMTP
//! has its own (`crate::smtp`). It speaks just enough of the protocol to be honest with a client: the greeting,
//! capabilities, STARTTLS/STLS where the service offers it, NOOP and QUIT/LOGOUT, and for everything else
//! the protocol's own polite "not available yet" reply. On engine shutdown it says the protocol's goodbye.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::tls::TlsManager;
use super::BoxStream;

/// A client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest command line accepted (RFC 5321's limit; generous for POP3 and IMAP).
pub const MAX_LINE: u64 = 1000;

/// The protocols that still use this greeter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greeter {
    Pop3,
    Imap,
}

pub struct Session {
    pub protocol: Greeter,
    /// The service offers STARTTLS (and has not started TLS yet).
    pub starttls: bool,
    pub tls: Arc<TlsManager>,
    pub shutdown: CancellationToken,
}

enum Reply {
    Continue(String),
    Close(String),
    StartTls(String),
}

impl Session {
    pub async fn run(mut self, stream: BoxStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        super::write_all(reader.get_mut(), self.greeting().as_bytes()).await?;
        loop {
            let mut line = Vec::new();
            let mut limited = (&mut reader).take(MAX_LINE + 1);
            let read = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    drop(limited);
                    let _ = super::write_all(reader.get_mut(), self.goodbye().as_bytes()).await;
                    let _ = reader.get_mut().shutdown().await;
                    return Ok(());
                }
                r = tokio::time::timeout(IDLE_TIMEOUT, limited.read_until(b'\n', &mut line)) => r,
            };
            let n = match read {
                Err(_) => {
                    let _ = super::write_all(reader.get_mut(), self.timeout().as_bytes()).await;
                    return Ok(());
                }
                Ok(r) => r?,
            };
            if n == 0 {
                return Ok(());
            }
            let reply = if line.len() as u64 > MAX_LINE {
                Reply::Close(self.too_long())
            } else {
                self.answer(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']))
            };
            match reply {
                Reply::Continue(text) => super::write_all(reader.get_mut(), text.as_bytes()).await?,
                Reply::Close(text) => {
                    super::write_all(reader.get_mut(), text.as_bytes()).await?;
                    reader.get_mut().shutdown().await?;
                    return Ok(());
                }
                Reply::StartTls(text) => {
                    super::write_all(reader.get_mut(), text.as_bytes()).await?;
                    // into_inner drops whatever the client pipelined after the command: it must not run
                    // as if it had come over TLS.
                    let plain = reader.into_inner();
                    let tls = tokio::time::timeout(super::TLS_HANDSHAKE_TIMEOUT, self.tls.acceptor().accept(plain))
                        .await
                        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
                    self.starttls = false;
                    reader = BufReader::new(Box::new(tls));
                }
            }
        }
    }

    fn greeting(&self) -> String {
        match self.protocol {
            Greeter::Pop3 => "+OK Postroom POP3 server ready\r\n".into(),
            Greeter::Imap => format!("* OK [CAPABILITY {}] Postroom IMAP4 server ready\r\n", self.imap_capabilities()),
        }
    }

    fn goodbye(&self) -> String {
        match self.protocol {
            Greeter::Pop3 => "-ERR [SYS/TEMP] Postroom is shutting down\r\n".into(),
            Greeter::Imap => "* BYE Postroom is shutting down\r\n".into(),
        }
    }

    fn timeout(&self) -> String {
        match self.protocol {
            Greeter::Pop3 => "-ERR idle too long, closing connection\r\n".into(),
            Greeter::Imap => "* BYE idle too long, closing connection\r\n".into(),
        }
    }

    fn too_long(&self) -> String {
        match self.protocol {
            Greeter::Pop3 => "-ERR line too long\r\n".into(),
            Greeter::Imap => "* BYE line too long\r\n".into(),
        }
    }

    fn imap_capabilities(&self) -> &'static str {
        if self.starttls {
            "IMAP4rev1 STARTTLS LOGINDISABLED"
        } else {
            "IMAP4rev1 LOGINDISABLED"
        }
    }

    fn answer(&self, line: &str) -> Reply {
        match self.protocol {
            Greeter::Pop3 => self.answer_pop3(line),
            Greeter::Imap => self.answer_imap(line),
        }
    }

    fn answer_pop3(&self, line: &str) -> Reply {
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "CAPA" => {
                let tls = if self.starttls { "STLS\r\n" } else { "" };
                Reply::Continue(format!("+OK capability list follows\r\n{tls}RESP-CODES\r\nIMPLEMENTATION Postroom\r\n.\r\n"))
            }
            "STLS" if self.starttls => Reply::StartTls("+OK begin TLS negotiation\r\n".into()),
            "NOOP" => Reply::Continue("+OK\r\n".into()),
            "QUIT" => Reply::Close("+OK Postroom POP3 server signing off\r\n".into()),
            _ => Reply::Continue("-ERR [SYS/PERM] Postroom's POP3 mailbox access is not available yet\r\n".into()),
        }
    }

    fn answer_imap(&self, line: &str) -> Reply {
        let mut words = line.split_whitespace();
        // The tag is echoed back: keep it to printable ASCII so a client cannot inject control bytes.
        let tag: String = words.next().unwrap_or("*").chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
        let tag = if tag.is_empty() { "*".to_string() } else { tag };
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        match command.as_str() {
            "CAPABILITY" => Reply::Continue(format!(
                "* CAPABILITY {}\r\n{tag} OK CAPABILITY completed\r\n",
                self.imap_capabilities()
            )),
            "STARTTLS" if self.starttls => Reply::StartTls(format!("{tag} OK begin TLS negotiation now\r\n")),
            "NOOP" => Reply::Continue(format!("{tag} OK NOOP completed\r\n")),
            "LOGOUT" => Reply::Close(format!("* BYE Postroom IMAP4 server logging out\r\n{tag} OK LOGOUT completed\r\n")),
            "" => Reply::Continue("* BAD empty command\r\n".into()),
            _ => Reply::Continue(format!("{tag} NO [UNAVAILABLE] Postroom's IMAP4 mailbox access is not available yet\r\n")),
        }
    }
}
