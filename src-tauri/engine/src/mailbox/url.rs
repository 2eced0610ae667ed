//! IMAP URLs (RFC 5092) that name a stored message or a part of one, and URLAUTH (RFC 4467): a URL the
//! owner authorised, so that someone else — the submission server (BURL, RFC 4468), another user — may
//! read exactly that and nothing more. IMAP's CATENATE and URLFETCH and SMTP's BURL resolve URLs here.
//!
//! A URL is authorised by a token: the hex HMAC-SHA256 of the "rump" URL (everything up to and including
//! `;URLAUTH=<access>`) under a random key of the mailbox, made on first GENURLAUTH and replaced by
//! RESETKEY, which voids every URL made with the old one. The key never leaves the database.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreResult;

/// The longest URL read (the RFC sets no limit; a URL of a message is a few hundred bytes).
pub const MAX_LENGTH: usize = 8 * 1024;

/// A parsed IMAP URL of one message or part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The user of `imap://user@host/`; none in a path-only URL.
    pub user: Option<String>,
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    pub section: Option<super::section::SectionSpec>,
    /// PARTIAL=offset[.length].
    pub partial: Option<(u32, Option<u32>)>,
    /// EXPIRE, as Unix seconds.
    pub expire: Option<i64>,
    /// URLAUTH's access identifier: `anonymous`, `authuser`, `user+NAME` or `submit+NAME`.
    pub access: Option<String>,
    /// URLAUTH's mechanism and token, when the URL carries them.
    pub token: Option<(String, String)>,
    /// The URL up to and including `;URLAUTH=<access>`: what the token signs.
    pub rump: String,
}

/// Why a URL cannot be used; every one answers BADURL or NIL to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is not an IMAP URL of one message (imap://user@host/mailbox;UIDVALIDITY=n/;UID=n)")]
    Malformed,
    #[error("the URL has expired")]
    Expired,
    #[error("the URL is not authorised for this user")]
    NotAuthorised,
    #[error("there is no such message")]
    NoMessage,
}

