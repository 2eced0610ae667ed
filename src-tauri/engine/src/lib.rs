//! Postroom's mail engine: everything but the GUI. See ARCHITECTURE.md for the map.

pub mod access;
pub mod admin;
pub mod auth;
pub mod bandwidth;
pub mod certs;
pub mod cli;
pub mod collector;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod forward;
pub mod geoip;
pub mod housekeeping;
pub mod imap;
pub mod logging;
pub mod logwriter;
pub mod mailbox;
pub mod message_store;
pub mod names;
pub mod net;
pub mod paths;
pub mod pop3;
pub mod queue;
pub mod recent;
pub mod service;
pub mod settings;
pub mod setup;
pub mod smtp;
pub mod spam;
pub mod status;
pub mod store;
pub mod system_users;
pub mod time_text;
pub mod users;
pub mod views;
#[cfg(windows)]
pub mod winsec;
pub mod web;

pub use engine::{Engine, EngineOptions};

/// The version with the commit it was built from: "0.1.0 (commit 09cdb29c1a2b)". The commit is given at
/// build time in `POSTROOM_COMMIT` (scripts/package.sh and scripts/run.sh set it from git); a build
/// without it says "development build".
pub fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| match option_env!("POSTROOM_COMMIT").filter(|c| !c.is_empty()) {
        Some(commit) => format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")),
        None => format!("{} (development build)", env!("CARGO_PKG_VERSION")),
    })
}
pub use error::{ApiError, ApiResult, FieldError};

/// Writes the TypeScript types the UI imports into `ui/src/bindings/`.
#[cfg(test)]
mod export_bindings {
    use ts_rs::TS;

    #[test]
    fn export_bindings() {
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings");
        crate::views::Overview::export_all_to(&out).unwrap();
        crate::admin::EngineLink::export_all_to(&out).unwrap();
        crate::service::SystemService::export_all_to(&out).unwrap();
        crate::views::Change::export_all_to(&out).unwrap();
        crate::views::ServiceView::export_all_to(&out).unwrap();
        crate::users::UserDetail::export_all_to(&out).unwrap();
        crate::users::UserForm::export_all_to(&out).unwrap();
        crate::users::BulkAddReport::export_all_to(&out).unwrap();
        crate::certs::CertificateInfo::export_all_to(&out).unwrap();
        crate::error::ApiError::export_all_to(&out).unwrap();
        crate::views::SmtpView::export_all_to(&out).unwrap();
        crate::views::MailboxAccess::export_all_to(&out).unwrap();
        crate::views::OutboundView::export_all_to(&out).unwrap();
        crate::views::OutboundForm::export_all_to(&out).unwrap();
        crate::queue::QueueEntry::export_all_to(&out).unwrap();
        crate::access::Ban::export_all_to(&out).unwrap();
        crate::settings::LogSettings::export_all_to(&out).unwrap();
        crate::logwriter::LogWriterStats::export_all_to(&out).unwrap();
        crate::logging::LogTail::export_all_to(&out).unwrap();
        crate::geoip::GeoIpStatus::export_all_to(&out).unwrap();
        crate::geoip::ImportRequest::export_all_to(&out).unwrap();
        crate::settings::AccessSettings::export_all_to(&out).unwrap();
        crate::settings::BandwidthSettings::export_all_to(&out).unwrap();
        crate::bandwidth::BandwidthLive::export_all_to(&out).unwrap();
        crate::views::ScriptFile::export_all_to(&out).unwrap();
        crate::bandwidth::ScriptCheck::export_all_to(&out).unwrap();
        crate::bandwidth::ScriptTestRequest::export_all_to(&out).unwrap();
        crate::bandwidth::ScriptTestResult::export_all_to(&out).unwrap();
        crate::message_store::MessageStoreView::export_all_to(&out).unwrap();
        crate::message_store::BinQuery::export_all_to(&out).unwrap();
        crate::message_store::Purged::export_all_to(&out).unwrap();
        crate::mailbox::prune::RuleRow::export_all_to(&out).unwrap();
        crate::mailbox::prune::NewRule::export_all_to(&out).unwrap();
        crate::mailbox::prune::Preview::export_all_to(&out).unwrap();
        crate::mailbox::recycle::Recycled::export_all_to(&out).unwrap();
        crate::mailbox::recycle::Restored::export_all_to(&out).unwrap();
        crate::settings::MessageStoreSettings::export_all_to(&out).unwrap();
        crate::forward::LanRule::export_all_to(&out).unwrap();
        crate::auth::records::DnsRecord::export_all_to(&out).unwrap();
        crate::settings::SpamSettings::export_all_to(&out).unwrap();
        crate::delivery::quarantine::HeldMessage::export_all_to(&out).unwrap();
        crate::spam::bayes::BayesStatus::export_all_to(&out).unwrap();
        crate::collector::CollectorInfo::export_all_to(&out).unwrap();
        crate::collector::RunReport::export_all_to(&out).unwrap();
        crate::users::SpamLists::export_all_to(&out).unwrap();
        crate::users::ForwardingChange::export_all_to(&out).unwrap();
        crate::settings::RelaySettings::export_all_to(&out).unwrap();
        crate::web::account::MailProgramSettings::export_all_to(&out).unwrap();
        crate::setup::SetupStart::export_all_to(&out).unwrap();
        crate::setup::SetupPage::export_all_to(&out).unwrap();
        crate::setup::SetupDone::export_all_to(&out).unwrap();
        crate::setup::NameLookup::export_all_to(&out).unwrap();
        crate::setup::CsvUsers::export_all_to(&out).unwrap();
        assert!(out.join("Overview.ts").exists());
    }
}
