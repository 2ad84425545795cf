//! The F3411 Remote ID DSS endpoints, in both API versions that clients
//! speak: F3411-19 under `/v1/dss/...` and F3411-22a under
//! `/rid/v2/dss/...` (where InterUSS deployments serve it). Both reach the
//! same rules and the same entities (`dss::rid`), as in the reference DSS:
//! an ISA made through one version is seen through the other. Each
//! version's JSON lives here, and only here.

use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, decode, Scopes};
use crate::wire::{self, encode, parse_uuid, time_out, Encoded, Rfc3339, TimeOut, Volume4DIn};
use crate::AppState;
use airspace::{AltitudeRange, Footprint, LatLng, TimeRange};
use auth::scopes::{
    DSS_READ_IDENTIFICATION_SERVICE_AREAS as READ19,
    DSS_WRITE_IDENTIFICATION_SERVICE_AREAS as WRITE19, RID_DISPLAY_PROVIDER as DP,
    RID_SERVICE_PROVIDER as SP,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use dss::{IdentificationServiceArea, PutRid, RidSubscriber, RidSubscription};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which version of the API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V19,
    V22a,
}

/// Scope alternatives of the endpoints, from the `security` blocks of each
/// version's spec.
struct Security {
    isa_read: Scopes,
    isa_get: Scopes,
    isa_write: Scopes,
    sub_write: Scopes,
    sub_get: Scopes,
}

impl Api {
    fn security(self) -> &'static Security {
        match self {
            Api::V19 => &Security {
                isa_read: &[&[READ19]],
                isa_get: &[&[READ19]],
                isa_write: &[&[WRITE19]],
                sub_write: &[&[READ19]],
                sub_get: &[&[READ19], &[WRITE19]],
            },
            Api::V22a => &Security {
                isa_read: &[&[DP]],
                isa_get: &[&[DP], &[SP]],
                isa_write: &[&[SP]],
                sub_write: &[&[DP]],
                sub_get: &[&[DP], &[SP]],
            },
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/v1/dss", version_routes(Api::V19))
        .nest("/rid/v2/dss", version_routes(Api::V22a))
}

fn version_routes(api: Api) -> Router<AppState> {
    Router::new()
        .route(
            "/identification_service_areas",
            get(move |st, h, q| search_isas(api, st, h, q)),
        )
        .route(
            "/identification_service_areas/{id}",
            get(move |st, h, p| get_isa(api, st, h, p))
                .put(move |st, h, Path(id): Path<String>, b| put_isa(api, st, h, (id, None), b)),
        )
        .route(
            "/identification_service_areas/{id}/{version}",
            axum::routing::put(move |st, h, Path((id, v)): Path<(String, String)>, b| {
                put_isa(api, st, h, (id, Some(v)), b)
            })
            .delete(move |st, h, p| delete_isa(api, st, h, p)),
        )
        // An empty version ("…/{id}/") is a client error, not an unknown endpoint.
        .route(
            "/identification_service_areas/{id}/",
            axum::routing::put(move |st, h| empty_version(api, st, h, true))
                .delete(move |st, h| empty_version(api, st, h, true)),
        )
        .route(
            "/subscriptions/{id}/",
            axum::routing::put(move |st, h| empty_version(api, st, h, false))
                .delete(move |st, h| empty_version(api, st, h, false)),
        )
        .route(
            "/subscriptions",
            get(move |st, h, q| search_subscriptions(api, st, h, q)),
        )
        .route(
            "/subscriptions/{id}",
            get(move |st, h, p| get_subscription(api, st, h, p)).put(
                move |st, h, Path(id): Path<String>, b| put_subscription(api, st, h, (id, None), b),
            ),
        )
        .route(
            "/subscriptions/{id}/{version}",
            axum::routing::put(move |st, h, Path((id, v)): Path<(String, String)>, b| {
                put_subscription(api, st, h, (id, Some(v)), b)
            })
            .delete(move |st, h, p| delete_subscription(api, st, h, p)),
        )
}

// ---------------------------------------------------------------- handlers

async fn search_isas(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Encoded> {
    authorize(&st, &headers, api.security().isa_read).await?;
    let (area, time) = search_query(query.as_deref())?;
    let now = Utc::now();
    st.core
        .read(|d| {
            d.search_isas(&area, time, now).map(|isas| {
                let service_areas: Vec<IsaOut> =
                    isas.into_iter().map(|i| isa_out(api, i)).collect();
                encode(&SearchIsasOut { service_areas })
            })
        })
        .await
        .map_err(Into::into)
}

async fn get_isa(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Encoded> {
    authorize(&st, &headers, api.security().isa_get).await?;
    let id = parse_uuid(&id, "id")?;
    st.core
        .read(|d| {
            d.get_isa(id).map(|i| {
                encode(&IsaOne {
                    service_area: isa_out(api, i),
                })
            })
        })
        .await
        .map_err(Into::into)
}

/// A create (`version` absent) or an update.
async fn put_isa(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    (id, version): (String, Option<String>),
    body: Bytes,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().isa_write).await?;
    let id = parse_uuid(&id, "id")?;
    let req = put_request(api, true, id, version, &body)?;
    let url_field = url_field(api, true);
    let now = Utc::now();
    let changed = st
        .core
        .write(&claims.sub, |d| d.put_isa(&claims.sub, now, req))
        .await
        .map_err(|e| rename_url_field(e, url_field))?;
    Ok(encode(&IsaChangeOut {
        service_area: isa_out(api, &changed.isa),
        subscribers: subscribers_out(&changed.subscribers),
    }))
}

async fn delete_isa(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().isa_write).await?;
    let id = parse_uuid(&id, "id")?;
    let now = Utc::now();
    let changed = st
        .core
        .write(&claims.sub, |d| {
            d.delete_isa(&claims.sub, now, id, &version)
        })
        .await?;
    Ok(encode(&IsaChangeOut {
        service_area: isa_out(api, &changed.isa),
        subscribers: subscribers_out(&changed.subscribers),
    }))
}

async fn search_subscriptions(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().sub_write).await?;
    let (area, _) = search_query(query.as_deref())?;
    let now = Utc::now();
    st.core
        .read(|d| {
            d.search_rid_subscriptions(&claims.sub, &area, now)
                .map(|subs| {
                    let subscriptions: Vec<SubOut> =
                        subs.into_iter().map(|s| subscription_out(api, s)).collect();
                    encode(&SearchSubsOut { subscriptions })
                })
        })
        .await
        .map_err(Into::into)
}

