//! The web service's own settings (Settings → Services → HTTP/HTTPS): the MTA-STS policy it publishes.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// What sending servers are told to do when they cannot reach this server over verified TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// No policy: senders forget an earlier one.
    None,
    /// Senders report failures (TLS-RPT) but deliver anyway: the safe start.
    Testing,
    /// Senders refuse to deliver without verified TLS: only with a certificate from a public CA.
    Enforce,
}

impl MtaStsMode {
    pub fn key(self) -> &'static str {
        match self {
            MtaStsMode::None => "none",
            MtaStsMode::Testing => "testing",
            MtaStsMode::Enforce => "enforce",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct WebSettings {
    pub mta_sts_mode: MtaStsMode,
    /// How long senders keep the policy (RFC 8461's max_age), in days.
    pub mta_sts_max_age_days: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings { mta_sts_mode: MtaStsMode::Testing, mta_sts_max_age_days: 7 }
    }
}

/// RFC 8461 caps max_age at 31557600 seconds (about a year).
pub const MAX_AGE_DAYS: u32 = 365;

impl WebSettings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if !(1..=MAX_AGE_DAYS).contains(&self.mta_sts_max_age_days) {
            errors.push(FieldError::new("web.mta_sts_max_age_days", format!("between 1 and {MAX_AGE_DAYS} days")));
        }
    }
}
