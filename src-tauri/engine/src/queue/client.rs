//! smtpclt: works through the outbound queue.
//!
//! The worker wakes when a message is queued (a `Notify` from the SMTP session or the engine's change
//! watcher), when the next retry falls due, or every [`POLL`]. It takes the due recipients, groups them
//! per message and destination domain, and sends each group in one SMTP transaction — through the smart
//! host if one is set, else to the domain's MX hosts in preference order (the domain itself when it has
//! no MX), each host's addresses in turn. Names are looked up with hickory, through
//! `outbound.dns_server` when the admin set one. Each recipient's outcome is recorded: sent; a temporary
//! failure (4xx, no connection), retried after the next step of `outbound.retry_minutes`; or a permanent
//! failure (5xx, or older than `outbound.max_age_hours`), reported to the sender with a DSN unless the
//! sender said `NOTIFY=NEVER`. TLS follows `outbound.tls` for the smart host: `required` never falls back
//! to plain text. Direct MX delivery is opportunistic, like every MTA: STARTTLS when offered, and plain
//! text again if the TLS handshake fails. DSN requests (RET, ENVID, NOTIFY, ORCPT) are passed on to a
//! server that offers DSN; a `NOTIFY=SUCCESS` relayed to one that does not gets a "relayed" report.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use mail_send::smtp::message::Parameters;
use mail_send::smtp::tls::build_tls_connector;
use mail_send::smtp::AssertReply;
use mail_send::{Credentials, SmtpClient};
use rusqlite::params;
use smtp_proto::{EhloResponse, EXT_DSN, EXT_START_TLS};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::delivery::dsn::{self, Action, Entry, Report};
use crate::forward::Target;
use crate::delivery::{split_address, RecipientDsn};
use crate::logwriter::LogFile;
use crate::net::tap::Tap;
use crate::net::transcript::Transcript;
use super::reuse::{self, Kept, Reuse};
use crate::settings::{OutboundSettings, OutboundTls, Settings};
use crate::store::{blobs, now, Store, StoreResult};

/// The longest the worker sleeps without looking at the queue.
pub const POLL: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for the greeting and each command's reply (DATA's is [`data_timeout`]).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
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
    dsn: RecipientDsn,
    ret_full: Option<bool>,
    envid: Option<String>,
    /// 'internet', 'lan' or 'store_forward' (see `forward`).
    kind: String,
    /// The server a forwarded recipient goes to (no MX lookup).
    target: Option<Target>,
}

impl Due {
    fn forwarded(&self) -> bool {
        self.kind != "internet"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Sent,
    Temporary(String),
    Permanent(String),
    /// A Store-and-Forward copy whose stored message the user deleted first: it is never sent.
    Withdrawn,
}

/// What one delivery attempt for a group came to.
struct Attempt {
    outcomes: Vec<Outcome>,
    /// The receiving server took the DSN requests over (it offers DSN).
    passed_dsn: bool,
}

impl Attempt {
    fn all(outcome: Outcome, n: usize) -> Attempt {
        Attempt { outcomes: vec![outcome; n], passed_dsn: false }
    }
}

/// Runs until shutdown. Groups (one message to one destination) are sent side by side, up to
/// `outbound.max_parallel` at once, so one slow or hostile server holds up only its own group; the queue is
/// looked at again when the groups taken from it are all started, when something is queued, or when a retry
/// falls due. Connections are kept between messages to the same server ([`reuse`](super::reuse)).
pub async fn run(ctx: QueueContext) {
    let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    // The recipients each running task is sending, so a round never takes them twice.
    let mut tasks: std::collections::HashMap<tokio::task::Id, Vec<i64>> = std::collections::HashMap::new();
    let reuse: Arc<Reuse<Open>> = Arc::default();
    // Groups read from the queue and not yet started.
    let mut pending: std::collections::VecDeque<((i64, String), Vec<Due>)> = Default::default();
    let mut look = true;
    loop {
        let parallel = ctx.settings.borrow().outbound.max_parallel.clamp(1, 32) as usize;
        if look || pending.is_empty() {
            let in_flight: std::collections::HashSet<i64> = tasks.values().flatten().copied().collect();
            let due: Vec<Due> = load_due(&ctx.store).await.into_iter().filter(|d| !in_flight.contains(&d.id)).collect();
            pending = group(due).into_iter().collect();
            look = false;
        }
        while running.len() < parallel && !ctx.shutdown.is_cancelled() {
            let Some(((queue_id, domain), group)) = pending.pop_front() else { break };
            let ids: Vec<i64> = group.iter().map(|d| d.id).collect();
            let (store, settings, reuse) = (ctx.store.clone(), ctx.settings.borrow().clone(), reuse.clone());
            let task = running.spawn(async move {
                let attempt = send_group(&store, &settings, &reuse, &domain, &group).await;
                if let Err(e) = record(&store, &settings, queue_id, &group, attempt).await {
                    tracing::error!(target: "smtpclt", error = %e, "could not record delivery results");
                }
            });
            tasks.insert(task.id(), ids);
        }
        close(reuse.expire());
        let mut pause = if !pending.is_empty() { POLL } else { next_due_in(&ctx.store).await.unwrap_or(POLL).min(POLL) };
        if !reuse.is_empty() {
            pause = pause.min(reuse::IDLE);
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                running.abort_all();
                close(reuse.drain());
                return;
            }
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(target: "smtpclt", error = %e, "a delivery task failed");
                        e.id()
                    }
                };
                tasks.remove(&id);
            }
            _ = ctx.wake.notified() => look = true,
            _ = tokio::time::sleep(pause) => look = true,
        }
    }
}

