//! Times as text: RFC 3339 in UTC for the GUI and status files, and the start of today (local midnight
//! is not known without a time-zone database, so "today" is the UTC day).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn rfc3339_now() -> String {
    OffsetDateTime::now_utc().replace_nanosecond(0).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Unix time of the start of the current UTC day.
pub fn start_of_today() -> i64 {
    let now = crate::store::now();
    now - now.rem_euclid(86_400)
}
