//! A whole IMAP session fed client bytes over an in-memory stream, against a real store with one user
//! who has a message (the shared world, postroom_fuzz::world). The first byte is the mode: bit 0 sends a
//! login and SELECT first, so the fuzzer reaches every command, not only the ones allowed before login;
//! bit 1 makes the rest choices for a generated command (deep nesting, huge counts: see
//! postroom_fuzz::shapes::imap) instead of the client's bytes as they are. It must never panic, and must
//! end once the client has nothing more to say. This covers imap-codec's framing and parsing as we use
//! them (literal announcements, TOOBIG, IDLE/DONE, AUTHENTICATE continuations) and every handler.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::imap;
use postroom_engine::settings::ServiceId;
use postroom_fuzz::{shapes, world, Gen};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let mut data = Vec::new();
    if mode & 1 == 1 {
        data.extend_from_slice(b"a LOGIN alice password\r\nb SELECT INBOX\r\n");
    }
    if mode & 2 == 2 {
        data.extend_from_slice(&shapes::imap::generate(&mut Gen::new(rest)));
    } else {
        data.extend_from_slice(rest);
    }
    let w = world();
    w.converse(&w.imap, ServiceId::Imap, "127.0.0.1:40000", &data, imap::run);
});
