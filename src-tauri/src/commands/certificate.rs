use postroom_engine::certs::CertificateInfo;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The certificate in use (self-signed or the admin's own).
#[tauri::command]
pub fn get_certificate(engine: State<'_, Engine>) -> CertificateInfo {
    engine.certificate()
}

/// A native open-file dialog for PEM files; null when cancelled.
#[tauri::command]
pub async fn pick_file(title: String) -> Option<String> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter("PEM files", &["pem", "crt", "cer", "key"])
        .add_filter("All files", &["*"]);
    super::pick_one_file(dialog).await
}

/// Uses the admin's own PEM certificate and key; `invalid` with field `tls.cert_file` or `tls.key_file`, and then the old certificate stays.
#[tauri::command]
pub async fn set_certificate(engine: State<'_, Engine>, cert_file: String, key_file: String) -> ApiResult<CertificateInfo> {
    super::blocking(engine, move |e| e.set_certificate(&cert_file, &key_file)).await
}

/// Goes back to Postroom's self-signed certificate.
#[tauri::command]
pub async fn use_self_signed_certificate(engine: State<'_, Engine>) -> ApiResult<CertificateInfo> {
    super::blocking(engine, |e| e.use_self_signed_certificate()).await
}