async fn get_subscription(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().sub_get).await?;
    let id = parse_uuid(&id, "id")?;
    st.core
        .read(|d| {
            d.get_rid_subscription(&claims.sub, id).map(|s| {
                encode(&SubOne {
                    subscription: subscription_out(api, s),
                })
            })
        })
        .await
        .map_err(Into::into)
}

async fn put_subscription(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    (id, version): (String, Option<String>),
    body: Bytes,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().sub_write).await?;
    let id = parse_uuid(&id, "id")?;
    let req = put_request(api, false, id, version, &body)?;
    let url_field = url_field(api, false);
    let now = Utc::now();
    let put = st
        .core
        .write(&claims.sub, |d| {
            d.put_rid_subscription(&claims.sub, now, req)
        })
        .await
        .map_err(|e| rename_url_field(e, url_field))?;
    Ok(encode(&SubChangeOut {
        subscription: subscription_out(api, &put.subscription),
        service_areas: Some(put.service_areas.iter().map(|i| isa_out(api, i)).collect()),
    }))
}

async fn delete_subscription(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Encoded> {
    let claims = authorize(&st, &headers, api.security().sub_write).await?;
    let id = parse_uuid(&id, "id")?;
    let sub = st
        .core
        .write(&claims.sub, |d| {
            d.delete_rid_subscription(&claims.sub, id, &version)
        })
        .await?;
    Ok(encode(&SubOne {
        subscription: subscription_out(api, &sub),
    }))
}

async fn empty_version(
    api: Api,
    State(st): State<AppState>,
    headers: HeaderMap,
    isa: bool,
) -> ApiError {
    let scopes = if isa {
        api.security().isa_write
    } else {
        api.security().sub_write
    };
    match authorize(&st, &headers, scopes).await {
        Ok(_) => ApiError::bad("version", "required: the version being changed"),
        Err(e) => e,
    }
}

/// The rules name the URL by its F3411-22a field; say it as the request did.
fn rename_url_field(e: ApiError, field: &str) -> ApiError {
    match e.message.strip_prefix("uss_base_url") {
        Some(rest) if field != "uss_base_url" => ApiError::new(e.status, format!("{field}{rest}")),
        _ => e,
    }
}

// ---------------------------------------------------------------- inputs

/// The member that names an entity's URL in `api`'s bodies.
pub fn url_field(api: Api, isa: bool) -> &'static str {
    match (api, isa) {
        (Api::V19, true) => "flights_url",
        (Api::V19, false) => "callbacks.identification_service_area_url",
        (Api::V22a, _) => "uss_base_url",
    }
}

