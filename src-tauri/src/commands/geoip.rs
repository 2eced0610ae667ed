use postroom_engine::geoip::{GeoIpStatus, ImportRequest};
use postroom_engine::settings::AccessSettings;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub fn get_geoip_status(engine: State<'_, Engine>) -> GeoIpStatus {
    engine.geoip_status()
}

#[tauri::command]
pub fn geoip_lookup(engine: State<'_, Engine>, address: String) -> ApiResult<Vec<String>> {
    engine.geoip_lookup(&address)
}

#[tauri::command]
pub async fn geoip_preview(engine: State<'_, Engine>, path: String, delimiter: String) -> ApiResult<Vec<Vec<String>>> {
    super::blocking(engine, move |e| e.geoip_preview(&path, &delimiter)).await
}

#[tauri::command]
pub fn start_geoip_import(engine: State<'_, Engine>, request: ImportRequest) -> ApiResult<()> {
    engine.start_geoip_import(request)
}

/// A native open-file dialog for CSV files; `None` when cancelled.
#[tauri::command]
pub async fn pick_csv_file(title: String) -> Option<String> {
    let dialog = rfd::AsyncFileDialog::new().set_title(title).add_filter("CSV files", &["csv", "CSV", "txt"]).add_filter("All files", &["*"]);
    super::pick_one_file(dialog).await
}

#[tauri::command]
pub fn get_access_settings(engine: State<'_, Engine>) -> AccessSettings {
    engine.access_settings()
}

#[tauri::command]
pub async fn save_access_settings(engine: State<'_, Engine>, access: AccessSettings) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_access(access)).await
}
