//! Access restrictions per service (each service's Access Restrictions tab): an ordered list of Allow /
//! Deny rules — an IP address, a range, a CIDR network, or a GeoIP lookup with tags — and a default
//! action. Checked at connect, before the greeting (`access::rules`).

use serde::{Deserialize, Serialize};

use super::ServiceId;
use crate::error::FieldError;
use crate::geoip::addr::{parse_addr, parse_cidr, parse_range, Addr, AddrError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum AccessAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// One address: `192.168.1.20`.
    Address,
    /// `192.168.1.10-192.168.1.99`.
    Range,
    /// `192.168.1.0/24`.
    Cidr,
    /// GeoIP tags, separated by commas or semicolons: `CN, RU; KP`.
    Geoip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct AccessRule {
    pub action: AccessAction,
    pub kind: RuleKind,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ServiceAccess {
    /// Used when no rule matches.
    pub default_action: AccessAction,
    /// Checked in order; the first that matches decides.
    pub rules: Vec<AccessRule>,
}

impl Default for ServiceAccess {
    fn default() -> Self {
        ServiceAccess { default_action: AccessAction::Allow, rules: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct AccessSettings {
    /// This computer and the office's trusted networks (`smtp.trusted_networks`) are never refused.
    pub exempt_local: bool,
    pub smtp: ServiceAccess,
    pub submission: ServiceAccess,
    pub smtps: ServiceAccess,
    pub pop3: ServiceAccess,
    pub pop3s: ServiceAccess,
    pub imap: ServiceAccess,
    pub imaps: ServiceAccess,
    pub http: ServiceAccess,
    pub https: ServiceAccess,
}

impl Default for AccessSettings {
    fn default() -> Self {
        let s = ServiceAccess::default;
        AccessSettings { exempt_local: true, smtp: s(), submission: s(), smtps: s(), pop3: s(), pop3s: s(), imap: s(), imaps: s(), http: s(), https: s() }
    }
}

super::services::per_service!(AccessSettings, ServiceAccess);

impl AccessSettings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        for id in ServiceId::ALL {
            for (i, rule) in self.get(id).rules.iter().enumerate() {
                if let Err(why) = Matcher::parse(rule) {
                    errors.push(FieldError::new(format!("access.{}.rules.{}", id.key(), i + 1), format!("rule {}: {why}", i + 1)));
                }
            }
        }
    }
}

/// Why an access rule's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Addr(#[from] AddrError),
    #[error("'{0}' is not a range: write it as first-last, e.g. 10.0.0.1-10.0.0.99")]
    NotARange(String),
    #[error("give at least one GeoIP tag, such as a country code (e.g. CN, RU)")]
    NoTags,
}

/// A rule ready to match.
pub enum Matcher {
    Range(Addr, Addr),
    Tags(Vec<String>),
}

impl Matcher {
    /// Checks a rule's value and makes it ready to match (see `access::rules` for the matching).
    pub fn parse(rule: &AccessRule) -> Result<Matcher, RuleError> {
        let v = rule.value.trim();
        match rule.kind {
            RuleKind::Address => Ok(parse_addr(v).map(|a| Matcher::Range(a, a))?),
            RuleKind::Range => {
                let (a, b) = v.split_once('-').ok_or_else(|| RuleError::NotARange(v.to_string()))?;
                Ok(parse_range(a, b).map(|(a, b)| Matcher::Range(a, b))?)
            }
            RuleKind::Cidr => Ok(parse_cidr(v).map(|(a, b)| Matcher::Range(a, b))?),
            RuleKind::Geoip => {
                let tags: Vec<String> = v.split([',', ';']).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
                if tags.is_empty() {
                    Err(RuleError::NoTags)
                } else {
                    Ok(Matcher::Tags(tags))
                }
            }
        }
    }
}
