//! Every time as text, and the one date crate (chrono): RFC 3339 in UTC for the GUI and status files,
//! RFC 2822 dates for the mail we write (Received:, delivery reports), IMAP's INTERNALDATE, the start of
//! today (the UTC day), and log-line timestamps in local time, cheaply: the offset from UTC is read
//! (through chrono, which reads the time-zone files safely) by the log writer's thread once a minute and
//! cached, and the date and time text is cached per thread for the current second.
//!
//! The `time` crate remains only where rcgen's API asks for its type (a generated certificate's validity).

use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};

fn utc(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// "2026-11-24T10:11:12Z"
pub fn rfc3339(unix: i64) -> String {
    utc(unix).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn rfc3339_now() -> String {
    rfc3339(Utc::now().timestamp())
}

/// "Tue, 24 Nov 2026 10:11:12 +0000", in UTC.
pub fn rfc2822(unix: i64) -> String {
    utc(unix).format("%a, %-d %b %Y %H:%M:%S +0000").to_string()
}

pub fn rfc2822_now() -> String {
    rfc2822(Utc::now().timestamp())
}

/// HTTP's Date: "Tue, 24 Nov 2026 10:11:12 GMT" (RFC 9110's IMF-fixdate).
pub fn http_date(unix: i64) -> String {
    utc(unix).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// IMAP's INTERNALDATE: "24-Nov-2026 10:11:12 +0000".
pub fn internal_date(unix: i64) -> String {
    utc(unix).format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// Unix time of the start of the current UTC day.
pub fn start_of_today() -> i64 {
    let now = Utc::now().timestamp();
    now - now.rem_euclid(86_400)
}

/// A point in time as an admin types it: RFC 3339 (`2026-12-04T09:30:00Z`, or with an offset), a local
/// date and time (`2026-12-04 09:30`, seconds optional; `T` also accepted), a local date (its midnight),
/// or Unix seconds. Returns Unix seconds.
pub fn parse_when(text: &str) -> Option<i64> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    let t = text.trim();
    // Unix seconds, from 2001 on: a number such as 20261204 is a mistyped date, not a time in 1970.
    if let Ok(secs) = t.parse::<i64>() {
        return (secs >= 1_000_000_000).then_some(secs);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp());
    }
    let local = |n: NaiveDateTime| Local.from_local_datetime(&n).earliest().map(|d| d.timestamp());
    for form in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, form) {
            return local(n);
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).and_then(local)
}

/// A certificate valid from yesterday for `days` days, in the form rcgen takes.
pub fn certificate_validity(days: i64) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (now - time::Duration::days(1), now + time::Duration::days(days))
}

// ----- log-line timestamps -----


static LOCAL_OFFSET_SECS: AtomicI32 = AtomicI32::new(0);

/// Reads the local offset from UTC again (daylight saving time changes it).
pub fn refresh_local_offset() {
    use chrono::Offset;
    let offset = chrono::Local::now().offset().fix().local_minus_utc();
    LOCAL_OFFSET_SECS.store(offset, Ordering::Relaxed);
}

pub fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The local (year, month, day) of a Unix time.
pub fn local_date(unix_secs: i64) -> (i64, u32, u32) {
    let local = unix_secs + i64::from(LOCAL_OFFSET_SECS.load(Ordering::Relaxed));
    civil_from_days(local.div_euclid(86_400))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

thread_local! {
    static SECOND: RefCell<(i64, [u8; 19])> = const { RefCell::new((i64::MIN, [0; 19])) };
}

/// Appends `YYYY-MM-DD HH:MM:SS.mmm` in local time.
pub fn timestamp(out: &mut Vec<u8>, unix_ms: i64) {
    timestamp_at_offset(out, unix_ms, LOCAL_OFFSET_SECS.load(Ordering::Relaxed));
}

fn timestamp_at_offset(out: &mut Vec<u8>, unix_ms: i64, offset_secs: i32) {
    let local_ms = unix_ms + i64::from(offset_secs) * 1000;
    let sec = local_ms.div_euclid(1000);
    let ms = local_ms.rem_euclid(1000) as u32;
    SECOND.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != sec {
            let (y, mo, d) = civil_from_days(sec.div_euclid(86_400));
            let t = sec.rem_euclid(86_400);
            let text = format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
            if text.len() == 19 {
                cache.1.copy_from_slice(text.as_bytes());
                cache.0 = sec;
            } else {
                out.extend_from_slice(text.as_bytes());
                return;
            }
        }
        out.extend_from_slice(&cache.1);
    });
    out.extend_from_slice(&[b'.', b'0' + (ms / 100) as u8, b'0' + (ms / 10 % 10) as u8, b'0' + (ms % 10) as u8]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_an_admin_types_them() {
        assert_eq!(parse_when("1764840600"), Some(1_764_840_600));
        assert_eq!(parse_when("2025-12-04T09:30:00Z"), Some(1_764_840_600));
        assert_eq!(parse_when("2025-12-04T10:30:00+01:00"), Some(1_764_840_600));
        let local = parse_when("2025-12-04 09:30").unwrap();
        assert_eq!(parse_when("2025-12-04T09:30:00"), Some(local));
        assert_eq!(parse_when("2025-12-04").map(|m| local - m), Some(9 * 3600 + 1800));
        assert_eq!(parse_when("yesterday"), None);
        assert_eq!(parse_when("20251204"), None, "a date without dashes is not Unix seconds");
        assert_eq!(parse_when("2025-13-04"), None);
    }

    #[test]
    fn civil_dates_match_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn timestamps_carry_milliseconds() {
        let mut out = Vec::new();
        // 2026-11-24 10:11:12.045 UTC
        timestamp_at_offset(&mut out, 1_795_515_072_045, 0);
        assert_eq!(String::from_utf8_lossy(&out), "2026-11-24 10:11:12.045");
        out.clear();
        timestamp_at_offset(&mut out, 1_795_515_072_999, 3600);
        assert_eq!(String::from_utf8_lossy(&out), "2026-11-24 11:11:12.999");
    }

    #[test]
    fn mail_and_imap_dates_are_in_their_rfc_forms() {
        // 2026-11-24 10:11:12 UTC
        assert_eq!(rfc3339(1_795_515_072), "2026-11-24T10:11:12Z");
        assert_eq!(internal_date(1_795_515_072), "24-Nov-2026 10:11:12 +0000");
        assert_eq!(rfc2822(1_795_515_072), "Tue, 24 Nov 2026 10:11:12 +0000");
        assert_eq!(rfc2822(1_796_724_000), "Tue, 8 Dec 2026 10:00:00 +0000", "the day without padding");
    }
}
