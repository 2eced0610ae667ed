//! FETCH: which items a request needs, and writing each message's answer. ENVELOPE and BODYSTRUCTURE
//! come from the stored metadata; body sections are cut from the stored message with mail-parser's
//! part offsets (which count from the start of the whole message).

use imap_codec::imap_types::fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section};
use mail_parser::Message;

use crate::mailbox::meta::{self, Meta};
use crate::mailbox::mime;
use crate::mailbox::section::{extract, locate, SectionKind, SectionSpec};
use crate::mailbox::{Flags, MessageRow};

/// The items of one FETCH, in a form that owns its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Uid,
    Flags,
    InternalDate,
    Size,
    Envelope,
    BodyStructure,
    Body,
    ModSeq,
    /// BODY[section]<partial>, BODY.PEEK, RFC822 (= BODY[]), RFC822.HEADER (peek), RFC822.TEXT.
    Section { section: Option<SectionSpec>, partial: Option<(u32, u32)>, peek: bool, label: Label },
    /// BINARY[part]<partial> and BINARY.PEEK (RFC 3516): the part with its transfer encoding undone.
    Binary { part: Vec<u32>, partial: Option<(u32, u32)>, peek: bool },
    BinarySize { part: Vec<u32> },
}

/// How a section item is named in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

fn part_path(p: &Option<Part>) -> Vec<u32> {
    p.as_ref().map(|p| p.0.as_ref().iter().map(|n| n.get()).collect()).unwrap_or_default()
}

fn names(list: &[imap_codec::imap_types::core::AString]) -> Vec<String> {
    list.iter().map(|a| String::from_utf8_lossy(a.as_ref()).to_ascii_uppercase()).collect()
}

/// The owned form of an imap-codec section.
fn spec_of(s: &Section) -> SectionSpec {
    match s {
        Section::Part(p) => SectionSpec { part: p.0.as_ref().iter().map(|n| n.get()).collect(), kind: SectionKind::Content },
        Section::Header(p) => SectionSpec { part: part_path(p), kind: SectionKind::Header },
        Section::HeaderFields(p, l) => SectionSpec { part: part_path(p), kind: SectionKind::HeaderFields(names(l.as_ref())) },
        Section::HeaderFieldsNot(p, l) => SectionSpec { part: part_path(p), kind: SectionKind::HeaderFieldsNot(names(l.as_ref())) },
        Section::Text(p) => SectionSpec { part: part_path(p), kind: SectionKind::Text },
        Section::Mime(p) => SectionSpec { part: p.0.as_ref().iter().map(|n| n.get()).collect(), kind: SectionKind::Mime },
    }
}

