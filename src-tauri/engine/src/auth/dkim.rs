//! DKIM signing of the office's own mail (RFC 6376, Ed25519 per RFC 8463): every local domain gets one
//! RSA-2048 and one Ed25519 key, made the first time they are needed (the first message to sign, or the
//! DNS records page), kept in `dkim_keys` in the database (owner-only folder), and replaced by
//! [`rotate`]. A message from a logged-in user or a trusted network whose From: domain is local, and which
//! leaves this server, is signed with both (receivers use the one they understand).
//!
//! The selector names the key's birth day (`pr20261204r`, `pr20261204e`): a rotation makes new selectors,
//! so mail signed with the old key still verifies while it travels, as long as the old record stays
//! published; the DNS records page lists what to publish now.

use base64::Engine as _;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::DkimSigner;
use rusqlite::{params, Connection, OptionalExtension};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};

use crate::error::{ApiError, ApiResult};
use crate::store::{now, Store, StoreError, StoreResult};

/// Header fields signed (those present; From is required by RFC 6376 5.4).
const SIGNED: [&str; 9] = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "rsa" => Some(Algorithm::Rsa),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// One domain's signing key.
#[derive(Clone)]
pub struct DomainKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: Algorithm,
    /// The p= value: base64 of the SubjectPublicKeyInfo (RSA) or of the 32-byte key (Ed25519).
    pub public_key: String,
    private_key: Vec<u8>,
}

impl DomainKey {
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm.name()
    }

    /// The TXT record to publish at `selector._domainkey.domain`.
    pub fn record(&self) -> String {
        let k = match self.algorithm {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        };
        format!("v=DKIM1; k={k}; p={}", self.public_key)
    }

    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }
}

/// A key made and not yet stored (making an RSA key takes a while: outside any transaction).
pub struct NewKey {
    algorithm: Algorithm,
    public_key: String,
    private_key: Vec<u8>,
}

/// Makes one key of each kind.
pub fn generate() -> StoreResult<Vec<NewKey>> {
    let fail = |e: mail_auth::Error| StoreError::Io(std::io::Error::other(format!("cannot make a DKIM key: {e}")));
    let rsa = DkimKeyPair::generate_rsa(2048).map_err(fail)?;
    let ed = DkimKeyPair::generate_ed25519().map_err(fail)?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(vec![
        NewKey { algorithm: Algorithm::Rsa, public_key: b64(&rsa_spki(rsa.public_key())), private_key: rsa.private_key().to_vec() },
        NewKey { algorithm: Algorithm::Ed25519, public_key: b64(ed.public_key()), private_key: ed.private_key().to_vec() },
    ])
}

/// The domain's current keys (none until made).
pub fn active(c: &Connection, domain: &str) -> StoreResult<Vec<DomainKey>> {
    let mut stmt = c.prepare_cached(
        "SELECT domain, selector, algorithm, public_key, private_key FROM dkim_keys
         WHERE domain = ?1 COLLATE NOCASE AND retired_at IS NULL ORDER BY algorithm DESC",
    )?;
    let rows = stmt.query_map([domain], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Vec<u8>>(4)?))
    })?;
    let mut keys = Vec::new();
    for row in rows {
        let (domain, selector, algorithm, public_key, private_key) = row?;
        if let Some(algorithm) = Algorithm::from_name(&algorithm) {
            keys.push(DomainKey { domain, selector, algorithm, public_key, private_key });
        }
    }
    Ok(keys)
}

