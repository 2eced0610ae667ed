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

use std::ops::Deref;

use mail_parser::{Message, MessageParser, PartType};

/// How deep multiparts and nested messages are walked; below this a part is one flat leaf.
pub const MAX_DEPTH: usize = 100;

/// A parsed message that can be dropped whatever its depth.
pub struct Parsed<'x>(Option<Message<'x>>);

/// Parses `raw`; `None` when mail-parser finds no message in it.
pub fn parse(raw: &[u8]) -> Option<Parsed<'_>> {
    MessageParser::default().parse(raw).map(|m| Parsed(Some(m)))
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
