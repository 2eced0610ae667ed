//! Outbound settings: deliver through a smart host or directly to each domain's MX, the TLS policy,
//! and the retry schedule.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum OutboundTls {
    /// STARTTLS or nothing: a server that does not offer it gets nothing (never a silent downgrade).
    Required,
    /// STARTTLS when offered, plain text otherwise.
    Opportunistic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboundSettings {
    /// Host name of the smart host (the ISP's mail server); empty = deliver directly to each domain's MX.
    pub smart_host: String,
    pub smart_host_port: u16,
    /// Login for the smart host; empty = none.
    pub username: String,
    pub password: String,
    pub tls: OutboundTls,
    /// Check the smart host's certificate (turn off only for a server with a self-signed certificate).
    pub verify_certificate: bool,
    /// Send the smart-host login without TLS whose certificate was checked (a server on the office's own
    /// network only). Off: the password never leaves unencrypted or to an unchecked server.
    pub allow_plaintext_auth: bool,
    /// Deliveries to different destinations at once, so one slow or hostile server holds up only itself.
    pub max_parallel: u32,
    /// Minutes to wait after each failed attempt, comma-separated; the last repeats.
    pub retry_minutes: String,
    /// Give up (and bounce) after this many hours.
    pub max_age_hours: u32,
    /// The DNS server for MX and address lookups, as "address" or "address:port"; empty = the system's.
    pub dns_server: String,
    /// Mail forwarded to a server on the office's network (LAN rules, a user's forward, Store and
    /// Forward) is tried again every this many minutes: the server is expected back.
    pub forward_retry_minutes: u32,
    /// … for this many hours; then the admin is told and LAN-forwarded mail goes back to its sender (a
    /// Store-and-Forward copy stays in the mailbox).
    pub forward_lifetime_hours: u32,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            smart_host: String::new(),
            smart_host_port: 25,
            username: String::new(),
            password: String::new(),
            tls: OutboundTls::Opportunistic,
            verify_certificate: true,
            allow_plaintext_auth: false,
            max_parallel: 4,
            retry_minutes: "5, 10, 30, 60, 120, 240".into(),
            max_age_hours: 120,
            dns_server: String::new(),
            forward_retry_minutes: 5,
            forward_lifetime_hours: 120,
        }
    }
}

impl OutboundSettings {
    /// Seconds to wait after failed attempt number `attempt` (1-based).
    pub fn retry_delay_secs(&self, attempt: u32) -> i64 {
        let steps = self.retry_steps();
        let index = (attempt.max(1) as usize - 1).min(steps.len().saturating_sub(1));
        steps.get(index).copied().unwrap_or(60) * 60
    }

    fn retry_steps(&self) -> Vec<i64> {
        self.retry_minutes.split([',', ' ', ';']).filter_map(|s| s.trim().parse().ok()).filter(|m| *m > 0).collect()
    }

    /// The DNS server the admin chose, if any (port 53 unless given).
    pub fn dns_server_address(&self) -> Option<SocketAddr> {
        let text = self.dns_server.trim();
        if text.is_empty() {
            return None;
        }
        text.parse::<SocketAddr>().ok().or_else(|| text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
    }

    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if !self.dns_server.trim().is_empty() && self.dns_server_address().is_none() {
            errors.push(FieldError::new("outbound.dns_server", "an IP address, optionally with a port (192.0.2.53 or 192.0.2.53:5353), or empty for the system's"));
        }
        let bad = self.retry_minutes.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).any(|s| s.parse::<i64>().map_or(true, |m| m <= 0));
        if bad || self.retry_steps().is_empty() {
            errors.push(FieldError::new("outbound.retry_minutes", "minutes as whole numbers above 0, separated by commas (e.g. 5, 30, 60)"));
        }
        if !(1..=32).contains(&self.max_parallel) {
            errors.push(FieldError::new("outbound.max_parallel", "between 1 and 32"));
        }
        if self.max_age_hours == 0 {
            errors.push(FieldError::new("outbound.max_age_hours", "at least 1 hour"));
        }
        if !(1..=1440).contains(&self.forward_retry_minutes) {
            errors.push(FieldError::new("outbound.forward_retry_minutes", "between 1 and 1440 minutes"));
        }
        if !(1..=24 * 60).contains(&self.forward_lifetime_hours) {
            errors.push(FieldError::new("outbound.forward_lifetime_hours", "between 1 hour and 60 days"));
        }
        if self.smart_host.contains(char::is_whitespace) {
            errors.push(FieldError::new("outbound.smart_host", "a host name without spaces"));
        }
        if !self.smart_host.is_empty() && self.smart_host_port == 0 {
            errors.push(FieldError::new("outbound.smart_host_port", "a port between 1 and 65535"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_retry_step_repeats() {
        let s = OutboundSettings { retry_minutes: "1, 5".into(), ..Default::default() };
        assert_eq!([1, 2, 3, 9].map(|a| s.retry_delay_secs(a)), [60, 300, 300, 300]);
        let mut errors = Vec::new();
        OutboundSettings { retry_minutes: "5, soon".into(), ..Default::default() }.validate(&mut errors);
        assert_eq!(errors[0].field, "outbound.retry_minutes");
    }
}
