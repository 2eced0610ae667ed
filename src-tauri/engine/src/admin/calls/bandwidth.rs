use crate::bandwidth::{BandwidthLive, ScriptCheck, ScriptTestRequest, ScriptTestResult};
use crate::settings::{BandwidthPool, BandwidthSettings};
use crate::views::ScriptFile;
use crate::engine::Engine;
use crate::error::ApiResult;

/// Every service's Bandwidth Throttling and the pools that have a name or a limit.
pub fn get_bandwidth_settings(engine: &Engine) -> BandwidthSettings {
    engine.bandwidth_settings()
}

/// Saves the Bandwidth Pools; `invalid` with fields `bandwidth.pools.<id>` (a circle of sharing pools, a pool that does not exist, a rate too high), and then nothing is saved.
pub fn save_bandwidth_pools(e: &Engine, pools: Vec<BandwidthPool>) -> ApiResult<()> {
    e.save_bandwidth_pools(pools)
}

/// Pools in use (connections, bytes per second each way), live connections with their limit and where it comes from, and the script's state.
pub fn get_bandwidth_live(engine: &Engine) -> BandwidthLive {
    engine.bandwidth_live()
}

/// bandwidth.lua as saved (empty text when there is none) and its state.
pub fn get_bandwidth_script(e: &Engine) -> ApiResult<ScriptFile> {
    e.bandwidth_script()
}

/// Saves bandwidth.lua, even if it does not compile (then `status.compile_error` says why and the previous script keeps running).
pub fn save_bandwidth_script(e: &Engine, text: String) -> ApiResult<ScriptFile> {
    e.save_bandwidth_script(&text)
}

/// The editor's syntax check: ok, or the error and its line.
pub fn check_bandwidth_script(source: String) -> ScriptCheck {
    ScriptCheck::of(&source)
}

/// Runs GetBandwidth as the editor's Test panel asks (`at`: Unix seconds, null for now): the value, its meaning, or the error and its line, and how long it took.
pub fn test_bandwidth_script(e: &Engine, request: ScriptTestRequest) -> ApiResult<ScriptTestResult> {
    Ok(e.test_bandwidth_script(&request))
}
