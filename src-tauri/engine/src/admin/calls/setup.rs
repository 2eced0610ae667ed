use crate::error::FieldError;
use crate::setup::{NameLookup, SetupDone, SetupPage, SetupPlan, SetupStart};
use crate::engine::Engine;
use crate::error::ApiResult;

/// Whether the first-run wizard is needed (no users and no local domains) and the plan it starts from (today's settings).
pub fn get_setup_start(e: &Engine) -> ApiResult<SetupStart> {
    e.setup_start()
}

/// The problems on one page of the wizard, each with its field (`users.N.name`, `smart_host`, …); empty when the page is good. Nothing is saved.
pub fn check_setup(e: &Engine, plan: SetupPlan, page: SetupPage) -> ApiResult<Vec<FieldError>> {
    e.check_setup(&plan, Some(page))
}

/// Applies the whole plan (settings, domains, users; `invalid` with every problem and nothing changed when a page is wrong), then the DNS records to publish and each user's mail program settings.
pub async fn finish_setup(engine: &Engine, plan: SetupPlan) -> ApiResult<SetupDone> {
    engine.finish_setup(plan).await
}

/// Connects to the plan's smart host as delivery would (TLS, certificate check, login) and says QUIT: what happened, or `io` with why it failed. Nothing is saved or sent.
pub async fn test_smart_host(engine: &Engine, plan: SetupPlan) -> ApiResult<String> {
    engine.try_smart_host(&plan).await
}

/// What the DNS (through the server's resolver) says a host name's addresses are.
pub async fn look_up_server_name(engine: &Engine, name: String) -> ApiResult<NameLookup> {
    Ok(engine.look_up_name(&name).await)
}
