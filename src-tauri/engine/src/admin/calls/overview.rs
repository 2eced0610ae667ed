use crate::views::Overview;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The main window's figures: version, data folder, whether paused, every service's state, connections, today's counts, queue size, recent errors, user count, a log file that cannot be written.
pub fn get_overview(e: &Engine) -> ApiResult<Overview> {
    e.overview()
}

/// Pauses (closes every listener) or resumes (binds them again) the mail services.
pub fn set_paused(engine: &Engine, paused: bool) {
    engine.set_paused(paused);
}

/// Which engine this is: its program, process, version and data folder (the desktop adds the socket it attached through).
pub fn get_engine_identity(e: &Engine) -> super::super::EngineLink {
    super::super::identity(e)
}
