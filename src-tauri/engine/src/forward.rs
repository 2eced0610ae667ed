//! Forwarding to another SMTP server on the office's network: VPOP3's LAN forwarding rules, a user's
//! Routing forward (`SMTP:address@[user:pass@]server[:port]`) and Store and Forward.
//!
//! A [`Target`] is a server written as `[user:pass@]host[:port]` (split at the last `@`; a host is a
//! name, an IPv4 address or `[IPv6]`; port 25 unless given; 465 refused: implicit TLS is not used for
//! forwarding, STARTTLS is when offered). LAN rules are tried in order: each lists address patterns, one
//! per line, with `*` and `?`; a `~@domain` pattern matches only after users, aliases and every specific
//! pattern failed (see `delivery::route`). A rule may rewrite the address (`*@newdomain` keeps the local
//! part). Forwarded mail waits in the outbound queue as its own kind, sent straight to the target.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::store::StoreResult;

/// A server mail is forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
pub struct Target {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The login may be sent without verified TLS (a server on the office's own network).
    #[serde(default)]
    pub plain_auth: bool,
}

impl Target {
    /// `host:port` as logged and shown (never the login).
    pub fn shown(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// What the queue stores as the route.
    pub fn to_route(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_route(text: &str) -> Option<Target> {
        serde_json::from_str(text).ok()
    }
}

/// The longest address pattern list, host or login a rule may hold.
const MAX_TEXT: usize = 64 * 1024;
/// Rules kept: each is tried for every recipient.
pub const MAX_RULES: usize = 500;

/// Reads `[user:pass@]host[:port]`.
pub fn parse_server(text: &str) -> Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("give the server as host, host:port or user:password@host:port".into());
    }
    let (login, server) = match text.rfind('@') {
        Some(at) => (Some(&text[..at]), &text[at + 1..]),
        None => (None, text),
    };
    let (username, password) = match login {
        Some(l) => match l.split_once(':') {
            Some((u, p)) if !u.is_empty() => (u.to_string(), p.to_string()),
            _ => return Err("write the login as user:password@ before the server".into()),
        },
        None => (String::new(), String::new()),
    };
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else { return Err("an IPv6 address ends with ]".into()) };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("'{inside}' is not an IPv6 address"));
        }
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("after [IPv6] comes :port or nothing".into()),
        };
        (inside.to_string(), port)
    } else {
        match server.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (server.to_string(), None),
        }
    };
    let port = match port {
        None => 25,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("'{p}' is not a port"))?,
    };
    if port == 465 {
        return Err("port 465 is implicit TLS, which forwarding does not use: use 25 or 587 (STARTTLS is used when the server offers it)".into());
    }
    if host.parse::<std::net::IpAddr>().is_err() {
        crate::names::validate_domain(&host).map_err(|e| format!("'{host}' is not a host name: {e}"))?;
    }
    Ok(Target { host, port, username, password, plain_auth: false })
}

/// A user's Routing forward: `SMTP:address@[user:pass@]server[:port]`, split at the last `@` that
/// starts the server. Returns (address, target).
pub fn parse_user_forward(text: &str) -> Result<(String, Target), String> {
    let rest = text.trim().strip_prefix("SMTP:").or_else(|| text.trim().strip_prefix("smtp:")).ok_or("a forward starts with SMTP: (SMTP:address@server)")?;
    // The address's own @ comes first; the server starts after the @ that follows it.
    let first = rest.find('@').ok_or("write SMTP:address@server")?;
    let after = &rest[first + 1..];
    let split = after.find('@').map(|i| first + 1 + i).ok_or("write SMTP:address@server: the server is missing")?;
    // What follows may itself hold user:pass@host; parse_server splits that at its last @.
    let (address, server) = (&rest[..split], &rest[split + 1..]);
    check_address(address).map_err(|e| format!("'{address}': {e}"))?;
    Ok((address.to_string(), parse_server(server)?))
}

/// An address forwarding may send to: `local@domain`, at most 254 bytes, no spaces or control characters.
pub fn check_address(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.rsplit_once('@') else { return Err("an address is local@domain".into()) };
    if local.is_empty() || address.len() > 254 || address.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
        return Err("not a usable address".into());
    }
    crate::names::validate_domain(domain).map(|_| ()).map_err(|e| e.to_string())
}

