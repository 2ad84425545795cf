//! The hotline: events per party, derived from every accepted write, kept
//! in the store, streamed as Server-Sent Events, acknowledged, and sent again
//! while critical and unacknowledged.
//!
//! Who is told what (derived under the write lock, so it reflects exactly
//! the state the write was decided on):
//! - an operational intent or constraint created, updated or deleted: the
//!   managers of the subscriptions the standard notifies, and the managers
//!   of operational intents it meets (exactly, volume by volume);
//! - a strategic conflict, when a new or updated intent meets another
//!   party's intent: both parties, with the overlap of each pair of volumes
//!   (altitude band, time window, footprint), critical for the party whose
//!   intent was met;
//! - a late declaration (less notice than the policy asks): everyone told
//!   of the intent, critical.
//!
//! Tactical alerts join the stream through [`Core::record`].

use crate::core::Core;
use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, Scopes};
use crate::AppState;
use airspace::Volume4D;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use dss::{Change, Constraint, Dss, OperationalIntent, Subscriber};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use store::{Declaration, EventAck, StoredEvent};
use tokio::sync::mpsc;

/// Any authenticated party has a hotline.
const ANY_PARTY: Scopes = &[&[]];

/// An event before it is numbered and stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub party: String,
    pub kind: &'static str,
    pub critical: bool,
    pub sender: Option<String>,
    pub data: Value,
}

/// The body of an event as its recipient sees it.
pub fn event_body(seq: u64, e: &NewEvent, time: DateTime<Utc>, log_index: Option<u64>) -> Value {
    json!({
        "seq": seq,
        "kind": e.kind,
        "critical": e.critical,
        "time": time,
        "sender": e.sender,
        "log_index": log_index,
        "data": e.data,
    })
}

/// Minimum notice between declaring an operational intent and its start:
/// one global value, and larger or smaller ones for given areas (the
/// strictest area an intent meets applies).
#[derive(Debug, Clone)]
pub struct NoticePolicy {
    pub min_notice: Duration,
    pub areas: Vec<NoticeArea>,
}

#[derive(Debug, Clone)]
pub struct NoticeArea {
    /// Footprint and altitude band; its time window is ignored.
    pub volume: Volume4D,
    pub min_notice: Duration,
}

impl Default for NoticePolicy {
    fn default() -> Self {
        NoticePolicy {
            min_notice: Duration::zero(),
            areas: Vec::new(),
        }
    }
}

impl NoticePolicy {
    /// The notice an intent with these extents must give.
    pub fn required(&self, extents: &[Volume4D]) -> Duration {
        let mut need: Option<Duration> = None;
        for a in &self.areas {
            let meets = extents.iter().any(|v| {
                a.volume.altitude.overlaps(&v.altitude)
                    && a.volume.footprint.intersects(&v.footprint)
            });
            if meets {
                need = Some(need.map_or(a.min_notice, |n| n.max(a.min_notice)));
            }
        }
        need.unwrap_or(self.min_notice)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeAreaIn {
    min_notice_s: u64,
    volume: crate::wire::Volume4DIn,
}

impl NoticePolicy {
    /// Reads areas from JSON: `[{"min_notice_s": 7200, "volume": <F3548
    /// Volume4D>}, ...]`. Errors name the entry and the field.
    pub fn parse_areas(text: &str) -> Result<Vec<NoticeArea>, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let areas: Vec<NoticeAreaIn> = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        areas
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let field = format!("[{i}].volume");
                let volume = crate::wire::volume4d(&a.volume, &field).map_err(|e| e.message)?;
                Ok(NoticeArea {
                    volume,
                    min_notice: Duration::seconds(a.min_notice_s as i64),
                })
            })
            .collect()
    }
}

/// What a write did to entities others may care about.
pub enum Fact<'a> {
    Intent {
        intent: &'a OperationalIntent,
        subscribers: &'a [Subscriber],
    },
    Constraint {
        constraint: &'a Constraint,
        subscribers: &'a [Subscriber],
    },
}

/// Implemented by the values of writes of the rules.
pub trait Facts {
    fn facts(&self) -> Vec<Fact<'_>> {
        Vec::new()
    }
}

impl Facts for dss::IntentChanged {
    fn facts(&self) -> Vec<Fact<'_>> {
        vec![Fact::Intent {
            intent: &self.intent,
            subscribers: &self.subscribers,
        }]
    }
}

impl Facts for dss::ConstraintChanged {
    fn facts(&self) -> Vec<Fact<'_>> {
        vec![Fact::Constraint {
            constraint: &self.constraint,
            subscribers: &self.subscribers,
        }]
    }
}

impl Facts for dss::SubscriptionPut {}
impl Facts for dss::Subscription {}
impl Facts for dss::UssAvailability {}
impl Facts for dss::Expired {}
impl Facts for dss::IsaChanged {}
impl Facts for dss::RidSubscriptionPut {}
impl Facts for dss::RidSubscription {}
impl Facts for () {}

