//! SEARCH: every RFC 3501 key, evaluated message by message. Flags, sizes, dates and numbers come from
//! the message rows; header and text keys parse the message (once per message) and compare, ignoring
//! case, against decoded header values and the decoded text of every text part (HTML as text).

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_codec::imap_types::search::SearchKey;
use mail_parser::HeaderValue;

use super::sequence::contains;
use crate::mailbox::{Flags, MessageRow};

/// What header and text keys look at, worked out on first need.
#[derive(Default)]
pub struct Parsed {
    /// (upper-case name, value as sent, value decoded) of every top-level header field.
    headers: Vec<(String, String, String)>,
    body: String,
    sent: Option<i64>,
    /// The Date: header's own calendar date, in its own time zone (what SENTON and friends compare).
    sent_day: Option<chrono::NaiveDate>,
    /// The first address of From, To and Cc: (display name, addr-spec), for SORT.
    first: [Option<(String, String)>; 3],
}

impl Parsed {
    pub fn of(raw: &[u8]) -> Parsed {
        let Some(message) = crate::mailbox::mime::parse(raw) else { return Parsed { body: String::from_utf8_lossy(raw).to_lowercase(), ..Default::default() } };
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
        let sent_day = message.date().and_then(|d| chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)));
        let first_of = |a: Option<&mail_parser::Address>| {
            a.and_then(|a| a.first()).map(|x| (x.name.as_deref().unwrap_or("").trim().to_lowercase(), x.address.as_deref().unwrap_or("").trim().to_lowercase()))
        };
        let first = [first_of(message.from()), first_of(message.to()), first_of(message.cc())];
        Parsed { headers, body: crate::mailbox::meta::searchable_text(raw).to_lowercase(), sent, sent_day, first }
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
    /// \Recent in the searching session.
    pub recent: bool,
}

fn day_start(date: &chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp()).unwrap_or(0)
}

/// Whether `key` has a MODSEQ criterion anywhere in it (walked with a stack: no recursion on input).
pub fn uses_modseq(key: &SearchKey) -> bool {
    let mut stack = vec![key];
    while let Some(k) = stack.pop() {
        match k {
            SearchKey::ModSequence { .. } => return true,
            SearchKey::And(all) => stack.extend(all.as_ref().iter()),
            SearchKey::Or(a, b) => stack.extend([a.as_ref(), b.as_ref()]),
            SearchKey::Not(a) => stack.push(a.as_ref()),
            _ => {}
        }
    }
    false
}

/// Whether the candidate matches `key`; `parsed` is filled in when a key needs the text.
pub fn matches(key: &SearchKey, c: &Candidate, parsed: &mut dyn FnMut() -> std::rc::Rc<Parsed>) -> bool {
    let f = c.row.flags;
    let kw = |k: &str| c.row.keywords.split(' ').any(|x| x.eq_ignore_ascii_case(k));
    let internal_day = c.row.received_at - c.row.received_at.rem_euclid(86_400);
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, parsed)),
        SearchKey::SequenceSet(set) => contains(set, c.seq, c.last_seq),
        SearchKey::Uid(set) => contains(set, c.row.uid, c.last_uid),
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
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !f.has(Flags::SEEN),
        SearchKey::Old => !c.recent,
        SearchKey::Keyword(k) => kw(k.as_ref()),
        SearchKey::Unkeyword(k) => !kw(k.as_ref()),
        SearchKey::Larger(n) => c.row.size > i64::from(*n),
        SearchKey::Smaller(n) => c.row.size < i64::from(*n),
        SearchKey::Before(d) => internal_day < day_start(d.as_ref()),
        SearchKey::On(d) => internal_day == day_start(d.as_ref()),
        SearchKey::Since(d) => internal_day >= day_start(d.as_ref()),
        // RFC 3501: the Date: header's date, "disregarding time and timezone" — the day as it is written.
        SearchKey::SentBefore(d) => parsed().sent_day.is_some_and(|s| s < *d.as_ref()),
        SearchKey::SentOn(d) => parsed().sent_day.is_some_and(|s| s == *d.as_ref()),
        SearchKey::SentSince(d) => parsed().sent_day.is_some_and(|s| s >= *d.as_ref()),
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

/// Why a search stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct TooSlow;

