use postroom_engine::views::ServiceView;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub fn get_services(engine: State<'_, Engine>) -> Vec<ServiceView> {
    engine.services()
}

#[tauri::command]
pub async fn save_services(engine: State<'_, Engine>, services: Vec<ServiceView>) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_services(&services)).await
}
