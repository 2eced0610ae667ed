//! The first-run wizard's engine side: what the admin answers on each page is a [`SetupPlan`], checked
//! page by page ([`check`]) and applied only at the end ([`Engine::finish_setup`], in engine.rs), so
//! that Cancel anywhere leaves the data folder as it was. Nothing here is stored between pages: Back
//! keeps what was typed because the window keeps the plan.
//!
//! The pages and the fields each owns (field names as in the errors):
//! - `domains`: `domains`, `server_name`;
//! - `users`: `users.N.name`, `users.N.password`, `users.N.real_name`;
//! - `sending`: `smart_host`, `smart_host_port`, `smart_host_username`, `smart_host_password`;
//! - `certificate`: `cert_file`, `key_file`;
//! - `services`: `services`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::FieldError;
use crate::settings::{OutboundTls, ServiceId, Settings};
use crate::users::UserForm;

/// One of the first users.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SetupUser {
    pub name: String,
    pub real_name: String,
    pub password: String,
}

/// Everything the wizard asks, as typed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SetupPlan {
    pub domains: Vec<String>,
    pub server_name: String,
    pub users: Vec<SetupUser>,
    /// Empty: mail goes straight to each recipient's server.
    pub smart_host: String,
    pub smart_host_port: u16,
    pub smart_host_tls: OutboundTls,
    pub smart_host_username: String,
    pub smart_host_password: String,
    /// Check the smart host's certificate; off only for a server on the office's own network, where the
    /// login may then also go without a checked certificate (`outbound.allow_plaintext_auth`).
    pub smart_host_verify_certificate: bool,
    /// Both empty: the self-signed certificate Postroom made.
    pub cert_file: String,
    pub key_file: String,
    /// The services to turn on; the others are turned off.
    pub services: Vec<ServiceId>,
}

// Debug without the passwords, so that no log line can ever carry one.
impl std::fmt::Debug for SetupUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupUser").field("name", &self.name).field("real_name", &self.real_name).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SetupPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupPlan")
            .field("domains", &self.domains)
            .field("server_name", &self.server_name)
            .field("users", &self.users)
            .field("smart_host", &self.smart_host)
            .field("smart_host_port", &self.smart_host_port)
            .field("smart_host_username", &self.smart_host_username)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

/// The wizard's pages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum SetupPage {
    Domains,
    Users,
    Sending,
    Certificate,
    Services,
}

impl SetupPage {
    pub const ALL: [SetupPage; 5] = [SetupPage::Domains, SetupPage::Users, SetupPage::Sending, SetupPage::Certificate, SetupPage::Services];
}

/// What the server is and where it stands when the wizard opens: the plan to start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SetupStart {
    /// No users and no local domains: the wizard opens by itself.
    pub needed: bool,
    pub plan: SetupPlan,
}

/// The plan the wizard starts from: today's settings, no domains or users.
pub fn starting_plan(settings: &Settings) -> SetupPlan {
    let o = &settings.outbound;
    SetupPlan {
        domains: Vec::new(),
        server_name: settings.general.server_name.clone(),
        users: Vec::new(),
        smart_host: o.smart_host.clone(),
        smart_host_port: if o.smart_host.is_empty() { 587 } else { o.smart_host_port },
        smart_host_tls: if o.smart_host.is_empty() { OutboundTls::Required } else { o.tls },
        smart_host_username: o.username.clone(),
        smart_host_password: String::new(),
        smart_host_verify_certificate: o.verify_certificate,
        cert_file: settings.tls.cert_file.clone(),
        key_file: settings.tls.key_file.clone(),
        services: ServiceId::ALL.into_iter().filter(|id| settings.services.get(*id).enabled).collect(),
    }
}

