//! The DATA receiver on arbitrary bytes. The first byte picks a chunk size; the rest is what a client
//! sends after `354`. Checked: chunked feeding agrees with feeding everything at once; the end is only
//! ever a real CRLF "." CRLF; the stored body has no bare CR or LF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::smtp::data::DataReceiver;

fn receive(input: &[u8], chunk: usize) -> Option<(Vec<u8>, usize)> {
    let mut r = DataReceiver::new(1 << 16);
    let mut offset = 0;
    for part in input.chunks(chunk) {
        if let Some(n) = r.feed(part) {
            return Some((r.into_body(), offset + n));
        }
        offset += part.len();
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let chunk = usize::from(first).max(1);
    let whole = receive(input, input.len().max(1));
    assert_eq!(receive(input, chunk), whole, "chunking changed the result");
    if let Some((body, used)) = whole {
        assert!(used <= input.len());
        let end = &input[..used];
        assert!(end == b".\r\n" || end.ends_with(b"\r\n.\r\n"), "ended without CRLF.CRLF");
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && body[i - 1] == b'\r', "bare LF stored");
            }
            if b == b'\r' {
                assert!(body.get(i + 1) == Some(&b'\n'), "bare CR stored");
            }
        }
    }
});
