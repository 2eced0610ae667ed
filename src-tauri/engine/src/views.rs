//! What the windows show: flat, serialisable views over the engine's state. TypeScript types for the UI
//! are generated from these (`cargo test -p postroom-engine export_bindings`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::net::ServiceStatus;
use crate::recent::RecentError;
use crate::settings::{ImapSettings, OutboundSettings, OutboundTls, Pop3Settings, ServiceId, ServiceSettings, Settings, SmtpSettings, Throttle, TlsMode};

/// One service as the Services window edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServiceView {
    pub id: ServiceId,
    pub name: String,
    pub protocol: String,
    pub enabled: bool,
    pub bind_address: String,
    pub port: u16,
    pub tls_mode: TlsMode,
    /// Bandwidth Throttling: No Limit, Custom or a Bandwidth Pool.
    pub bandwidth: Throttle,
}

impl ServiceView {
    pub fn new(id: ServiceId, settings: &Settings) -> ServiceView {
        let s = settings.services.get(id);
        ServiceView {
            bandwidth: *settings.bandwidth.get(id),
            id,
            name: id.display_name().into(),
            protocol: id.protocol().name().into(),
            enabled: s.enabled,
            bind_address: s.bind_address.clone(),
            port: s.port,
            tls_mode: s.tls_mode,
        }
    }

    pub fn settings(&self) -> ServiceSettings {
        ServiceSettings {
            enabled: self.enabled,
            bind_address: self.bind_address.trim().to_string(),
            port: self.port,
            tls_mode: self.tls_mode,
        }
    }
}

/// What changed, as the desktop shell tells the windows (the `engine-changed` event): each window
/// fetches again what shows one of the kinds it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A service's state, the pause switch, or the number of connections.
    Services,
    /// Anything committed to the database, by this process or another (queue, users, domains, bans,
    /// settings, counts), and the GeoIP import's progress.
    Data,
    /// The recent-errors list.
    Errors,
    /// The log writer wrote lines (its figures and the log files changed).
    LogWriter,
    /// Live bandwidth: connections in pools, traffic, the script's state.
    Bandwidth,
}

impl Change {
    /// Every kind (what a window refreshes after it may have missed notices).
    pub const ALL: [Change; 5] = [Change::Services, Change::Data, Change::Errors, Change::LogWriter, Change::Bandwidth];
}

/// The main window's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Overview {
    pub version: String,
    pub data_dir: String,
    pub paused: bool,
    pub services: Vec<ServiceStatus>,
    pub connections: u32,
    #[ts(type = "number")]
    pub received_today: i64,
    #[ts(type = "number")]
    pub sent_today: i64,
    #[ts(type = "number")]
    pub queue_size: i64,
    pub recent_errors: Vec<RecentError>,
    /// The log writer cannot write (disk full, folder gone): shown until a write succeeds.
    pub log_problem: Option<String>,
    #[ts(type = "number")]
    pub user_count: i64,
    /// Forwarding targets not taking mail (the main server of Store and Forward, a LAN rule's server).
    pub forwarding: Vec<crate::queue::ForwardingProblem>,
    /// Mail collectors that keep failing.
    pub collectors: Vec<crate::collector::CollectorProblem>,
}

impl Overview {
    /// One line for the tray tooltip.
    pub fn summary(&self) -> String {
        let failed = self.services.iter().filter(|s| s.state == crate::net::ServiceState::Failed).count();
        let state = if self.paused {
            "paused".to_string()
        } else if failed > 0 {
            format!("{failed} service(s) failed")
        } else {
            "running".to_string()
        };
        let mut line = format!(
            "Postroom {state} — {} connection(s), {} received today, {} queued",
            self.connections, self.received_today, self.queue_size
        );
        for problem in &self.forwarding {
            line.push_str(&format!("\n{}", problem.headline()));
        }
        for problem in &self.collectors {
            line.push_str(&format!("\n{}", problem.headline()));
        }
        line
    }

    /// A failed service, a forwarding target not taking mail or a mail collector that keeps failing: the
    /// tray shows its warning icon.
    pub fn has_failure(&self) -> bool {
        self.services.iter().any(|s| s.state == crate::net::ServiceState::Failed) || !self.forwarding.is_empty() || !self.collectors.is_empty()
    }
}

