//! The Mail Collector: downloads the office's mail from mailboxes at an ISP (POP3, or one IMAP folder) on a schedule
//! and delivers it to local users, as VPOP3's POP3 collectors, hMailServer's external accounts and
//! MDaemon's DomainPOP/MultiPOP do.
//!
//! Never twice, never lost: each message is fetched, then delivered in one write transaction that also
//! records its unique id (UIDL) for the remote mailbox — keyed by server, port and login, not by the
//! collector, so renaming or re-creating a collector changes nothing. Only then, and only for messages
//! recorded now or earlier and past their leave-on-server days, is DELE sent; the server deletes at QUIT,
//! so a connection dropped before it deletes nothing, and the recorded ids stop a second delivery. Ids
//! the server no longer lists are forgotten after `forget_days`.
//!
//! Routing: all messages to one user or alias, or by the message's recipient headers (To, Cc,
//! Delivered-To, X-Original-To, X-RCPTTO and the admin's own), taking only addresses of local domains —
//! each user once — with the rest going to a fallback user. Collected mail gets our `Received:` and goes
//! through the content filter like a stranger's SMTP mail (sender authentication needs the sender's
//! connection, which the collector never sees); what the filter would refuse is held in the quarantine.
//!
//! One download per remote mailbox at a time, also across processes (`postroomd collector run` beside a
//! running server): a run claims its collector in the database with a lease that each delivered message
//! renews.

pub mod imap;
pub mod pop3;
mod routing;
pub mod schedule;

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::logwriter::LogFile;
use crate::net::transcript::Transcript;
use crate::settings::Settings;
use crate::store::{now, Store, StoreResult};
use pop3::{Pop3, Pop3Error};

/// Collectors kept.
pub const MAX_COLLECTORS: usize = 100;
/// A run's lease on its remote mailbox, renewed by each delivered message.
const LEASE_SECS: i64 = 600;
/// Messages a run collects before it ends (the next run goes on).
pub const MAX_PER_RUN: usize = 10_000;
/// Failures in a row after which the main window and the tray warn.
pub const WARN_AFTER: u32 = 3;

/// The protocol spoken to the remote mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Pop3,
    /// One folder, by UID; messages moved to another folder or deleted afterwards.
    Imap,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    None,
    Tls,
    Starttls,
    StarttlsIfAvailable,
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMethod {
    Auto,
    User,
    Plain,
    Apop,
}

/// A collector as the admin sets it up (the list and editor's form; the password is write-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct CollectorForm {
    pub name: String,
    pub enabled: bool,
    /// Lower runs first.
    #[ts(type = "number")]
    pub priority: i64,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub username: String,
    /// Given to set or change it; `None` keeps the stored one.
    pub password: Option<String>,
    pub security: Security,
    pub login: LoginMethod,
    pub verify_certificate: bool,
    /// IMAP: the folder collected from.
    pub folder: String,
    /// IMAP: where a collected message goes at the ISP when it would be deleted (empty: deleted).
    pub move_to: String,
    /// Larger messages stay at the ISP (their recipients are told once); 0: any size up to the SMTP limit.
    #[ts(type = "number")]
    pub max_size: u64,
    /// Days a collected message stays at the ISP; 0 deletes it after download.
    pub leave_days: u32,
    /// One user or alias who gets everything; empty: route by the recipient headers.
    pub deliver_to: String,
    /// With routing by headers: who gets what names no local user.
    pub fallback: String,
    /// Header fields read for recipients besides To, Cc, Delivered-To, X-Original-To and X-RCPTTO.
    pub extra_headers: Vec<String>,
    /// Minutes between downloads; 0: once a day at `from`.
    pub every_minutes: u32,
    /// The daily window, "HH:MM" (until "24:00" is the end of the day); it cannot span midnight.
    pub from: String,
    pub until: String,
    /// Days it runs on, Monday first.
    pub days: [bool; 7],
    pub paused: bool,
    /// Unique ids the server no longer lists are forgotten after this many days.
    pub forget_days: u32,
    /// The bandwidth pool (Bandwidth window) its downloads share and are limited by; 0: none.
    pub bandwidth_pool: u32,
}

