//! Bandwidth control (issue 7): per-connection limits and 1000 nested pools ([`shaper`], on token
//! buckets from [`bucket`]), the sandboxed `GetBandwidth` script ([`script`]) asked at connect and at
//! each login, and the live figures ([`control`], which ties them together for the engine).

pub mod bucket;
pub mod control;
pub mod script;
pub mod shaper;

pub use control::{Bandwidth, BandwidthLive, Connection, ConnectionLive, LimitOrigin, PoolLive, ScriptCheck, ScriptStatus, ScriptTestRequest, ScriptTestResult};
pub use shaper::{LimitSource, Pools, Shaper, Throttled};
