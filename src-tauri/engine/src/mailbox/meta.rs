//! IMAP's view of a message, computed once at delivery (or APPEND) with mail-parser and stored as the
//! exact bytes FETCH sends: ENVELOPE, BODYSTRUCTURE (with extension data) and BODY (without).
//!
//! Header values that ENVELOPE quotes verbatim (date, subject, message ids) are taken raw from the
//! message, unfolded; display names are decoded by mail-parser and, when not ASCII, sent again as an
//! RFC 2047 encoded word, so rev1 clients get 7-bit text. Part offsets from mail-parser count from the
//! start of the whole message, nested messages included.

use base64::Engine as _;
use mail_parser::{Address, HeaderName, Message, MessagePart, MimeHeaders, PartType};

use super::mime::{self, MAX_DEPTH};

/// The stored IMAP metadata of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub envelope: Vec<u8>,
    pub bodystructure: Vec<u8>,
    pub body: Vec<u8>,
}

/// Computes the metadata of `raw`. A message mail-parser cannot read gets a minimal text/plain shape.
pub fn compute(raw: &[u8]) -> Meta {
    match mime::parse(raw) {
        Some(message) => {
            let mut envelope = Vec::new();
            write_envelope(&mut envelope, raw, &message);
            let mut bodystructure = Vec::new();
            write_part(&mut bodystructure, raw, &message, 0, Extensions::Yes);
            let mut body = Vec::new();
            write_part(&mut body, raw, &message, 0, Extensions::No);
            Meta { envelope, bodystructure, body }
        }
        None => {
            let lines = raw.iter().filter(|&&b| b == b'\n').count();
            let shape = format!("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {lines})", raw.len());
            Meta {
                envelope: b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)".to_vec(),
                bodystructure: shape.clone().into_bytes(),
                body: shape.into_bytes(),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Extensions {
    Yes,
    No,
}

/// Writes an nstring: NIL, a quoted string, or a literal for text that cannot be quoted.
pub fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"NIL"),
        Some(v) => string(out, v),
    }
}

/// Writes a string: quoted when it can be, else as a literal.
pub fn string(out: &mut Vec<u8>, v: &[u8]) {
    let quotable = v.len() < 1024 && v.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        out.push(b'"');
        for &b in v {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", v.len()).as_bytes());
        out.extend_from_slice(v);
    }
}

/// A header's raw value, unfolded and trimmed.
fn raw_header<'a>(raw: &'a [u8], part: &MessagePart, name: HeaderName) -> Option<Vec<u8>> {
    let h = part.headers.iter().rev().find(|h| h.name == name)?;
    let value = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    let unfolded: Vec<u8> = value.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    let text = String::from_utf8_lossy(&unfolded);
    Some(text.trim().as_bytes().to_vec())
}

/// Re-encodes a decoded display name for rev1 clients when it is not plain ASCII.
fn display_name(name: &str) -> Vec<u8> {
    if name.is_ascii() {
        name.as_bytes().to_vec()
    } else {
        format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(name)).into_bytes()
    }
}

fn write_addresses(out: &mut Vec<u8>, value: Option<&Address>) {
    let Some(address) = value else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let mut items: Vec<u8> = Vec::new();
    // An address always has a mailbox and a host: in RFC 3501's syntax a NIL host starts a group and a NIL
    // mailbox with it ends one, so what a sender left out is filled in as Dovecot does (MISSING_MAILBOX,
    // MISSING_DOMAIN) rather than read by the client as group markers. An entry with nothing is left out.
    let one = |out: &mut Vec<u8>, name: Option<&str>, email: Option<&str>| {
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        let name = name.filter(|n| !n.trim().is_empty());
        if name.is_none() && email.is_none() {
            return;
        }
        let (mailbox, host) = match email.map(|e| e.rsplit_once('@').unwrap_or((e, ""))) {
            Some((m, h)) => (m, h),
            None => ("", ""),
        };
        out.push(b'(');
        nstring(out, name.map(display_name).as_deref());
        out.extend_from_slice(b" NIL ");
        string(out, if mailbox.is_empty() { &b"MISSING_MAILBOX"[..] } else { mailbox.as_bytes() });
        out.push(b' ');
        string(out, if host.is_empty() { &b"MISSING_DOMAIN"[..] } else { host.as_bytes() });
        out.push(b')');
    };
    match address {
        Address::List(list) => {
            for a in list {
                one(&mut items, a.name.as_deref(), a.address.as_deref());
            }
        }
        Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    // A group: its start (NIL NIL "name" NIL), its members, its end (NIL NIL NIL NIL).
                    Some(name) => {
                        items.extend_from_slice(b"(NIL NIL ");
                        string(&mut items, &display_name(name));
                        items.extend_from_slice(b" NIL)");
                        for a in &g.addresses {
                            one(&mut items, a.name.as_deref(), a.address.as_deref());
                        }
                        items.extend_from_slice(b"(NIL NIL NIL NIL)");
                    }
                    None => {
                        for a in &g.addresses {
                            one(&mut items, a.name.as_deref(), a.address.as_deref());
                        }
                    }
                }
            }
        }
    }
    if items.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        out.extend_from_slice(&items);
        out.push(b')');
    }
}

