/// A native open-file dialog for PEM files; null when cancelled.
#[tauri::command]
pub async fn pick_file(title: String) -> Option<String> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter("PEM files", &["pem", "crt", "cer", "key"])
        .add_filter("All files", &["*"]);
    super::pick_one_file(dialog).await
}
