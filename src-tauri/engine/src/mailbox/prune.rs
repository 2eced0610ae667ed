//! Prune rules, as the seed article "Pruning old messages automatically" sets them: global rules and each
//! user's, the same columns in both — Folder (one name, INBOX in any case, or `*` for every folder), Age in
//! days since Postroom first saw the message, a minimum Size, Read, Flagged, Deleted and Spam. All of a
//! rule's columns must match; any rule matching prunes the message; flags are read when pruning runs.
//!
//! This module keeps the rules, says what they would take now (the preview) and takes it ([`run`]): into
//! the Recycle Bin, through the single writer in bounded batches (each looks at [`SCAN`] messages in id
//! order), so SMTP's commits and IMAP's commands interleave with a pass over a million messages. Sessions
//! see the messages leave as after any other session's expunge; each gets a line in postroom.log.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::store::StoreResult;

/// Read (or Flagged): must be set, must not be, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
#[serde(rename_all = "lowercase")]
pub enum Either {
    Yes,
    No,
    #[default]
    Either,
}

impl Either {
    fn from_db(v: Option<bool>) -> Either {
        match v {
            Some(true) => Either::Yes,
            Some(false) => Either::No,
            None => Either::Either,
        }
    }

    fn to_db(self) -> Option<bool> {
        match self {
            Either::Yes => Some(true),
            Either::No => Some(false),
            Either::Either => None,
        }
    }
}

/// One rule, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Rule {
    #[ts(type = "number")]
    pub id: i64,
    /// The user whose rule it is; `None` for a global rule.
    pub user: Option<String>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub columns: NewRule,
}

/// A rule's columns (a new rule is only these).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
pub struct NewRule {
    /// A folder name (INBOX as `INBOX`), or `*` for every folder.
    pub folder: String,
    pub age_days: u32,
    /// Only messages of at least this many bytes.
    #[ts(type = "number | null")]
    pub min_size: Option<u64>,
    /// Read: `yes` only read messages, `no` only unread ones.
    pub read: Either,
    pub flagged: Either,
    /// Only messages marked \Deleted.
    pub deleted: bool,
    /// Only messages marked as spam.
    pub spam: bool,
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the folder is empty: name one folder, or * for every folder")]
    NoFolder,
    #[error("'{0}' will not work: a rule names one folder (such as Inbox or Sent), or * for every folder — patterns are not matched")]
    Pattern(String),
    #[error("no user is called '{0}'")]
    NoUser(String),
    #[error("the age is in days and must be under 100 years")]
    Age,
    #[error("a table holds at most {MAX_RULES} rules")]
    TooMany,
}

/// The longest age a rule may give (days).
const MAX_AGE_DAYS: u32 = 36_500;
/// Rules in one table (global, or one user's): every message is checked against each, every pass.
pub const MAX_RULES: usize = 200;

/// A rule's folder as stored: `*`, INBOX in capitals, or the name as given; patterns refused (VPOP3's own
/// documentation says a folder pattern "will not work", and it would surprise an admin to prune more).
pub fn folder_of(text: &str) -> Result<String, RuleError> {
    let t = text.trim().trim_end_matches('/');
    if t.is_empty() {
        return Err(RuleError::NoFolder);
    }
    if t == "*" {
        return Ok("*".into());
    }
    if t.contains(['*', '%', '?']) {
        return Err(RuleError::Pattern(text.trim().to_string()));
    }
    Ok(super::canonical(t))
}

fn user_id(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    Ok(c.query_row("SELECT id FROM users WHERE name = ?1 AND deleted_at IS NULL", [name], |r| r.get(0)).optional()?)
}

/// The id of the user a table belongs to (`None`: the global table), or why there is none.
fn owner_of(c: &Connection, user: Option<&str>) -> StoreResult<Result<Option<i64>, RuleError>> {
    Ok(match user {
        Some(name) => user_id(c, name)?.map(Some).ok_or_else(|| RuleError::NoUser(name.to_string())),
        None => Ok(None),
    })
}

