//! The APPEND forms imap-codec does not read. MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date]
//! literal [flags] [date] literal …`, all of the messages or none; CATENATE (RFC 4469): `APPEND mailbox
//! [flags] [date] CATENATE (TEXT literal URL "imap-url" …)`, one message made of literal text and parts
//! of stored messages. Each is cut here into single-message APPEND commands (same tag, same mailbox) that
//! imap-codec then reads and checks, so flags, dates and literals keep one parser.

/// Messages in one MULTIAPPEND: a command of a million one-byte messages would otherwise cost a million
/// parsed commands and rows in one commit.
pub const MAX_MESSAGES: usize = 1000;
/// The longest mailbox name (as written, literal included) a MULTIAPPEND may repeat.
const MAX_NAME: usize = 1024;

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
    // The name is repeated in every message's command: a long one (a literal may be megabytes) is refused.
    if mailbox.len() > MAX_NAME {
        return Some(Err("[LIMIT] the mailbox name is too long".into()));
    }
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

/// One piece of a CATENATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    Url(String),
}

/// Pieces of one CATENATE, and of them URLs (each reads a stored message).
pub const MAX_PARTS: usize = 1000;
pub const MAX_URL_PARTS: usize = 50;

/// For `APPEND mailbox [flags] [date] CATENATE (…)`: a single-message APPEND of an empty message carrying
/// the mailbox, flags and date (for imap-codec to read), and the pieces; `None` for any other command.
pub fn catenate(message: &[u8]) -> Option<Result<(Vec<u8>, Vec<CatPart>), String>> {
    let tag_end = message.iter().position(|&b| b == b' ')?;
    let rest = &message[tag_end + 1..];
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case(b"APPEND ") {
        return None;
    }
    let mut at = astring_end(message, tag_end + 8)?;
    // [SP flag-list] [SP date-time] SP "CATENATE" SP "("
    if message.get(at..at + 2) == Some(&b" ("[..]) {
        at += 1 + message[at + 1..].iter().position(|&b| b == b')')? + 1;
    }
    if message.get(at..at + 2) == Some(&b" \""[..]) {
        at = quoted_end(message, at + 1)?;
    }
    let head_end = at;
    let keyword = message.get(at..at + 11)?;
    if !keyword.eq_ignore_ascii_case(b" CATENATE (") {
        return None;
    }
    at += 11;
    let mut parts = Vec::new();
    loop {
        if message.get(at) == Some(&b')') {
            at += 1;
            break;
        }
        if !parts.is_empty() {
            if message.get(at) != Some(&b' ') {
                return Some(Err("CATENATE pieces are separated by spaces".into()));
            }
            at += 1;
        }
        let word_end = at + message[at..].iter().position(|&b| b == b' ')?;
        let word = message[at..word_end].to_ascii_uppercase();
        at = word_end + 1;
        match word.as_slice() {
            b"TEXT" => {
                let start = if message.get(at) == Some(&b'~') { at + 1 } else { at };
                let end = literal_end(message, start)?;
                let data_start = end - literal_length(message, start)?;
                parts.push(CatPart::Text(message[data_start..end].to_vec()));
                at = end;
            }
            b"URL" => {
                // An atom URL may be the last piece: it ends before the list's ")".
                let end = match message.get(at) {
                    Some(b'"') | Some(b'{') => astring_end(message, at)?,
                    _ => at + message[at..].iter().position(|&b| matches!(b, b' ' | b')' | b'\r' | b'\n')).unwrap_or(message.len() - at),
                };
                let raw = &message[at..end];
                let text = match raw.first() {
                    Some(b'"') => unquote(&raw[1..raw.len() - 1]),
                    Some(b'{') => raw[raw.iter().position(|&b| b == b'\n')? + 1..].to_vec(),
                    _ => raw.to_vec(),
                };
                parts.push(CatPart::Url(String::from_utf8(text).ok()?));
                at = end;
                if parts.iter().filter(|p| matches!(p, CatPart::Url(_))).count() > MAX_URL_PARTS {
                    return Some(Err(format!("[LIMIT] at most {MAX_URL_PARTS} URLs in one CATENATE")));
                }
            }
            _ => return Some(Err("CATENATE takes TEXT and URL pieces".into())),
        }
        if parts.len() > MAX_PARTS {
            return Some(Err(format!("[LIMIT] at most {MAX_PARTS} pieces in one CATENATE")));
        }
    }
    if !matches!(&message[at..], b"\r\n" | b"\n" | b"") || parts.is_empty() {
        return Some(Err("CATENATE needs at least one piece and nothing after it".into()));
    }
    let mut head = message[..head_end].to_vec();
    head.extend_from_slice(b" {0}\r\n\r\n");
    Some(Ok((head, parts)))
}

/// The length a literal at `at` announces.
fn literal_length(m: &[u8], at: usize) -> Option<usize> {
    let close = at + m[at..].iter().position(|&b| b == b'}')?;
    let digits = std::str::from_utf8(&m[at + 1..close]).ok()?;
    digits.strip_suffix('+').unwrap_or(digits).parse().ok()
}

/// A quoted string's content with its backslash escapes undone.
fn unquote(q: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.len());
    let mut escaped = false;
    for &b in q {
        if b == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(b);
    }
    out
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
    fn catenate_is_cut_into_its_pieces() {
        let m = b"a APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY=5/;UID=20/;SECTION=1.MIME\" TEXT {4+}\r\nabcd URL /INBOX/;UID=3 TEXT ~{2}\r\nxy)\r\n";
        let (head, parts) = catenate(m).unwrap().unwrap();
        assert_eq!(head, b"a APPEND Drafts (\\Seen) {0}\r\n\r\n");
        assert_eq!(
            parts,
            [
                CatPart::Url("/INBOX;UIDVALIDITY=5/;UID=20/;SECTION=1.MIME".into()),
                CatPart::Text(b"abcd".to_vec()),
                CatPart::Url("/INBOX/;UID=3".into()),
                CatPart::Text(b"xy".to_vec())
            ]
        );
        assert!(catenate(b"a APPEND Drafts {3}\r\nabc\r\n").is_none());
        assert!(catenate(b"a APPEND Drafts CATENATE (BOGUS x)\r\n").unwrap().is_err());
        assert!(catenate(b"a APPEND Drafts CATENATE ()\r\n").unwrap().is_err());
        let last = catenate(b"a APPEND Drafts CATENATE (TEXT {1}\r\nx URL /INBOX/;UID=1)\r\n").unwrap().unwrap();
        assert_eq!(last.1[1], CatPart::Url("/INBOX/;UID=1".into()));
        let many = format!("a APPEND Drafts CATENATE ({})\r\n", vec!["URL /INBOX/;UID=1"; MAX_URL_PARTS + 1].join(" "));
        assert!(catenate(many.as_bytes()).unwrap().is_err());
        let long_name = [&b"a APPEND {2000}\r\n"[..], &[b'x'; 2000], b" {1+}\r\nx {1+}\r\ny\r\n"].concat();
        assert!(split(&long_name).unwrap().is_err());
        let dated = catenate(b"a APPEND X \"05-Dec-2026 10:00:00 +0000\" CATENATE (TEXT {1}\r\nz)\r\n").unwrap().unwrap();
        assert_eq!(dated.0, b"a APPEND X \"05-Dec-2026 10:00:00 +0000\" {0}\r\n\r\n");
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
