//! Delivery status notifications (RFC 3464): the report a sender gets back when a recipient fails for
//! good, and — when the sender asked with `NOTIFY=SUCCESS` (RFC 3461) — when it was delivered here or
//! relayed to a server that cannot pass the request on. Sent from the null sender, so a report is never
//! reported on again. `RET=FULL` returns the whole message, otherwise only its headers; `ENVID` and
//! `ORCPT` come back as Original-Envelope-Id and Original-Recipient.

use super::{self as delivery, DsnRequest, Envelope, Recipient};
use crate::store::{Store, StoreResult};

/// What happened to the recipients of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delivered,
    Relayed,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Action::Failed => "Undelivered Mail Returned to Sender",
            Action::Delivered | Action::Relayed => "Successful Mail Delivery Report",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Action::Failed => "Your message could not be delivered to\r\nthe following recipient(s); it will not be tried again.",
            Action::Delivered => "Your message was delivered to the\r\nfollowing recipient(s), as you asked.",
            Action::Relayed => "Your message was passed on to a server\r\nthat does not send delivery reports, for the following recipient(s).",
        }
    }
}

/// One recipient in a report.
pub struct Entry {
    pub recipient: String,
    /// The address the sender originally gave (ORCPT), if it said.
    pub orcpt: Option<String>,
    /// Enhanced status, e.g. "5.1.1".
    pub status: String,
    pub diagnostic: String,
}

/// One report: the recipients it covers and what the sender asked for.
pub struct Report<'a> {
    pub action: Action,
    pub entries: &'a [Entry],
    pub ret_full: bool,
    pub envid: Option<&'a str>,
}

/// Builds the report for the message whose stored text is `original`.
pub fn build(server_name: &str, sender: &str, id: &str, report: &Report, original: &[u8]) -> Vec<u8> {
    let boundary = format!("postroom-dsn-{id}");
    let date = crate::time_text::rfc2822_now();
    let subject = report.action.subject();
    let explanation = report.action.explanation();
    let mut text = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{server_name}>\r\n\
         To: <{sender}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.dsn@{server_name}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is the mail server at {server_name}. {explanation}\r\n\r\n"
    );
    for f in report.entries {
        text.push_str(&format!("  <{}>: {}\r\n", f.recipient, one_line(&f.diagnostic)));
    }
    text.push_str(&format!("\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {server_name}\r\n"));
    if let Some(envid) = report.envid {
        text.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    for f in report.entries {
        text.push_str("\r\n");
        if let Some(orcpt) = &f.orcpt {
            text.push_str(&format!("Original-Recipient: rfc822; {}\r\n", one_line(orcpt)));
        }
        text.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
            f.recipient,
            report.action.word(),
            f.status,
            one_line(&f.diagnostic)
        ));
    }
    let (content_type, returned) =
        if report.ret_full { ("message/rfc822", original) } else { ("text/rfc822-headers", headers_of(original)) };
    text.push_str(&format!("\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"));
    let mut out = text.into_bytes();
    out.extend_from_slice(returned);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Builds the report and delivers it to `sender`: into a local INBOX, or into the outbound queue.
pub async fn send(store: &Store, server_name: &str, sender: &str, id: &str, report: &Report<'_>, original: &[u8]) -> StoreResult<()> {
    let text = build(server_name, sender, id, report, original);
    let rcpt = sender.to_string();
    let name = server_name.to_string();
    // A report may go anywhere, like any mail from the server itself.
    let routed = store.read_async(move |c| delivery::route(c, &name, &crate::settings::RelaySettings::default(), &rcpt, true)).await?;
    match routed {
        Ok(recipient) => {
            let envelope = Envelope { sender: String::new(), recipients: vec![recipient], auth_user: None, dsn: DsnRequest::default(), spam: Default::default() };
            delivery::deliver(store, envelope, text).await?;
            tracing::info!(target: "mail", id, to = %sender, action = report.action.word(), "delivery report sent");
        }
        Err(refusal) => tracing::warn!(target: "smtpclt", to = %sender, ?refusal, "cannot send a delivery report: the sender is unknown"),
    }
    Ok(())
}

