//! The Spam Filter and Quarantine windows, and the user editor's Spam tab.

use postroom_engine::delivery::quarantine::HeldMessage;
use postroom_engine::spam::bayes::BayesStatus;
use postroom_engine::users::SpamLists;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The messages held in the quarantine, newest first.
#[tauri::command]
pub async fn list_quarantine(engine: State<'_, Engine>) -> ApiResult<Vec<HeldMessage>> {
    let engine = engine.inner().clone();
    engine.quarantine().await
}

/// Delivers held messages to their recipients (each exactly once); how many copies were stored. `not_found` when one was released or deleted meanwhile.
#[tauri::command]
pub async fn release_quarantined(engine: State<'_, Engine>, ids: Vec<i64>) -> ApiResult<usize> {
    let engine = engine.inner().clone();
    let mut copies = 0;
    for id in ids {
        copies += engine.release_quarantined(id).await?;
    }
    Ok(copies)
}

/// Deletes held messages.
#[tauri::command]
pub async fn delete_quarantined(engine: State<'_, Engine>, ids: Vec<i64>) -> ApiResult<()> {
    let engine = engine.inner().clone();
    for id in ids {
        engine.delete_quarantined(id).await?;
    }
    Ok(())
}

/// Puts each held message's sender on the global allow list and releases it; the addresses added.
#[tauri::command]
pub async fn allow_quarantined_senders(engine: State<'_, Engine>, ids: Vec<i64>) -> ApiResult<Vec<String>> {
    let engine = engine.inner().clone();
    let mut added = Vec::new();
    for id in ids {
        added.push(engine.allow_quarantined_sender(id).await?);
    }
    Ok(added)
}

/// What the Bayesian classifier has learnt from the users' Junk folders.
#[tauri::command]
pub async fn bayes_status(engine: State<'_, Engine>) -> ApiResult<BayesStatus> {
    let engine = engine.inner().clone();
    engine.bayes_status().await
}

/// Replaces a user's spam allow and deny lists; returns them as stored. `invalid` names `allow`, `deny`.
#[tauri::command]
pub async fn set_user_spam_lists(engine: State<'_, Engine>, name: String, lists: SpamLists) -> ApiResult<SpamLists> {
    super::blocking(engine, move |e| e.directory().set_spam_lists(&name, lists)).await
}
