//! The POP3 command parser on arbitrary lines: it never panics, message numbers are never 0, and a
//! parsed PASS keeps the whole rest of the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::pop3::{parse, Command};

fuzz_target!(|line: &[u8]| {
    match parse(line) {
        Ok(Command::Retr(n) | Command::Dele(n) | Command::Top(n, _) | Command::List(Some(n)) | Command::Uidl(Some(n))) => assert!(n > 0),
        Ok(Command::Pass(p)) => assert!(!p.is_empty()),
        _ => {}
    }
});
