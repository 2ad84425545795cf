//! The InterUSS DSS auxiliary API's two endpoints that are not about a pool
//! (`/aux/v1/version`, `/aux/v1/validate_oauth`): clients and the InterUSS
//! prober use them to check they reach a DSS and that their tokens are
//! accepted there. The pool endpoints of that API describe the reference
//! DSS's CockroachDB nodes and are not served.

use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, Scopes};
use crate::AppState;
use auth::scopes::{
    DSS_READ_IDENTIFICATION_SERVICE_AREAS as READ19,
    DSS_WRITE_IDENTIFICATION_SERVICE_AREAS as WRITE19,
};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

/// From the `security` block of `validateOauth` in aux_.yaml.
const VALIDATE: Scopes = &[&[READ19], &[WRITE19]];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/aux/v1/version", get(version))
        .route("/aux/v1/validate_oauth", get(validate_oauth))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": concat!("deconflict-", env!("CARGO_PKG_VERSION")) }))
}

/// 200 when the token is valid here (and, with `owner`, is that party's).
async fn validate_oauth(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, VALIDATE).await?;
    if let Some(owner) = q.get("owner") {
        if *owner != claims.sub {
            return Err(ApiError::forbidden(format!(
                "the token is valid, but for {:?}, not owner {owner:?}",
                claims.sub
            )));
        }
    }
    Ok(Json(json!({})))
}
