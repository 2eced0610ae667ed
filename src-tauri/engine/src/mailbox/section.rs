//! Body sections of a stored message (RFC 3501 §6.4.5: `1.2`, `HEADER`, `1.TEXT`, `HEADER.FIELDS (…)`,
//! `1.MIME`), cut with mail-parser's part offsets (which count from the start of the whole message). IMAP
//! FETCH, CATENATE and URLFETCH read sections, and so does SMTP's BURL: they all come here.

use mail_parser::{Message, MessagePart, PartType};

/// A body section, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub part: Vec<u32>,
    pub kind: SectionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// The part's content (or the whole message for an empty part path).
    Content,
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

impl SectionSpec {
    /// The section as written inside BODY[…].
    pub fn text(&self) -> String {
        let mut out: String = self.part.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".");
        let kind = match &self.kind {
            SectionKind::Content => String::new(),
            SectionKind::Header => "HEADER".into(),
            SectionKind::Text => "TEXT".into(),
            SectionKind::Mime => "MIME".into(),
            SectionKind::HeaderFields(l) => format!("HEADER.FIELDS ({})", l.join(" ")),
            SectionKind::HeaderFieldsNot(l) => format!("HEADER.FIELDS.NOT ({})", l.join(" ")),
        };
        if !out.is_empty() && !kind.is_empty() {
            out.push('.');
        }
        out.push_str(&kind);
        out
    }

    /// Reads a section as written in a FETCH or an IMAP URL (`1.2`, `HEADER.FIELDS (FROM TO)`, `2.MIME`).
    pub fn parse(text: &str) -> Option<SectionSpec> {
        let mut part = Vec::new();
        let mut rest = text.trim();
        while rest.starts_with(|c: char| c.is_ascii_digit()) {
            let end = rest.find('.').unwrap_or(rest.len());
            part.push(rest[..end].parse::<u32>().ok().filter(|&n| n > 0)?);
            rest = rest.get(end + 1..).unwrap_or("");
            if part.len() > 100 {
                return None;
            }
        }
        let upper = rest.to_ascii_uppercase();
        let fields = |prefix: &str| -> Option<Vec<String>> {
            let list = upper.strip_prefix(prefix)?.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(list.split_whitespace().map(str::to_string).collect())
        };
        let kind = match upper.as_str() {
            "" => SectionKind::Content,
            "HEADER" => SectionKind::Header,
            "TEXT" => SectionKind::Text,
            "MIME" if !part.is_empty() => SectionKind::Mime,
            _ if upper.starts_with("HEADER.FIELDS.NOT") => SectionKind::HeaderFieldsNot(fields("HEADER.FIELDS.NOT")?),
            _ if upper.starts_with("HEADER.FIELDS") => SectionKind::HeaderFields(fields("HEADER.FIELDS")?),
            _ => return None,
        };
        Some(SectionSpec { part, kind })
    }
}

/// The bytes of a section of a whole message, parsing it only when the section is below the top.
pub fn cut(raw: &[u8], spec: &SectionSpec) -> Option<Vec<u8>> {
    if spec.part.is_empty() {
        return extract(raw, None, spec).map(|c| c.into_owned());
    }
    let parsed = crate::mailbox::mime::parse(raw)?;
    extract(raw, Some(&parsed), spec).map(|c| c.into_owned())
}

/// The end of the header section (after its blank line), or the whole text when there is none.
fn header_end(text: &[u8]) -> usize {
    if text.starts_with(b"\r\n") {
        return 2;
    }
    text.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(text.len())
}

/// Keeps (or drops) the named header fields, folded lines and all, and ends with the blank line.
fn header_fields(header: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut current_keeps = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_uppercase();
            current_keeps = names.contains(&name) == keep;
        }
        if current_keeps {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The part at a (non-empty) part path, and the message that directly contains it.
pub fn locate<'a>(message: &'a Message<'a>, path: &[u32]) -> Option<(&'a Message<'a>, &'a MessagePart<'a>)> {
    let mut container = message;
    let mut part = &message.parts[0];
    for (depth, &n) in path.iter().enumerate() {
        // Entering an encapsulated message: its root stands where a multipart's children would.
        if depth > 0 {
            if let PartType::Message(inner) = &part.body {
                container = inner;
                part = &inner.parts[0];
            }
        }
        match &part.body {
            PartType::Multipart(children) => part = &container.parts[*children.get(n as usize - 1)? as usize],
            _ if n == 1 => {}
            _ => return None,
        }
    }
    Some((container, part))
}

