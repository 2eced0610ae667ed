//! Where an accepted message goes, and putting it there durably.
//!
//! [`route`] decides, at RCPT time, what a recipient address is: a local user (by name or alias, at a
//! local domain), a remote address (which needs the right to relay), or nobody. [`deliver`] then
//! commits the body and every destination in one group-commit write: a message row in each local user's
//! INBOX (with its IMAP UID) and an outbound-queue entry per remote recipient. The SMTP session sends its
//! final 250 only after [`deliver`] returns, i.e. after the fsync.
//!
//! Local domains are those in the domains table, plus the server's own name and `localhost`. The local
//! part must name a user or alias exactly (case-insensitive; `name+tag` falls back to `name`), so the
//! classic relay tricks — `a%b@local`, `b!a@local`, `"a@b"@local` — name nobody and are refused.
//! `postmaster` (with or without a domain) always names someone: the administrator, unless a user or
//! alias has that name.
//!
//! [`dsn`] writes delivery status notifications and sends them as mail: the success reports of a
//! delivery here ([`dsn::deliver_and_report`], what the SMTP session calls) and the outbound queue's
//! failure and relay reports.

pub mod dsn;

use rusqlite::{params, Connection, OptionalExtension};

pub mod quarantine;

use crate::forward;
use crate::mailbox::meta::{self, Meta};
use crate::settings::SpamAction;
use crate::store::{blobs, now, Store, StoreResult};

/// One accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Local { user_id: i64, user: String, address: String },
    Remote { address: String },
    /// A LAN forwarding rule's: sent as `to` (the address after the rule's rewrite) to the rule's server.
    Forward { address: String, to: String, target: forward::Target },
}

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A local domain, but no such user or alias.
    UnknownUser,
    /// Not ours, and this client may not relay.
    RelayDenied,
    /// Unusable address syntax.
    BadAddress(String),
    /// A relay domain (this server is its backup MX) with no LAN rule to pass the mail on: refused for
    /// now, so the sender keeps it rather than us accepting what we cannot forward.
    NoRelayRoute(String),
}

/// Splits `local@domain`; the domain is lower-cased. An address without a domain has an empty domain.
pub fn split_address(address: &str) -> (&str, String) {
    match address.rfind('@') {
        Some(at) => (&address[..at], address[at + 1..].to_ascii_lowercase()),
        None => (address, String::new()),
    }
}

/// Decides what `address` is. `may_relay`: the client authenticated or comes from a trusted network.
/// `relay`: the domains this server is a backup MX for.
pub fn route(conn: &Connection, server_name: &str, relay: &crate::settings::RelaySettings, address: &str, may_relay: bool) -> StoreResult<Result<Recipient, Refusal>> {
    let (local, domain) = split_address(address);
    if local.is_empty() {
        return Ok(Err(Refusal::BadAddress("the address has no local part".into())));
    }
    // A LAN forwarding rule naming the address (or a pattern it fits) comes first, local users after;
    // `~@domain` rules only when nothing else takes the address.
    let lan = |pass| -> StoreResult<Option<Recipient>> {
        Ok(forward::find(conn, address, pass)?.map(|rule| Recipient::Forward {
            address: address.to_string(),
            to: forward::rewritten(&rule.rewrite, address),
            target: rule.target,
        }))
    };
    if let Some(r) = lan(forward::Pass::Specific)? {
        return Ok(Ok(r));
    }
    let is_local_domain = domain.is_empty()
        || domain == "localhost"
        || domain.eq_ignore_ascii_case(server_name)
        || conn.query_row("SELECT 1 FROM domains WHERE name = ?1", [&domain], |_| Ok(())).optional()?.is_some();
    if !is_local_domain {
        if let Some(backup) = relay.find(&domain) {
            // A backup MX: the listed recipients (or all), passed on by the domain's LAN rule.
            if !backup.any_recipient && !backup.recipients.iter().any(|r| r.eq_ignore_ascii_case(local)) {
                return Ok(Err(Refusal::UnknownUser));
            }
            return Ok(lan(forward::Pass::CatchAll)?.ok_or(Refusal::NoRelayRoute(domain.clone())));
        }
        if let Some(r) = lan(forward::Pass::CatchAll)? {
            return Ok(Ok(r));
        }
        return Ok(if may_relay { Ok(Recipient::Remote { address: address.to_string() }) } else { Err(Refusal::RelayDenied) });
    }
    let found = match find_user(conn, local)? {
        Some(u) => Some(u),
        None => match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => find_user(conn, base)?,
            _ => None,
        },
    };
    // postmaster must always be accepted (RFC 5321 4.5.1): without a user or alias of that name, it goes to
    // the administrator, the first user created (an alias "postmaster" sends it elsewhere).
    let found = match found {
        None if local.eq_ignore_ascii_case("postmaster") => conn
            .query_row("SELECT id, name FROM users WHERE deleted_at IS NULL AND enabled = 1 ORDER BY id LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
        other => other,
    };
    match found {
        Some((user_id, user)) => Ok(Ok(Recipient::Local { user_id, user, address: address.to_string() })),
        None => Ok(lan(forward::Pass::CatchAll)?.ok_or(Refusal::UnknownUser)),
    }
}

