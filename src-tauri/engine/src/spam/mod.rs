//! The spam filter: what happens to a stranger's message before the 250 ([`filter::check`]) and at RCPT
//! ([`greylist`]), and the content score it rests on.
//!
//! The score adds up built-in rules — what sender authentication found (SPF, DKIM, DMARC, reverse DNS, the
//! HELO name), DNS lists of the client address (blocklists add, allowlists take off) and of the domains in
//! the message, header anomalies, GTUBE (the standard test string), programs attached or inside a zip
//! ([`archive`]) — the Bayesian classifier's verdict ([`bayes`], trained from users' Junk folders), and,
//! when the admin runs one, rspamd's ([`rspamd`]). The score leads to an action by the thresholds of
//! `spam.*` (mark, Junk folder, quarantine, refuse); each checked message carries `X-Spam-Score:` and
//! `X-Spam-Status:` with the rules that fired (SpamAssassin's spelling, which mail programs' filters know),
//! and the log line names them.
//!
//! Bounds: rules read the header and walk the MIME tree through [`crate::mailbox::mime`] (depth-limited,
//! parameter-capped); at most [`PARTS_MAX`] parts and [`TEXT_MAX`] bytes of text are looked at; the body is
//! searched once for GTUBE.

pub mod archive;
pub mod bayes;
pub mod filter;
pub mod greylist;
pub mod rspamd;

use mail_parser::MimeHeaders;

use crate::auth::AuthFacts;
use crate::settings::{SpamAction, SpamSettings};

/// The GTUBE string: any filter scores a message holding it as spam (for testing a set-up end to end).
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// File name endings of programs Windows runs when opened.
const EXECUTABLE: [&str; 16] = [".exe", ".scr", ".com", ".pif", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".msi", ".hta", ".cpl", ".lnk", ".jar"];

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: String,
    pub points: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub points: i32,
    pub hits: Vec<Hit>,
}

impl Score {
    /// "SPF_FAIL(3),MISSING_DATE(1)" or "none".
    pub fn tests(&self) -> String {
        if self.hits.is_empty() {
            return "none".into();
        }
        self.hits.iter().map(|h| format!("{}({})", h.rule, h.points)).collect::<Vec<_>>().join(",")
    }

    pub fn add(&mut self, rule: &str, points: i32) {
        self.hits.push(Hit { rule: rule.to_string(), points });
        self.points = self.points.saturating_add(points);
    }

    /// The header fields to put on top of the message: the score, and whether it counts as spam.
    pub fn header(&self, settings: &SpamSettings, spam: bool) -> String {
        let mut out = format!("X-Spam-Score: {}\r\nX-Spam-Status: {}, score={} required={} tests={}\r\n", self.points, if spam { "Yes" } else { "No" }, self.points, settings.mark_score, self.tests());
        if spam {
            out.push_str("X-Spam-Flag: YES\r\n");
        }
        out
    }

    pub fn is_spam(&self, settings: &SpamSettings) -> bool {
        settings.action(self.points) >= SpamAction::Mark
    }
}

/// Most MIME parts the rules look at.
pub const PARTS_MAX: usize = 1000;
/// Most bytes of text (of all text parts) the link finder and the classifier read.
pub const TEXT_MAX: usize = 256 * 1024;

/// What the rules and the classifier take from a message, read once (call off the async threads).
#[derive(Debug, Default)]
pub struct Analysis {
    /// The content rules that fired.
    pub hits: Vec<Hit>,
    /// Domains of links in the text and of the From: address, for the domain blocklists.
    pub domains: Vec<String>,
    /// The classifier's tokens.
    pub tokens: Vec<i64>,
    /// The From: field's address and the subject.
    pub from: String,
    pub subject: String,
}

