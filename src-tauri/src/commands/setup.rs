use postroom_engine::setup::CsvUsers;
use postroom_engine::ApiResult;

/// Asks for a CSV file (name, password, real name) with the native picker and reads its users for the wizard's list, adding nobody; null when the admin cancels.
#[tauri::command]
pub async fn read_users_csv() -> ApiResult<Option<CsvUsers>> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Users from a CSV file")
        .add_filter("CSV files (name, password, real name)", &["csv", "txt"])
        .add_filter("All files", &["*"]);
    match super::pick_one_file(dialog).await {
        Some(path) => read_users_csv_from(path).await.map(Some),
        None => Ok(None),
    }
}

/// Reads the users of a CSV file (name, password, real name) for the wizard's list, adding nobody; every refused row is listed with its line.
#[tauri::command]
pub async fn read_users_csv_from(path: String) -> ApiResult<CsvUsers> {
    let bytes = super::read_users_file(path).await?;
    Ok(postroom_engine::setup::read_csv(&bytes))
}
