//! Users, their aliases and default folders, and the local domains: the directory every service asks
//! "who is this?".
//!
//! Names are mailbox local parts, unique (case-insensitive) among live users and aliases together.
//! Passwords are stored only as argon2id hashes, computed before the write so the writer thread never
//! waits on hashing. Deleting a user moves the mailbox to the recycle bin: the row stays (with
//! `deleted_at`) with its folders and messages; the name and aliases become free for reuse.

mod bulk;
pub mod logins;
mod domains;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use bulk::{read_rows as read_csv_rows, BulkAddReport, CsvRowError};
pub use domains::is_local_domain;
pub use crate::names::{check_name, validate_domain};

use crate::error::{ApiError, ApiResult, FieldError};
use crate::store::{now, Store, StoreError, StoreResult};

/// Folders every new mailbox starts with, with their IMAP SPECIAL-USE attribute.
pub const DEFAULT_FOLDERS: [(&str, Option<&str>); 5] = [
    ("INBOX", None),
    ("Sent", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
];

pub const MIN_PASSWORD_LEN: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UserSummary {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub real_name: String,
    pub enabled: bool,
    pub aliases: Vec<String>,
    #[ts(type = "number")]
    pub message_count: i64,
    #[ts(type = "number")]
    pub mailbox_bytes: i64,
    /// The user's own bandwidth limit: 0 none of their own, bytes per second, or −K for pool K.
    #[ts(type = "number")]
    pub bandwidth: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FolderInfo {
    pub path: String,
    #[ts(type = "number")]
    pub message_count: i64,
    #[ts(type = "number")]
    pub bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UserDetail {
    pub user: UserSummary,
    pub folders: Vec<FolderInfo>,
    /// The Routing and Advanced tabs' forwarding, as stored (empty texts: off).
    pub forwarding: Forwarding,
    /// What the editor warns about (Store and Forward together with another forward).
    pub warnings: Vec<String>,
    /// Stored messages still to be handed to the Store-and-Forward main server.
    #[ts(type = "number")]
    pub waiting_to_forward: i64,
    /// The Spam tab's lists.
    pub spam: SpamLists,
}

/// A user's own spam lists (Users → user → Spam): senders whose mail always reaches the INBOX unmarked
/// (unless shown forged), and senders whose mail goes to Junk. Entries: `someone@example.com` or
/// `example.com` (a domain and its subdomains).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SpamLists {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// A user's forwarding as the editor shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Forwarding {
    pub store_forward_target: String,
    pub store_forward_server: String,
    pub forward: String,
    pub keep_copy: bool,
}

/// What the user editor submits. `password` is required to create; `None` on update keeps the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
pub struct UserForm {
    pub name: String,
    pub real_name: String,
    pub enabled: bool,
    pub aliases: Vec<String>,
    pub password: Option<String>,
    /// The user's own bandwidth limit (see [`UserSummary::bandwidth`]).
    #[serde(default)]
    #[ts(type = "number")]
    pub bandwidth: i64,
}

/// A user whose password matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub id: i64,
    /// The name as stored (the client may have typed it in another case).
    pub name: String,
    /// Their own bandwidth limit (0: none).
    pub bandwidth: i64,
}

/// The user directory over the store.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    logins: std::sync::Arc<logins::LoginChecks>,
}

impl Directory {
    pub fn new(store: Store) -> Directory {
        Directory { store, logins: Default::default() }
    }

    pub fn list(&self) -> ApiResult<Vec<UserSummary>> {
        Ok(self.store.read(|c| list_users(c, None))?)
    }

    pub fn get(&self, name: &str) -> ApiResult<UserDetail> {
        let wanted = name.to_string();
        self.store.read(move |c| {
            let user = list_users(c, Some(&wanted))?.into_iter().next();
            let Some(user) = user else { return Ok(None) };
            let folders = list_folders(c, user.id)?;
            let forwarding = c.query_row("SELECT sf_target, sf_server, forward_to, forward_keep FROM users WHERE id = ?1", [user.id], |r| {
                Ok(Forwarding { store_forward_target: r.get(0)?, store_forward_server: r.get(1)?, forward: r.get(2)?, keep_copy: r.get(3)? })
            })?;
            let warnings = forwarding_warnings(c, user.id)?;
            let waiting_to_forward = crate::forward::waiting_to_forward(c, user.id)?;
            let spam = c.query_row("SELECT spam_allow, spam_deny FROM users WHERE id = ?1", [user.id], |r| {
                let lines = |s: String| s.lines().map(String::from).collect();
                Ok(SpamLists { allow: lines(r.get(0)?), deny: lines(r.get(1)?) })
            })?;
            Ok(Some(UserDetail { user, folders, forwarding, warnings, waiting_to_forward, spam }))
        })?
        .ok_or_else(|| no_such_user(name))
    }