/// The items a FETCH asks for; `uid` adds UID (UID FETCH always answers with it).
pub fn items(request: &MacroOrMessageDataItemNames, uid: bool) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    if uid {
        items.push(Item::Uid);
    }
    let names: Vec<MessageDataItemName> = match request {
        MacroOrMessageDataItemNames::Macro(m) => {
            let mut v = vec![MessageDataItemName::Flags, MessageDataItemName::InternalDate, MessageDataItemName::Rfc822Size];
            if matches!(m, Macro::All | Macro::Full) {
                v.push(MessageDataItemName::Envelope);
            }
            if matches!(m, Macro::Full) {
                v.push(MessageDataItemName::Body);
            }
            v
        }
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v.clone(),
    };
    if names.len() > MAX_ITEMS {
        return Err(format!("[LIMIT] too many FETCH items (at most {MAX_ITEMS})"));
    }
    let sections = names.iter().filter(|n| matches!(n, MessageDataItemName::BodyExt { .. } | MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. })).count();
    if sections > MAX_SECTIONS {
        return Err(format!("[LIMIT] too many body sections in one FETCH (at most {MAX_SECTIONS})"));
    }
    for name in names {
        let item = match name {
            MessageDataItemName::Uid => Item::Uid,
            MessageDataItemName::Flags => Item::Flags,
            MessageDataItemName::InternalDate => Item::InternalDate,
            MessageDataItemName::Rfc822Size => Item::Size,
            MessageDataItemName::Envelope => Item::Envelope,
            MessageDataItemName::BodyStructure => Item::BodyStructure,
            MessageDataItemName::Body => Item::Body,
            MessageDataItemName::ModSeq => Item::ModSeq,
            MessageDataItemName::BodyExt { section, partial, peek } => Item::Section {
                section: section.as_ref().map(spec_of),
                partial: partial.map(|(p, n)| (p, n.get())),
                peek,
                label: Label::Body,
            },
            MessageDataItemName::Binary { section, partial, peek } => {
                Item::Binary { part: section.iter().map(|n| n.get()).collect(), partial: partial.map(|(p, n)| (p, n.get())), peek }
            }
            MessageDataItemName::BinarySize { section } => Item::BinarySize { part: section.iter().map(|n| n.get()).collect() },
            MessageDataItemName::Rfc822 => Item::Section { section: None, partial: None, peek: false, label: Label::Rfc822 },
            MessageDataItemName::Rfc822Header => Item::Section {
                section: Some(SectionSpec { part: vec![], kind: SectionKind::Header }),
                partial: None,
                peek: true,
                label: Label::Rfc822Header,
            },
            MessageDataItemName::Rfc822Text => Item::Section {
                section: Some(SectionSpec { part: vec![], kind: SectionKind::Text }),
                partial: None,
                peek: false,
                label: Label::Rfc822Text,
            },
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Ok(items)
}

/// Whether answering needs the stored metadata, the message text, or a \Seen update.
pub fn needs(items: &[Item]) -> (bool, bool, bool) {
    let meta = items.iter().any(|i| matches!(i, Item::Envelope | Item::BodyStructure | Item::Body));
    let text = items.iter().any(|i| matches!(i, Item::Section { .. } | Item::Binary { .. } | Item::BinarySize { .. }));
    let sets_seen = items.iter().any(|i| matches!(i, Item::Section { peek: false, .. } | Item::Binary { peek: false, .. }));
    (meta, text, sets_seen)
}

/// "(\\Seen $Label1 …)"; `recent` adds \\Recent (a session flag: IMAP4rev1 sessions only).
pub fn write_flags(out: &mut Vec<u8>, flags: Flags, keywords: &str, recent: bool) {
    out.push(b'(');
    let mut first = true;
    let names = [(Flags::SEEN, "\\Seen"), (Flags::ANSWERED, "\\Answered"), (Flags::FLAGGED, "\\Flagged"), (Flags::DELETED, "\\Deleted"), (Flags::DRAFT, "\\Draft")];
    let recent = recent.then_some("\\Recent");
    for word in names.iter().filter(|(bit, _)| flags.has(*bit)).map(|(_, n)| *n).chain(recent).chain(keywords.split(' ').filter(|k| !k.is_empty())) {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(word.as_bytes());
    }
    out.push(b')');
}

/// Writes "(item value …)" for one message.
/// Items one FETCH may ask for, and body sections (BODY[…], BINARY[…]) among them: every one of those may
/// copy up to a whole message into the answer, so a FETCH asking for thousands is refused up front.
pub const MAX_ITEMS: usize = 100;
pub const MAX_SECTIONS: usize = 32;

/// Writes one message's answer item by item, so the session can send what is written between items and
/// keep at most one item of a large message in memory at a time.
pub struct MessageWriter<'a> {
    m: &'a MessageRow,
    meta: Option<&'a Meta>,
    raw: &'a [u8],
    parsed: Option<Option<mime::Parsed<'a>>>,
    /// The message is \Recent in this (IMAP4rev1) session.
    pub recent: bool,
}

impl<'a> MessageWriter<'a> {
    pub fn new(m: &'a MessageRow, meta: Option<&'a Meta>, raw: Option<&'a [u8]>) -> MessageWriter<'a> {
        MessageWriter { m, meta, raw: raw.unwrap_or_default(), parsed: None, recent: false }
    }

    fn parsed(&mut self) -> Option<&Message<'a>> {
        let raw = self.raw;
        self.parsed.get_or_insert_with(|| mime::parse(raw)).as_deref()
    }

