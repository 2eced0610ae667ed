//! Session logs: the transcript of one conversation (smtpsvr.log, pop3svr.log, imapsvr.log,
//! smtpclt.log), line by line, `<<<` for what the other side sent and `>>>` for what we sent. Every line
//! goes through `tracing` (target `session.<name>`) inside the session's `session{sid}` span, so the log
//! writer tags it `[#sid]`.
//!
//! What is kept out: passwords (`AUTH PLAIN ****`, `PASS ****`, `a LOGIN ****`, and every line of an
//! AUTH exchange), literal and message data (`<2048 bytes>`), and the bulk of long answers (a RETR or
//! FETCH shows its first lines and then how much more there was). When the log is off, nothing is
//! formatted: [`Transcript::on`] is one atomic load.

use crate::logwriter::LogFile;

/// Lines of one write shown before the rest is summed up.
const SHOWN_LINES: usize = 40;
/// Characters of one line shown.
const SHOWN_CHARS: usize = 400;

#[derive(Debug, Clone, Copy)]
pub struct Transcript {
    /// `None`: a service with no session log (the web service logs one line per request instead).
    file: Option<LogFile>,
}

impl Transcript {
    pub fn new(file: LogFile) -> Transcript {
        Transcript { file: Some(file) }
    }

    /// A transcript that is never written.
    pub fn none() -> Transcript {
        Transcript { file: None }
    }

    #[inline]
    pub fn on(&self) -> bool {
        self.file.is_some_and(crate::logging::session_log_on)
    }

    fn emit(&self, text: &str) {
        if let Some(file) = self.file {
            emit(file, text);
        }
    }

    /// A remark of our own: connected, TLS started, closed.
    pub fn note(&self, text: &str) {
        if self.on() {
            self.emit(&format!("--- {text}"));
        }
    }

    /// A command line the other side sent (passwords masked).
    pub fn received(&self, line: &[u8]) {
        if self.on() {
            self.emit(&format!("<<< {}", mask_credentials(&shown(line))));
        }
    }

    /// A line of an AUTH exchange: never shown.
    pub fn received_secret(&self) {
        if self.on() {
            self.emit("<<< ****");
        }
    }

    /// An IMAP command, whose literals are summed up rather than shown.
    pub fn received_imap(&self, message: &[u8]) {
        if self.on() {
            self.emit(&format!("<<< {}", mask_credentials(&without_literals(message))));
        }
    }

    /// Data that is not shown (a message body), by size.
    pub fn received_data(&self, bytes: usize) {
        if self.on() {
            self.emit(&format!("<<< <message data: {bytes} bytes>"));
        }
    }

    /// Something we sent, described rather than shown (`****`, `<message data: N bytes>`).
    pub fn sent_summary(&self, text: &str) {
        if self.on() {
            self.emit(&format!(">>> {text}"));
        }
    }

    /// What we sent: each line, up to [`SHOWN_LINES`], then how much more.
    pub fn sent(&self, bytes: &[u8]) {
        if !self.on() || bytes.is_empty() {
            return;
        }
        let mut lines = bytes.split_inclusive(|&b| b == b'\n');
        for line in lines.by_ref().take(SHOWN_LINES) {
            self.emit(&format!(">>> {}", mask_credentials(&shown(line))));
        }
        let (more, more_bytes) = lines.fold((0usize, 0usize), |(n, b), l| (n + 1, b + l.len()));
        if more > 0 {
            self.emit(&format!(">>> <{more} more lines, {more_bytes} bytes>"));
        }
    }
}

fn emit(file: LogFile, text: &str) {
    match file {
        LogFile::Smtpsvr => tracing::info!(target: "session.smtpsvr", "{text}"),
        LogFile::Smtpclt => tracing::info!(target: "session.smtpclt", "{text}"),
        LogFile::Pop3svr => tracing::info!(target: "session.pop3svr", "{text}"),
        LogFile::Pop3clt => tracing::info!(target: "session.pop3clt", "{text}"),
        LogFile::Imapsvr => tracing::info!(target: "session.imapsvr", "{text}"),
        LogFile::Nntpsvr => tracing::info!(target: "session.nntpsvr", "{text}"),
        LogFile::Nntpclt => tracing::info!(target: "session.nntpclt", "{text}"),
        LogFile::Postroom | LogFile::Errors | LogFile::Security | LogFile::Mail => {}
    }
}

/// One line as shown: without its line end, control characters escaped, cut at [`SHOWN_CHARS`].
fn shown(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let mut out = String::with_capacity(text.len().min(SHOWN_CHARS + 32));
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str(&format!("… <{} bytes in all>", line.len()));
            break;
        }
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Hides what follows `AUTH <mechanism>`, `PASS`, and IMAP's `LOGIN` / `AUTHENTICATE <mechanism>`.
pub fn mask_credentials(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let upper = |i: usize| words.get(i).map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    // How many words stay visible.
    let keep = match (upper(0).as_str(), upper(1).as_str()) {
        ("AUTH", _) => 2,
        ("PASS", _) => 1,
        (_, "LOGIN") => 2,
        (_, "AUTHENTICATE") => 3,
        _ => return line.to_string(),
    };
    if words.len() <= keep {
        return line.to_string();
    }
    format!("{} ****", words[..keep].join(" "))
}

/// An IMAP command with each literal `{N}` / `{N+}` followed by `<N bytes>` instead of its data, and
/// line ends inside the command shown as spaces.
fn without_literals(message: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = message;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        let text = shown(line);
        if !out.is_empty() && !text.is_empty() && !text.starts_with(' ') {
            out.push(' ');
        }
        out.push_str(&text);
        rest = after;
        if let Some(n) = literal_length(line) {
            let n = n.min(rest.len());
            out.push_str(&format!(" <{n} bytes>"));
            rest = &rest[n..];
        }
    }
    out
}

/// The length announced at the end of a line (`{12}` or `{12+}` before CRLF).
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_transcript() {
        assert_eq!(mask_credentials("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), "AUTH PLAIN ****");
        assert_eq!(mask_credentials("auth login YWxpY2U="), "auth login ****");
        assert_eq!(mask_credentials("AUTH LOGIN"), "AUTH LOGIN");
        assert_eq!(mask_credentials("PASS secret words"), "PASS ****");
        assert_eq!(mask_credentials("a1 LOGIN alice \"s3cret\""), "a1 LOGIN ****");
        assert_eq!(mask_credentials("a2 AUTHENTICATE PLAIN AGFsaWNl"), "a2 AUTHENTICATE PLAIN ****");
        assert_eq!(mask_credentials("MAIL FROM:<a@b>"), "MAIL FROM:<a@b>");
        assert_eq!(mask_credentials("a3 SELECT INBOX"), "a3 SELECT INBOX");
    }

    #[test]
    fn literals_are_summed_up() {
        assert_eq!(without_literals(b"a APPEND INBOX {5}\r\nhello\r\n"), "a APPEND INBOX {5} <5 bytes>");
        assert_eq!(without_literals(b"a LOGIN {5+}\r\nalice {6}\r\nsecret\r\n"), "a LOGIN {5+} <5 bytes> {6} <6 bytes>");
        assert_eq!(mask_credentials(&without_literals(b"a LOGIN {5+}\r\nalice {6}\r\nsecret\r\n")), "a LOGIN ****");
        assert_eq!(shown(b"EHLO x\x07y\r\n"), "EHLO x\\x07y");
        assert!(shown(&[b'a'; 1000]).ends_with("… <1000 bytes in all>"));
    }
}
