//! Who a collected message is for, and delivering it together with the record that it was collected.
//!
//! By headers (catch-all): the addresses in the recipient fields, kept only where they name a local user
//! or alias at a local domain (never a remote address: collected mail is not relayed), each user once;
//! none → the fallback user. The header section read is bounded ([`MAX_HEADER`]), and so are the
//! addresses taken from it ([`MAX_ADDRESSES`]).

use rusqlite::{params, Connection};

use super::{CollectorForm, Context};
use crate::delivery::{self, DsnRequest, Envelope, Recipient, SpamVerdict};
use crate::spam::filter::{Inbound, Outcome};
use crate::store::{now, StoreResult};

/// Bytes of the header section read for recipients.
pub const MAX_HEADER: usize = 256 * 1024;
/// Addresses taken from the recipient fields.
pub const MAX_ADDRESSES: usize = 1000;
/// The fields always read for recipients.
pub const RECIPIENT_FIELDS: [&str; 5] = ["to", "cc", "delivered-to", "x-original-to", "x-rcptto"];

/// Whether `who` (a user or alias name, or an address at a local domain) names a local user.
pub fn names_someone(conn: &Connection, who: &str) -> StoreResult<bool> {
    Ok(matches!(local(conn, "localhost", who)?, Some(Recipient::Local { .. })))
}

/// The local recipient `who` names; a bare name is taken at the server's own name.
fn local(conn: &Connection, server_name: &str, who: &str) -> StoreResult<Option<Recipient>> {
    let address = if who.contains('@') { who.to_string() } else { format!("{who}@{server_name}") };
    Ok(match delivery::route(conn, server_name, &Default::default(), &address, false)? {
        Ok(r @ (Recipient::Local { .. } | Recipient::Forward { .. })) => Some(r),
        _ => None,
    })
}

/// The header fields (unfolded) of `message` named `names`, in order.
fn fields<'a>(message: &'a [u8], names: &[String]) -> Vec<String> {
    let head = &message[..message.len().min(MAX_HEADER)];
    let text = String::from_utf8_lossy(head);
    let end = text.find("\r\n\r\n").map_or(text.len(), |i| i + 2);
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text[..end].split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push(' ');
                c.push_str(line.trim());
            }
            continue;
        }
        if let Some(c) = current.take() {
            out.push(c);
        }
        if let Some((name, value)) = line.split_once(':') {
            if names.iter().any(|n| n.eq_ignore_ascii_case(name.trim())) {
                current = Some(value.trim().to_string());
            }
        }
    }
    out.extend(current);
    out
}

/// The addresses in a header value: each `local@domain` run, without its brackets and quotes.
fn addresses(value: &str, out: &mut Vec<String>) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let chars: Vec<char> = value.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c != '@' || out.len() >= MAX_ADDRESSES {
            continue;
        }
        let start = (0..i).rev().take_while(|&j| allowed(chars[j])).last().unwrap_or(i);
        let end = (i + 1..chars.len()).take_while(|&j| chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '-').last().map_or(i, |j| j + 1);
        if start < i && end > i + 1 {
            let address: String = chars[start..end].iter().collect::<String>().trim_end_matches('.').to_ascii_lowercase();
            if !out.contains(&address) {
                out.push(address);
            }
        }
    }
}

/// Who gets the message, each local user once.
fn recipients(conn: &Connection, server_name: &str, form: &CollectorForm, message: &[u8]) -> StoreResult<Vec<Recipient>> {
    if !form.deliver_to.is_empty() {
        return Ok(local(conn, server_name, &form.deliver_to)?.into_iter().collect());
    }
    let names: Vec<String> = RECIPIENT_FIELDS.iter().map(|s| s.to_string()).chain(form.extra_headers.iter().cloned()).collect();
    let mut found = Vec::new();
    for value in fields(message, &names) {
        addresses(&value, &mut found);
    }
    let mut out: Vec<Recipient> = Vec::new();
    for address in found {
        if let Some(r) = local(conn, server_name, &address)? {
            let same = |o: &Recipient| match (o, &r) {
                (Recipient::Local { user_id: a, .. }, Recipient::Local { user_id: b, .. }) => a == b,
                (Recipient::Forward { to: a, .. }, Recipient::Forward { to: b, .. }) => a == b,
                _ => false,
            };
            if !out.iter().any(same) {
                out.push(r);
            }
        }
    }
    if out.is_empty() {
        out.extend(local(conn, server_name, &form.fallback)?);
    }
    Ok(out)
}

