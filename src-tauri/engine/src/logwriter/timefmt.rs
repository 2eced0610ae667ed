//! Timestamps for log lines in local time, cheaply: the offset from UTC is read (through chrono, which
//! reads the time-zone files safely) by the writer thread once a minute and cached; the date and time
//! text is cached per thread for the current second.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, Ordering};

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
}