/// One LAN forwarding rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LanRule {
    #[ts(type = "number")]
    pub id: i64,
    /// Address patterns, one per entry.
    pub addresses: Vec<String>,
    pub target: Target,
    /// `*@newdomain` (keeps the local part), a whole address, or empty.
    pub rewrite: String,
}

/// Whether `address` matches `pattern` (`*` any run, `?` one character; case-insensitive). Iterative,
/// with the usual backtracking to the last `*`: linear in practice, quadratic at worst, and both are
/// short (addresses ≤ 256 bytes, patterns ≤ 256 bytes: longer ones are refused when saved).
pub fn wildcard(pattern: &str, address: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let a: Vec<char> = address.to_lowercase().chars().collect();
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < a.len() {
        if i < p.len() && (p[i] == '?' || p[i] == a[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// The address after a rule's rewrite.
pub fn rewritten(rule_rewrite: &str, address: &str) -> String {
    let r = rule_rewrite.trim();
    if r.is_empty() {
        return address.to_string();
    }
    match r.strip_prefix("*@") {
        Some(domain) => {
            let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
            format!("{local}@{domain}")
        }
        None => r.to_string(),
    }
}

/// Which patterns a lookup considers: the specific ones (tried before local users), or the `~@domain`
/// catch-alls (after them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Specific,
    CatchAll,
}

/// The first rule (in order) with a pattern of this pass matching `address`.
pub fn find(c: &Connection, address: &str, pass: Pass) -> StoreResult<Option<LanRule>> {
    for rule in list(c)? {
        let hit = rule.addresses.iter().any(|p| match (pass, p.strip_prefix('~')) {
            (Pass::CatchAll, Some(rest)) => wildcard(&format!("*{rest}"), address),
            (Pass::Specific, None) => wildcard(p, address),
            _ => false,
        });
        if hit {
            return Ok(Some(rule));
        }
    }
    Ok(None)
}

/// Every rule, in order.
pub fn list(c: &Connection) -> StoreResult<Vec<LanRule>> {
    let mut stmt = c.prepare_cached("SELECT id, addresses, host, port, username, password, plain_auth, rewrite FROM lan_forward_rules ORDER BY position, id")?;
    let rules = stmt
        .query_map([], |r| {
            Ok(LanRule {
                id: r.get(0)?,
                addresses: r.get::<_, String>(1)?.lines().map(str::to_string).collect(),
                target: Target { host: r.get(2)?, port: r.get(3)?, username: r.get(4)?, password: r.get(5)?, plain_auth: r.get(6)? },
                rewrite: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rules)
}

/// Checks a rule's parts; the addresses trimmed, empty lines dropped.
pub fn check(rule: &mut LanRule) -> Result<(), Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    rule.addresses = rule.addresses.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
    if rule.addresses.is_empty() {
        errors.push(("addresses", "list at least one address or pattern (one per line, * and ? allowed, ~@domain for the rest of a domain)".to_string()));
    }
    for a in &rule.addresses {
        if a.len() > 256 || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
            errors.push(("addresses", format!("'{a}' is not an address pattern")));
        } else if a.starts_with('~') && !a.starts_with("~@") {
            errors.push(("addresses", format!("'{a}': ~ is written ~@domain")));
        }
    }
    if rule.target.port == 465 {
        errors.push(("port", "port 465 is implicit TLS, which forwarding does not use: use 25 or 587".into()));
    } else if rule.target.port == 0 {
        errors.push(("port", "give a port (25, or 587)".into()));
    }
    let host = rule.target.host.trim().trim_start_matches('[').trim_end_matches(']').to_string();
    if host.parse::<std::net::IpAddr>().is_err() && crate::names::validate_domain(&host).is_err() {
        errors.push(("host", format!("'{host}' is not a host name or IP address")));
    }
    rule.target.host = host;
    if rule.target.username.is_empty() != rule.target.password.is_empty() {
        errors.push(("username", "give both the user name and the password, or neither".into()));
    }
    let r = rule.rewrite.trim().to_string();
    if !r.is_empty() && check_address(r.strip_prefix("*@").map(|d| format!("x@{d}")).as_deref().unwrap_or(&r)).is_err() {
        errors.push(("rewrite", "write *@newdomain, or a whole address".into()));
    }
    rule.rewrite = r;
    if rule.addresses.iter().map(String::len).sum::<usize>() + rule.target.username.len() + rule.target.password.len() > MAX_TEXT {
        errors.push(("addresses", "the rule is too long".into()));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Adds a rule at the end; its id.
pub fn add(c: &Connection, rule: &LanRule) -> StoreResult<Result<i64, String>> {
    let count: i64 = c.query_row("SELECT count(*) FROM lan_forward_rules", [], |r| r.get(0))?;
    if count as usize >= MAX_RULES {
        return Ok(Err(format!("at most {MAX_RULES} LAN forwarding rules")));
    }
    let t = &rule.target;
    c.execute(
        "INSERT INTO lan_forward_rules(position, addresses, host, port, username, password, plain_auth, rewrite)
         VALUES ((SELECT coalesce(max(position), 0) + 1 FROM lan_forward_rules), ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![rule.addresses.join("\n"), t.host, t.port, t.username, t.password, t.plain_auth, rule.rewrite],
    )?;
    Ok(Ok(c.last_insert_rowid()))
}

/// Deletes a rule; `false` when there is none.
pub fn delete(c: &Connection, id: i64) -> StoreResult<bool> {
    Ok(c.execute("DELETE FROM lan_forward_rules WHERE id = ?1", [id])? == 1)
}

/// Makes the rules exactly `rules`, in this order (ids kept where given and known).
pub fn replace(c: &Connection, rules: &[LanRule]) -> StoreResult<()> {
    c.execute("DELETE FROM lan_forward_rules", [])?;
    for (i, rule) in rules.iter().enumerate() {
        let t = &rule.target;
        c.execute(
            "INSERT INTO lan_forward_rules(id, position, addresses, host, port, username, password, plain_auth, rewrite)
             VALUES (CASE WHEN ?1 > 0 THEN ?1 END, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![rule.id, i as i64 + 1, rule.addresses.join("\n"), t.host, t.port, t.username, t.password, t.plain_auth, rule.rewrite],
        )?;
    }
    Ok(())
}

/// The LAN Forwarding window's Save: every rule checked (an error names `rules.N.field`, N from 0), then
/// the list replaced in one write, in this order. Returns the rules as stored.
pub fn save_rules(store: &crate::store::Store, mut rules: Vec<LanRule>) -> crate::error::ApiResult<Vec<LanRule>> {
    use crate::error::{ApiError, FieldError};
    if rules.len() > MAX_RULES {
        return Err(ApiError::field("rules", format!("at most {MAX_RULES} LAN forwarding rules")));
    }
    let mut errors = Vec::new();
    for (i, rule) in rules.iter_mut().enumerate() {
        if let Err(e) = check(rule) {
            errors.extend(e.into_iter().map(|(field, message)| FieldError::new(format!("rules.{i}.{field}"), message)));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    store.write(move |c| replace(c, &rules))?;
    Ok(store.read(list)?)
}

/// A user's forwarding as the Routing and Advanced tabs set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserForwarding {
    /// The Routing forward: the address and its server.
    pub forward: Option<(String, Target)>,
    /// Keep a copy in the mailbox as well as forwarding.
    pub keep: bool,
    /// Store and Forward: the user's address on the main server, and that server.
    pub store_forward: Option<(String, Target)>,
}

/// What the user's row says (bad stored values count as none, and are logged).
pub fn of_user(c: &Connection, user_id: i64) -> StoreResult<UserForwarding> {
    let row: Option<(String, bool, String, String)> = c
        .query_row("SELECT forward_to, forward_keep, sf_target, sf_server FROM users WHERE id = ?1", [user_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((forward_to, keep, sf_target, sf_server)) = row else { return Ok(UserForwarding::default()) };
    let forward = (!forward_to.is_empty()).then(|| parse_user_forward(&forward_to)).and_then(|r| {
        r.map_err(|e| tracing::warn!(target: "delivery", user_id, error = %e, "the user's forward is not usable")).ok()
    });
    let store_forward = (!sf_target.is_empty() && !sf_server.is_empty()).then(|| parse_server(&sf_server)).and_then(|r| {
        r.map(|t| (sf_target.clone(), t)).map_err(|e| tracing::warn!(target: "delivery", user_id, error = %e, "the user's Store and Forward server is not usable")).ok()
    });
    Ok(UserForwarding { forward, keep, store_forward })
}

/// How many of `user_id`'s stored messages wait to be handed to the Store-and-Forward main server.
pub fn waiting_to_forward(c: &rusqlite::Connection, user_id: i64) -> StoreResult<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM queue_recipients r
         WHERE r.kind = 'store_forward' AND r.state = 'queued'
           AND EXISTS (SELECT 1 FROM messages m JOIN folders f ON f.id = m.folder_id WHERE m.forward_id = r.id AND f.user_id = ?1)",
        [user_id],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_read_as_vpop3_writes_them() {
        assert_eq!(parse_server("mail.office.lan").unwrap(), Target { host: "mail.office.lan".into(), port: 25, ..Default::default() });
        let t = parse_server("fred:p@ss@10.0.0.5:587").unwrap();
        assert_eq!((t.username.as_str(), t.password.as_str(), t.host.as_str(), t.port), ("fred", "p@ss", "10.0.0.5", 587), "split at the last @");
        assert_eq!(parse_server("[::1]:2525").unwrap().host, "::1");
        assert!(parse_server("mail:465").unwrap_err().contains("implicit TLS"));
        assert!(parse_server("mail:0").is_err() && parse_server("mail:x").is_err() && parse_server("[1.2.3.4]").is_err());
        assert!(parse_server("bad host").is_err());
        assert_eq!(Target { host: "::1".into(), port: 25, ..Default::default() }.shown(), "[::1]:25");
    }

    #[test]
    fn a_users_forward_splits_address_and_server() {
        let (a, t) = parse_user_forward("SMTP:fred@example.com@exchange.lan").unwrap();
        assert_eq!((a.as_str(), t.host.as_str(), t.port), ("fred@example.com", "exchange.lan", 25));
        let (a, t) = parse_user_forward("SMTP:fred@example.com@joe:secret@10.1.1.1:587").unwrap();
        assert_eq!((a.as_str(), t.username.as_str(), t.password.as_str(), t.host.as_str(), t.port), ("fred@example.com", "joe", "secret", "10.1.1.1", 587));
        assert!(parse_user_forward("fred@example.com@x").is_err());
        assert!(parse_user_forward("SMTP:fred@example.com").is_err());
    }

    #[test]
    fn wildcards_match_whole_addresses_and_rewrites_keep_the_local_part() {
        assert!(wildcard("sales@office.test", "Sales@Office.test"));
        assert!(wildcard("*@office.test", "anyone@office.test") && !wildcard("*@office.test", "a@office.test.evil"));
        assert!(wildcard("j?n@x", "jon@x") && !wildcard("j?n@x", "joan@x"));
        assert!(wildcard("*a*b*c*", "xxaxxbxxcxx"));
        // A pattern built to backtrack a lot still answers (no recursion, no blow-up).
        assert!(!wildcard(&"*a".repeat(60), &format!("{}b", "a".repeat(200))));
        assert_eq!(rewritten("*@new.example", "sales@old.example"), "sales@new.example");
        assert_eq!(rewritten("boss@new.example", "sales@old.example"), "boss@new.example");
        assert_eq!(rewritten("", "sales@old.example"), "sales@old.example");
    }

    #[test]
    fn rules_are_tried_in_order_and_catch_alls_only_in_their_pass() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        let rule = |addresses: &[&str], host: &str| LanRule {
            id: 0,
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            target: Target { host: host.into(), port: 25, ..Default::default() },
            rewrite: String::new(),
        };
        add(&c, &rule(&["~@office.test"], "catchall.lan")).unwrap().unwrap();
        add(&c, &rule(&["sales@office.test", "s*@office.test"], "first.lan")).unwrap().unwrap();
        add(&c, &rule(&["sales@office.test"], "second.lan")).unwrap().unwrap();
        assert_eq!(find(&c, "sales@office.test", Pass::Specific).unwrap().unwrap().target.host, "first.lan");
        assert_eq!(find(&c, "bob@office.test", Pass::Specific).unwrap(), None);
        assert_eq!(find(&c, "bob@office.test", Pass::CatchAll).unwrap().unwrap().target.host, "catchall.lan");
        let mut bad = rule(&["~office.test", "a b"], "not a host");
        bad.target.port = 465;
        let errors = check(&mut bad).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.0).collect();
        assert_eq!(fields, ["addresses", "addresses", "port", "host"]);
    }
}
