//! Certificates: loading and checking a PEM certificate and key (PEM parses, the key matches the
//! certificate), describing one for the admin, and the self-signed certificate written to `certs/` on
//! first start (key owner-only) and renewed when the server is renamed. A leaf: settings validation
//! checks a pair here, and `net::tls` serves the one in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::error::FieldError;

pub const SELF_SIGNED_CERT: &str = "selfsigned.pem";
pub const SELF_SIGNED_KEY: &str = "selfsigned.key";
/// How long a generated certificate is valid: five years.
const SELF_SIGNED_DAYS: i64 = 5 * 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSource {
    SelfSigned,
    Custom,
}

/// What the admin sees of the certificate in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CertificateInfo {
    pub source: CertificateSource,
    pub cert_file: String,
    pub key_file: String,
    pub subject: String,
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
}

/// A loaded certificate: the rustls configuration and its description.
pub struct LoadedCertificate {
    pub config: Arc<ServerConfig>,
    pub info: CertificateInfo,
}

/// Why a certificate and key pair cannot be used. [`CertError::field`] says which file is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {reason}")]
    UnreadableCertificate { path: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    UnreadableKey { path: String, reason: String },
    #[error("not a PEM certificate file: {0}")]
    NotPem(String),
    #[error("no certificate found in the file (expected PEM: -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("no private key found in the file (expected PEM: -----BEGIN PRIVATE KEY-----)")]
    NoKey,
    #[error("unusable private key: {0}")]
    UnusableKey(String),
    #[error("this private key does not belong to the certificate")]
    KeyMismatch,
    #[error("unusable certificate: {0}")]
    UnusableCertificate(String),
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
}

impl CertError {
    /// The setting the error belongs beside: `tls.cert_file` or `tls.key_file`.
    pub fn field(&self) -> &'static str {
        match self {
            CertError::UnreadableKey { .. } | CertError::NoKey | CertError::UnusableKey(_) | CertError::KeyMismatch => "tls.key_file",
            _ => "tls.cert_file",
        }
    }
}

impl From<CertError> for FieldError {
    fn from(e: CertError) -> FieldError {
        FieldError::new(e.field(), e)
    }
}

/// Loads and checks a PEM certificate chain and private key.
pub fn load_pair(cert_file: &Path, key_file: &Path) -> Result<LoadedCertificate, CertError> {
    let unreadable = |path: &Path, e: std::io::Error| (path.display().to_string(), e.to_string());
    let cert_pem = std::fs::read(cert_file).map_err(|e| {
        let (path, reason) = unreadable(cert_file, e);
        CertError::UnreadableCertificate { path, reason }
    })?;
    let key_pem = std::fs::read(key_file).map_err(|e| {
        let (path, reason) = unreadable(key_file, e);
        CertError::UnreadableKey { path, reason }
    })?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&cert_pem).collect::<Result<_, _>>().map_err(|e| CertError::NotPem(e.to_string()))?;
    let first = chain.first().cloned().ok_or(CertError::NoCertificate)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| CertError::NoKey)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider.key_provider.load_private_key(key.clone_key()).map_err(|e| CertError::UnusableKey(e.to_string()))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing_key).keys_match().map_err(|_| CertError::KeyMismatch)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::UnusableCertificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| CertError::UnusableCertificate(e.to_string()))?;
    let info = describe(&first, cert_file, key_file)?;
    Ok(LoadedCertificate { config: Arc::new(config), info })
}

fn describe(cert: &CertificateDer<'_>, cert_file: &Path, key_file: &Path) -> Result<CertificateInfo, CertError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| CertError::NotX509(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n) => names.push(n.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => names.push(format_ip(ip)),
                _ => {}
            }
        }
    }
    let validity = parsed.validity();
    Ok(CertificateInfo {
        source: CertificateSource::Custom,
        cert_file: cert_file.display().to_string(),
        key_file: key_file.display().to_string(),
        subject: parsed.subject().to_string(),
        names,
        not_before: validity.not_before.to_rfc2822().unwrap_or_default(),
        not_after: validity.not_after.to_rfc2822().unwrap_or_default(),
        sha256: hex::encode(Sha256::digest(cert.as_ref())).to_uppercase(),
    })
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => <[u8; 16]>::try_from(bytes).map(|b| std::net::Ipv6Addr::from(b).to_string()).unwrap_or_default(),
        _ => hex::encode(bytes),
    }
}

/// Writes a self-signed certificate for `server_name` (and localhost) into `certs_dir` unless one exists.
pub fn ensure_self_signed(certs_dir: &Path, server_name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    let cert_path = certs_dir.join(SELF_SIGNED_CERT);
    let key_path = certs_dir.join(SELF_SIGNED_KEY);
    let current = load_pair(&cert_path, &key_path).ok();
    if current.is_some_and(|c| c.info.names.iter().any(|n| n.eq_ignore_ascii_case(server_name))) {
        return Ok((cert_path, key_path));
    }
    let mut names = vec![server_name.to_string()];
    if server_name != "localhost" {
        names.push("localhost".into());
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(std::io::Error::other)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, server_name);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Postroom (self-signed)");
    (params.not_before, params.not_after) = crate::time_text::certificate_validity(SELF_SIGNED_DAYS);
    let key = rcgen::KeyPair::generate().map_err(std::io::Error::other)?;
    let cert = params.self_signed(&key).map_err(std::io::Error::other)?;
    crate::paths::write_private(&key_path, key.serialize_pem().as_bytes(), crate::paths::Durability::Durable)?;
    crate::paths::write_private(&cert_path, cert.pem().as_bytes(), crate::paths::Durability::Durable)?;
    tracing::info!(target: "tls", name = server_name, "generated a self-signed certificate");
    Ok((cert_path, key_path))
}