/// Runs a SEARCH (or SORT, when `sort` is given) over `rows`, off the async threads; returns the indexes
/// of the matching messages, in mailbox order or sorted. Gives up after `limit`, freeing the thread.
pub fn run(
    store: &crate::store::Store,
    rows: &[MessageRow],
    recent: &dyn Fn(u32) -> bool,
    key: &SearchKey,
    sort: Option<&[SortCriterion]>,
    limit: std::time::Duration,
) -> Result<Vec<usize>, TooSlow> {
    use std::rc::Rc;
    let started = std::time::Instant::now();
    let dir = store.blobs_dir();
    let (last_seq, last_uid) = (rows.len() as u32, rows.last().map_or(0, |m| m.uid));
    let mut hits: Vec<(usize, Option<Rc<Parsed>>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if started.elapsed() > limit {
            return Err(TooSlow);
        }
        let mut cache: Option<Rc<Parsed>> = None;
        let mut parsed = || {
            cache
                .get_or_insert_with(|| {
                    let raw = store.read(|c| crate::store::blobs::read(c, &dir, row.blob_id)).unwrap_or_default();
                    Rc::new(Parsed::of(&raw))
                })
                .clone()
        };
        let candidate = Candidate { seq: i as u32 + 1, row, last_seq, last_uid, recent: recent(row.uid) };
        if matches(key, &candidate, &mut parsed) {
            let kept = sort.is_some().then(&mut parsed);
            hits.push((i, kept));
        }
    }
    if let Some(criteria) = sort {
        hits.sort_by(|(a, pa), (b, pb)| {
            for c in criteria {
                let order = compare(&c.key, &rows[*a], pa.as_deref(), &rows[*b], pb.as_deref());
                let order = if c.reverse { order.reverse() } else { order };
                if order != std::cmp::Ordering::Equal {
                    return order;
                }
            }
            a.cmp(b)
        });
    }
    Ok(hits.into_iter().map(|(i, _)| i).collect())
}


/// The sort value of a text key: the first address's mailbox (local part) for FROM, TO and CC (RFC 5256),
/// its display name — or, without one, its address — for DISPLAYFROM and DISPLAYTO (RFC 5957), the base
/// subject for SUBJECT.
fn sort_text(key: &SortKey, p: &Parsed) -> String {
    let header = |name: &str| p.headers.iter().find(|(n, _, _)| n == name).map(|(_, _, d)| d.clone()).unwrap_or_default();
    let mailbox = |i: usize| p.first[i].as_ref().map(|(_, addr)| addr.split('@').next().unwrap_or("").to_string()).unwrap_or_default();
    let display = |i: usize| p.first[i].as_ref().map(|(name, addr)| if name.is_empty() { addr.clone() } else { name.clone() }).unwrap_or_default();
    match key {
        SortKey::From => mailbox(0),
        SortKey::To => mailbox(1),
        SortKey::Cc => mailbox(2),
        SortKey::DisplayFrom => display(0),
        SortKey::DisplayTo => display(1),
        SortKey::Subject => base_subject(&header("SUBJECT")),
        _ => String::new(),
    }
}

/// RFC 5256 §2.1's base subject, in lower case: whitespace runs folded to one space, then, until nothing
/// changes, "(fwd)" trailers, "Re:"/"Fw:"/"Fwd:" leaders (with "[blob]"s before them or before the colon,
/// as in "[list] Re[2]:"), a leading "[blob]" that leaves something behind, and a "[Fwd: …]" wrapper
/// taken off.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    loop {
        let before = s.clone();
        while let Some(rest) = s.trim_end().strip_suffix("(fwd)") {
            s = rest.trim_end().to_string();
        }
        loop {
            let start = s.clone();
            s = strip_leader(&s).to_string();
            if let Some(rest) = strip_blob(&s).filter(|r| !r.is_empty()) {
                s = rest.to_string();
            }
            if s == start {
                break;
            }
        }
        if s.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_string();
        }
        if s == before {
            return s;
        }
    }
}

/// `[anything but brackets]` and the spaces after it, taken off the front; `None` without one.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    (rest.as_bytes()[end] == b']').then(|| rest[end + 1..].trim_start())
}

/// A subj-leader — blobs, then "re", "fw" or "fwd", a blob perhaps, and ":" — taken off the front.
fn strip_leader(s: &str) -> &str {
    let mut rest = s;
    while let Some(r) = strip_blob(rest) {
        rest = r;
    }
    let Some(r) = ["fwd", "fw", "re"].iter().find_map(|k| rest.strip_prefix(k)) else { return s };
    let mut r = r.trim_start();
    if let Some(after) = strip_blob(r) {
        r = after;
    }
    match r.strip_prefix(':') {
        Some(after) => after.trim_start(),
        None => s,
    }
}

fn compare(key: &SortKey, a: &MessageRow, pa: Option<&Parsed>, b: &MessageRow, pb: Option<&Parsed>) -> std::cmp::Ordering {
    match key {
        SortKey::Arrival => a.received_at.cmp(&b.received_at),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Date => {
            let date = |m: &MessageRow, p: Option<&Parsed>| p.and_then(|p| p.sent).unwrap_or(m.received_at);
            date(a, pa).cmp(&date(b, pb))
        }
        other => {
            let text = |p: Option<&Parsed>| p.map(|p| sort_text(other, p)).unwrap_or_default();
            text(pa).cmp(&text(pb))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn base_subjects_drop_reply_and_forward_markers() {
        assert_eq!(base_subject("Re: RE: [office] Fwd: Lunch (fwd)"), "lunch");
        assert_eq!(base_subject("Quarterly figures"), "quarterly figures");
        assert_eq!(base_subject("[office] Re[2]: Quarterly\t  figures (fwd) (FWD)"), "quarterly figures");
        assert_eq!(base_subject("[Fwd: Re: Lunch]"), "lunch");
        assert_eq!(base_subject("Re : spaces before the colon"), "spaces before the colon");
        assert_eq!(base_subject("Reading: notes"), "reading: notes");
        assert_eq!(base_subject("[only a blob]"), "[only a blob]");
        assert_eq!(base_subject("Fw:Fwd:re:x"), "x");
    }
}