/// Stores `new` as the domain's keys, retiring the current ones when `replace`; when not replacing and the
/// domain already has keys (made meanwhile by another message), keeps those. Returns the domain's keys.
pub fn install(c: &Connection, domain: &str, new: Vec<NewKey>, replace: bool) -> StoreResult<Vec<DomainKey>> {
    let current = active(c, domain)?;
    if !current.is_empty() && !replace {
        return Ok(current);
    }
    let at = now();
    c.execute("UPDATE dkim_keys SET retired_at = ?2 WHERE domain = ?1 COLLATE NOCASE AND retired_at IS NULL", params![domain, at])?;
    let day = chrono::Utc::now().format("%Y%m%d").to_string();
    for key in new {
        let letter = match key.algorithm {
            Algorithm::Rsa => 'r',
            Algorithm::Ed25519 => 'e',
        };
        let mut selector = format!("pr{day}{letter}");
        let mut n = 1;
        while c
            .query_row("SELECT 1 FROM dkim_keys WHERE domain = ?1 COLLATE NOCASE AND selector = ?2", params![domain, selector], |_| Ok(()))
            .optional()?
            .is_some()
        {
            n += 1;
            selector = format!("pr{day}{letter}{n}");
        }
        c.execute(
            "INSERT INTO dkim_keys(domain, selector, algorithm, public_key, private_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![domain.to_ascii_lowercase(), selector, key.algorithm.name(), key.public_key, key.private_key, at],
        )?;
    }
    active(c, domain)
}

/// The domain of the message's (first) From: address, lower case.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_auth::AuthenticatedMessage::parse(message)?;
    let from = parsed.from.first()?;
    from.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase()).filter(|d| !d.is_empty())
}

/// `name` as stored (validated, lower case) when it is a local domain; the domain's keys and records are
/// only for those.
pub async fn local_domain(store: &Store, name: &str) -> ApiResult<String> {
    let domain = crate::names::validate_domain(name).map_err(|m| ApiError::field("name", m))?;
    let d = domain.clone();
    if !store.read_async(move |c| crate::users::is_local_domain(c, &d)).await? {
        return Err(ApiError::not_found(format!("{domain} is not a local domain")));
    }
    Ok(domain)
}

/// The domain's keys, made now if it has none.
pub async fn ensure(store: &Store, domain: &str) -> StoreResult<Vec<DomainKey>> {
    let d = domain.to_string();
    let have = store.read_async(move |c| active(c, &d)).await?;
    if !have.is_empty() {
        return Ok(have);
    }
    make(store, domain, false).await
}

/// New keys for the domain (new selectors); the old ones are kept, retired, for the record.
pub async fn rotate(store: &Store, domain: &str) -> StoreResult<Vec<DomainKey>> {
    make(store, domain, true).await
}

async fn make(store: &Store, domain: &str, replace: bool) -> StoreResult<Vec<DomainKey>> {
    let new = tokio::task::spawn_blocking(generate).await.map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))??;
    let d = domain.to_string();
    store.write_async(move |c| install(c, &d, new, replace)).await
}

/// The DKIM-Signature fields to put on top of `message`, one per key (empty if none could sign).
pub fn sign(keys: &[DomainKey], message: &[u8]) -> String {
    let mut out = String::new();
    for key in keys {
        let signed = match key.algorithm {
            Algorithm::Rsa => RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key.private_key.as_slice())))
                .and_then(|k| DkimSigner::from_key(k).domain(key.domain.as_str()).selector(key.selector.as_str()).headers(SIGNED).sign(message)),
            Algorithm::Ed25519 => Ed25519Key::from_pkcs8_der(&key.private_key)
                .and_then(|k| DkimSigner::from_key(k).domain(key.domain.as_str()).selector(key.selector.as_str()).headers(SIGNED).sign(message)),
        };
        match signed {
            Ok(signature) => out.push_str(&signature.to_header()),
            Err(e) => tracing::error!(target: "mail", domain = %key.domain, selector = %key.selector, error = %e, "could not DKIM-sign a message"),
        }
    }
    out
}

/// An RSAPublicKey (PKCS#1) wrapped as a SubjectPublicKeyInfo, the form `openssl -pubout` writes and every
/// verifier reads (OpenDKIM reads only this one).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }, BIT STRING { 0 unused bits, pkcs1 } }
    const ALGORITHM: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0x03];
    der_length(pkcs1.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_length(ALGORITHM.len() + bits.len(), &mut out);
    out.extend_from_slice(&ALGORITHM);
    out.extend_from_slice(&bits);
    out
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_long_form_past_127() {
        let mut out = Vec::new();
        der_length(5, &mut out);
        der_length(270, &mut out);
        assert_eq!(out, [5, 0x82, 0x01, 0x0e]);
    }
}
