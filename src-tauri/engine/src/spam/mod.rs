//! The content filter: a score for a stranger's message from built-in rules — what sender authentication
//! found (SPF, DKIM, DMARC, reverse DNS, the HELO name), the DNS blocklists listing the client, header
//! anomalies, GTUBE (the standard test string), executable attachments — and what the score leads to (`spam.mark_score`, `spam.refuse_score`). Each message checked carries
//! `X-Spam-Score:` and `X-Spam-Status:` with the rules that fired (SpamAssassin's spelling, which mail
//! programs' filters know), and the log line names them.
//!
//! Bounds: rules read the header and walk the MIME tree through [`crate::mailbox::mime`] (depth-limited,
//! parameter-capped); the body is searched once for GTUBE.

use mail_parser::MimeHeaders;

use crate::auth::AuthFacts;
use crate::settings::SpamSettings;

/// The GTUBE string: any filter scores a message holding it as spam (for testing a set-up end to end).
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// File name endings of programs Windows runs when opened.
const EXECUTABLE: [&str; 16] = [".exe", ".scr", ".com", ".pif", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".msi", ".hta", ".cpl", ".lnk", ".jar"];

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: String,
    pub points: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub points: u32,
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

    /// The header fields to put on top of the message.
    pub fn header(&self, settings: &SpamSettings) -> String {
        let spam = self.is_spam(settings);
        let mut out = format!("X-Spam-Score: {}\r\nX-Spam-Status: {}, score={} required={} tests={}\r\n", self.points, if spam { "Yes" } else { "No" }, self.points, settings.mark_score, self.tests());
        if spam {
            out.push_str("X-Spam-Flag: YES\r\n");
        }
        out
    }

    pub fn is_spam(&self, settings: &SpamSettings) -> bool {
        settings.mark_score > 0 && self.points >= settings.mark_score
    }

    pub fn refused(&self, settings: &SpamSettings) -> bool {
        settings.refuse_score > 0 && self.points >= settings.refuse_score
    }
}

/// Scores `message` (as received) with the built-in rules.
pub fn score(message: &[u8], auth: &AuthFacts) -> Score {
    let mut hits = Vec::new();
    let mut hit = |rule: &str, points: u32| hits.push(Hit { rule: rule.to_string(), points });
    match auth.spf.as_deref() {
        Some("fail") => hit("SPF_FAIL", 3),
        Some("softfail") => hit("SPF_SOFTFAIL", 1),
        _ => {}
    }
    if auth.dkim_bad {
        hit("DKIM_INVALID", 1);
    }
    if auth.dmarc_failed {
        hit("DMARC_FAIL", 3);
    }
    if auth.iprev_failed {
        hit("IPREV_FAIL", 1);
    }
    if auth.helo_bad {
        hit("HELO_NO_DOT", 1);
    }
    for (zone, points) in &auth.listed {
        let name: String = zone.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        hit(&format!("DNSBL_{name}"), *points);
    }
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
    if has_executable(message) {
        hit("EXECUTABLE_ATTACHMENT", 5);
    }
    let points = hits.iter().map(|h| h.points).sum();
    Score { points, hits }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether any part of the message (its multipart tree; not inside attached messages) is named like a program.
fn has_executable(message: &[u8]) -> bool {
    let Some(parsed) = crate::mailbox::mime::parse(message) else { return false };
    parsed.parts.iter().take(crate::mailbox::mime::MAX_DEPTH * 10).filter_map(|p| p.attachment_name()).any(|name| {
        let name = name.trim().trim_end_matches(['.', ' ']).to_ascii_lowercase();
        EXECUTABLE.iter().any(|ext| name.ends_with(ext))
    })
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
