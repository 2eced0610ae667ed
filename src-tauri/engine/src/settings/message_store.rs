//! The Message Store page (Settings → Database → Message Store): how long the Recycle Bin keeps what was
//! deleted. The prune rules themselves are rows of their own table (`mailbox::prune`), not settings.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct MessageStoreSettings {
    /// Hours a deleted message (or user) waits in the Recycle Bin before it is purged; 0 turns the bin
    /// off (what is deleted goes at the next sweep).
    pub recycle_hours: u32,
}

/// The longest retention: a year.
pub const MAX_RECYCLE_HOURS: u32 = 24 * 366;

impl Default for MessageStoreSettings {
    fn default() -> Self {
        Self { recycle_hours: 72 }
    }
}

impl MessageStoreSettings {
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.recycle_hours > MAX_RECYCLE_HOURS {
            errors.push(FieldError::new("store.recycle_hours", format!("at most {MAX_RECYCLE_HOURS} hours (a year)")));
        }
    }
}
