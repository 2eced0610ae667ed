use crate::mailbox::prune::{NewRule, Preview, Rule, RuleRow};
use crate::mailbox::recycle::{Recycled, Restored};
use crate::message_store::{self, BinQuery, MessageStoreView, Purged};
use crate::engine::Engine;
use crate::error::ApiResult;

/// The Message Store page: global prune rules, the Recycle Bin's retention and size, the store's size and what was pruned on each of the last 30 days.
pub fn get_message_store(e: &Engine) -> ApiResult<MessageStoreView> {
    message_store::view(e.store(), e.settings().store.recycle_hours)
}

/// Sets the Recycle Bin's retention in hours (0 turns it off); `invalid` with field `store.recycle_hours`.
pub fn save_recycle_hours(e: &Engine, hours: u32) -> ApiResult<()> {
    e.update_settings(move |s| {
        s.store.recycle_hours = hours;
        Ok(())
    })
}

/// A user's own prune rules (their Prune Rules tab); `not_found` if there is no such user.
pub fn get_user_prune_rules(e: &Engine, user: String) -> ApiResult<Vec<Rule>> {
    message_store::user_rules(e.store(), &user)
}

/// Makes one rule table (global with a null user, else that user's) exactly these rows; returns it as stored. `invalid` names `rules.N.folder` / `rules.N.age_days`.
pub fn save_prune_rules(e: &Engine, user: Option<String>, rows: Vec<RuleRow>) -> ApiResult<Vec<Rule>> {
    message_store::save_rules(e.store(), user, rows)
}

/// What the rules would take now if the table (global with a null user, else that user's) were as edited: counts per rule (unsaved rows numbered from −1000000 for row 1, in table order) and the first 50 messages.
pub fn preview_prune_rules(e: &Engine, user: Option<String>, rows: Vec<NewRule>) -> ApiResult<Preview> {
    message_store::preview(e.store(), user, rows)
}

/// The Recycle Bin's messages, newest first (at most 1000), of one user or all, matching every word of the search.
pub fn list_recycle_bin(e: &Engine, query: BinQuery) -> ApiResult<Vec<Recycled>> {
    message_store::list(e.store(), query)
}

/// Puts these Recycle Bin entries back in their folders with new UIDs (\Flagged too when `mark`); each result says where, or why not.
pub fn restore_recycled(e: &Engine, ids: Vec<i64>, mark: bool) -> ApiResult<Vec<Restored>> {
    message_store::restore(e.store(), ids, mark)
}

/// Undelete: everything of the user's deleted since a time (2026-12-04 09:30, local); `invalid` with field `since`.
pub fn undelete_since(e: &Engine, user: String, since: String, mark: bool) -> ApiResult<Vec<Restored>> {
    message_store::undelete(e.store(), &user, &since, mark)
}

/// Empties the Recycle Bin now, deleted users too, and gives the disk space back.
pub fn purge_recycle_bin(e: &Engine) -> ApiResult<Purged> {
    message_store::purge(e.store())
}

/// Brings a deleted user back with their mail; returns the aliases that others took meanwhile (not restored).
pub fn restore_user(e: &Engine, name: String) -> ApiResult<Vec<String>> {
    e.directory().restore(&name)
}