impl CollectorForm {
    /// A POP3 collector with the usual settings: every 15 minutes all day, by headers to the postmaster.
    pub fn new(name: &str, host: &str, port: u16, username: &str) -> CollectorForm {
        Self::with_protocol(name, Protocol::Pop3, host, port, username)
    }

    /// The same for `protocol`; port 995 or 993 means implicit TLS.
    pub fn with_protocol(name: &str, protocol: Protocol, host: &str, port: u16, username: &str) -> CollectorForm {
        CollectorForm {
            name: name.into(),
            enabled: true,
            priority: 10,
            protocol,
            host: host.into(),
            port,
            username: username.into(),
            password: None,
            security: if port == 995 || port == 993 { Security::Tls } else { Security::StarttlsIfAvailable },
            login: LoginMethod::Auto,
            verify_certificate: true,
            folder: "INBOX".into(),
            move_to: String::new(),
            max_size: 0,
            leave_days: 0,
            deliver_to: String::new(),
            fallback: "postmaster".into(),
            extra_headers: Vec::new(),
            every_minutes: 15,
            from: "00:00".into(),
            until: "24:00".into(),
            days: [true; 7],
            paused: false,
            forget_days: 30,
            bandwidth_pool: 0,
        }
    }
}

/// A collector with how its downloads went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct CollectorInfo {
    #[ts(type = "number")]
    pub id: i64,
    pub form: CollectorForm,
    /// When the last download started and when one last succeeded (Unix seconds).
    #[ts(type = "number | null")]
    pub last_run_at: Option<i64>,
    #[ts(type = "number | null")]
    pub last_success_at: Option<i64>,
    /// Why the last download failed; empty after a success.
    pub last_error: String,
    /// Failures in a row.
    pub failures: u32,
    /// Messages the last successful download collected.
    pub last_collected: u32,
    pub running: bool,
    /// A download was cut short (its process died): the schedule takes it up again at once.
    pub interrupted: bool,
}

/// A collector that keeps failing: what the main window and the tray warn about until it succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CollectorProblem {
    pub name: String,
    pub failures: u32,
    pub last_error: String,
    #[ts(type = "number | null")]
    pub last_success_at: Option<i64>,
}

impl CollectorProblem {
    /// One line for the tray's tooltip.
    pub fn headline(&self) -> String {
        format!("Mail collector \"{}\": {} failed downloads in a row ({})", self.name, self.failures, self.last_error)
    }
}

