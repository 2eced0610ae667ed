use crate::certs::CertificateInfo;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The certificate in use (self-signed or the admin's own).
pub fn get_certificate(engine: &Engine) -> CertificateInfo {
    engine.certificate()
}

/// Uses the admin's own PEM certificate and key; `invalid` with field `tls.cert_file` or `tls.key_file`, and then the old certificate stays.
pub fn set_certificate(e: &Engine, cert_file: String, key_file: String) -> ApiResult<CertificateInfo> {
    e.set_certificate(&cert_file, &key_file)
}

/// Goes back to Postroom's self-signed certificate.
pub fn use_self_signed_certificate(e: &Engine) -> ApiResult<CertificateInfo> {
    e.use_self_signed_certificate()
}
