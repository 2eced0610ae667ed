//! The Mail Collectors window: the list, the editor, Run now.

use postroom_engine::collector::{CollectorForm, CollectorInfo, RunReport};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// Every mail collector with its last result, lowest priority number first.
#[tauri::command]
pub async fn list_collectors(engine: State<'_, Engine>) -> ApiResult<Vec<CollectorInfo>> {
    super::blocking(engine, |e| e.collectors()).await
}

/// Adds a collector (the form must give the password). `invalid` names the fields: `name`, `host`, `port`, `username`, `password`, `deliver_to`, `fallback`, `extra_headers`, `folder`, `move_to`, `login`, `from`, `until`, `every_minutes`, `days`, `leave_days`.
#[tauri::command]
pub async fn add_collector(engine: State<'_, Engine>, form: CollectorForm) -> ApiResult<CollectorInfo> {
    super::blocking(engine, move |e| e.add_collector(form)).await
}

/// Changes the collector called `name` (its password only when the form gives one). `invalid` as for `add_collector`; `not_found` when it is gone.
#[tauri::command]
pub async fn update_collector(engine: State<'_, Engine>, name: String, form: CollectorForm) -> ApiResult<CollectorInfo> {
    super::blocking(engine, move |e| e.update_collector(&name, form)).await
}

/// Deletes a collector; what it collected stays.
#[tauri::command]
pub async fn delete_collector(engine: State<'_, Engine>, name: String) -> ApiResult<()> {
    super::blocking(engine, move |e| e.delete_collector(&name)).await
}

/// One download now, whatever the schedule: what it did. `conflict` when one is running; `io` with the reason when the ISP's server could not be used (login refused, TLS, connection).
#[tauri::command]
pub async fn run_collector(engine: State<'_, Engine>, name: String) -> ApiResult<RunReport> {
    let engine = engine.inner().clone();
    engine.run_collector(&name).await
}