/// Says QUIT on sessions no longer kept, without waiting for them.
fn close(sessions: Vec<Kept<Open>>) {
    for kept in sessions {
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), kept.session.session.quit()).await;
        });
    }
}

async fn load_due(store: &Store) -> Vec<Due> {
    let loaded = store
        .read_async(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id, q.id, q.sender, r.recipient, q.blob_id, r.attempts, q.created_at,
                        r.notify, r.orcpt, q.dsn_ret_full, q.dsn_envid, r.kind, r.route
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
                    dsn: RecipientDsn { notify: r.get::<_, i64>(7)? as u64, orcpt: r.get(8)? },
                    ret_full: r.get(9)?,
                    envid: r.get(10)?,
                    kind: r.get(11)?,
                    target: r.get::<_, Option<String>>(12)?.as_deref().and_then(Target::from_route),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await;
    match loaded {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(target: "smtpclt", error = %e, "cannot read the queue");
            Vec::new()
        }
    }
}

async fn next_due_in(store: &Store) -> Option<Duration> {
    let next: Option<i64> = store
        .read_async(|c| Ok(c.query_row("SELECT min(next_attempt_at) FROM queue_recipients WHERE state = 'queued'", [], |r| r.get(0))?))
        .await
        .ok()?;
    next.map(|at| Duration::from_secs((at - now()).max(1) as u64))
}

/// One transaction per message and destination: a domain (its MX or the smart host), or for forwarded
/// recipients the target server (several users' copies of one message to one server go together).
fn group(due: Vec<Due>) -> BTreeMap<(i64, String), Vec<Due>> {
    let mut groups: BTreeMap<(i64, String), Vec<Due>> = BTreeMap::new();
    for d in due {
        let destination = match &d.target {
            Some(t) => format!("\u{0}{}", t.to_route()),
            None => split_address(&d.recipient).1,
        };
        groups.entry((d.queue_id, destination)).or_default().push(d);
    }
    groups
}


/// Tries every host for the destination, and each of its addresses, until one holds an SMTP
/// conversation about the message; that conversation's answers settle it.
async fn send_group(store: &Store, settings: &Settings, reuse: &Reuse<Open>, domain: &str, group: &[Due]) -> Attempt {
    if let Some(target) = group[0].target.clone() {
        return forward_group(store, settings, reuse, &target, group).await;
    }
    let n = group.len();
    let body = match read_body(store, group[0].blob_id).await {
        Ok(b) => b,
        Err(e) => return Attempt::all(Outcome::Temporary(format!("cannot read the message: {e}")), n),
    };
    let out = &settings.outbound;
    let resolver = match resolver(out) {
        Ok(r) => r,
        Err(e) => return Attempt::all(e, n),
    };
    let (hosts, port) = if out.smart_host.is_empty() {
        match mx_hosts(&resolver, domain).await {
            Ok(h) => (h, 25),
            Err(e) => return Attempt::all(e, n),
        }
    } else {
        (vec![out.smart_host.clone()], out.smart_host_port)
    };
    let mut last = Outcome::Temporary(format!("4.4.4 no mail server found for {domain}"));
    let smart = !out.smart_host.is_empty();
    // Whether any address was tried or looked up, and whether any was refused as this machine's own.
    let (mut tried, mut refused_local) = (false, false);
    for host in hosts.into_iter().take(MAX_HOSTS) {
        let addresses = match addresses_of(&resolver, &host, port).await {
            Ok(a) => a,
            Err(e) => {
                tried = true;
                last = e;
                continue;
            }
        };
        for address in addresses.into_iter().take(MAX_ADDRESSES) {
            // An MX that points back at this machine (or loopback, link-local, unspecified) would make the
            // message go round in circles, or reach services never meant for the Internet. Only the smart host
            // the admin configured may be such an address.
            if !smart && forbidden_destination(address.ip()) {
                tracing::warn!(target: "smtpclt", host = %host, %address, "not connecting: the address is this machine's own, loopback, link-local or unspecified");
                refused_local = true;
                continue;
            }
            tried = true;
            let span = tracing::info_span!("session", sid = crate::logging::next_session_id());
            match deliver_with(settings, reuse, &Peer::outbound(out), &host, address, group, &body).instrument(span).await {
                Ok(attempt) => return attempt,
                Err(e) => {
                    tracing::info!(target: "smtpclt", host = %host, %address, error = ?e, "trying the next address");
                    last = e;
                }
            }
        }
    }
    if refused_local && !tried {
        // Every address the destination gave was our own or local: that will not change by waiting.
        last = Outcome::Permanent(format!("5.4.6 the mail server for {domain} is this machine or a local-only address (a mail loop)"));
    }
    Attempt::all(last, n)
}

