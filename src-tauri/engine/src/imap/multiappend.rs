//! MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date] literal [flags] [date] literal …`, all of the
//! messages or none. imap-codec reads an APPEND of one message; one of several is cut here into one
//! single-message APPEND per message (same tag, same mailbox), each of which imap-codec then reads and
//! checks, so flags, dates and literals keep one parser.

/// Messages in one MULTIAPPEND: a command of a million one-byte messages would otherwise cost a million
/// parsed commands and rows in one commit.
pub const MAX_MESSAGES: usize = 1000;

/// For an APPEND of two or more messages, one single-message APPEND command per message (`Err` beyond
/// [`MAX_MESSAGES`]); `None` for any other command (an APPEND of one message included) and for what does
/// not scan as MULTIAPPEND (the parser then gives its own answer).
pub fn split(message: &[u8]) -> Option<Result<Vec<Vec<u8>>, String>> {
    let tag_end = message.iter().position(|&b| b == b' ')?;
    let rest = &message[tag_end + 1..];
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case(b"APPEND ") {
        return None;
    }
    let mailbox_start = tag_end + 8;
    let mut at = astring_end(message, mailbox_start)?;
    let mailbox = &message[mailbox_start..at];
    let mut parts = Vec::new();
    loop {
        // SP [flag-list SP] [date-time SP] literal
        if message.get(at) != Some(&b' ') {
            return None;
        }
        let start = at + 1;
        at = start;
        if message.get(at) == Some(&b'(') {
            at += message[at..].iter().position(|&b| b == b')')? + 1;
            if message.get(at) != Some(&b' ') {
                return None;
            }
            at += 1;
        }
        if message.get(at) == Some(&b'"') {
            at = quoted_end(message, at)?;
            if message.get(at) != Some(&b' ') {
                return None;
            }
            at += 1;
        }
        if message.get(at) == Some(&b'~') {
            at += 1;
        }
        at = literal_end(message, at)?;
        parts.push(&message[start..at]);
        if parts.len() > MAX_MESSAGES {
            return Some(Err(format!("[LIMIT] at most {MAX_MESSAGES} messages in one APPEND")));
        }
        match &message[at..] {
            b"\r\n" | b"\n" | b"" => break,
            _ => {}
        }
    }
    if parts.len() < 2 {
        return None;
    }
    let head = &message[..mailbox_start];
    Some(Ok(parts.into_iter().map(|p| [head, mailbox, b" ", p, b"\r\n"].concat()).collect()))
}

/// The end of an atom, quoted string or literal starting at `at`.
fn astring_end(m: &[u8], at: usize) -> Option<usize> {
    match m.get(at)? {
        b'"' => quoted_end(m, at),
        b'{' => literal_end(m, at),
        _ => Some(at + m[at..].iter().position(|&b| b == b' ' || b == b'\r' || b == b'\n').unwrap_or(m.len() - at)),
    }
}

/// The end of the quoted string at `at` (just after its closing quote).
fn quoted_end(m: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    while i < m.len() {
        match m[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// The end of the literal `{n}` or `{n+}` at `at`, with its CRLF and n bytes.
fn literal_end(m: &[u8], at: usize) -> Option<usize> {
    if m.get(at) != Some(&b'{') {
        return None;
    }
    let close = at + m[at..].iter().position(|&b| b == b'}')?;
    let digits = std::str::from_utf8(&m[at + 1..close]).ok()?;
    let length: usize = digits.strip_suffix('+').unwrap_or(digits).parse().ok()?;
    let data = if m.get(close + 1..close + 3) == Some(&b"\r\n"[..]) {
        close + 3
    } else if m.get(close + 1) == Some(&b'\n') {
        close + 2
    } else {
        return None;
    };
    let end = data.checked_add(length)?;
    (end <= m.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_messages_become_one_append_each() {
        let m = b"a1 APPEND Saved (\\Seen) \"05-Dec-2026 10:00:00 +0000\" {3}\r\nabc {4+}\r\nwxyz ~{2}\r\nhi\r\n";
        let parts = split(m).unwrap().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], b"a1 APPEND Saved (\\Seen) \"05-Dec-2026 10:00:00 +0000\" {3}\r\nabc\r\n");
        assert_eq!(parts[1], b"a1 APPEND Saved {4+}\r\nwxyz\r\n");
        assert_eq!(parts[2], b"a1 APPEND Saved ~{2}\r\nhi\r\n");
        let literal_name = split(b"t APPEND {5}\r\nINBOX {1}\r\nx {1}\r\ny\r\n").unwrap().unwrap();
        assert_eq!(literal_name[1], b"t APPEND {5}\r\nINBOX {1}\r\ny\r\n");
    }

    #[test]
    fn one_message_and_other_commands_are_left_alone() {
        assert!(split(b"a1 APPEND INBOX {3}\r\nabc\r\n").is_none());
        assert!(split(b"a1 NOOP\r\n").is_none());
        assert!(split(b"a1 APPEND INBOX {3}\r\nabc {99}\r\nshort\r\n").is_none());
        assert!(split(b"a1 APPEND INBOX {3}\r\nabc garbage\r\n").is_none());
        assert!(split(b"a1 APPEND \"unterminated {3}\r\nabc\r\n").is_none());
        let many = [&b"a1 APPEND INBOX"[..], &b" {1+}\r\nx".repeat(MAX_MESSAGES + 1), b"\r\n"].concat();
        assert!(split(&many).unwrap().is_err());
    }
}
