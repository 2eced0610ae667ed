//! SEARCH: every RFC 3501 key, evaluated message by message. Flags, sizes, dates and numbers come from
//! the message rows; header and text keys parse the message (once per message) and compare, ignoring
//! case, against decoded header values and the decoded text of every text part (HTML as text).

use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use mail_parser::{HeaderValue, MessageParser};

use super::sequence::contains;
use crate::mailbox::{Flags, MessageRow};

/// What header and text keys look at, worked out on first need.
#[derive(Default)]
pub struct Parsed {
    /// (upper-case name, value as sent, value decoded) of every top-level header field.
    headers: Vec<(String, String, String)>,
    body: String,
    sent: Option<i64>,
}

impl Parsed {
    pub fn of(raw: &[u8]) -> Parsed {
        let Some(message) = MessageParser::default().parse(raw) else { return Parsed { body: String::from_utf8_lossy(raw).to_lowercase(), ..Default::default() } };
        let root = &message.parts[0];
        let headers = root
            .headers
            .iter()
            .map(|h| {
                let sent = raw.get(h.offset_start as usize..h.offset_end as usize).map(|v| String::from_utf8_lossy(v).replace(['\r', '\n'], "")).unwrap_or_default();
                (h.name.as_str().to_ascii_uppercase(), sent.trim().to_lowercase(), decoded(&h.value).to_lowercase())
            })
            .collect();
        let sent = message.date().map(|d| d.to_timestamp());
        Parsed { headers, body: crate::mailbox::meta::searchable_text(raw).to_lowercase(), sent }
    }

    fn header_has(&self, name: &str, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        self.headers.iter().any(|(n, sent, dec)| n == name && (needle.is_empty() || sent.contains(&needle) || dec.contains(&needle)))
    }

    fn text_has(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        self.body.contains(&needle) || self.headers.iter().any(|(_, sent, dec)| sent.contains(&needle) || dec.contains(&needle))
    }
}

fn decoded(value: &HeaderValue) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(a) => a.iter().map(|x| format!("{} <{}>", x.name.as_deref().unwrap_or(""), x.address.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", "),
        HeaderValue::DateTime(d) => d.to_rfc822(),
        HeaderValue::ContentType(c) => format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")),
        _ => String::new(),
    }
}

/// One message as SEARCH sees it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub row: &'a MessageRow,
    /// The highest sequence number and UID in the mailbox (for "*").
    pub last_seq: u32,
    pub last_uid: u32,
}

/// Whether any key needs the message's text.
pub fn needs_text(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_text),
        SearchKey::Not(k) => needs_text(k),
        SearchKey::Or(a, b) => needs_text(a) || needs_text(b),
        SearchKey::Bcc(_) | SearchKey::Body(_) | SearchKey::Cc(_) | SearchKey::From(_) | SearchKey::Header(..) | SearchKey::Subject(_) | SearchKey::Text(_) | SearchKey::To(_) => true,
        SearchKey::SentBefore(_) | SearchKey::SentOn(_) | SearchKey::SentSince(_) => true,
        _ => false,
    }
}

fn day_start(date: &chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp()).unwrap_or(0)
}

fn in_set(set: &SequenceSet, n: u32, last: u32) -> bool {
    contains(set, n, last)
}

/// Whether the candidate matches `key`; `parsed` is filled in when a key needs the text.
pub fn matches(key: &SearchKey, c: &Candidate, parsed: &mut dyn FnMut() -> std::rc::Rc<Parsed>) -> bool {
    let f = c.row.flags;
    let kw = |k: &str| c.row.keywords.split(' ').any(|x| x.eq_ignore_ascii_case(k));
    let internal_day = c.row.received_at - c.row.received_at.rem_euclid(86_400);
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, parsed)),
        SearchKey::SequenceSet(set) => in_set(set, c.seq, c.last_seq),
        SearchKey::Uid(set) => in_set(set, c.row.uid, c.last_uid),
        SearchKey::All => true,
        SearchKey::Answered => f.has(Flags::ANSWERED),
        SearchKey::Unanswered => !f.has(Flags::ANSWERED),
        SearchKey::Deleted => f.has(Flags::DELETED),
        SearchKey::Undeleted => !f.has(Flags::DELETED),
        SearchKey::Draft => f.has(Flags::DRAFT),
        SearchKey::Undraft => !f.has(Flags::DRAFT),
        SearchKey::Flagged => f.has(Flags::FLAGGED),
        SearchKey::Unflagged => !f.has(Flags::FLAGGED),
        SearchKey::Seen => f.has(Flags::SEEN),
        SearchKey::Unseen => !f.has(Flags::SEEN),
        // Postroom keeps no \Recent: nothing is new, everything is old.
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::Old => true,
        SearchKey::Keyword(k) => kw(k.as_ref()),
        SearchKey::Unkeyword(k) => !kw(k.as_ref()),
        SearchKey::Larger(n) => c.row.size > i64::from(*n),
        SearchKey::Smaller(n) => c.row.size < i64::from(*n),
        SearchKey::Before(d) => internal_day < day_start(d.as_ref()),
        SearchKey::On(d) => internal_day == day_start(d.as_ref()),
        SearchKey::Since(d) => internal_day >= day_start(d.as_ref()),
        SearchKey::SentBefore(d) => parsed().sent.is_some_and(|s| s - s.rem_euclid(86_400) < day_start(d.as_ref())),
        SearchKey::SentOn(d) => parsed().sent.is_some_and(|s| s - s.rem_euclid(86_400) == day_start(d.as_ref())),
        SearchKey::SentSince(d) => parsed().sent.is_some_and(|s| s - s.rem_euclid(86_400) >= day_start(d.as_ref())),
        SearchKey::Bcc(v) => parsed().header_has("BCC", &text(v.as_ref())),
        SearchKey::Cc(v) => parsed().header_has("CC", &text(v.as_ref())),
        SearchKey::From(v) => parsed().header_has("FROM", &text(v.as_ref())),
        SearchKey::To(v) => parsed().header_has("TO", &text(v.as_ref())),
        SearchKey::Subject(v) => parsed().header_has("SUBJECT", &text(v.as_ref())),
        SearchKey::Header(name, v) => parsed().header_has(&text(name.as_ref()).to_ascii_uppercase(), &text(v.as_ref())),
        SearchKey::Body(v) => parsed().body.contains(&text(v.as_ref()).to_lowercase()),
        SearchKey::Text(v) => parsed().text_has(&text(v.as_ref())),
        SearchKey::Not(k) => !matches(k, c, parsed),
        SearchKey::Or(a, b) => matches(a, c, parsed) || matches(b, c, parsed),
        SearchKey::ModSequence { modseq, .. } => c.row.modseq as u64 >= *modseq,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