/// Sends a forwarded group to its target server: no MX lookup (the admin named the server, which may be on
/// the office's own network), STARTTLS when offered, the login only as the target allows. Store-and-Forward
/// copies whose stored message is gone (the user deleted it) are withdrawn, never sent.
async fn forward_group(store: &Store, settings: &Settings, reuse: &Reuse<Open>, target: &Target, group: &[Due]) -> Attempt {
    let ids: Vec<i64> = group.iter().filter(|d| d.kind == "store_forward").map(|d| d.id).collect();
    let alive: std::collections::HashSet<i64> = match store
        .read_async(move |c| {
            let mut stmt = c.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE forward_id = ?1)")?;
            let mut alive = std::collections::HashSet::new();
            for id in ids {
                if stmt.query_row([id], |r| r.get::<_, bool>(0))? {
                    alive.insert(id);
                }
            }
            Ok(alive)
        })
        .await
    {
        Ok(a) => a,
        Err(e) => return Attempt::all(Outcome::Temporary(format!("cannot read the mailbox: {e}")), group.len()),
    };
    let wanted = |d: &Due| d.kind != "store_forward" || alive.contains(&d.id);
    let live: Vec<Due> = group.iter().filter(|d| wanted(d)).cloned().collect();
    let mut outcomes = vec![Outcome::Withdrawn; group.len()];
    if live.is_empty() {
        return Attempt { outcomes, passed_dsn: false };
    }
    let sent = send_to_target(store, settings, reuse, target, &live).await;
    let mut results = sent.outcomes.into_iter();
    for (slot, d) in outcomes.iter_mut().zip(group) {
        if wanted(d) {
            *slot = results.next().unwrap_or_else(|| Outcome::Temporary("4.3.0 no result".into()));
        }
    }
    Attempt { outcomes, passed_dsn: sent.passed_dsn }
}

async fn send_to_target(store: &Store, settings: &Settings, reuse: &Reuse<Open>, target: &Target, group: &[Due]) -> Attempt {
    let n = group.len();
    let body = match read_body(store, group[0].blob_id).await {
        Ok(b) => b,
        Err(e) => return Attempt::all(Outcome::Temporary(format!("cannot read the message: {e}")), n),
    };
    let resolver = match resolver(&settings.outbound) {
        Ok(r) => r,
        Err(e) => return Attempt::all(e, n),
    };
    let addresses = match addresses_of(&resolver, &target.host, target.port).await {
        Ok(a) => a,
        Err(e) => return Attempt::all(e, n),
    };
    let peer = Peer::target(target);
    let mut last = Outcome::Temporary(format!("4.4.4 cannot reach {}", target.shown()));
    let addresses: Vec<SocketAddr> = addresses.into_iter().take(MAX_ADDRESSES).collect();
    // A target that is this very server would send the mail round in circles: a backup MX must never
    // forward to itself. Waiting will not change that.
    if !addresses.is_empty() && addresses.iter().all(|a| is_ourselves(settings, *a)) {
        return Attempt::all(Outcome::Permanent(format!("5.4.6 the forwarding target {} is this server itself (a mail loop)", target.shown())), n);
    }
    for address in addresses {
        let span = tracing::info_span!("session", sid = crate::logging::next_session_id());
        match deliver_with(settings, reuse, &peer, &target.host, address, group, &body).instrument(span).await {
            Ok(attempt) => return attempt,
            Err(e) => last = e,
        }
    }
    Attempt::all(last, n)
}

/// Whether `address` is one of this server's own SMTP listeners: an address of this machine (or loopback,
/// or unspecified) and the port of an enabled SMTP service.
fn is_ourselves(settings: &Settings, address: SocketAddr) -> bool {
    use crate::settings::ServiceId;
    let ours = [ServiceId::Smtp, ServiceId::Submission, ServiceId::Smtps]
        .into_iter()
        .map(|id| settings.services.get(id))
        .any(|s| s.enabled && s.port == address.port());
    let ip = address.ip();
    ours && (ip.is_loopback() || ip.is_unspecified() || own_addresses().contains(&ip))
}

/// MX hosts tried per attempt, and addresses per host: a destination listing hundreds cannot keep the
/// worker busy for hours.
const MAX_HOSTS: usize = 5;
const MAX_ADDRESSES: usize = 2;

/// Addresses outbound delivery never connects to unless the admin named them as the smart host.
fn forbidden_destination(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let local = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    local || own_addresses().contains(&ip)
}

/// This machine's own addresses, looked up at most once a minute.
fn own_addresses() -> Vec<IpAddr> {
    static CACHE: std::sync::Mutex<Option<(std::time::Instant, Vec<IpAddr>)>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, list)) = cache.as_ref() {
        if at.elapsed() < Duration::from_secs(60) {
            return list.clone();
        }
    }
    let list = interface_addresses();
    *cache = Some((std::time::Instant::now(), list.clone()));
    list
}