/// The bytes of a section of `raw`.
pub fn extract<'r>(raw: &'r [u8], parsed: Option<&Message>, spec: &SectionSpec) -> Option<std::borrow::Cow<'r, [u8]>> {
    use std::borrow::Cow;
    let (header, text): (&[u8], &[u8]) = if spec.part.is_empty() {
        let end = header_end(raw);
        (&raw[..end], &raw[end..])
    } else {
        let (_, part) = locate(parsed?, &spec.part)?;
        let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
        match spec.kind {
            SectionKind::Content => return Some(Cow::Borrowed(body)),
            SectionKind::Mime => return Some(Cow::Borrowed(raw.get(part.offset_header as usize..part.offset_body as usize)?)),
            _ => {}
        }
        // HEADER/TEXT of a part apply to an encapsulated message.
        let PartType::Message(_) = &part.body else { return Some(Cow::Borrowed(&[])) };
        let end = header_end(body);
        (&body[..end], &body[end..])
    };
    Some(match &spec.kind {
        SectionKind::Content => Cow::Borrowed(raw),
        SectionKind::Header => Cow::Borrowed(header),
        SectionKind::Text => Cow::Borrowed(text),
        SectionKind::HeaderFields(names) => Cow::Owned(header_fields(header, names, true)),
        SectionKind::HeaderFieldsNot(names) => Cow::Owned(header_fields(header, names, false)),
        SectionKind::Mime => Cow::Borrowed(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::mime;

    const MSG: &[u8] = b"Subject: hi\r\nFrom: a@b\r\nTo: c@d\r\n\r\n--X\r\n";

    fn spec(part: &[u32], kind: SectionKind) -> SectionSpec {
        SectionSpec { part: part.to_vec(), kind }
    }

    #[test]
    fn header_text_and_fields_are_cut_from_the_message() {
        assert_eq!(extract(MSG, None, &spec(&[], SectionKind::Header)).unwrap().to_vec(), b"Subject: hi\r\nFrom: a@b\r\nTo: c@d\r\n\r\n");
        assert_eq!(extract(MSG, None, &spec(&[], SectionKind::Text)).unwrap().to_vec(), b"--X\r\n");
        let fields = extract(MSG, None, &spec(&[], SectionKind::HeaderFields(vec!["SUBJECT".into(), "TO".into()]))).unwrap().to_vec();
        assert_eq!(fields, b"Subject: hi\r\nTo: c@d\r\n\r\n");
        let not = extract(MSG, None, &spec(&[], SectionKind::HeaderFieldsNot(vec!["SUBJECT".into()]))).unwrap().to_vec();
        assert_eq!(not, b"From: a@b\r\nTo: c@d\r\n\r\n");
        assert_eq!(spec(&[1, 2], SectionKind::HeaderFields(vec!["A".into()])).text(), "1.2.HEADER.FIELDS (A)");
    }

    #[test]
    fn sections_are_read_from_their_text() {
        assert_eq!(SectionSpec::parse("1.2.HEADER.FIELDS (From to)"), Some(spec(&[1, 2], SectionKind::HeaderFields(vec!["FROM".into(), "TO".into()]))));
        assert_eq!(SectionSpec::parse("2.MIME"), Some(spec(&[2], SectionKind::Mime)));
        assert_eq!(SectionSpec::parse("TEXT"), Some(spec(&[], SectionKind::Text)));
        assert_eq!(SectionSpec::parse("3"), Some(spec(&[3], SectionKind::Content)));
        assert_eq!(SectionSpec::parse(""), Some(spec(&[], SectionKind::Content)));
        assert_eq!(SectionSpec::parse("MIME"), None);
        assert_eq!(SectionSpec::parse("0.TEXT"), None);
        assert_eq!(SectionSpec::parse("1.BOGUS"), None);
        assert_eq!(cut(MSG, &spec(&[], SectionKind::Text)).unwrap(), b"--X\r\n");
    }

    #[test]
    fn parts_of_multipart_and_nested_messages_are_found_by_number() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n--B--\r\n";
        let parsed = mime::parse(&raw[..]).unwrap();
        assert_eq!(extract(raw, Some(&parsed), &spec(&[1], SectionKind::Content)).unwrap().to_vec(), b"first");
        assert_eq!(extract(raw, Some(&parsed), &spec(&[1], SectionKind::Mime)).unwrap().to_vec(), b"Content-Type: text/plain\r\n\r\n");
        assert_eq!(extract(raw, Some(&parsed), &spec(&[2], SectionKind::Header)).unwrap().to_vec(), b"Subject: inner\r\n\r\n");
        assert_eq!(extract(raw, Some(&parsed), &spec(&[2], SectionKind::Text)).unwrap().to_vec(), b"inner text");
        assert_eq!(extract(raw, Some(&parsed), &spec(&[2, 1], SectionKind::Content)).unwrap().to_vec(), b"inner text");
        assert_eq!(extract(raw, Some(&parsed), &spec(&[3], SectionKind::Content)), None);
    }
}
