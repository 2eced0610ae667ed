//! What a person types into a mail program: the server's name, and for IMAP, POP3 and SMTP the port and
//! the security of each service that is on. The autoconfig documents, the Users window's "Mail program
//! settings" and the first-run wizard's last page all read this one answer.
//!
//! Only encrypted services are offered (implicit TLS first, as RFC 8314 prefers, then STARTTLS): a mail
//! program set up by a document must not send its password in the clear. Ports are the listening ones
//! (a `--listen` override included) as the service registry knows them.

use serde::Serialize;
use ts_rs::TS;

use crate::net::{ServiceState, ServiceStatus};
use crate::settings::{ServiceId, Settings, TlsMode};

/// How a mail program protects one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "EndpointSecurity")]
pub enum Security {
    /// TLS from the first byte ("SSL/TLS" in most mail programs).
    Tls,
    /// Plain at first, then STARTTLS.
    Starttls,
}

impl Security {
    /// As mail programs label it.
    pub fn label(self) -> &'static str {
        match self {
            Security::Tls => "SSL/TLS",
            Security::Starttls => "STARTTLS",
        }
    }
}

/// One way in: IMAP, POP3 or SMTP at a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Endpoint {
    /// "IMAP", "POP3" or "SMTP".
    pub protocol: String,
    pub service: ServiceId,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The service is listening now (an enabled service may be paused or failed).
    pub running: bool,
}

/// Everything one person needs to set up a mail program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MailProgramSettings {
    /// The address the account is for (`name@domain`).
    pub address: String,
    /// What the mail program logs in with (the user's name).
    pub login: String,
    pub real_name: String,
    /// IMAP ways first, then POP3; each in order of preference.
    pub incoming: Vec<Endpoint>,
    pub outgoing: Vec<Endpoint>,
    /// Where a mail program can fetch these settings itself, when the web service is on.
    pub autoconfig_urls: Vec<String>,
}

/// The services a mail program may use, in order of preference.
const IMAP: [ServiceId; 2] = [ServiceId::Imaps, ServiceId::Imap];
const POP3: [ServiceId; 2] = [ServiceId::Pop3s, ServiceId::Pop3];
const SMTP: [ServiceId; 2] = [ServiceId::Submission, ServiceId::Smtps];

/// The encrypted, enabled services among `ids`, preferred first.
fn endpoints(ids: &[ServiceId], label: &str, host: &str, settings: &Settings, status: &[ServiceStatus]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = ids
        .iter()
        .filter(|id| settings.services.get(**id).enabled)
        .filter_map(|id| {
            let live = status.iter().find(|s| s.id == *id);
            let (port, mode) = match live {
                Some(s) => (s.port, s.tls_mode),
                None => (settings.services.get(*id).port, settings.services.get(*id).tls_mode),
            };
            let security = match mode {
                TlsMode::Implicit => Security::Tls,
                TlsMode::Starttls => Security::Starttls,
                TlsMode::None => return None,
            };
            let running = live.is_some_and(|s| s.state == ServiceState::Running);
            Some(Endpoint { protocol: label.to_string(), service: *id, host: host.to_string(), port, security, running })
        })
        .collect();
    // Submission with implicit TLS beats 587 with STARTTLS as it does for IMAP and POP3 (RFC 8314).
    out.sort_by_key(|e| e.security != Security::Tls);
    out
}

/// The incoming (IMAP, then POP3) and outgoing (SMTP) ways in, for every account alike.
pub fn servers(settings: &Settings, status: &[ServiceStatus]) -> (Vec<Endpoint>, Vec<Endpoint>) {
    let host = settings.general.server_name.as_str();
    let mut incoming = endpoints(&IMAP, "IMAP", host, settings, status);
    incoming.extend(endpoints(&POP3, "POP3", host, settings, status));
    (incoming, endpoints(&SMTP, "SMTP", host, settings, status))
}

/// The settings for `login` (a user's name) at `address`.
pub fn for_user(settings: &Settings, status: &[ServiceStatus], address: &str, login: &str, real_name: &str) -> MailProgramSettings {
    let (incoming, outgoing) = servers(settings, status);
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    let mut autoconfig_urls = Vec::new();
    for (id, scheme) in [(ServiceId::Https, "https"), (ServiceId::Http, "http")] {
        if settings.services.get(id).enabled {
            autoconfig_urls.push(format!("{scheme}://autoconfig.{domain}/mail/config-v1.1.xml"));
        }
    }
    MailProgramSettings {
        address: address.to_string(),
        login: login.to_string(),
        real_name: real_name.to_string(),
        incoming,
        outgoing,
        autoconfig_urls,
    }
}

/// The settings for the user called `name`, at the first local domain (or this server's name when
/// there is none yet).
pub fn for_named_user(store: &crate::store::Store, settings: &Settings, status: &[ServiceStatus], name: &str) -> crate::error::ApiResult<MailProgramSettings> {
    use rusqlite::OptionalExtension;
    let wanted = name.to_string();
    let found = store.read(move |c| {
        let user = c
            .query_row("SELECT name, real_name FROM users WHERE name = ?1 AND deleted_at IS NULL", [&wanted], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .optional()?;
        let domain: Option<String> = c.query_row("SELECT name FROM domains ORDER BY name LIMIT 1", [], |r| r.get(0)).optional()?;
        Ok((user, domain))
    })?;
    let (Some((name, real_name)), domain) = found else {
        return Err(crate::error::ApiError::not_found(format!("there is no user called {name}")));
    };
    let domain = domain.unwrap_or_else(|| settings.general.server_name.clone());
    Ok(for_user(settings, status, &format!("{name}@{domain}"), &name, &real_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: ServiceId, port: u16, state: ServiceState, settings: &Settings) -> ServiceStatus {
        let mut s = ServiceStatus::idle(id, state, settings.services.get(id));
        s.port = port;
        s
    }

    #[test]
    fn encrypted_services_only_with_implicit_tls_first_and_live_ports() {
        let mut settings = Settings::default();
        settings.general.server_name = "mail.example.com".into();
        settings.services.pop3s.enabled = false;
        settings.services.imap.tls_mode = TlsMode::None;
        let live = vec![status(ServiceId::Imaps, 10993, ServiceState::Running, &settings), status(ServiceId::Submission, 10587, ServiceState::Failed, &settings)];
        let (incoming, outgoing) = servers(&settings, &live);
        let got: Vec<(String, u16, Security, bool)> = incoming.iter().chain(&outgoing).map(|e| (e.protocol.clone(), e.port, e.security, e.running)).collect();
        assert_eq!(
            got,
            vec![
                ("IMAP".into(), 10993, Security::Tls, true),
                ("POP3".into(), 110, Security::Starttls, false),
                ("SMTP".into(), 465, Security::Tls, false),
                ("SMTP".into(), 10587, Security::Starttls, false),
            ],
            "IMAP without TLS and the disabled POP3S are left out; ports come from the registry"
        );
        assert!(incoming.iter().all(|e| e.host == "mail.example.com"));
    }
}
