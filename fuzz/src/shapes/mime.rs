//! Messages: deep MIME nesting, many parts, many headers, long and folded lines. Used by
//! `mailbox_meta`, and inside IMAP APPEND and SMTP DATA.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler.

use crate::gen::{repeat, Fill, Gen};

pub const SHAPES: &[&str] = &[
    "multipart-deep",   // multipart/mixed nested N deep (N ≤ 30,000)
    "rfc822-deep",      // message/rfc822 nested N deep (N ≤ 30,000)
    "alternating-deep", // multipart/mixed and message/rfc822 alternating, N deep (N ≤ 30,000)
    "siblings",         // one multipart with N parts (N ≤ 100,000)
    "headers",          // N header fields (N ≤ 50,000)
    "folded",           // one header field folded N times (N ≤ 100,000)
    "long-line",        // one header or body line of N bytes (N ≤ 1,000,000)
    "addresses",        // To: with N addresses, or N groups (N ≤ 100,000)
    "comments",         // Reply-To: or Content-Type: with comments nested N deep (N ≤ 100,000)
    "encoded-words",    // Subject: of N encoded words (N ≤ 100,000)
    "params",           // Content-Type: with N parameters / RFC 2231 continuations (N ≤ 100,000)
];

pub const MAX_DEPTH: usize = 30_000;
pub const MAX_PARTS: usize = 100_000;
pub const MAX_HEADERS: usize = 50_000;
pub const MAX_LINE: usize = 1_000_000;

pub fn generate(g: &mut Gen) -> Vec<u8> {
    let shape = g.choose(SHAPES.len());
    let max = match SHAPES[shape] {
        "multipart-deep" | "rfc822-deep" | "alternating-deep" => MAX_DEPTH,
        "headers" => MAX_HEADERS,
        "long-line" => MAX_LINE,
        _ => MAX_PARTS,
    };
    let n = g.size(max);
    let v = g.byte();
    let mut f = g.fill();
    build(SHAPES[shape], n, v, &mut f)
}

