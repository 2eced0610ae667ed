//! Bandwidth control (issue 7, in progress): per-connection limits and nested pools, applied to every
//! service connection by [`shaper::Throttled`]; the sandboxed `GetBandwidth` script ([`script`]) is
//! built and tested but not yet called at connect and login. Still to come: that wiring with reload on
//! change, the live figures, the windows and the benchmark.

pub mod bucket;
pub mod script;
pub mod shaper;

pub use shaper::{LimitSource, Pools, Shaper, Throttled};
