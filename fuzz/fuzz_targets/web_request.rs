//! The web service fed client bytes over an in-memory stream, against the shared world's store (the
//! local domain fuzz.test, the user alice with the alias sales, the disabled user dora). The first byte is
//! the mode: bit 1 picks the service (https, whose TLS is taken as done, or http, which sends mail
//! programs to https); even, the rest is what the client sends as it is; odd, the rest is choices for
//! generated requests (100,000 header fields, a megabyte
//! request line, 10,000 pipelined requests, lying Content-Lengths, deep EMailAddress nesting: see
//! postroom_fuzz::shapes::web). It must never panic, and must end once the client has nothing more to say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::settings::ServiceId;
use postroom_engine::web;
use postroom_fuzz::{shapes, world, Gen};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let generated;
    let data = if mode % 2 == 1 {
        generated = shapes::web::generate(&mut Gen::new(rest));
        &generated[..]
    } else {
        rest
    };
    let w = world();
    let service = if mode & 2 == 0 { ServiceId::Http } else { ServiceId::Https };
    w.converse(&w.web, service, "192.0.2.1:40000", data, web::run);
});
