use postroom_engine::views::{MailboxAccess, ServiceView};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The nine services, always in the order smtp, submission, smtps, pop3, pop3s, imap, imaps, http, https.
#[tauri::command]
pub fn get_services(engine: State<'_, Engine>) -> Vec<ServiceView> {
    engine.services()
}

/// The POP3, IMAP4 and web settings shown on the Services window's protocol tabs.
#[tauri::command]
pub fn get_mailbox_access(engine: State<'_, Engine>) -> MailboxAccess {
    engine.mailbox_access()
}

/// Saves the Services window in one change; `invalid` with fields like `pop3.port` or `pop3.bandwidth.pool`, and then nothing is saved.
#[tauri::command]
pub async fn save_services(engine: State<'_, Engine>, services: Vec<ServiceView>, access: Option<MailboxAccess>) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_services(&services, access)).await
}
