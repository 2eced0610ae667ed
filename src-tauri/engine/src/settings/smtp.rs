//! SMTP settings: message and recipient limits, who may relay, and when AUTH is offered.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct SmtpSettings {
    /// Largest message accepted, in bytes (advertised as SIZE).
    #[ts(type = "number")]
    pub max_message_size: u64,
    /// Most recipients in one message.
    pub max_recipients: u32,
    /// Addresses allowed to relay without AUTH, comma-separated CIDR ranges ("192.168.1.0/24, ::1/128").
    pub trusted_networks: String,
    /// Offer AUTH on port 25 before STARTTLS (passwords in clear text: only for old office devices).
    pub allow_plaintext_auth: bool,
    /// Simultaneous SMTP connections from one address.
    pub max_connections_per_address: u32,
    /// Simultaneous SMTP connections in all.
    pub max_connections: u32,
    /// Seconds a client may stay silent before it is disconnected.
    pub idle_timeout_secs: u32,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            trusted_networks: "127.0.0.0/8, ::1/128".into(),
            allow_plaintext_auth: false,
            max_connections_per_address: 20,
            max_connections: 400,
            idle_timeout_secs: 300,
        }
    }
}

impl SmtpSettings {
    /// The trusted networks, parsed; entries that do not parse are reported by [`SmtpSettings::validate`].
    pub fn trusted(&self) -> Vec<ipnet::IpNet> {
        split_list(&self.trusted_networks).filter_map(|n| parse_net(n).ok()).collect()
    }

    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        for entry in split_list(&self.trusted_networks) {
            if let Err(m) = parse_net(entry) {
                errors.push(FieldError::new("smtp.trusted_networks", m));
            }
        }
        if self.max_message_size < 1024 {
            errors.push(FieldError::new("smtp.max_message_size", "at least 1024 bytes"));
        }
        if self.max_recipients == 0 {
            errors.push(FieldError::new("smtp.max_recipients", "at least 1"));
        }
        if self.max_connections == 0 {
            errors.push(FieldError::new("smtp.max_connections", "at least 1"));
        }
        if self.max_connections_per_address == 0 {
            errors.push(FieldError::new("smtp.max_connections_per_address", "at least 1"));
        }
        if self.idle_timeout_secs < 30 {
            errors.push(FieldError::new("smtp.idle_timeout_secs", "at least 30 seconds (RFC 5321 asks for 5 minutes)"));
        }
    }
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ';', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty())
}

/// A CIDR range or a single address.
fn parse_net(text: &str) -> Result<ipnet::IpNet, NotANetwork> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| NotANetwork(text.to_string()))
}

/// A trusted-networks entry that is neither an address nor a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an address or range like 192.168.1.0/24")]
pub struct NotANetwork(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_networks_accept_ranges_and_single_addresses() {
        let s = SmtpSettings { trusted_networks: "192.168.1.0/24; 10.0.0.5 ::1".into(), ..Default::default() };
        let nets = s.trusted();
        assert_eq!(nets.len(), 3);
        assert!(nets.iter().any(|n| n.contains(&"192.168.1.77".parse::<std::net::IpAddr>().unwrap())));
        let mut errors = Vec::new();
        SmtpSettings { trusted_networks: "192.168.1.0/33, lan".into(), ..Default::default() }.validate(&mut errors);
        assert_eq!(errors.len(), 2);
    }
}