fn write_envelope(out: &mut Vec<u8>, raw: &[u8], message: &Message) {
    let root = &message.parts[0];
    out.push(b'(');
    nstring(out, raw_header(raw, root, HeaderName::Date).as_deref());
    out.push(b' ');
    nstring(out, raw_header(raw, root, HeaderName::Subject).as_deref());
    let from = message.from();
    for value in [from, message.sender().or(from), message.reply_to().or(from), message.to(), message.cc(), message.bcc()] {
        out.push(b' ');
        write_addresses(out, value);
    }
    out.push(b' ');
    nstring(out, raw_header(raw, root, HeaderName::InReplyTo).as_deref());
    out.push(b' ');
    nstring(out, raw_header(raw, root, HeaderName::MessageId).as_deref());
    out.push(b')');
}

/// ("name" "value" …) or NIL.
fn write_params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

fn content_type_of(part: &MessagePart, parent_is_digest: bool) -> (String, String, Vec<(String, String)>) {
    match part.content_type() {
        Some(ct) => {
            let params = ct.attributes().map(|a| a.iter().map(|x| (x.name.to_string(), x.value.to_string())).collect()).unwrap_or_default();
            let sub = ct.subtype().map(str::to_string).unwrap_or_else(|| if ct.ctype().eq_ignore_ascii_case("text") { "plain".into() } else { String::new() });
            (ct.ctype().to_ascii_lowercase(), sub.to_ascii_lowercase(), params)
        }
        None if parent_is_digest => ("message".into(), "rfc822".into(), Vec::new()),
        None => ("text".into(), "plain".into(), vec![("charset".into(), "us-ascii".into())]),
    }
}