    /// Creates a user with the default folders.
    pub fn create(&self, form: UserForm) -> ApiResult<()> {
        let (form, hash) = self.prepare(form, true)?;
        let hash = hash.unwrap_or_default();
        self.store.write(move |c| insert_user(c, &form, &hash))??;
        tracing::info!(target: "users", "user created");
        Ok(())
    }

    /// The set-up wizard's Finish: these domains (those not yet local), these users and the settings
    /// change, in one write. Anything refused (a name taken meanwhile, a setting) or failing (the disk)
    /// rolls all of it back: the folder is left as it was. Passwords are hashed before the write.
    pub fn set_up<F>(&self, domains: Vec<String>, forms: Vec<UserForm>, settings: F) -> ApiResult<crate::settings::Settings>
    where
        F: FnOnce(&mut crate::settings::Settings) -> ApiResult<()> + Send + 'static,
    {
        let mut users = Vec::new();
        for form in forms {
            let (form, hash) = self.prepare(form, true)?;
            users.push((form, hash.unwrap_or_default()));
        }
        // A refusal is kept here and the job fails, so that the store rolls the whole job back.
        let refused = std::sync::Arc::new(std::sync::Mutex::new(None::<ApiError>));
        let keep = refused.clone();
        let written = self.store.write(move |c| {
            let refuse = |e: ApiError| {
                *keep.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Err(crate::store::StoreError::Io(std::io::Error::other("the set-up was refused")))
            };
            for name in &domains {
                c.execute("INSERT OR IGNORE INTO domains(name, created_at) VALUES (?1, ?2)", params![name, now()])?;
            }
            for (form, hash) in &users {
                if let Err(e) = insert_user(c, form, hash)? {
                    return refuse(e);
                }
            }
            match crate::settings::update_in(c, settings)? {
                Ok(stored) => Ok(stored),
                Err(e) => refuse(e),
            }
        });
        if let Some(e) = refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        Ok(written?)
    }

    /// Edits (and possibly renames) the user called `name`.
    pub fn update(&self, name: &str, form: UserForm) -> ApiResult<()> {
        let (form, hash) = self.prepare(form, false)?;
        let name = name.to_string();
        self.store.write(move |c| update_user(c, &name, &form, hash.as_deref()))??;
        Ok(())
    }

    pub fn set_password(&self, name: &str, password: &str) -> ApiResult<()> {
        check_password(password).map_err(|m| ApiError::field("password", m))?;
        let hash = hash_password(password)?;
        let wanted = name.to_string();
        let changed = self.store.write(move |c| {
            Ok(c.execute("UPDATE users SET password_hash = ?1 WHERE name = ?2 AND deleted_at IS NULL", params![hash, wanted])?)
        })?;
        if changed == 0 {
            return Err(no_such_user(name));
        }
        Ok(())
    }

    /// Moves the user's mailbox to the recycle bin and frees the name and aliases.
    pub fn delete(&self, name: &str) -> ApiResult<()> {
        let wanted = name.to_string();
        let deleted = self.store.write(move |c| {
            let Some(id) = live_user_id(c, &wanted)? else { return Ok(false) };
            let at = now();
            c.execute("UPDATE users SET deleted_at = ?1 WHERE id = ?2", params![at, id])?;
            // The aliases are kept with the bin's row, to come back if the user is restored.
            c.execute(
                "INSERT INTO recycle_bin(user_id, name, deleted_at, aliases)
                 VALUES (?1, ?2, ?3, (SELECT coalesce(group_concat(alias, ' '), '') FROM aliases WHERE user_id = ?1))",
                params![id, wanted, at],
            )?;
            c.execute("DELETE FROM aliases WHERE user_id = ?1", [id])?;
            Ok(true)
        })?;
        if !deleted {
            return Err(no_such_user(name));
        }
        Ok(())
    }