/// Enabled collectors that failed [`WARN_AFTER`] times or more in a row.
pub fn problems(conn: &Connection) -> StoreResult<Vec<CollectorProblem>> {
    let mut stmt = conn.prepare("SELECT name, failures, last_error, last_success_at FROM collectors WHERE enabled AND failures >= ?1 ORDER BY priority, name")?;
    let rows = stmt
        .query_map([WARN_AFTER], |r| Ok(CollectorProblem { name: r.get(0)?, failures: r.get(1)?, last_error: r.get(2)?, last_success_at: r.get(3)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What one download did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct RunReport {
    pub listed: u32,
    pub collected: u32,
    /// Larger than the collector's limit: left at the ISP.
    pub too_large: u32,
    /// Held for later (a scanner that must answer did not).
    pub deferred: u32,
    pub deleted: u32,
}

fn valid_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440 && h.to_string().len() <= 2 && m < 100).then_some(h * 60 + m)
}

/// Checks a form; `adding`: a password is required.
fn validate(conn: &Connection, form: &CollectorForm, adding: bool) -> StoreResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = form.name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        errors.push(FieldError::new("name", "a name of 1 to 64 characters"));
    }
    if crate::names::validate_domain(form.host.trim()).is_err() && form.host.trim().parse::<std::net::IpAddr>().is_err() {
        errors.push(FieldError::new("host", "the server's name (pop.example.com) or address"));
    }
    if form.port == 0 {
        errors.push(FieldError::new("port", "a port from 1 to 65535"));
    }
    if form.username.is_empty() || form.username.len() > 256 || form.username.contains(['\r', '\n']) {
        errors.push(FieldError::new("username", "the login at the ISP"));
    }
    match &form.password {
        Some(p) if p.is_empty() || p.len() > 1024 || p.contains(['\r', '\n']) => errors.push(FieldError::new("password", "the password at the ISP (one line)")),
        None if adding => errors.push(FieldError::new("password", "the password at the ISP")),
        _ => {}
    }
    let user_exists = |who: &str| -> StoreResult<bool> { routing::names_someone(conn, who) };
    if form.deliver_to.trim().is_empty() {
        if form.fallback.trim().is_empty() {
            errors.push(FieldError::new("fallback", "who gets the messages that name no local user"));
        } else if !user_exists(form.fallback.trim())? {
            errors.push(FieldError::new("fallback", format!("no user or alias '{}'", form.fallback.trim())));
        }
    } else if !user_exists(form.deliver_to.trim())? {
        errors.push(FieldError::new("deliver_to", format!("no user or alias '{}'", form.deliver_to.trim())));
    }
    if form.extra_headers.len() > 20 || form.extra_headers.iter().any(|h| h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
        errors.push(FieldError::new("extra_headers", "header names such as X-Envelope-To (letters, digits and -; at most 20)"));
    }
    match (valid_time(&form.from), valid_time(&form.until)) {
        (Some(f), Some(u)) if f < u || (form.every_minutes == 0 && f < 1440) => {}
        (Some(_), Some(_)) => errors.push(FieldError::new("until", "the window ends after it starts, on the same day")),
        (None, _) => errors.push(FieldError::new("from", "a time as HH:MM")),
        (_, None) => errors.push(FieldError::new("until", "a time as HH:MM (24:00 for the end of the day)")),
    }
    if form.every_minutes > 7 * 24 * 60 {
        errors.push(FieldError::new("every_minutes", "at most a week"));
    }
    if !form.days.iter().any(|d| *d) {
        errors.push(FieldError::new("days", "at least one day"));
    }
    if form.protocol == Protocol::Imap {
        if imap::quoted(&form.folder).is_none() {
            errors.push(FieldError::new("folder", "the folder at the ISP (INBOX, or another name in plain ASCII)"));
        }
        if !form.move_to.is_empty() && (imap::quoted(&form.move_to).is_none() || form.move_to == form.folder) {
            errors.push(FieldError::new("move_to", "another folder at the ISP (plain ASCII), or empty to delete"));
        }
        if form.login == LoginMethod::Apop {
            errors.push(FieldError::new("login", "APOP is for POP3; IMAP logs in with PLAIN or LOGIN"));
        }
    }
    if form.bandwidth_pool as usize > crate::settings::POOLS {
        errors.push(FieldError::new("bandwidth_pool", format!("a pool from 1 to {}, or 0 for none", crate::settings::POOLS)));
    }
    if form.leave_days > 3650 || form.forget_days > 3650 {
        errors.push(FieldError::new("leave_days", "at most 3650 days"));
    }
    Ok(errors)
}

const COLUMNS: &str = "id, name, enabled, priority, protocol, host, port, username, security, login, verify_certificate, max_size, leave_days, \
    deliver_to, fallback, extra_headers, every_minutes, from_time, until_time, days, paused, forget_days, \
    last_run_at, last_success_at, last_error, failures, last_collected, running_until, running_pid, folder, move_to, bandwidth_pool";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CollectorInfo> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    fn parse<T: serde::de::DeserializeOwned>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
        serde_json::from_value(serde_json::Value::String(r.get(i)?)).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    }
    let days: i64 = r.get(19)?;
    let claimed = r.get::<_, i64>(27)? > now();
    let alive = claimed && crate::paths::process_alive(r.get(28)?);
    let extra: String = text(15)?;
    Ok(CollectorInfo {
        id: r.get(0)?,
        form: CollectorForm {
            name: text(1)?,
            enabled: r.get(2)?,
            priority: r.get(3)?,
            protocol: parse(r, 4)?,
            host: text(5)?,
            port: r.get(6)?,
            username: text(7)?,
            password: None,
            security: parse(r, 8)?,
            login: parse(r, 9)?,
            verify_certificate: r.get(10)?,
            folder: text(29)?,
            move_to: text(30)?,
            max_size: r.get::<_, i64>(11)? as u64,
            leave_days: r.get(12)?,
            deliver_to: text(13)?,
            fallback: text(14)?,
            extra_headers: extra.lines().map(str::to_string).collect(),
            every_minutes: r.get(16)?,
            from: text(17)?,
            until: text(18)?,
            days: std::array::from_fn(|i| days & (1 << i) != 0),
            paused: r.get(20)?,
            forget_days: r.get(21)?,
            bandwidth_pool: r.get(31)?,
        },
        last_run_at: r.get(22)?,
        last_success_at: r.get(23)?,
        last_error: text(24)?,
        failures: r.get(25)?,
        last_collected: r.get(26)?,
        running: claimed && alive,
        interrupted: claimed && !alive,
    })
}

fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn days_mask(days: &[bool; 7]) -> i64 {
    days.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| 1 << i).sum()
}

/// Every collector, lowest priority number first.
pub fn list(conn: &Connection) -> StoreResult<Vec<CollectorInfo>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM collectors ORDER BY priority, name"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One collector by name (any case).
pub fn get(conn: &Connection, name: &str) -> StoreResult<Option<CollectorInfo>> {
    Ok(conn.query_row(&format!("SELECT {COLUMNS} FROM collectors WHERE name = ?1 COLLATE NOCASE"), [name.trim()], from_row).optional()?)
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("no collector called '{name}'"))
}

/// Writes a collector's row: a new one, or `id` changed (its password only when the form gives one).
fn save(c: &Connection, id: Option<i64>, form: &CollectorForm) -> StoreResult<()> {
    let (protocol, security, login) = (word(&form.protocol), word(&form.security), word(&form.login));
    let (name, host, deliver_to, fallback, extra) =
        (form.name.trim(), form.host.trim().to_ascii_lowercase(), form.deliver_to.trim(), form.fallback.trim(), form.extra_headers.join("\n"));
    let (max_size, days) = (form.max_size as i64, days_mask(&form.days));
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![
        &name, &form.enabled, &form.priority, &protocol, &host, &form.port, &form.username, &form.password, &security, &login,
        &form.verify_certificate, &max_size, &form.leave_days, &deliver_to, &fallback, &extra, &form.every_minutes, &form.from,
        &form.until, &days, &form.paused, &form.forget_days, &form.folder, &form.move_to, &form.bandwidth_pool,
    ];
    let columns = "name, enabled, priority, protocol, host, port, username, password, security, login, verify_certificate, max_size, \
        leave_days, deliver_to, fallback, extra_headers, every_minutes, from_time, until_time, days, paused, forget_days, folder, move_to, \
        bandwidth_pool";
    match id {
        None => {
            let marks: Vec<String> = (1..=values.len()).map(|i| if i == 8 { "coalesce(?8, '')".into() } else { format!("?{i}") }).collect();
            c.execute(&format!("INSERT INTO collectors ({columns}) VALUES ({})", marks.join(", ")), values.as_slice())?;
        }
        Some(id) => {
            let sets: Vec<String> = columns
                .split(", ")
                .enumerate()
                .map(|(i, col)| if col == "password" { format!("password = coalesce(?{}, password)", i + 1) } else { format!("{col} = ?{}", i + 1) })
                .collect();
            values.push(&id);
            c.execute(&format!("UPDATE collectors SET {} WHERE id = ?{}", sets.join(", "), values.len()), values.as_slice())?;
        }
    }
    Ok(())
}

/// Adds a collector.
pub fn add(store: &Store, form: CollectorForm) -> ApiResult<CollectorInfo> {
    store.write(move |c| {
        let errors = validate(c, &form, true)?;
        if !errors.is_empty() {
            return Ok(Err(ApiError::invalid(errors)));
        }
        let count: i64 = c.query_row("SELECT count(*) FROM collectors", [], |r| r.get(0))?;
        if count as usize >= MAX_COLLECTORS {
            return Ok(Err(ApiError::invalid(vec![FieldError::new("name", format!("at most {MAX_COLLECTORS} collectors"))])));
        }
        if get(c, &form.name)?.is_some() {
            return Ok(Err(ApiError::invalid(vec![FieldError::new("name", format!("there is a collector called '{}' already", form.name.trim()))])));
        }
        save(c, None, &form)?;
        Ok(Ok(get(c, &form.name)?.expect("just added")))
    })?
}