/// Adds a rule (global without a user); its id.
pub fn add(c: &Connection, user: Option<&str>, rule: &NewRule) -> StoreResult<Result<i64, RuleError>> {
    let folder = match folder_of(&rule.folder) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    if rule.age_days > MAX_AGE_DAYS {
        return Ok(Err(RuleError::Age));
    }
    let owner = match owner_of(c, user)? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let count: i64 = c.query_row("SELECT count(*) FROM prune_rules WHERE user_id IS ?1", [owner], |r| r.get(0))?;
    if count as usize >= MAX_RULES {
        return Ok(Err(RuleError::TooMany));
    }
    c.execute(
        "INSERT INTO prune_rules(user_id, folder, age_days, min_size, seen, flagged, deleted, spam) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![owner, folder, rule.age_days, rule.min_size.map(|s| s.min(i64::MAX as u64) as i64), rule.read.to_db(), rule.flagged.to_db(), rule.deleted, rule.spam],
    )?;
    Ok(Ok(c.last_insert_rowid()))
}

/// Deletes a rule; `false` when there is none with that id.
pub fn delete(c: &Connection, id: i64) -> StoreResult<bool> {
    Ok(c.execute("DELETE FROM prune_rules WHERE id = ?1", [id])? == 1)
}

/// The rules: global ones and every user's, or (with a user) the global ones and that user's.
pub fn list(c: &Connection, user: Option<&str>) -> StoreResult<Result<Vec<Rule>, RuleError>> {
    let filter = match owner_of(c, user)? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let mut stmt = c.prepare(
        "SELECT r.id, u.name, r.folder, r.age_days, r.min_size, r.seen, r.flagged, r.deleted, r.spam
         FROM prune_rules r LEFT JOIN users u ON u.id = r.user_id
         WHERE ?1 IS NULL OR r.user_id IS NULL OR r.user_id = ?1
         ORDER BY r.user_id IS NOT NULL, u.name, r.id",
    )?;
    let rules = stmt
        .query_map([filter], |r| {
            let columns = NewRule {
                folder: r.get(2)?,
                age_days: r.get(3)?,
                min_size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                read: Either::from_db(r.get(5)?),
                flagged: Either::from_db(r.get(6)?),
                deleted: r.get(7)?,
                spam: r.get(8)?,
            };
            Ok(Rule { id: r.get(0)?, user: r.get(1)?, columns })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ok(rules))
}

/// One message a preview lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Candidate {
    pub user: String,
    pub folder: String,
    pub uid: u32,
    #[ts(type = "number")]
    pub size: u64,
    /// The first rule that takes it (a rule not saved yet: −1,000,000 for the first row of the table, then
    /// −999,999 …).
    #[ts(type = "number")]
    pub rule: i64,
}

/// What the rules would take now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, TS)]
pub struct Preview {
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    /// (rule id, messages, bytes): each message counted under the first rule that takes it.
    #[ts(type = "Array<[number, number, number]>")]
    pub per_rule: Vec<(i64, u64, u64)>,
    /// The first [`PREVIEW_LISTED`] messages.
    pub first: Vec<Candidate>,
}

/// Messages a preview lists by name.
pub const PREVIEW_LISTED: usize = 50;

/// The messages a rule takes at time `now`: every column must match. Spam is the message's spam mark,
/// the `$Junk` keyword, or its being in the Junk folder.
const MATCHES: &str = "
    (r.user_id IS NULL OR r.user_id = f.user_id)
    AND (r.folder = '*' OR r.folder = f.path)
    AND coalesce(m.arrived_at, m.received_at) <= ?1 - r.age_days * 86400
    AND (r.min_size IS NULL OR m.size >= r.min_size)
    AND (r.seen IS NULL OR m.seen = r.seen)
    AND (r.flagged IS NULL OR m.flagged = r.flagged)
    AND (r.deleted = 0 OR m.deleted = 1)
    AND (r.spam = 0 OR m.spam = 1 OR (' ' || lower(m.keywords) || ' ') LIKE '% $junk %' OR f.special_use = '\\Junk' OR f.path = 'Junk')";

