//! A raw IMAP session for tests that compare the server's exact lines.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::mail::MailOffice;

/// One raw IMAP session as alice.
pub struct Session {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    pub next: u32,
}

impl Session {
    pub fn login(office: &MailOffice) -> Session {
        Session::login_as(office, "alice", "alice-secret")
    }

    pub fn login_as(office: &MailOffice, user: &str, password: &str) -> Session {
        let stream = TcpStream::connect(("127.0.0.1", office.port("imap"))).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut s = Session { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream, next: 0 };
        let mut greeting = String::new();
        s.reader.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let login = s.cmd(&format!("LOGIN {user} {password}"));
        assert!(login.last().unwrap().contains("OK"), "{login:?}");
        s
    }

    /// Sends one command; every line of the answer up to and including the tagged one, without CRLF.
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        self.next += 1;
        let tag = format!("t{}", self.next);
        self.writer.write_all(format!("{tag} {command}\r\n").as_bytes()).unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).unwrap() > 0, "the server closed the connection after {lines:?}");
            let line = line.trim_end_matches("\r\n").to_string();
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Lines the server sends without being asked, read until one contains `want` (20 s at most).
    pub fn unsolicited(&mut self, want: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).unwrap_or(0) > 0, "no {want:?} came; only {lines:?}");
            let line = line.trim_end_matches("\r\n").to_string();
            let done = line.contains(want);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The untagged lines of a command that must succeed.
    pub fn ok(&mut self, command: &str) -> Vec<String> {
        let mut lines = self.cmd(command);
        let tagged = lines.pop().unwrap();
        assert!(tagged.split(' ').nth(1) == Some("OK"), "{command}: {tagged} after {lines:?}");
        lines
    }
}

