/// A native open-file dialog for CSV files; null when cancelled.
#[tauri::command]
pub async fn pick_csv_file(title: String) -> Option<String> {
    let dialog = rfd::AsyncFileDialog::new().set_title(title).add_filter("CSV files", &["csv", "CSV", "txt"]).add_filter("All files", &["*"]);
    super::pick_one_file(dialog).await
}