#[cfg(unix)]
fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we only read and then free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(not(unix))]
fn interface_addresses() -> Vec<IpAddr> {
    Vec::new()
}

async fn read_body(store: &Store, blob_id: i64) -> StoreResult<Vec<u8>> {
    let dir = store.blobs_dir();
    store.read_async(move |c| blobs::read(c, &dir, blob_id)).await
}

/// The resolver for MX and address lookups: the admin's DNS server, or the system's.
fn resolver(out: &OutboundSettings) -> Result<TokioResolver, Outcome> {
    let provider = TokioConnectionProvider::default();
    let builder = match out.dns_server_address() {
        Some(server) => {
            let group = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            TokioResolver::builder_with_config(ResolverConfig::from_parts(None, vec![], group), provider)
        }
        None => TokioResolver::builder(provider).map_err(|e| Outcome::Temporary(format!("4.4.3 no DNS resolver: {e}")))?,
    };
    Ok(builder.build())
}

/// MX hosts in preference order; the domain itself when it has none (RFC 5321 5.1).
async fn mx_hosts(resolver: &TokioResolver, domain: &str) -> Result<Vec<String>, Outcome> {
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

/// The addresses of a host name (an address literal stands for itself).
async fn addresses_of(resolver: &TokioResolver, host: &str, port: u16) -> Result<Vec<SocketAddr>, Outcome> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match resolver.lookup_ip(format!("{host}.")).await {
        Ok(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect()),
        Err(e) if e.is_no_records_found() => Err(Outcome::Temporary(format!("4.4.4 {host} has no address"))),
        Err(e) => Err(Outcome::Temporary(format!("4.4.3 DNS lookup for {host} failed: {e}"))),
    }
}

/// Connects to the smart host the settings name, as delivery would (TLS as set, the certificate checked
/// as set, the login), and says QUIT: what happened, in words, or why it failed. Nothing is sent.
pub async fn try_smart_host(settings: &Settings) -> Result<String, String> {
    let out = &settings.outbound;
    let host = out.smart_host.as_str();
    if host.is_empty() {
        return Err("no smart host is set".into());
    }
    let resolver = resolver(out).map_err(outcome_words)?;
    let addresses = addresses_of(&resolver, host, out.smart_host_port).await.map_err(outcome_words)?;
    let peer = Peer::outbound(out);
    let mut last = String::new();
    for address in addresses {
        match open(settings, &peer, host, address, Starttls::IfOffered).await {
            Ok((session, _)) => {
                let tls = if matches!(session, Session::Tls(_)) { "encrypted with STARTTLS" } else { "not encrypted" };
                let login = match peer.login {
                    Some((user, _)) => format!(", logged in as {user}"),
                    None => String::new(),
                };
                let _ = session.quit().await;
                return Ok(format!("Connected to {host} ({address}), {tls}{login}."));
            }
            Err(e) => last = e.text().to_string(),
        }
    }
    Err(last)
}

/// What the DNS says `name` stands for (through the server's resolver).
pub async fn look_up(out: &OutboundSettings, name: &str) -> Result<Vec<IpAddr>, String> {
    let resolver = resolver(out).map_err(outcome_words)?;
    let found = tokio::time::timeout(CONNECT_TIMEOUT, addresses_of(&resolver, name, 0)).await.map_err(|_| format!("DNS lookup for {name} timed out"))?;
    Ok(found.map_err(outcome_words)?.into_iter().map(|a| a.ip()).collect())
}

/// An outcome's text without its enhanced status code ("4.4.4 x has no address" → "x has no address").
fn outcome_words(o: Outcome) -> String {
    match o {
        Outcome::Temporary(t) | Outcome::Permanent(t) => match t.split_once(' ') {
            Some((code, rest)) if code.split('.').count() == 3 && code.split('.').all(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())) => rest.to_string(),
            _ => t,
        },
        Outcome::Sent | Outcome::Withdrawn => String::new(),
    }
}

/// An open session with a receiving server, encrypted or not.
enum Session {
    Plain(SmtpClient<Tap<TcpStream>>),
    Tls(SmtpClient<Tap<TlsStream<TcpStream>>>),
}

/// Whether to ask for STARTTLS on this connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Starttls {
    IfOffered,
    Skip,
}

/// How to talk to one kind of server: TLS policy, whether its certificate is checked, and its login.
struct Peer<'a> {
    policy: OutboundTls,
    verify: bool,
    login: Option<(&'a str, &'a str)>,
    /// The login may go without TLS whose certificate was checked.
    plain_auth: bool,
    /// Where the admin allows that, for the refusal's text.
    allow_where: &'static str,
}

