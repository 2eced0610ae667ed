use postroom_engine::users::BulkAddReport;
use postroom_engine::{ApiError, ApiResult};
use serde_json::json;
use tauri::State;

use crate::backend::Backend;

/// Asks for a CSV file with the native picker and adds its users (the file is read here, so a service need not be able to read it); null when the admin cancels.
#[tauri::command]
pub async fn bulk_add_users(backend: State<'_, Backend>) -> ApiResult<Option<BulkAddReport>> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Bulk add users from a CSV file")
        .add_filter("CSV files (name, password, real name)", &["csv", "txt"])
        .add_filter("All files", &["*"]);
    let Some(path) = super::pick_one_file(dialog).await else { return Ok(None) };
    bulk_add_users_from(backend, path).await.map(Some)
}

/// Adds the users listed in a CSV file (name, password, real name), read here with the admin's own rights: the report lists those added and every refused row with its line.
#[tauri::command]
pub async fn bulk_add_users_from(backend: State<'_, Backend>, path: String) -> ApiResult<BulkAddReport> {
    let bytes = super::read_users_file(path).await?;
    let csv = String::from_utf8_lossy(&bytes).into_owned();
    backend.call_as("bulk_add_users_csv", json!({ "csv": csv })).await
}

/// Asks where to save the user's Apple Mail profile (.mobileconfig) with the native dialog and writes it there; the path written, or null when the admin cancels; `conflict` when no encrypted service is on.
#[tauri::command]
pub async fn save_mail_profile(backend: State<'_, Backend>, name: String) -> ApiResult<Option<String>> {
    let profile: String = backend.call_as("get_mail_profile", json!({ "name": name })).await?;
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Save the Apple Mail profile")
        .set_file_name(format!("{name}.mobileconfig"))
        .add_filter("Apple configuration profiles", &["mobileconfig"]);
    let Some(file) = dialog.save_file().await else { return Ok(None) };
    let path = file.path().to_path_buf();
    std::fs::write(&path, profile).map_err(|e| ApiError::io(format!("cannot write {}: {e}", path.display())))?;
    Ok(Some(path.display().to_string()))
}
