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
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The error every public engine operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// "invalid", "not_found", "conflict", "io", "internal"
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    fn plain(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), field: None, fields: Vec::new() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::plain("not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::plain("conflict", message)
    }

    pub fn io(message: impl Into<String>) -> Self {
        Self::plain("io", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain("internal", message)
    }

    /// A single invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// Several invalid fields; the message lists them all so a command line user sees every one.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self { code: "invalid".into(), message, field: fields.first().map(|f| f.field.clone()), fields }
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