fn find_user(conn: &Connection, local: &str) -> StoreResult<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, name FROM users WHERE name = ?1 AND deleted_at IS NULL AND enabled = 1
             UNION ALL
             SELECT u.id, u.name FROM aliases a JOIN users u ON u.id = a.user_id
              WHERE a.alias = ?1 AND u.deleted_at IS NULL AND u.enabled = 1
             LIMIT 1",
            [local],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// What to deliver: the envelope as accepted.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Empty for the null sender `<>`.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    pub auth_user: Option<String>,
    pub dsn: DsnRequest,
    /// What the spam filter decided (nothing, for mail it did not check).
    pub spam: SpamVerdict,
}

/// The spam filter's decision about a stranger's message, which each local recipient's own allow and deny
/// lists may change: an allowed sender's mail goes to the INBOX unmarked, a denied one's to Junk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpamVerdict {
    /// Whether the filter looked at the message at all (strangers' mail only): the users' lists apply then.
    pub checked: bool,
    pub action: SpamAction,
    pub score: i32,
    /// The rules that fired, `SPF_FAIL(3),MISSING_DATE(1)`.
    pub tests: String,
    /// The From: field's address.
    pub from: String,
    pub subject: String,
    /// SPF or DMARC showed the sender forged: allow entries do not apply.
    pub forged: bool,
    /// The client's address, for the quarantine's list.
    pub peer: String,
}

impl SpamVerdict {
    /// What this message means for one user, given their allow and deny lists.
    fn for_user(&self, sender: &str, allow: &[String], deny: &[String]) -> SpamAction {
        if !self.checked {
            return SpamAction::Deliver;
        }
        let addresses = [sender, self.from.as_str()];
        if !self.forged && crate::settings::sender_listed(allow, &addresses) {
            SpamAction::Deliver
        } else if crate::settings::sender_listed(deny, &addresses) {
            self.action.max(SpamAction::Junk)
        } else {
            // Refusal happened at SMTP time unless another recipient allowed the sender: held then.
            self.action.min(SpamAction::Quarantine)
        }
    }
}

/// What the client asked for with the DSN extension (RFC 3461).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRequest {
    /// RET=FULL (`Some(true)`) or RET=HDRS (`Some(false)`); not given means headers only.
    pub ret_full: Option<bool>,
    pub envid: Option<String>,
    /// Per recipient, in the order of [`Envelope::recipients`]; a missing entry means nothing was asked.
    pub recipients: Vec<RecipientDsn>,
}

impl DsnRequest {
    pub fn recipient(&self, index: usize) -> RecipientDsn {
        self.recipients.get(index).cloned().unwrap_or_default()
    }
}

/// NOTIFY and ORCPT of one recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientDsn {
    /// smtp-proto's `RCPT_NOTIFY_*` bits; 0 = NOTIFY not given.
    pub notify: u64,
    /// The original recipient address (ORCPT=rfc822;…).
    pub orcpt: Option<String>,
}

impl RecipientDsn {
    /// A failure is reported unless the sender said NEVER, or listed only other events.
    pub fn wants_failure_report(&self) -> bool {
        self.notify == 0 || self.notify & smtp_proto::RCPT_NOTIFY_FAILURE != 0
    }

    pub fn wants_success_report(&self) -> bool {
        self.notify & smtp_proto::RCPT_NOTIFY_SUCCESS != 0
    }
}

