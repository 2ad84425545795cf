//! Errors as the client sees them: a status and `{"message": ...}` (the
//! standard's ErrorResponse), or the AirspaceConflictResponse for a key that
//! misses OVNs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Replaces the plain body (409 with the missing OVNs). Boxed: errors
    /// travel through every `Result` of the edge and should stay small.
    pub body: Option<Box<Value>>,
    /// Adds `WWW-Authenticate: Bearer` (on a 401).
    pub challenge: bool,
    /// Adds `Retry-After` (on a 429), in seconds.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            body: None,
            challenge: false,
            retry_after_s: None,
        }
    }

    /// 400 naming the field and the reason.
    pub fn bad(field: impl AsRef<str>, reason: impl AsRef<str>) -> Self {
        let field = field.as_ref();
        let message = if field.is_empty() {
            reason.as_ref().to_string()
        } else {
            format!("{field}: {}", reason.as_ref())
        };
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, message);
        e.challenge = true;
        e
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<dss::DssError> for ApiError {
    fn from(e: dss::DssError) -> Self {
        use dss::DssError::*;
        let status = match &e {
            BadRequest { .. } => StatusCode::BAD_REQUEST,
            Forbidden(_) => StatusCode::FORBIDDEN,
            NotFound(_) => StatusCode::NOT_FOUND,
            Conflict(_) | MissingOvns { .. } => StatusCode::CONFLICT,
            TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self
            .body
            .map(|b| *b)
            .unwrap_or_else(|| json!({ "message": self.message }));
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
