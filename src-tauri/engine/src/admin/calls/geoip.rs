use crate::geoip::{GeoIpStatus, ImportRequest};
use crate::settings::AccessSettings;
use crate::engine::Engine;
use crate::error::ApiResult;

/// Row counts, the last import, and the import window's import as it goes.
pub fn get_geoip_status(engine: &Engine) -> GeoIpStatus {
    engine.geoip_status()
}

/// Every GeoIP result for an address; `invalid` with field `address`.
pub fn geoip_lookup(engine: &Engine, address: String) -> ApiResult<Vec<String>> {
    engine.geoip_lookup(&address)
}

/// The first 10 rows of a CSV file, split at the delimiter, for the import wizard (`invalid` with field `path` for anything but a file outside the data folder).
pub fn geoip_preview(e: &Engine, path: String, delimiter: String) -> ApiResult<Vec<Vec<String>>> {
    super::super::readable_file(e, &path, "path")?;
    e.geoip_preview(&path, &delimiter)
}

/// Starts an import on a thread of its own (follow it with `get_geoip_status`); `invalid` with fields `files`, `columns`, `delimiter`; `conflict` while one runs.
pub fn start_geoip_import(engine: &Engine, request: ImportRequest) -> ApiResult<()> {
    for file in request.files.iter().filter(|f| !f.trim().is_empty()) {
        super::super::readable_file(engine, file, "files")?;
    }
    engine.start_geoip_import(request)
}

/// Every service's access restrictions.
pub fn get_access_settings(engine: &Engine) -> AccessSettings {
    engine.access_settings()
}

/// Saves the access restrictions; `invalid` with fields like `access.smtp.rules.2` (the rule's number from 1).
pub fn save_access_settings(e: &Engine, access: AccessSettings) -> ApiResult<()> {
    e.save_access(access)
}