/// Who asks for a URL's content.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    /// The logged-in user (IMAP: CATENATE, URLFETCH).
    User { id: i64, name: &'a str },
    /// The submission server on behalf of this authenticated user (SMTP BURL).
    Submit { id: i64, name: &'a str },
}

fn decode_percent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads `imap://user@host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]
/// [;EXPIRE=date-time][;URLAUTH=access[:mechanism:token]]`, or the same from `/mailbox` on.
pub fn parse(text: &str) -> Result<ImapUrl, UrlError> {
    if text.len() > MAX_LENGTH || text.chars().any(|c| c.is_control() || c == ' ') {
        return Err(UrlError::Malformed);
    }
    let lower = text.to_ascii_lowercase();
    let (user, path_at) = if lower.starts_with("imap://") {
        let authority_end = text[7..].find('/').map(|i| i + 7).ok_or(UrlError::Malformed)?;
        let authority = &text[7..authority_end];
        let user = authority.rsplit_once('@').map(|(u, _)| u.split(';').next().unwrap_or(u)).filter(|u| !u.is_empty());
        (user.map(|u| decode_percent(u).ok_or(UrlError::Malformed)).transpose()?, authority_end)
    } else if text.starts_with('/') {
        (None, 0)
    } else {
        return Err(UrlError::Malformed);
    };
    let path = &text[path_at + 1..];
    let uid_at = path.to_ascii_lowercase().find("/;uid=").ok_or(UrlError::Malformed)?;
    let (mailbox_part, rest) = (&path[..uid_at], &path[uid_at + 2..]);
    let (mailbox, uidvalidity) = match mailbox_part.split_once(';') {
        Some((m, v)) => {
            let v = v.get(..12).filter(|k| k.eq_ignore_ascii_case("UIDVALIDITY=")).map(|_| &v[12..]).ok_or(UrlError::Malformed)?;
            (m, Some(v.parse::<u32>().map_err(|_| UrlError::Malformed)?))
        }
        None => (mailbox_part, None),
    };
    let mailbox = decode_percent(mailbox).filter(|m| !m.is_empty()).ok_or(UrlError::Malformed)?;
    let mut url = ImapUrl { user, mailbox, uidvalidity, uid: 0, section: None, partial: None, expire: None, access: None, token: None, rump: String::new() };
    let mut rump_end = text.len();
    let mut offset = text.len() - rest.len();
    let mut seen: Vec<String> = Vec::new();
    let pieces: Vec<&str> = rest.split(';').collect();
    for (n, piece) in pieces.iter().enumerate() {
        let piece = *piece;
        let value_at = offset;
        offset += piece.len() + 1;
        let piece = piece.strip_suffix('/').unwrap_or(piece);
        let (name, value) = piece.split_once('=').ok_or(UrlError::Malformed)?;
        // Each part once; URLAUTH last, so that nothing the token does not sign can follow it.
        let upper = name.to_ascii_uppercase();
        if seen.contains(&upper) || (upper == "URLAUTH" && n + 1 != pieces.len()) {
            return Err(UrlError::Malformed);
        }
        seen.push(upper.clone());
        match upper.as_str() {
            "UID" => url.uid = value.parse().ok().filter(|&u| u > 0).ok_or(UrlError::Malformed)?,
            "SECTION" => url.section = Some(decode_percent(value).and_then(|s| super::section::SectionSpec::parse(&s)).ok_or(UrlError::Malformed)?),
            "PARTIAL" => {
                let (o, l) = match value.split_once('.') {
                    Some((o, l)) => (o, Some(l.parse().map_err(|_| UrlError::Malformed)?)),
                    None => (value, None),
                };
                url.partial = Some((o.parse().map_err(|_| UrlError::Malformed)?, l));
            }
            "EXPIRE" => {
                let when = chrono::DateTime::parse_from_rfc3339(&decode_percent(value).ok_or(UrlError::Malformed)?).map_err(|_| UrlError::Malformed)?;
                url.expire = Some(when.timestamp());
            }
            "URLAUTH" => {
                let mut parts = value.splitn(3, ':');
                let access = parts.next().unwrap_or("");
                if !valid_access(access) {
                    return Err(UrlError::Malformed);
                }
                url.access = Some(access.to_string());
                rump_end = value_at + "URLAUTH=".len() + access.len();
                if let (Some(mechanism), Some(token)) = (parts.next(), parts.next()) {
                    url.token = Some((mechanism.to_string(), token.to_string()));
                }
            }
            _ => return Err(UrlError::Malformed),
        }
    }
    if url.uid == 0 {
        return Err(UrlError::Malformed);
    }
    url.rump = text[..rump_end].to_string();
    Ok(url)
}

fn valid_access(access: &str) -> bool {
    let lower = access.to_ascii_lowercase();
    lower == "anonymous" || lower == "authuser" || ["user+", "submit+"].iter().any(|p| lower.strip_prefix(p).is_some_and(|n| !n.is_empty()))
}

/// The id of the live user with this login name.
fn user_id(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    Ok(c.query_row("SELECT id FROM users WHERE name = ?1 AND deleted_at IS NULL", [name], |r| r.get(0)).optional()?)
}

/// The mailbox's URLAUTH key, made now if it has none yet.
fn key(c: &Connection, folder_id: i64, make: bool) -> StoreResult<Option<Vec<u8>>> {
    let stored: Option<Vec<u8>> = c.query_row("SELECT key FROM urlauth_keys WHERE folder_id = ?1", [folder_id], |r| r.get(0)).optional()?;
    if stored.is_some() || !make {
        return Ok(stored);
    }
    let mut fresh = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh).map_err(|_| crate::store::StoreError::Io(std::io::Error::other("no random numbers")))?;
    c.execute("INSERT INTO urlauth_keys(folder_id, key) VALUES (?1, ?2)", params![folder_id, fresh])?;
    Ok(Some(fresh))
}

fn sign(key: &[u8], rump: &str) -> String {
    hex::encode(ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), rump.as_bytes()).as_ref())
}

