//! Access restrictions, checked for every connection before the greeting: the service's rules in
//! order, the first that matches deciding, else the default action. A GeoIP rule matches when any
//! result the GeoIP tables give for the address is one of its tags (case does not matter), so an address
//! in several overlapping ranges is checked against each of their results.

use std::net::IpAddr;

use crate::geoip::addr::Addr;
use crate::geoip::index::canonical;
use crate::geoip::GeoIndex;
use crate::settings::{AccessAction, Matcher, RuleKind, ServiceId, Settings};

impl Matcher {
    fn matches(&self, ip: IpAddr, geoip: &GeoIndex) -> Option<String> {
        match self {
            Matcher::Range(a, b) => {
                let hit = match (Addr::from_ip(ip), a, b) {
                    (Addr::V4(x), Addr::V4(a), Addr::V4(b)) => *a <= x && x <= *b,
                    (Addr::V6(x), Addr::V6(a), Addr::V6(b)) => *a <= x && x <= *b,
                    _ => false,
                };
                hit.then(String::new)
            }
            Matcher::Tags(tags) => {
                let mut found = None;
                geoip.for_each(ip, |result| {
                    if found.is_none() && tags.iter().any(|t| t.eq_ignore_ascii_case(result.trim())) {
                        found = Some(format!(" (GeoIP {result})"));
                    }
                });
                found
            }
        }
    }
}

/// Why a connection was refused, for security.log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `ip` may use `service`.
pub fn check(settings: &Settings, service: ServiceId, ip: IpAddr, geoip: &GeoIndex) -> Result<(), Refused> {
    let ip = canonical(ip);
    let access = settings.access.get(service);
    if access.rules.is_empty() && access.default_action == AccessAction::Allow {
        return Ok(());
    }
    if settings.access.exempt_local && (ip.is_loopback() || settings.smtp.trusted().iter().any(|n| n.contains(&ip))) {
        return Ok(());
    }
    for (i, rule) in access.rules.iter().enumerate() {
        // Rules were validated when saved; one that no longer parses is skipped.
        let Ok(matcher) = Matcher::parse(rule) else { continue };
        if let Some(detail) = matcher.matches(ip, geoip) {
            let kind = match rule.kind {
                RuleKind::Address => "address",
                RuleKind::Range => "range",
                RuleKind::Cidr => "network",
                RuleKind::Geoip => "GeoIP",
            };
            return match rule.action {
                AccessAction::Allow => Ok(()),
                AccessAction::Deny => Err(Refused(format!("rule {}: deny {kind} {}{detail}", i + 1, rule.value.trim()))),
            };
        }
    }
    match access.default_action {
        AccessAction::Allow => Ok(()),
        AccessAction::Deny => Err(Refused("no rule allows it and the default is deny".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geoip::index::Rows;
    use crate::settings::AccessRule;

    fn rule(action: AccessAction, kind: RuleKind, value: &str) -> AccessRule {
        AccessRule { action, kind, value: value.into() }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_matching_rule_decides_and_geoip_checks_every_result() {
        let geo = GeoIndex::build(Rows {
            v4: vec![(0x0100_0000, 0x0100_00ff, "AU".into()), (0x0100_0000, 0x01ff_ffff, "APNIC".into()), (0x0200_0000, 0x0200_00ff, "cn".into())],
            v6: vec![],
        });
        let mut s = Settings::default();
        s.access.exempt_local = false;
        s.access.smtp.rules = vec![
            rule(AccessAction::Allow, RuleKind::Address, "2.0.0.7"),
            rule(AccessAction::Deny, RuleKind::Geoip, "CN; RU"),
            rule(AccessAction::Deny, RuleKind::Geoip, "APNIC"),
            rule(AccessAction::Allow, RuleKind::Cidr, "10.0.0.0/8"),
        ];
        s.access.smtp.default_action = AccessAction::Deny;
        assert_eq!(check(&s, ServiceId::Smtp, ip("2.0.0.7"), &geo), Ok(()), "allowed before the GeoIP rule");
        assert_eq!(check(&s, ServiceId::Smtp, ip("2.0.0.8"), &geo).unwrap_err().0, "rule 2: deny GeoIP CN; RU (GeoIP cn)");
        assert_eq!(check(&s, ServiceId::Smtp, ip("1.0.0.1"), &geo).unwrap_err().0, "rule 3: deny GeoIP APNIC (GeoIP APNIC)", "the second of two results matched");
        assert_eq!(check(&s, ServiceId::Smtp, ip("10.9.9.9"), &geo), Ok(()));
        assert!(check(&s, ServiceId::Smtp, ip("192.0.2.1"), &geo).unwrap_err().0.contains("default is deny"));
        assert_eq!(check(&s, ServiceId::Pop3, ip("2.0.0.8"), &geo), Ok(()), "rules are per service");
        s.access.exempt_local = true;
        s.smtp.trusted_networks = "2.0.0.0/24".into();
        assert_eq!(check(&s, ServiceId::Smtp, ip("2.0.0.8"), &geo), Ok(()), "trusted networks are exempt");
        assert_eq!(check(&s, ServiceId::Smtp, ip("::ffff:2.0.0.8"), &geo), Ok(()));
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let bad = |kind, value| Matcher::parse(&rule(AccessAction::Deny, kind, value)).err().unwrap();
        use crate::geoip::addr::AddrError;
        use crate::settings::RuleError;
        assert_eq!(bad(RuleKind::Address, "1.2.3"), RuleError::Addr(AddrError::NotAnAddress("1.2.3".into())));
        assert!(bad(RuleKind::Address, "1.2.3").to_string().contains("not an IP address"));
        assert!(matches!(bad(RuleKind::Range, "1.2.3.4"), RuleError::NotARange(_)));
        assert!(bad(RuleKind::Range, "1.2.3.4").to_string().contains("first-last"));
        assert!(bad(RuleKind::Cidr, "1.2.3.4/40").to_string().contains("at most 32"));
        assert_eq!(bad(RuleKind::Geoip, " ; ,"), RuleError::NoTags);
        let mut s = Settings::default();
        s.access.imap.rules = vec![rule(AccessAction::Deny, RuleKind::Cidr, "nonsense")];
        let err = crate::settings::validate(&s).unwrap_err();
        assert_eq!(err.fields[0].field, "access.imap.rules.1");
    }
}
