//! Who may connect and log in: failed-login bans ([`bans`]), checked at connect by every service and at
//! login, and each service's access restrictions ([`rules`]: addresses, ranges, networks and GeoIP
//! tags), checked at connect before the greeting.

pub mod accounts;
pub mod bans;
pub mod login;
pub mod rules;
pub mod sasl;

pub use accounts::Accounts;
pub use bans::{Ban, Bans};