impl<'a> Peer<'a> {
    /// What a kept session must match to be used again: the same address and name, TLS policy and login.
    fn key(&self, host: &str, address: SocketAddr) -> String {
        let (user, password) = self.login.unwrap_or_default();
        format!("{address}\u{0}{host}\u{0}{:?}\u{0}{}\u{0}{}\u{0}{user}\u{0}{password}", self.policy, self.verify, self.plain_auth)
    }

    /// The smart host as the Outbound tab sets it, or a domain's MX (opportunistic TLS, no login).
    fn outbound(out: &'a OutboundSettings) -> Peer<'a> {
        if out.smart_host.is_empty() {
            return Peer { policy: OutboundTls::Opportunistic, verify: false, login: None, plain_auth: false, allow_where: "" };
        }
        Peer {
            policy: out.tls,
            verify: out.verify_certificate,
            login: (!out.username.is_empty()).then_some((out.username.as_str(), out.password.as_str())),
            plain_auth: out.allow_plaintext_auth,
            allow_where: "in the SMTP window's Outbound tab",
        }
    }

    /// A forwarding target: STARTTLS when offered; a login only inside TLS whose certificate was checked,
    /// unless the rule allows plain-text login on the office's network.
    fn target(t: &'a Target) -> Peer<'a> {
        let login = (!t.username.is_empty()).then_some((t.username.as_str(), t.password.as_str()));
        Peer { policy: OutboundTls::Opportunistic, verify: login.is_some() && !t.plain_auth, login, plain_auth: t.plain_auth, allow_where: "on the forwarding rule" }
    }
}

/// One SMTP conversation with `address`, over a kept session to the same server when there is one. `Err`
/// means no conversation about the message took place (no connection, a refusing greeting, TLS trouble):
/// the caller tries the next address.
async fn deliver_with(settings: &Settings, reuse: &Reuse<Open>, peer: &Peer<'_>, host: &str, address: SocketAddr, group: &[Due], body: &[u8]) -> Result<Attempt, Outcome> {
    let key = peer.key(host, address);
    let (kept, stale) = reuse.take(&key);
    close(stale);
    let kept = match kept {
        // The server may have closed it meanwhile: RSET finds out for a round trip.
        Some(mut kept) => match kept.session.session.rset().await {
            Ok(()) => Some(kept),
            Err(_) => None,
        },
        None => None,
    };
    let mut kept = match kept {
        Some(kept) => kept,
        None => Kept::new(connect(settings, peer, host, address).await?),
    };
    let passed_dsn = kept.session.dsn;
    let (outcomes, usable) = kept.session.session.transact(host, group, body, passed_dsn).await;
    if usable {
        if let Some(done) = reuse.put(key, kept) {
            close(vec![done]);
        }
    }
    Ok(Attempt { outcomes, passed_dsn })
}

/// A new session with `address`: STARTTLS when offered and, where the policy allows, plain text again if
/// the TLS handshake failed.
async fn connect(settings: &Settings, peer: &Peer<'_>, host: &str, address: SocketAddr) -> Result<Open, Outcome> {
    let (session, capabilities) = match open(settings, peer, host, address, Starttls::IfOffered).await {
        Err(e) if peer.policy == OutboundTls::Opportunistic && e.during_tls => {
            tracing::warn!(target: "smtpclt", host, error = %e.text(), "TLS failed; delivering without it");
            open(settings, peer, host, address, Starttls::Skip).await
        }
        other => other,
    }
    .map_err(|e| e.outcome)?;
    Ok(Open { session, dsn: capabilities.has_capability(EXT_DSN) })
}

/// An open session and whether the server offers DSN.
pub struct Open {
    session: Session,
    dsn: bool,
}

impl Session {
    async fn rset(&mut self) -> mail_send::Result<()> {
        match self {
            Session::Plain(c) => c.rset().await,
            Session::Tls(c) => c.rset().await,
        }
    }

    async fn quit(self) -> mail_send::Result<()> {
        match self {
            Session::Plain(c) => c.quit().await,
            Session::Tls(c) => c.quit().await,
        }
    }

    async fn transact(&mut self, host: &str, group: &[Due], body: &[u8], pass_dsn: bool) -> (Vec<Outcome>, bool) {
        match self {
            Session::Plain(c) => transact(c, host, group, body, pass_dsn).await,
            Session::Tls(c) => transact(c, host, group, body, pass_dsn).await,
        }
    }
}

/// Why a session could not be opened.
struct OpenError {
    outcome: Outcome,
    during_tls: bool,
}

impl OpenError {
    fn text(&self) -> &str {
        match &self.outcome {
            Outcome::Temporary(t) | Outcome::Permanent(t) => t,
            Outcome::Sent | Outcome::Withdrawn => "",
        }
    }
}

/// Connects, reads the greeting, says EHLO, upgrades with STARTTLS as the policy asks, and logs in to
/// a smart host that has credentials.
async fn open(settings: &Settings, peer: &Peer<'_>, host: &str, address: SocketAddr, starttls: Starttls) -> Result<(Session, EhloResponse<String>), OpenError> {
    let plain_error = |outcome| OpenError { outcome, during_tls: false };
    let policy = peer.policy;
    let helo = settings.general.server_name.as_str();
    let transcript = Transcript::new(LogFile::Smtpclt);
    transcript.note(&format!("connecting to {host} ({address})"));
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(tcp)) => {
            // Without it the end of DATA waits for the peer's delayed ACK of the body (Nagle): 40 ms a message.
            let _ = tcp.set_nodelay(true);
            tcp
        }
        Ok(Err(e)) => return Err(plain_error(failure(host, address, mail_send::Error::Io(e)))),
        Err(_) => return Err(plain_error(failure(host, address, mail_send::Error::Timeout))),
    };
    let mut client = SmtpClient { stream: Tap::new(tcp, transcript), timeout: COMMAND_TIMEOUT };
    let greeting = client.read().await.map_err(|e| plain_error(failure(host, address, e)))?;
    greeting.assert_positive_completion().map_err(|e| plain_error(failure(host, address, e)))?;
    let capabilities = client.ehlo(helo).await.map_err(|e| plain_error(failure(host, address, e)))?;
    let offers_tls = capabilities.has_capability(EXT_START_TLS);
    let (session, capabilities) = if offers_tls && starttls == Starttls::IfOffered {
        // Direct MX delivery encrypts when it can but cannot expect certificates to match (as every MTA).
        let verify = peer.verify;
        let connector = build_tls_connector(!verify).map_err(|e| plain_error(Outcome::Temporary(format!("4.7.0 TLS set-up: {e}"))))?;
        let tls_error = |e| OpenError { outcome: failure(host, address, e), during_tls: true };
        let mut tls = start_tls(client, &connector, host).await.map_err(tls_error)?;
        let capabilities = tls.ehlo(helo).await.map_err(tls_error)?;
        (Session::Tls(tls), capabilities)
    } else if policy == OutboundTls::Required {
        let why = if offers_tls { "TLS failed" } else { "does not offer STARTTLS" };
        return Err(plain_error(Outcome::Temporary(format!("4.7.10 {host} {why} and TLS is required"))));
    } else {
        (Session::Plain(client), capabilities)
    };
    let session = if let Some((username, secret)) = peer.login {
        // The password goes only inside TLS whose certificate was checked, unless the admin allowed more
        // for a server on the office's own network.
        let protected = matches!(session, Session::Tls(_)) && peer.verify;
        if !protected && !peer.plain_auth {
            let why = if matches!(session, Session::Tls(_)) { "its certificate is not checked" } else { "the connection is not encrypted" };
            return Err(plain_error(Outcome::Temporary(format!(
                "4.7.10 not sending the login for {host}: {why} (allow it {} only for a server on your own network)",
                peer.allow_where
            ))));
        }
        let credentials = Credentials::Plain { username, secret };
        match session {
            Session::Plain(mut c) => {
                c.authenticate(&credentials, &capabilities).await.map_err(|e| plain_error(failure(host, address, e)))?;
                Session::Plain(c)
            }
            Session::Tls(mut c) => {
                c.authenticate(&credentials, &capabilities).await.map_err(|e| plain_error(failure(host, address, e)))?;
                Session::Tls(c)
            }
        }
    } else {
        session
    };
    Ok((session, capabilities))
}

