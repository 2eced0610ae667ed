use crate::auth::records::DnsRecord;
use crate::engine::Engine;
use crate::error::ApiResult;

/// The local domains.
pub fn list_domains(e: &Engine) -> ApiResult<Vec<String>> {
    e.directory().domains()
}

/// Adds a local domain; resolves with the name as stored (lower case, no trailing dot).
pub fn add_domain(e: &Engine, name: String) -> ApiResult<String> {
    e.directory().add_domain(&name)
}

/// Removes a local domain.
pub fn delete_domain(e: &Engine, name: String) -> ApiResult<()> {
    e.directory().delete_domain(&name)
}

/// The DNS records a local domain should publish, each checked through the server's resolver (makes the
/// domain's DKIM keys the first time).
pub async fn domain_dns_records(engine: &Engine, name: String) -> ApiResult<Vec<DnsRecord>> {
    engine.domain_records(&name).await
}

/// New DKIM keys (new selectors) for a local domain.
pub async fn rotate_dkim(engine: &Engine, name: String) -> ApiResult<()> {
    engine.rotate_dkim(&name).await
}