/// The problems on one page (or on every page with `None`), each with its field.
pub fn check(plan: &SetupPlan, page: Option<SetupPage>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for p in SetupPage::ALL {
        if page.is_some_and(|wanted| wanted != p) {
            continue;
        }
        match p {
            SetupPage::Domains => check_domains(plan, &mut errors),
            SetupPage::Users => check_users(plan, &mut errors),
            SetupPage::Sending => check_sending(plan, &mut errors),
            SetupPage::Certificate => check_certificate(plan, &mut errors),
            SetupPage::Services => {
                if !plan.services.iter().any(|s| matches!(s, ServiceId::Smtp | ServiceId::Submission | ServiceId::Smtps)) {
                    errors.push(FieldError::new("services", "turn on at least one SMTP service, or no mail can come in"));
                }
            }
        }
    }
    errors
}

fn check_domains(plan: &SetupPlan, errors: &mut Vec<FieldError>) {
    let mut seen: Vec<String> = Vec::new();
    for d in &plan.domains {
        match crate::names::validate_domain(d) {
            Ok(name) if !name.contains('.') => errors.push(FieldError::new("domains", format!("{name}: a mail domain has a dot, such as example.com"))),
            Ok(name) if seen.contains(&name) => errors.push(FieldError::new("domains", format!("{name} is listed twice"))),
            Ok(name) => seen.push(name),
            Err(e) => errors.push(FieldError::new("domains", e)),
        }
    }
    if plan.domains.is_empty() {
        errors.push(FieldError::new("domains", "enter the domain your office's addresses end with, such as example.com"));
    }
    match crate::names::validate_domain(&plan.server_name) {
        Ok(name) if !name.contains('.') => errors.push(FieldError::new("server_name", "use the full name, such as mail.example.com")),
        Ok(_) => {}
        Err(e) => errors.push(FieldError::new("server_name", format!("{e} (such as mail.example.com)"))),
    }
}

fn check_users(plan: &SetupPlan, errors: &mut Vec<FieldError>) {
    if plan.users.is_empty() {
        errors.push(FieldError::new("users", "add at least one user"));
    }
    for (i, u) in plan.users.iter().enumerate() {
        if let Err(m) = crate::users::check_name(u.name.trim()) {
            errors.push(FieldError::new(format!("users.{i}.name"), m));
        } else if plan.users[..i].iter().any(|earlier| earlier.name.trim().eq_ignore_ascii_case(u.name.trim())) {
            errors.push(FieldError::new(format!("users.{i}.name"), "this name is already in the list"));
        }
        if let Err(m) = crate::users::check_password(&u.password) {
            errors.push(FieldError::new(format!("users.{i}.password"), m));
        }
        if u.real_name.chars().count() > 200 || u.real_name.chars().any(char::is_control) {
            errors.push(FieldError::new(format!("users.{i}.real_name"), "at most 200 characters, on one line"));
        }
    }
}

fn check_sending(plan: &SetupPlan, errors: &mut Vec<FieldError>) {
    if plan.smart_host.trim().is_empty() {
        return;
    }
    let host = plan.smart_host.trim();
    if host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_err() && crate::names::validate_domain(host).is_err() {
        errors.push(FieldError::new("smart_host", "a host name such as smtp.isp.example, or an IP address"));
    }
    if plan.smart_host_port == 0 {
        errors.push(FieldError::new("smart_host_port", "a port from 1 to 65535 (usually 587)"));
    }
    if !plan.smart_host_username.trim().is_empty() && plan.smart_host_password.is_empty() {
        errors.push(FieldError::new("smart_host_password", "the password for this login"));
    }
    if !plan.smart_host_verify_certificate && !on_own_network(host) {
        errors.push(FieldError::new(
            "smart_host_verify_certificate",
            "only a server on your own network may go unchecked: give its address (such as 192.168.1.10), or leave the check on",
        ));
    }
}

/// An address on the office's own network (loopback, private IPv4, unique-local or link-local IPv6).
fn on_own_network(host: &str) -> bool {
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => false,
    }
}

