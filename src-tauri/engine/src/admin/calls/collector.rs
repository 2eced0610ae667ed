//! The Mail Collectors window: the list, the editor, Run now.

use crate::collector::{CollectorForm, CollectorInfo, RunReport};
use crate::engine::Engine;
use crate::error::ApiResult;

/// Every mail collector with its last result, lowest priority number first.
pub fn list_collectors(e: &Engine) -> ApiResult<Vec<CollectorInfo>> {
    e.collectors()
}

/// Adds a collector (the form must give the password). `invalid` names the fields: `name`, `host`, `port`, `username`, `password`, `deliver_to`, `fallback`, `extra_headers`, `folder`, `move_to`, `login`, `from`, `until`, `every_minutes`, `days`, `leave_days`.
pub fn add_collector(e: &Engine, form: CollectorForm) -> ApiResult<CollectorInfo> {
    e.add_collector(form)
}

/// Changes the collector called `name` (its password only when the form gives one). `invalid` as for `add_collector`; `not_found` when it is gone.
pub fn update_collector(e: &Engine, name: String, form: CollectorForm) -> ApiResult<CollectorInfo> {
    e.update_collector(&name, form)
}

/// Deletes a collector; what it collected stays.
pub fn delete_collector(e: &Engine, name: String) -> ApiResult<()> {
    e.delete_collector(&name)
}

/// One download now, whatever the schedule: what it did. `conflict` when one is running; `io` with the reason when the ISP's server could not be used (login refused, TLS, connection).
pub async fn run_collector(engine: &Engine, name: String) -> ApiResult<RunReport> {
    engine.run_collector(&name).await
}
