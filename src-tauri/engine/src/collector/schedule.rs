//! When collectors run: every X minutes between two times on the chosen days, or once a day at a time
//! (VPOP3's connector schedule; a window cannot span midnight). The scheduler looks every
//! [`LOOK_EVERY`] and runs what is due one at a time, lowest priority number first, so one slow ISP
//! never has two downloads of its mailbox going, and a download that is still running when its next
//! slot comes is not started again (the run's claim, see [`super::run`]).

use std::time::Duration;

use chrono::{Datelike, Local, TimeZone, Timelike};

use super::{CollectorInfo, Context};

/// How often the scheduler looks for due collectors.
pub const LOOK_EVERY: Duration = Duration::from_secs(20);

fn minutes(text: &str) -> u32 {
    text.split_once(':').and_then(|(h, m)| Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)).unwrap_or(0)
}

/// Whether `c` should run at `at` (local time), given when it last started.
pub fn due<Tz: TimeZone>(c: &CollectorInfo, at: &chrono::DateTime<Tz>) -> bool {
    let f = &c.form;
    if !f.enabled || f.paused || c.running || !f.days[at.weekday().num_days_from_monday() as usize] {
        return false;
    }
    let minute = at.hour() * 60 + at.minute();
    let (from, until) = (minutes(&f.from), minutes(&f.until));
    let now = at.timestamp();
    if c.interrupted {
        return true;
    }
    if f.every_minutes == 0 {
        // Once a day at `from`: due from then until it has run today.
        let start_of_slot = now - i64::from(minute.saturating_sub(from)) * 60 - i64::from(at.second());
        return minute >= from && c.last_run_at.is_none_or(|last| last < start_of_slot);
    }
    minute >= from && minute < until && c.last_run_at.is_none_or(|last| now - last >= i64::from(f.every_minutes) * 60)
}

/// The scheduler: runs due collectors until shutdown.
/// It looks at once when the engine starts (a download cut short by a crash goes on), then every
/// [`LOOK_EVERY`].
pub async fn run(ctx_of: impl Fn() -> Context, shutdown: tokio_util::sync::CancellationToken) {
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
        let ctx = ctx_of();
        let Ok(collectors) = ctx.store.read_async(super::list).await else { continue };
        let at = Local::now();
        for c in collectors.iter().filter(|c| due(c, &at)) {
            if shutdown.is_cancelled() {
                return;
            }
            // Failures are recorded and logged by the run itself.
            let _ = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = super::run(&ctx, &c.form.name) => r,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::CollectorForm;

    fn collector(every: u32, from: &str, until: &str, last: Option<i64>) -> CollectorInfo {
        let mut form = CollectorForm::new("isp", "pop.example.com", 110, "office");
        (form.every_minutes, form.from, form.until) = (every, from.into(), until.into());
        form.days = [true, true, true, true, true, false, false];
        CollectorInfo { id: 1, form, last_run_at: last, last_success_at: None, last_error: String::new(), failures: 0, last_collected: 0, running: false, interrupted: false }
    }

    #[test]
    fn every_x_minutes_inside_the_window_on_the_chosen_days() {
        let utc = chrono::Utc;
        // Friday 4 December 2026, 10:00 UTC.
        let at = utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let t = at.timestamp();
        assert!(due(&collector(15, "08:00", "18:00", None), &at));
        assert!(!due(&collector(15, "08:00", "18:00", Some(t - 14 * 60)), &at), "ran 14 minutes ago");
        assert!(due(&collector(15, "08:00", "18:00", Some(t - 15 * 60)), &at));
        assert!(!due(&collector(15, "11:00", "18:00", None), &at), "before the window");
        assert!(!due(&collector(15, "08:00", "10:00", None), &at), "the window ends at 10:00");
        let saturday = utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap();
        assert!(!due(&collector(15, "08:00", "18:00", None), &saturday), "not on Saturdays");
        let mut paused = collector(15, "00:00", "24:00", None);
        paused.form.paused = true;
        assert!(!due(&paused, &at));
        let mut running = collector(15, "00:00", "24:00", None);
        running.running = true;
        assert!(!due(&running, &at), "a download still running is not started again");
        let mut cut = collector(15, "00:00", "24:00", Some(t - 60));
        cut.interrupted = true;
        assert!(due(&cut, &at), "a download cut short goes on at once");
    }

    #[test]
    fn once_a_day_runs_from_its_time_until_it_has_run() {
        let utc = chrono::Utc;
        let at = utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap();
        let t = at.timestamp();
        assert!(due(&collector(0, "09:00", "24:00", None), &at));
        assert!(due(&collector(0, "09:00", "24:00", Some(t - 86_400)), &at), "ran yesterday");
        assert!(!due(&collector(0, "09:00", "24:00", Some(t - 20 * 60)), &at), "ran at 09:10 today");
        assert!(!due(&collector(0, "10:00", "24:00", None), &at), "not yet 10:00");
    }
}
