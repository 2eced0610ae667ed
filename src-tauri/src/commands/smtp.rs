use postroom_engine::views::{OutboundForm, OutboundView, SmtpView};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub fn get_smtp_settings(engine: State<'_, Engine>) -> SmtpView {
    engine.smtp_settings()
}

#[tauri::command]
pub async fn save_smtp_settings(engine: State<'_, Engine>, smtp: SmtpView) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_smtp_settings(smtp)).await
}

#[tauri::command]
pub fn get_outbound_settings(engine: State<'_, Engine>) -> OutboundView {
    engine.outbound_settings()
}

#[tauri::command]
pub async fn save_outbound_settings(engine: State<'_, Engine>, outbound: OutboundForm) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_outbound_settings(outbound)).await
}
