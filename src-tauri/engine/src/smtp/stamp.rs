//! What Postroom adds to a message it accepts: a `Received:` trace header (RFC 5321 4.4) recording the
//! client, the protocol and the authenticated user, and a `Message-ID:` where the message has none.

use std::net::IpAddr;

pub struct Trace<'a> {
    pub helo: &'a str,
    pub peer: IpAddr,
    pub server_name: &'a str,
    /// "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" (RFC 3848).
    pub protocol: &'static str,
    pub auth_user: Option<&'a str>,
    pub id: &'a str,
    /// The recipient, named only when there is exactly one.
    pub for_recipient: Option<&'a str>,
}

/// Returns the message with the trace header (and a Message-ID, if missing) in front.
pub fn stamp(trace: &Trace<'_>, body: Vec<u8>) -> Vec<u8> {
    let date = crate::time_text::rfc2822_now();
    let auth = trace.auth_user.map(|u| format!(" (authenticated as {u})")).unwrap_or_default();
    let rcpt = trace.for_recipient.map(|r| format!("\r\n\tfor <{r}>")).unwrap_or_default();
    let mut out = format!(
        "Received: from {} ([{}]){auth}\r\n\tby {} (Postroom) with {} id {}{rcpt};\r\n\t{date}\r\n",
        clean(trace.helo),
        trace.peer,
        trace.server_name,
        trace.protocol,
        trace.id
    )
    .into_bytes();
    if !has_header(&body, b"message-id") {
        out.extend_from_slice(format!("Message-ID: <{}@{}>\r\n", trace.id, trace.server_name).as_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// Keeps the client's HELO name from breaking the header (it is the client's claim, not trusted).
fn clean(helo: &str) -> String {
    let s: String = helo.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    if s.is_empty() { "unknown".into() } else { s }
}

/// Whether the header section (up to the first empty line) has a field called `name`.
pub fn has_header(message: &[u8], name: &[u8]) -> bool {
    count_headers(message, name, 1) > 0
}

/// How many header fields called `name` the header section holds, counting up to `stop`.
pub fn count_headers(message: &[u8], name: &[u8], stop: usize) -> usize {
    let mut found = 0;
    let mut line_start = true;
    let mut i = 0;
    while i < message.len() && found < stop {
        if line_start {
            if message[i..].starts_with(b"\r\n") || message[i] == b'\n' {
                break;
            }
            let rest = &message[i..];
            if rest.len() > name.len() && rest[..name.len()].eq_ignore_ascii_case(name) && rest[name.len()] == b':' {
                found += 1;
            }
        }
        line_start = message[i] == b'\n';
        i += 1;
    }
    found
}

/// More `Received:` fields than this means the message is going round in circles (RFC 5321 6.3).
pub const MAX_RECEIVED: usize = 50;

/// Whether the message has passed more than [`MAX_RECEIVED`] servers: a mail loop.
pub fn looping(message: &[u8]) -> bool {
    count_headers(message, b"received", MAX_RECEIVED + 1) > MAX_RECEIVED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace<'a>(auth: Option<&'a str>) -> Trace<'a> {
        Trace {
            helo: "client.test",
            peer: "192.0.2.7".parse().unwrap(),
            server_name: "mail.office.test",
            protocol: "ESMTPSA",
            auth_user: auth,
            id: "abc123",
            for_recipient: Some("alice@office.test"),
        }
    }

    #[test]
    fn received_names_client_protocol_and_user_and_a_missing_message_id_is_added() {
        let out = String::from_utf8(stamp(&trace(Some("alice")), b"Subject: x\r\n\r\nbody\r\n".to_vec())).unwrap();
        assert!(out.starts_with("Received: from client.test ([192.0.2.7]) (authenticated as alice)\r\n\tby mail.office.test (Postroom) with ESMTPSA id abc123"), "{out}");
        assert!(out.contains("Message-ID: <abc123@mail.office.test>\r\nSubject: x"), "{out}");
    }

    #[test]
    fn an_existing_message_id_is_kept_and_only_headers_are_searched() {
        let body = b"Subject: x\r\nmessage-ID: <own@x>\r\n\r\nbody\r\n".to_vec();
        let out = String::from_utf8(stamp(&trace(None), body)).unwrap();
        assert_eq!(out.matches("essage-I").count(), 1);
        assert!(!has_header(b"Subject: x\r\n\r\nMessage-ID: <in body>\r\n", b"message-id"));
    }
}