/// Changes a collector (the password only when the form gives one).
pub fn update(store: &Store, name: &str, form: CollectorForm) -> ApiResult<CollectorInfo> {
    let name = name.to_string();
    store.write(move |c| {
        let Some(current) = get(c, &name)? else { return Ok(Err(no_such(&name))) };
        let errors = validate(c, &form, false)?;
        if !errors.is_empty() {
            return Ok(Err(ApiError::invalid(errors)));
        }
        if let Some(other) = get(c, &form.name)? {
            if other.id != current.id {
                return Ok(Err(ApiError::invalid(vec![FieldError::new("name", format!("there is a collector called '{}' already", form.name.trim()))])));
            }
        }
        save(c, Some(current.id), &form)?;
        Ok(Ok(get(c, &form.name)?.expect("just changed")))
    })?
}

/// Deletes a collector. What it collected stays, and so do the remembered ids of its remote mailbox
/// (a collector made again for the same mailbox does not collect its messages twice).
pub fn delete(store: &Store, name: &str) -> ApiResult<()> {
    let wanted = name.trim().to_string();
    let gone = store.write(move |c| Ok(c.execute("DELETE FROM collectors WHERE name = ?1 COLLATE NOCASE", [wanted])?))?;
    if gone == 0 {
        return Err(no_such(name.trim()));
    }
    Ok(())
}

/// The remote mailbox a collector reads, as its remembered ids are keyed.
fn mailbox_key(form: &CollectorForm) -> String {
    let key = format!("{}:{}:{}:{}", word(&form.protocol), form.host.to_ascii_lowercase(), form.port, form.username);
    match form.protocol {
        Protocol::Pop3 => key,
        Protocol::Imap => format!("{key}:{}", form.folder),
    }
}

/// A session with the remote mailbox, in either protocol.
enum Remote {
    Pop3(Pop3),
    Imap(imap::Imap),
}

impl Remote {
    async fn list(&mut self) -> Result<Vec<pop3::Listed>, Pop3Error> {
        match self {
            Remote::Pop3(p) => p.list().await,
            Remote::Imap(i) => i.list().await,
        }
    }

    /// The header section of a message, for routing a notice about it.
    async fn header(&mut self, m: &pop3::Listed) -> Result<Vec<u8>, Pop3Error> {
        match self {
            Remote::Pop3(p) => p.top(m.number).await,
            Remote::Imap(i) => i.header(m.number).await,
        }
    }

    async fn fetch(&mut self, m: &pop3::Listed, limit: u64) -> Result<Vec<u8>, Pop3Error> {
        match self {
            Remote::Pop3(p) => p.retr(m.number, limit).await,
            Remote::Imap(i) => i.fetch(m.number, limit).await,
        }
    }

    /// Takes a collected message off the ISP's mailbox (POP3: at QUIT): deleted, or moved to `move_to`.
    async fn remove(&mut self, m: &pop3::Listed, move_to: &str) -> Result<(), Pop3Error> {
        match self {
            Remote::Pop3(p) => p.dele(m.number).await,
            Remote::Imap(i) if !move_to.is_empty() => i.move_to(m.number, move_to).await,
            Remote::Imap(i) => i.delete(m.number).await,
        }
    }

    async fn finish(self) -> Result<(), Pop3Error> {
        match self {
            Remote::Pop3(p) => p.quit().await,
            Remote::Imap(i) => i.logout().await,
        }
    }
}

