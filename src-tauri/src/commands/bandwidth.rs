use postroom_engine::bandwidth::{BandwidthLive, ScriptCheck, ScriptTestRequest, ScriptTestResult};
use postroom_engine::settings::{BandwidthPool, BandwidthSettings};
use postroom_engine::views::ScriptFile;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// Every service's Bandwidth Throttling and the pools that have a name or a limit.
#[tauri::command]
pub fn get_bandwidth_settings(engine: State<'_, Engine>) -> BandwidthSettings {
    engine.bandwidth_settings()
}

/// Saves the Bandwidth Pools; `invalid` with fields `bandwidth.pools.<id>` (a circle of sharing pools, a pool that does not exist, a rate too high), and then nothing is saved.
#[tauri::command]
pub async fn save_bandwidth_pools(engine: State<'_, Engine>, pools: Vec<BandwidthPool>) -> ApiResult<()> {
    super::blocking(engine, move |e| e.save_bandwidth_pools(pools)).await
}

/// Pools in use (connections, bytes per second each way), live connections with their limit and where it comes from, and the script's state.
#[tauri::command]
pub fn get_bandwidth_live(engine: State<'_, Engine>) -> BandwidthLive {
    engine.bandwidth_live()
}

/// bandwidth.lua as saved (empty text when there is none) and its state.
#[tauri::command]
pub async fn get_bandwidth_script(engine: State<'_, Engine>) -> ApiResult<ScriptFile> {
    super::blocking(engine, |e| e.bandwidth_script()).await
}

/// Saves bandwidth.lua, even if it does not compile (then `status.compile_error` says why and the previous script keeps running).
#[tauri::command]
pub async fn save_bandwidth_script(engine: State<'_, Engine>, text: String) -> ApiResult<ScriptFile> {
    super::blocking(engine, move |e| e.save_bandwidth_script(&text)).await
}

/// The editor's syntax check: ok, or the error and its line.
#[tauri::command]
pub async fn check_bandwidth_script(source: String) -> ScriptCheck {
    tauri::async_runtime::spawn_blocking(move || ScriptCheck::of(&source)).await.unwrap_or(ScriptCheck { ok: false, error: Some("the check did not finish".into()), line: None })
}

/// Runs GetBandwidth as the editor's Test panel asks (`at`: Unix seconds, null for now): the value, its meaning, or the error and its line, and how long it took.
#[tauri::command]
pub async fn test_bandwidth_script(engine: State<'_, Engine>, request: ScriptTestRequest) -> ApiResult<ScriptTestResult> {
    super::blocking(engine, move |e| Ok(e.test_bandwidth_script(&request))).await
}
