//! The DATA receiver: finds the end of a message strictly and normalises line endings.
//!
//! Only `CRLF . CRLF` ends DATA, and only when that CRLF is a real line end: a bare LF or bare CR is
//! stored as CRLF but never starts a line for this purpose, so every SMTP-smuggling form (`\n.\r\n`,
//! `\n.\n`, `\r.\r`, `\r\n.\r\r\n`, …) stays inside the message instead of ending it early or
//! splitting it in two. Leading dots are unstuffed (RFC 5321 4.5.2). Past the size limit the body
//! stops growing but the end is still looked for, so the client gets a clean 552 and the session
//! continues.

use super::spool::Spool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After a CRLF (or at the very start): a '.' here is special.
    LineStart,
    InLine,
    /// A CR inside a line; waiting to see whether LF follows.
    Cr,
    /// A line that began with '.'.
    Dot,
    /// ".\r" at the start of a line.
    DotCr,
}

pub struct DataReceiver {
    state: State,
    body: Spool,
    max: usize,
    too_big: bool,
    normalised: bool,
}

impl DataReceiver {
    /// A receiver that keeps the message in memory.
    pub fn new(max: usize) -> DataReceiver {
        DataReceiver::with_spool(max, Spool::in_memory())
    }

    /// A receiver that keeps the message in `spool` (which moves to a file past its memory limit).
    pub fn with_spool(max: usize, spool: Spool) -> DataReceiver {
        DataReceiver { state: State::LineStart, body: spool, max, too_big: false, normalised: false }
    }

    /// Takes bytes; returns `Some(n)` once the end of data has been seen, `n` being how many of `bytes`
    /// belonged to the message (the rest are the client's next commands).
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if self.step(b) {
                return Some(i + 1);
            }
        }
        None
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.body.len() + bytes.len() > self.max {
            self.too_big = true;
        } else if !self.too_big {
            self.body.extend(bytes);
        }
    }

    /// One byte; true when it completes the end-of-data sequence.
    fn step(&mut self, b: u8) -> bool {
        match self.state {
            State::LineStart if b == b'.' => self.state = State::Dot,
            State::LineStart | State::InLine | State::Dot => self.in_line(b),
            State::Cr => {
                if b == b'\n' {
                    self.push(b"\r\n");
                    self.state = State::LineStart;
                } else {
                    self.bare_cr();
                    self.in_line(b);
                }
            }
            State::DotCr => {
                if b == b'\n' {
                    return true;
                }
                // ".\r" then something else: the dot was stuffing, the CR is bare.
                self.bare_cr();
                self.in_line(b);
            }
        }
        false
    }

    fn in_line(&mut self, b: u8) {
        match b {
            b'\r' if self.state == State::Dot => self.state = State::DotCr,
            b'\r' => self.state = State::Cr,
            b'\n' => {
                // A bare LF: stored as a line end, but not trusted as one.
                self.normalised = true;
                self.push(b"\r\n");
                self.state = State::InLine;
            }
            other => {
                self.push(&[other]);
                self.state = State::InLine;
            }
        }
    }

    fn bare_cr(&mut self) {
        self.normalised = true;
        self.push(b"\r\n");
        self.state = State::InLine;
    }

    /// Bytes of message kept so far.
    pub fn size(&self) -> usize {
        self.body.len()
    }

    pub fn too_big(&self) -> bool {
        self.too_big
    }

    /// Whether bare CR or LF were turned into CRLF.
    pub fn normalised(&self) -> bool {
        self.normalised
    }

    /// The message, for an in-memory receiver (a spool's write error reads as an empty body).
    pub fn into_body(self) -> Vec<u8> {
        self.body.into_bytes().unwrap_or_default()
    }

    /// The spool holding the message.
    pub fn into_spool(self) -> Spool {
        self.body
    }
}

/// Turns bare CR and bare LF into CRLF (for BDAT chunks, which carry no dot framing).
pub fn normalise_line_endings(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 64);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of every size from 1 byte up; each must agree with the whole-input result.
    fn receive(input: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut whole = DataReceiver::new(1 << 20);
        let expected = whole.feed(input).map(|n| (whole.into_body(), n));
        for size in 1..=input.len().max(1) {
            let mut r = DataReceiver::new(1 << 20);
            let mut offset = 0;
            let mut got = None;
            for chunk in input.chunks(size) {
                if let Some(n) = r.feed(chunk) {
                    got = Some(offset + n);
                    break;
                }
                offset += chunk.len();
            }
            assert_eq!(got.map(|n| (r.into_body(), n)), expected, "chunk size {size}");
        }
        expected
    }

    #[test]
    fn a_plain_message_ends_at_crlf_dot_crlf_and_keeps_what_follows() {
        let input = b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
        let (body, used) = receive(input).unwrap();
        assert_eq!(body, b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(&input[used..], b"QUIT\r\n");
    }

    #[test]
    fn leading_dots_are_unstuffed() {
        let (body, _) = receive(b"..hidden\r\n.x\r\n..\r\n.\r\n").unwrap();
        assert_eq!(body, b".hidden\r\nx\r\n.\r\n");
    }

    #[test]
    fn smuggling_forms_never_end_the_message() {
        for trick in [&b"a\n.\r\nMAIL FROM:<x@evil>\r\n"[..], b"a\n.\nMAIL", b"a\r.\rMAIL", b"a\r\n.\r\r\nMAIL", b"a\r\n.\nMAIL", b"a\n.\n"] {
            assert_eq!(receive(trick), None, "{:?} ended the message", String::from_utf8_lossy(trick));
        }
        // The real end still works after a trick, and the trick is kept as content with CRLF endings.
        let (body, _) = receive(b"a\n.\nb\r\n.\r\n").unwrap();
        assert_eq!(body, b"a\r\n.\r\nb\r\n");
    }

    #[test]
    fn an_empty_message_ends_immediately() {
        assert_eq!(receive(b".\r\n"), Some((Vec::new(), 3)));
    }

    #[test]
    fn past_the_limit_the_body_stops_growing_but_the_end_is_found() {
        let mut r = DataReceiver::new(10);
        assert_eq!(r.feed(b"0123456789abcdef\r\n.\r\nNOOP\r\n"), Some(21));
        assert!(r.too_big());
        assert!(r.into_body().len() <= 10);
    }

    #[test]
    fn bdat_chunks_get_crlf_line_endings() {
        assert_eq!(normalise_line_endings(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd");
    }
}
