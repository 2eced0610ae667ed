//! The live TLS of every service: the certificate in use (see [`crate::certs`] for loading and the
//! self-signed fallback) and the rustls acceptor, swapped in place when the settings change; a bad pair
//! is refused with a reason while the old certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::certs::{ensure_self_signed, load_pair, CertificateInfo, CertificateSource, LoadedCertificate};
use crate::settings::TlsSettings;

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
        let mut loaded = load_pair(&cert, &key).map_err(std::io::Error::other)?;
        loaded.info.source = CertificateSource::SelfSigned;
        Ok(loaded)
    }

    /// Applies the TLS settings; on failure the certificate in use stays and the reason is logged.
    pub fn apply(&self, settings: &TlsSettings, server_name: &str) {
        let next = if settings.cert_file.is_empty() {
            Self::self_signed(&self.certs_dir, server_name).map_err(|e| e.to_string())
        } else {
            load_pair(Path::new(&settings.cert_file), Path::new(&settings.key_file)).map_err(|e| e.to_string())
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

impl crate::settings::Consumer for TlsManager {
    fn apply(&self, old: &crate::settings::Settings, new: &crate::settings::Settings) {
        if old.tls != new.tls || old.general.server_name != new.general.server_name {
            TlsManager::apply(self, &new.tls, &new.general.server_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::SELF_SIGNED_CERT;

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
        assert_eq!(err, crate::certs::CertError::KeyMismatch);
        assert_eq!(err.field(), "tls.key_file");
        assert!(err.to_string().contains("does not belong"), "{err}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        assert_eq!(load_pair(&junk, &key).err().unwrap().field(), "tls.cert_file");
        tls.apply(&TlsSettings { cert_file: junk.display().to_string(), key_file: key.display().to_string() }, "a.test");
        assert_eq!(tls.info(), before);
        assert!(tls.problem().is_some_and(|p| p.contains("not a PEM") || p.contains("no certificate")), "{:?}", tls.problem());
    }
}
