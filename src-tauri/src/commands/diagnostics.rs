use postroom_engine::logging::LogTail;
use postroom_engine::logwriter::{LogFile, LogWriterStats};
use postroom_engine::settings::LogSettings;
use postroom_engine::{ApiResult, Engine};
use tauri::{AppHandle, State};

/// The Diagnostics window's settings: session logs, the writer, retention.
#[tauri::command]
pub fn get_log_settings(engine: State<'_, Engine>) -> LogSettings {
    engine.log_settings()
}

/// Saves the Diagnostics window; `invalid` with fields `log.folder`, `log.writer.min_interval_ms`, `log.session.smtpsvr.max_size_kb`, …
#[tauri::command]
pub async fn save_log_settings(engine: State<'_, Engine>, log: LogSettings) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_log_settings(log)).await
}

/// The writer's figures, with the last 10 minutes' graph series.
#[tauri::command]
pub fn get_log_writer_stats(engine: State<'_, Engine>) -> ApiResult<LogWriterStats> {
    engine.log_writer_stats(true)
}

/// The end of a log file (written out first), for the viewer.
#[tauri::command]
pub async fn read_log(engine: State<'_, Engine>, file: LogFile, max_bytes: u64) -> ApiResult<LogTail> {
    super::blocking(engine, move |e| e.log_tail(file, max_bytes)).await
}

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
