//! The live state of every service — what the main window, the tray and `postroomd status` show.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::settings::{ServiceId, ServiceSettings, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Not enabled in the settings.
    Disabled,
    /// Enabled but not started yet (or the server is not running).
    Stopped,
    Running,
    /// Could not listen; `error` says why.
    Failed,
    /// Enabled, but the admin paused all services.
    Paused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServiceStatus {
    pub id: ServiceId,
    pub name: String,
    pub protocol: String,
    pub state: ServiceState,
    pub bind_address: String,
    pub port: u16,
    pub tls_mode: TlsMode,
    pub error: Option<String>,
    pub connections: u32,
}

impl ServiceStatus {
    pub fn idle(id: ServiceId, state: ServiceState, s: &ServiceSettings) -> ServiceStatus {
        ServiceStatus {
            id,
            name: id.display_name().into(),
            protocol: id.protocol().name().into(),
            state,
            bind_address: s.bind_address.clone(),
            port: s.port,
            tls_mode: s.tls_mode,
            error: None,
            connections: 0,
        }
    }
}

/// Service states plus live connection counters. `changed` is notified on every change of state, so the
/// status file and the GUI can follow without polling.
pub struct Registry {
    states: Mutex<BTreeMap<ServiceId, ServiceStatus>>,
    connections: BTreeMap<ServiceId, Arc<AtomicU32>>,
    /// Counts the changes (status.json and the windows follow; a watcher busy meanwhile still sees it).
    pub version: tokio::sync::watch::Sender<u64>,
}

impl Registry {
    pub fn new(services: &crate::settings::ServicesSettings) -> Registry {
        let states = ServiceId::ALL
            .into_iter()
            .map(|id| {
                let s = services.get(id);
                let state = if s.enabled { ServiceState::Stopped } else { ServiceState::Disabled };
                (id, ServiceStatus::idle(id, state, s))
            })
            .collect();
        let connections = ServiceId::ALL.into_iter().map(|id| (id, Arc::new(AtomicU32::new(0)))).collect();
        Registry { states: Mutex::new(states), connections, version: tokio::sync::watch::Sender::new(0) }
    }

    fn update(&self, id: ServiceId, status: ServiceStatus) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let changed = states.get(&id) != Some(&status);
        if changed {
            states.insert(id, status);
            drop(states);
            self.version.send_modify(|v| *v += 1);
        }
        changed
    }

    pub fn set_idle(&self, id: ServiceId, state: ServiceState, s: &ServiceSettings) {
        self.update(id, ServiceStatus::idle(id, state, s));
    }

    pub fn set_running(&self, id: ServiceId, local: SocketAddr, tls_mode: TlsMode) {
        self.update(id, self.at(id, ServiceState::Running, local, tls_mode, None));
    }

    /// Records a failure; returns true if it is news (so that the log is not flooded by retries).
    pub fn set_failed(&self, id: ServiceId, addr: SocketAddr, tls_mode: TlsMode, reason: &str) -> bool {
        self.update(id, self.at(id, ServiceState::Failed, addr, tls_mode, Some(reason.to_string())))
    }

    fn at(&self, id: ServiceId, state: ServiceState, addr: SocketAddr, tls_mode: TlsMode, error: Option<String>) -> ServiceStatus {
        ServiceStatus {
            id,
            name: id.display_name().into(),
            protocol: id.protocol().name().into(),
            state,
            bind_address: addr.ip().to_string(),
            port: addr.port(),
            tls_mode,
            error,
            connections: 0,
        }
    }

    /// Counts a connection until the guard is dropped.
    pub fn connection(&self, id: ServiceId) -> ConnectionGuard {
        let counter = self.connections[&id].clone();
        counter.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard { counter }
    }

    /// Every service's status with its current connection count, in the standard order.
    pub fn snapshot(&self) -> Vec<ServiceStatus> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        ServiceId::ALL
            .into_iter()
            .filter_map(|id| {
                let mut s = states.get(&id)?.clone();
                s.connections = self.connections[&id].load(Ordering::Relaxed);
                Some(s)
            })
            .collect()
    }
}

pub struct ConnectionGuard {
    counter: Arc<AtomicU32>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}
