use postroom_engine::mailbox::prune::{NewRule, Preview, Rule, RuleRow};
use postroom_engine::mailbox::recycle::{Recycled, Restored};
use postroom_engine::message_store::{self, BinQuery, MessageStoreView, Purged};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The Message Store page: global prune rules, the Recycle Bin's retention and size, the store's size and what was pruned on each of the last 30 days.
#[tauri::command]
pub async fn get_message_store(engine: State<'_, Engine>) -> ApiResult<MessageStoreView> {
    super::blocking(engine, |e| message_store::view(e.store(), e.settings().store.recycle_hours)).await
}

/// Sets the Recycle Bin's retention in hours (0 turns it off); `invalid` with field `store.recycle_hours`.
#[tauri::command]
pub async fn save_recycle_hours(engine: State<'_, Engine>, hours: u32) -> ApiResult<()> {
    super::blocking(engine, move |e| e.update_settings(move |s| { s.store.recycle_hours = hours; Ok(()) })).await
}

/// A user's own prune rules (their Prune Rules tab); `not_found` if there is no such user.
#[tauri::command]
pub async fn get_user_prune_rules(engine: State<'_, Engine>, user: String) -> ApiResult<Vec<Rule>> {
    super::blocking(engine, move |e| message_store::user_rules(e.store(), &user)).await
}

/// Makes one rule table (global with a null user, else that user's) exactly these rows; returns it as stored. `invalid` names `rules.N.folder` / `rules.N.age_days`.
#[tauri::command]
pub async fn save_prune_rules(engine: State<'_, Engine>, user: Option<String>, rows: Vec<RuleRow>) -> ApiResult<Vec<Rule>> {
    super::blocking(engine, move |e| message_store::save_rules(e.store(), user, rows)).await
}

/// What the rules would take now if the table (global with a null user, else that user's) were as edited: counts per rule (unsaved rows numbered from −1000000 for row 1, in table order) and the first 50 messages.
#[tauri::command]
pub async fn preview_prune_rules(engine: State<'_, Engine>, user: Option<String>, rows: Vec<NewRule>) -> ApiResult<Preview> {
    super::blocking(engine, move |e| message_store::preview(e.store(), user, rows)).await
}

/// The Recycle Bin's messages, newest first (at most 1000), of one user or all, matching every word of the search.
#[tauri::command]
pub async fn list_recycle_bin(engine: State<'_, Engine>, query: BinQuery) -> ApiResult<Vec<Recycled>> {
    super::blocking(engine, move |e| message_store::list(e.store(), query)).await
}

/// Puts these Recycle Bin entries back in their folders with new UIDs (\Flagged too when `mark`); each result says where, or why not.
#[tauri::command]
pub async fn restore_recycled(engine: State<'_, Engine>, ids: Vec<i64>, mark: bool) -> ApiResult<Vec<Restored>> {
    super::blocking(engine, move |e| message_store::restore(e.store(), ids, mark)).await
}

/// Undelete: everything of the user's deleted since a time (2026-12-04 09:30, local); `invalid` with field `since`.
#[tauri::command]
pub async fn undelete_since(engine: State<'_, Engine>, user: String, since: String, mark: bool) -> ApiResult<Vec<Restored>> {
    super::blocking(engine, move |e| message_store::undelete(e.store(), &user, &since, mark)).await
}

/// Empties the Recycle Bin now, deleted users too, and gives the disk space back.
#[tauri::command]
pub async fn purge_recycle_bin(engine: State<'_, Engine>) -> ApiResult<Purged> {
    super::blocking(engine, |e| message_store::purge(e.store())).await
}

/// Brings a deleted user back with their mail; returns the aliases that others took meanwhile (not restored).
#[tauri::command]
pub async fn restore_user(engine: State<'_, Engine>, name: String) -> ApiResult<Vec<String>> {
    super::blocking(engine, move |e| e.directory().restore(&name)).await
}
