use postroom_engine::forward::{self, LanRule};
use postroom_engine::settings::RelaySettings;
use postroom_engine::users::ForwardingChange;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The LAN forwarding rules in the order they are tried.
#[tauri::command]
pub async fn list_lan_rules(engine: State<'_, Engine>) -> ApiResult<Vec<LanRule>> {
    super::blocking(engine, |e| Ok(e.store().read(forward::list)?)).await
}

/// Replaces the LAN forwarding rules with these, in this order; returns them as stored. `invalid` names `rules.N.addresses`, `rules.N.host`, `rules.N.port`, `rules.N.username`, `rules.N.rewrite` (N from 0).
#[tauri::command]
pub async fn save_lan_rules(engine: State<'_, Engine>, rules: Vec<LanRule>) -> ApiResult<Vec<LanRule>> {
    super::blocking(engine, move |e| forward::save_rules(e.store(), rules)).await
}

/// Changes a user's forwarding (the fields given; empty text switches a part off); returns warnings to show. `invalid` names `store_forward_target`, `store_forward_server`, `forward`.
#[tauri::command]
pub async fn set_user_forwarding(engine: State<'_, Engine>, name: String, change: ForwardingChange) -> ApiResult<Vec<String>> {
    super::blocking(engine, move |e| e.directory().set_forwarding(&name, change)).await
}

/// The relay domains this server is a backup MX for.
#[tauri::command]
pub async fn get_relay_settings(engine: State<'_, Engine>) -> ApiResult<RelaySettings> {
    super::blocking(engine, |e| Ok(e.settings().relay.clone())).await
}

/// Saves the relay domains; `invalid` names `relay.domains.N.domain` / `relay.domains.N.recipients`.
#[tauri::command]
pub async fn save_relay_settings(engine: State<'_, Engine>, relay: RelaySettings) -> ApiResult<()> {
    super::blocking(engine, move |e| e.update_settings(move |s| {
        s.relay = relay;
        Ok(())
    }))
    .await
}
