use crate::logging::LogTail;
use crate::logwriter::{LogFile, LogWriterStats};
use crate::settings::LogSettings;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The Diagnostics window's settings: session logs, the writer, retention.
pub fn get_log_settings(engine: &Engine) -> LogSettings {
    engine.log_settings()
}

/// Saves the Diagnostics window; `invalid` with fields `log.folder`, `log.writer.min_interval_ms`, `log.session.smtpsvr.max_size_kb`, …
pub fn save_log_settings(e: &Engine, log: LogSettings) -> ApiResult<()> {
    e.save_log_settings(log)
}

/// The writer's figures, with the last 10 minutes' graph series.
pub fn get_log_writer_stats(engine: &Engine) -> ApiResult<LogWriterStats> {
    engine.log_writer_stats(true)
}

/// The end of a log file (written out first), for the viewer.
pub fn read_log(e: &Engine, file: LogFile, max_bytes: u64) -> ApiResult<LogTail> {
    e.log_tail(file, max_bytes)
}
