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
    /// From this score a message goes to the recipient's Junk folder instead of the INBOX; 0: never.
    pub junk_score: u32,
    /// From this score a message is held in the quarantine (the admin releases or deletes it); 0: never.
    pub quarantine_score: u32,
    /// From this score a message is refused with 550 5.7.1 before the 250; 0: never.
    pub refuse_score: u32,
    /// Days a message stays in the quarantine before it is deleted.
    pub quarantine_days: u32,
    /// The Bayesian classifier (spam::bayes), trained from what users do with their Junk folders.
    pub bayes: bool,
    /// DNS blocklists the client's address is looked up in, with the points a listing adds. None until the
    /// admin picks them (most are free only for small volumes, and some refuse queries from public resolvers).
    pub blocklists: Vec<Blocklist>,
    /// Domain blocklists (URI lists such as dbl.spamhaus.org) the domains of links in the message and of the
    /// sender are looked up in.
    pub domain_blocklists: Vec<Blocklist>,
    /// DNS allowlists (such as list.dnswl.org) of the client's address: a listing takes its points off.
    pub allowlists: Vec<Blocklist>,
    /// Senders whose mail is never scored as spam, one per entry: `someone@example.com`, or `example.com`
    /// for a domain and its subdomains. Applies only when the sender is not shown to be forged (SPF or DMARC
    /// failing).
    pub allow_senders: Vec<String>,
    /// Senders refused at once (550 5.7.1), in the same forms.
    pub deny_senders: Vec<String>,
    /// Greylisting: a stranger's first attempt for a (client network, sender, recipient) is deferred with 451;
    /// a retry after `greylist_delay` seconds passes, and the client's network is then let through for 36 days.
    pub greylist: bool,
    /// Seconds before a retry is accepted.
    pub greylist_delay: u32,
    /// An rspamd the admin runs, asked about each stranger's message over its HTTP protocol
    /// (`http://HOST:PORT`, its normal worker, usually 11333); empty: not used.
    pub rspamd_url: String,
    /// rspamd's score replaces the built-in content filter's (true) or is added to it (false).
    pub rspamd_only: bool,
    /// Seconds to wait for rspamd.
    pub rspamd_timeout: u32,
    /// When rspamd does not answer in time: accept the message unscanned by it (true), or defer it with 451
    /// so the sender tries again (false).
    pub rspamd_fail_open: bool,
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

/// Blocklists looked up per message (of each kind).
pub const MAX_BLOCKLISTS: usize = 20;
/// Entries of the global allow and deny lists (and of each user's).
pub const MAX_SENDERS: usize = 1000;

impl Default for SpamSettings {
    fn default() -> Self {
        Self {
            spf: true,
            dkim: true,
            dmarc: true,
            arc: true,
            iprev: true,
            dmarc_reject: true,
            content: true,
            mark_score: 5,
            junk_score: 5,
            quarantine_score: 10,
            refuse_score: 15,
            quarantine_days: 30,
            bayes: true,
            blocklists: Vec::new(),
            domain_blocklists: Vec::new(),
            allowlists: Vec::new(),
            allow_senders: Vec::new(),
            deny_senders: Vec::new(),
            greylist: false,
            greylist_delay: 300,
            rspamd_url: String::new(),
            rspamd_only: false,
            rspamd_timeout: 10,
            rspamd_fail_open: true,
        }
    }
}

/// What a message's score leads to, from the mildest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SpamAction {
    #[default]
    Deliver,
    Mark,
    Junk,
    Quarantine,
    Refuse,
}

impl SpamSettings {
    pub fn validate(&self, errors: &mut Vec<crate::error::FieldError>) {
        if self.mark_score > 10_000 {
            errors.push(crate::error::FieldError::new("spam.mark_score", "between 0 (never) and 10000"));
        }
        // Each threshold set must be above the milder ones set (0: never).
        let steps = [("spam.junk_score", self.junk_score, "the Junk folder"), ("spam.quarantine_score", self.quarantine_score, "the quarantine"), ("spam.refuse_score", self.refuse_score, "refusal")];
        let mut below = (self.mark_score, "marking");
        for (field, score, what) in steps {
            if score > 10_000 {
                errors.push(crate::error::FieldError::new(field, "between 0 (never) and 10000"));
            } else if score > 0 && below.0 > 0 && (score < below.0 || (field == "spam.refuse_score" && score == below.0)) {
                errors.push(crate::error::FieldError::new(field, format!("the score for {what} must not be below the one for {} (or 0: never)", below.1)));
            } else if score > 0 {
                below = (score, what);
            }
        }
        if self.quarantine_days == 0 || self.quarantine_days > 3650 {
            errors.push(crate::error::FieldError::new("spam.quarantine_days", "between 1 and 3650 days"));
        }
        for (field, list) in [("spam.blocklists", &self.blocklists), ("spam.domain_blocklists", &self.domain_blocklists), ("spam.allowlists", &self.allowlists)] {
            if list.len() > MAX_BLOCKLISTS {
                errors.push(crate::error::FieldError::new(field, format!("at most {MAX_BLOCKLISTS} zones")));
            }
            if let Some(b) = list.iter().find(|b| crate::names::validate_domain(&b.zone).is_err() || b.points > 1000) {
                errors.push(crate::error::FieldError::new(field, format!("'{} {}': a zone name and its points (0 to 1000)", b.zone, b.points)));
            }
        }
        for (field, list) in [("spam.allow_senders", &self.allow_senders), ("spam.deny_senders", &self.deny_senders)] {
            if let Err(e) = check_senders(list) {
                errors.push(crate::error::FieldError::new(field, e));
            }
        }
        if self.greylist_delay > 86_400 {
            errors.push(crate::error::FieldError::new("spam.greylist_delay", "between 0 and 86400 seconds"));
        }
        if !self.rspamd_url.is_empty() && rspamd_address(&self.rspamd_url).is_none() {
            errors.push(crate::error::FieldError::new("spam.rspamd_url", "http://HOST:PORT (rspamd's normal worker, usually port 11333)"));
        }
        if !(1..=120).contains(&self.rspamd_timeout) {
            errors.push(crate::error::FieldError::new("spam.rspamd_timeout", "between 1 and 120 seconds"));
        }
    }