/// What [`deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub local: usize,
    pub queued: usize,
    pub queue_id: Option<i64>,
    /// Delivery reports sent besides (see [`dsn::deliver_and_report`]).
    pub reports: usize,
    /// Users whose copy is held in the quarantine.
    pub quarantined: usize,
}

/// Stores `message` for every recipient in one durable commit.
pub async fn deliver(store: &Store, envelope: Envelope, message: Vec<u8>) -> StoreResult<Receipt> {
    deliver_then(store, envelope, message, |_| Ok(())).await
}

/// As [`deliver`], with `also` written in the same commit (the mail collector records there that the
/// message was collected, so a crash can never deliver it without the record, or record it undelivered).
pub async fn deliver_then(store: &Store, envelope: Envelope, message: Vec<u8>, also: impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static) -> StoreResult<Receipt> {
    let blobs_dir = store.blobs_dir();
    let has_local = envelope.recipients.iter().any(|r| matches!(r, Recipient::Local { .. }));
    let (blob, meta) = tokio::task::spawn_blocking(move || {
        // IMAP's view of the message is worked out here, once, off the writer thread.
        let meta = has_local.then(|| meta::compute(&message));
        blobs::prepare(&blobs_dir, message).map(|b| (b, meta))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    store
        .write_async(move |conn| {
            let receipt = commit(conn, &envelope, &blob, meta.as_ref())?;
            also(conn)?;
            Ok(receipt)
        })
        .await
}

/// One recipient of the outbound queue, as [`commit`] writes it.
struct Outgoing {
    to: String,
    dsn: RecipientDsn,
    kind: &'static str,
    target: Option<forward::Target>,
    /// A Store-and-Forward copy: the user whose stored message it forwards.
    stored_for: Option<i64>,
}

fn commit(conn: &Connection, envelope: &Envelope, blob: &blobs::PreparedBlob, meta: Option<&Meta>) -> StoreResult<Receipt> {
    let plan = plan(conn, envelope)?;
    let blob_id = blobs::insert(conn, blob, plan.references())?;
    if let Some(meta) = meta {
        blobs::set_meta(conn, blob_id, &meta.envelope, &meta.bodystructure, &meta.body)?;
    }
    write(conn, envelope, plan, blob_id, blob.size)
}

/// Where one message goes: the users who keep a copy (and in which folder), what leaves, what is held.
struct Plan {
    stored: Vec<(i64, SpamAction)>,
    outgoing: Vec<Outgoing>,
    /// Users (with the address they were reached at) whose copy waits in the quarantine.
    quarantined: Vec<(i64, String)>,
}

impl Plan {
    /// The body's references: one per stored copy, one for the queue entry, one for the quarantine.
    fn references(&self) -> i64 {
        self.stored.len() as i64 + i64::from(!self.outgoing.is_empty()) + i64::from(!self.quarantined.is_empty())
    }
}

fn plan(conn: &Connection, envelope: &Envelope) -> StoreResult<Plan> {
    let mut users: Vec<(i64, &str)> = envelope
        .recipients
        .iter()
        .filter_map(|r| match r {
            Recipient::Local { user_id, address, .. } => Some((*user_id, address.as_str())),
            _ => None,
        })
        .collect();
    users.sort_by_key(|u| u.0);
    users.dedup_by_key(|u| u.0);
    let mut outgoing: Vec<Outgoing> = Vec::new();
    for (i, r) in envelope.recipients.iter().enumerate() {
        match r {
            Recipient::Remote { address } => {
                outgoing.push(Outgoing { to: address.clone(), dsn: envelope.dsn.recipient(i), kind: "internet", target: None, stored_for: None })
            }
            Recipient::Forward { to, target, .. } => {
                outgoing.push(Outgoing { to: to.clone(), dsn: envelope.dsn.recipient(i), kind: "lan", target: Some(target.clone()), stored_for: None })
            }
            Recipient::Local { .. } => {}
        }
    }
    let mut plan = Plan { stored: Vec::new(), outgoing, quarantined: Vec::new() };
    for (user_id, address) in users {
        let action = if envelope.spam.checked {
            let (allow, deny) = spam_lists(conn, user_id)?;
            envelope.spam.for_user(&envelope.sender, &allow, &deny)
        } else {
            SpamAction::Deliver
        };
        if action == SpamAction::Quarantine {
            // Held: nothing is stored or forwarded for this user until the admin releases it.
            plan.quarantined.push((user_id, address.to_string()));
            continue;
        }
        // Each local user's own forwarding decides whether a copy stays and what else goes out.
        let f = forward::of_user(conn, user_id)?;
        if f.forward.is_none() || f.keep || f.store_forward.is_some() {
            plan.stored.push((user_id, action));
        }
        if let Some((to, target)) = f.forward {
            plan.outgoing.push(Outgoing { to, dsn: RecipientDsn::default(), kind: "lan", target: Some(target), stored_for: None });
        }
        if let Some((to, target)) = f.store_forward {
            // The sender's mail was delivered here: a failure to forward is the admin's to hear of.
            let never = RecipientDsn { notify: smtp_proto::RCPT_NOTIFY_NEVER, orcpt: None };
            plan.outgoing.push(Outgoing { to, dsn: never, kind: "store_forward", target: Some(target), stored_for: Some(user_id) });
        }
    }
    Ok(plan)
}

/// A user's spam allow and deny lists.
pub fn spam_lists(conn: &Connection, user_id: i64) -> StoreResult<(Vec<String>, Vec<String>)> {
    let (allow, deny): (String, String) =
        conn.prepare_cached("SELECT spam_allow, spam_deny FROM users WHERE id = ?1")?.query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let lines = |s: String| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>();
    Ok((lines(allow), lines(deny)))
}

fn write(conn: &Connection, envelope: &Envelope, plan: Plan, blob_id: i64, size: i64) -> StoreResult<Receipt> {
    let at = now();
    let mut message_of = std::collections::HashMap::new();
    for (user_id, action) in &plan.stored {
        message_of.insert(*user_id, deliver_to_user(conn, *user_id, blob_id, size, at, *action)?);
    }
    let mut queue_id = None;
    if !plan.outgoing.is_empty() {
        let dsn = &envelope.dsn;
        conn.execute(
            "INSERT INTO queue(created_at, sender, auth_user, blob_id, size, dsn_ret_full, dsn_envid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![at, envelope.sender, envelope.auth_user, blob_id, size, dsn.ret_full, dsn.envid],
        )?;
        let id = conn.last_insert_rowid();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO queue_recipients(queue_id, recipient, next_attempt_at, updated_at, notify, orcpt, kind, route)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for o in &plan.outgoing {
            stmt.execute(params![id, o.to, at, o.dsn.notify as i64, o.dsn.orcpt, o.kind, o.target.as_ref().map(forward::Target::to_route)])?;
            if let Some(message) = o.stored_for.and_then(|u| message_of.get(&u)) {
                // The stored copy knows its forward: it goes (into the Recycle Bin) once the target took it,
                // and a copy the user deleted first is never sent.
                conn.execute("UPDATE messages SET forward_id = ?2 WHERE id = ?1", params![message, conn.last_insert_rowid()])?;
            }
        }
        queue_id = Some(id);
    }
    if !plan.quarantined.is_empty() {
        quarantine::hold(conn, envelope, blob_id, size, at, &plan.quarantined)?;
    }
    Ok(Receipt { local: plan.stored.len(), queued: plan.outgoing.len(), queue_id, reports: 0, quarantined: plan.quarantined.len() })
}

/// Appends a message to the user's INBOX (or, for junk, their Junk folder while they have one) with the next
/// UID; its row id. Spam carries the spam mark (the prune rules' Spam column).
fn deliver_to_user(conn: &Connection, user_id: i64, blob_id: i64, size: i64, at: i64, action: SpamAction) -> StoreResult<i64> {
    let junk = action >= SpamAction::Junk;
    let (folder_id, uid, modseq): (i64, i64, i64) = conn.query_row(
        "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
         WHERE id = (SELECT id FROM folders WHERE user_id = ?1 AND (path = 'INBOX' OR (?2 AND special_use = '\\Junk'))
                     ORDER BY path = 'INBOX' LIMIT 1)
         RETURNING id, uidnext - 1, highestmodseq",
        params![user_id, junk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    conn.execute(
        "INSERT INTO messages(folder_id, uid, received_at, size, modseq, blob_id, arrived_at, spam) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3, ?7)",
        params![folder_id, uid, at, size, modseq, blob_id, action >= SpamAction::Mark],
    )?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests;