/// What an ISA (`isa`) or subscription create or update asks, from its
/// body in `api`'s format.
pub fn put_request(
    api: Api,
    isa: bool,
    id: Uuid,
    version: Option<String>,
    body: &[u8],
) -> ApiResult<PutRid> {
    let (extents, url) = match api {
        Api::V19 => {
            let b: In19 = decode(body)?;
            let url = if isa {
                b.flights_url
            } else {
                b.callbacks.and_then(|c| c.identification_service_area_url)
            };
            (extents19(&b.extents)?, url)
        }
        Api::V22a => {
            let b: In22 = decode(body)?;
            (extents22(&b.extents)?, b.uss_base_url)
        }
    };
    Ok(PutRid {
        id,
        version,
        footprint: extents.footprint,
        altitude: extents.altitude,
        time_start: extents.time.start,
        time_end: extents.time.end,
        url: url.ok_or_else(|| ApiError::bad(url_field(api, isa), "required"))?,
    })
}

/// The area and time window of a search, from its query string.
pub fn search_query(query: Option<&str>) -> ApiResult<(Footprint, TimeRange)> {
    let q = Query::parse(query)?;
    let area = q.area()?;
    let time = TimeRange {
        start: q.time("earliest_time")?,
        end: q.time("latest_time")?,
    };
    Ok((area, time))
}

/// A volume as the rules take it (footprint, altitude, time).
struct Extents {
    footprint: Footprint,
    altitude: AltitudeRange,
    time: TimeRange,
}

fn extents22(v: &Option<Volume4DIn>) -> ApiResult<Extents> {
    let v = v
        .as_ref()
        .ok_or_else(|| ApiError::bad("extents", "required"))?;
    let v = wire::volume4d(v, "extents")?;
    Ok(Extents {
        footprint: v.footprint,
        altitude: v.altitude,
        time: v.time,
    })
}

/// An F3411-22a ISA or subscription body.
#[derive(Deserialize)]
struct In22 {
    extents: Option<Volume4DIn>,
    uss_base_url: Option<String>,
}

/// An F3411-19 ISA (`flights_url`) or subscription (`callbacks`) body.
#[derive(Deserialize)]
struct In19 {
    extents: Option<Volume4DIn19>,
    flights_url: Option<String>,
    callbacks: Option<CallbacksIn19>,
}

#[derive(Deserialize)]
struct CallbacksIn19 {
    identification_service_area_url: Option<String>,
}

fn extents19(v: &Option<Volume4DIn19>) -> ApiResult<Extents> {
    v.as_ref()
        .ok_or_else(|| ApiError::bad("extents", "required"))?
        .convert()
}

#[derive(Deserialize)]
struct Volume4DIn19 {
    spatial_volume: Option<Volume3DIn19>,
    time_start: Option<String>,
    time_end: Option<String>,
}

#[derive(Deserialize)]
struct Volume3DIn19 {
    footprint: Option<PolygonIn19>,
    altitude_lo: Option<f64>,
    altitude_hi: Option<f64>,
}

#[derive(Deserialize)]
struct PolygonIn19 {
    vertices: Option<Vec<wire::LatLngIn>>,
}

impl Volume4DIn19 {
    fn convert(&self) -> ApiResult<Extents> {
        let sv = self
            .spatial_volume
            .as_ref()
            .ok_or_else(|| ApiError::bad("extents.spatial_volume", "required"))?;
        let vertices = sv
            .footprint
            .as_ref()
            .ok_or_else(|| ApiError::bad("extents.spatial_volume.footprint", "required"))?
            .vertices
            .as_ref()
            .ok_or_else(|| {
                ApiError::bad("extents.spatial_volume.footprint.vertices", "required")
            })?;
        let footprint = Footprint::Polygon {
            vertices: vertices
                .iter()
                .map(|p| LatLng {
                    lat: p.lat,
                    lng: p.lng,
                })
                .collect(),
        };
        let altitude = AltitudeRange {
            lower_m: sv.altitude_lo.unwrap_or(f64::NEG_INFINITY),
            upper_m: sv.altitude_hi.unwrap_or(f64::INFINITY),
        };
        let time = TimeRange {
            start: self
                .time_start
                .as_deref()
                .map(|t| parse_rfc3339(t, "extents.time_start"))
                .transpose()?,
            end: self
                .time_end
                .as_deref()
                .map(|t| parse_rfc3339(t, "extents.time_end"))
                .transpose()?,
        };
        Ok(Extents {
            footprint,
            altitude,
            time,
        })
    }
}

fn parse_rfc3339(s: &str, field: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| ApiError::bad(field, format!("{s:?} is not an RFC 3339 time: {e}")))
}

