//! Bandwidth control (issue 7, in progress): per-connection limits, nested pools and the GetBandwidth
//! script. So far: the token buckets ([`bucket`]) that shaping will use; nothing in the services uses
//! them yet.

pub mod bucket;
