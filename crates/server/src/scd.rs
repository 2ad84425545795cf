//! The F3548-21 DSS endpoints (`/dss/v1/...`): decode, authorize, call the
//! rules in `dss`, encode. No rule lives here.

use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, JsonBody, Scopes};
use crate::wire::{self, *};
use crate::AppState;
use auth::scopes::{
    AVAILABILITY_ARBITRATION as AA, CONFORMANCE_MONITORING_SA as CMSA, CONSTRAINT_MANAGEMENT as CM,
    CONSTRAINT_PROCESSING as CP, STRATEGIC_COORDINATION as SC,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use dss::{Caller, DssError};
use serde_json::{json, Value};

// Scope alternatives, copied from the `security` blocks of utm.yaml.
const OIR_READ: Scopes = &[&[SC], &[CMSA]];
const OIR_WRITE: Scopes = &[&[SC], &[SC, CP], &[CMSA]];
const CR_READ: Scopes = &[&[CM], &[CP]];
const CR_WRITE: Scopes = &[&[CM]];
const SUB: Scopes = &[&[CP], &[SC]];
const REPORT: Scopes = &[&[CM], &[CP], &[SC], &[CMSA], &[AA]];
const AVAIL_READ: Scopes = &[&[AA], &[SC], &[CMSA]];
const AVAIL_WRITE: Scopes = &[&[AA]];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/dss/v1/operational_intent_references/query",
            post(query_intents),
        )
        .route(
            "/dss/v1/operational_intent_references/{entityid}",
            get(get_intent).put(create_intent),
        )
        .route(
            "/dss/v1/operational_intent_references/{entityid}/{ovn}",
            put(update_intent).delete(delete_intent),
        )
        .route(
            "/dss/v1/constraint_references/query",
            post(query_constraints),
        )
        .route(
            "/dss/v1/constraint_references/{entityid}",
            get(get_constraint).put(create_constraint),
        )
        .route(
            "/dss/v1/constraint_references/{entityid}/{ovn}",
            put(update_constraint).delete(delete_constraint),
        )
        .route("/dss/v1/subscriptions/query", post(query_subscriptions))
        .route(
            "/dss/v1/subscriptions/{subscriptionid}",
            get(get_subscription).put(create_subscription),
        )
        .route(
            "/dss/v1/subscriptions/{subscriptionid}/{version}",
            put(update_subscription).delete(delete_subscription),
        )
        // An empty version in the path ("…/{id}/") is a client error, not an
        // unknown endpoint.
        .route(
            "/dss/v1/operational_intent_references/{entityid}/",
            put(|State(st), h| empty_version(st, h, OIR_WRITE, "ovn"))
                .delete(|State(st), h| empty_version(st, h, OIR_READ, "ovn")),
        )
        .route(
            "/dss/v1/constraint_references/{entityid}/",
            put(|State(st), h| empty_version(st, h, CR_WRITE, "ovn"))
                .delete(|State(st), h| empty_version(st, h, CR_WRITE, "ovn")),
        )
        .route(
            "/dss/v1/subscriptions/{subscriptionid}/",
            put(|State(st), h| empty_version(st, h, SUB, "version"))
                .delete(|State(st), h| empty_version(st, h, SUB, "version")),
        )
        .route("/dss/v1/reports", post(make_report))
        .route(
            "/dss/v1/uss_availability/{uss_id}",
            get(get_availability).put(set_availability),
        )
}

fn caller(claims: &auth::Claims) -> Caller {
    Caller {
        manager: claims.sub.clone(),
        conformance_monitoring: claims.has_scope(CMSA),
    }
}

fn area_of_interest(q: &QueryIn) -> ApiResult<airspace::Volume4D> {
    let aoi = q
        .area_of_interest
        .as_ref()
        .ok_or_else(|| ApiError::bad("area_of_interest", "required"))?;
    wire::volume4d(aoi, "area_of_interest")
}

