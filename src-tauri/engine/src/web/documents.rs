//! The documents the web service serves, written from [`super::account`]'s answer: Thunderbird's
//! autoconfig (clientConfig 1.1), Outlook's POX Autodiscover response (the 2006a "outlook" schema), an
//! Apple configuration profile (`com.apple.mail.managed`) and the MTA-STS policy (RFC 8461).
//!
//! Every value is escaped for XML; nothing here reads the request except the address it was asked for.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::account::{Endpoint, MailProgramSettings, Security};

/// `&`, `<`, `>`, `"` and `'` as entities; control characters other than tab and line breaks, and the
/// noncharacters U+FFFE and U+FFFF, dropped (XML 1.0 cannot carry them).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Thunderbird's autoconfig for `domain`. `login` is what each server's username says (the web service
/// gives Thunderbird's `%EMAILADDRESS%` placeholder).
pub fn thunderbird(domain: &str, login: &str, incoming: &[Endpoint], outgoing: &[Endpoint]) -> String {
    let d = xml_escape(domain);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
    let _ = writeln!(x, "  <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n    <displayName>{d} mail</displayName>\n    <displayShortName>{d}</displayShortName>");
    let server = |x: &mut String, tag: &str, e: &Endpoint| {
        let kind = e.protocol.to_ascii_lowercase();
        let socket = match e.security {
            Security::Tls => "SSL",
            Security::Starttls => "STARTTLS",
        };
        let _ = writeln!(
            x,
            "    <{tag} type=\"{kind}\">\n      <hostname>{}</hostname>\n      <port>{}</port>\n      <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>{}</username>\n    </{tag}>",
            xml_escape(&e.host),
            e.port,
            xml_escape(login)
        );
    };
    for e in incoming {
        server(&mut x, "incomingServer", e);
    }
    for e in outgoing {
        server(&mut x, "outgoingServer", e);
    }
    x.push_str("  </emailProvider>\n</clientConfig>\n");
    x
}

const AUTODISCOVER_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
/// The response schema Outlook asks for in `AcceptableResponseSchema`.
pub const OUTLOOK_SCHEMA: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Outlook's Autodiscover answer for one account.
pub fn autodiscover(account: &MailProgramSettings) -> String {
    let mut x = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{AUTODISCOVER_NS}\">\n  <Response xmlns=\"{OUTLOOK_SCHEMA}\">\n");
    if !account.real_name.is_empty() {
        let _ = writeln!(x, "    <User>\n      <DisplayName>{}</DisplayName>\n    </User>", xml_escape(&account.real_name));
    }
    x.push_str("    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n");
    for e in account.incoming.iter().chain(&account.outgoing) {
        // Outlook reads Encryption over SSL: "SSL" is TLS from the first byte, "TLS" is STARTTLS.
        let encryption = match e.security {
            Security::Tls => "SSL",
            Security::Starttls => "TLS",
        };
        let _ = writeln!(
            x,
            "      <Protocol>\n        <Type>{}</Type>\n        <Server>{}</Server>\n        <Port>{}</Port>\n        <DomainRequired>off</DomainRequired>\n        <LoginName>{}</LoginName>\n        <SPA>off</SPA>\n        <SSL>on</SSL>\n        <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>",
            e.protocol,
            xml_escape(&e.host),
            e.port,
            xml_escape(&account.login)
        );
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

/// Autodiscover's error answer: 600 for a request it cannot read, 500 for an address it does not know.
pub fn autodiscover_error(code: u16, message: &str, now: i64) -> String {
    let time = crate::time_text::rfc3339(now);
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{AUTODISCOVER_NS}\">\n  <Response>\n    <Error Time=\"{time}\" Id=\"0\">\n      <ErrorCode>{code}</ErrorCode>\n      <Message>{}</Message>\n      <DebugData />\n    </Error>\n  </Response>\n</Autodiscover>\n",
        xml_escape(message)
    )
}

