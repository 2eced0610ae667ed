//! Sender authentication of mail from strangers, at SMTP time before the 250: SPF of the HELO name and of the
//! MAIL FROM (RFC 7208), DKIM of every signature (RFC 6376; at most [`MAX_SIGNATURES`]), DMARC (RFC 7489:
//! alignment, p=, sp=, pct=), ARC (RFC 8617) where a message carries a chain, and iprev (the client's
//! address has a name pointing back to it). The protocols are
//! mail-auth's; DNS goes through a hickory resolver that follows `outbound.dns_server`, with bounded caches of
//! what it said ([`cache`]), and the whole check has a deadline ([`DEADLINE`]): slow DNS delays a message,
//! never holds the session.
//!
//! The outcome is an `Authentication-Results:` header (RFC 8601) for the message and a [`Decision`]: DMARC
//! failing under p=reject is refused with 550 5.7.1 before the 250 (never accepted and bounced: that would be
//! backscatter); under p=quarantine the message is marked as spam. Header fields claiming to be our own
//! results, written by someone else, are removed ([`strip_forged_results`]).

pub mod cache;
pub mod dkim;
pub mod records;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, IprevResult, MessageAuthenticator, Parameters};

use crate::settings::Settings;

/// DKIM signatures (and ARC sets) verified per message; more are dropped before parsing, since each may ask
/// for a DNS lookup and a hash of the body.
pub const MAX_SIGNATURES: usize = 10;
/// The longest the checks of one message may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Who handed us the message.
pub struct Inbound<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// MAIL FROM; empty for the null sender.
    pub sender: &'a str,
}

/// What the checks lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept,
    /// Deliver, marked as spam (why).
    Spam(String),
    /// Refuse with 550 5.7.1 and this text.
    Reject(String),
}

/// What sender authentication found, as the content filter scores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFacts {
    /// The blocklists that list the client's address, with their points.
    pub listed: Vec<(String, u32)>,
    /// The allowlists that list it (their points are taken off).
    pub allowed: Vec<(String, u32)>,
    /// The domain blocklists that list a domain of the message (its links, its sender).
    pub domains_listed: Vec<(String, u32)>,
    /// "pass", "fail", "softfail", ... of the MAIL FROM; None when not checked.
    pub spf: Option<String>,
    /// A DKIM signature was there and did not verify.
    pub dkim_bad: bool,
    pub dmarc_failed: bool,
    /// The client's address has no name pointing back to it (iprev fail or permerror).
    pub iprev_failed: bool,
    /// The client's name, when its address has one that points back to it (iprev pass).
    pub client_name: Option<String>,
    /// The HELO name is not a domain name with a dot (nor an address literal).
    pub helo_bad: bool,
}

/// The checks' results for one message.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The whole `Authentication-Results:` field, CRLF-terminated.
    pub header: String,
    pub decision: Decision,
    /// `spf=pass dkim=pass dmarc=pass`, for the log.
    pub summary: String,
    pub facts: AuthFacts,
}

/// Shared by every SMTP session: the resolver (made again when `outbound.dns_server` changes) and the caches.
#[derive(Default)]
pub struct Authenticator {
    resolver: Mutex<Option<(Option<SocketAddr>, Arc<MessageAuthenticator>)>>,
    caches: cache::Caches,
}

impl Authenticator {
    fn resolver(&self, settings: &Settings) -> Result<Arc<MessageAuthenticator>, String> {
        let server = settings.outbound.dns_server_address();
        let mut slot = self.resolver.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((for_server, r)) = slot.as_ref() {
            if *for_server == server {
                return Ok(r.clone());
            }
        }
        let made = match server {
            Some(address) => {
                let connection = |mut c: ConnectionConfig| {
                    c.port = address.port();
                    c
                };
                let name_server = NameServerConfig::new(address.ip(), true, vec![connection(ConnectionConfig::udp()), connection(ConnectionConfig::tcp())]);
                // The admin named the server: every answer comes from it, none from /etc/hosts.
                let mut options = ResolverOpts::default();
                options.use_hosts_file = ResolveHosts::Never;
                MessageAuthenticator::new(ResolverConfig::from_name_servers(vec![name_server]), options)
            }
            None => MessageAuthenticator::new_system_conf(),
        }
        .map_err(|e| format!("no DNS resolver: {e}"))?;
        let made = Arc::new(made);
        *slot = Some((server, made.clone()));
        Ok(made)
    }