    /// Changes the user's forwarding (the fields given): the Store-and-Forward target address and server
    /// (both, or both empty to switch it off), the Routing forward (`SMTP:address@server`, empty for none)
    /// and whether a forwarded user keeps a copy. Returns warnings the admin should see (Store and Forward
    /// together with another forward, which VPOP3 asks to remove).
    pub fn set_forwarding(&self, name: &str, change: ForwardingChange) -> ApiResult<Vec<String>> {
        use crate::forward;
        let mut errors = Vec::new();
        let trim = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string());
        let (target, server, fwd) = (trim(&change.store_forward_target), trim(&change.store_forward_server), trim(&change.forward));
        if let Some(t) = target.as_deref().filter(|t| !t.is_empty()) {
            if let Err(m) = forward::check_address(t) {
                errors.push(FieldError::new("store_forward_target", format!("'{t}': {m}")));
            }
        }
        if let Some(s) = server.as_deref().filter(|s| !s.is_empty()) {
            if let Err(m) = forward::parse_server(s) {
                errors.push(FieldError::new("store_forward_server", m));
            }
        }
        if let Some(f) = fwd.as_deref().filter(|f| !f.is_empty()) {
            if let Err(m) = forward::parse_user_forward(f) {
                errors.push(FieldError::new("forward", m));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let wanted = name.to_string();
        let keep = change.keep_copy;
        let row = self.store.write(move |c| {
            let Some(id) = live_user_id(c, &wanted)? else { return Ok(None) };
            let (old_t, old_s, old_f): (String, String, String) =
                c.query_row("SELECT sf_target, sf_server, forward_to FROM users WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let (t, s, f) = (target.unwrap_or(old_t), server.unwrap_or(old_s), fwd.unwrap_or(old_f));
            if t.is_empty() != s.is_empty() {
                return Ok(Some(Err(ApiError::invalid(vec![FieldError::new(
                    if t.is_empty() { "store_forward_target" } else { "store_forward_server" },
                    "Store and Forward needs both the user's address on the main server and that server (leave both empty to switch it off)",
                )]))));
            }
            c.execute("UPDATE users SET sf_target = ?2, sf_server = ?3, forward_to = ?4 WHERE id = ?1", params![id, t, s, f])?;
            if let Some(k) = keep {
                c.execute("UPDATE users SET forward_keep = ?2 WHERE id = ?1", params![id, k])?;
            }
            let warnings = forwarding_warnings(c, id)?;
            Ok(Some(Ok(warnings)))
        })?;
        match row {
            None => Err(no_such_user(name)),
            Some(r) => r,
        }
    }

    /// Replaces the user's spam allow and deny lists (entries trimmed, blank ones dropped); returns them as
    /// stored.
    pub fn set_spam_lists(&self, name: &str, lists: SpamLists) -> ApiResult<SpamLists> {
        let clean = |l: Vec<String>| l.into_iter().map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).collect::<Vec<_>>();
        let lists = SpamLists { allow: clean(lists.allow), deny: clean(lists.deny) };
        let mut errors = Vec::new();
        for (field, list) in [("allow", &lists.allow), ("deny", &lists.deny)] {
            if let Err(m) = crate::settings::check_senders(list) {
                errors.push(FieldError::new(field, m));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let wanted = name.to_string();
        let (allow, deny) = (lists.allow.join("\n"), lists.deny.join("\n"));
        let changed = self.store.write(move |c| Ok(c.execute("UPDATE users SET spam_allow = ?2, spam_deny = ?3 WHERE name = ?1 AND deleted_at IS NULL", params![wanted, allow, deny])?))?;
        if changed == 0 {
            return Err(no_such_user(name));
        }
        Ok(lists)
    }

    /// Brings back the user most recently deleted under `name`, with their mail and aliases, while the
    /// Recycle Bin still holds them. The name must be free again; an alias someone else took meanwhile
    /// stays theirs and is returned, so the admin can be told.
    pub fn restore(&self, name: &str) -> ApiResult<Vec<String>> {
        let wanted = name.to_string();
        // Past the retention time the purge may have begun (or will at the next sweep).
        let kept_since = now() - i64::from(crate::settings::load(&self.store)?.store.recycle_hours) * 3600;
        let outcome = self.store.write(move |c| {
            let deleted: Option<(i64, String)> = c
                .query_row(
                    "SELECT u.id, coalesce((SELECT b.aliases FROM recycle_bin b WHERE b.user_id = u.id ORDER BY b.deleted_at DESC LIMIT 1), '')
                     FROM users u WHERE u.name = ?1 AND u.deleted_at >= ?2 AND u.purging = 0 ORDER BY u.deleted_at DESC LIMIT 1",
                    params![&wanted, kept_since],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, aliases)) = deleted else { return Ok(Err(ApiError::not_found(format!("no deleted user called '{wanted}' is in the Recycle Bin")))) };
            if let Some(taken) = name_taken(c, &wanted, Some(id))? {
                return Ok(Err(ApiError::conflict(format!("{taken}: rename or delete that user first"))));
            }
            c.execute("UPDATE users SET deleted_at = NULL WHERE id = ?1", [id])?;
            c.execute("DELETE FROM recycle_bin WHERE user_id = ?1", [id])?;
            let mut left_out = Vec::new();
            for alias in aliases.split_whitespace() {
                if name_taken(c, alias, Some(id))?.is_some() {
                    left_out.push(alias.to_string());
                } else {
                    c.execute("INSERT INTO aliases(alias, user_id) VALUES (?1, ?2)", params![alias, id])?;
                }
            }
            Ok(Ok(left_out))
        })??;
        tracing::info!(target: "users", user = %name, "user restored from the Recycle Bin");
        Ok(outcome)
    }

    /// Checks a login; `None` when the user does not exist, is disabled, or the password is wrong.
    /// The login is the user's name, one of their aliases, or either as an address at a local domain
    /// (`ann@office.example`): so the settings a mail program is given need only the address it was
    /// given, and the web service never has to say which addresses exist.
    pub fn verify(&self, login: &str, password: &str) -> ApiResult<Option<VerifiedUser>> {
        let login = login.to_string();
        let row = self.store.read(move |c| {
            let Some(name) = login_name(c, &login)? else { return Ok(None) };
            Ok(c.query_row(
                &format!("SELECT id, password_hash, bandwidth, name FROM users WHERE enabled = 1 AND {NAMED_BY_LOGIN}"),
                [name],
                |r| Ok((VerifiedUser { id: r.get(0)?, bandwidth: r.get(2)?, name: r.get(3)? }, r.get::<_, String>(1)?)),
            )
            .optional()?)
        })?;
        match row {
            Some((user, hash)) => Ok(self.logins.matches(&hash, password, || password_matches(&hash, password)).then_some(user)),
            None => {
                // Unknown and disabled users cost what a wrong password costs, so timing tells nothing.
                self.logins.slow_refusal(|| password_matches(dummy_hash(), password));
                Ok(None)
            }
        }
    }

    /// Why `name` cannot be a new user's name (already a user's name or an alias), if it cannot.
    pub fn name_in_use(&self, name: &str) -> ApiResult<Option<String>> {
        let name = name.to_string();
        Ok(self.store.read(move |c| name_taken(c, &name, None))?)
    }

    /// Who a login names, for counting its failures: every spelling of one account (name, alias, either
    /// at a local domain, any letter case) gives the same identity, so trying them all earns no more
    /// guesses than one; a login that names nobody is itself, in lower case.
    pub fn login_identity(&self, login: &str) -> String {
        let typed = login.to_string();
        let found = self.store.read(move |c| {
            let Some(name) = login_name(c, &typed)? else { return Ok(None) };
            Ok(c.query_row(&format!("SELECT name FROM users WHERE {NAMED_BY_LOGIN}"), [name],
                |r| r.get::<_, String>(0),
            )
            .optional()?)
        });
        found.ok().flatten().unwrap_or_else(|| login.to_string()).to_lowercase()
    }

    /// Normalises the form, checks every field it can without the database, and hashes the password.
    fn prepare(&self, mut form: UserForm, creating: bool) -> ApiResult<(UserForm, Option<String>)> {
        form.name = form.name.trim().to_string();
        form.real_name = form.real_name.trim().to_string();
        form.aliases = form.aliases.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
        form.aliases.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let mut errors = Vec::new();
        if let Err(m) = check_name(&form.name) {
            errors.push(FieldError::new("name", m));
        }
        if let Err(m) = crate::settings::check_limit_value(form.bandwidth) {
            errors.push(FieldError::new("bandwidth", m));
        }
        if form.real_name.chars().count() > 200 {
            errors.push(FieldError::new("real_name", "at most 200 characters"));
        } else if form.real_name.chars().any(char::is_control) {
            errors.push(FieldError::new("real_name", "no line breaks or control characters"));
        }
        for alias in &form.aliases {
            if let Err(m) = check_name(alias) {
                errors.push(FieldError::new("aliases", format!("alias '{alias}': {m}")));
            } else if alias.eq_ignore_ascii_case(&form.name) {
                errors.push(FieldError::new("aliases", format!("alias '{alias}' is the user's own name")));
            }
        }
        match (&form.password, creating) {
            (None, true) => errors.push(FieldError::new("password", "enter a password")),
            (Some(p), _) => {
                if let Err(m) = check_password(p) {
                    errors.push(FieldError::new("password", m));
                }
            }
            (None, false) => {}
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let hash = form.password.as_deref().map(hash_password).transpose()?;
        Ok((form, hash))
    }
}

fn no_such_user(name: &str) -> ApiError {
    ApiError::not_found(format!("there is no user called '{name}'"))
}

/// What `Directory::set_forwarding` changes; `None` leaves a field as it is, an empty text switches it off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
pub struct ForwardingChange {
    pub store_forward_target: Option<String>,
    pub store_forward_server: Option<String>,
    pub forward: Option<String>,
    pub keep_copy: Option<bool>,
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("at most 1024 characters")]
    TooLong,
    #[error("no control characters")]
    ControlCharacter,
}

pub fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > 1024 {
        return Err(PasswordError::TooLong);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacter);
    }
    Ok(())
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))
}

