//! The services Postroom offers and how each is configured: enabled, bind address, port, TLS mode.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::FieldError;

/// One of the nine listening services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ServiceId {
    Smtp,
    Submission,
    Smtps,
    Pop3,
    Pop3s,
    Imap,
    Imaps,
    Http,
    Https,
}

/// The wire protocol a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Smtp,
    Pop3,
    Imap,
    /// The mail programs' set-up documents (autoconfig, Autodiscover, profiles, MTA-STS).
    Http,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Pop3 => "POP3",
            Protocol::Imap => "IMAP4",
            Protocol::Http => "HTTP",
        }
    }
}

impl ServiceId {
    pub const ALL: [ServiceId; 9] = [
        ServiceId::Smtp,
        ServiceId::Submission,
        ServiceId::Smtps,
        ServiceId::Pop3,
        ServiceId::Pop3s,
        ServiceId::Imap,
        ServiceId::Imaps,
        ServiceId::Http,
        ServiceId::Https,
    ];

    /// The key used in settings and on the command line (`services.<key>.port`, `--listen <key>=…`).
    pub fn key(self) -> &'static str {
        match self {
            ServiceId::Smtp => "smtp",
            ServiceId::Submission => "submission",
            ServiceId::Smtps => "smtps",
            ServiceId::Pop3 => "pop3",
            ServiceId::Pop3s => "pop3s",
            ServiceId::Imap => "imap",
            ServiceId::Imaps => "imaps",
            ServiceId::Http => "http",
            ServiceId::Https => "https",
        }
    }

    pub fn from_key(key: &str) -> Option<ServiceId> {
        ServiceId::ALL.into_iter().find(|s| s.key().eq_ignore_ascii_case(key))
    }

    /// The name the admin sees.
    pub fn display_name(self) -> &'static str {
        match self {
            ServiceId::Smtp => "SMTP",
            ServiceId::Submission => "SMTP Submission",
            ServiceId::Smtps => "SMTPS",
            ServiceId::Pop3 => "POP3",
            ServiceId::Pop3s => "POP3S",
            ServiceId::Imap => "IMAP4",
            ServiceId::Imaps => "IMAPS",
            ServiceId::Http => "HTTP",
            ServiceId::Https => "HTTPS",
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            ServiceId::Smtp | ServiceId::Submission | ServiceId::Smtps => Protocol::Smtp,
            ServiceId::Pop3 | ServiceId::Pop3s => Protocol::Pop3,
            ServiceId::Imap | ServiceId::Imaps => Protocol::Imap,
            ServiceId::Http | ServiceId::Https => Protocol::Http,
        }
    }

    pub fn default_settings(self) -> ServiceSettings {
        let (port, tls_mode) = match self {
            ServiceId::Smtp => (25, TlsMode::Starttls),
            ServiceId::Submission => (587, TlsMode::Starttls),
            ServiceId::Smtps => (465, TlsMode::Implicit),
            ServiceId::Pop3 => (110, TlsMode::Starttls),
            ServiceId::Pop3s => (995, TlsMode::Implicit),
            ServiceId::Imap => (143, TlsMode::Starttls),
            ServiceId::Imaps => (993, TlsMode::Implicit),
            ServiceId::Http => (80, TlsMode::None),
            ServiceId::Https => (443, TlsMode::Implicit),
        };
        // The web service is off until the first-run wizard or the admin turns it on: ports 80 and 443
        // are often some other program's.
        let enabled = self.protocol() != Protocol::Http;
        ServiceSettings { enabled, bind_address: "0.0.0.0".into(), port, tls_mode }
    }
}

/// How a service uses TLS: not at all, on request (STARTTLS/STLS), or from the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Implicit,
}

impl TlsMode {
    pub fn label(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Starttls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
        }
    }
}

/// One service's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ServiceSettings {
    pub enabled: bool,
    pub bind_address: String,
    pub port: u16,
    pub tls_mode: TlsMode,
}

impl ServiceSettings {
    pub fn bind_ip(&self) -> Option<IpAddr> {
        self.bind_address.trim().parse().ok()
    }
}

