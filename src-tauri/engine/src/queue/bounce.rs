//! Delivery status notifications (RFC 3464): the message a sender gets back when a recipient fails for
//! good. Sent from the null sender, so a bounce is never bounced again.

/// One recipient that failed for good.
pub struct Failure {
    pub recipient: String,
    /// Enhanced status, e.g. "5.1.1".
    pub status: String,
    pub diagnostic: String,
}

/// Builds the DSN for `failures` of the message whose stored text is `original`.
pub fn build(server_name: &str, sender: &str, id: &str, failures: &[Failure], original: &[u8]) -> Vec<u8> {
    let boundary = format!("postroom-dsn-{id}");
    let date = super::super::smtp::stamp::rfc2822_now();
    let mut text = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{server_name}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.dsn@{server_name}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is the mail server at {server_name}. Your message could not be delivered to\r\n\
         the following recipient(s); it will not be tried again.\r\n\r\n"
    );
    for f in failures {
        text.push_str(&format!("  <{}>: {}\r\n", f.recipient, one_line(&f.diagnostic)));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {server_name}\r\n"
    ));
    for f in failures {
        text.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
            f.recipient,
            f.status,
            one_line(&f.diagnostic)
        ));
    }
    text.push_str(&format!("\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"));
    let mut out = text.into_bytes();
    out.extend_from_slice(headers_of(original));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The header section of a message (up to, not including, the empty line).
fn headers_of(message: &[u8]) -> &[u8] {
    message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message, |end| &message[..end + 2])
}

/// The enhanced status in an error like "mx.example said: 550 5.1.1 no such user" (default 5.0.0).
pub fn status_from_error(error: &str) -> String {
    let reply = error.split_once(" said: ").map_or(error, |(_, r)| r);
    let text = reply.split_once(' ').filter(|(code, _)| code.len() == 3).map_or(reply, |(_, t)| t);
    status_of(text, true)
}

/// The enhanced status code at the start of a reply text ("5.1.1 no such user"), or a default.
pub fn status_of(text: &str, permanent: bool) -> String {
    let first = text.split_whitespace().next().unwrap_or("");
    let looks_right = first.split('.').count() == 3 && first.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if looks_right {
        first.to_string()
    } else if permanent {
        "5.0.0".into()
    } else {
        "4.0.0".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_names_each_failed_recipient_and_quotes_the_original_headers() {
        let failures = [Failure { recipient: "x@far.example".into(), status: "5.1.1".into(), diagnostic: "550 5.1.1 no such\r\n user".into() }];
        let dsn = String::from_utf8(build("mail.test", "alice@office.test", "q7", &failures, b"Subject: plans\r\n\r\nsecret body\r\n")).unwrap();
        assert!(dsn.contains("To: <alice@office.test>"));
        assert!(dsn.contains("report-type=delivery-status"));
        assert!(dsn.contains("Final-Recipient: rfc822; x@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user"));
        assert!(dsn.contains("Subject: plans") && !dsn.contains("secret body"), "headers only");
        assert_eq!(status_of("4.4.1 connection refused", false), "4.4.1");
        assert_eq!(status_of("mailbox full", true), "5.0.0");
        assert_eq!(status_from_error("mx.far.example said: 550 5.1.1 no such user"), "5.1.1");
        assert_eq!(status_from_error("mx.far.example said: 554 rejected"), "5.0.0");
    }
}
