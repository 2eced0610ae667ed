//! mail-parser, made safe for any message a stranger can send.
//!
//! mail-parser reads MIME without recursion (it keeps its own stack), but a `message/rfc822` part holds a
//! whole nested [`Message`], so a message nesting 20,000 of them is a tree 20,000 deep, and dropping it the
//! ordinary way recurses once per level: a stack overflow that takes the whole process with it. [`Parsed`]
//! owns the parsed message and takes it apart level by level on drop, with a heap stack instead.
//!
//! Walkers over the structure (BODYSTRUCTURE, the text SEARCH reads) stop descending at [`MAX_DEPTH`]:
//! deeper parts are described as one flat part. Dovecot's limit for the same is 100 (`mail_max_nested_mime_parts`
//! counts parts; its nesting limit is 100 too); no mail program nests more than a handful.
//!
//! mail-parser joins RFC 2231 parameter continuations (`name*0*=…; name*1*=…`) in time that grows with the
//! square of their number: a 24 MB Content-Type of a million of them took it 53 s. The parser is shown at
//! most [`MAX_PARAMS`] parameters of any Content-Type or Content-Disposition field; the rest are blanked
//! in a copy of the same length (so every offset into the stored message stays true), and only such a
//! message is copied.

use std::ops::Deref;

use mail_parser::{Message, MessageParser, PartType};

/// How deep multiparts and nested messages are walked; below this a part is one flat leaf.
pub const MAX_DEPTH: usize = 100;

/// A parsed message that can be dropped whatever its depth.
pub struct Parsed<'x>(Option<Message<'x>>);

/// Parameters of one Content-Type or Content-Disposition field that the parser sees; no mail program
/// writes more than a few.
pub const MAX_PARAMS: usize = 1000;

/// Parses `raw`; `None` when mail-parser finds no message in it.
pub fn parse(raw: &[u8]) -> Option<Parsed<'_>> {
    match with_params_capped(raw) {
        None => MessageParser::default().parse(raw).map(|m| Parsed(Some(m))),
        Some(copy) => MessageParser::default().parse(&copy[..]).map(|m| Parsed(Some(m.into_owned()))),
    }
}

/// A copy of `raw` with every Content-Type or Content-Disposition field cut to [`MAX_PARAMS`] parameters
/// (the rest turned into spaces, line ends kept); `None` when no field has more, which is every real message.
/// Fields are found by their lines, wherever they are (a nested part's header too); one pass, no recursion.
fn with_params_capped(raw: &[u8]) -> Option<Vec<u8>> {
    // A message with no more semicolons in all than one field may have is left alone at once.
    if raw.iter().filter(|&&b| b == b';').count() <= MAX_PARAMS {
        return None;
    }
    let line_end = |from: usize| raw[from..].iter().position(|&b| b == b'\n').map_or(raw.len(), |i| from + i + 1);
    let mut copy: Option<Vec<u8>> = None;
    let mut line = 0;
    while line < raw.len() {
        let mut end = line_end(line);
        if !is_parameter_field(&raw[line..end]) {
            line = end;
            continue;
        }
        // The field goes on over lines that start with a space or a tab.
        while end < raw.len() && matches!(raw[end], b' ' | b'\t') {
            end = line_end(end);
        }
        if let Some(cut) = raw[line..end].iter().enumerate().filter(|(_, &b)| b == b';').nth(MAX_PARAMS).map(|(i, _)| line + i) {
            let copy = copy.get_or_insert_with(|| raw.to_vec());
            for b in &mut copy[cut..end] {
                if !matches!(*b, b'\r' | b'\n') {
                    *b = b' ';
                }
            }
        }
        line = end;
    }
    copy
}

/// Whether a line starts a Content-Type or Content-Disposition field (any case, spaces before the colon
/// allowed as the obsolete syntax does).
fn is_parameter_field(line: &[u8]) -> bool {
    ["content-type", "content-disposition"].iter().any(|name| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
    })
}

impl<'x> Deref for Parsed<'x> {
    type Target = Message<'x>;
    fn deref(&self) -> &Message<'x> {
        self.0.as_ref().expect("a Parsed always holds its message until it is dropped")
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        let mut pending: Vec<Message> = self.0.take().into_iter().collect();
        while let Some(mut message) = pending.pop() {
            for part in &mut message.parts {
                if matches!(part.body, PartType::Message(_)) {
                    if let PartType::Message(inner) = std::mem::take(&mut part.body) {
                        pending.push(inner);
                    }
                }
            }
            // `message` now holds no nested message: dropping it recurses no further.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `message/rfc822` nested `depth` times around a short text.
    fn nested_messages(depth: usize) -> Vec<u8> {
        let mut raw = Vec::new();
        for _ in 0..depth {
            raw.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: inner\r\n\r\nhello\r\n");
        raw
    }

    #[test]
    fn parameters_past_the_limit_are_hidden_from_the_parser_and_offsets_stay_true() {
        use mail_parser::MimeHeaders;
        let mut raw = b"Subject: p\r\nContent-Type: multipart/mixed; boundary=B".to_vec();
        for i in 0..5000 {
            raw.extend_from_slice(format!(";\r\n name*{i}*=utf-8''ab").as_bytes());
        }
        raw.extend_from_slice(b"\r\n\r\n--B\r\nCONTENT-DISPOSITION : attachment");
        for i in 0..3000 {
            raw.extend_from_slice(format!("; p{i}=v").as_bytes());
        }
        raw.extend_from_slice(b"\r\n\r\nhello\r\n--B--\r\n");
        let parsed = parse(&raw).unwrap();
        assert_eq!(parsed.raw_message().len(), raw.len(), "the parser's copy has the stored message's length");
        let top = parsed.content_type().unwrap();
        assert_eq!(top.attribute("boundary"), Some("B"));
        assert_eq!(top.attribute("name").map(str::len), Some(2 * (MAX_PARAMS - 1)), "999 continuations of \"ab\" were joined");
        let part = &parsed.parts[1];
        assert_eq!(part.content_disposition().unwrap().attributes().map(|a| a.len()), Some(MAX_PARAMS));
        let body = &raw[part.offset_body as usize..part.offset_end as usize];
        assert!(body.starts_with(b"hello"), "{:?}", String::from_utf8_lossy(&body[..body.len().min(20)]));
        // An ordinary message is parsed as it is, without a copy.
        assert!(with_params_capped(b"Content-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n").is_none());
    }

    #[test]
    fn a_message_nested_thousands_deep_is_parsed_and_dropped_on_a_small_stack() {
        let raw = nested_messages(30_000);
        // 256 KB of stack: an ordinary drop of this tree needs far more.
        let t = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            let parsed = parse(&raw).unwrap();
            let mut depth = 0;
            let mut m: &Message = &parsed;
            while let PartType::Message(inner) = &m.parts[0].body {
                m = inner;
                depth += 1;
            }
            drop(parsed);
            depth
        });
        let depth = t.unwrap().join().expect("no stack overflow");
        assert!(depth > 1000, "mail-parser nests the messages ({depth})");
    }
}