impl<T: Facts> Facts for Option<T> {
    fn facts(&self) -> Vec<Fact<'_>> {
        self.as_ref().map(Facts::facts).unwrap_or_default()
    }
}

fn summary_intent(o: &OperationalIntent) -> Value {
    json!({
        "id": o.id, "manager": o.manager, "version": o.version,
        "state": o.state.as_str(), "uss_base_url": o.uss_base_url, "extents": o.extents,
    })
}

fn summary_constraint(c: &Constraint) -> Value {
    json!({
        "id": c.id, "manager": c.manager, "version": c.version,
        "uss_base_url": c.uss_base_url, "extents": c.extents,
    })
}

/// The overlap of two volumes that intersect: the common altitude band and
/// time window, and the common part of their footprints.
fn overlap(a: &Volume4D, b: &Volume4D) -> Value {
    let lower = a.altitude.lower_m.max(b.altitude.lower_m);
    let upper = a.altitude.upper_m.min(b.altitude.upper_m);
    let start = match (a.time.start, b.time.start) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let end = match (a.time.end, b.time.end) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    json!({
        "altitude": { "lower_m": finite(lower), "upper_m": finite(upper) },
        "time": { "start": start, "end": end },
        "footprint": airspace::overlap::intersection(&a.footprint, &b.footprint),
    })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Other parties' intents meeting `extents`, with the pairs of volumes that meet.
fn meeting_intents<'a>(
    dss: &'a Dss,
    id: uuid::Uuid,
    actor: &str,
    extents: &[Volume4D],
) -> Vec<(&'a OperationalIntent, Vec<Value>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for v in extents {
        for other in dss.query_intents(v).unwrap_or_default() {
            if other.id == id || *other.manager == *actor || !seen.insert(other.id) {
                continue;
            }
            let overlaps: Vec<Value> = extents
                .iter()
                .flat_map(|a| other.extents.iter().map(move |b| (a, b)))
                .filter(|(a, b)| a.intersects(b))
                .map(|(a, b)| overlap(a, b))
                .collect();
            if !overlaps.is_empty() {
                out.push((other, overlaps));
            }
        }
    }
    out
}

/// Events and declarations caused by a write, decided on the state after it.
pub fn events_for(
    dss: &Dss,
    actor: &str,
    facts: &[Fact<'_>],
    changes: &[Change],
    now: DateTime<Utc>,
    notice: &NoticePolicy,
) -> (Vec<NewEvent>, Vec<Declaration>) {
    let mut events = Vec::new();
    let mut declarations = Vec::new();
    let sender = Some(actor.to_string());
    for fact in facts {
        let (id, extents, subscribers, kind, summary) = match fact {
            Fact::Intent {
                intent,
                subscribers,
            } => (
                intent.id,
                &intent.extents,
                *subscribers,
                "operational_intent",
                summary_intent(intent),
            ),
            Fact::Constraint {
                constraint,
                subscribers,
            } => (
                constraint.id,
                &constraint.extents,
                *subscribers,
                "constraint",
                summary_constraint(constraint),
            ),
        };
        let deleted = changes.iter().any(|c| {
            matches!(c, Change::DeleteOperationalIntent(x) | Change::DeleteConstraint(x) if *x == id)
        });
        let version = summary["version"].as_u64().unwrap_or(0);
        let change = match (deleted, version) {
            (true, _) => "deleted",
            (false, 1) => "created",
            _ => "updated",
        };
        // Who is told, and why.
        let mut told: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for s in subscribers {
            if let Some(sub) = dss.subscription(s.subscription_id) {
                if *sub.manager != *actor {
                    told.entry(sub.manager.to_string()).or_default().push(
                        json!({ "subscription": s.subscription_id, "notification_index": s.notification_index }),
                    );
                }
            }
        }
        let meeting = meeting_intents(dss, id, actor, extents);
        for (other, _) in &meeting {
            told.entry(other.manager.to_string())
                .or_default()
                .push(json!({ "operational_intent": other.id }));
        }
        for (party, reasons) in &told {
            events.push(NewEvent {
                party: party.clone(),
                kind,
                critical: false,
                sender: sender.clone(),
                data: json!({ "change": change, kind: summary, "because_of": reasons }),
            });
        }
        // Strategic conflicts: only between intents that still exist.
        if matches!(fact, Fact::Intent { .. }) && !deleted {
            for (other, overlaps) in &meeting {
                events.push(NewEvent {
                    party: other.manager.to_string(),
                    kind: "strategic_conflict",
                    critical: true,
                    sender: sender.clone(),
                    data: json!({
                        "your_operational_intent": other.id,
                        "other_party": actor,
                        "other_operational_intent": summary,
                        "overlap": overlaps,
                    }),
                });
                events.push(NewEvent {
                    party: actor.to_string(),
                    kind: "strategic_conflict",
                    critical: false,
                    sender: sender.clone(),
                    data: json!({
                        "your_operational_intent": id,
                        "other_party": other.manager,
                        "other_operational_intent": summary_intent(other),
                        "overlap": overlaps,
                    }),
                });
            }
        }
        // Notice: counted for each new declaration of an intent.
        if let (Fact::Intent { intent, .. }, "created") = (fact, change) {
            let starts_at = intent
                .extents
                .iter()
                .filter_map(|v| v.time.start)
                .min()
                .unwrap_or(now);
            let given = starts_at - now;
            let required = notice.required(&intent.extents);
            let late = given < required;
            declarations.push(Declaration {
                intent: intent.id.to_string(),
                version: intent.version,
                party: actor.to_string(),
                declared_at: now,
                starts_at,
                late,
            });
            if late {
                for party in told.keys() {
                    events.push(NewEvent {
                        party: party.clone(),
                        kind: "late_notice",
                        critical: true,
                        sender: sender.clone(),
                        data: json!({
                            "operational_intent": summary,
                            "notice_s": given.num_milliseconds() as f64 / 1e3,
                            "required_notice_s": required.num_seconds(),
                        }),
                    });
                }
            }
        }
    }
    (events, declarations)
}

// ------------------------------------------------------------------ HTTP

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(stream))
        .route("/v1/events/sent", get(sent))
        .route("/v1/events/{seq}/ack", post(ack))
        .route("/v1/reports/notice", get(notice_report))
}