/// The answer to a change or deletion whose version segment is empty
/// ("…/{id}/"): authenticated as the endpoint would be, then a 400.
async fn empty_version(st: AppState, headers: HeaderMap, scopes: Scopes, field: &str) -> ApiError {
    match authorize(&st, &headers, scopes).await {
        Ok(_) => ApiError::bad(field, "required: the version being changed"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- operational intents

async fn query_intents(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(q): JsonBody<QueryIn>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, OIR_READ).await?;
    let aoi = area_of_interest(&q)?;
    // Encoded under the read lock, borrowing every string from the state.
    let out = st
        .core
        .read(|d| {
            d.query_intents(&aoi).map(|list| {
                encode_list(
                    "operational_intent_references",
                    list.into_iter()
                        .map(|o| intent_out(o, &claims.sub, d.availability_of(&o.manager))),
                    IntentOut::write_json,
                )
            })
        })
        .await?;
    Ok(out)
}

async fn get_intent(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(entityid): Path<String>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, OIR_READ).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let out = st
        .core
        .read(|d| {
            d.get_intent(id).map(|o| {
                encode_one(
                    "operational_intent_reference",
                    &intent_out(o, &claims.sub, d.availability_of(&o.manager)),
                    IntentOut::write_json,
                )
            })
        })
        .await?;
    Ok(out)
}

async fn put_intent(
    st: AppState,
    headers: HeaderMap,
    entityid: String,
    ovn: Option<String>,
    body: PutIntentIn,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, OIR_WRITE).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let req = wire::put_intent_request(id, ovn, body)?;
    let who = caller(&claims);
    let now = Utc::now();
    let mut refused = None;
    let result = st
        .core
        .write(&who.manager, |d| {
            d.put_intent(&who, now, req).inspect_err(|e| {
                // Render the conflict while the state it was decided on is at hand.
                if let DssError::MissingOvns {
                    operational_intents,
                    constraints,
                } = e
                {
                    refused = Some(json!({
                        "message": e.to_string(),
                        "missing_operational_intents": operational_intents
                            .iter()
                            .map(|o| intent_out(o, &who.manager, d.availability_of(&o.manager)))
                            .collect::<Vec<_>>(),
                        "missing_constraints": constraints
                            .iter()
                            .map(|c| constraint_out(c, &who.manager, d.availability_of(&c.manager)))
                            .collect::<Vec<_>>(),
                    }));
                }
            })
        })
        .await;
    match result {
        Ok(changed) => {
            let availability = st.core.read(|d| d.availability_of(&who.manager)).await;
            Ok(encode(&IntentChangeOut {
                subscribers: subscribers_out(&changed.subscribers),
                operational_intent_reference: intent_out(
                    &changed.intent,
                    &who.manager,
                    availability,
                ),
            }))
        }
        Err(mut e) => {
            e.body = refused.map(Box::new);
            Err(e)
        }
    }
}

async fn create_intent(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(entityid): Path<String>,
    JsonBody(body): JsonBody<PutIntentIn>,
) -> ApiResult<(StatusCode, Encoded)> {
    put_intent(st, headers, entityid, None, body)
        .await
        .map(|v| (StatusCode::CREATED, v))
}

async fn update_intent(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((entityid, ovn)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutIntentIn>,
) -> ApiResult<Encoded> {
    put_intent(st, headers, entityid, Some(ovn), body).await
}

async fn delete_intent(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((entityid, ovn)): Path<(String, String)>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, OIR_READ).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let who = caller(&claims);
    let changed = st
        .core
        .write(&who.manager, |d| d.delete_intent(&who, id, &ovn))
        .await?;
    let availability = st.core.read(|d| d.availability_of(&who.manager)).await;
    Ok(encode(&IntentChangeOut {
        subscribers: subscribers_out(&changed.subscribers),
        operational_intent_reference: intent_out(&changed.intent, &who.manager, availability),
    }))
}

// ---------------------------------------------------------------- constraints

async fn query_constraints(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(q): JsonBody<QueryIn>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, CR_READ).await?;
    let aoi = area_of_interest(&q)?;
    // Encoded under the read lock, borrowing every string from the state.
    let out = st
        .core
        .read(|d| {
            d.query_constraints(&aoi).map(|list| {
                encode_list(
                    "constraint_references",
                    list.into_iter()
                        .map(|c| constraint_out(c, &claims.sub, d.availability_of(&c.manager))),
                    ConstraintOut::write_json,
                )
            })
        })
        .await?;
    Ok(out)
}