/// The query string of a search.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> ApiResult<Query> {
        Ok(Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `area`: a GeoPolygonString, `lat1,lng1,lat2,lng2,lat3,lng3,...`.
    fn area(&self) -> ApiResult<Footprint> {
        let s = self
            .get("area")
            .ok_or_else(|| ApiError::bad("area", "required"))?;
        let numbers = s
            .split(',')
            .map(|x| {
                x.trim().parse::<f64>().map_err(|_| {
                    ApiError::bad(
                        "area",
                        format!("{x:?} is not a number (expected lat,lng,lat,lng,...)"),
                    )
                })
            })
            .collect::<ApiResult<Vec<f64>>>()?;
        if numbers.len() % 2 != 0 {
            return Err(ApiError::bad(
                "area",
                "expected pairs of numbers: lat,lng,lat,lng,...",
            ));
        }
        let vertices: Vec<LatLng> = numbers
            .chunks(2)
            .map(|p| LatLng {
                lat: p[0],
                lng: p[1],
            })
            .collect();
        if vertices.len() < 3 {
            return Err(ApiError::bad("area", "at least 3 vertices are required"));
        }
        // The standard's polygons do not repeat their first vertex; a
        // closed loop is refused rather than read as a degenerate edge.
        if vertices.first() == vertices.last() {
            return Err(ApiError::bad(
                "area",
                "the last vertex repeats the first; polygons are closed implicitly",
            ));
        }
        Ok(Footprint::Polygon { vertices })
    }

    fn time(&self, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| parse_rfc3339(v, name))
            .transpose()
    }
}

// ---------------------------------------------------------------- outputs

/// A time as each version spells it: a string (F3411-19) or a `Time`
/// object (F3411-22a).
#[derive(Serialize)]
#[serde(untagged)]
enum TimeOf {
    V19(Rfc3339),
    V22a(TimeOut),
}

fn time_of(api: Api, t: Option<DateTime<Utc>>) -> Option<TimeOf> {
    t.map(|t| match api {
        Api::V19 => TimeOf::V19(Rfc3339(t)),
        Api::V22a => TimeOf::V22a(time_out(t)),
    })
}

#[derive(Serialize)]
struct IsaOut<'a> {
    id: Uuid,
    owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flights_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uss_base_url: Option<&'a str>,
    time_start: Option<TimeOf>,
    time_end: Option<TimeOf>,
    version: &'a str,
}

fn isa_out(api: Api, i: &IdentificationServiceArea) -> IsaOut<'_> {
    IsaOut {
        id: i.id,
        owner: &i.manager,
        flights_url: (api == Api::V19).then_some(&*i.url),
        uss_base_url: (api == Api::V22a).then_some(&*i.url),
        time_start: time_of(api, i.volume.time.start),
        time_end: time_of(api, i.volume.time.end),
        version: &i.version,
    }
}

#[derive(Serialize)]
struct CallbacksOut<'a> {
    identification_service_area_url: &'a str,
}

#[derive(Serialize)]
struct SubOut<'a> {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    callbacks: Option<CallbacksOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uss_base_url: Option<&'a str>,
    owner: &'a str,
    notification_index: u64,
    time_start: Option<TimeOf>,
    time_end: Option<TimeOf>,
    version: &'a str,
}

fn subscription_out(api: Api, s: &RidSubscription) -> SubOut<'_> {
    SubOut {
        id: s.id,
        callbacks: (api == Api::V19).then_some(CallbacksOut {
            identification_service_area_url: &s.url,
        }),
        uss_base_url: (api == Api::V22a).then_some(&*s.url),
        owner: &s.manager,
        notification_index: s.notification_index,
        time_start: time_of(api, s.volume.time.start),
        time_end: time_of(api, s.volume.time.end),
        version: &s.version,
    }
}

#[derive(Serialize)]
struct SubscriptionStateOut {
    subscription_id: Uuid,
    notification_index: u64,
}

#[derive(Serialize)]
struct SubscriberOut<'a> {
    url: &'a str,
    subscriptions: Vec<SubscriptionStateOut>,
}

fn subscribers_out(subs: &[RidSubscriber]) -> Vec<SubscriberOut<'_>> {
    subs.iter()
        .map(|s| SubscriberOut {
            url: &s.url,
            subscriptions: s
                .subscriptions
                .iter()
                .map(
                    |&(subscription_id, notification_index)| SubscriptionStateOut {
                        subscription_id,
                        notification_index,
                    },
                )
                .collect(),
        })
        .collect()
}

#[derive(Serialize)]
struct SearchIsasOut<'a> {
    service_areas: Vec<IsaOut<'a>>,
}

#[derive(Serialize)]
struct IsaOne<'a> {
    service_area: IsaOut<'a>,
}

#[derive(Serialize)]
struct IsaChangeOut<'a> {
    service_area: IsaOut<'a>,
    subscribers: Vec<SubscriberOut<'a>>,
}

#[derive(Serialize)]
struct SearchSubsOut<'a> {
    subscriptions: Vec<SubOut<'a>>,
}

#[derive(Serialize)]
struct SubOne<'a> {
    subscription: SubOut<'a>,
}

#[derive(Serialize)]
struct SubChangeOut<'a> {
    subscription: SubOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_areas: Option<Vec<IsaOut<'a>>>,
}
