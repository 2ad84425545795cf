use crate::model::{Constraint, OperationalIntent};
use std::fmt;

/// Why an operation was refused. Each variant maps to one HTTP status at the
/// edge; the variant is chosen here because the standard ties the status to
/// the rule that failed, not to the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum DssError {
    /// 400: the request is malformed or breaks a rule; names the field.
    BadRequest { field: String, reason: String },
    /// 403: the caller may not do this (not the manager, or lacks a scope).
    Forbidden(String),
    /// 404: no such entity.
    NotFound(String),
    /// 409: version mismatch or the entity already exists.
    Conflict(String),
    /// 429: a per-owner limit is reached (F3411's subscriptions per area).
    TooMany(String),
    /// 409 with the intents and constraints whose OVNs the key lacks.
    MissingOvns {
        operational_intents: Vec<OperationalIntent>,
        constraints: Vec<Constraint>,
    },
}

impl DssError {
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DssError::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DssError::BadRequest { field, reason } if field.is_empty() => write!(f, "{reason}"),
            DssError::BadRequest { field, reason } => write!(f, "{field}: {reason}"),
            DssError::Forbidden(m)
            | DssError::NotFound(m)
            | DssError::Conflict(m)
            | DssError::TooMany(m) => {
                write!(f, "{m}")
            }
            DssError::MissingOvns {
                operational_intents,
                constraints,
            } => write!(
                f,
                "key is missing the current OVNs of {} operational intent(s) and {} constraint(s) that intersect the requested extents",
                operational_intents.len(),
                constraints.len()
            ),
        }
    }
}

impl std::error::Error for DssError {}

pub type Result<T> = std::result::Result<T, DssError>;
