//! TLS for every service: the certificate in use, its self-signed fallback, and the rustls acceptor.
//!
//! On first start a self-signed certificate for the server name is written to `certs/` (key owner-only).
//! The admin may point to their own PEM certificate and key; a pair is loaded and checked (PEM parses, key
//! matches certificate) before it is accepted, and a bad pair is refused with a reason while the old
//! certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use ts_rs::TS;

use crate::error::FieldError;
use crate::settings::TlsSettings;

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

/// Loads and checks a PEM certificate chain and private key. Errors name the field at fault.
pub fn load_pair(cert_file: &Path, key_file: &Path) -> Result<LoadedCertificate, FieldError> {
    let cert_err = |m: String| FieldError::new("tls.cert_file", m);
    let key_err = |m: String| FieldError::new("tls.key_file", m);
    let cert_pem = std::fs::read(cert_file).map_err(|e| cert_err(format!("cannot read {}: {e}", cert_file.display())))?;
    let key_pem = std::fs::read(key_file).map_err(|e| key_err(format!("cannot read {}: {e}", key_file.display())))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate file: {e}")))?;
    let first = chain.first().cloned().ok_or_else(|| cert_err("no certificate found in the file (expected PEM: -----BEGIN CERTIFICATE-----)".into()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| key_err("no private key found in the file (expected PEM: -----BEGIN PRIVATE KEY-----)".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| key_err(format!("unusable private key: {e}")))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|_| key_err("this private key does not belong to the certificate".into()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| cert_err(format!("unusable certificate: {e}")))?;
    let info = describe(&first, cert_file, key_file).map_err(cert_err)?;
    Ok(LoadedCertificate { config: Arc::new(config), info })
}

fn describe(cert: &CertificateDer<'_>, cert_file: &Path, key_file: &Path) -> Result<CertificateInfo, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| format!("not an X.509 certificate: {e}"))?;
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
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    let key = rcgen::KeyPair::generate().map_err(std::io::Error::other)?;
    let cert = params.self_signed(&key).map_err(std::io::Error::other)?;
    crate::paths::write_private(&key_path, key.serialize_pem().as_bytes(), crate::paths::Durability::Durable)?;
    crate::paths::write_private(&cert_path, cert.pem().as_bytes(), crate::paths::Durability::Durable)?;
    tracing::info!(target: "tls", name = server_name, "generated a self-signed certificate");
    Ok((cert_path, key_path))
}

/// The certificate in use, shared by every listener; swapped in place when the settings change.
pub struct TlsManager {
    certs_dir: PathBuf,
    current: RwLock<Arc<LoadedCertificate>>,
    /// Why the configured certificate is not the one in use, if it is not.
    problem: RwLock<Option<String>>,
}

impl TlsManager {
    /// Loads the certificate the settings name, falling back to the self-signed one (with an error in
    /// the log) if the configured pair has become unusable since it was accepted.
    pub fn new(certs_dir: &Path, settings: &TlsSettings, server_name: &str) -> std::io::Result<TlsManager> {
        let fallback = Self::self_signed(certs_dir, server_name)?;
        let manager = TlsManager {
            certs_dir: certs_dir.to_path_buf(),
            current: RwLock::new(Arc::new(fallback)),
            problem: RwLock::new(None),
        };
        manager.apply(settings, server_name);
        Ok(manager)
    }

    fn self_signed(certs_dir: &Path, server_name: &str) -> std::io::Result<LoadedCertificate> {
        let (cert, key) = ensure_self_signed(certs_dir, server_name)?;
        let mut loaded = load_pair(&cert, &key).map_err(|e| std::io::Error::other(e.message))?;
        loaded.info.source = CertificateSource::SelfSigned;
        Ok(loaded)
    }

    /// Applies the TLS settings; on failure the certificate in use stays and the reason is logged.
    pub fn apply(&self, settings: &TlsSettings, server_name: &str) {
        let next = if settings.cert_file.is_empty() {
            Self::self_signed(&self.certs_dir, server_name).map_err(|e| e.to_string())
        } else {
            load_pair(Path::new(&settings.cert_file), Path::new(&settings.key_file)).map_err(|e| e.message)
        };
        match next {
            Ok(loaded) => {
                if self.info() != loaded.info {
                    tracing::info!(target: "tls", subject = %loaded.info.subject, "certificate in use");
                }
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
                *self.problem.write().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(reason) => {
                tracing::error!(target: "tls", %reason, "the configured certificate cannot be used; keeping the previous one");
                *self.problem.write().unwrap_or_else(|p| p.into_inner()) = Some(reason);
            }
        }
    }

    /// Why the configured certificate is not in use (unreadable by the server, say), if it is not.
    pub fn problem(&self) -> Option<String> {
        self.problem.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|p| p.into_inner()).config.clone())
    }

    pub fn info(&self) -> CertificateInfo {
        self.current.read().unwrap_or_else(|p| p.into_inner()).info.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_loads_and_names_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let tls = TlsManager::new(dir.path(), &TlsSettings::default(), "mail.example.test").unwrap();
        let info = tls.info();
        assert_eq!(info.source, CertificateSource::SelfSigned);
        assert!(info.names.contains(&"mail.example.test".to_string()), "{:?}", info.names);
        assert!(info.subject.contains("CN=mail.example.test"), "{}", info.subject);
        assert_eq!(info.sha256.len(), 64);
    }

    #[test]
    fn renaming_the_server_renews_the_self_signed_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let tls = TlsManager::new(dir.path(), &TlsSettings::default(), "old.test").unwrap();
        tls.apply(&TlsSettings::default(), "new.test");
        assert!(tls.info().names.contains(&"new.test".to_string()), "{:?}", tls.info().names);
    }

    #[test]
    fn a_mismatched_or_garbage_pair_is_refused_and_the_old_certificate_stays() {
        let dir = tempfile::tempdir().unwrap();
        let tls = TlsManager::new(dir.path(), &TlsSettings::default(), "a.test").unwrap();
        let before = tls.info();
        let other = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        let key = dir.path().join("other.key");
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let err = load_pair(&dir.path().join(SELF_SIGNED_CERT), &key).err().unwrap();
        assert_eq!(err.field, "tls.key_file");
        assert!(err.message.contains("does not belong"), "{}", err.message);
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        assert_eq!(load_pair(&junk, &key).err().unwrap().field, "tls.cert_file");
        tls.apply(&TlsSettings { cert_file: junk.display().to_string(), key_file: key.display().to_string() }, "a.test");
        assert_eq!(tls.info(), before);
        assert!(tls.problem().is_some_and(|p| p.contains("not a PEM") || p.contains("no certificate")), "{:?}", tls.problem());
    }
}