/// A hash no password matches in practice, made with the same parameters as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("postroom: no such user; this hash only costs time").unwrap_or_default())
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn live_user_id(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    Ok(c.query_row("SELECT id FROM users WHERE name = ?1 AND deleted_at IS NULL", [name], |r| r.get(0)).optional()?)
}

/// What the user editor warns about: Store and Forward together with an SMTP: forward, or with a LAN rule
/// that takes the user's mail first (VPOP3 asks for those to be removed).
fn forwarding_warnings(c: &Connection, id: i64) -> StoreResult<Vec<String>> {
    use crate::forward;
    let (t, f): (String, String) = c.query_row("SELECT sf_target, forward_to FROM users WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut warnings = Vec::new();
    if t.is_empty() {
        return Ok(warnings);
    }
    if !f.is_empty() {
        warnings.push("This user has both Store and Forward and an SMTP: forward on the Routing tab: mail would reach the main server twice; remove the forward".to_string());
    }
    for address in live_addresses(c, id)? {
        if let Some(rule) = forward::find(c, &address, forward::Pass::Specific)? {
            warnings.push(format!("A LAN forwarding rule (to {}) takes {address} before Store and Forward can: remove it from that rule", rule.target.shown()));
            break;
        }
    }
    Ok(warnings)
}

/// Every address the user answers to: their name and aliases at each local domain and at localhost.
fn live_addresses(c: &Connection, user_id: i64) -> StoreResult<Vec<String>> {
    let mut names: Vec<String> = c.query_row("SELECT name FROM users WHERE id = ?1", [user_id], |r| r.get(0)).map(|n| vec![n])?;
    let mut stmt = c.prepare("SELECT alias FROM aliases WHERE user_id = ?1")?;
    names.extend(stmt.query_map([user_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?);
    let mut domains: Vec<String> = c.prepare("SELECT name FROM domains")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    domains.push("localhost".into());
    Ok(names.iter().flat_map(|n| domains.iter().map(move |d| format!("{n}@{d}"))).collect())
}

/// Who (other than `except`) already answers to `name`, as a user name or an alias.
fn name_taken(c: &Connection, name: &str, except: Option<i64>) -> StoreResult<Option<String>> {
    let except = except.unwrap_or(-1);
    let user: Option<String> = c
        .query_row("SELECT name FROM users WHERE name = ?1 AND deleted_at IS NULL AND id <> ?2", params![name, except], |r| r.get(0))
        .optional()?;
    if let Some(u) = user {
        return Ok(Some(format!("'{name}' is already the name of user {u}")));
    }
    let owner: Option<String> = c
        .query_row(
            "SELECT u.name FROM aliases a JOIN users u ON u.id = a.user_id WHERE a.alias = ?1 AND a.user_id <> ?2",
            params![name, except],
            |r| r.get(0),
        )
        .optional()?;
    Ok(owner.map(|u| format!("'{name}' is already an alias of user {u}")))
}

/// The live user whose name or alias is ?1.
const NAMED_BY_LOGIN: &str = "deleted_at IS NULL AND (name = ?1 OR id = (SELECT user_id FROM aliases WHERE alias = ?1))";

/// The name or alias a login gives: itself, or its local part when it is an address at a local domain;
/// `None` for an address at any other domain.
fn login_name<'a>(c: &Connection, login: &'a str) -> StoreResult<Option<&'a str>> {
    Ok(match login.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && domains::is_local_domain(c, &domain.to_ascii_lowercase())? => Some(local),
        Some(_) => None,
        None => Some(login),
    })
}