fn check_certificate(plan: &SetupPlan, errors: &mut Vec<FieldError>) {
    let (cert, key) = (plan.cert_file.trim(), plan.key_file.trim());
    if cert.is_empty() && key.is_empty() {
        return;
    }
    if cert.is_empty() {
        errors.push(FieldError::new("cert_file", "the certificate file that goes with the key"));
        return;
    }
    if key.is_empty() {
        errors.push(FieldError::new("key_file", "the private key file that goes with the certificate"));
        return;
    }
    if let Err(e) = crate::certs::load_pair(std::path::Path::new(cert), std::path::Path::new(key)) {
        errors.push(FieldError::new(e.field(), e));
    }
}

/// The users to create, as the directory takes them.
pub fn user_forms(plan: &SetupPlan) -> Vec<UserForm> {
    plan.users
        .iter()
        .map(|u| UserForm { name: u.name.trim().to_string(), real_name: u.real_name.trim().to_string(), enabled: true, aliases: Vec::new(), password: Some(u.password.clone()), bandwidth: 0 })
        .collect()
}

/// The settings the plan changes.
pub fn apply_settings(plan: &SetupPlan, s: &mut Settings) {
    s.general.server_name = crate::names::validate_domain(&plan.server_name).unwrap_or_else(|_| plan.server_name.trim().to_string());
    let o = &mut s.outbound;
    o.smart_host = plan.smart_host.trim().to_string();
    if o.smart_host.is_empty() {
        // Straight to each recipient's server: no login is kept for a smart host no longer used.
        o.username.clear();
        o.password.clear();
        o.allow_plaintext_auth = false;
    } else {
        o.smart_host_port = plan.smart_host_port;
        o.tls = plan.smart_host_tls;
        o.username = plan.smart_host_username.trim().to_string();
        o.password = plan.smart_host_password.clone();
        o.verify_certificate = plan.smart_host_verify_certificate;
        // Not checking the certificate is only allowed for a server on the office's own network (see
        // check_sending): there the login may go without a checked certificate too.
        o.allow_plaintext_auth = !plan.smart_host_verify_certificate && on_own_network(&o.smart_host);
    }
    s.tls.cert_file = plan.cert_file.trim().into();
    s.tls.key_file = plan.key_file.trim().into();
    for id in ServiceId::ALL {
        s.services.get_mut(id).enabled = plan.services.contains(&id);
    }
}

/// What the wizard shows at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SetupDone {
    pub domains: Vec<SetupDomainRecords>,
    pub accounts: Vec<crate::web::account::MailProgramSettings>,
}

/// The records one domain should publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SetupDomainRecords {
    pub domain: String,
    pub records: Vec<crate::auth::records::DnsRecord>,
}

/// What the DNS says of this server's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NameLookup {
    pub name: String,
    /// The addresses it has (empty when it has none or the lookup failed).
    pub addresses: Vec<String>,
    /// Why there are none, in words.
    pub problem: Option<String>,
}

/// Users read from a CSV file for the wizard's list (nothing is added until Finish).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CsvUsers {
    pub users: Vec<SetupUser>,
    pub errors: Vec<crate::users::CsvRowError>,
}

