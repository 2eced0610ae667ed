//! IMAP's ENVELOPE/BODYSTRUCTURE writer over arbitrary messages: it never panics, and what it writes is
//! balanced (every parenthesis closed, outside quoted strings and literals), so a client can parse it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::mailbox::meta::compute;

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

fuzz_target!(|message: &[u8]| {
    let meta = compute(message);
    assert!(balanced(&meta.envelope), "{}", String::from_utf8_lossy(&meta.envelope));
    assert!(balanced(&meta.bodystructure), "{}", String::from_utf8_lossy(&meta.bodystructure));
    assert!(balanced(&meta.body), "{}", String::from_utf8_lossy(&meta.body));
});
