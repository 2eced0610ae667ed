//! What the windows show: flat, serialisable views over the engine's state. TypeScript types for the UI
//! are generated from these (`cargo test -p postroom-engine export_bindings`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::net::ServiceStatus;
use crate::settings::{ServiceId, ServiceSettings, TlsMode};

/// One service as the Services window edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServiceView {
    pub id: ServiceId,
    pub name: String,
    pub protocol: String,
    pub enabled: bool,
    pub bind_address: String,
    pub port: u16,
    pub tls_mode: TlsMode,
}

impl ServiceView {
    pub fn new(id: ServiceId, s: &ServiceSettings) -> ServiceView {
        ServiceView {
            id,
            name: id.display_name().into(),
            protocol: id.protocol().name().into(),
            enabled: s.enabled,
            bind_address: s.bind_address.clone(),
            port: s.port,
            tls_mode: s.tls_mode,
        }
    }

    pub fn settings(&self) -> ServiceSettings {
        ServiceSettings {
            enabled: self.enabled,
            bind_address: self.bind_address.trim().to_string(),
            port: self.port,
            tls_mode: self.tls_mode,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RecentError {
    /// RFC 3339, UTC.
    pub time: String,
    pub message: String,
}

/// The main window's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Overview {
    pub version: String,
    pub data_dir: String,
    pub paused: bool,
    pub services: Vec<ServiceStatus>,
    pub connections: u32,
    #[ts(type = "number")]
    pub received_today: i64,
    #[ts(type = "number")]
    pub sent_today: i64,
    #[ts(type = "number")]
    pub queue_size: i64,
    pub recent_errors: Vec<RecentError>,
    #[ts(type = "number")]
    pub user_count: i64,
}

impl Overview {
    /// One line for the tray tooltip.
    pub fn summary(&self) -> String {
        let failed = self.services.iter().filter(|s| s.state == crate::net::ServiceState::Failed).count();
        let state = if self.paused {
            "paused".to_string()
        } else if failed > 0 {
            format!("{failed} service(s) failed")
        } else {
            "running".to_string()
        };
        format!(
            "Postroom {state} — {} connection(s), {} received today, {} queued",
            self.connections, self.received_today, self.queue_size
        )
    }

    pub fn has_failure(&self) -> bool {
        self.services.iter().any(|s| s.state == crate::net::ServiceState::Failed)
    }
}