    /// Runs the checks the settings ask for on `message` (as received, before our own headers).
    pub async fn check(&self, settings: &Settings, server_name: &str, who: &Inbound<'_>, message: &[u8]) -> Checked {
        let resolver = match self.resolver(settings) {
            Ok(r) => r,
            Err(e) => return unchecked(server_name, &e),
        };
        match tokio::time::timeout(DEADLINE, self.run(&resolver, settings, server_name, who, message)).await {
            Ok(checked) => checked,
            Err(_) => unchecked(server_name, "the DNS checks took too long"),
        }
    }

    async fn run(&self, resolver: &MessageAuthenticator, settings: &Settings, server_name: &str, who: &Inbound<'_>, message: &[u8]) -> Checked {
        let spam = &settings.spam;
        let bounded = bound_signatures(message);
        let raw = bounded.as_deref().unwrap_or(message);
        let Some(parsed) = AuthenticatedMessage::parse(raw) else {
            return unchecked(server_name, "the message's header could not be read");
        };
        let helo = who.helo;
        // Each protocol's parameters, with the caches.
        macro_rules! params {
            ($p:expr) => {
                Parameters::new($p)
                    .with_txt_cache(&self.caches.txt)
                    .with_mx_cache(&self.caches.mx)
                    .with_ipv4_cache(&self.caches.ipv4)
                    .with_ipv6_cache(&self.caches.ipv6)
                    .with_ptr_cache(&self.caches.ptr)
            };
        }
        let mut results = AuthenticationResults::new(server_name);
        let mut summary = Vec::new();
        let mut facts = AuthFacts::default();
        // SPF: the HELO name, then the MAIL FROM (the null sender's identity is the HELO name, RFC 7208 2.4).
        // DMARC needs only the MAIL FROM's result; the HELO's is asked when SPF is shown.
        let spf_from = if spam.spf || spam.dmarc {
            Some(if who.sender.is_empty() {
                resolver.verify_spf(params!(SpfParameters::verify_ehlo(who.ip, helo, server_name))).await
            } else {
                resolver.verify_spf(params!(SpfParameters::verify_mail_from(who.ip, helo, server_name, who.sender))).await
            })
        } else {
            None
        };
        let spf_helo = match &spf_from {
            Some(f) if spam.spf && who.sender.is_empty() => Some(f.clone()),
            Some(_) if spam.spf => Some(resolver.verify_spf(params!(SpfParameters::verify_ehlo(who.ip, helo, server_name))).await),
            _ => None,
        };
        if spam.spf {
            if let (Some(h), Some(f)) = (&spf_helo, &spf_from) {
                results = results.with_spf_ehlo_result(h, who.ip, helo).with_spf_mailfrom_result(f, who.ip, who.sender, helo);
                summary.push(format!("spf={}", spf_word(f.result())));
                facts.spf = Some(spf_word(f.result()).to_string());
            }
        }
        let dkim = if spam.dkim || spam.dmarc { resolver.verify_dkim(params!(&parsed)).await } else { Vec::new() };
        let header_from = parsed.from.first().map(String::as_str).unwrap_or("");
        if spam.dkim {
            results = results.with_dkim_results(&dkim, header_from);
            let word = if dkim.is_empty() { "none" } else if dkim.iter().any(|d| d.result() == &DkimResult::Pass) { "pass" } else { dkim_word(dkim[0].result()) };
            summary.push(format!("dkim={word}"));
            facts.dkim_bad = !dkim.is_empty() && word != "pass" && dkim.iter().any(|d| matches!(d.result(), DkimResult::Fail(_) | DkimResult::Neutral(_)));
        }
        if spam.arc && !parsed.as_headers.is_empty() {
            let arc = resolver.verify_arc(params!(&parsed)).await;
            results = results.with_arc_result(&arc, who.ip);
            summary.push(format!("arc={}", dkim_word(arc.result())));
        }
        if spam.iprev {
            let iprev = resolver.verify_iprev(params!(who.ip)).await;
            results = results.with_iprev_result(&iprev, who.ip);
            let word = match iprev.result() {
                IprevResult::Pass => "pass",
                IprevResult::Fail(_) => "fail",
                IprevResult::TempError(_) => "temperror",
                IprevResult::PermError(_) => "permerror",
                IprevResult::None => "none",
            };
            facts.iprev_failed = matches!(word, "fail" | "permerror");
            if word == "pass" {
                facts.client_name = iprev.ptr.as_ref().and_then(|names| names.first()).map(|n| n.trim_end_matches('.').to_string());
            }
            summary.push(format!("iprev={word}"));
        }
        facts.helo_bad = !(helo.contains('.') || (helo.starts_with('[') && helo.ends_with(']')));
        let mut decision = Decision::Accept;
        if spam.dmarc {
            if let Some(spf_from) = &spf_from {
                let mail_from_domain = who.sender.rsplit_once('@').map(|(_, d)| d).unwrap_or(helo);
                let dmarc = resolver
                    .verify_dmarc(params!(DmarcParameters { message: &parsed, dkim_output: &dkim, dkim2_output: None, rfc5321_mail_from_domain: mail_from_domain, spf_output: spf_from }))
                    .await;
                results = results.with_dmarc_result(&dmarc);
                let failed = matches!(dmarc.result(), DmarcResult::Fail(_));
                summary.push(format!("dmarc={}", if failed { "fail" } else { dmarc_word(&dmarc.result()) }));
                facts.dmarc_failed = failed;
                if failed {
                    let policy = sampled(resolver, dmarc.domain(), dmarc.policy()).await;
                    decision = match policy {
                        Policy::Reject if spam.dmarc_reject => Decision::Reject(format!(
                            "the domain of the From: address ({}) asks to refuse mail that fails its DMARC checks (SPF and DKIM do not align)",
                            dmarc.domain()
                        )),
                        Policy::Reject | Policy::Quarantine => Decision::Spam(format!("DMARC {} of {}", policy_word(policy), dmarc.domain())),
                        _ => Decision::Accept,
                    };
                }
            }
        }
        Checked { header: field(&results), decision, summary: summary.join(" "), facts }
    }
}

