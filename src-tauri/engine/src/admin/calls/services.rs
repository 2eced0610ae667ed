use crate::views::{MailboxAccess, ServiceView};
use crate::engine::Engine;
use crate::error::ApiResult;

/// The nine services, always in the order smtp, submission, smtps, pop3, pop3s, imap, imaps, http, https.
pub fn get_services(engine: &Engine) -> Vec<ServiceView> {
    engine.services()
}

/// The POP3, IMAP4 and web settings shown on the Services window's protocol tabs.
pub fn get_mailbox_access(engine: &Engine) -> MailboxAccess {
    engine.mailbox_access()
}

/// Saves the Services window in one change; `invalid` with fields like `pop3.port` or `pop3.bandwidth.pool`, and then nothing is saved.
pub fn save_services(e: &Engine, services: Vec<ServiceView>, access: Option<MailboxAccess>) -> ApiResult<()> {
    e.save_services(&services, access)
}