/// Reads a bulk-add CSV file (`name,password,real name`) into the wizard's list.
pub fn read_csv(input: &[u8]) -> CsvUsers {
    let mut errors = Vec::new();
    let users = crate::users::read_csv_rows(input, &mut errors)
        .into_iter()
        .map(|(_, f)| SetupUser { name: f.name, real_name: f.real_name, password: f.password.unwrap_or_default() })
        .collect();
    CsvUsers { users, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SetupPlan {
        let mut p = starting_plan(&Settings::default());
        p.domains = vec!["office.test".into()];
        p.server_name = "mail.office.test".into();
        p.users = vec![SetupUser { name: "ann".into(), real_name: "Ann".into(), password: "ann-secret".into() }];
        p.cert_file = String::new();
        p.key_file = String::new();
        p
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_good_plan_has_no_problems_and_each_page_names_only_its_own_fields() {
        assert!(check(&plan(), None).is_empty(), "{:?}", check(&plan(), None));
        let mut bad = plan();
        bad.domains = vec!["office".into(), "bad domain".into()];
        bad.server_name = "mail".into();
        bad.users.push(SetupUser { name: "Ann".into(), real_name: String::new(), password: "x".into() });
        bad.smart_host = "smtp.isp.test".into();
        bad.smart_host_username = "office".into();
        bad.cert_file = "/nonexistent/cert.pem".into();
        bad.services = vec![ServiceId::Imaps];
        assert_eq!(fields(check(&bad, Some(SetupPage::Domains))), ["domains", "domains", "server_name"]);
        assert_eq!(fields(check(&bad, Some(SetupPage::Users))), ["users.1.name", "users.1.password"]);
        assert_eq!(fields(check(&bad, Some(SetupPage::Sending))), ["smart_host_password"]);
        assert_eq!(fields(check(&bad, Some(SetupPage::Certificate))), ["key_file"]);
        assert_eq!(fields(check(&bad, Some(SetupPage::Services))), ["services"]);
        assert_eq!(check(&bad, None).len(), 8);
    }

    #[test]
    fn an_unchecked_certificate_is_only_for_a_server_on_the_office_network() {
        let mut p = plan();
        p.smart_host = "smtp.isp.test".into();
        p.smart_host_verify_certificate = false;
        assert_eq!(fields(check(&p, Some(SetupPage::Sending))), ["smart_host_verify_certificate"]);
        for own in ["192.168.1.10", "10.0.0.2", "127.0.0.1", "[fd00::25]"] {
            p.smart_host = own.into();
            assert!(check(&p, Some(SetupPage::Sending)).is_empty(), "{own}");
        }
        let mut s = Settings::default();
        apply_settings(&p, &mut s);
        assert!(s.outbound.allow_plaintext_auth && !s.outbound.verify_certificate);
        p.smart_host = String::new();
        apply_settings(&p, &mut s);
        assert!(!s.outbound.allow_plaintext_auth && s.outbound.username.is_empty(), "direct sending keeps no smart host login");
        assert!(!format!("{p:?}").contains("ann-secret"), "no password in Debug");
    }

    #[test]
    fn the_plan_sets_the_server_name_smart_host_and_exactly_the_services_chosen() {
        let mut p = plan();
        p.smart_host = " smtp.isp.test ".into();
        p.smart_host_port = 2525;
        p.smart_host_username = "office".into();
        p.smart_host_password = "isp-secret".into();
        p.services = vec![ServiceId::Smtp, ServiceId::Imaps];
        let mut s = Settings::default();
        apply_settings(&p, &mut s);
        assert_eq!(s.general.server_name, "mail.office.test");
        assert_eq!((s.outbound.smart_host.as_str(), s.outbound.smart_host_port, s.outbound.username.as_str(), s.outbound.password.as_str()), ("smtp.isp.test", 2525, "office", "isp-secret"));
        let on: Vec<ServiceId> = ServiceId::ALL.into_iter().filter(|id| s.services.get(*id).enabled).collect();
        assert_eq!(on, [ServiceId::Smtp, ServiceId::Imaps]);
    }

    #[test]
    fn a_csv_file_fills_the_list_and_names_its_bad_rows() {
        let read = read_csv(b"name,password,real name\nann,ann-secret,Ann Smith\nbob,x\nann,again-secret\ncarl,carl-secret\n");
        let names: Vec<&str> = read.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["ann", "carl"]);
        assert_eq!((read.users[0].password.as_str(), read.users[0].real_name.as_str()), ("ann-secret", "Ann Smith"));
        let lines: Vec<u64> = read.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4], "the short password and the repeated name, by line");
    }
}
