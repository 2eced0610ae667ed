//! Addresses as GeoIP files write them: dotted IPv4, IPv6 text, or integers (IP2Location: IPv4 as a
//! 32-bit number, IPv6 as a 128-bit one), and networks in CIDR form (MaxMind GeoLite2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    pub fn from_ip(ip: IpAddr) -> Addr {
        match super::index::canonical(ip) {
            IpAddr::V4(v4) => Addr::V4(u32::from(v4)),
            IpAddr::V6(v6) => Addr::V6(u128::from(v6)),
        }
    }
}

/// Why an address, range or network was refused; the text names what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("an empty address")]
    Empty,
    #[error("'{0}' is too large for an address")]
    TooLarge(String),
    #[error("'{0}' is not an IP address")]
    NotAnAddress(String),
    #[error("the range ends ({end}) before it starts ({start})")]
    EndsBeforeStart { start: String, end: String },
    #[error("{start} and {end} are not the same kind of address")]
    MixedFamilies { start: String, end: String },
    #[error("'{0}' is not a network (address/length)")]
    NotANetwork(String),
    #[error("'{0}': the prefix length is not a number")]
    BadPrefix(String),
    #[error("'{network}': an {family} prefix is at most {max} bits")]
    PrefixTooLong { network: String, family: &'static str, max: u32 },
}

/// `1.2.3.4`, `2001:db8::1`, `16909060` or `42540766411282592856903984951653826561`. IPv4-mapped IPv6
/// addresses (text or number) are IPv4.
pub fn parse_addr(text: &str) -> Result<Addr, AddrError> {
    let t = text.trim().trim_matches('"');
    if t.is_empty() {
        return Err(AddrError::Empty);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u128 = t.parse().map_err(|_| AddrError::TooLarge(t.to_string()))?;
        return Ok(match u32::try_from(n) {
            Ok(v4) => Addr::V4(v4),
            Err(_) => Addr::from_ip(IpAddr::V6(Ipv6Addr::from(n))),
        });
    }
    t.parse::<IpAddr>().map(Addr::from_ip).map_err(|_| AddrError::NotAnAddress(t.to_string()))
}

/// A start and an end of one family, start first.
pub fn parse_range(start: &str, end: &str) -> Result<(Addr, Addr), AddrError> {
    let (a, b) = (parse_addr(start)?, parse_addr(end)?);
    match (a, b) {
        (Addr::V4(x), Addr::V4(y)) if x <= y => Ok((a, b)),
        (Addr::V6(x), Addr::V6(y)) if x <= y => Ok((a, b)),
        (Addr::V4(_), Addr::V4(_)) | (Addr::V6(_), Addr::V6(_)) => Err(AddrError::EndsBeforeStart { start: start.trim().to_string(), end: end.trim().to_string() }),
        _ => Err(AddrError::MixedFamilies { start: start.trim().to_string(), end: end.trim().to_string() }),
    }
}

/// `1.2.3.0/24` or `2001:db8::/32` as its first and last address.
pub fn parse_cidr(text: &str) -> Result<(Addr, Addr), AddrError> {
    let t = text.trim();
    let (addr, bits) = t.split_once('/').ok_or_else(|| AddrError::NotANetwork(t.to_string()))?;
    let bits: u32 = bits.parse().map_err(|_| AddrError::BadPrefix(t.to_string()))?;
    match addr.parse::<IpAddr>().map_err(|_| AddrError::NotAnAddress(addr.to_string()))? {
        IpAddr::V4(v4) => {
            if bits > 32 {
                return Err(AddrError::PrefixTooLong { network: t.to_string(), family: "IPv4", max: 32 });
            }
            let host = if bits == 32 { 0 } else { u32::MAX >> bits };
            let start = u32::from(v4) & !host;
            Ok((Addr::V4(start), Addr::V4(start | host)))
        }
        IpAddr::V6(v6) => {
            if bits > 128 {
                return Err(AddrError::PrefixTooLong { network: t.to_string(), family: "IPv6", max: 128 });
            }
            let host = if bits == 128 { 0 } else { u128::MAX >> bits };
            let start = u128::from(v6) & !host;
            // ::ffff:0:0/96 and narrower are IPv4 networks.
            let (a, b) = (Addr::from_ip(IpAddr::V6(Ipv6Addr::from(start))), Addr::from_ip(IpAddr::V6(Ipv6Addr::from(start | host))));
            match (a, b) {
                (Addr::V4(_), Addr::V4(_)) => Ok((a, b)),
                _ => Ok((Addr::V6(start), Addr::V6(start | host))),
            }
        }
    }
}

pub fn v4_text(n: u32) -> String {
    Ipv4Addr::from(n).to_string()
}

pub fn v6_text(n: u128) -> String {
    Ipv6Addr::from(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_every_form() {
        assert_eq!(parse_addr("1.0.0.0"), Ok(Addr::V4(16_777_216)));
        assert_eq!(parse_addr(" \"16777216\" "), Ok(Addr::V4(16_777_216)));
        assert_eq!(parse_addr("::ffff:1.0.0.0"), Ok(Addr::V4(16_777_216)));
        assert_eq!(parse_addr("281470698520576"), Ok(Addr::V4(16_777_216)), "IP2Location's IPv4-mapped number");
        assert_eq!(parse_addr("2001:db8::1"), Ok(Addr::V6(0x2001_0db8_0000_0000_0000_0000_0000_0001)));
        assert_eq!(parse_addr("42540766411282592856903984951653826561"), Ok(Addr::V6(0x2001_0db8_0000_0000_0000_0000_0000_0001)));
        assert!(parse_addr("1.2.3").is_err());
        assert!(parse_addr("999999999999999999999999999999999999999999").is_err());
        assert!(parse_addr("").is_err());
    }

    #[test]
    fn ranges_and_networks() {
        assert_eq!(parse_range("1.0.0.255", "1.0.0.0").unwrap_err().to_string(), "the range ends (1.0.0.0) before it starts (1.0.0.255)");
        assert!(matches!(parse_range("1.0.0.0", "2001:db8::").unwrap_err(), AddrError::MixedFamilies { .. }));
        assert_eq!(parse_cidr("1.0.0.0/24"), Ok((Addr::V4(16_777_216), Addr::V4(16_777_471))));
        assert_eq!(parse_cidr("1.0.0.9/32"), Ok((Addr::V4(16_777_225), Addr::V4(16_777_225))));
        assert_eq!(parse_cidr("0.0.0.0/0"), Ok((Addr::V4(0), Addr::V4(u32::MAX))));
        assert_eq!(parse_cidr("2001:db8::/32").unwrap().1, Addr::V6(0x2001_0db8_ffff_ffff_ffff_ffff_ffff_ffff));
        assert_eq!(parse_cidr("::ffff:10.0.0.0/104"), Ok((Addr::V4(167_772_160), Addr::V4(184_549_375))));
        assert!(parse_cidr("1.0.0.0/33").is_err());
        assert!(parse_cidr("1.0.0.0").is_err());
    }
}