    /// Writes the `i`th item (with the space before it, past the first).
    pub fn item(&mut self, out: &mut Vec<u8>, i: usize, item: &Item) {
        if i > 0 {
            out.push(b' ');
        }
        let m = self.m;
        let meta = self.meta;
        match item {
            Item::Uid => out.extend_from_slice(format!("UID {}", m.uid).as_bytes()),
            Item::Flags => {
                out.extend_from_slice(b"FLAGS ");
                write_flags(out, m.flags, &m.keywords, self.recent);
            }
            Item::InternalDate => out.extend_from_slice(format!("INTERNALDATE \"{}\"", crate::time_text::internal_date(m.received_at)).as_bytes()),
            Item::Size => out.extend_from_slice(format!("RFC822.SIZE {}", m.size).as_bytes()),
            Item::ModSeq => out.extend_from_slice(format!("MODSEQ ({})", m.modseq).as_bytes()),
            Item::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                out.extend_from_slice(meta.map(|x| x.envelope.as_slice()).unwrap_or(b"NIL"));
            }
            Item::BodyStructure => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                out.extend_from_slice(meta.map(|x| x.bodystructure.as_slice()).unwrap_or(b"NIL"));
            }
            Item::Body => {
                out.extend_from_slice(b"BODY ");
                out.extend_from_slice(meta.map(|x| x.body.as_slice()).unwrap_or(b"NIL"));
            }
            Item::Binary { part, partial, .. } => {
                let raw = self.raw;
                let parsed = if part.is_empty() { None } else { self.parsed() };
                let data = binary(raw, parsed, part).unwrap_or_default();
                let name: Vec<String> = part.iter().map(|n| n.to_string()).collect();
                out.extend_from_slice(format!("BINARY[{}]", name.join(".")).as_bytes());
                let data = cut(out, &data, *partial);
                // literal8 (~{n}) when the bytes hold a NUL, which a plain literal may not.
                let tilde = if data.contains(&0) { "~" } else { "" };
                out.extend_from_slice(format!(" {tilde}{{{}}}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
            Item::BinarySize { part } => {
                let raw = self.raw;
                let parsed = if part.is_empty() { None } else { self.parsed() };
                let size = binary(raw, parsed, part).map_or(0, |d| d.len());
                let name: Vec<String> = part.iter().map(|n| n.to_string()).collect();
                out.extend_from_slice(format!("BINARY.SIZE[{}] {size}", name.join(".")).as_bytes());
            }
            Item::Section { section, partial, label, .. } => {
                let raw = self.raw;
                let needs_parse = section.as_ref().is_some_and(|s| !s.part.is_empty());
                let parsed = if needs_parse { self.parsed() } else { None };
                let data = match section {
                    None => Some(std::borrow::Cow::Borrowed(raw)),
                    Some(spec) => extract(raw, parsed, spec),
                };
                let name = match label {
                    Label::Rfc822 => "RFC822".to_string(),
                    Label::Rfc822Header => "RFC822.HEADER".to_string(),
                    Label::Rfc822Text => "RFC822.TEXT".to_string(),
                    Label::Body => format!("BODY[{}]", section.as_ref().map(SectionSpec::text).unwrap_or_default()),
                };
                out.extend_from_slice(name.as_bytes());
                let data = data.unwrap_or_default();
                let data = cut(out, &data, *partial);
                out.push(b' ');
                out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
                // A literal may not hold NUL (RFC 3501 §4.3); binary content APPENDed with literal8 can.
                // As Dovecot does, NUL is sent as 0x80 here (the size stays); BINARY[] gives the bytes.
                if data.contains(&0) {
                    out.extend(data.iter().map(|&b| if b == 0 { 0x80 } else { b }));
                } else {
                    out.extend_from_slice(data);
                }
            }
        }
    }
}

/// The `<start.len>` slice of `data` (writing `<start>` after the item's name), or all of it.
fn cut<'d>(out: &mut Vec<u8>, data: &'d [u8], partial: Option<(u32, u32)>) -> &'d [u8] {
    match partial {
        Some((start, len)) => {
            out.extend_from_slice(format!("<{start}>").as_bytes());
            let s = (start as usize).min(data.len());
            &data[s..s.saturating_add(len as usize).min(data.len())]
        }
        None => data,
    }
}

/// A part's content with its Content-Transfer-Encoding undone (the whole message for an empty path).
fn binary<'r>(raw: &'r [u8], parsed: Option<&Message>, part: &[u32]) -> Option<std::borrow::Cow<'r, [u8]>> {
    use std::borrow::Cow;
    if part.is_empty() {
        return Some(Cow::Borrowed(raw));
    }
    let (_, p) = locate(parsed?, part)?;
    let body = raw.get(p.offset_body as usize..p.offset_end as usize)?;
    let encoding = mail_parser::MimeHeaders::content_transfer_encoding(p).unwrap_or("7bit").to_ascii_lowercase();
    match encoding.as_str() {
        "base64" => mail_parser::decoders::base64::base64_decode(body).map(Cow::Owned),
        "quoted-printable" => mail_parser::decoders::quoted_printable::quoted_printable_decode(body).map(Cow::Owned),
        _ => Some(Cow::Borrowed(body)),
    }
}

/// The stored metadata, or (for mail stored before IMAP came) computed now.
pub fn meta_or_compute(stored: Option<Meta>, raw: impl FnOnce() -> Option<Vec<u8>>) -> Option<Meta> {
    stored.or_else(|| raw().map(|r| meta::compute(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_undoes_the_transfer_encoding() {
        let encoded = b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--B--\r\n";
        let parsed = mime::parse(&encoded[..]).unwrap();
        assert_eq!(binary(encoded, Some(&parsed), &[1]).unwrap().to_vec(), [0, 1, 2, 255], "BINARY undoes base64");
        assert_eq!(crate::time_text::internal_date(0), "01-Jan-1970 00:00:00 +0000");
    }
}
