use postroom_engine::bandwidth::{BandwidthLive, ScriptCheck, ScriptTestRequest, ScriptTestResult};
use postroom_engine::settings::{BandwidthPool, BandwidthSettings};
use postroom_engine::views::ScriptFile;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

#[tauri::command]
pub fn get_bandwidth_settings(engine: State<'_, Engine>) -> BandwidthSettings {
    engine.bandwidth_settings()
}

#[tauri::command]
pub async fn save_bandwidth_pools(engine: State<'_, Engine>, pools: Vec<BandwidthPool>) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_bandwidth_pools(pools)).await
}

#[tauri::command]
pub fn get_bandwidth_live(engine: State<'_, Engine>) -> BandwidthLive {
    engine.bandwidth_live()
}

#[tauri::command]
pub async fn get_bandwidth_script(engine: State<'_, Engine>) -> ApiResult<ScriptFile> {
    super::blocking(engine, |e| e.bandwidth_script()).await
}

#[tauri::command]
pub async fn save_bandwidth_script(engine: State<'_, Engine>, text: String) -> ApiResult<ScriptFile> {
    super::blocking(engine, move |e| e.save_bandwidth_script(&text)).await
}

#[tauri::command]
pub async fn check_bandwidth_script(source: String) -> ScriptCheck {
    tauri::async_runtime::spawn_blocking(move || ScriptCheck::of(&source)).await.unwrap_or(ScriptCheck { ok: false, error: Some("the check did not finish".into()), line: None })
}

#[tauri::command]
pub async fn test_bandwidth_script(engine: State<'_, Engine>, request: ScriptTestRequest) -> ApiResult<ScriptTestResult> {
    super::blocking(engine, move |e| Ok(e.test_bandwidth_script(&request))).await
}
