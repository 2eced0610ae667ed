//! SMTP replies as typed values: code, enhanced status (RFC 3463) and text lines, written in one place.

/// One reply; several text lines become a multi-line reply (`250-…` then `250 …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply { code, status, lines: vec![text.into()] }
    }

    pub fn lines(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, status: "", lines }
    }

    /// A 4xx or 5xx.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}", self.code).as_bytes());
            if !self.status.is_empty() {
                out.extend_from_slice(self.status.as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_use_dashes_until_the_last_line() {
        let mut out = Vec::new();
        Reply::lines(250, vec!["mail.test".into(), "SIZE 10".into(), "8BITMIME".into()]).write_to(&mut out);
        Reply::new(550, "5.1.1", "no such user").write_to(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "250-mail.test\r\n250-SIZE 10\r\n250 8BITMIME\r\n550 5.1.1 no such user\r\n");
    }
}
