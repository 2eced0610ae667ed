//! Errors as the admin sees them: one `ApiError` shape for the GUI and the command line, with every bad
//! field named. Module errors convert into it at the engine's public boundary.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One invalid field and why, e.g. `pop3.port`: "port 99999 is out of range (1–65535)".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self { field: field.into(), message: message.to_string() }
    }
}

/// What kind of failure an [`ApiError`] is, for the UI to switch on (exported to TypeScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input was refused; `fields` names every bad field.
    Invalid,
    /// The thing named (a user, a queued message, a ban) does not exist (any more).
    NotFound,
    /// It exists already, or another change got there first.
    Conflict,
    /// A file, the disk or the database could not be used just now.
    Io,
    /// A fault of Postroom's own.
    Internal,
    /// Whoever asks may not (the admin socket of a service, asked by someone not in its group).
    Forbidden,
}

/// The error every public engine operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    fn plain(code: ErrorCode, message: impl std::fmt::Display) -> Self {
        Self { code, message: message.to_string(), field: None, fields: Vec::new() }
    }

    pub fn not_found(message: impl std::fmt::Display) -> Self {
        Self::plain(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl std::fmt::Display) -> Self {
        Self::plain(ErrorCode::Conflict, message)
    }

    pub fn forbidden(message: impl std::fmt::Display) -> Self {
        Self::plain(ErrorCode::Forbidden, message)
    }

    pub fn io(message: impl std::fmt::Display) -> Self {
        Self::plain(ErrorCode::Io, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::plain(ErrorCode::Internal, message)
    }

    /// A single invalid field.
    pub fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// Several invalid fields; the message lists them all so a command line user sees every one.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self { code: ErrorCode::Invalid, message, field: fields.first().map(|f| f.field.clone()), fields }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Busy => Self::io("the database is busy; try again"),
            other => Self::internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
