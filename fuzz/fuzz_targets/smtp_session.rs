//! A whole SMTP session fed client bytes over an in-memory stream, against a real store with one user
//! (the shared world, postroom_fuzz::world). The first byte is the mode: even, the rest is what the
//! client sends as it is; odd, the rest is choices for a generated session (many Received headers,
//! thousands of RCPT, very long lines, BDAT with huge sizes, AUTH with huge base64, deep MIME: see
//! postroom_fuzz::shapes::smtp). It must never panic, and must end once the client has nothing more to say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::settings::ServiceId;
use postroom_engine::smtp;
use postroom_fuzz::{shapes, world, Gen};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let generated;
    let data = if mode % 2 == 1 {
        generated = shapes::smtp::generate(&mut Gen::new(rest));
        &generated[..]
    } else {
        rest
    };
    let w = world();
    w.converse(&w.smtp, ServiceId::Smtp, "192.0.2.1:40000", data, smtp::run);
});
