use crate::forward::{self, LanRule};
use crate::settings::RelaySettings;
use crate::users::ForwardingChange;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The LAN forwarding rules in the order they are tried.
pub fn list_lan_rules(e: &Engine) -> ApiResult<Vec<LanRule>> {
    Ok(e.store().read(forward::list)?)
}

/// Replaces the LAN forwarding rules with these, in this order; returns them as stored. `invalid` names `rules.N.addresses`, `rules.N.host`, `rules.N.port`, `rules.N.username`, `rules.N.rewrite` (N from 0).
pub fn save_lan_rules(e: &Engine, rules: Vec<LanRule>) -> ApiResult<Vec<LanRule>> {
    forward::save_rules(e.store(), rules)
}

/// Changes a user's forwarding (the fields given; empty text switches a part off); returns warnings to show. `invalid` names `store_forward_target`, `store_forward_server`, `forward`.
pub fn set_user_forwarding(e: &Engine, name: String, change: ForwardingChange) -> ApiResult<Vec<String>> {
    e.directory().set_forwarding(&name, change)
}

/// The relay domains this server is a backup MX for.
pub fn get_relay_settings(e: &Engine) -> ApiResult<RelaySettings> {
    Ok(e.settings().relay.clone())
}

/// Saves the relay domains; `invalid` names `relay.domains.N.domain` / `relay.domains.N.recipients`.
pub fn save_relay_settings(e: &Engine, relay: RelaySettings) -> ApiResult<()> {
    e.update_settings(move |s| {
        s.relay = relay;
        Ok(())
    })
}