/// GENURLAUTH (RFC 4467 §7): the URL with `:INTERNAL:<token>` added, for a URL of the user's own mailbox
/// that ends in `;URLAUTH=<access>` and names a message that exists.
pub fn authorise(c: &Connection, owner: i64, owner_name: &str, text: &str) -> StoreResult<Result<String, UrlError>> {
    let url = match parse(text) {
        Ok(u) if u.token.is_none() && u.access.is_some() && u.rump.len() == text.len() => u,
        Ok(_) | Err(_) => return Ok(Err(UrlError::Malformed)),
    };
    if !url.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(owner_name)) {
        return Ok(Err(UrlError::NotAuthorised));
    }
    let Some(folder) = super::folder(c, owner, &url.mailbox)? else { return Ok(Err(UrlError::NoMessage)) };
    let Some(key) = key(c, folder.id, true)? else { return Ok(Err(UrlError::NoMessage)) };
    Ok(Ok(format!("{text}:INTERNAL:{}", sign(&key, &url.rump))))
}

/// RESETKEY (RFC 4467 §7): new keys for one mailbox of the user, or all of them; every URL authorised with
/// the old ones stops working. `false` when there is no such mailbox.
pub fn reset_keys(c: &Connection, owner: i64, mailbox: Option<&str>) -> StoreResult<bool> {
    match mailbox {
        Some(path) => {
            let Some(folder) = super::folder(c, owner, path)? else { return Ok(false) };
            c.execute("DELETE FROM urlauth_keys WHERE folder_id = ?1", [folder.id])?;
        }
        None => {
            c.execute("DELETE FROM urlauth_keys WHERE folder_id IN (SELECT id FROM folders WHERE user_id = ?1)", [owner])?;
        }
    }
    Ok(true)
}

/// The bytes a URL names, if `who` may read them: the owner always (a URL without URLAUTH, or with it);
/// anyone else only through a valid token whose access identifier admits them, before it expires.
pub fn resolve(c: &Connection, blobs_dir: &std::path::Path, text: &str, who: Requester<'_>) -> StoreResult<Result<Vec<u8>, UrlError>> {
    let url = match parse(text) {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let (who_id, who_name, submitting) = match who {
        Requester::User { id, name } => (id, name, false),
        Requester::Submit { id, name } => (id, name, true),
    };
    // Someone else's URL fails one way, whatever the reason: no telling which users or mailboxes exist.
    let own = url.user.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(who_name));
    let answer = resolve_parsed(c, blobs_dir, &url, who_id, who_name, submitting)?;
    Ok(match answer {
        Err(_) if !own => Err(UrlError::NotAuthorised),
        other => other,
    })
}

