//! IMAP commands with deep nesting and huge counts.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler. A command line is limited to 64 KiB
//! by the session, so sizes past that test the limit itself.

use crate::gen::{repeat, Gen};

pub const SHAPES: &[&str] = &[
    "list-parens",     // LIST (((…))) "" *: selection or RETURN options nested N deep (N ≤ 100,000)
    "search-parens",   // SEARCH (((…ALL…))) N deep
    "search-not",      // SEARCH NOT NOT … ALL, N times
    "search-or",       // SEARCH OR OR … k k … k, N ORs
    "fetch-items",     // FETCH 1 (item item …), N items
    "fetch-section",   // FETCH 1 (BODY[1.1.1….]), a section path of N parts
    "fetch-ranges",    // FETCH 1 (BODY[]<a.b> …), N partial ranges
    "sequence-set",    // FETCH/UID FETCH/SEARCH/STORE/COPY over a set of N ranges
    "list-wildcards",  // LIST "" with a pattern of N `*`, `%` and letters
    "append-deep",     // APPEND of a deep message (a mime shape), then FETCH BODYSTRUCTURE and a deep section
    "many-commands",   // N short commands pipelined (N ≤ 10,000: each is real work on the store; 100,000 took 97 s under ASan)
    "multiappend",     // APPEND of N messages in one command (MULTIAPPEND) to a folder made and deleted around it
];

pub const MAX: usize = 100_000;
/// Commands in the many-commands shape.
const MANY_COMMANDS: usize = 10_000;

/// The bytes a client sends: one or more tagged command lines.
pub fn generate(g: &mut Gen) -> Vec<u8> {
    let shape = SHAPES[g.choose(SHAPES.len())];
    if shape == "append-deep" {
        return append_deep(g);
    }
    let n = g.size(MAX);
    let v = g.byte();
    let mut f = g.fill();
    let mut c = Vec::new();
    match shape {
        "list-parens" => {
            let closed = v & 1 == 0;
            if v & 2 == 0 {
                c.extend_from_slice(b"g LIST ");
                nest(&mut c, n, b"SUBSCRIBED", closed);
                c.extend_from_slice(b" \"\" *");
            } else {
                c.extend_from_slice(b"g LIST \"\" * RETURN ");
                nest(&mut c, n, b"CHILDREN", closed);
            }
        }
        "search-parens" => {
            c.extend_from_slice(search_command(v));
            nest(&mut c, n, f.pick(KEYS).as_bytes(), v & 4 == 0);
        }
        "search-not" => {
            c.extend_from_slice(search_command(v));
            repeat(&mut c, b"NOT ", n);
            c.extend_from_slice(f.pick(KEYS).as_bytes());
        }
        "search-or" => {
            c.extend_from_slice(search_command(v));
            repeat(&mut c, b"OR ", n);
            for i in 0..=n {
                if i > 0 {
                    c.push(b' ');
                }
                c.extend_from_slice(f.pick(KEYS).as_bytes());
            }
        }
        "fetch-items" => {
            c.extend_from_slice(if v & 1 == 0 { b"g FETCH 1 (" } else { b"g UID FETCH 1:* (" });
            for i in 0..n {
                if i > 0 {
                    c.push(b' ');
                }
                c.extend_from_slice(f.pick(ITEMS).as_bytes());
            }
            c.push(b')');
        }
        "fetch-section" => {
            c.extend_from_slice(b"g FETCH 1 (");
            c.extend_from_slice([&b"BODY["[..], b"BODY.PEEK[", b"BINARY[", b"BINARY.SIZE["][usize::from(v % 4)]);
            for i in 0..n {
                c.extend_from_slice(if i == 0 { b"1" } else { b".1" });
            }
            c.extend_from_slice([&b"]"[..], b".MIME]", b".HEADER]", b".TEXT]", b".HEADER.FIELDS (Subject)]"][usize::from(v / 4 % 5)]);
            c.push(b')');
        }
        "fetch-ranges" => {
            c.extend_from_slice(b"g FETCH 1 (");
            let item = [&b"BODY[]"[..], b"BODY.PEEK[1]", b"BINARY[1]", b"BODY[HEADER]"][usize::from(v % 4)];
            for i in 0..n {
                if i > 0 {
                    c.push(b' ');
                }
                c.extend_from_slice(item);
                c.extend_from_slice(format!("<{}.{}>", f.number(1 << 20), f.number(1 << 20)).as_bytes());
            }
            c.push(b')');
        }
        "sequence-set" => {
            let mut set = Vec::new();
            for i in 0..n {
                if i > 0 {
                    set.push(b',');
                }
                let a = if v & 8 == 0 { (i as u32).wrapping_mul(2).wrapping_add(1) } else { f.number(u32::MAX) };
                match f.byte() % 4 {
                    0 => set.extend_from_slice(format!("{a}").as_bytes()),
                    1 => set.extend_from_slice(format!("{a}:{}", a.saturating_add(1)).as_bytes()),
                    2 => set.extend_from_slice(format!("{a}:*").as_bytes()),
                    _ => set.extend_from_slice(b"*"),
                }
            }
            let set = String::from_utf8(set).unwrap();
            let command = match v % 6 {
                0 => format!("g FETCH {set} (FLAGS)"),
                1 => format!("g UID FETCH {set} (UID)"),
                2 => format!("g SEARCH {set}"),
                3 => format!("g UID SEARCH UID {set}"),
                4 => format!("g STORE {set} +FLAGS.SILENT (\\Flagged)"),
                _ => format!("g COPY {set} Trash"),
            };
            c.extend_from_slice(command.as_bytes());
        }
        "list-wildcards" => {
            let mut pattern = Vec::with_capacity(n);
            for _ in 0..n {
                pattern.push(f.pick(b"**%%a/."));
            }
            let cmd: &[u8] = if v & 2 == 0 { b"g LIST \"\" " } else { b"g LSUB \"\" " };
            c.extend_from_slice(cmd);
            if v & 1 == 0 {
                c.push(b'"');
                c.extend_from_slice(&pattern);
                c.push(b'"');
            } else {
                c.extend_from_slice(&pattern);
            }
        }
        "multiappend" => {
            // Into a folder of its own, deleted after: the world is shared by every input, and a mailbox
            // that grows by a thousand messages per input slows every later one.
            c.extend_from_slice(b"m1 CREATE Scratch\r\ng APPEND Scratch");
            for i in 0..n {
                let text = format!("Subject: {i}\r\n\r\nx");
                let flags = if f.byte() & 1 == 0 { " (\\Seen $k)" } else { "" };
                c.extend_from_slice(format!("{flags} {{{}+}}\r\n{text}", text.len()).as_bytes());
            }
            c.extend_from_slice(b"\r\nm2 DELETE Scratch");
        }
        "many-commands" => {
            for i in 0..n.min(MANY_COMMANDS) {
                c.extend_from_slice(format!("t{i} {}\r\n", f.pick(SHORT)).as_bytes());
            }
            return c;
        }
        _ => unreachable!("{shape}"),
    }
    c.extend_from_slice(b"\r\n");
    c
}

