//! Who may connect and log in. Today: failed-login bans ([`bans`]), checked at connect by every service
//! and at login; the IP rules and GeoIP restrictions of the Access Restrictions tab join them here.

pub mod bans;
pub mod login;

pub use bans::{Ban, Bans};
