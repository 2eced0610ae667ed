use crate::views::{OutboundForm, OutboundView, SmtpView};
use crate::engine::Engine;
use crate::error::ApiResult;

/// The SMTP window's settings.
pub fn get_smtp_settings(engine: &Engine) -> SmtpView {
    engine.smtp_settings()
}

/// Saves the SMTP window; `invalid` with fields `smtp.max_message_size`, `smtp.trusted_networks`, `general.server_name`, …
pub fn save_smtp_settings(e: &Engine, smtp: SmtpView) -> ApiResult<()> {
    e.save_smtp_settings(smtp)
}

/// The outbound (smart host) settings; the password only as `password_set`.
pub fn get_outbound_settings(engine: &Engine) -> OutboundView {
    engine.outbound_settings()
}

/// Saves the outbound settings (a null password keeps the stored one, "" removes it); `invalid` with fields `outbound.smart_host`, `outbound.retry_minutes`, …
pub fn save_outbound_settings(e: &Engine, outbound: OutboundForm) -> ApiResult<()> {
    e.save_outbound_settings(outbound)
}

/// Settings → Spam Filter: the checks run on strangers' mail and what DMARC's p=reject leads to.
pub fn get_spam_settings(e: &Engine) -> ApiResult<crate::settings::SpamSettings> {
    Ok(e.settings().spam.clone())
}

/// Saves the Spam Filter window's checks.
pub fn save_spam_settings(e: &Engine, spam: crate::settings::SpamSettings) -> ApiResult<()> {
    e.update_settings(move |s| {
        s.spam = spam;
        Ok(())
    })
}