/// How the stream behaves; from the service configuration.
#[derive(Debug, Clone)]
pub struct HotlineConfig {
    /// Critical events unacknowledged this long are sent again.
    pub resend_interval: std::time::Duration,
    /// Events older than this are removed from the store (the record keeps them).
    pub retention: Duration,
}

impl Default for HotlineConfig {
    fn default() -> Self {
        HotlineConfig {
            resend_interval: std::time::Duration::from_secs(30),
            retention: Duration::days(7),
        }
    }
}

fn sse_event(e: &StoredEvent) -> Event {
    Event::default()
        .id(e.seq.to_string())
        .event(e.kind.clone())
        .data(e.body.clone())
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    /// Alternative to the `Last-Event-ID` header, for clients that cannot
    /// set headers (browsers' EventSource can, on reconnect only).
    after: Option<u64>,
}

/// `GET /v1/events`: the caller's events as Server-Sent Events. What was
/// missed since `Last-Event-ID` (or `?after=`) comes first, from the store.
async fn stream(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> ApiResult<Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>>> {
    let claims = authorize(&st, &headers, ANY_PARTY).await?;
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad("Last-Event-ID", "must be an event sequence number"))?,
        None => q.after.unwrap_or(0),
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(pump(
        st.core.clone(),
        claims.sub.clone(),
        after,
        st.hotline.resend_interval,
        tx,
    ));
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}