/// Delivers `message` (see [`delivery::deliver`]), then tells the sender of each local delivery it asked
/// to hear of (`NOTIFY=SUCCESS`, RFC 3461); never for the null sender. `id` is the message's queue id, used
/// in the report's Message-ID. A report that cannot be sent is logged; the delivery stands.
pub async fn deliver_and_report(store: &Store, server_name: &str, id: &str, envelope: Envelope, message: Vec<u8>) -> StoreResult<delivery::Receipt> {
    let delivered = success_entries(&envelope);
    if delivered.is_empty() {
        return delivery::deliver(store, envelope, message).await;
    }
    let (sender, ret_full, envid) = (envelope.sender.clone(), envelope.dsn.ret_full == Some(true), envelope.dsn.envid.clone());
    let original = message.clone();
    let mut receipt = delivery::deliver(store, envelope, message).await?;
    let report = Report { action: Action::Delivered, entries: &delivered, ret_full, envid: envid.as_deref() };
    match send(store, server_name, &sender, id, &report, &original).await {
        Ok(()) => receipt.reports += 1,
        Err(e) => tracing::error!(target: "mail", error = %e, "could not send a delivery report"),
    }
    Ok(receipt)
}

/// Local recipients whose sender asked to hear of delivery; none for the null sender.
fn success_entries(envelope: &Envelope) -> Vec<Entry> {
    if envelope.sender.is_empty() {
        return Vec::new();
    }
    envelope
        .recipients
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Recipient::Local { address, user, .. } if envelope.dsn.recipient(i).wants_success_report() => Some(Entry {
                recipient: address.clone(),
                orcpt: envelope.dsn.recipient(i).orcpt,
                status: "2.0.0".into(),
                diagnostic: format!("delivered to the mailbox of {user}"),
            }),
            _ => None,
        })
        .collect()
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
        let failures = [Entry { recipient: "x@far.example".into(), orcpt: None, status: "5.1.1".into(), diagnostic: "550 5.1.1 no such\r\n user".into() }];
        let report = Report { action: Action::Failed, entries: &failures, ret_full: false, envid: None };
        let dsn = String::from_utf8(build("mail.test", "alice@office.test", "q7", &report, b"Subject: plans\r\n\r\nsecret body\r\n")).unwrap();
        assert!(dsn.contains("To: <alice@office.test>"));
        assert!(dsn.contains("report-type=delivery-status"));
        assert!(dsn.contains("Final-Recipient: rfc822; x@far.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user"));
        assert!(dsn.contains("Subject: plans") && !dsn.contains("secret body"), "headers only");
        assert_eq!(status_of("4.4.1 connection refused", false), "4.4.1");
        assert_eq!(status_of("mailbox full", true), "5.0.0");
        assert_eq!(status_from_error("mx.far.example said: 550 5.1.1 no such user"), "5.1.1");
        assert_eq!(status_from_error("mx.far.example said: 554 rejected"), "5.0.0");
    }

    #[test]
    fn ret_full_envid_and_orcpt_come_back_as_the_sender_asked() {
        let entries = [Entry { recipient: "bob@far.example".into(), orcpt: Some("Bob@Far.Example".into()), status: "2.0.0".into(), diagnostic: "delivered".into() }];
        let report = Report { action: Action::Delivered, entries: &entries, ret_full: true, envid: Some("QQ314159") };
        let dsn = String::from_utf8(build("mail.test", "alice@office.test", "m1", &report, b"Subject: plans\r\n\r\nsecret body\r\n")).unwrap();
        assert!(dsn.contains("Subject: Successful Mail Delivery Report"));
        assert!(dsn.contains("Original-Envelope-Id: QQ314159\r\n"));
        assert!(dsn.contains("Original-Recipient: rfc822; Bob@Far.Example\r\nFinal-Recipient: rfc822; bob@far.example\r\nAction: delivered\r\nStatus: 2.0.0"));
        assert!(dsn.contains("Content-Type: message/rfc822\r\n\r\nSubject: plans\r\n\r\nsecret body\r\n"), "RET=FULL returns the body: {dsn}");
    }
}