fn check_names_free(c: &Connection, form: &UserForm, except: Option<i64>) -> StoreResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(m) = name_taken(c, &form.name, except)? {
        errors.push(FieldError::new("name", m));
    }
    for alias in &form.aliases {
        if let Some(m) = name_taken(c, alias, except)? {
            errors.push(FieldError::new("aliases", m));
        }
    }
    Ok(errors)
}

/// Inserts a validated user with default folders. The outer `Result` is the database; the inner one
/// the admin's mistake (a name in use), found before anything is written.
pub(crate) fn insert_user(c: &Connection, form: &UserForm, hash: &str) -> StoreResult<ApiResult<i64>> {
    let errors = check_names_free(c, form, None)?;
    if !errors.is_empty() {
        return Ok(Err(ApiError::invalid(errors)));
    }
    c.execute(
        "INSERT INTO users(name, password_hash, real_name, enabled, created_at, bandwidth) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![form.name, hash, form.real_name, form.enabled, now(), form.bandwidth],
    )?;
    let id = c.last_insert_rowid();
    set_aliases(c, id, &form.aliases)?;
    for (path, special) in DEFAULT_FOLDERS {
        c.execute(
            "INSERT INTO folders(user_id, path, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4)",
            params![id, path, special, crate::mailbox::next_uidvalidity(c, id)?],
        )?;
        crate::mailbox::subscribe(c, id, path)?;
    }
    Ok(Ok(id))
}