/// A message of `shape` and size `n`; `v`'s bits pick the variants.
pub fn build(shape: &str, n: usize, v: u8, f: &mut Fill) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(b"From: Bob <bob@far.example>\r\nTo: alice@fuzz.test\r\n");
    match shape {
        "multipart-deep" | "rfc822-deep" | "alternating-deep" => {
            // bit 0: every level has its own boundary (else one boundary for all); bit 1: the closing
            // delimiters are left out (a truncated message).
            let distinct = v & 1 == 0;
            let closed = v & 2 == 0;
            let boundary = |i: usize| if distinct { format!("b{i}") } else { "b".to_string() };
            let multipart = |i: usize| match shape {
                "multipart-deep" => true,
                "rfc822-deep" => false,
                _ => i.is_multiple_of(2),
            };
            m.extend_from_slice(b"Subject: deep\r\n");
            for i in 0..n {
                if multipart(i) {
                    m.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n--{}\r\n", boundary(i), boundary(i)).as_bytes());
                } else {
                    m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n");
                }
            }
            m.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
            m.extend_from_slice(f.word(16).as_bytes());
            m.extend_from_slice(b"\r\n");
            if closed {
                for i in (0..n).rev() {
                    if multipart(i) {
                        m.extend_from_slice(format!("--{}--\r\n", boundary(i)).as_bytes());
                    }
                }
            }
        }
        "siblings" => {
            m.extend_from_slice(b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n");
            for _ in 0..n {
                m.extend_from_slice(b"--B\r\n");
                match f.byte() % 4 {
                    0 => m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nx\r\n"),
                    1 => m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\nx\r\n"),
                    2 => m.extend_from_slice(b"\r\n"),
                    _ => m.extend_from_slice(b"Content-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"),
                }
            }
            if v & 1 == 0 {
                m.extend_from_slice(b"--B--\r\n");
            }
        }
        "headers" => {
            const NAMES: &[&str] = &["Received", "X-Fuzz", "To", "Cc", "Subject", "From", "Content-Type", "Message-ID", "In-Reply-To", "References", "Date", "Reply-To"];
            for i in 0..n {
                let name = if v & 1 == 0 { f.pick(NAMES) } else { "Received" };
                m.extend_from_slice(format!("{name}: {} <a{i}@b.example>\r\n", f.word(4)).as_bytes());
            }
            m.extend_from_slice(b"\r\nbody\r\n");
        }
        "folded" => {
            let name = ["Subject", "To", "References", "Content-Type"][usize::from(v % 4)];
            m.extend_from_slice(format!("{name}: ").as_bytes());
            for i in 0..n {
                match name {
                    "To" => m.extend_from_slice(format!("a{i}@b.example,\r\n ").as_bytes()),
                    "References" => m.extend_from_slice(format!("<{i}@b.example>\r\n ").as_bytes()),
                    "Content-Type" if i == 0 => m.extend_from_slice(b"text/plain;\r\n "),
                    "Content-Type" => m.extend_from_slice(format!("p{i}=v;\r\n ").as_bytes()),
                    _ => {
                        m.extend_from_slice(f.word(3).as_bytes());
                        m.extend_from_slice(b"\r\n ");
                    }
                }
            }
            m.extend_from_slice(b"end\r\n\r\nbody\r\n");
        }
        "long-line" => {
            // bit 0: in a header (else in the body); bit 1: no spaces at all.
            let mut line = Vec::with_capacity(n);
            for _ in 0..n {
                line.push(if v & 2 == 0 && f.byte().is_multiple_of(8) { b' ' } else { f.pick(b"abcdefghij=?") });
            }
            if v & 1 == 0 {
                m.extend_from_slice(b"Subject: ");
                m.extend_from_slice(&line);
                m.extend_from_slice(b"\r\n\r\nbody\r\n");
            } else {
                m.extend_from_slice(b"Subject: long\r\n\r\n");
                m.extend_from_slice(&line);
                m.extend_from_slice(b"\r\n");
            }
        }
        "addresses" => {
            m.extend_from_slice(b"Subject: many\r\nCc: ");
            for i in 0..n {
                if i > 0 {
                    m.extend_from_slice(b", ");
                }
                match v % 3 {
                    0 => m.extend_from_slice(format!("a{i}@b.example").as_bytes()),
                    1 => m.extend_from_slice(format!("\"N {i}\" <a{i}@b.example>").as_bytes()),
                    _ => m.extend_from_slice(format!("g{i}: a{i}@b.example;").as_bytes()),
                }
            }
            m.extend_from_slice(b"\r\n\r\nbody\r\n");
        }
        "comments" => {
            // bit 0: in Reply-To: (else in Content-Type:); bit 1: never closed.
            let field: &[u8] = if v & 1 == 0 { b"Reply-To: a@b.example " } else { b"Content-Type: text/plain " };
            m.extend_from_slice(field);
            repeat(&mut m, b"(", n);
            m.extend_from_slice(b"c");
            if v & 2 == 0 {
                repeat(&mut m, b")", n);
            }
            m.extend_from_slice(b"\r\nSubject: c\r\n\r\nbody\r\n");
        }
        "encoded-words" => {
            m.extend_from_slice(b"Subject:");
            for _ in 0..n {
                let word = f.word(3);
                match v % 3 {
                    0 => m.extend_from_slice(format!(" =?utf-8?q?{word}?=").as_bytes()),
                    1 => m.extend_from_slice(format!(" =?utf-8?b?{}?=", "YWJj").as_bytes()),
                    _ => m.extend_from_slice(format!("=?iso-8859-1?q?{word}=E9?=").as_bytes()),
                }
            }
            m.extend_from_slice(b"\r\n\r\nbody\r\n");
        }
        "params" => {
            m.extend_from_slice(b"Subject: p\r\nContent-Type: multipart/mixed; boundary=B");
            for i in 0..n {
                if v & 1 == 0 {
                    m.extend_from_slice(format!("; p{i}=v{i}").as_bytes());
                } else {
                    m.extend_from_slice(format!("; name*{i}*=utf-8''{}", f.word(2)).as_bytes());
                }
            }
            m.extend_from_slice(b"\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n");
        }
        _ => unreachable!("{shape}"),
    }
    m
}