/// Reads `message` once for the content rules, the domains, the classifier's tokens, From: and Subject.
pub fn analyse(message: &[u8]) -> Analysis {
    let mut out = Analysis::default();
    let mut hit = |rule: &str, points: i32| out.hits.push(Hit { rule: rule.to_string(), points });
    if contains(message, GTUBE) {
        hit("GTUBE", 1000);
    }
    let header_end = crate::auth::find_header_end(message);
    let header = String::from_utf8_lossy(&message[..header_end]);
    let has = |name: &str| header.lines().any(|l| l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name) && l.as_bytes()[name.len()] == b':');
    if !has("From") {
        hit("MISSING_FROM", 3);
    }
    if !has("Date") {
        hit("MISSING_DATE", 1);
    }
    if !has("Message-ID") {
        hit("MISSING_MESSAGE_ID", 1);
    }
    if let Some(subject) = header.lines().find(|l| l.len() > 8 && l[..8].eq_ignore_ascii_case("subject:")) {
        let letters: Vec<char> = subject[8..].chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() >= 10 && letters.iter().all(|c| c.is_uppercase()) {
            hit("SUBJECT_ALL_CAPS", 1);
        }
    }
    let Some(parsed) = crate::mailbox::mime::parse(message) else { return out };
    let parts = || parsed.parts.iter().take(PARTS_MAX);
    if parts().filter_map(|p| p.attachment_name()).any(is_program) {
        hit("EXECUTABLE_ATTACHMENT", 5);
    }
    if parts().filter(|p| p.attachment_name().is_some_and(|n| n.to_ascii_lowercase().trim_end().ends_with(".zip")) || is_zip_type(p)).any(|p| archive::zip_names(p.contents()).iter().any(|n| is_program(n))) {
        hit("EXECUTABLE_IN_ARCHIVE", 5);
    }
    out.subject = parsed.subject().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    out.from = parsed.from().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or("").to_string();
    let mut text = String::new();
    for part in parts().filter(|p| p.is_text() && p.attachment_name().is_none()) {
        if let Some(t) = part.text_contents() {
            let room = TEXT_MAX.saturating_sub(text.len());
            let mut cut = t.len().min(room);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            text.push_str(&t[..cut]);
            text.push('\n');
        }
        if text.len() >= TEXT_MAX {
            break;
        }
    }
    out.domains = link_domains(&text);
    if let Some((_, domain)) = out.from.rsplit_once('@') {
        let domain = registered(&domain.to_ascii_lowercase());
        if !out.domains.contains(&domain) {
            out.domains.push(domain);
        }
    }
    out.tokens = bayes::tokens(&out.subject, &out.from, &text, &out.domains);
    out
}

/// What the facts of the DNS lookups and sender authentication add.
pub fn fact_hits(facts: &AuthFacts) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut hit = |rule: String, points: i32| hits.push(Hit { rule, points });
    match facts.spf.as_deref() {
        Some("fail") => hit("SPF_FAIL".into(), 3),
        Some("softfail") => hit("SPF_SOFTFAIL".into(), 1),
        _ => {}
    }
    if facts.dkim_bad {
        hit("DKIM_INVALID".into(), 1);
    }
    if facts.dmarc_failed {
        hit("DMARC_FAIL".into(), 3);
    }
    if facts.iprev_failed {
        hit("IPREV_FAIL".into(), 1);
    }
    if facts.helo_bad {
        hit("HELO_NO_DOT".into(), 1);
    }
    let rule = |prefix: &str, zone: &str| format!("{prefix}_{}", zone.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect::<String>());
    for (zone, points) in &facts.listed {
        hit(rule("DNSBL", zone), *points as i32);
    }
    for (zone, points) in &facts.domains_listed {
        hit(rule("URIBL", zone), *points as i32);
    }
    for (zone, points) in &facts.allowed {
        hit(rule("DNSWL", zone), -(*points as i32));
    }
    hits
}

/// The built-in score of `message` (as received) given what the checks found (`postroomd spam test`, and
/// the filter without the classifier).
pub fn score(message: &[u8], auth: &AuthFacts) -> Score {
    let mut score = Score { points: 0, hits: Vec::new() };
    for h in fact_hits(auth).into_iter().chain(analyse(message).hits) {
        score.add(&h.rule, h.points);
    }
    score
}

/// Link hosts in `text` (`http://`, `https://`, `www.`), as registered domains, each once, at most
/// [`crate::auth::MAX_LISTED_DOMAINS`].
fn link_domains(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<String> = Vec::new();
    for marker in ["http://", "https://", "www."] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let start = from + i + if marker == "www." { 0 } else { marker.len() };
            from = start + 1;
            let host: String = lower[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').take(253).collect();
            let host = host.trim_matches('.');
            if host.contains('.') && !host.chars().all(|c| c.is_ascii_digit() || c == '.') {
                let domain = registered(host);
                if !found.contains(&domain) {
                    found.push(domain);
                    if found.len() >= crate::auth::MAX_LISTED_DOMAINS {
                        return found;
                    }
                }
            }
        }
    }
    found
}

