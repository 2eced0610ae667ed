//! The engine's background upkeep of the store, each on its own blocking thread while it works:
//!
//! - **Prune passes** ([`prune_now_and_then`]) by the admin's rules, adaptively: a pass that took little
//!   doubles the wait (from [`PRUNE_MIN_WAIT`] up to [`PRUNE_MAX_WAIT`]), a pass that took [`MANY`] or more
//!   comes back after the shortest wait, and a rule change (from any process: a trigger counts them) starts one
//!   within [`RULES_LOOK`]. Each pass works in batches through the single writer, pausing
//!   [`PRUNE_PAUSE`] between them so that SMTP's commits and IMAP's commands go in between.
//! - **The sweep** ([`sweep_now_and_then`]) every [`crate::store::sweep::INTERVAL`]: Recycle Bin entries and
//!   deleted users past the retention time (`store.recycle_hours`) are purged, releasing their bodies, and
//!   then the store's sweep deletes unused bodies and files and returns free pages.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;
use crate::store::Store;

/// The shortest wait between prune passes (and the first one after start).
pub const PRUNE_MIN_WAIT: Duration = Duration::from_secs(60);
/// The longest wait: a pass that keeps finding nothing runs hourly.
pub const PRUNE_MAX_WAIT: Duration = Duration::from_secs(3600);
/// How often the rules are looked at for a change.
pub const RULES_LOOK: Duration = Duration::from_secs(5);
/// Between two batches of a pass: the writer is free for others at least this long after each.
pub const PRUNE_PAUSE: Duration = Duration::from_millis(3);
/// A pass that takes at least this many messages is followed by another soon.
pub const MANY: u64 = 500;

/// Runs prune passes until shutdown.
pub async fn prune_now_and_then(store: Store, shutdown: CancellationToken) {
    let mut wait = PRUNE_MIN_WAIT;
    let mut due = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen_generation = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RULES_LOOK) => {}
        }
        let s = store.clone();
        let generation = tokio::task::spawn_blocking(move || s.read(crate::mailbox::prune::generation)).await.ok().and_then(Result::ok);
        let changed = seen_generation.is_some() && generation != seen_generation;
        seen_generation = generation;
        if !changed && tokio::time::Instant::now() < due {
            continue;
        }
        let (s, token) = (store.clone(), shutdown.clone());
        let pass = tokio::task::spawn_blocking(move || crate::mailbox::prune::run(&s, crate::store::now(), PRUNE_PAUSE, &|| token.is_cancelled())).await;
        wait = match pass {
            Ok(Ok((messages, bytes))) => {
                if messages > 0 {
                    tracing::info!(target: "prune", messages, bytes, "prune pass done");
                }
                // Mail arriving keeps giving an age rule a little to take: only a pass that took a lot
                // (a backlog, a new rule) comes back soon; otherwise the passes spread out to hourly.
                if messages >= MANY { PRUNE_MIN_WAIT } else { (wait * 2).min(PRUNE_MAX_WAIT) }
            }
            Ok(Err(e)) => {
                tracing::error!(target: "prune", error = %e, "the prune pass stopped; it will try again");
                PRUNE_MIN_WAIT
            }
            Err(e) => {
                tracing::error!(target: "prune", error = %e, "the prune pass failed");
                PRUNE_MIN_WAIT
            }
        };
        due = tokio::time::Instant::now() + wait;
    }
}

/// Purges the Recycle Bin past its retention time, then gives disk space back (see
/// [`crate::store::sweep`]), shortly after start (leftovers of a crash) and every
/// [`crate::store::sweep::INTERVAL`].
pub async fn sweep_now_and_then(store: Store, settings: watch::Receiver<Arc<Settings>>, shutdown: CancellationToken) {
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let hours = settings.borrow().store.recycle_hours;
        let s = store.clone();
        let token = shutdown.clone();
        let result = tokio::task::spawn_blocking(move || {
            let (messages, bytes) = crate::mailbox::recycle::expire(&s, crate::store::now() - i64::from(hours) * 3600, &|| token.is_cancelled())?;
            if messages > 0 {
                tracing::info!(target: "store", messages, bytes, hours, "expired from the Recycle Bin");
            }
            crate::store::sweep::sweep(&s)
        })
        .await;
        match result {
            Ok(Err(e)) => tracing::error!(target: "store", error = %e, "could not reclaim disk space"),
            Err(e) => tracing::error!(target: "store", error = %e, "the disk sweep failed"),
            Ok(Ok(_)) => {}
        }
        wait = crate::store::sweep::INTERVAL;
    }
}
