//! Logging set-up for the binaries, and the short list of recent errors the main window shows.
//!
//! Engine code logs through `tracing` with a target per module. Until the background log writer lands
//! (issue 5), events go to standard error; [`RecentErrorsLayer`] keeps the last warnings and errors in
//! memory for the main window.

use std::collections::VecDeque;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::views::RecentError;

const KEPT: usize = 20;

static RECENT: Mutex<VecDeque<RecentError>> = Mutex::new(VecDeque::new());

/// The most recent warnings and errors, newest first.
pub fn recent_errors() -> Vec<RecentError> {
    RECENT.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().cloned().collect()
}

pub struct RecentErrorsLayer;

impl<S: Subscriber> Layer<S> for RecentErrorsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() > Level::WARN {
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        let entry = RecentError { time: crate::time_text::rfc3339_now(), message: text.0 };
        let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }
}

#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let part = if field.name() == "message" { format!("{value:?}") } else { format!("{}={value:?}", field.name()) };
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{part} "));
        } else {
            self.0.push_str(&part);
            self.0.push(' ');
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value} "));
        } else {
            self.0.push_str(&format!("{}={value} ", field.name()));
        }
    }
}

/// Standard-error logging at `RUST_LOG` (default `info`) plus the recent-errors list.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
        .with(RecentErrorsLayer)
        .try_init();
}