/// What the rules (all of them, or the global ones and one user's, for that user's mail) would take at
/// time `now`, without taking anything.
pub fn preview(c: &Connection, user: Option<&str>, now: i64) -> StoreResult<Result<Preview, RuleError>> {
    let only = match owner_of(c, user)? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(preview_over(c, None, only, now)?))
}

/// Unsaved rule rows of a preview are numbered from −1,000,000 in table order (row 1 is −1,000,000), so
/// that the first matching rule is the first row, and before any stored rule.
pub const PROPOSED_BASE: i64 = 1_000_000;

/// What the rules would take if `scope`'s rules (a user's, or the global ones) were `proposed` — the
/// rule table as edited, before it is submitted. The proposed rules are numbered from −[`PROPOSED_BASE`].
/// A user's table previews that user's mail; the global table everyone's.
pub fn preview_proposed(c: &Connection, scope: Option<&str>, proposed: &[NewRule], now: i64) -> StoreResult<Result<Preview, RuleError>> {
    let owner = match owner_of(c, scope)? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let mut rules: Vec<(i64, Option<i64>, NewRule)> = Vec::new();
    // A user's table previews only that user's mail: other users' rules do not matter there.
    let mut stmt = c.prepare("SELECT id, user_id FROM prune_rules WHERE user_id IS NOT ?1 AND (?1 IS NULL OR user_id IS NULL)")?;
    let kept: Vec<(i64, Option<i64>)> = stmt.query_map([owner], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let all = list(c, None)?.unwrap_or_default();
    for (id, user) in kept {
        if let Some(rule) = all.iter().find(|r| r.id == id) {
            rules.push((id, user, rule.columns.clone()));
        }
    }
    if proposed.len() > MAX_RULES {
        return Ok(Err(RuleError::TooMany));
    }
    for (i, rule) in proposed.iter().enumerate() {
        let folder = match folder_of(&rule.folder) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        rules.push((i as i64 - PROPOSED_BASE, owner, NewRule { folder, ..rule.clone() }));
    }
    Ok(Ok(preview_over(c, Some(&rules), owner, now)?))
}

/// The preview's query, over the stored rules or (`Some`) these instead: a common table expression of the
/// same name hides the table.
fn preview_over(c: &Connection, rules: Option<&[(i64, Option<i64>, NewRule)]>, only: Option<i64>, now: i64) -> StoreResult<Preview> {
    let mut values: Vec<rusqlite::types::Value> = vec![now.into(), only.into()];
    let cte = match rules {
        None => String::new(),
        Some([]) => return Ok(Preview::default()),
        Some(rules) => {
            let mut rows = Vec::new();
            for (id, user, r) in rules {
                rows.push("(?, ?, ?, ?, ?, ?, ?, ?, ?)");
                values.extend([
                    (*id).into(),
                    (*user).into(),
                    r.folder.clone().into(),
                    i64::from(r.age_days).into(),
                    r.min_size.map(|s| s.min(i64::MAX as u64) as i64).into(),
                    r.read.to_db().map(i64::from).into(),
                    r.flagged.to_db().map(i64::from).into(),
                    i64::from(r.deleted).into(),
                    i64::from(r.spam).into(),
                ]);
            }
            format!("WITH prune_rules(id, user_id, folder, age_days, min_size, seen, flagged, deleted, spam) AS (VALUES {}) ", rows.join(", "))
        }
    };
    // The CTE's placeholders come after ?1 and ?2 in the text's order only if numbered: number them.
    let mut n = 2;
    let cte: String = cte.split('?').enumerate().map(|(i, part)| if i == 0 { part.to_string() } else { n += 1; format!("?{n}{part}") }).collect();
    let sql = format!(
        "{cte}SELECT u.name, f.path, m.uid, m.size,
                (SELECT min(r.id) FROM prune_rules r WHERE {MATCHES}) AS rule
         FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id
         WHERE (?2 IS NULL OR f.user_id = ?2) AND u.deleted_at IS NULL AND rule IS NOT NULL
         ORDER BY u.name, f.path, m.uid"
    );
    let mut stmt = c.prepare(&sql)?;
    let mut out = Preview::default();
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    while let Some(r) = rows.next()? {
        let candidate = Candidate { user: r.get(0)?, folder: r.get(1)?, uid: r.get(2)?, size: r.get::<_, i64>(3)? as u64, rule: r.get(4)? };
        out.messages += 1;
        out.bytes += candidate.size;
        match out.per_rule.iter_mut().find(|p| p.0 == candidate.rule) {
            Some(p) => {
                p.1 += 1;
                p.2 += candidate.size;
            }
            None => out.per_rule.push((candidate.rule, 1, candidate.size)),
        }
        if out.first.len() < PREVIEW_LISTED {
            out.first.push(candidate);
        }
    }
    out.per_rule.sort_unstable();
    Ok(out)
}

/// A row of a rule table as the window sends it: the rule's id when it is one already saved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct RuleRow {
    #[ts(type = "number | null")]
    pub id: Option<i64>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub columns: NewRule,
}