impl Authenticator {
    /// The configured blocklists that list `ip` (an A record in 127.0.0.0/8 at the reversed address under
    /// the zone; 127.255.255.x are the lists' own error answers, not listings). All zones are asked at once,
    /// within [`DEADLINE`].
    pub async fn blocklisted(&self, settings: &Settings, ip: IpAddr) -> Vec<(String, u32)> {
        self.listed_in(settings, &settings.spam.blocklists, &[reverse_name(ip)]).await
    }

    /// The allowlists (`spam.allowlists`) listing the client's address.
    pub async fn allowlisted(&self, settings: &Settings, ip: IpAddr) -> Vec<(String, u32)> {
        self.listed_in(settings, &settings.spam.allowlists, &[reverse_name(ip)]).await
    }

    /// The domain blocklists (`spam.domain_blocklists`) listing any of `domains` (at most
    /// [`MAX_LISTED_DOMAINS`] are asked about), each zone once.
    pub async fn domains_blocklisted(&self, settings: &Settings, domains: &[String]) -> Vec<(String, u32)> {
        let names: Vec<String> = domains.iter().take(MAX_LISTED_DOMAINS).map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect();
        let mut found = self.listed_in(settings, &settings.spam.domain_blocklists, &names).await;
        found.dedup_by(|a, b| a.0 == b.0);
        found
    }

    /// Looks every name up in every zone at once (`NAME.ZONE` A records); the zones that list any, with
    /// their points. A 127.255.255.x answer is the list's error code (a refused resolver, a quota), not a
    /// listing; zones that have not answered by the deadline count as not listing.
    async fn listed_in(&self, settings: &Settings, lists: &[crate::settings::Blocklist], names: &[String]) -> Vec<(String, u32)> {
        if lists.is_empty() || names.is_empty() {
            return Vec::new();
        }
        let Ok(resolver) = self.resolver(settings) else { return Vec::new() };
        let mut asks = tokio::task::JoinSet::new();
        for b in lists {
            for name in names {
                let query = format!("{name}.{}.", b.zone.trim_end_matches('.'));
                let (resolver, zone, points) = (resolver.clone(), b.zone.clone(), b.points);
                asks.spawn(async move {
                    let Ok(lookup) = resolver.resolver().ipv4_lookup(query).await else { return None };
                    let listed = lookup.answers().iter().any(|r| match &r.data {
                        RData::A(a) => a.0.octets()[0] == 127 && a.0.octets()[1..3] != [255, 255],
                        _ => false,
                    });
                    listed.then_some((zone, points))
                });
            }
        }
        let mut found = Vec::new();
        let collect = async {
            while let Some(answer) = asks.join_next().await {
                if let Ok(Some(listing)) = answer {
                    found.push(listing);
                }
            }
        };
        let _ = tokio::time::timeout(DEADLINE, collect).await;
        found.sort();
        found
    }
}