async fn get_constraint(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(entityid): Path<String>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, CR_READ).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let out = st
        .core
        .read(|d| {
            d.get_constraint(id).map(|c| {
                encode_one(
                    "constraint_reference",
                    &constraint_out(c, &claims.sub, d.availability_of(&c.manager)),
                    ConstraintOut::write_json,
                )
            })
        })
        .await?;
    Ok(out)
}

async fn put_constraint(
    st: AppState,
    headers: HeaderMap,
    entityid: String,
    ovn: Option<String>,
    body: PutConstraintIn,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, CR_WRITE).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let req = dss::PutConstraint {
        id,
        ovn,
        extents: wire::extents(&body.extents)?,
        uss_base_url: body.uss_base_url,
    };
    let who = caller(&claims);
    let now = Utc::now();
    let changed = st
        .core
        .write(&who.manager, |d| d.put_constraint(&who, now, req))
        .await?;
    let availability = st.core.read(|d| d.availability_of(&who.manager)).await;
    Ok(encode(&ConstraintChangeOut {
        subscribers: subscribers_out(&changed.subscribers),
        constraint_reference: constraint_out(&changed.constraint, &who.manager, availability),
    }))
}

async fn create_constraint(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(entityid): Path<String>,
    JsonBody(body): JsonBody<PutConstraintIn>,
) -> ApiResult<(StatusCode, Encoded)> {
    put_constraint(st, headers, entityid, None, body)
        .await
        .map(|v| (StatusCode::CREATED, v))
}

async fn update_constraint(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((entityid, ovn)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutConstraintIn>,
) -> ApiResult<Encoded> {
    put_constraint(st, headers, entityid, Some(ovn), body).await
}

async fn delete_constraint(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((entityid, ovn)): Path<(String, String)>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, CR_WRITE).await?;
    let id = parse_uuid(&entityid, "entityid")?;
    let who = caller(&claims);
    let changed = st
        .core
        .write(&who.manager, |d| d.delete_constraint(&who, id, &ovn))
        .await?;
    let availability = st.core.read(|d| d.availability_of(&who.manager)).await;
    Ok(encode(&ConstraintChangeOut {
        subscribers: subscribers_out(&changed.subscribers),
        constraint_reference: constraint_out(&changed.constraint, &who.manager, availability),
    }))
}

// ---------------------------------------------------------------- subscriptions

async fn query_subscriptions(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(q): JsonBody<QueryIn>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, SUB).await?;
    let aoi = area_of_interest(&q)?;
    let who = caller(&claims);
    let now = Utc::now();
    let out = st
        .core
        .read(|d| {
            d.query_subscriptions(&who, &aoi, now).map(|list| {
                list.into_iter()
                    .map(|s| subscription_out(s, &d.dependent_intents(s.id)))
                    .collect::<Vec<_>>()
            })
        })
        .await?;
    Ok(Json(json!({ "subscriptions": out })))
}

async fn get_subscription(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, SUB).await?;
    let id = parse_uuid(&id, "subscriptionid")?;
    let who = caller(&claims);
    let out = st
        .core
        .read(|d| {
            d.get_subscription(&who, id)
                .map(|s| subscription_out(s, &d.dependent_intents(s.id)))
        })
        .await?;
    Ok(Json(json!({ "subscription": out })))
}

async fn put_subscription(
    st: AppState,
    headers: HeaderMap,
    id: String,
    version: Option<String>,
    body: PutSubscriptionIn,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, SUB).await?;
    let id = parse_uuid(&id, "subscriptionid")?;
    let req = wire::put_subscription_request(id, version, body)?;
    let who = caller(&claims);
    let now = Utc::now();
    let put = st
        .core
        .write(&who.manager, |d| d.put_subscription(&who, now, req))
        .await?;
    let out = st
        .core
        .read(|d| {
            let mut v = json!({
                "subscription": subscription_out(&put.subscription, &d.dependent_intents(put.subscription.id)),
            });
            if let Some(ois) = &put.operational_intents {
                v["operational_intent_references"] = json!(ois
                    .iter()
                    .map(|o| intent_out(o, &who.manager, d.availability_of(&o.manager)))
                    .collect::<Vec<_>>());
            }
            if let Some(cs) = &put.constraints {
                v["constraint_references"] = json!(cs
                    .iter()
                    .map(|c| constraint_out(c, &who.manager, d.availability_of(&c.manager)))
                    .collect::<Vec<_>>());
            }
            v
        })
        .await;
    Ok(Json(out))
}