/// Makes `scope`'s rules (a user's, or the global ones) exactly `rows`, in one write: rows with an id
/// change that rule, rows without one are added, and the scope's rules not in `rows` go. Nothing is
/// changed when any row is wrong; each wrong row is named (`rules.N.folder`, `rules.N.age_days`, N from 0).
pub fn replace(c: &Connection, scope: Option<&str>, rows: &[RuleRow]) -> StoreResult<Result<Vec<i64>, Vec<(String, String)>>> {
    let owner = match owner_of(c, scope)? {
        Ok(id) => id,
        Err(e) => return Ok(Err(vec![("user".into(), e.to_string())])),
    };
    if rows.len() > MAX_RULES {
        return Ok(Err(vec![("rules".into(), RuleError::TooMany.to_string())]));
    }
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match folder_of(&row.columns.folder) {
            Ok(folder) => checked.push(NewRule { folder, ..row.columns.clone() }),
            Err(e) => errors.push((format!("rules.{i}.folder"), e.to_string())),
        }
        if row.columns.age_days > MAX_AGE_DAYS {
            errors.push((format!("rules.{i}.age_days"), RuleError::Age.to_string()));
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let wanted: Vec<i64> = rows.iter().filter_map(|r| r.id).collect();
    let existing: Vec<i64> = {
        let mut stmt = c.prepare("SELECT id FROM prune_rules WHERE user_id IS ?1")?;
        let ids = stmt.query_map([owner], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        ids
    };
    for id in existing.iter().filter(|id| !wanted.contains(id)) {
        c.execute("DELETE FROM prune_rules WHERE id = ?1", [id])?;
    }
    let mut ids = Vec::with_capacity(rows.len());
    for (row, rule) in rows.iter().zip(&checked) {
        match row.id.filter(|id| existing.contains(id)) {
            Some(id) => {
                c.execute(
                    "UPDATE prune_rules SET folder = ?2, age_days = ?3, min_size = ?4, seen = ?5, flagged = ?6, deleted = ?7, spam = ?8 WHERE id = ?1",
                    params![id, rule.folder, rule.age_days, rule.min_size.map(|s| s.min(i64::MAX as u64) as i64), rule.read.to_db(), rule.flagged.to_db(), rule.deleted, rule.spam],
                )?;
                ids.push(id);
            }
            None => {
                match add(c, scope, rule)? {
                    Ok(id) => ids.push(id),
                    Err(e) => return Ok(Err(vec![("rules".into(), e.to_string())])),
                }
            }
        }
    }
    Ok(Ok(ids))
}

/// Messages one write looks at.
pub const SCAN: usize = 2000;
/// Messages one write takes at most: about 3 ms of the writer's time, so that a delivery arriving during
/// a batch waits little (it joins the batch's commit).
pub const TAKE: usize = 50;

/// One message a pass took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub user: String,
    pub folder: String,
    pub uid: u32,
    pub size: u64,
    pub rule: i64,
    /// Whether the rule is a global one (else the user's own).
    pub global: bool,
}

/// Looks at up to [`SCAN`] messages with ids above `after` and takes into the Recycle Bin those of live
/// users a rule matches at `now` (a deleted user's mail is counted in the scan, never taken), at most
/// [`TAKE`] of them. Returns what it took and the last id it looked at (`None`: the end).
pub fn run_batch(c: &Connection, now: i64, after: i64) -> StoreResult<(Vec<Pruned>, Option<i64>)> {
    let sql = format!(
        "SELECT m.id, m.folder_id, u.name, f.path, m.uid, m.size,
                CASE WHEN u.deleted_at IS NULL THEN (SELECT min(r.id) FROM prune_rules r WHERE {MATCHES}) END AS rule
         FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id
         WHERE m.id > ?2 ORDER BY m.id LIMIT ?3"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![now, after, SCAN as i64])?;
    let (mut last, mut seen) = (after, 0usize);
    // (folder, rule) → the ids to take, and what to log.
    let mut takes: std::collections::BTreeMap<(i64, i64), Vec<i64>> = Default::default();
    let mut pruned = Vec::new();
    while let Some(r) = rows.next()? {
        if pruned.len() >= TAKE {
            // The rest of the scan waits for the next write.
            break;
        }
        seen += 1;
        last = r.get(0)?;
        let Some(rule) = r.get::<_, Option<i64>>(6)? else { continue };
        takes.entry((r.get(1)?, rule)).or_default().push(last);
        pruned.push(Pruned { user: r.get(2)?, folder: r.get(3)?, uid: r.get(4)?, size: r.get::<_, i64>(5)? as u64, rule, global: false });
    }
    drop(rows);
    if !pruned.is_empty() {
        let mut global = c.prepare_cached("SELECT user_id IS NULL FROM prune_rules WHERE id = ?1")?;
        for p in &mut pruned {
            p.global = global.query_row([p.rule], |r| r.get(0))?;
        }
    }
    for ((folder_id, rule), ids) in &takes {
        super::expunge(c, *folder_id, ids, super::Removal::Deleted(&super::recycle::reason::rule(*rule)))?;
    }
    if !pruned.is_empty() {
        let bytes: u64 = pruned.iter().map(|p| p.size).sum();
        c.execute(
            "INSERT INTO pruned_daily(day, messages, bytes) VALUES (?1, ?2, ?3)
             ON CONFLICT(day) DO UPDATE SET messages = messages + excluded.messages, bytes = bytes + excluded.bytes",
            params![now.div_euclid(86_400), pruned.len() as i64, bytes as i64],
        )?;
    }
    let more = seen == SCAN || pruned.len() >= TAKE;
    Ok((pruned, more.then_some(last)))
}

/// Whether there is any rule at all (a pass without one has nothing to look at).
pub fn any(c: &Connection) -> StoreResult<bool> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM prune_rules)", [], |r| r.get(0))?)
}

