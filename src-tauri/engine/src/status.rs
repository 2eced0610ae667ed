//! `status.json`: how a running server tells other processes (`postroomd status`) what it is doing.
//! Written atomically whenever a service changes state and every [`HEARTBEAT`] otherwise; a file whose
//! heartbeat is older than [`STALE_AFTER`], or whose process is gone, means "not running".

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::net::ServiceStatus;

pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const STALE_AFTER: i64 = 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeStatus {
    pub pid: u32,
    pub version: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub paused: bool,
    pub services: Vec<ServiceStatus>,
    /// Set when the configured TLS certificate could not be loaded by the server.
    #[serde(default)]
    pub certificate_problem: Option<String>,
    /// The log writer's figures (without the graph), for `postroomd logwriter stats`.
    #[serde(default)]
    pub log_writer: Option<crate::logwriter::LogWriterStats>,
    /// Pools in use, connections with their limits, and bandwidth.lua's state, for `postroomd bandwidth`.
    #[serde(default)]
    pub bandwidth: Option<crate::bandwidth::BandwidthLive>,
}

pub fn write(path: &Path, status: &RuntimeStatus) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    // Rewritten every few seconds and meaningless after a restart: no fsync.
    crate::paths::write_private(path, &json, crate::paths::Durability::Ephemeral)
}

/// The status of the server serving this data folder, if one is running.
pub fn read_live(path: &Path) -> Option<RuntimeStatus> {
    let status: RuntimeStatus = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let fresh = crate::store::now() - status.updated_at <= STALE_AFTER;
    (fresh && crate::paths::process_alive(status.pid)).then_some(status)
}