/// Domains of one message looked up in the domain blocklists.
pub const MAX_LISTED_DOMAINS: usize = 20;

/// An address as blocklists spell it: IPv4 octets reversed, IPv6 nibbles reversed.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => v6.octets().iter().rev().flat_map(|b| [b & 0x0f, b >> 4]).map(|n| format!("{n:x}")).collect::<Vec<_>>().join("."),
    }
}

/// The header when nothing could be checked (RFC 8601 2.2: "none" with a reason).
fn unchecked(server_name: &str, why: &str) -> Checked {
    let reason = why.replace(['(', ')', '\r', '\n'], " ");
    Checked { header: format!("Authentication-Results: {server_name}; none ({reason})\r\n"), decision: Decision::Accept, summary: format!("not checked: {why}"), facts: AuthFacts::default() }
}

fn field(results: &AuthenticationResults<'_>) -> String {
    use mail_auth::common::headers::HeaderWriter;
    results.to_header()
}

/// DMARC's pct= (RFC 7489 6.6.4): a failing message outside the percentage gets the next weaker policy.
/// The record is read again for it (mail-auth follows the successor draft, which dropped pct).
async fn sampled(resolver: &MessageAuthenticator, domain: &str, policy: Policy) -> Policy {
    if !matches!(policy, Policy::Reject | Policy::Quarantine) {
        return policy;
    }
    let Some(pct) = dmarc_pct(resolver, domain).await else { return policy };
    if pct >= 100 || roll() < pct {
        return policy;
    }
    match policy {
        Policy::Reject => Policy::Quarantine,
        _ => Policy::None,
    }
}

/// pct= of the DMARC record at `domain` or the nearest parent that has one.
async fn dmarc_pct(resolver: &MessageAuthenticator, domain: &str) -> Option<u32> {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    for start in 0..labels.len().saturating_sub(1) {
        let name = format!("_dmarc.{}.", labels[start..].join("."));
        let Ok(texts) = records_at(resolver, &name, RecordType::TXT).await else { continue };
        if let Some(text) = texts.iter().find(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1")) {
            return Some(parse_pct(text).unwrap_or(100));
        }
    }
    None
}

/// The records of `kind` (TXT or MX) at `name` as text: a TXT record's strings joined (a long record is
/// split into 255-byte strings), an MX as "preference exchange.". None found is an empty list.
pub(crate) async fn records_at(resolver: &MessageAuthenticator, name: &str, kind: RecordType) -> Result<Vec<String>, String> {
    let lookup = match resolver.resolver().lookup(name, kind).await {
        Ok(l) => l,
        Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<String>()),
            RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
            _ => None,
        })
        .collect())
}

fn parse_pct(record: &str) -> Option<u32> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("pct")).then(|| v.trim().parse::<u32>().ok()).flatten().map(|p| p.min(100))
    })
}

/// A number in 0..100 for sampling.
fn roll() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos / 7) % 100
}

/// A copy of the message without the DKIM-Signature and ARC fields beyond [`MAX_SIGNATURES`] of each kind,
/// or None when it has no more than that.
pub fn bound_signatures(message: &[u8]) -> Option<Vec<u8>> {
    const KINDS: [&[u8]; 4] = [b"dkim-signature:", b"arc-seal:", b"arc-message-signature:", b"arc-authentication-results:"];
    let header_end = find_header_end(message);
    let fields = header_fields(&message[..header_end]);
    let mut counts = [0usize; 4];
    let mut drop = Vec::new();
    for (i, (start, end)) in fields.iter().enumerate() {
        let line = &message[*start..*end];
        if let Some(kind) = KINDS.iter().position(|k| starts_with_ignore_case(line, k)) {
            counts[kind] += 1;
            if counts[kind] > MAX_SIGNATURES {
                drop.push(i);
            }
        }
    }
    if drop.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    for (i, (start, end)) in fields.iter().enumerate() {
        if !drop.contains(&i) {
            out.extend_from_slice(&message[*start..*end]);
        }
    }
    out.extend_from_slice(&message[header_end..]);
    Some(out)
}

