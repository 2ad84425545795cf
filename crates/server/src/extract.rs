//! Request plumbing shared by every endpoint: the caller's identity from its
//! bearer token, and JSON bodies decoded with the path of any bad field.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

/// Scope alternatives of an endpoint, as in the spec's `security` blocks: the
/// caller needs every scope of at least one inner list.
pub type Scopes = &'static [&'static [&'static str]];

/// Authenticates the caller and checks the endpoint's scopes: 401 without a
/// valid token, 403 with a valid token that lacks the scopes.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scopes: Scopes,
) -> Result<auth::Claims, ApiError> {
    let claims = authenticate(state, headers.get(AUTHORIZATION)).await?;
    if let Err(wait) = state.limiter.check(&claims.sub) {
        metrics::counter!("rate_limited_total").increment(1);
        let mut e = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "party {:?} is over its rate limit; retry in {wait} s",
                claims.sub
            ),
        );
        e.retry_after_s = Some(wait);
        return Err(e);
    }
    let allowed = scopes
        .iter()
        .any(|alt| alt.iter().all(|s| claims.has_scope(s)));
    if !allowed {
        let want: Vec<String> = scopes.iter().map(|alt| alt.join(" + ")).collect();
        return Err(ApiError::forbidden(format!(
            "token lacks the scope for this endpoint; one of: {}",
            want.join(", ")
        )));
    }
    Ok(claims)
}

/// The caller's claims from a valid bearer token, or 401.
async fn authenticate(
    state: &AppState,
    authorization: Option<&HeaderValue>,
) -> Result<auth::Claims, ApiError> {
    let value = authorization
        .ok_or_else(|| ApiError::unauthorized("missing Authorization header with a bearer token"))?
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not valid text"))?;
    let token = auth::bearer_token(value).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    state
        .verifier
        .verify_async(token)
        .await
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// A JSON body, limited in size (413) and decoded with the path of the first
/// bad field in the message (400).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Extractors run before the handler checks the token, so a caller
        // without a valid token would learn about its body before being
        // told it is not let in. A bad body is reported only to a caller
        // that is authenticated; anyone else gets the 401.
        // Only the one header (a cheap, shared clone), not the whole map.
        let authorization = req.headers().get(AUTHORIZATION).cloned();
        let unauthenticated_first = |e: ApiError| async {
            match authenticate(state, authorization.as_ref()).await {
                Ok(_) => e,
                Err(auth) => auth,
            }
        };
        let bytes = match Bytes::from_request(req, state).await.map_err(|rej| {
            let status = rej.status();
            if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    format!(
                        "request body exceeds the limit of {} bytes",
                        state.max_body_bytes
                    ),
                )
            } else {
                ApiError::new(
                    status,
                    format!("cannot read request body: {}", rej.body_text()),
                )
            }
        }) {
            Ok(b) => b,
            Err(e) => return Err(unauthenticated_first(e).await),
        };
        let error = match decode(&bytes) {
            Ok(v) => return Ok(JsonBody(v)),
            Err(e) => e,
        };
        Err(unauthenticated_first(error).await)
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad("body", "a JSON body is required"));
    }
    // Path tracking costs a wrapper per value; a body that decodes needs
    // none, so it is decoded plainly and only a bad one again, for the path.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let tracked: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match tracked {
        Err(e) => Err(path_error(e)),
        // The value decoded: what follows it is what `from_slice` refused.
        Ok(_) => Err(ApiError::bad(
            "body",
            match de.end() {
                Err(e) => e.to_string(),
                Ok(()) => "the body could not be decoded".to_string(),
            },
        )),
    }
}

/// [`decode`] for a body already parsed as JSON.
pub fn decode_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

/// 400 naming the path of the bad field (`body` for the whole of it).
fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    ApiError::bad(field, e.inner().to_string())
}
