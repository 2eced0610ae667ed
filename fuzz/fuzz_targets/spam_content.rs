//! The spam filter's reading of a stranger's message (`spam::analyse`: rules, link domains, classifier
//! tokens) and of zip archives (`spam::archive::zip_names`): never a panic, and every output within its
//! bound whatever the input. The first byte is the mode: 0 the rest is a message as it is; 1 choices for a
//! generated message (MIME nested 30,000 deep, 100,000 parts, 50,000 headers: postroom_fuzz::shapes::mime);
//! 2 the rest is a zip archive as it is; 3 a zip whose end record claims 65,535 entries over the rest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::spam::{analyse, archive, bayes};
use postroom_fuzz::{on_worker_stack, shapes, Gen};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    match mode % 4 {
        0 | 1 => {
            let generated;
            let message = if mode % 4 == 1 {
                generated = shapes::mime::generate(&mut Gen::new(rest));
                &generated[..]
            } else {
                rest
            };
            let a = on_worker_stack(|| analyse(message));
            assert!(a.domains.len() <= postroom_engine::auth::MAX_LISTED_DOMAINS + 1, "{} domains", a.domains.len());
            assert!(a.tokens.len() <= bayes::MAX_TOKENS);
        }
        2 => assert!(archive::zip_names(rest).len() <= archive::MAX_ENTRIES),
        _ => {
            let mut zip = rest.to_vec();
            zip.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            assert!(archive::zip_names(&zip).len() <= archive::MAX_ENTRIES);
        }
    }
});