fn update_user(c: &Connection, name: &str, form: &UserForm, hash: Option<&str>) -> StoreResult<ApiResult<()>> {
    let Some(id) = live_user_id(c, name)? else {
        return Ok(Err(no_such_user(name)));
    };
    let errors = check_names_free(c, form, Some(id))?;
    if !errors.is_empty() {
        return Ok(Err(ApiError::invalid(errors)));
    }
    c.execute(
        "UPDATE users SET name = ?1, real_name = ?2, enabled = ?3, bandwidth = ?4 WHERE id = ?5",
        params![form.name, form.real_name, form.enabled, form.bandwidth, id],
    )?;
    if let Some(hash) = hash {
        c.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", params![hash, id])?;
    }
    c.execute("DELETE FROM aliases WHERE user_id = ?1", [id])?;
    set_aliases(c, id, &form.aliases)?;
    Ok(Ok(()))
}

fn set_aliases(c: &Connection, id: i64, aliases: &[String]) -> StoreResult<()> {
    let mut stmt = c.prepare_cached("INSERT INTO aliases(alias, user_id) VALUES (?1, ?2)")?;
    for alias in aliases {
        stmt.execute(params![alias, id])?;
    }
    Ok(())
}

fn list_users(c: &Connection, only: Option<&str>) -> StoreResult<Vec<UserSummary>> {
    let mut stmt = c.prepare_cached(
        "SELECT u.id, u.name, u.real_name, u.enabled,
                (SELECT group_concat(alias, ',') FROM (SELECT alias FROM aliases WHERE user_id = u.id ORDER BY alias)),
                (SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = u.id),
                (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = u.id),
                u.bandwidth
         FROM users u
         WHERE u.deleted_at IS NULL AND (?1 IS NULL OR u.name = ?1)
         ORDER BY u.name",
    )?;
    let rows = stmt.query_map([only], |r| {
        let aliases: Option<String> = r.get(4)?;
        Ok(UserSummary {
            id: r.get(0)?,
            name: r.get(1)?,
            real_name: r.get(2)?,
            enabled: r.get(3)?,
            aliases: aliases.map(|a| a.split(',').map(str::to_string).collect()).unwrap_or_default(),
            message_count: r.get(5)?,
            mailbox_bytes: r.get(6)?,
            bandwidth: r.get(7)?,
        })
    })?;
    rows.collect::<Result<_, _>>().map_err(StoreError::from)
}

fn list_folders(c: &Connection, user_id: i64) -> StoreResult<Vec<FolderInfo>> {
    let mut stmt = c.prepare_cached(
        "SELECT f.path, count(m.id), coalesce(sum(m.size), 0)
         FROM folders f LEFT JOIN messages m ON m.folder_id = f.id
         WHERE f.user_id = ?1 GROUP BY f.id
         ORDER BY f.path <> 'INBOX', f.path",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok(FolderInfo { path: r.get(0)?, message_count: r.get(1)?, bytes: r.get(2)? }))?;
    rows.collect::<Result<_, _>>().map_err(StoreError::from)
}

#[cfg(test)]
mod tests;
