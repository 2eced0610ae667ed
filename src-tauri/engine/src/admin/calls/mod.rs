//! The admin API's calls, one file per window family. Each public function here is a call: its name is
//! the call's name, its `///` line goes into docs/gui-contract.md, its arguments (after the engine) come
//! from the JSON the windows send. postroom-contract writes `../dispatch.rs` and ui/src/commands.ts from
//! these signatures; a blocking `fn` runs on the blocking pool, an `async fn` on the runtime.

pub mod bandwidth;
pub mod bans;
pub mod certificate;
pub mod collector;
pub mod diagnostics;
pub mod domains;
pub mod forwarding;
pub mod geoip;
pub mod messagestore;
pub mod overview;
pub mod queue;
pub mod services;
pub mod setup;
pub mod smtp;
pub mod spam;
pub mod users;
