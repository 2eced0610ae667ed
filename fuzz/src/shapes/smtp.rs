//! SMTP sessions with huge counts and sizes. Every session starts with EHLO.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler.

use crate::gen::{repeat, Gen};

pub const SHAPES: &[&str] = &[
    "received",      // a message with N Received: headers (N ≤ 50,000) through DATA or BDAT
    "rcpt",          // N RCPT TO lines (N ≤ 100,000), then DATA
    "long-line",     // one line of N bytes (N ≤ 1,000,000): in EHLO, MAIL FROM, a header or the body
    "bdat-huge",     // BDAT announcing a huge size (u32::MAX+1, u64::MAX, N nines…), or N one-byte chunks
    "auth-huge",     // AUTH PLAIN/LOGIN with N bytes of base64 (N ≤ 1,000,000), inline or as a continuation
    "mime",          // DATA with a message from the mime shapes (deep nesting, many parts…)
    "many-commands", // N short commands pipelined (N ≤ 100,000)
];

pub const MAX: usize = 100_000;
pub const MAX_RECEIVED: usize = 50_000;
pub const MAX_LINE: usize = 1_000_000;

const ENVELOPE: &[u8] = b"MAIL FROM:<bob@far.example>\r\nRCPT TO:<alice@fuzz.test>\r\n";

pub fn generate(g: &mut Gen) -> Vec<u8> {
    let shape = SHAPES[g.choose(SHAPES.len())];
    let mut c = b"EHLO client.example\r\n".to_vec();
    if shape == "mime" {
        let message = super::mime::generate(g);
        c.extend_from_slice(ENVELOPE);
        data(&mut c, &message);
        c.extend_from_slice(b"QUIT\r\n");
        return c;
    }
    let max = match shape {
        "received" => MAX_RECEIVED,
        "long-line" | "auth-huge" => MAX_LINE,
        _ => MAX,
    };
    let n = g.size(max);
    let v = g.byte();
    let mut f = g.fill();
    match shape {
        "received" => {
            let mut m = Vec::new();
            for i in 0..n {
                m.extend_from_slice(format!("Received: from h{i}.example ({}) by relay.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n", f.word(4)).as_bytes());
            }
            m.extend_from_slice(b"Subject: hops\r\n\r\nbody\r\n");
            c.extend_from_slice(ENVELOPE);
            if v & 1 == 0 {
                data(&mut c, &m);
            } else {
                c.extend_from_slice(format!("BDAT {} LAST\r\n", m.len()).as_bytes());
                c.extend_from_slice(&m);
            }
        }
        "rcpt" => {
            c.extend_from_slice(b"MAIL FROM:<bob@far.example>\r\n");
            for i in 0..n {
                let to = match v % 4 {
                    0 => "alice@fuzz.test".to_string(),
                    1 => format!("u{i}@fuzz.test"),
                    2 => format!("u{i}@far.example"),
                    _ => format!("alice+{}@fuzz.test", f.word(3)),
                };
                c.extend_from_slice(format!("RCPT TO:<{to}>\r\n").as_bytes());
            }
            data(&mut c, b"Subject: many\r\n\r\nx\r\n");
        }
        "long-line" => {
            let long = String::from_utf8(f.word(n).into_bytes()).unwrap();
            match v % 4 {
                0 => c.extend_from_slice(format!("EHLO {long}\r\n").as_bytes()),
                1 => c.extend_from_slice(format!("MAIL FROM:<{long}@far.example>\r\n").as_bytes()),
                2 => {
                    c.extend_from_slice(ENVELOPE);
                    data(&mut c, format!("Subject: {long}\r\n\r\nx\r\n").as_bytes());
                }
                _ => {
                    c.extend_from_slice(ENVELOPE);
                    data(&mut c, format!("Subject: long\r\n\r\n{long}\r\n").as_bytes());
                }
            }
        }
        "bdat-huge" => {
            c.extend_from_slice(ENVELOPE);
            let last = if v & 1 == 0 { " LAST" } else { "" };
            match v / 2 % 5 {
                0 => c.extend_from_slice(format!("BDAT 4294967296{last}\r\n").as_bytes()),
                1 => c.extend_from_slice(format!("BDAT {}{last}\r\n", u64::MAX).as_bytes()),
                2 => c.extend_from_slice(format!("BDAT 18446744073709551616{last}\r\n").as_bytes()),
                3 => {
                    c.extend_from_slice(b"BDAT ");
                    repeat(&mut c, b"9", n);
                    c.extend_from_slice(format!("{last}\r\n").as_bytes());
                }
                _ => {
                    // N chunks of one byte each.
                    for _ in 0..n {
                        c.extend_from_slice(b"BDAT 1\r\n");
                        c.push(f.pick(b"abc\r\n."));
                    }
                    c.extend_from_slice(b"BDAT 0 LAST\r\n");
                }
            }
            c.extend_from_slice(f.word(8).as_bytes());
        }
        "auth-huge" => {
            let b64: String = (0..n).map(|_| char::from(f.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))).collect();
            match v % 5 {
                0 => c.extend_from_slice(format!("AUTH PLAIN {b64}\r\n").as_bytes()),
                1 => c.extend_from_slice(format!("AUTH PLAIN\r\n{b64}\r\n").as_bytes()),
                2 => c.extend_from_slice(format!("AUTH LOGIN {b64}\r\ncGFzc3dvcmQ=\r\n").as_bytes()),
                3 => c.extend_from_slice(format!("AUTH LOGIN\r\nYWxpY2U=\r\n{b64}\r\n").as_bytes()),
                _ => c.extend_from_slice(format!("AUTH PLAIN {b64}=\r\n").as_bytes()),
            }
        }
        "many-commands" => {
            const SHORT: &[&str] = &["NOOP", "RSET", "HELP", "VRFY alice", "MAIL FROM:<a@far.example>", "RCPT TO:<alice@fuzz.test>", "EHLO x", "x", "DATA"];
            for _ in 0..n {
                c.extend_from_slice(f.pick(SHORT).as_bytes());
                c.extend_from_slice(b"\r\n");
            }
        }
        _ => unreachable!("{shape}"),
    }
    c.extend_from_slice(b"QUIT\r\n");
    c
}

/// DATA with `message` (dot-stuffed) and the end marker.
fn data(c: &mut Vec<u8>, message: &[u8]) {
    c.extend_from_slice(b"DATA\r\n");
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            c.push(b'.');
        }
        c.extend_from_slice(line);
    }
    if !message.ends_with(b"\r\n") {
        c.extend_from_slice(b"\r\n");
    }
    c.extend_from_slice(b".\r\n");
}
