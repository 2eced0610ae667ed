use postroom_engine::auth::records::DnsRecord;
use postroom_engine::{ApiResult, Engine};
use tauri::State;

/// The local domains.
#[tauri::command]
pub async fn list_domains(engine: State<'_, Engine>) -> ApiResult<Vec<String>> {
    super::blocking(engine, |e| e.directory().domains()).await
}

/// Adds a local domain; resolves with the name as stored (lower case, no trailing dot).
#[tauri::command]
pub async fn add_domain(engine: State<'_, Engine>, name: String) -> ApiResult<String> {
    super::blocking(engine, move |e| e.directory().add_domain(&name)).await
}

/// Removes a local domain.
#[tauri::command]
pub async fn delete_domain(engine: State<'_, Engine>, name: String) -> ApiResult<()> {
    super::blocking(engine, move |e| e.directory().delete_domain(&name)).await
}

/// The DNS records a local domain should publish, each checked through the server's resolver (makes the
/// domain's DKIM keys the first time).
#[tauri::command]
pub async fn domain_dns_records(engine: State<'_, Engine>, name: String) -> ApiResult<Vec<DnsRecord>> {
    let engine = engine.inner().clone();
    engine.domain_records(&name).await
}

/// New DKIM keys (new selectors) for a local domain.
#[tauri::command]
pub async fn rotate_dkim(engine: State<'_, Engine>, name: String) -> ApiResult<()> {
    let engine = engine.inner().clone();
    engine.rotate_dkim(&name).await
}
