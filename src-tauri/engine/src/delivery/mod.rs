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

use crate::mailbox::meta::{self, Meta};
use crate::store::{blobs, now, Store, StoreResult};

/// One accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Local { user_id: i64, user: String, address: String },
    Remote { address: String },
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
}

/// Splits `local@domain`; the domain is lower-cased. An address without a domain has an empty domain.
pub fn split_address(address: &str) -> (&str, String) {
    match address.rfind('@') {
        Some(at) => (&address[..at], address[at + 1..].to_ascii_lowercase()),
        None => (address, String::new()),
    }
}

/// Decides what `address` is. `may_relay`: the client authenticated or comes from a trusted network.
pub fn route(conn: &Connection, server_name: &str, address: &str, may_relay: bool) -> StoreResult<Result<Recipient, Refusal>> {
    let (local, domain) = split_address(address);
    if local.is_empty() {
        return Ok(Err(Refusal::BadAddress("the address has no local part".into())));
    }
    let is_local_domain = domain.is_empty()
        || domain == "localhost"
        || domain.eq_ignore_ascii_case(server_name)
        || conn.query_row("SELECT 1 FROM domains WHERE name = ?1", [&domain], |_| Ok(())).optional()?.is_some();
    if !is_local_domain {
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
    Ok(found
        .map(|(user_id, user)| Recipient::Local { user_id, user, address: address.to_string() })
        .ok_or(Refusal::UnknownUser))
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
}

/// Stores `message` for every recipient in one durable commit.
pub async fn deliver(store: &Store, envelope: Envelope, message: Vec<u8>) -> StoreResult<Receipt> {
    let blobs_dir = store.blobs_dir();
    let has_local = envelope.recipients.iter().any(|r| matches!(r, Recipient::Local { .. }));
    let (blob, meta) = tokio::task::spawn_blocking(move || {
        // IMAP's view of the message is worked out here, once, off the writer thread.
        let meta = has_local.then(|| meta::compute(&message));
        blobs::prepare(&blobs_dir, message).map(|b| (b, meta))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    store.write_async(move |conn| commit(conn, &envelope, &blob, meta.as_ref())).await
}

fn commit(conn: &Connection, envelope: &Envelope, blob: &blobs::PreparedBlob, meta: Option<&Meta>) -> StoreResult<Receipt> {
    let mut users: Vec<i64> = envelope
        .recipients
        .iter()
        .filter_map(|r| match r {
            Recipient::Local { user_id, .. } => Some(*user_id),
            Recipient::Remote { .. } => None,
        })
        .collect();
    users.sort_unstable();
    users.dedup();
    let remote: Vec<(&str, RecipientDsn)> = envelope
        .recipients
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Recipient::Remote { address } => Some((address.as_str(), envelope.dsn.recipient(i))),
            Recipient::Local { .. } => None,
        })
        .collect();
    let references = users.len() as i64 + i64::from(!remote.is_empty());
    let blob_id = blobs::insert(conn, blob, references)?;
    if let Some(meta) = meta {
        blobs::set_meta(conn, blob_id, &meta.envelope, &meta.bodystructure, &meta.body)?;
    }
    let at = now();
    for user_id in &users {
        deliver_to_inbox(conn, *user_id, blob_id, blob.size, at)?;
    }
    let mut queue_id = None;
    if !remote.is_empty() {
        let dsn = &envelope.dsn;
        conn.execute(
            "INSERT INTO queue(created_at, sender, auth_user, blob_id, size, dsn_ret_full, dsn_envid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![at, envelope.sender, envelope.auth_user, blob_id, blob.size, dsn.ret_full, dsn.envid],
        )?;
        let id = conn.last_insert_rowid();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO queue_recipients(queue_id, recipient, next_attempt_at, updated_at, notify, orcpt) VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        )?;
        for (address, rdsn) in &remote {
            stmt.execute(params![id, address, at, rdsn.notify as i64, rdsn.orcpt])?;
        }
        queue_id = Some(id);
    }
    Ok(Receipt { local: users.len(), queued: remote.len(), queue_id, reports: 0 })
}

/// Appends a message to the user's INBOX with the next UID.
fn deliver_to_inbox(conn: &Connection, user_id: i64, blob_id: i64, size: i64, at: i64) -> StoreResult<()> {
    let (folder_id, uid, modseq): (i64, i64, i64) = conn.query_row(
        "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
         WHERE user_id = ?1 AND path = 'INBOX'
         RETURNING id, uidnext - 1, highestmodseq",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    conn.execute(
        "INSERT INTO messages(folder_id, uid, received_at, size, modseq, blob_id, arrived_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3)",
        params![folder_id, uid, at, size, modseq, blob_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