    /// What `points` lead to.
    pub fn action(&self, points: i32) -> SpamAction {
        let reached = |threshold: u32| threshold > 0 && i64::from(points) >= i64::from(threshold);
        if reached(self.refuse_score) {
            SpamAction::Refuse
        } else if reached(self.quarantine_score) {
            SpamAction::Quarantine
        } else if reached(self.junk_score) {
            SpamAction::Junk
        } else if reached(self.mark_score) {
            SpamAction::Mark
        } else {
            SpamAction::Deliver
        }
    }

    /// Adds an address to the global allow list (once).
    pub fn allow(&mut self, address: &str) {
        if !self.allow_senders.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            self.allow_senders.push(address.to_string());
        }
    }

    /// Whether the content is scored at all (built-in rules or rspamd).
    pub fn scores(&self) -> bool {
        self.content || !self.rspamd_url.is_empty()
    }

    /// Whether any check needs the message's sender authenticated at all.
    pub fn any_authentication(&self) -> bool {
        self.spf || self.dkim || self.dmarc || self.arc || self.iprev
    }

    /// Whether strangers' mail is looked at at all.
    pub fn any_check(&self) -> bool {
        self.any_authentication() || self.scores() || !self.deny_senders.is_empty() || !self.allow_senders.is_empty()
    }
}

/// `HOST:PORT` of an `http://HOST:PORT` rspamd address (a trailing `/` allowed).
pub fn rspamd_address(url: &str) -> Option<String> {
    let rest = url.trim().strip_prefix("http://")?.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port > 0 && !rest.contains('/') && !host.contains('@')).then(|| format!("{host}:{port}"))
}

/// Checks a list of sender entries (`someone@example.com` or `example.com`).
pub fn check_senders(list: &[String]) -> Result<(), String> {
    if list.len() > MAX_SENDERS {
        return Err(format!("at most {MAX_SENDERS} entries"));
    }
    for entry in list {
        let domain = entry.rsplit_once('@').map_or(entry.as_str(), |(local, d)| if local.is_empty() || local.contains(char::is_whitespace) { "" } else { d });
        if crate::names::validate_domain(domain).is_err() {
            return Err(format!("'{entry}': an address (someone@example.com) or a domain (example.com)"));
        }
    }
    Ok(())
}

/// Whether a sender entry list names one of `addresses` (an address exactly, or its domain or a parent domain;
/// case does not matter).
pub fn sender_listed(list: &[String], addresses: &[&str]) -> bool {
    addresses.iter().filter(|a| !a.is_empty()).any(|address| {
        let address = address.to_ascii_lowercase();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        list.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.contains('@') {
                entry == address
            } else {
                domain == entry || domain.ends_with(&format!(".{entry}"))
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_lead_to_actions_and_must_rise() {
        let s = SpamSettings::default();
        assert_eq!([0, 4, 5, 9, 10, 15, 1000].map(|p| s.action(p)), [SpamAction::Deliver, SpamAction::Deliver, SpamAction::Junk, SpamAction::Junk, SpamAction::Quarantine, SpamAction::Refuse, SpamAction::Refuse]);
        let only_mark = SpamSettings { junk_score: 0, quarantine_score: 0, refuse_score: 0, ..Default::default() };
        assert_eq!(only_mark.action(-3), SpamAction::Deliver);
        assert_eq!(only_mark.action(500), SpamAction::Mark);
        let mut errors = Vec::new();
        SpamSettings { quarantine_score: 4, ..Default::default() }.validate(&mut errors);
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["spam.quarantine_score"]);
        let mut errors = Vec::new();
        SpamSettings { quarantine_score: 0, refuse_score: 5, junk_score: 5, ..Default::default() }.validate(&mut errors);
        assert_eq!(errors.len(), 1, "refusing at the Junk score: {errors:?}");
    }

    #[test]
    fn sender_entries_match_addresses_and_domains() {
        let list = vec!["boss@partner.example".to_string(), "supplier.example".to_string()];
        assert!(sender_listed(&list, &["Boss@Partner.example"]));
        assert!(!sender_listed(&list, &["other@partner.example"]));
        assert!(sender_listed(&list, &["", "x@mail.supplier.example"]));
        assert!(!sender_listed(&list, &["x@notsupplier.example"]));
        assert!(check_senders(&list).is_ok());
        assert!(check_senders(&["@x.example".to_string()]).is_err());
        assert_eq!(rspamd_address("http://127.0.0.1:11333/"), Some("127.0.0.1:11333".into()));
        assert_eq!(rspamd_address("https://x:1"), None);
    }
}