/// Claims the collector's remote mailbox for a run: false when a run (in this process or another) holds
/// it. A claim left by a process that died (kill -9 in the middle of a download) is stale at once.
fn claim(conn: &Connection, id: i64, at: i64) -> StoreResult<bool> {
    let mut stmt = conn.prepare(
        "SELECT o.running_pid FROM collectors o, collectors me WHERE me.id = ?1 AND o.host = me.host AND o.port = me.port \
         AND o.username = me.username AND o.running_until > ?2",
    )?;
    let holders: Vec<u32> = stmt.query_map(params![id, at], |r| r.get(0))?.collect::<Result<_, _>>()?;
    if holders.iter().any(|pid| crate::paths::process_alive(*pid)) {
        return Ok(false);
    }
    conn.execute("UPDATE collectors SET running_until = ?2, running_pid = ?3, last_run_at = ?4 WHERE id = ?1", params![id, at + LEASE_SECS, std::process::id(), at])?;
    Ok(true)
}

/// Everything one run needs from the engine.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub auth: Arc<crate::auth::Authenticator>,
    pub settings: Arc<Settings>,
    /// The bandwidth pools (the engine's own, shared with the services).
    pub bandwidth: Arc<crate::bandwidth::Bandwidth>,
}

/// Runs one download of the collector `name` now, whatever its schedule (`postroomd collector run`,
/// the window's Run now, and the scheduler).
pub async fn run(ctx: &Context, name: &str) -> ApiResult<RunReport> {
    let wanted = name.to_string();
    let Some(info) = ctx.store.read_async(move |c| get(c, &wanted)).await? else { return Err(no_such(name)) };
    let id = info.id;
    let started = now();
    if !ctx.store.write_async(move |c| claim(c, id, started)).await? {
        return Err(ApiError::conflict(format!("collector '{}' is downloading already", info.form.name)));
    }
    let password: String = ctx.store.read_async(move |c| Ok(c.query_row("SELECT password FROM collectors WHERE id = ?1", [id], |r| r.get(0))?)).await?;
    let span = tracing::info_span!("session", sid = crate::logging::next_session_id());
    let result = tracing::Instrument::instrument(download(ctx, &info, &password), span).await;
    let (error, collected) = match &result {
        Ok(report) => (String::new(), report.collected),
        Err(e) => (e.to_string(), 0),
    };
    let ok = result.is_ok();
    let failures = ctx
        .store
        .write_async(move |c| {
            c.execute(
                "UPDATE collectors SET running_until = 0, last_error = ?2, \
                 failures = CASE WHEN ?3 THEN 0 ELSE failures + 1 END, \
                 last_success_at = CASE WHEN ?3 THEN ?4 ELSE last_success_at END, \
                 last_collected = CASE WHEN ?3 THEN ?5 ELSE last_collected END WHERE id = ?1",
                params![id, error, ok, now(), collected],
            )?;
            Ok(c.query_row("SELECT failures FROM collectors WHERE id = ?1", [id], |r| r.get::<_, u32>(0))?)
        })
        .await?;
    let label = &info.form.name;
    match &result {
        Ok(r) if r.collected > 0 || r.deleted > 0 => {
            tracing::info!(target: "mail", collector = %label, collected = r.collected, deleted = r.deleted, left = r.listed - r.deleted, "collected mail")
        }
        Ok(_) => tracing::debug!(target: "mail", collector = %label, "nothing new to collect"),
        Err(e) => tracing::error!(target: "collector", collector = %label, failures, "collecting failed: {e}"),
    }
    result.map_err(|e| ApiError::io(format!("collector '{label}': {e}")))
}

