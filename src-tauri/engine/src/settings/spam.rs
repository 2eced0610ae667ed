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
    /// Reverse DNS (iprev, RFC 8601 3): the client's address has a name that points back to it.
    pub iprev: bool,
    /// Refuse (550 5.7.1, before the 250) mail failing DMARC whose domain says p=reject. Off: such mail is
    /// marked as spam instead.
    pub dmarc_reject: bool,
    /// The content filter's rules (spam::score): GTUBE, header anomalies, programs attached, and the
    /// authentication results above.
    pub content: bool,
    /// From this score a message is marked as spam (X-Spam-Flag, the spam mark); 0: never.
    pub mark_score: u32,
    /// From this score a message is refused with 550 5.7.1 before the 250; 0: never.
    pub refuse_score: u32,
    /// DNS blocklists the client's address is looked up in, with the points a listing adds. None until the
    /// admin picks them (most are free only for small volumes, and some refuse queries from public resolvers).
    pub blocklists: Vec<Blocklist>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct Blocklist {
    pub zone: String,
    pub points: u32,
}

impl Default for Blocklist {
    fn default() -> Self {
        Self { zone: String::new(), points: 5 }
    }
}

/// Blocklists looked up per message.
pub const MAX_BLOCKLISTS: usize = 20;

impl Default for SpamSettings {
    fn default() -> Self {
        Self { spf: true, dkim: true, dmarc: true, arc: true, iprev: true, dmarc_reject: true, content: true, mark_score: 5, refuse_score: 15, blocklists: Vec::new() }
    }
}

impl SpamSettings {
    pub fn validate(&self, errors: &mut Vec<crate::error::FieldError>) {
        if self.mark_score > 10_000 {
            errors.push(crate::error::FieldError::new("spam.mark_score", "between 0 (never) and 10000"));
        }
        if self.refuse_score > 10_000 {
            errors.push(crate::error::FieldError::new("spam.refuse_score", "between 0 (never) and 10000"));
        } else if self.refuse_score > 0 && self.mark_score > 0 && self.refuse_score <= self.mark_score {
            errors.push(crate::error::FieldError::new("spam.refuse_score", "must be above the score that marks spam (or 0: never refuse)"));
        }
        if self.blocklists.len() > MAX_BLOCKLISTS {
            errors.push(crate::error::FieldError::new("spam.blocklists", format!("at most {MAX_BLOCKLISTS} blocklists")));
        }
        for b in &self.blocklists {
            if crate::names::validate_domain(&b.zone).is_err() || b.points > 1000 {
                errors.push(crate::error::FieldError::new("spam.blocklists", format!("'{} {}': a zone name and its points (0 to 1000)", b.zone, b.points)));
                break;
            }
        }
    }

    /// Whether any check needs the message's sender authenticated at all.
    pub fn any_authentication(&self) -> bool {
        self.spf || self.dkim || self.dmarc || self.arc || self.iprev
    }

    /// Whether strangers' mail is looked at at all.
    pub fn any_check(&self) -> bool {
        self.any_authentication() || self.content
    }
}
