//! smtpclt: works through the outbound queue.
//!
//! The worker wakes when a message is queued (a `Notify` from the SMTP session or the engine's change
//! watcher), when the next retry falls due, or every [`POLL`]. It takes the due recipients, groups them
//! per message and destination domain, and sends each group in one SMTP transaction — through the smart
//! host if one is set, else to the domain's MX hosts in preference order (the domain itself when it has
//! no MX). Each recipient's outcome is recorded: sent; a temporary failure (4xx, no connection), retried
//! after the next step of `outbound.retry_minutes`; or a permanent failure (5xx, or older than
//! `outbound.max_age_hours`), which is bounced to the sender with a DSN. TLS follows `outbound.tls`:
//! `required` never falls back to plain text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mail_send::smtp::message::Parameters;
use mail_send::{SmtpClient, SmtpClientBuilder};
use rusqlite::params;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::bounce::{self, Failure};
use crate::delivery::{self, split_address, Envelope};
use crate::settings::{OutboundSettings, OutboundTls, Settings};
use crate::store::{blobs, now, Store, StoreResult};

/// The longest the worker sleeps without looking at the queue.
pub const POLL: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Recipients taken per round.
const BATCH: i64 = 200;

pub struct QueueContext {
    pub store: Store,
    pub settings: watch::Receiver<Arc<Settings>>,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

/// A recipient whose next attempt is due.
#[derive(Debug, Clone)]
struct Due {
    id: i64,
    queue_id: i64,
    sender: String,
    recipient: String,
    blob_id: i64,
    attempts: u32,
    created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Sent,
    Temporary(String),
    Permanent(String),
}

/// Runs until shutdown.
pub async fn run(ctx: QueueContext) {
    loop {
        let due = load_due(&ctx.store).await;
        let worked = !due.is_empty();
        for ((queue_id, domain), group) in group(due) {
            if ctx.shutdown.is_cancelled() {
                return;
            }
            let settings = ctx.settings.borrow().clone();
            let outcomes = send_group(&ctx.store, &settings, &domain, &group).await;
            if let Err(e) = record(&ctx.store, &settings, queue_id, &group, outcomes).await {
                tracing::error!(target: "smtpclt", error = %e, "could not record delivery results");
            }
        }
        if worked {
            continue;
        }
        let pause = next_due_in(&ctx.store).await.unwrap_or(POLL).min(POLL);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            _ = ctx.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn load_due(store: &Store) -> Vec<Due> {
    let store = store.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        store.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id, q.id, q.sender, r.recipient, q.blob_id, r.attempts, q.created_at
                 FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
                 WHERE r.state = 'queued' AND r.next_attempt_at <= ?1
                 ORDER BY r.next_attempt_at, r.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now(), BATCH], |r| {
                Ok(Due {
                    id: r.get(0)?,
                    queue_id: r.get(1)?,
                    sender: r.get(2)?,
                    recipient: r.get(3)?,
                    blob_id: r.get(4)?,
                    attempts: r.get(5)?,
                    created_at: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    })
    .await;
    match loaded {
        Ok(Ok(due)) => due,
        other => {
            tracing::error!(target: "smtpclt", "cannot read the queue: {:?}", other.err());
            Vec::new()
        }
    }
}

async fn next_due_in(store: &Store) -> Option<Duration> {
    let store = store.clone();
    let next: Option<i64> = tokio::task::spawn_blocking(move || {
        store.read(|c| Ok(c.query_row("SELECT min(next_attempt_at) FROM queue_recipients WHERE state = 'queued'", [], |r| r.get(0))?))
    })
    .await
    .ok()?
    .ok()?;
    next.map(|at| Duration::from_secs((at - now()).max(1) as u64))
}

fn group(due: Vec<Due>) -> BTreeMap<(i64, String), Vec<Due>> {
    let mut groups: BTreeMap<(i64, String), Vec<Due>> = BTreeMap::new();
    for d in due {
        let domain = split_address(&d.recipient).1;
        groups.entry((d.queue_id, domain)).or_default().push(d);
    }
    groups
}

/// Tries every host for the destination until one takes the message or refuses it for good.
async fn send_group(store: &Store, settings: &Settings, domain: &str, group: &[Due]) -> Vec<Outcome> {
    let body = match read_body(store, group[0].blob_id).await {
        Ok(b) => b,
        Err(e) => return vec![Outcome::Temporary(format!("cannot read the message: {e}")); group.len()],
    };
    let out = &settings.outbound;
    let hosts = if out.smart_host.is_empty() {
        match mx_hosts(domain).await {
            Ok(h) => h.into_iter().map(|h| (h, 25)).collect(),
            Err(e) => return vec![e; group.len()],
        }
    } else {
        vec![(out.smart_host.clone(), out.smart_host_port)]
    };
    let mut last = vec![Outcome::Temporary(format!("no mail server found for {domain}")); group.len()];
    for (host, port) in hosts {
        let outcomes = send_to_host(settings, &host, port, group, &body).await;
        // A connection-level failure means: try the next host. Any SMTP answer settles it.
        let unreachable = outcomes.iter().all(|o| matches!(o, Outcome::Temporary(t) if t.starts_with("cannot connect")));
        last = outcomes;
        if !unreachable {
            break;
        }
    }
    last
}

async fn read_body(store: &Store, blob_id: i64) -> StoreResult<Vec<u8>> {
    let store = store.clone();
    let dir = store.blobs_dir();
    tokio::task::spawn_blocking(move || store.read(|c| blobs::read(c, &dir, blob_id)))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// MX hosts in preference order; the domain itself when it has none (RFC 5321 5.1).
async fn mx_hosts(domain: &str) -> Result<Vec<String>, Outcome> {
    let resolver = hickory_resolver::Resolver::builder_tokio()
        .map_err(|e| Outcome::Temporary(format!("no DNS resolver: {e}")))?
        .build();
    match resolver.mx_lookup(format!("{domain}.")).await {
        Ok(mx) => {
            let mut records: Vec<_> = mx.iter().map(|r| (r.preference(), r.exchange().to_utf8())).collect();
            records.sort();
            let hosts: Vec<String> = records.into_iter().map(|(_, h)| h.trim_end_matches('.').to_string()).collect();
            if hosts.iter().any(|h| h.is_empty()) {
                return Err(Outcome::Permanent(format!("5.1.10 {domain} accepts no mail (null MX)")));
            }
            Ok(hosts)
        }
        Err(e) if e.is_no_records_found() => Ok(vec![domain.to_string()]),
        Err(e) => Err(Outcome::Temporary(format!("4.4.3 DNS lookup for {domain} failed: {e}"))),
    }
}

async fn send_to_host(settings: &Settings, host: &str, port: u16, group: &[Due], body: &[u8]) -> Vec<Outcome> {
    let out = &settings.outbound;
    let mut builder = match SmtpClientBuilder::new(host.to_string(), port) {
        Ok(b) => b.implicit_tls(false).helo_host(settings.general.server_name.clone()).timeout(CONNECT_TIMEOUT),
        Err(e) => return vec![Outcome::Temporary(format!("cannot connect to {host}: {e}")); group.len()],
    };
    let is_smart_host = !out.smart_host.is_empty();
    if !is_smart_host || !out.verify_certificate {
        // Direct MX delivery encrypts when it can but cannot expect certificates to match (as every MTA).
        builder = builder.allow_invalid_certs();
    }
    if is_smart_host && !out.username.is_empty() {
        builder = builder.credentials((out.username.clone(), out.password.clone()));
    }
    let policy = if is_smart_host { out.tls } else { OutboundTls::Opportunistic };
    match builder.connect().await {
        Ok(mut client) => transact(&mut client, host, group, body).await,
        Err(mail_send::Error::MissingStartTls) if policy == OutboundTls::Opportunistic => match builder.connect_plain().await {
            Ok(mut client) => transact(&mut client, host, group, body).await,
            Err(e) => vec![failure(host, e); group.len()],
        },
        Err(mail_send::Error::MissingStartTls) => {
            vec![Outcome::Temporary(format!("4.7.10 {host} does not offer STARTTLS and TLS is required")); group.len()]
        }
        Err(e) => vec![failure(host, e); group.len()],
    }
}

fn failure(host: &str, e: mail_send::Error) -> Outcome {
    match e {
        mail_send::Error::UnexpectedReply(r) | mail_send::Error::AuthenticationFailed(r) => reply_outcome(host, &r),
        mail_send::Error::Io(e) => Outcome::Temporary(format!("cannot connect to {host}: {e}")),
        mail_send::Error::Timeout => Outcome::Temporary(format!("cannot connect to {host}: timed out")),
        other => Outcome::Temporary(format!("{host}: {other}")),
    }
}

fn reply_outcome(host: &str, r: &smtp_proto::Response<String>) -> Outcome {
    let status = if r.esc[0] > 0 { format!("{}.{}.{} ", r.esc[0], r.esc[1], r.esc[2]) } else { String::new() };
    let text = format!("{host} said: {} {status}{}", r.code(), r.message());
    if r.code() >= 500 {
        Outcome::Permanent(text)
    } else {
        Outcome::Temporary(text)
    }
}

/// MAIL, one RCPT per recipient, DATA; each recipient gets its own outcome.
async fn transact<T: AsyncRead + AsyncWrite + Unpin>(client: &mut SmtpClient<T>, host: &str, group: &[Due], body: &[u8]) -> Vec<Outcome> {
    let params = Parameters::default();
    if let Err(e) = client.mail_from(&group[0].sender, &params).await {
        return vec![failure(host, e); group.len()];
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for d in group {
        outcomes.push(match client.rcpt_to(&d.recipient, &params).await {
            Ok(()) => Outcome::Sent,
            Err(e) => failure(host, e),
        });
    }
    if outcomes.contains(&Outcome::Sent) {
        // mail-send always ends DATA with CRLF "." CRLF; our stored bodies end with CRLF already, so the
        // peer would get one line too many. Without it the message arrives byte for byte.
        let body = body.strip_suffix(b"\r\n").unwrap_or(body);
        if let Err(e) = client.data(body).await {
            let failed = failure(host, e);
            for o in outcomes.iter_mut().filter(|o| **o == Outcome::Sent) {
                *o = failed.clone();
            }
        }
    } else {
        let _ = client.rset().await;
    }
    outcomes
}

/// Writes the outcomes; permanent failures (and those past the maximum age) are bounced to the sender.
async fn record(store: &Store, settings: &Arc<Settings>, queue_id: i64, group: &[Due], outcomes: Vec<Outcome>) -> StoreResult<()> {
    let at = now();
    let out: OutboundSettings = settings.outbound.clone();
    let mut failures = Vec::new();
    let mut updates = Vec::new();
    for (d, outcome) in group.iter().zip(outcomes) {
        let attempts = d.attempts + 1;
        let expired = at - d.created_at >= i64::from(out.max_age_hours) * 3600;
        let (state, next, error) = match outcome {
            Outcome::Sent => {
                tracing::info!(target: "mail", queue_id, recipient = %d.recipient, "message sent");
                ("sent", at, None)
            }
            Outcome::Temporary(e) if !expired => {
                tracing::warn!(target: "smtpclt", recipient = %d.recipient, error = %e, attempts, "will retry");
                ("queued", at + out.retry_delay_secs(attempts), Some(e))
            }
            Outcome::Temporary(e) | Outcome::Permanent(e) => {
                let (status, text) = if expired {
                    ("4.4.7".to_string(), format!("gave up after {} hours; last error: {e}", out.max_age_hours))
                } else {
                    (bounce::status_from_error(&e), e)
                };
                tracing::warn!(target: "smtpclt", recipient = %d.recipient, error = %text, "delivery failed for good");
                failures.push(Failure { recipient: d.recipient.clone(), status, diagnostic: text.clone() });
                ("failed", at, Some(text))
            }
        };
        updates.push((d.id, state, next, error, attempts));
    }
    store
        .write_async(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE queue_recipients SET state = ?2, next_attempt_at = ?3, last_error = ?4, attempts = ?5, updated_at = ?6 WHERE id = ?1",
            )?;
            for (id, state, next, error, attempts) in &updates {
                stmt.execute(params![id, state, next, error, attempts, at])?;
            }
            Ok(())
        })
        .await?;
    let sender = &group[0].sender;
    if !failures.is_empty() && !sender.is_empty() {
        send_bounce(store, settings, queue_id, group[0].blob_id, sender, &failures).await?;
    }
    Ok(())
}

async fn send_bounce(store: &Store, settings: &Settings, queue_id: i64, blob_id: i64, sender: &str, failures: &[Failure]) -> StoreResult<()> {
    let original = read_body(store, blob_id).await?;
    let name = settings.general.server_name.clone();
    let dsn = bounce::build(&name, sender, &format!("q{queue_id}"), failures, &original);
    let rcpt = sender.to_string();
    let routed = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.read(|c| delivery::route(c, &name, &rcpt, true)))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??
    };
    match routed {
        Ok(recipient) => {
            let envelope = Envelope { sender: String::new(), recipients: vec![recipient], auth_user: None };
            delivery::deliver(store, envelope, dsn).await?;
            tracing::info!(target: "mail", queue_id, to = %sender, "bounce sent");
        }
        Err(refusal) => tracing::warn!(target: "smtpclt", to = %sender, ?refusal, "cannot bounce: the sender is unknown"),
    }
    Ok(())
}
