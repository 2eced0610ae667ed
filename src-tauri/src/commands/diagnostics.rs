use postroom_engine::logwriter::LogFile;
use tauri::AppHandle;

/// Opens the viewer window for one log file (one window per file).
#[tauri::command]
pub fn open_log_viewer(app: AppHandle, file: LogFile) {
    crate::windows::open_log_viewer(&app, file.name());
}

/// A native choose-folder dialog; null when cancelled.
#[tauri::command]
pub async fn pick_folder(title: String) -> Option<String> {
    // Awaited on a worker, as `pick_one_file` explains.
    rfd::AsyncFileDialog::new().set_title(title).pick_folder().await.map(|f| f.path().display().to_string())
}