/// A number that changes whenever the rules do (a trigger counts every change): the background pass runs
/// again when it moves.
pub fn generation(c: &Connection) -> StoreResult<i64> {
    Ok(c.query_row("SELECT generation FROM prune_state", [], |r| r.get(0))?)
}

/// One whole pass at `now`: every batch until the last message (or until `stop()`: shutdown), each its
/// own write, `pause` between them so that other writes go first. Every message taken is logged.
/// Returns (messages, bytes).
pub fn run(store: &crate::store::Store, now: i64, pause: std::time::Duration, stop: &dyn Fn() -> bool) -> StoreResult<(u64, u64)> {
    if !store.read(any)? {
        return Ok((0, 0));
    }
    let (mut messages, mut bytes, mut after) = (0u64, 0u64, 0i64);
    loop {
        if stop() {
            return Ok((messages, bytes));
        }
        let (pruned, next) = store.write(move |c| run_batch(c, now, after))?;
        for p in &pruned {
            let of = if p.global { "global" } else { "user's" };
            tracing::info!(target: "prune", user = %p.user, folder = %p.folder, uid = p.uid, size = p.size, rule = p.rule, of, "message pruned into the Recycle Bin");
            messages += 1;
            bytes += p.size;
        }
        match next {
            Some(id) => after = id,
            None => return Ok((messages, bytes)),
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// Bytes and messages pruned per day (UTC days, oldest first) over the last `days` days before `now`.
pub fn daily(c: &Connection, now: i64, days: i64) -> StoreResult<Vec<(i64, u64, u64)>> {
    let today = now.div_euclid(86_400);
    let mut stmt = c.prepare("SELECT day, messages, bytes FROM pruned_daily WHERE day > ?1 ORDER BY day")?;
    let rows = stmt.query_map([today - days], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{self, Flags};

    const DAY: i64 = 86_400;

    /// alice with INBOX, Sent and Junk; bob with INBOX.
    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        for name in ["alice", "bob"] {
            c.execute("INSERT INTO users(name, password_hash, created_at) VALUES (?1, '', 0)", [name]).unwrap();
        }
        c.execute("INSERT INTO blobs(sha256, size, refcount, data) VALUES ('x', 1, 100, x'00')", []).unwrap();
        for (user, path) in [(1, "INBOX"), (1, "Sent"), (1, "Junk"), (2, "INBOX")] {
            mailbox::create_folder(&c, user, path).unwrap().unwrap();
        }
        c
    }

    /// A message in the user's folder that arrived `age` days before `now`.
    fn message(c: &Connection, user: i64, path: &str, age: i64, size: i64, flags: u8, keywords: &str, now: i64) -> u32 {
        let f = mailbox::folder(c, user, path).unwrap().unwrap();
        let uid = mailbox::add_message(c, f.id, 1, size, Flags(flags), keywords, 0).unwrap();
        c.execute("UPDATE messages SET arrived_at = ?1 WHERE folder_id = ?2 AND uid = ?3", params![now - age * DAY, f.id, uid]).unwrap();
        uid
    }

    fn taken(c: &Connection, now: i64) -> Vec<(String, String, u32)> {
        preview(c, None, now).unwrap().unwrap().first.into_iter().map(|x| (x.user, x.folder, x.uid)).collect()
    }

    fn rule(folder: &str, age: u32) -> NewRule {
        NewRule { folder: folder.into(), age_days: age, ..Default::default() }
    }

    #[test]
    fn folders_are_one_name_or_every_folder() {
        assert_eq!(folder_of("inbox"), Ok("INBOX".into()));
        assert_eq!(folder_of("*"), Ok("*".into()));
        assert_eq!(folder_of("Sent/"), Ok("Sent".into()));
        assert!(matches!(folder_of("Inbox/*"), Err(RuleError::Pattern(_))));
        assert!(folder_of("Inbox/*").unwrap_err().to_string().contains("will not work"));
        assert_eq!(folder_of("  "), Err(RuleError::NoFolder));
    }

    #[test]
    fn every_column_must_match_and_any_rule_prunes() {
        let c = store();
        let now = 1_000 * DAY;
        let old_read = message(&c, 1, "INBOX", 400, 100, Flags::SEEN, "", now);
        let old_unread = message(&c, 1, "INBOX", 400, 100, 0, "", now);
        let new_read = message(&c, 1, "INBOX", 10, 100, Flags::SEEN, "", now);
        let big_sent = message(&c, 1, "Sent", 40, 5_000_000, Flags::SEEN, "", now);
        let small_sent = message(&c, 1, "Sent", 40, 500, Flags::SEEN, "", now);
        let flagged = message(&c, 2, "INBOX", 400, 100, Flags::SEEN | Flags::FLAGGED, "", now);
        let deleted = message(&c, 2, "INBOX", 2, 100, Flags::DELETED, "", now);
        let junk = message(&c, 1, "Junk", 8, 100, 0, "", now);
        let tagged = message(&c, 2, "INBOX", 8, 100, 0, "$Junk", now);
        // Read mail older than a year, in INBOX, not flagged (global).
        add(&c, None, &NewRule { read: Either::Yes, flagged: Either::No, ..rule("Inbox", 365) }).unwrap().unwrap();
        // alice's: Sent items of 1 MB or more after 30 days.
        add(&c, Some("alice"), &NewRule { min_size: Some(1_000_000), ..rule("Sent", 30) }).unwrap().unwrap();
        // Deleted messages after a day, anywhere; spam after a week, anywhere.
        add(&c, None, &NewRule { deleted: true, ..rule("*", 1) }).unwrap().unwrap();
        add(&c, None, &NewRule { spam: true, ..rule("*", 7) }).unwrap().unwrap();
        let got = taken(&c, now);
        let want = vec![
            ("alice".to_string(), "INBOX".to_string(), old_read),
            ("alice".into(), "Junk".into(), junk),
            ("alice".into(), "Sent".into(), big_sent),
            ("bob".into(), "INBOX".into(), deleted),
            ("bob".into(), "INBOX".into(), tagged),
        ];
        // Kept: the unread and the recent INBOX mail, the small Sent item, bob's flagged message.
        assert_eq!(got, want, "{old_unread} {new_read} {small_sent} {flagged} stay");
        let p = preview(&c, None, now).unwrap().unwrap();
        assert_eq!((p.messages, p.bytes), (5, 5_000_400));
        assert_eq!(p.per_rule.iter().map(|r| r.1).sum::<u64>(), 5);
        // Only bob's mail, under the global rules and his own.
        assert_eq!(preview(&c, Some("bob"), now).unwrap().unwrap().messages, 2);
    }

    #[test]
    fn flags_are_read_when_the_rules_run() {
        // The seed's example: an unread 400-day-old message under "read, 365 days" stays until it is read.
        let c = store();
        let now = 1_000 * DAY;
        let uid = message(&c, 1, "INBOX", 400, 100, 0, "", now);
        add(&c, None, &NewRule { read: Either::Yes, ..rule("INBOX", 365) }).unwrap().unwrap();
        assert!(taken(&c, now).is_empty());
        c.execute("UPDATE messages SET seen = 1 WHERE uid = ?1", [uid]).unwrap();
        assert_eq!(taken(&c, now), [("alice".to_string(), "INBOX".to_string(), uid)]);
    }

    #[test]
    fn age_counts_from_arrival_and_survives_a_copy() {
        let c = store();
        let now = crate::store::now();
        let uid = message(&c, 1, "INBOX", 100, 100, 0, "", now);
        let inbox = mailbox::folder(&c, 1, "INBOX").unwrap().unwrap();
        let sent = mailbox::folder(&c, 1, "Sent").unwrap().unwrap();
        let id: i64 = c.query_row("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2", params![inbox.id, uid], |r| r.get(0)).unwrap();
        let pairs = mailbox::copy_messages(&c, inbox.id, &[id], sent.id).unwrap();
        add(&c, None, &rule("Sent", 30)).unwrap().unwrap();
        assert_eq!(taken(&c, now), [("alice".to_string(), "Sent".to_string(), pairs[0].1)]);
        // A rule for nobody, and an impossible age, are refused.
        assert_eq!(add(&c, Some("carol"), &rule("*", 1)).unwrap(), Err(RuleError::NoUser("carol".into())));
        assert_eq!(add(&c, None, &rule("*", 40_000)).unwrap(), Err(RuleError::Age));
        let listed = list(&c, Some("alice")).unwrap().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(delete(&c, listed[0].id).unwrap() && !delete(&c, listed[0].id).unwrap());
    }

    #[test]
    fn a_table_as_edited_is_previewed_then_saved_in_one_go() {
        let c = store();
        let now = 1_000 * DAY;
        message(&c, 1, "INBOX", 400, 100, Flags::SEEN, "", now);
        message(&c, 1, "Sent", 400, 100, 0, "", now);
        message(&c, 2, "INBOX", 400, 100, 0, "", now);
        let global = add(&c, None, &rule("INBOX", 365)).unwrap().unwrap();
        // alice's table, not saved yet: Sent after 30 days. Her preview counts only her mail, the
        // global rule's and the new row's (numbered -1).
        let p = preview_proposed(&c, Some("alice"), &[rule("Sent", 30)], now).unwrap().unwrap();
        assert_eq!((p.messages, p.per_rule.clone()), (2, vec![(-PROPOSED_BASE, 1, 100), (global, 1, 100)]));
        // Two unsaved rows that both match: the first row is credited.
        let p = preview_proposed(&c, Some("alice"), &[rule("Sent", 30), rule("*", 30)], now).unwrap().unwrap();
        assert!(p.per_rule.contains(&(-PROPOSED_BASE, 1, 100)), "{:?}", p.per_rule);
        // The global table edited to nothing: only bob's... nothing, and alice's stored rules (none) apply.
        assert_eq!(preview_proposed(&c, None, &[], now).unwrap().unwrap().messages, 0);
        assert!(matches!(preview_proposed(&c, None, &[rule("Inbox/*", 1)], now).unwrap(), Err(RuleError::Pattern(_))));
        // Saving: a bad row names itself and changes nothing.
        let bad = replace(&c, None, &[RuleRow { id: Some(global), columns: rule("INBOX", 30) }, RuleRow { id: None, columns: rule("a/*", 1) }]).unwrap();
        assert_eq!(bad.unwrap_err()[0].0, "rules.1.folder");
        assert_eq!(list(&c, None).unwrap().unwrap()[0].columns.age_days, 365);
        // A good table: the global rule changed in place, one added; then the table emptied.
        let ids = replace(&c, None, &[RuleRow { id: Some(global), columns: rule("inbox", 30) }, RuleRow { id: None, columns: rule("*", 900) }]).unwrap().unwrap();
        assert_eq!(ids[0], global);
        let listed = list(&c, None).unwrap().unwrap();
        assert_eq!(listed.iter().map(|r| (r.columns.folder.as_str(), r.columns.age_days)).collect::<Vec<_>>(), [("INBOX", 30), ("*", 900)]);
        let before = generation(&c).unwrap();
        replace(&c, None, &[]).unwrap().unwrap();
        assert!(list(&c, None).unwrap().unwrap().is_empty() && generation(&c).unwrap() > before, "a change moves the generation");
    }

    #[test]
    fn a_batch_takes_at_most_take_and_the_next_goes_on_from_there() {
        let c = store();
        let now = 1_000 * DAY;
        for _ in 0..(TAKE * 2 + 10) {
            message(&c, 1, "INBOX", 400, 100, 0, "", now);
        }
        add(&c, None, &rule("*", 365)).unwrap().unwrap();
        let (first, next) = run_batch(&c, now, 0).unwrap();
        assert_eq!(first.len(), TAKE);
        let (second, next) = run_batch(&c, now, next.unwrap()).unwrap();
        assert_eq!(second.len(), TAKE);
        let (third, next) = run_batch(&c, now, next.unwrap()).unwrap();
        assert_eq!((third.len(), next), (10, None));
        assert_eq!(c.query_row("SELECT count(*) FROM recycled", [], |r| r.get::<_, i64>(0)).unwrap(), (TAKE * 2 + 10) as i64);
    }
}