fn resolve_parsed(c: &Connection, blobs_dir: &std::path::Path, url: &ImapUrl, who_id: i64, who_name: &str, submitting: bool) -> StoreResult<Result<Vec<u8>, UrlError>> {
    let owner = match &url.user {
        Some(name) => match user_id(c, name)? {
            Some(id) => id,
            None => return Ok(Err(UrlError::NoMessage)),
        },
        None => who_id,
    };
    if url.expire.is_some_and(|t| t < crate::store::now()) {
        return Ok(Err(UrlError::Expired));
    }
    let Some(folder) = super::folder(c, owner, &url.mailbox)? else { return Ok(Err(UrlError::NoMessage)) };
    if let Some((mechanism, token)) = &url.token {
        let access = url.access.as_deref().unwrap_or("").to_ascii_lowercase();
        let admitted = match access.split_once('+') {
            Some(("submit", name)) => submitting && name.eq_ignore_ascii_case(who_name),
            Some(("user", name)) => !submitting && name.eq_ignore_ascii_case(who_name),
            _ => access == "authuser" || access == "anonymous",
        };
        let Some(key) = key(c, folder.id, false)? else { return Ok(Err(UrlError::NotAuthorised)) };
        // hmac::verify compares in constant time.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let valid = mechanism.eq_ignore_ascii_case("INTERNAL") && hex::decode(token).is_ok_and(|t| ring::hmac::verify(&key, url.rump.as_bytes(), &t).is_ok());
        if !(admitted && valid) {
            return Ok(Err(UrlError::NotAuthorised));
        }
    } else if owner != who_id {
        // Without URLAUTH, only the owner reads their own mail.
        return Ok(Err(UrlError::NotAuthorised));
    }
    if url.uidvalidity.is_some_and(|v| i64::from(v) != folder.uidvalidity) {
        return Ok(Err(UrlError::NoMessage));
    }
    let blob: Option<i64> =
        c.query_row("SELECT blob_id FROM messages WHERE folder_id = ?1 AND uid = ?2", params![folder.id, url.uid], |r| r.get(0)).optional()?;
    let Some(blob) = blob else { return Ok(Err(UrlError::NoMessage)) };
    let raw = crate::store::blobs::read(c, blobs_dir, blob)?;
    let mut data = match &url.section {
        Some(spec) => match super::section::cut(&raw, spec) {
            Some(d) => d,
            None => return Ok(Err(UrlError::NoMessage)),
        },
        None => raw,
    };
    if let Some((offset, length)) = url.partial {
        let start = (offset as usize).min(data.len());
        let end = length.map_or(data.len(), |l| start.saturating_add(l as usize).min(data.len()));
        data = data[start..end].to_vec();
    }
    Ok(Ok(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_part_by_part() {
        let url = parse("imap://alice@mail.office.test/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2;URLAUTH=submit+alice:INTERNAL:91354a473744909de610943775f92038").unwrap();
        assert_eq!(url.user.as_deref(), Some("alice"));
        assert_eq!((url.mailbox.as_str(), url.uidvalidity, url.uid), ("INBOX", Some(385759045), 20));
        assert_eq!(url.section.unwrap().part, [1, 2]);
        assert_eq!(url.access.as_deref(), Some("submit+alice"));
        assert_eq!(url.token, Some(("INTERNAL".into(), "91354a473744909de610943775f92038".into())));
        assert_eq!(url.rump, "imap://alice@mail.office.test/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2;URLAUTH=submit+alice");
        let relative = parse("/Sent%20Items/;UID=3/;PARTIAL=10.20").unwrap();
        assert_eq!((relative.user, relative.mailbox.as_str(), relative.partial), (None, "Sent Items", Some((10, Some(20)))));
        let expiring = parse("imap://a@h/INBOX/;UID=1;EXPIRE=2026-12-31T23:59:59Z;URLAUTH=authuser").unwrap();
        assert_eq!(expiring.expire, Some(1798761599));
        // Nothing may follow the token, and no part may be given twice: the token signs the text before it.
        let tok = "0".repeat(64);
        for stretched in [
            format!("imap://a@h/INBOX/;UID=5;URLAUTH=user+bob:INTERNAL:{tok};UID=1"),
            format!("imap://a@h/INBOX/;UID=5;URLAUTH=user+bob:INTERNAL:{tok};EXPIRE=2099-01-01T00:00:00Z"),
            format!("imap://a@h/INBOX/;UID=5/;UID=1;URLAUTH=user+bob:INTERNAL:{tok}"),
            format!("imap://a@h/INBOX/;UID=5/;SECTION=1/;SECTION=2;URLAUTH=user+bob"),
        ] {
            assert_eq!(parse(&stretched), Err(UrlError::Malformed), "{stretched}");
        }
        for bad in ["imap://a@h/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=1;URLAUTH=nobody", "INBOX/;UID=1", "/INBOX/;UID=1/;SECTION=1.BOGUS", "/INBOX/;UID=1;FOO=2", "/INBOX;UIDVALIDITY=x/;UID=1"] {
            assert_eq!(parse(bad), Err(UrlError::Malformed), "{bad}");
        }
        assert_eq!(parse(&format!("/INBOX/;UID=1/;SECTION={}", "1.".repeat(MAX_LENGTH))), Err(UrlError::Malformed));
    }
}
