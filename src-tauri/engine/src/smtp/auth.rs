//! SASL PLAIN (RFC 4616) and LOGIN decoding. Checking the password is the directory's job.

use base64::Engine as _;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `authzid \0 authcid \0 password`, base64-encoded. Returns (user, password).
pub fn decode_plain(response: &str) -> Option<(String, String)> {
    split_plain(&B64.decode(response.trim()).ok()?)
}

/// `authzid \0 authcid \0 password`, already decoded. Returns (user, password).
pub fn split_plain(bytes: &[u8]) -> Option<(String, String)> {
    let mut parts = bytes.split(|&b| b == 0);
    let authzid = parts.next()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = String::from_utf8(parts.next()?.to_vec()).ok()?;
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    // Acting as somebody else (a different authzid) is not allowed.
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return None;
    }
    Some((user, password))
}

/// One base64 line of the LOGIN exchange.
pub fn decode_line(response: &str) -> Option<String> {
    String::from_utf8(B64.decode(response.trim()).ok()?).ok()
}

pub fn encode(text: &str) -> String {
    B64.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_needs_three_parts_and_no_foreign_authzid() {
        assert_eq!(decode_plain(&encode("\0alice\0pw")), Some(("alice".into(), "pw".into())));
        assert_eq!(decode_plain(&encode("alice\0alice\0pw")), Some(("alice".into(), "pw".into())));
        assert_eq!(decode_plain(&encode("bob\0alice\0pw")), None);
        assert_eq!(decode_plain(&encode("alice\0pw")), None);
        assert_eq!(decode_plain("not base64!"), None);
    }
}
