//! The Spam Filter and Quarantine windows, and the user editor's Spam tab.

use crate::delivery::quarantine::HeldMessage;
use crate::spam::bayes::BayesStatus;
use crate::users::SpamLists;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The messages held in the quarantine, newest first.
pub async fn list_quarantine(engine: &Engine) -> ApiResult<Vec<HeldMessage>> {
    engine.quarantine().await
}

/// Delivers held messages to their recipients (each exactly once); how many copies were stored. `not_found` when one was released or deleted meanwhile.
pub async fn release_quarantined(engine: &Engine, ids: Vec<i64>) -> ApiResult<usize> {
    let mut copies = 0;
    for id in ids {
        copies += engine.release_quarantined(id).await?;
    }
    Ok(copies)
}

/// Deletes held messages.
pub async fn delete_quarantined(engine: &Engine, ids: Vec<i64>) -> ApiResult<()> {
    for id in ids {
        engine.delete_quarantined(id).await?;
    }
    Ok(())
}

/// Puts each held message's sender on the global allow list and releases it; the addresses added.
pub async fn allow_quarantined_senders(engine: &Engine, ids: Vec<i64>) -> ApiResult<Vec<String>> {
    let mut added = Vec::new();
    for id in ids {
        added.push(engine.allow_quarantined_sender(id).await?);
    }
    Ok(added)
}

/// What the Bayesian classifier has learnt from the users' Junk folders.
pub async fn bayes_status(engine: &Engine) -> ApiResult<BayesStatus> {
    engine.bayes_status().await
}

/// Replaces a user's spam allow and deny lists; returns them as stored. `invalid` names `allow`, `deny`.
pub fn set_user_spam_lists(e: &Engine, name: String, lists: SpamLists) -> ApiResult<SpamLists> {
    e.directory().set_spam_lists(&name, lists)
}
