//! Bandwidth control (issue 7, in progress): per-connection limits and nested pools, applied to every
//! service connection by [`shaper::Throttled`]. Still to come: the GetBandwidth script, the live figures
//! and the windows.

pub mod bucket;
pub mod script;
pub mod shaper;

pub use shaper::{LimitSource, Pools, Shaper, Throttled};