/// The SMTP window's General, Relaying and Limits tabs: the greeting name and the SMTP section, flat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SmtpView {
    pub server_name: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub smtp: SmtpSettings,
}

impl SmtpView {
    pub fn new(s: &Settings) -> SmtpView {
        SmtpView { server_name: s.general.server_name.clone(), smtp: s.smtp.clone() }
    }

    pub fn apply(&self, s: &mut Settings) {
        s.general.server_name = self.server_name.trim().to_string();
        s.smtp = SmtpSettings { trusted_networks: self.smtp.trusted_networks.trim().to_string(), ..self.smtp.clone() };
    }
}

/// The POP3 and IMAP4 settings shown on those tabs of the Services window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MailboxAccess {
    pub pop3: Pop3Settings,
    pub imap: ImapSettings,
    /// The web service's MTA-STS policy (the HTTP tab).
    pub web: crate::settings::WebSettings,
}

/// The SMTP window's Outbound tab as shown: the password itself never leaves the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutboundView {
    pub smart_host: String,
    pub smart_host_port: u16,
    pub username: String,
    pub password_set: bool,
    pub tls: OutboundTls,
    pub verify_certificate: bool,
    pub allow_plaintext_auth: bool,
    pub max_parallel: u32,
    pub retry_minutes: String,
    pub max_age_hours: u32,
    pub dns_server: String,
}

impl OutboundView {
    pub fn new(o: &OutboundSettings) -> OutboundView {
        OutboundView {
            smart_host: o.smart_host.clone(),
            smart_host_port: o.smart_host_port,
            username: o.username.clone(),
            password_set: !o.password.is_empty(),
            tls: o.tls,
            verify_certificate: o.verify_certificate,
            allow_plaintext_auth: o.allow_plaintext_auth,
            max_parallel: o.max_parallel,
            retry_minutes: o.retry_minutes.clone(),
            max_age_hours: o.max_age_hours,
            dns_server: o.dns_server.clone(),
        }
    }
}

/// The Outbound tab as saved: `password` None keeps the stored one, "" clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutboundForm {
    pub smart_host: String,
    pub smart_host_port: u16,
    pub username: String,
    pub password: Option<String>,
    pub tls: OutboundTls,
    pub verify_certificate: bool,
    pub allow_plaintext_auth: bool,
    pub max_parallel: u32,
    pub retry_minutes: String,
    pub max_age_hours: u32,
    pub dns_server: String,
}

impl OutboundForm {
    pub fn apply(&self, o: &mut OutboundSettings) {
        o.smart_host = self.smart_host.trim().to_string();
        o.smart_host_port = self.smart_host_port;
        o.username = self.username.trim().to_string();
        if let Some(p) = &self.password {
            o.password = p.clone();
        }
        o.tls = self.tls;
        o.verify_certificate = self.verify_certificate;
        o.allow_plaintext_auth = self.allow_plaintext_auth;
        o.max_parallel = self.max_parallel;
        o.retry_minutes = self.retry_minutes.trim().to_string();
        o.max_age_hours = self.max_age_hours;
        o.dns_server = self.dns_server.trim().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbound_password_is_kept_unless_replaced_or_cleared() {
        let mut o = OutboundSettings { password: "old".into(), ..Default::default() };
        assert!(OutboundView::new(&o).password_set);
        let form = |password: Option<&str>| OutboundForm {
            smart_host: " smtp.isp.example ".into(),
            smart_host_port: 587,
            username: "office".into(),
            password: password.map(str::to_string),
            tls: OutboundTls::Required,
            verify_certificate: true,
            allow_plaintext_auth: false,
            max_parallel: 4,
            retry_minutes: "5, 30".into(),
            max_age_hours: 48,
            dns_server: String::new(),
        };
        form(None).apply(&mut o);
        assert_eq!((o.password.as_str(), o.smart_host.as_str()), ("old", "smtp.isp.example"));
        form(Some("new")).apply(&mut o);
        assert_eq!(o.password, "new");
        form(Some("")).apply(&mut o);
        assert!(!OutboundView::new(&o).password_set);
    }
}

/// bandwidth.lua for the script editor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ScriptFile {
    /// The file's text; empty when there is no file.
    pub text: String,
    pub status: crate::bandwidth::ScriptStatus,
}