/// Removes the fields only this server may write: `Authentication-Results:` claiming `server_name` as their
/// author (RFC 8601 5) and the content filter's `X-Spam-Score/Status/Flag:` — a forged one could make a mail
/// program trust a message, or its filter let it through. Returns the message as is when it has none.
pub fn strip_forged_results(message: Vec<u8>, server_name: &str) -> Vec<u8> {
    let header_end = find_header_end(&message);
    let fields = header_fields(&message[..header_end]);
    let forged = |line: &[u8]| {
        if [&b"x-spam-score:"[..], b"x-spam-status:", b"x-spam-flag:"].iter().any(|n| starts_with_ignore_case(line, n)) {
            return true;
        }
        let name = b"authentication-results:";
        if !starts_with_ignore_case(line, name) {
            return false;
        }
        let value = String::from_utf8_lossy(&line[name.len()..]);
        let id = value.trim_start().split([';', ' ', '\t', '\r', '\n']).next().unwrap_or("");
        id.eq_ignore_ascii_case(server_name)
    };
    if !fields.iter().any(|(s, e)| forged(&message[*s..*e])) {
        return message;
    }
    let mut out = Vec::with_capacity(message.len());
    for (s, e) in &fields {
        if !forged(&message[*s..*e]) {
            out.extend_from_slice(&message[*s..*e]);
        }
    }
    out.extend_from_slice(&message[header_end..]);
    out
}

/// Where the header ends: just after the empty line, or the whole message when it has no body.
pub(crate) fn find_header_end(message: &[u8]) -> usize {
    if message.starts_with(b"\r\n") {
        return 0;
    }
    message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len())
}

/// The header's fields as byte ranges, each with its continuation lines and line end.
fn header_fields(header: &[u8]) -> Vec<(usize, usize)> {
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < header.len() {
        let end = header[at..].windows(2).position(|w| w == b"\r\n").map(|p| at + p + 2).unwrap_or(header.len());
        let continuation = matches!(header[at], b' ' | b'\t');
        match fields.last_mut() {
            Some(last) if continuation => last.1 = end,
            _ => fields.push((at, end)),
        }
        at = end;
    }
    fields
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn spf_word(r: mail_auth::SpfResult) -> &'static str {
    use mail_auth::SpfResult::*;
    match r {
        Pass => "pass",
        Fail => "fail",
        SoftFail => "softfail",
        Neutral => "neutral",
        TempError => "temperror",
        PermError => "permerror",
        None => "none",
    }
}

fn dkim_word(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

fn dmarc_word(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

fn policy_word(p: Policy) -> &'static str {
    match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_ten_signatures_are_cut_before_parsing_and_folded_fields_stay_whole() {
        let mut m = String::new();
        for i in 0..25 {
            m.push_str(&format!("DKIM-Signature: v=1; d=x{i}.example;\r\n\tb=abc\r\n"));
        }
        m.push_str("From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n");
        let cut = String::from_utf8(bound_signatures(m.as_bytes()).unwrap()).unwrap();
        assert_eq!(cut.matches("DKIM-Signature:").count(), MAX_SIGNATURES);
        assert_eq!(cut.matches("\tb=abc\r\n").count(), MAX_SIGNATURES, "continuation lines go with their field");
        assert!(cut.ends_with("From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"));
        assert!(bound_signatures(b"From: a@b.example\r\n\r\nx\r\n").is_none());
    }

    #[test]
    fn only_results_claiming_our_name_are_removed() {
        let m = b"Authentication-Results: mail.office.test; spf=pass\r\n\tdkim=pass\r\nX-Spam-Status: No, score=0\r\nAuthentication-Results: mx.google.com; spf=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mail.office.test; in the body\r\n".to_vec();
        let out = String::from_utf8(strip_forged_results(m, "MAIL.office.test")).unwrap();
        assert_eq!(out, "Authentication-Results: mx.google.com; spf=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mail.office.test; in the body\r\n");
    }

    #[test]
    fn addresses_are_reversed_as_blocklists_spell_them() {
        assert_eq!(reverse_name("192.0.2.99".parse().unwrap()), "99.2.0.192");
        assert_eq!(reverse_name("2001:db8::1".parse().unwrap()), "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
    }

    #[test]
    fn pct_is_read_from_the_record() {
        assert_eq!(parse_pct("v=DMARC1; p=reject; pct=25"), Some(25));
        assert_eq!(parse_pct("v=DMARC1; p=reject"), None);
        assert_eq!(parse_pct("v=DMARC1; PCT = 400"), Some(100));
    }
}
