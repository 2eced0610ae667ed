//! The DNS records a local domain should publish (Settings → Domains → domain → DNS records, and
//! `postroomd domain dns NAME`): MX pointing at this server, SPF, the DKIM keys' TXT records and DMARC —
//! each with whether it is published as shown, missing, or published differently, asked of the resolver
//! the server itself uses (`outbound.dns_server`).

use serde::{Deserialize, Serialize};

use super::dkim::DomainKey;
use super::Authenticator;
use mail_auth::hickory_resolver::proto::rr::RecordType;
use crate::error::ApiResult;
use crate::settings::Settings;
use crate::store::Store;

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DnsRecord {
    /// "mx", "spf", "dkim" or "dmarc".
    pub kind: String,
    /// The owner name, with its final dot.
    pub name: String,
    /// "MX" or "TXT".
    pub record_type: String,
    /// What to publish (for TXT, the text without quotes).
    pub value: String,
    /// "published", "missing", "different", or "unknown" (the lookup failed).
    pub status: String,
    /// What DNS has there now, when it differs.
    pub found: Vec<String>,
}

/// The records a local domain should publish, each checked through the server's resolver. Makes the
/// domain's DKIM keys if it has none yet.
pub async fn check(store: &Store, settings: &Settings, authenticator: &Authenticator, domain: &str) -> ApiResult<Vec<DnsRecord>> {
    let domain = super::dkim::local_domain(store, domain).await?;
    let keys = super::dkim::ensure(store, &domain).await?;
    let mut records = wanted(&domain, &settings.general.server_name, &keys);
    let resolver = authenticator.resolver(settings);
    for record in records.iter_mut() {
        let kind = if record.record_type == "MX" { RecordType::MX } else { RecordType::TXT };
        let answers = match &resolver {
            Err(e) => Err(e.clone()),
            Ok(r) => super::records_at(r, &record.name, kind).await,
        };
        judge(record, answers);
    }
    Ok(records)
}

/// The records for `domain`, not yet checked.
pub fn wanted(domain: &str, server_name: &str, keys: &[DomainKey]) -> Vec<DnsRecord> {
    let record = |kind: &str, name: String, record_type: &str, value: String| DnsRecord {
        kind: kind.into(),
        name,
        record_type: record_type.into(),
        value,
        status: "unknown".into(),
        found: Vec::new(),
    };
    let mut out = vec![
        record("mx", format!("{domain}."), "MX", format!("10 {server_name}.")),
        record("spf", format!("{domain}."), "TXT", format!("v=spf1 mx a:{server_name} ~all")),
    ];
    for key in keys {
        out.push(record("dkim", format!("{}.", key.record_name()), "TXT", key.record()));
    }
    out.push(record("dmarc", format!("_dmarc.{domain}."), "TXT", format!("v=DMARC1; p=none; rua=mailto:postmaster@{domain}")));
    out
}

/// Compares what DNS returned for a record with what it should be.
pub fn judge(record: &mut DnsRecord, answers: Result<Vec<String>, String>) {
    let answers = match answers {
        Ok(a) => a,
        Err(e) => {
            record.status = "unknown".into();
            record.found = vec![e];
            return;
        }
    };
    // Only answers of the record's own kind count: an SPF check ignores other TXT records at the name.
    let prefix = match record.kind.as_str() {
        "spf" => Some("v=spf1"),
        "dkim" => Some("v=dkim1"),
        "dmarc" => Some("v=dmarc1"),
        _ => None,
    };
    let relevant: Vec<String> = answers
        .into_iter()
        .filter(|a| prefix.is_none_or(|p| a.trim_start().to_ascii_lowercase().starts_with(p)))
        .collect();
    // An MX is right when it names this server, whatever its preference.
    let comparable = |text: &str| if record.kind == "mx" { text.split_whitespace().last().unwrap_or("").to_string() } else { text.to_string() };
    let same = |a: &str| normalise(&comparable(a)) == normalise(&comparable(&record.value));
    record.status = if relevant.is_empty() {
        "missing"
    } else if relevant.iter().any(|a| same(a)) {
        "published"
    } else {
        "different"
    }
    .into();
    record.found = if record.status == "different" { relevant } else { Vec::new() };
}

/// Case and spacing do not matter (nor a final dot on names): "v=DKIM1;k=rsa" is "v=DKIM1; k=rsa".
fn normalise(text: &str) -> String {
    text.to_ascii_lowercase().split([';', ' ', '\t']).filter(|p| !p.is_empty()).map(|p| p.trim_end_matches('.')).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_judged_by_their_own_kind_and_spacing_does_not_matter() {
        let mut spf = wanted("office.test", "mail.office.test", &[]).remove(1);
        judge(&mut spf, Ok(vec!["google-site-verification=x".into(), "v=spf1  mx a:mail.office.test ~all".into()]));
        assert_eq!(spf.status, "published");
        judge(&mut spf, Ok(vec!["v=spf1 -all".into()]));
        assert_eq!((spf.status.as_str(), spf.found.clone()), ("different", vec!["v=spf1 -all".to_string()]));
        judge(&mut spf, Ok(vec!["google-site-verification=x".into()]));
        assert_eq!(spf.status, "missing");
        let mut mx = wanted("office.test", "mail.office.test", &[]).remove(0);
        judge(&mut mx, Ok(vec!["5 MAIL.office.test.".into()]));
        assert_eq!(mx.status, "published", "the preference is the admin's choice");
        judge(&mut mx, Ok(vec!["10 mx.isp.example.".into()]));
        assert_eq!(mx.status, "different");
    }
}
