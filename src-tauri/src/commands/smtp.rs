use postroom_engine::views::{OutboundForm, OutboundView, SmtpView};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The SMTP window's settings.
#[tauri::command]
pub fn get_smtp_settings(engine: State<'_, Engine>) -> SmtpView {
    engine.smtp_settings()
}

/// Saves the SMTP window; `invalid` with fields `smtp.max_message_size`, `smtp.trusted_networks`, `general.server_name`, …
#[tauri::command]
pub async fn save_smtp_settings(engine: State<'_, Engine>, smtp: SmtpView) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_smtp_settings(smtp)).await
}

/// The outbound (smart host) settings; the password only as `password_set`.
#[tauri::command]
pub fn get_outbound_settings(engine: State<'_, Engine>) -> OutboundView {
    engine.outbound_settings()
}

/// Saves the outbound settings (a null password keeps the stored one, "" removes it); `invalid` with fields `outbound.smart_host`, `outbound.retry_minutes`, …
#[tauri::command]
pub async fn save_outbound_settings(engine: State<'_, Engine>, outbound: OutboundForm) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_outbound_settings(outbound)).await
}

/// Settings → Spam Filter: the checks run on strangers' mail and what DMARC's p=reject leads to.
#[tauri::command]
pub async fn get_spam_settings(engine: State<'_, Engine>) -> ApiResult<postroom_engine::settings::SpamSettings> {
    super::blocking(engine, |e| Ok(e.settings().spam.clone())).await
}

/// Saves the Spam Filter window's checks.
#[tauri::command]
pub async fn save_spam_settings(engine: State<'_, Engine>, spam: postroom_engine::settings::SpamSettings) -> ApiResult<()> {
    super::blocking(engine, move |e| e.update_settings(move |s| {
        s.spam = spam;
        Ok(())
    }))
    .await
}