async fn create_subscription(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PutSubscriptionIn>,
) -> ApiResult<Json<Value>> {
    put_subscription(st, headers, id, None, body).await
}

async fn update_subscription(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutSubscriptionIn>,
) -> ApiResult<Json<Value>> {
    put_subscription(st, headers, id, Some(version), body).await
}

async fn delete_subscription(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, SUB).await?;
    let id = parse_uuid(&id, "subscriptionid")?;
    let who = caller(&claims);
    let sub = st
        .core
        .write(&who.manager, |d| d.delete_subscription(&who, id, &version))
        .await?;
    Ok(Json(json!({ "subscription": subscription_out(&sub, &[]) })))
}

// ---------------------------------------------------------------- reports, availability

async fn make_report(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let claims = authorize(&st, &headers, REPORT).await?;
    validate_report(&body)?;
    // The spec requires `request_source` (giving it no schema) but the
    // InterUSS clients never send it: kept and answered as an explicit
    // null, "not given", so the stored report has every required field.
    if let Some(x) = body["exchange"].as_object_mut() {
        x.entry("request_source").or_insert(Value::Null);
    }
    let id = uuid::Uuid::new_v4();
    body["report_id"] = json!(id.to_string());
    let report = dss::Report {
        id,
        reporter: claims.sub.as_str().into(),
        received_at: Utc::now(),
        body: body.to_string(),
    };
    st.core
        .write(&claims.sub, |_| {
            Ok::<_, DssError>(dss::Outcome {
                value: (),
                changes: vec![dss::Change::PutReport(report)],
            })
        })
        .await?;
    tracing::info!(report_id = %id, reporter = %claims.sub, "received DSS report");
    Ok((StatusCode::CREATED, Json(body)))
}

/// Checks an `ErrorReport` against the spec's schema: types of every
/// defined field, the required ones present, the enumerations and times.
fn validate_report(body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad("body", "an ErrorReport object is required"));
    }
    let report: crate::wire::ErrorReportIn = crate::extract::decode_value(body)?;
    // No field of the schema is nullable; serde would take null for "absent".
    if let Some(field) = body["exchange"].as_object().and_then(|x| {
        x.iter()
            .find(|(k, v)| v.is_null() && k.as_str() != "request_source")
            .map(|(k, _)| k)
    }) {
        return Err(ApiError::bad(
            format!("exchange.{field}"),
            "must not be null (omit it instead)",
        ));
    }
    let x = &report.exchange;
    if !matches!(x.recorder_role.as_str(), "Client" | "Server") {
        return Err(ApiError::bad(
            "exchange.recorder_role",
            format!("{:?} is not one of \"Client\", \"Server\"", x.recorder_role),
        ));
    }
    crate::wire::parse_time(&x.request_time, &"exchange.request_time")?;
    if let Some(t) = &x.response_time {
        crate::wire::parse_time(t, &"exchange.response_time")?;
    }
    Ok(())
}

async fn get_availability(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(uss_id): Path<String>,
) -> ApiResult<Json<AvailabilityOut>> {
    authorize(&st, &headers, AVAIL_READ).await?;
    let rec = st.core.read(|d| d.uss_availability(&uss_id)).await;
    Ok(Json(availability_out(&rec)))
}

async fn set_availability(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(uss_id): Path<String>,
    JsonBody(body): JsonBody<SetAvailabilityIn>,
) -> ApiResult<Json<AvailabilityOut>> {
    let claims = authorize(&st, &headers, AVAIL_WRITE).await?;
    let availability = dss::Availability::parse(&body.availability).ok_or_else(|| {
        ApiError::bad(
            "availability",
            format!(
                "{:?} is not one of Unknown, Normal, Down",
                body.availability
            ),
        )
    })?;
    let now = Utc::now();
    let rec = st
        .core
        .write(&claims.sub, |d| {
            d.set_availability(&uss_id, availability, &body.old_version, now)
        })
        .await?;
    Ok(Json(availability_out(&rec)))
}