/// The download itself.
async fn download(ctx: &Context, info: &CollectorInfo, password: &str) -> Result<RunReport, Pop3Error> {
    let form = &info.form;
    let account = pop3::Account {
        host: &form.host,
        port: form.port,
        user: &form.username,
        password,
        security: match form.security {
            Security::None => pop3::Security::None,
            Security::Tls => pop3::Security::Tls,
            Security::Starttls => pop3::Security::Starttls,
            Security::StarttlsIfAvailable => pop3::Security::StarttlsIfAvailable,
        },
        login: match form.login {
            LoginMethod::Auto => pop3::Login::Auto,
            LoginMethod::User => pop3::Login::UserPass,
            LoginMethod::Plain => pop3::Login::Plain,
            LoginMethod::Apop => pop3::Login::Apop,
        },
        verify_certificate: form.verify_certificate,
        shaper: (form.bandwidth_pool > 0).then(|| ctx.bandwidth.pool_shaper(form.bandwidth_pool)),
    };
    // One session log for both: pop3clt.log, the collector's (VPOP3's name).
    let transcript = Transcript::new(LogFile::Pop3clt);
    let mut session = match form.protocol {
        Protocol::Pop3 => Remote::Pop3(Pop3::connect(&account, transcript).await?),
        Protocol::Imap => Remote::Imap(imap::Imap::connect(&account, &form.folder, transcript).await?),
    };
    let listed = session.list().await?;
    let key = mailbox_key(form);
    let store_err = |e: crate::store::StoreError| Pop3Error::Protocol(format!("the local store: {e}"));
    // What is remembered of this mailbox: id → (first seen, collected).
    let known = {
        let key = key.clone();
        ctx.store
            .read_async(move |c| {
                let mut stmt = c.prepare("SELECT uidl, first_seen, collected FROM collector_uidls WHERE mailbox = ?1")?;
                let rows = stmt.query_map([key], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)?, r.get::<_, bool>(2)?))))?;
                Ok(rows.collect::<Result<std::collections::HashMap<_, _>, _>>()?)
            })
            .await
            .map_err(store_err)?
    };
    let mut report = RunReport { listed: listed.len() as u32, ..Default::default() };
    let limit = if form.max_size > 0 { form.max_size.min(ctx.settings.smtp.max_message_size) } else { ctx.settings.smtp.max_message_size };
    let mut collected_now = std::collections::HashSet::new();
    for message in &listed {
        if known.get(&message.uidl).is_some_and(|k| k.1) || collected_now.contains(&message.uidl) {
            continue;
        }
        if report.collected as usize >= MAX_PER_RUN {
            break;
        }
        if message.size > limit {
            report.too_large += 1;
            if !known.contains_key(&message.uidl) {
                // The recipients are told once (the id is remembered as not collected in the same commit);
                // the message is fetched on a later run once the limit allows it.
                let header = session.header(message).await?;
                routing::tell_too_large(ctx, form, &key, &message.uidl, message.size, limit, &header).await.map_err(store_err)?;
                tracing::warn!(target: "mail", collector = %form.name, size = message.size, limit, "a message larger than the collector's limit stays at the ISP; its recipients were told");
            }
            continue;
        }
        let body = session.fetch(message, limit).await?;
        let first_seen = known.get(&message.uidl).map_or(now(), |k| k.0);
        match routing::deliver(ctx, form, &key, &message.uidl, first_seen, body).await {
            Ok(true) => {
                report.collected += 1;
                collected_now.insert(message.uidl.clone());
            }
            Ok(false) => report.deferred += 1,
            Err(e) => return Err(store_err(e)),
        }
    }
    // DELE what is safely here and past its days at the ISP.
    let t = now();
    let due = |first_seen: i64| form.leave_days == 0 || first_seen + i64::from(form.leave_days) * 86_400 <= t;
    for message in &listed {
        let here = collected_now.contains(&message.uidl) || known.get(&message.uidl).is_some_and(|k| k.1);
        let first_seen = known.get(&message.uidl).map_or(t, |k| k.0);
        if here && due(first_seen) {
            session.remove(message, &form.move_to).await?;
            report.deleted += 1;
        }
    }
    // Ids still listed are kept fresh; those the server stopped listing long ago are forgotten.
    let ids: Vec<String> = listed.iter().map(|l| l.uidl.clone()).collect();
    let forget_before = t - i64::from(form.forget_days) * 86_400;
    let key2 = key.clone();
    ctx.store
        .write_async(move |c| {
            let mut touch = c.prepare_cached("UPDATE collector_uidls SET last_listed = ?3 WHERE mailbox = ?1 AND uidl = ?2")?;
            for id in &ids {
                touch.execute(params![key2, id, t])?;
            }
            c.execute("DELETE FROM collector_uidls WHERE mailbox = ?1 AND last_listed < ?2", params![key2, forget_before])?;
            Ok(())
        })
        .await
        .map_err(store_err)?;
    session.finish().await?;
    Ok(report)
}