/// Feeds one SSE connection until the client goes away.
async fn pump(
    core: Arc<Core>,
    party: String,
    mut last: u64,
    resend_every: std::time::Duration,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    // Subscribe before reading the store: nothing falls between the two.
    let mut live = core.subscribe_events();
    let mut resend = tokio::time::interval(resend_every);
    resend.tick().await;
    macro_rules! deliver {
        ($e:expr) => {{
            let e: &StoredEvent = $e;
            if tx.send(Ok(sse_event(e))).await.is_err() {
                return;
            }
            delivered(&core, e, "sse");
        }};
    }
    if catch_up(&core, &party, &mut last, &tx).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            r = live.recv() => match r {
                Ok(e) if e.party == party && e.seq > last => {
                    last = e.seq;
                    deliver!(&e);
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if catch_up(&core, &party, &mut last, &tx).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = resend.tick() => {
                let store = core.store().clone();
                let open = tokio::task::spawn_blocking(move || store.unacknowledged_critical())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                for e in open.iter().filter(|e| e.party == party && e.seq <= last) {
                    deliver!(e);
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// Sends the party's stored events after `last`, in pages.
async fn catch_up(
    core: &Arc<Core>,
    party: &str,
    last: &mut u64,
    tx: &mpsc::Sender<Result<Event, Infallible>>,
) -> Result<(), ()> {
    loop {
        let store = core.store().clone();
        let (p, after) = (party.to_string(), *last);
        let page = tokio::task::spawn_blocking(move || store.events_after(&p, after, 500))
            .await
            .map_err(|_| ())?
            .map_err(|e| tracing::error!(error = %e, "cannot read events"))?;
        let n = page.len();
        for e in &page {
            tx.send(Ok(sse_event(e))).await.map_err(|_| ())?;
            *last = e.seq;
            delivered(core, e, "sse");
        }
        if n < 500 {
            return Ok(());
        }
    }
}

/// Records a delivery in the record without holding up the stream.
fn delivered(core: &Arc<Core>, e: &StoredEvent, channel: &'static str) {
    metrics::counter!("events_delivered_total", "channel" => channel).increment(1);
    let core = core.clone();
    let data = json!({ "seq": e.seq, "party": e.party, "channel": channel });
    tokio::spawn(async move {
        core.record("deconflict", "delivery", data, Vec::new(), Vec::new())
            .await;
    });
}

/// `POST /v1/events/{seq}/ack`: the recipient confirms it has seen an event.
async fn ack(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, ANY_PARTY).await?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| ApiError::bad("seq", "must be an event sequence number"))?;
    let e = st
        .core
        .query_store(move |s| s.event(seq))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {seq} (or it is past retention)")))?;
    if e.party != claims.sub {
        return Err(ApiError::forbidden(format!(
            "event {seq} was sent to another party; only its recipient acknowledges it"
        )));
    }
    let at = Utc::now();
    let index = st
        .core
        .record(
            &claims.sub,
            "ack",
            json!({ "seq": seq, "party": claims.sub, "at": at }),
            vec![EventAck {
                seq,
                party: claims.sub.clone(),
                at,
            }],
            Vec::new(),
        )
        .await;
    metrics::counter!("events_acknowledged_total").increment(1);
    Ok(Json(
        json!({ "seq": seq, "acknowledged_at": at, "log_index": index }),
    ))
}

#[derive(Debug, Deserialize)]
struct SentQuery {
    since: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct SentEvent {
    seq: u64,
    to: String,
    kind: String,
    critical: bool,
    created_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
}

/// `GET /v1/events/sent`: events the caller's writes caused, with who has
/// acknowledged them and who has not.
async fn sent(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SentQuery>,
) -> ApiResult<Json<Value>> {
    let claims = authorize(&st, &headers, ANY_PARTY).await?;
    let since = q.since.unwrap_or_else(|| Utc::now() - Duration::days(1));
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let sub = claims.sub.clone();
    let rows = st
        .core
        .query_store(move |s| s.events_sent_by(&sub, since, limit))
        .await?;
    let events: Vec<SentEvent> = rows
        .into_iter()
        .map(|(e, a)| SentEvent {
            seq: e.seq,
            to: e.party,
            kind: e.kind,
            critical: e.critical,
            created_at: e.created_at,
            acknowledged_at: a.map(|a| a.at),
        })
        .collect();
    let unacknowledged = events
        .iter()
        .filter(|e| e.acknowledged_at.is_none())
        .count();
    Ok(Json(
        json!({ "events": events, "unacknowledged": unacknowledged }),
    ))
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// `GET /v1/reports/notice?from=&to=`: per party, the declarations made in
/// the window, the notice they gave (minimum, median) and the late ones.
async fn notice_report(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> ApiResult<Json<Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(ApiError::bad("from", "is after to"));
    }
    let rows = st
        .core
        .query_store(move |s| s.declarations(from, to))
        .await?;
    let mut by_party: BTreeMap<String, Vec<&Declaration>> = BTreeMap::new();
    for d in &rows {
        by_party.entry(d.party.clone()).or_default().push(d);
    }
    let parties: Vec<Value> = by_party
        .iter()
        .map(|(party, ds)| {
            let mut notice: Vec<f64> = ds
                .iter()
                .map(|d| (d.starts_at - d.declared_at).num_milliseconds() as f64 / 1e3)
                .collect();
            notice.sort_by(f64::total_cmp);
            let median = if notice.len() % 2 == 1 {
                notice[notice.len() / 2]
            } else {
                (notice[notice.len() / 2 - 1] + notice[notice.len() / 2]) / 2.0
            };
            let late: Vec<Value> = ds
                .iter()
                .filter(|d| d.late)
                .map(|d| json!({ "operational_intent": d.intent, "declared_at": d.declared_at, "starts_at": d.starts_at }))
                .collect();
            json!({
                "party": party,
                "declarations": ds.len(),
                "min_notice_s": notice[0],
                "median_notice_s": median,
                "late": late.len(),
                "late_declarations": late,
            })
        })
        .collect();
    Ok(Json(json!({ "from": from, "to": to, "parties": parties })))
}

/// Removes events past retention; called by the sweeper.
pub async fn prune(core: &Arc<Core>, retention: Duration) {
    let store = core.store().clone();
    let cutoff = Utc::now() - retention;
    match tokio::task::spawn_blocking(move || store.prune_events(cutoff)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(events = n, "removed events past retention"),
        Ok(Err(e)) => tracing::error!(error = %e, "cannot prune events"),
        Err(e) => tracing::error!(error = %e, "event pruning failed"),
    }
}
