use postroom_engine::geoip::{GeoIpStatus, ImportRequest};
use postroom_engine::settings::AccessSettings;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// Row counts, the last import, and the import window's import as it goes.
#[tauri::command]
pub fn get_geoip_status(engine: State<'_, Engine>) -> GeoIpStatus {
    engine.geoip_status()
}

/// Every GeoIP result for an address; `invalid` with field `address`.
#[tauri::command]
pub fn geoip_lookup(engine: State<'_, Engine>, address: String) -> ApiResult<Vec<String>> {
    engine.geoip_lookup(&address)
}

/// The first 10 rows of a CSV file, split at the delimiter, for the import wizard.
#[tauri::command]
pub async fn geoip_preview(engine: State<'_, Engine>, path: String, delimiter: String) -> ApiResult<Vec<Vec<String>>> {
    super::blocking(engine, move |e| e.geoip_preview(&path, &delimiter)).await
}

/// Starts an import on a thread of its own (follow it with `get_geoip_status`); `invalid` with fields `files`, `columns`, `delimiter`; `conflict` while one runs.
#[tauri::command]
pub fn start_geoip_import(engine: State<'_, Engine>, request: ImportRequest) -> ApiResult<()> {
    engine.start_geoip_import(request)
}

/// A native open-file dialog for CSV files; null when cancelled.
#[tauri::command]
pub async fn pick_csv_file(title: String) -> Option<String> {
    let dialog = rfd::AsyncFileDialog::new().set_title(title).add_filter("CSV files", &["csv", "CSV", "txt"]).add_filter("All files", &["*"]);
    super::pick_one_file(dialog).await
}

/// Every service's access restrictions.
#[tauri::command]
pub fn get_access_settings(engine: State<'_, Engine>) -> AccessSettings {
    engine.access_settings()
}

/// Saves the access restrictions; `invalid` with fields like `access.smtp.rules.2` (the rule's number from 1).
#[tauri::command]
pub async fn save_access_settings(engine: State<'_, Engine>, access: AccessSettings) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_access(access)).await
}