/// The envelope sender: the message's `Return-Path:` (what the ISP's server put there), or none.
fn return_path(message: &[u8]) -> String {
    let mut found = Vec::new();
    for value in fields(message, &["return-path".to_string()]).iter().take(1) {
        addresses(value, &mut found);
    }
    found.into_iter().next().unwrap_or_default()
}

/// Tells the recipients of a message too large to collect that it waits at the ISP, and remembers its id
/// (as not collected) in the same commit, so they are told once. Nothing is fetched.
pub async fn tell_too_large(ctx: &Context, form: &CollectorForm, mailbox: &str, uidl: &str, size: u64, limit: u64, header: &[u8]) -> StoreResult<()> {
    let settings = ctx.settings.clone();
    let (form2, probe) = (form.clone(), header.to_vec());
    let server_name = settings.general.server_name.clone();
    let recipients = ctx.store.read_async(move |c| recipients(c, &server_name, &form2, &probe)).await?;
    let field = |name: &str| fields(header, &[name.to_string()]).into_iter().next().unwrap_or_default().chars().filter(|c| !c.is_control()).take(200).collect::<String>();
    let (from, subject) = (field("from"), field("subject"));
    let notice = format!(
        "From: Postroom <postmaster@{server}>\r\nTo: undisclosed-recipients:;\r\nSubject: A message for you waits at the ISP (too large to collect)\r\n\
         Date: {date}\r\nMessage-ID: <collector.{stamp}.{n}@{server}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         A message is larger than the mail collector \"{name}\" takes ({kb} KB; the limit is {limit_kb} KB),\r\n\
         so it was left in the mailbox at {host}:\r\n\r\n  From: {from}\r\n  Subject: {subject}\r\n\r\n\
         It is collected as soon as the limit allows it: ask the administrator to raise \"Largest message\"\r\n\
         in Mail Collectors, or read it with the ISP's webmail.\r\n",
        server = settings.general.server_name,
        date = crate::time_text::rfc2822_now(),
        stamp = now(),
        n = uidl.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))),
        name = form.name,
        kb = size.div_ceil(1024),
        limit_kb = limit / 1024,
        host = form.host,
    );
    let (mailbox, uidl) = (mailbox.to_string(), uidl.to_string());
    let at = now();
    let remember = move |c: &Connection| -> StoreResult<()> {
        c.execute(
            "INSERT OR IGNORE INTO collector_uidls (mailbox, uidl, first_seen, last_listed, collected) VALUES (?1, ?2, ?3, ?3, 0)",
            params![mailbox, uidl, at],
        )?;
        Ok(())
    };
    if recipients.is_empty() {
        return ctx.store.write_async(remember).await;
    }
    let envelope = Envelope { sender: String::new(), recipients, auth_user: None, dsn: DsnRequest::default(), spam: SpamVerdict::default() };
    delivery::deliver_then(&ctx.store, envelope, notice.into_bytes(), remember).await?;
    Ok(())
}