/// The registered domain of a host, as domain blocklists list it: the last two labels, or three where the
/// second-level label is a country's usual one (`example.co.uk`).
fn registered(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let take = if n >= 3 && labels[n - 1].len() == 2 && ["co", "com", "net", "org", "ac", "gov", "ne", "or"].contains(&labels[n - 2]) { 3 } else { 2 };
    labels[n.saturating_sub(take)..].join(".")
}

fn is_program(name: &str) -> bool {
    let name = name.trim().trim_end_matches(['.', ' ']).to_ascii_lowercase();
    EXECUTABLE.iter().any(|ext| name.ends_with(ext))
}

fn is_zip_type(part: &mail_parser::MessagePart) -> bool {
    part.content_type().is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("zip") || s.eq_ignore_ascii_case("x-zip-compressed")))
}

/// How often the upkeep looks for lessons.
const LESSON_LOOK: std::time::Duration = std::time::Duration::from_secs(2);
/// How often it expires the quarantine and greylisting.
const EXPIRY_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The spam filter's upkeep, for the life of the engine: the classifier learns the users' lessons within
/// seconds; quarantined messages past `spam.quarantine_days`, old greylisting triplets and networks go.
pub async fn upkeep(
    store: crate::store::Store,
    settings: tokio::sync::watch::Receiver<std::sync::Arc<crate::settings::Settings>>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut expired_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LESSON_LOOK) => {}
        }
        match bayes::learn_waiting(&store).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(target: "mail", lessons = n, "the spam classifier learnt"),
            Err(e) => tracing::error!(target: "mail", error = %e, "the spam classifier could not learn; it will try again"),
        }
        if expired_at.elapsed() < EXPIRY_EVERY {
            continue;
        }
        expired_at = tokio::time::Instant::now();
        let days = i64::from(settings.borrow().spam.quarantine_days);
        let now = crate::store::now();
        // One batch per transaction, so a large backlog never holds the writer for long.
        let mut result = Ok(0);
        loop {
            match store.write_async(move |c| crate::delivery::quarantine::expire(c, now - days * 86_400)).await {
                Ok(0) => break,
                Ok(n) => result = result.map(|held| held + n),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let result = match result {
            Ok(held) => store.write_async(move |c| greylist::expire(c, now)).await.map(|grey| (held, grey)),
            Err(e) => Err(e),
        };
        match result {
            Ok((0, _)) => {}
            Ok((held, _)) => tracing::info!(target: "mail", messages = held, "quarantined messages expired"),
            Err(e) => tracing::error!(target: "mail", error = %e, "could not expire the quarantine"),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(extra: &str, body: &str) -> Vec<u8> {
        format!("From: a@b.example\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@b.example>\r\n{extra}\r\n{body}").into_bytes()
    }

    #[test]
    fn gtube_and_authentication_failures_add_up() {
        let clean = score(&msg("Subject: Lunch\r\n", "Hello\r\n"), &AuthFacts::default());
        assert_eq!((clean.points, clean.tests()), (0, "none".to_string()));
        let gtube = score(&msg("Subject: test\r\n", std::str::from_utf8(GTUBE).unwrap()), &AuthFacts::default());
        assert!(gtube.points >= 1000 && gtube.tests().contains("GTUBE(1000)"));
        let forged = score(&msg("Subject: URGENT PAYMENT NOTICE\r\n", "x\r\n"), &AuthFacts { spf: Some("fail".into()), dkim_bad: true, dmarc_failed: true, listed: vec![("zen.spamhaus.org".into(), 10)], ..Default::default() });
        assert_eq!(forged.tests(), "SPF_FAIL(3),DKIM_INVALID(1),DMARC_FAIL(3),DNSBL_ZEN_SPAMHAUS_ORG(10),SUBJECT_ALL_CAPS(1)");
        assert_eq!(forged.points, 18);
    }

    #[test]
    fn a_program_attached_is_found_but_a_document_is_not() {
        let with = |name: &str| {
            format!(
                "From: a@b.example\r\nDate: x\r\nMessage-ID: <1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
            )
            .into_bytes()
        };
        assert!(score(&with("invoice.pdf.exe"), &AuthFacts::default()).tests().contains("EXECUTABLE_ATTACHMENT(5)"));
        assert!(score(&with("Invoice.JS"), &AuthFacts::default()).tests().contains("EXECUTABLE_ATTACHMENT"));
        assert_eq!(score(&with("invoice.pdf"), &AuthFacts::default()).points, 0);
    }
}