/// A UUID (version 4 layout) that is the same every time for the same `seed`, so that installing a
/// newer profile replaces the old one instead of adding a second account.
fn stable_uuid(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode_upper(b);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// An Apple configuration profile that adds the account to Mail on a Mac, iPhone or iPad: IMAP where it
/// is on (else POP3) and the first SMTP way. `None` when no encrypted incoming or outgoing service is on.
pub fn mobileconfig(account: &MailProgramSettings, server_name: &str) -> Option<String> {
    let incoming = account.incoming.first()?;
    let outgoing = account.outgoing.first()?;
    let kind = if incoming.protocol == "IMAP" { "EmailTypeIMAP" } else { "EmailTypePOP" };
    let reversed: Vec<&str> = server_name.split('.').rev().collect();
    let base = format!("{}.postroom.mail", reversed.join("."));
    let s = |v: &str| format!("<string>{}</string>", xml_escape(v));
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n  <key>PayloadContent</key>\n  <array>\n    <dict>\n",
    );
    let mut entry = |key: &str, value: String| {
        let _ = writeln!(x, "      <key>{key}</key>{value}");
    };
    entry("EmailAccountDescription", s(&account.address));
    if !account.real_name.is_empty() {
        entry("EmailAccountName", s(&account.real_name));
    }
    entry("EmailAccountType", s(kind));
    entry("EmailAddress", s(&account.address));
    entry("IncomingMailServerAuthentication", s("EmailAuthPassword"));
    entry("IncomingMailServerHostName", s(&incoming.host));
    entry("IncomingMailServerPortNumber", format!("<integer>{}</integer>", incoming.port));
    entry("IncomingMailServerUseSSL", "<true/>".into());
    entry("IncomingMailServerUsername", s(&account.login));
    entry("OutgoingMailServerAuthentication", s("EmailAuthPassword"));
    entry("OutgoingMailServerHostName", s(&outgoing.host));
    entry("OutgoingMailServerPortNumber", format!("<integer>{}</integer>", outgoing.port));
    entry("OutgoingMailServerUseSSL", "<true/>".into());
    entry("OutgoingMailServerUsername", s(&account.login));
    entry("OutgoingPasswordSameAsIncomingPassword", "<true/>".into());
    entry("PayloadDescription", s(&format!("The mail account {} on {server_name}", account.address)));
    entry("PayloadDisplayName", s(&account.address));
    entry("PayloadIdentifier", s(&format!("{base}.{}.account", account.login)));
    entry("PayloadType", s("com.apple.mail.managed"));
    entry("PayloadUUID", s(&stable_uuid(&format!("account {server_name} {}", account.address))));
    entry("PayloadVersion", "<integer>1</integer>".into());
    x.push_str("    </dict>\n  </array>\n");
    let mut top = |key: &str, value: String| {
        let _ = writeln!(x, "  <key>{key}</key>{value}");
    };
    top("PayloadDescription", s(&format!("Sets up {} in Mail.", account.address)));
    top("PayloadDisplayName", s(&format!("Mail: {}", account.address)));
    top("PayloadIdentifier", s(&format!("{base}.{}", account.login)));
    top("PayloadOrganization", s(server_name));
    top("PayloadRemovalDisallowed", "<false/>".into());
    top("PayloadType", s("Configuration"));
    top("PayloadUUID", s(&stable_uuid(&format!("profile {server_name} {}", account.address))));
    top("PayloadVersion", "<integer>1</integer>".into());
    x.push_str("</dict>\n</plist>\n");
    Some(x)
}

/// The MTA-STS policy (RFC 8461 §3.2): this server is the MX of every local domain.
pub fn mta_sts(mode: &str, server_name: &str, max_age_secs: u64) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {server_name}\r\nmax_age: {max_age_secs}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ServiceId;

    fn endpoint(protocol: &str, port: u16, security: Security) -> Endpoint {
        Endpoint { protocol: protocol.into(), service: ServiceId::Imaps, host: "mail.example.com".into(), port, security, running: true }
    }

    #[test]
    fn values_are_escaped_and_uuids_are_stable_and_well_formed() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}\u{FFFE}\u{FFFF}é"), "a&lt;b&gt;&amp;&quot;c&apos;é");
        let u = stable_uuid("x");
        assert_eq!(u, stable_uuid("x"));
        assert_ne!(u, stable_uuid("y"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "a version-4 layout");
        let account = MailProgramSettings {
            address: "a&b@example.com".into(),
            login: "a&b".into(),
            real_name: "<Ann>".into(),
            incoming: vec![endpoint("IMAP", 993, Security::Tls)],
            outgoing: vec![endpoint("SMTP", 587, Security::Starttls)],
            autoconfig_urls: vec![],
        };
        let profile = mobileconfig(&account, "mail.example.com").unwrap();
        assert!(profile.contains("<string>a&amp;b@example.com</string>") && !profile.contains("<Ann>"));
        assert!(autodiscover(&account).contains("<LoginName>a&amp;b</LoginName>"));
        assert!(mobileconfig(&MailProgramSettings { outgoing: vec![], ..account }, "x").is_none(), "no SMTP way: no profile");
    }
}