/// Delivers one collected message and records its id in the same commit. False when it must wait for
/// a later run (the spam scanner that must answer did not).
pub async fn deliver(ctx: &Context, form: &CollectorForm, mailbox: &str, uidl: &str, first_seen: i64, body: Vec<u8>) -> StoreResult<bool> {
    let settings = ctx.settings.clone();
    let (form2, probe) = (form.clone(), body[..body.len().min(MAX_HEADER)].to_vec());
    let server_name = settings.general.server_name.clone();
    let recipients = ctx.store.read_async(move |c| recipients(c, &server_name, &form2, &probe)).await?;
    if recipients.is_empty() {
        // The fallback or target user is gone since the collector was set up: nothing is fetched away.
        tracing::error!(target: "collector", collector = %form.name, "no local user to deliver to (the collector's user or fallback no longer exists); the message stays at the ISP");
        return Ok(false);
    }
    let sender = return_path(&body);
    let (body, verdict) = if settings.spam.any_check() {
        let who = Inbound { ip: std::net::Ipv4Addr::UNSPECIFIED.into(), helo: "", sender: &sender, recipients: &recipients, collected: true };
        match crate::spam::filter::check(&ctx.store, &ctx.auth, &settings, &who, body).await {
            (Outcome::Accept { message, verdict }, summary) => {
                let action = format!("{:?}", verdict.action).to_lowercase();
                tracing::info!(target: "mail", collector = %form.name, from = %sender, results = %summary, action = %action, "checked");
                (message, verdict)
            }
            (Outcome::Refuse { text, .. }, _) => {
                tracing::warn!(target: "mail", collector = %form.name, "{text}; the message stays at the ISP until the next download");
                return Ok(false);
            }
        }
    } else {
        (body, SpamVerdict::default())
    };
    // Our trace field goes on top, above the filter's.
    let mut message = format!(
        "Received: from {} ({}:{})\r\n\tby {} (Postroom) with {} (collector {});\r\n\t{}\r\n",
        form.host,
        form.host,
        form.port,
        settings.general.server_name,
        match form.protocol {
            super::Protocol::Pop3 => "POP3",
            super::Protocol::Imap => "IMAP",
        },
        form.name.replace(['\r', '\n', '(', ')'], " "),
        crate::time_text::rfc2822_now()
    )
    .into_bytes();
    message.extend_from_slice(&body);
    drop(body);
    let envelope = Envelope { sender, recipients, auth_user: None, dsn: DsnRequest::default(), spam: verdict };
    let (mailbox, uidl) = (mailbox.to_string(), uidl.to_string());
    let at = now();
    delivery::deliver_then(&ctx.store, envelope, message, move |c| {
        c.execute(
            "INSERT INTO collector_uidls (mailbox, uidl, first_seen, last_listed, collected) VALUES (?1, ?2, ?3, ?4, 1) \
             ON CONFLICT(mailbox, uidl) DO UPDATE SET collected = 1, last_listed = ?4",
            params![mailbox, uidl, first_seen, at],
        )?;
        Ok(())
    })
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_fields_are_unfolded_and_their_addresses_taken_once() {
        let m = b"To: Anna <anna@office.test>,\r\n\t\"Ben, B.\" <ben@office.test>\r\nCc: anna@office.test\r\nSubject: to x@y.test\r\nX-RCPTTO: <chloe@office.test>\r\n\r\nTo: body@office.test\r\n";
        let names: Vec<String> = RECIPIENT_FIELDS.iter().map(|s| s.to_string()).collect();
        let mut found = Vec::new();
        for v in fields(m, &names) {
            addresses(&v, &mut found);
        }
        assert_eq!(found, ["anna@office.test", "ben@office.test", "chloe@office.test"]);
        assert_eq!(return_path(b"Return-Path: <Bob@Example.com>\r\n\r\n"), "bob@example.com");
        assert_eq!(return_path(b"Return-Path: <>\r\n\r\n"), "");
    }

    #[test]
    fn addresses_are_bounded() {
        let value: String = (0..5000).map(|i| format!("u{i}@d.test, ")).collect();
        let mut found = Vec::new();
        addresses(&value, &mut found);
        assert_eq!(found.len(), MAX_ADDRESSES);
    }
}
