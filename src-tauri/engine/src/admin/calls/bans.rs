use crate::access::{bans, Ban};
use crate::engine::Engine;
use crate::error::ApiResult;

/// The addresses banned for failed logins or errors, with when the ban ends.
pub fn list_bans(e: &Engine) -> ApiResult<Vec<Ban>> {
    bans::list(e.store())
}

/// Lifts a ban; `not_found` if the address is no longer banned.
pub fn clear_ban(e: &Engine, value: String) -> ApiResult<()> {
    bans::clear(e.store(), &value)
}