fn failure(host: &str, address: SocketAddr, e: mail_send::Error) -> Outcome {
    match e {
        mail_send::Error::UnexpectedReply(r) | mail_send::Error::AuthenticationFailed(r) => reply_outcome(host, &r),
        mail_send::Error::Io(e) => Outcome::Temporary(format!("4.4.1 cannot connect to {host} ({address}): {e}")),
        mail_send::Error::Timeout => Outcome::Temporary(format!("4.4.1 cannot connect to {host} ({address}): timed out")),
        other => Outcome::Temporary(format!("4.4.0 {host} ({address}): {other}")),
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

/// xtext (RFC 3461 4): "+", "=" and anything outside printable ASCII as "+HH".
fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

fn notify_keywords(notify: u64) -> String {
    if notify & smtp_proto::RCPT_NOTIFY_NEVER != 0 {
        return "NEVER".into();
    }
    let words = [
        (smtp_proto::RCPT_NOTIFY_SUCCESS, "SUCCESS"),
        (smtp_proto::RCPT_NOTIFY_FAILURE, "FAILURE"),
        (smtp_proto::RCPT_NOTIFY_DELAY, "DELAY"),
    ];
    words.iter().filter(|(bit, _)| notify & bit != 0).map(|(_, w)| *w).collect::<Vec<_>>().join(",")
}

/// STARTTLS, then TLS under the transcript (mail-send's own `start_tls` wants a bare TCP stream).
async fn start_tls(mut client: SmtpClient<Tap<TcpStream>>, connector: &tokio_rustls::TlsConnector, host: &str) -> mail_send::Result<SmtpClient<Tap<TlsStream<TcpStream>>>> {
    client.cmd(b"STARTTLS\r\n").await?.assert_positive_completion()?;
    let transcript = client.stream.transcript();
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|_| mail_send::Error::InvalidTLSName)?;
    let tls = tokio::time::timeout(client.timeout, connector.connect(name, client.stream.into_inner()))
        .await
        .map_err(|_| mail_send::Error::Timeout)?
        .map_err(|e| {
            let kind = e.kind();
            match e.into_inner().map(|inner| inner.downcast::<rustls::Error>()) {
                Some(Ok(tls)) => mail_send::Error::Tls(tls),
                Some(Err(other)) => mail_send::Error::Io(std::io::Error::new(kind, other)),
                None => mail_send::Error::Io(std::io::Error::new(kind, "TLS handshake failed")),
            }
        })?;
    transcript.note("TLS started");
    Ok(SmtpClient { stream: Tap::new(tls, transcript), timeout: client.timeout })
}

/// Time for DATA: three minutes, and one second more for every 4 KB (a 20 MB message gets about 1.5 hours,
/// enough at 4 KB/s; RFC 5321 4.5.3.2 asks for at least 3 minutes per block and 10 for the final reply).
pub fn data_timeout(size: usize) -> Duration {
    Duration::from_secs(180 + (size / 4096) as u64)
}

/// MAIL, one RCPT per recipient, DATA; each recipient gets its own outcome. With `pass_dsn` the sender's
/// DSN requests go along. Also says whether the session can carry the next message.
async fn transact<T: AsyncRead + AsyncWrite + Unpin>(client: &mut SmtpClient<T>, host: &str, group: &[Due], body: &[u8], pass_dsn: bool) -> (Vec<Outcome>, bool) {
    let first = &group[0];
    let mut mail_params = Parameters::default();
    if pass_dsn {
        if let Some(full) = first.ret_full {
            mail_params.add(("RET".to_string(), if full { "FULL" } else { "HDRS" }.to_string()));
        }
        if let Some(envid) = &first.envid {
            mail_params.add(("ENVID".to_string(), xtext(envid)));
        }
    }
    let no_address = SocketAddr::from(([0, 0, 0, 0], 0));
    if let Err(e) = client.mail_from(&first.sender, &mail_params).await {
        let usable = still_usable(&e) && client.rset().await.is_ok();
        return (vec![failure(host, no_address, e); group.len()], usable);
    }
    let mut usable = true;
    let mut outcomes = Vec::with_capacity(group.len());
    for d in group {
        let mut rcpt_params = Parameters::default();
        if pass_dsn {
            if d.dsn.notify != 0 {
                rcpt_params.add(("NOTIFY".to_string(), notify_keywords(d.dsn.notify)));
            }
            if let Some(orcpt) = &d.dsn.orcpt {
                rcpt_params.add(("ORCPT".to_string(), format!("rfc822;{}", xtext(orcpt))));
            }
        }
        outcomes.push(match client.rcpt_to(&d.recipient, &rcpt_params).await {
            Ok(()) => Outcome::Sent,
            Err(e) => {
                usable &= still_usable(&e);
                failure(host, no_address, e)
            }
        });
    }
    if outcomes.contains(&Outcome::Sent) {
        // mail-send always ends DATA with CRLF "." CRLF; our stored bodies end with CRLF already, so the
        // peer would get one line too many. Without it the message arrives byte for byte.
        let body = body.strip_suffix(b"\r\n").unwrap_or(body);
        // Sending the data may take long on a slow link: the time allowed grows with the size.
        let command_timeout = client.timeout;
        client.timeout = data_timeout(body.len());
        let sent = client.data(body).await;
        client.timeout = command_timeout;
        if let Err(e) = sent {
            usable &= still_usable(&e);
            let failed = failure(host, no_address, e);
            for o in outcomes.iter_mut().filter(|o| **o == Outcome::Sent) {
                *o = failed.clone();
            }
        }
    } else if usable {
        usable = client.rset().await.is_ok();
    }
    (outcomes, usable)
}

/// Whether a session may carry another message after this error: the server answered, and not with 421
/// (closing).
fn still_usable(e: &mail_send::Error) -> bool {
    matches!(e, mail_send::Error::UnexpectedReply(r) if r.code() != 421)
}

/// Writes the outcomes; permanent failures (and those past the maximum age) are reported to the sender,
/// and so are successes the sender asked to hear of that the next server will not report.
async fn record(store: &Store, settings: &Arc<Settings>, queue_id: i64, group: &[Due], attempt: Attempt) -> StoreResult<()> {
    let at = now();
    let out: OutboundSettings = settings.outbound.clone();
    let mut failures = Vec::new();
    let mut relayed = Vec::new();
    let mut updates = Vec::new();
    for (d, outcome) in group.iter().zip(attempt.outcomes) {
        let attempts = d.attempts + 1;
        let lifetime_hours = if d.forwarded() { out.forward_lifetime_hours } else { out.max_age_hours };
        let expired = at - d.created_at >= i64::from(lifetime_hours) * 3600;
        let retry_at = if d.forwarded() { at + i64::from(out.forward_retry_minutes) * 60 } else { at + out.retry_delay_secs(attempts) };
        let (state, next, error) = match outcome {
            Outcome::Withdrawn => {
                tracing::info!(target: "mail", queue_id, recipient = %d.recipient, "not forwarded: the user deleted the stored copy first");
                ("withdrawn", at, None)
            }
            Outcome::Sent => {
                let to = d.target.as_ref().map(Target::shown).unwrap_or_default();
                tracing::info!(target: "mail", queue_id, recipient = %d.recipient, to = %to, kind = %d.kind, "message sent");
                if d.dsn.wants_success_report() && !attempt.passed_dsn {
                    relayed.push(Entry { recipient: d.recipient.clone(), orcpt: d.dsn.orcpt.clone(), status: "2.0.0".into(), diagnostic: "relayed to a server that sends no delivery reports".into() });
                }
                ("sent", at, None)
            }
            Outcome::Temporary(e) if !expired => {
                tracing::warn!(target: "smtpclt", recipient = %d.recipient, error = %e, attempts, "will retry");
                ("queued", retry_at, Some(e))
            }
            Outcome::Temporary(e) | Outcome::Permanent(e) => {
                let (status, text) = if expired {
                    ("4.4.7".to_string(), format!("gave up after {lifetime_hours} hours; last error: {e}"))
                } else {
                    (dsn::status_from_error(&e), e)
                };
                if d.kind == "store_forward" {
                    // The sender's mail was delivered here; the admin has to see to the main server.
                    tracing::warn!(target: "mail", queue_id, recipient = %d.recipient, error = %text,
                        "Store and Forward could not hand the message to the main server; the copy stays in the user's mailbox");
                } else {
                    tracing::warn!(target: "mail", queue_id, recipient = %d.recipient, error = %text, "delivery failed for good");
                }
                if d.dsn.wants_failure_report() {
                    failures.push(Entry { recipient: d.recipient.clone(), orcpt: d.dsn.orcpt.clone(), status, diagnostic: text.clone() });
                }
                ("failed", at, Some(text))
            }
        };
        updates.push((d.id, state, next, error, attempts, d.kind == "store_forward"));
    }
    let first = &group[0];
    // Without reports to send, the body is let go of in the same commit.
    let reports = !first.sender.is_empty() && !(failures.is_empty() && relayed.is_empty());
    store
        .write_async(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE queue_recipients SET state = ?2, next_attempt_at = ?3, last_error = ?4, attempts = ?5, updated_at = ?6 WHERE id = ?1",
            )?;
            for (id, state, next, error, attempts, stored) in &updates {
                match *state {
                    // Never to be sent: the recipient goes.
                    "withdrawn" => {
                        c.execute("DELETE FROM queue_recipients WHERE id = ?1", [id])?;
                    }
                    _ => {
                        stmt.execute(params![id, state, next, error, attempts, at])?;
                    }
                }
                if *stored && *state == "sent" {
                    // In the same commit as the "sent": the stored copy (wherever the user moved it) goes to
                    // the Recycle Bin. A crash before this commit sends it again, never loses it.
                    forwarded(c, *id)?;
                }
            }
            if !reports {
                crate::store::sweep::release_finished(c, Some(queue_id))?;
            }
            Ok(())
        })
        .await?;
    if !reports {
        return Ok(());
    }
    for (action, entries) in [(Action::Failed, failures), (Action::Relayed, relayed)] {
        if entries.is_empty() {
            continue;
        }
        let original = read_body(store, first.blob_id).await?;
        let report = Report { action, entries: &entries, ret_full: first.ret_full == Some(true), envid: first.envid.as_deref() };
        let id = format!("q{queue_id}-{}", first.id);
        dsn::send(store, &settings.general.server_name, &first.sender, &id, &report, &original).await?;
    }
    release(store, queue_id).await
}

/// The stored copies of a Store-and-Forward recipient the target accepted go to the Recycle Bin.
fn forwarded(c: &rusqlite::Connection, recipient_id: i64) -> StoreResult<()> {
    let mut stmt = c.prepare_cached("SELECT folder_id, id FROM messages WHERE forward_id = ?1")?;
    let rows: Vec<(i64, i64)> = stmt.query_map([recipient_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    for (folder_id, id) in rows {
        crate::mailbox::expunge(c, folder_id, &[id], crate::mailbox::Removal::Deleted(crate::mailbox::recycle::reason::STORE_FORWARD))?;
    }
    Ok(())
}

/// Once no recipient of the message waits any more, and its reports are out, the queue lets go of the
/// body (the sweep deletes it).
async fn release(store: &Store, queue_id: i64) -> StoreResult<()> {
    store.write_async(move |c| crate::store::sweep::release_finished(c, Some(queue_id))).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parameters_are_written_as_xtext_keywords() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(notify_keywords(smtp_proto::RCPT_NOTIFY_SUCCESS | smtp_proto::RCPT_NOTIFY_FAILURE), "SUCCESS,FAILURE");
        assert_eq!(notify_keywords(smtp_proto::RCPT_NOTIFY_NEVER), "NEVER");
    }
}