/// Search keys for the leaves of the SEARCH shapes.
const KEYS: &[&str] = &["ALL", "SEEN", "SUBJECT hi", "1:*", "LARGER 1", "HEADER Subject hi", "BODY one", "TEXT one", "UID 1", "NEW", "SENTBEFORE 1-Jan-2030", "KEYWORD x", "MODSEQ 1"];

/// FETCH items for the fetch-items shape.
const ITEMS: &[&str] = &[
    "FLAGS", "UID", "ENVELOPE", "BODYSTRUCTURE", "BODY", "BODY[]", "BODY.PEEK[1]", "RFC822.SIZE", "BODY[HEADER.FIELDS (Subject From)]",
    "BINARY[1]", "BINARY.SIZE[1]", "INTERNALDATE", "MODSEQ", "BODY[1.MIME]", "RFC822.HEADER", "BODY[TEXT]<0.10>", "FAST", "ALL", "FULL",
];

/// Commands for many-commands.
const SHORT: &[&str] = &[
    "NOOP", "CHECK", "FETCH 1 FLAGS", "SEARCH ALL", "LIST \"\" *", "STATUS INBOX (MESSAGES UIDNEXT)", "CAPABILITY", "UID FETCH 1:* (UID)", "x", "IDLE\r\nDONE",
    "ENABLE QRESYNC", "SELECT INBOX (QRESYNC (1 1 1:*))", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", "SEARCH RETURN (SAVE) ALL", "FETCH $ (FLAGS)",
    "UID STORE $ +FLAGS (\\Deleted)", "UID EXPUNGE $", "THREAD REFERENCES UTF-8 ALL", "SORT RETURN (PARTIAL -1:-5) (DISPLAYFROM) UTF-8 ALL",
];

fn search_command(v: u8) -> &'static [u8] {
    match v % 8 {
        0 => b"g SEARCH ",
        1 => b"g UID SEARCH RETURN (MIN MAX COUNT) ",
        2 => b"g SORT (SUBJECT) UTF-8 ",
        3 => b"g THREAD REFERENCES UTF-8 ",
        4 => b"g UID SORT RETURN (PARTIAL 1:10 SAVE) (REVERSE DATE) UTF-8 ",
        5 => b"g THREAD ORDEREDSUBJECT UTF-8 $ ",
        _ => b"g SEARCH CHARSET UTF-8 ",
    }
}

/// `(((inner)))`, `n` deep; left open unless `closed`.
fn nest(c: &mut Vec<u8>, n: usize, inner: &[u8], closed: bool) {
    repeat(c, b"(", n);
    c.extend_from_slice(inner);
    if closed {
        repeat(c, b")", n);
    }
}

/// APPEND of a message from the mime shapes (its own shape, size and variant bytes follow), then a
/// FETCH of its structure and of a section as deep as its nesting. The session's store is tidied
/// after each run, so appended messages do not pile up.
fn append_deep(g: &mut Gen) -> Vec<u8> {
    let message = super::mime::generate(g);
    let depth = message.windows(14).filter(|w| w.eq_ignore_ascii_case(b"content-type: ")).count().clamp(1, MAX);
    let mut c = format!("g APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
    c.extend_from_slice(&message);
    c.extend_from_slice(b"\r\nh FETCH * (BODYSTRUCTURE ENVELOPE BODY.PEEK[");
    for i in 0..depth {
        c.extend_from_slice(if i == 0 { b"1" } else { b".1" });
    }
    c.extend_from_slice(b"])\r\ni UID SEARCH TEXT one\r\n");
    c
}