/// The disposition, language and location extension fields.
fn write_tail(out: &mut Vec<u8>, part: &MessagePart) {
    out.push(b' ');
    match part.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.ctype().as_bytes());
            out.push(b' ');
            let params: Vec<(String, String)> = d.attributes().map(|a| a.iter().map(|x| (x.name.to_string(), x.value.to_string())).collect()).unwrap_or_default();
            write_params(out, &params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.content_language() {
        mail_parser::HeaderValue::Text(t) => string(out, t.as_bytes()),
        mail_parser::HeaderValue::TextList(list) if !list.is_empty() => {
            out.push(b'(');
            for (i, t) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, t.as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    nstring(out, part.content_location().map(str::as_bytes));
}

fn write_part(out: &mut Vec<u8>, raw: &[u8], message: &Message, index: usize, ext: Extensions) {
    write_part_in(out, raw, message, index, ext, false, 0);
}

/// One part, and below it its children down to [`MAX_DEPTH`]; a part at that depth is written as one flat
/// `application/octet-stream` leaf covering its bytes, so no input makes this recurse further.
fn write_part_in(out: &mut Vec<u8>, raw: &[u8], message: &Message, index: usize, ext: Extensions, parent_is_digest: bool, depth: usize) {
    let part = &message.parts[index];
    if depth >= MAX_DEPTH && matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
        let body = raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
        out.extend_from_slice(format!("(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" {}", body.len()).as_bytes());
        if ext == Extensions::Yes {
            out.extend_from_slice(b" NIL NIL NIL NIL");
        }
        out.push(b')');
        return;
    }
    out.push(b'(');
    if let PartType::Multipart(children) = &part.body {
        let (_, subtype, params) = content_type_of(part, false);
        let digest = subtype == "digest";
        if children.is_empty() {
            // A multipart with no parts still needs one body: an empty text/plain.
            out.extend_from_slice(b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
        }
        for &child in children {
            write_part_in(out, raw, message, child as usize, ext, digest, depth + 1);
        }
        out.push(b' ');
        string(out, if subtype.is_empty() { b"mixed" } else { subtype.as_bytes() });
        if ext == Extensions::Yes {
            out.push(b' ');
            write_params(out, &params);
            write_tail(out, part);
        }
        out.push(b')');
        return;
    }
    let (ctype, subtype, params) = content_type_of(part, parent_is_digest);
    let body = raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
    string(out, ctype.as_bytes());
    out.push(b' ');
    string(out, subtype.as_bytes());
    out.push(b' ');
    write_params(out, &params);
    out.push(b' ');
    nstring(out, part.content_id().map(str::as_bytes));
    out.push(b' ');
    nstring(out, part.content_description().map(str::as_bytes));
    out.push(b' ');
    let encoding = part.content_transfer_encoding().unwrap_or("7bit").to_ascii_lowercase();
    string(out, encoding.as_bytes());
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    let lines = body.iter().filter(|&&b| b == b'\n').count() + usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    match &part.body {
        PartType::Message(inner) => {
            out.push(b' ');
            write_envelope(out, raw, inner);
            out.push(b' ');
            write_part_in(out, raw, inner, 0, ext, false, depth + 1);
            out.extend_from_slice(format!(" {lines}").as_bytes());
        }
        _ if ctype == "text" => out.extend_from_slice(format!(" {lines}").as_bytes()),
        _ => {}
    }
    if ext == Extensions::Yes {
        out.push(b' ');
        nstring(out, raw_header(raw, part, HeaderName::ContentMd5).as_deref());
        write_tail(out, part);
    }
    out.push(b')');
}

/// The decoded text of every text part (HTML turned into text), for SEARCH BODY/TEXT.
pub fn searchable_text(raw: &[u8]) -> String {
    let Some(message) = mime::parse(raw) else { return String::from_utf8_lossy(raw).into_owned() };
    let mut text = String::new();
    // Nested messages are read with a stack of their own, down to MAX_DEPTH.
    let mut pending: Vec<(&Message, usize)> = vec![(&message, 0)];
    while let Some((m, depth)) = pending.pop() {
        for part in &m.parts {
            match &part.body {
                PartType::Text(t) => text.push_str(t),
                PartType::Html(h) => text.push_str(&mail_parser::decoders::html::html_to_text(h)),
                PartType::Message(inner) if depth < MAX_DEPTH => pending.push((inner, depth + 1)),
                _ => {}
            }
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    #[test]
    fn a_simple_message_has_the_envelope_and_shape_clients_expect() {
        let raw = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nFrom: Fred Foobar <foobar@Blurdybloop.COM>\r\nSubject: afternoon\r\n meeting\r\nTo: mooch@owatagu.siam.edu\r\nMessage-Id: <B27397-0100000@Blurdybloop.COM>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
        let m = compute(raw);
        assert_eq!(
            text(&m.envelope),
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) ((NIL NIL \"mooch\" \"owatagu.siam.edu\")) NIL NIL NIL \"<B27397-0100000@Blurdybloop.COM>\")"
        );
        assert_eq!(text(&m.body), "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 55 1)");
        assert_eq!(text(&m.bodystructure), "(\"text\" \"plain\" (\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 NIL NIL NIL NIL)");
    }

    #[test]
    fn multipart_nested_messages_and_non_ascii_names_are_described() {
        let raw = "From: Jürgen <j@example.org>\r\nTo: undisclosed:;\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--BB\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: a@b\r\n\r\ninner body\r\n--BB--\r\n";
        let m = compute(raw.as_bytes());
        let envelope = text(&m.envelope);
        assert!(envelope.contains("((\"=?utf-8?b?SsO8cmdlbg==?=\" NIL \"j\" \"example.org\"))"), "{envelope}");
        assert!(envelope.contains("((NIL NIL \"undisclosed\" NIL)(NIL NIL NIL NIL))"), "{envelope}");
        let body = text(&m.body);
        assert!(body.starts_with("((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "), "{body}");
        assert!(body.contains("\"inner\"") && body.ends_with(" \"mixed\")"), "{body}");
        assert!(text(&m.bodystructure).contains("\"mixed\" (\"boundary\" \"BB\") NIL NIL NIL)"), "{}", text(&m.bodystructure));
    }

    #[test]
    fn mime_nested_twenty_thousand_deep_is_described_flat_below_the_limit() {
        // The stranger's message from the issue: multipart/mixed 20,000 deep, then message/rfc822 as deep.
        let mut raw = b"From: x@y\r\nSubject: deep\r\n".to_vec();
        for level in 0..20_000 {
            raw.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\nbottom\r\n");
        let mut nested = Vec::new();
        for _ in 0..20_000 {
            nested.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        nested.extend_from_slice(b"Subject: inner\r\n\r\nhello\r\n");
        for raw in [raw, nested] {
            let raw2 = raw.clone();
            // A session's stack is 2 MB; half of that must be plenty.
            let m = std::thread::Builder::new().stack_size(1 << 20).spawn(move || (compute(&raw2), searchable_text(&raw2))).unwrap().join().expect("no stack overflow");
            let shape = text(&m.0.bodystructure);
            assert!(shape.contains("\"application\" \"octet-stream\""), "flat below the limit: {}", &shape[..200]);
            let opens = shape.bytes().filter(|&b| b == b'(').count();
            assert_eq!(opens, shape.bytes().filter(|&b| b == b')').count(), "balanced");
            assert!(shape.len() < 200_000, "the description stays small ({} bytes for {} input)", shape.len(), raw.len());
        }
    }

    #[test]
    fn search_text_is_decoded() {
        let raw = b"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=E4se\r\n";
        assert!(searchable_text(raw).contains("K\u{e4}se"));
    }
}
