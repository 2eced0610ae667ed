//! IMAP's ENVELOPE/BODYSTRUCTURE writer over arbitrary messages: it never panics, and what it writes is
//! balanced (every parenthesis closed, outside quoted strings and literals), so a client can parse it.
//! The first byte is the mode: even, the rest is the message as it is; odd, the rest is choices for a
//! generated message (MIME nested 30,000 deep, 100,000 parts, 50,000 headers, long folded lines: see
//! postroom_fuzz::shapes::mime).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::mailbox::meta::compute;
use postroom_fuzz::{on_worker_stack, shapes, Gen};

/// Checks the nesting of an IMAP list, skipping quoted strings and {n} literals.
fn balanced(bytes: &[u8]) -> bool {
    let (mut depth, mut i) = (0i64, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                let end = bytes[i..].iter().position(|&b| b == b'}').map(|p| i + p).unwrap_or(bytes.len());
                let n: usize = std::str::from_utf8(&bytes[i + 1..end]).ok().and_then(|t| t.parse().ok()).unwrap_or(0);
                i = end + 3 + n; // "}\r\n" then the literal
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let generated;
    let message = if mode % 2 == 1 {
        generated = shapes::mime::generate(&mut Gen::new(rest));
        &generated[..]
    } else {
        rest
    };
    let meta = on_worker_stack(|| compute(message));
    assert!(balanced(&meta.envelope), "{}", String::from_utf8_lossy(&meta.envelope));
    assert!(balanced(&meta.bodystructure), "{}", String::from_utf8_lossy(&meta.bodystructure));
    assert!(balanced(&meta.body), "{}", String::from_utf8_lossy(&meta.body));
});
