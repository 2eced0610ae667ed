//! Relay domains (Settings → Local Mail → Relay domains): this server as a backup MX. Mail for a relay
//! domain is accepted — for the recipients the admin lists, or for any recipient when the admin says so —
//! and forwarded to the domain's primary server by a LAN forwarding rule (`~@domain`). Without such a rule
//! the recipient is refused for now (451), so the sender keeps the message: never accepted and bounced.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct RelayDomain {
    pub domain: String,
    /// Accept every recipient at the domain (the primary server decides who exists).
    pub any_recipient: bool,
    /// Otherwise only these local parts (`sales`, not `sales@domain`).
    pub recipients: Vec<String>,
}

impl Default for RelayDomain {
    fn default() -> Self {
        Self { domain: String::new(), any_recipient: true, recipients: Vec::new() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct RelaySettings {
    pub domains: Vec<RelayDomain>,
}

/// Relay domains kept, and recipients listed per domain.
pub const MAX_DOMAINS: usize = 100;
pub const MAX_RECIPIENTS: usize = 5000;

impl RelaySettings {
    /// The relay domain `domain` is, if any (case-insensitive).
    pub fn find(&self, domain: &str) -> Option<&RelayDomain> {
        self.domains.iter().find(|d| d.domain.eq_ignore_ascii_case(domain))
    }

    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.domains.len() > MAX_DOMAINS {
            errors.push(FieldError::new("relay.domains", format!("at most {MAX_DOMAINS} relay domains")));
        }
        for (i, d) in self.domains.iter().enumerate() {
            if crate::names::validate_domain(&d.domain).is_err() {
                errors.push(FieldError::new(format!("relay.domains.{i}.domain"), format!("'{}' is not a domain name", d.domain)));
            }
            if !d.any_recipient && d.recipients.is_empty() {
                errors.push(FieldError::new(format!("relay.domains.{i}.recipients"), "list the recipients to accept, or accept any recipient"));
            }
            if d.recipients.len() > MAX_RECIPIENTS || d.recipients.iter().any(|r| r.is_empty() || r.len() > 64 || r.contains(['@', ' ']) || r.chars().any(char::is_control)) {
                errors.push(FieldError::new(format!("relay.domains.{i}.recipients"), "one local part per line (the part before the @), each at most 64 characters"));
            }
        }
    }
}
