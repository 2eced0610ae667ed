//! POP3 and IMAP4 settings: when a password may travel in clear text, connection caps and idle
//! timeouts, and IMAP's IDLE switch and per-user cap.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct Pop3Settings {
    /// Allow USER/PASS and AUTH on a connection without TLS from another computer (old mail programs).
    /// Connections from this computer itself count as private, as in Dovecot.
    pub allow_plaintext_login: bool,
    /// Simultaneous POP3 connections from one address.
    pub max_connections_per_address: u32,
    /// Simultaneous POP3 connections in all.
    pub max_connections: u32,
    /// Seconds a client may stay silent (RFC 1939 asks for at least 10 minutes).
    pub idle_timeout_secs: u32,
}

impl Default for Pop3Settings {
    fn default() -> Self {
        Self { allow_plaintext_login: false, max_connections_per_address: 20, max_connections: 400, idle_timeout_secs: 600 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ImapSettings {
    /// Allow LOGIN and AUTHENTICATE without TLS from another computer.
    pub allow_plaintext_login: bool,
    /// Offer IDLE (push of new mail to waiting clients).
    pub idle_enabled: bool,
    /// Simultaneous IMAP sessions of one user (each device keeps a few open).
    pub max_connections_per_user: u32,
    /// Simultaneous IMAP connections from one address.
    pub max_connections_per_address: u32,
    /// Simultaneous IMAP connections in all.
    pub max_connections: u32,
    /// Seconds a client may stay silent (RFC 3501 asks for at least 30 minutes).
    pub idle_timeout_secs: u32,
}

impl Default for ImapSettings {
    fn default() -> Self {
        Self {
            allow_plaintext_login: false,
            idle_enabled: true,
            max_connections_per_user: 20,
            max_connections_per_address: 50,
            max_connections: 400,
            idle_timeout_secs: 1800,
        }
    }
}

fn at_least(errors: &mut Vec<FieldError>, key: &str, value: u32, min: u32, why: &str) {
    if value < min {
        errors.push(FieldError::new(key, why));
    }
}

impl Pop3Settings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        at_least(errors, "pop3.max_connections_per_address", self.max_connections_per_address, 1, "at least 1");
        at_least(errors, "pop3.max_connections", self.max_connections, 1, "at least 1");
        at_least(errors, "pop3.idle_timeout_secs", self.idle_timeout_secs, 30, "at least 30 seconds (RFC 1939 asks for 10 minutes)");
    }
}

impl ImapSettings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        at_least(errors, "imap.max_connections_per_user", self.max_connections_per_user, 1, "at least 1");
        at_least(errors, "imap.max_connections_per_address", self.max_connections_per_address, 1, "at least 1");
        at_least(errors, "imap.max_connections", self.max_connections, 1, "at least 1");
        at_least(errors, "imap.idle_timeout_secs", self.idle_timeout_secs, 60, "at least 60 seconds (RFC 3501 asks for 30 minutes)");
    }
}