/// All services, one field each so that settings keys read `services.pop3.port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicesSettings {
    pub smtp: ServiceSettings,
    pub submission: ServiceSettings,
    pub smtps: ServiceSettings,
    pub pop3: ServiceSettings,
    pub pop3s: ServiceSettings,
    pub imap: ServiceSettings,
    pub imaps: ServiceSettings,
    pub http: ServiceSettings,
    pub https: ServiceSettings,
}

impl Default for ServicesSettings {
    fn default() -> Self {
        Self {
            smtp: ServiceId::Smtp.default_settings(),
            submission: ServiceId::Submission.default_settings(),
            smtps: ServiceId::Smtps.default_settings(),
            pop3: ServiceId::Pop3.default_settings(),
            pop3s: ServiceId::Pop3s.default_settings(),
            imap: ServiceId::Imap.default_settings(),
            imaps: ServiceId::Imaps.default_settings(),
            http: ServiceId::Http.default_settings(),
            https: ServiceId::Https.default_settings(),
        }
    }
}

/// `get(id)` and `get_mut(id)` for a struct with one field per service (`smtp`, `submission`, …).
macro_rules! per_service {
    ($owner:ty, $item:ty) => {
        impl $owner {
            pub fn get(&self, id: $crate::settings::ServiceId) -> &$item {
                use $crate::settings::ServiceId as S;
                match id {
                    S::Smtp => &self.smtp,
                    S::Submission => &self.submission,
                    S::Smtps => &self.smtps,
                    S::Pop3 => &self.pop3,
                    S::Pop3s => &self.pop3s,
                    S::Imap => &self.imap,
                    S::Imaps => &self.imaps,
                    S::Http => &self.http,
                    S::Https => &self.https,
                }
            }

            pub fn get_mut(&mut self, id: $crate::settings::ServiceId) -> &mut $item {
                use $crate::settings::ServiceId as S;
                match id {
                    S::Smtp => &mut self.smtp,
                    S::Submission => &mut self.submission,
                    S::Smtps => &mut self.smtps,
                    S::Pop3 => &mut self.pop3,
                    S::Pop3s => &mut self.pop3s,
                    S::Imap => &mut self.imap,
                    S::Imaps => &mut self.imaps,
                    S::Http => &mut self.http,
                    S::Https => &mut self.https,
                }
            }
        }
    };
}
pub(crate) use per_service;

per_service!(ServicesSettings, ServiceSettings);

impl ServicesSettings {
    /// Every bad field: unparsable bind addresses, port 0, and two enabled services on one port.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        for id in ServiceId::ALL {
            let s = self.get(id);
            let field = |name: &str| format!("services.{}.{name}", id.key());
            if s.bind_ip().is_none() {
                errors.push(FieldError::new(
                    field("bind_address"),
                    format!("'{}' is not an IP address (use 0.0.0.0 for every address)", s.bind_address),
                ));
            }
            if s.port == 0 {
                errors.push(FieldError::new(field("port"), "the port must be between 1 and 65535"));
            }
            if id.protocol() == Protocol::Http && s.tls_mode == TlsMode::Starttls {
                errors.push(FieldError::new(field("tls_mode"), "a web service has no STARTTLS: choose none or implicit TLS"));
            }
        }
        self.validate_port_clashes(errors);
    }

    /// Two enabled services on one port: both fields are marked, since either may be the one to change.
    fn validate_port_clashes(&self, errors: &mut Vec<FieldError>) {
        let enabled: Vec<(ServiceId, &ServiceSettings)> =
            ServiceId::ALL.into_iter().map(|id| (id, self.get(id))).filter(|(_, s)| s.enabled).collect();
        for (id, s) in &enabled {
            let others: Vec<&str> = enabled
                .iter()
                .filter(|(other, o)| other != id && o.port == s.port && addresses_overlap(o.bind_ip(), s.bind_ip()))
                .map(|(other, _)| other.display_name())
                .collect();
            if !others.is_empty() {
                errors.push(FieldError::new(
                    format!("services.{}.port", id.key()),
                    format!("port {} is also used by {}", s.port, others.join(" and ")),
                ));
            }
        }
    }
}

fn addresses_overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
        _ => false,
    }
}
