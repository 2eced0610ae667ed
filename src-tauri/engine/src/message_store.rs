//! What the Message Store windows show and do (Settings → Database → Message Store, the user editor's
//! Prune Rules tab and Undelete, the Recycle Bin window), over `mailbox::prune` and `mailbox::recycle`,
//! with the engine's errors: a wrong rule row names its field (`rules.N.folder`), a time that is not one
//! names `since`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::mailbox::prune::{self, NewRule, Preview, Rule, RuleRow};
use crate::mailbox::recycle::{self, BinSize, Recycled, Restored};
use crate::store::Store;

/// The Message Store page: the global rules, the bin's size and retention, and the store's growth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MessageStoreView {
    pub rules: Vec<Rule>,
    pub recycle_hours: u32,
    pub bin: BinSize,
    /// Messages and bytes in every live mailbox now.
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    /// What was pruned on each of the last 30 days (UTC), oldest first; days with nothing are listed too.
    pub pruned_daily: Vec<PrunedDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PrunedDay {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

/// Days the growth line covers.
pub const GROWTH_DAYS: i64 = 30;

pub fn view(store: &Store, recycle_hours: u32) -> ApiResult<MessageStoreView> {
    let now = crate::store::now();
    store
        .read(|c| {
            let rules = scope_rules(c, None)?;
            let bin = recycle::size(c)?;
            let (messages, bytes): (i64, i64) = c.query_row(
                "SELECT count(*), coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id
                 WHERE u.deleted_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let recorded = prune::daily(c, now, GROWTH_DAYS)?;
            let today = now.div_euclid(86_400);
            let pruned_daily = (today - GROWTH_DAYS + 1..=today)
                .map(|day| {
                    let (m, b) = recorded.iter().find(|r| r.0 == day).map_or((0, 0), |r| (r.1, r.2));
                    PrunedDay { day: crate::time_text::rfc3339(day * 86_400)[..10].to_string(), messages: m, bytes: b }
                })
                .collect();
            Ok(MessageStoreView { rules, recycle_hours, bin, messages: messages as u64, bytes: bytes as u64, pruned_daily })
        })
        .map_err(Into::into)
}

/// The rules of one table: the global ones (`None`), or only the user's own.
fn scope_rules(c: &rusqlite::Connection, user: Option<&str>) -> crate::store::StoreResult<Vec<Rule>> {
    let all = prune::list(c, user)?.unwrap_or_default();
    Ok(all.into_iter().filter(|r| r.user.as_deref() == user).collect())
}

/// The user's own rules (their Prune Rules tab).
pub fn user_rules(store: &Store, user: &str) -> ApiResult<Vec<Rule>> {
    let name = user.to_string();
    let exists = store.read(move |c| Ok(prune::list(c, Some(&name))?.is_ok()))?;
    if !exists {
        return Err(ApiError::not_found(format!("there is no user called '{user}'")));
    }
    let name = user.to_string();
    Ok(store.read(move |c| scope_rules(c, Some(&name)))?)
}

/// Saves one table (global, or a user's) as edited; the table as stored comes back.
pub fn save_rules(store: &Store, user: Option<String>, rows: Vec<RuleRow>) -> ApiResult<Vec<Rule>> {
    let scope = user.clone();
    let saved = store.write(move |c| prune::replace(c, scope.as_deref(), &rows))?;
    if let Err(errors) = saved {
        return Err(ApiError::invalid(errors.into_iter().map(|(field, message)| FieldError::new(field, message)).collect()));
    }
    Ok(store.read(move |c| scope_rules(c, user.as_deref()))?)
}

/// What the rules would take now if this table (global, or a user's) were as edited.
pub fn preview(store: &Store, user: Option<String>, rows: Vec<NewRule>) -> ApiResult<Preview> {
    let now = crate::store::now();
    store.read(move |c| prune::preview_proposed(c, user.as_deref(), &rows, now))?.map_err(|e| ApiError::field("rules", e))
}

/// What the Recycle Bin window asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
pub struct BinQuery {
    pub user: Option<String>,
    pub search: String,
}

pub fn list(store: &Store, query: BinQuery) -> ApiResult<Vec<Recycled>> {
    let dir = store.blobs_dir();
    let filter = recycle::Filter { user: query.user, search: query.search, limit: 0 };
    Ok(store.read(move |c| recycle::list(c, &dir, &filter))?)
}

pub fn restore(store: &Store, ids: Vec<i64>, mark: bool) -> ApiResult<Vec<Restored>> {
    let restored = recycle::restore_all(store, &ids, mark)?;
    log_restored(&restored);
    Ok(restored)
}

/// VPOP3's Undelete: everything of the user's deleted since `since` (as an admin types a time).
pub fn undelete(store: &Store, user: &str, since: &str, mark: bool) -> ApiResult<Vec<Restored>> {
    let at = crate::time_text::parse_when(since)
        .ok_or_else(|| ApiError::field("since", "give a date and time such as 2026-12-04 09:30"))?;
    let name = user.to_string();
    let ids = store.read(move |c| recycle::since(c, &name, at))?.ok_or_else(|| ApiError::not_found(format!("there is no user called '{user}'")))?;
    restore(store, ids, mark)
}

fn log_restored(restored: &[Restored]) {
    for r in restored {
        if let (Some(folder), Some(uid)) = (&r.folder, r.uid) {
            tracing::info!(target: "store", user = %r.user, folder = %folder, uid, "message restored from the Recycle Bin");
        }
    }
}

/// What Purge Recycle Bin gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct Purged {
    #[ts(type = "number")]
    pub messages: u64,
    #[ts(type = "number")]
    pub bytes: u64,
}

pub fn purge(store: &Store) -> ApiResult<Purged> {
    let (messages, bytes) = recycle::purge(store)?;
    tracing::info!(target: "store", messages, bytes, "Recycle Bin purged by the admin");
    Ok(Purged { messages, bytes })
}
