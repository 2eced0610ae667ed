//! IMAP's modified UTF-7 for folder names (RFC 3501 5.1.3): clients that have not enabled UTF-8 send
//! and receive names in it; Postroom stores names as UTF-8.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::{general_purpose::NO_PAD, GeneralPurpose};
use base64::Engine as _;

const B64: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// Encodes a UTF-8 name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&B64.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a name from the wire; `None` when it is not valid modified UTF-7.
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        if end == 0 {
            out.push('&');
        } else {
            let bytes = B64.decode(&after[..end]).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_in_rfc_3501() {
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), "~peter/mail/台北/日本語");
        assert_eq!(encode("Entwürfe & Co"), "Entw&APw-rfe &- Co");
        assert_eq!(decode("Entw&APw-rfe &- Co").unwrap(), "Entwürfe & Co");
        assert_eq!(decode("bad&AB"), None);
    }
}
