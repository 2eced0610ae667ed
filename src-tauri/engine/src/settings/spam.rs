//! Settings → Spam Filter: which checks run on mail from strangers (not on logged-in users or trusted
//! networks) and what their results lead to.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct SpamSettings {
    /// SPF (RFC 7208) of the HELO name and of the MAIL FROM domain.
    pub spf: bool,
    /// DKIM (RFC 6376): every signature, up to a bound.
    pub dkim: bool,
    /// DMARC (RFC 7489): alignment of SPF and DKIM with the From: domain, and its policy.
    pub dmarc: bool,
    /// ARC (RFC 8617) chains, where a message carries one.
    pub arc: bool,
    /// Refuse (550 5.7.1, before the 250) mail failing DMARC whose domain says p=reject. Off: such mail is
    /// marked as spam instead.
    pub dmarc_reject: bool,
}

impl Default for SpamSettings {
    fn default() -> Self {
        Self { spf: true, dkim: true, dmarc: true, arc: true, dmarc_reject: true }
    }
}

impl SpamSettings {
    /// Whether any check needs the message's sender authenticated at all.
    pub fn any_authentication(&self) -> bool {
        self.spf || self.dkim || self.dmarc || self.arc
    }
}
