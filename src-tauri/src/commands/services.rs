use postroom_engine::views::{MailboxAccess, ServiceView};
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub fn get_services(engine: State<'_, Engine>) -> Vec<ServiceView> {
    engine.services()
}

#[tauri::command]
pub fn get_mailbox_access(engine: State<'_, Engine>) -> MailboxAccess {
    engine.mailbox_access()
}

#[tauri::command]
pub async fn save_services(engine: State<'_, Engine>, services: Vec<ServiceView>, access: Option<MailboxAccess>) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_services(&services, access)).await
}
