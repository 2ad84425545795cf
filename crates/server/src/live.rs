//! Live traffic in the service: the incremental tactical engine behind a
//! lock, the feeds that drive it (SBS-1 over TCP, telemetry posted over HTTP,
//! a recording replayed in real time) and the API that shows tracked
//! aircraft, alerts and feed health.
//!
//! The engine and the parsers are pure (`tactical`); everything here is the
//! I/O around them. A malformed line is counted, logged at debug level and
//! skipped: it never stops a feed. A feed that loses its connection
//! reconnects with backoff.

use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, Scopes};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tactical::conformance::{
    ConformanceEvent, ConformanceMonitor, ConformanceParams, MonitoredIntent, NonConformance,
};
use tactical::engine::Area;
use tactical::feeds::{parse_telemetry, FeedStats, SbsDecoder, TrackUpdate};
use tactical::incremental::{Alert, AlertEvent, AlertKind, IncrementalEngine, IncrementalParams};
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast;

/// Any authenticated party may see the traffic picture: it is what the
/// channel exists to share.
const ANY_PARTY: Scopes = &[&[]];

/// What feeds the engine and how it decides.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub params: IncrementalParams,
    /// Buffers of conformance monitoring.
    pub conformance: ConformanceParams,
    /// SBS-1 BaseStation servers to connect to (`host:port`, as dump1090
    /// and readsb serve on port 30003).
    pub sbs: Vec<String>,
    /// QNH and geoid height that turn the SBS feeds' barometric altitudes
    /// into W84 heights.
    pub sbs_datum: tactical::units::PressureDatum,
    /// A recording (the CSV of `shared/data/`) to play as live traffic.
    pub replay: Option<PathBuf>,
    /// Replay speed; traffic is shown as if it flew this many times faster.
    pub replay_speed: f64,
    /// Start the recording again when it ends.
    pub replay_loop: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            params: IncrementalParams::default(),
            conformance: ConformanceParams::default(),
            sbs: Vec::new(),
            sbs_datum: tactical::units::PressureDatum::default(),
            replay: None,
            replay_speed: 1.0,
            replay_loop: false,
        }
    }
}

/// Health of one feed, as `GET /v1/traffic/feeds` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedStatus {
    pub kind: &'static str,
    pub source: String,
    pub connected: bool,
    pub lines: u64,
    pub malformed: u64,
    pub ignored: u64,
    /// Track updates handed to the engine.
    pub updates: u64,
    pub last_error: Option<String>,
    pub last_data_at: Option<DateTime<Utc>>,
}

impl FeedStatus {
    fn absorb(&mut self, stats: &FeedStats) {
        self.lines = stats.lines;
        self.malformed = stats.malformed;
        self.ignored = stats.ignored;
        if stats.last_error.is_some() {
            self.last_error.clone_from(&stats.last_error);
        }
    }
}

/// An alert change, as the API and the event stream carry it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertChange {
    /// `new`, `updated` or `resolved`.
    pub change: &'static str,
    pub alert: AlertView,
}

/// One alert between two aircraft, on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub aircraft_a: String,
    pub aircraft_b: String,
    pub party_a: Option<String>,
    pub party_b: Option<String>,
    /// `conflict` (predicted within the lookahead) or `loss_of_separation`.
    pub kind: &'static str,
    pub since: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Seconds from `updated` to the closest point of approach.
    pub tcpa_s: f64,
    pub dcpa_m: f64,
    /// Seconds from `updated` to the start and end of the loss of
    /// separation (`null`: unbounded).
    pub los_start_s: Option<f64>,
    pub los_end_s: Option<f64>,
    pub distance_m: f64,
    pub altitude_difference_m: f64,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> Self {
        let g = &a.geometry;
        AlertView {
            aircraft_a: a.a.clone(),
            aircraft_b: a.b.clone(),
            party_a: a.party_a.clone(),
            party_b: a.party_b.clone(),
            kind: kind_name(a.kind),
            since: a.since,
            updated: a.time,
            tcpa_s: g.tcpa_s,
            dcpa_m: g.dcpa_m,
            los_start_s: finite(g.tin_s),
            los_end_s: finite(g.tout_s),
            distance_m: g.dist_m,
            altitude_difference_m: g.dalt_m,
        }
    }
}

fn kind_name(k: AlertKind) -> &'static str {
    match k {
        AlertKind::Conflict => "conflict",
        AlertKind::LossOfSeparation => "loss_of_separation",
    }
}

impl From<&AlertEvent> for AlertChange {
    fn from(e: &AlertEvent) -> Self {
        let (change, alert) = match e {
            AlertEvent::New(a) => ("new", a),
            AlertEvent::Updated(a) => ("updated", a),
            AlertEvent::Resolved(a) => ("resolved", a),
        };
        AlertChange {
            change,
            alert: alert.into(),
        }
    }
}

/// The live picture: the engine, the feeds' health, and a broadcast of
/// alert changes for whoever listens (the event stream, the log).
pub struct Live {
    engine: Mutex<IncrementalEngine>,
    monitor: Mutex<ConformanceMonitor>,
    feeds: Mutex<BTreeMap<String, FeedStatus>>,
    changes: broadcast::Sender<Arc<AlertChange>>,
    conformance: broadcast::Sender<Arc<ConformanceEvent>>,
}

/// A non-conformance on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct NonConformanceView {
    pub aircraft_id: String,
    pub operational_intent: String,
    pub owner: String,
    pub since: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub lat_deg: f64,
    pub lon_deg: f64,
    pub alt_m: f64,
    /// How far outside the nearest volume, horizontally (m), vertically (m)
    /// and in time (s).
    pub horizontal_outside_m: f64,
    pub vertical_outside_m: f64,
    pub time_outside_s: f64,
    pub mark_intent_nonconforming: bool,
}

impl From<&NonConformance> for NonConformanceView {
    fn from(n: &NonConformance) -> Self {
        NonConformanceView {
            aircraft_id: n.aircraft_id.clone(),
            operational_intent: n.intent_id.clone(),
            owner: n.owner.clone(),
            since: n.since,
            updated: n.time,
            lat_deg: n.position.lat_deg,
            lon_deg: n.position.lon_deg,
            alt_m: n.position.alt_m,
            horizontal_outside_m: n.distance_outside_m,
            vertical_outside_m: n.vertical_outside_m,
            time_outside_s: n.time_outside_s,
            mark_intent_nonconforming: n.mark_intent_nonconforming,
        }
    }
}

impl Live {
    pub fn new(params: IncrementalParams, conformance: ConformanceParams) -> Live {
        let (changes, _) = broadcast::channel(4096);
        let (conf, _) = broadcast::channel(4096);
        Live {
            engine: Mutex::new(IncrementalEngine::new(params)),
            monitor: Mutex::new(ConformanceMonitor::new(conformance)),
            feeds: Mutex::new(BTreeMap::new()),
            changes,
            conformance: conf,
        }
    }

    /// Watches an operational intent's aircraft against its volumes — when
    /// it names aircraft, or is Activated (telemetry may then name it) —
    /// or stops watching it.
    pub fn link_intent(&self, intent: &dss::OperationalIntent, deleted: bool) {
        use dss::OperationalIntentState as S;
        let watch = !deleted
            && (!intent.monitoring.aircraft_ids.is_empty()
                || matches!(
                    intent.state,
                    S::Activated | S::Nonconforming | S::Contingent
                ));
        let id = intent.id.to_string();
        let events = {
            let mut m = self.monitor.lock();
            if watch {
                m.link(MonitoredIntent {
                    id,
                    owner: intent.manager.to_string(),
                    aircraft_ids: intent.monitoring.aircraft_ids.clone(),
                    volumes: intent.extents.clone(),
                    allow_nonconforming: intent.monitoring.mark_nonconforming,
                })
            } else if m.is_linked(&id) {
                m.unlink(&id)
            } else {
                Vec::new()
            }
        };
        self.announce_conformance(events);
    }

    fn announce_conformance(&self, events: Vec<ConformanceEvent>) {
        for e in events {
            let (change, n) = match &e {
                ConformanceEvent::NonConforming(n) => ("new", n),
                ConformanceEvent::Resolved(r) => ("resolved", &r.nonconformance),
            };
            tracing::warn!(
                change,
                aircraft = %n.aircraft_id,
                operational_intent = %n.intent_id,
                owner = %n.owner,
                horizontal_outside_m = n.distance_outside_m.round(),
                vertical_outside_m = n.vertical_outside_m.round(),
                "conformance"
            );
            metrics::counter!("nonconformances_total", "change" => change).increment(1);
            let _ = self.conformance.send(Arc::new(e));
        }
    }

    /// Conformance changes from now on.
    pub fn subscribe_conformance(&self) -> broadcast::Receiver<Arc<ConformanceEvent>> {
        self.conformance.subscribe()
    }

    /// Alert changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AlertChange>> {
        self.changes.subscribe()
    }

    /// Feeds updates to the engine and announces what changed.
    pub fn ingest(&self, updates: impl IntoIterator<Item = TrackUpdate>) -> usize {
        self.ingest_with_intents(updates.into_iter().map(|u| (u, None)))
    }

    /// Like [`Live::ingest`], each update with the operational intent its
    /// party says the aircraft flies, if any.
    pub fn ingest_with_intents(
        &self,
        updates: impl IntoIterator<Item = (TrackUpdate, Option<String>)>,
    ) -> usize {
        let mut events = Vec::new();
        let mut conformance = Vec::new();
        let mut n = 0;
        {
            let mut engine = self.engine.lock();
            let mut monitor = self.monitor.lock();
            for (u, intent) in updates {
                n += 1;
                conformance.extend(monitor.observe(&u, intent.as_deref()));
                events.extend(engine.update(u));
            }
        }
        metrics::counter!("traffic_updates_total").increment(n as u64);
        self.announce(&events);
        self.announce_conformance(conformance);
        n
    }

    /// Drops silent tracks; called on a timer.
    pub fn expire(&self, now: DateTime<Utc>) {
        let events = self.engine.lock().expire(now);
        self.announce(&events);
        let conformance = self.monitor.lock().expire(now);
        self.announce_conformance(conformance);
    }

    fn announce(&self, events: &[AlertEvent]) {
        for e in events {
            let change = AlertChange::from(e);
            let a = &change.alert;
            tracing::info!(
                change = change.change,
                kind = a.kind,
                aircraft_a = %a.aircraft_a,
                aircraft_b = %a.aircraft_b,
                party_a = a.party_a.as_deref().unwrap_or("-"),
                party_b = a.party_b.as_deref().unwrap_or("-"),
                dcpa_m = a.dcpa_m.round(),
                tcpa_s = a.tcpa_s.round(),
                "traffic alert"
            );
            metrics::counter!("traffic_alerts_total", "change" => change.change, "kind" => a.kind)
                .increment(1);
            // No receiver is not an error: nobody is listening yet.
            let _ = self.changes.send(Arc::new(change));
        }
    }

    fn feed_status(&self, name: &str, f: impl FnOnce(&mut FeedStatus)) {
        let mut feeds = self.feeds.lock();
        f(feeds.entry(name.to_string()).or_default());
    }

    /// Where an aircraft is estimated to be now, if it is tracked.
    pub fn position_of(&self, aircraft_id: &str) -> Option<tactical::geometry::Kinematics> {
        self.engine
            .lock()
            .track_at(aircraft_id, Utc::now())
            .map(|t| t.state)
    }

    pub fn feeds(&self) -> Vec<FeedStatus> {
        self.feeds.lock().values().cloned().collect()
    }
}

/// Starts the configured feeds and the expiry timer. The tasks live as long
/// as the runtime.
pub fn start(live: &Arc<Live>, config: &LiveConfig) {
    for addr in &config.sbs {
        tokio::spawn(sbs_client(live.clone(), addr.clone(), config.sbs_datum));
    }
    if let Some(path) = &config.replay {
        tokio::spawn(replay_feed(
            live.clone(),
            path.clone(),
            config.replay_speed,
            config.replay_loop,
        ));
    }
    let live = live.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            live.expire(Utc::now());
        }
    });
}

/// Reads an SBS-1 stream from a TCP server, reconnecting with backoff
/// (1 s doubling to 30 s) whenever it closes or cannot be reached.
async fn sbs_client(live: Arc<Live>, addr: String, datum: tactical::units::PressureDatum) {
    let name = format!("sbs:{addr}");
    let mut decoder = SbsDecoder::with_datum(datum);
    let mut backoff = Duration::from_secs(1);
    live.feed_status(&name, |s| {
        s.kind = "sbs";
        s.source = addr.clone();
    });
    loop {
        match tokio::net::TcpStream::connect(&addr).await {
            Ok(stream) => {
                tracing::info!(feed = %name, "SBS feed connected");
                live.feed_status(&name, |s| s.connected = true);
                backoff = Duration::from_secs(1);
                let mut lines = tokio::io::BufReader::new(stream).lines();
                let mut batch = Vec::new();
                loop {
                    match lines.next_line().await {
                        Ok(Some(line)) => {
                            let before = decoder.stats.malformed;
                            if let Some(u) = decoder.feed(&line) {
                                batch.push(u);
                            }
                            if decoder.stats.malformed > before {
                                tracing::debug!(feed = %name, error = decoder.stats.last_error.as_deref().unwrap_or(""), "malformed SBS line skipped");
                            }
                            // Hand over what has arrived so far; under a
                            // busy feed this batches naturally.
                            if !lines.get_ref().buffer().is_empty() && batch.len() < 256 {
                                continue;
                            }
                            let n = live.ingest(batch.drain(..));
                            live.feed_status(&name, |s| {
                                s.absorb(&decoder.stats);
                                s.updates += n as u64;
                                s.last_data_at = Some(Utc::now());
                            });
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // Invalid UTF-8 ends `lines`; count it and reconnect.
                            live.feed_status(&name, |s| s.last_error = Some(e.to_string()));
                            break;
                        }
                    }
                }
                live.ingest(batch.drain(..));
                tracing::warn!(feed = %name, "SBS feed closed; reconnecting");
            }
            Err(e) => {
                tracing::warn!(feed = %name, error = %e, retry_in_s = backoff.as_secs(), "cannot reach SBS feed");
                live.feed_status(&name, |s| s.last_error = Some(e.to_string()));
            }
        }
        live.feed_status(&name, |s| s.connected = false);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Plays a recording as live traffic: report times are shifted so that the
/// first one is "now", and divided by `speed` (velocities multiplied by it),
/// so a sped-up replay is consistent traffic that flies `speed` times faster.
async fn replay_feed(live: Arc<Live>, path: PathBuf, speed: f64, repeat: bool) {
    let name = format!("replay:{}", path.display());
    live.feed_status(&name, |s| {
        s.kind = "replay";
        s.source = path.display().to_string();
    });
    let p = path.clone();
    let rec =
        match tokio::task::spawn_blocking(move || tactical::recording::Recording::open(&p)).await {
            Ok(Ok(rec)) => rec,
            Ok(Err(e)) => {
                tracing::error!(feed = %name, error = %format!("{e:#}"), "cannot read recording");
                live.feed_status(&name, |s| s.last_error = Some(format!("{e:#}")));
                return;
            }
            Err(e) => {
                tracing::error!(feed = %name, error = %e, "recording reader failed");
                return;
            }
        };
    live.feed_status(&name, |s| {
        s.connected = true;
        s.malformed = rec.malformed as u64;
        s.last_error = rec.malformed_examples.first().cloned();
    });
    tracing::info!(feed = %name, reports = rec.reports.len(), flights = rec.flights.len(), speed, "replaying recording");
    let Some(t0) = rec.reports.first().map(|r| r.time_s) else {
        return;
    };
    loop {
        let start = Utc::now();
        let start_instant = tokio::time::Instant::now();
        let mut i = 0;
        while i < rec.reports.len() {
            let t = rec.reports[i].time_s;
            let offset = (t - t0) as f64 / speed;
            tokio::time::sleep_until(start_instant + Duration::from_secs_f64(offset)).await;
            let mut batch = Vec::new();
            while i < rec.reports.len() && rec.reports[i].time_s == t {
                let r = &rec.reports[i];
                let flight = &rec.flights[r.flight as usize];
                let track = r.track_deg.to_radians();
                let gs = r.gs_kt * tactical::units::KT * speed;
                batch.push(TrackUpdate {
                    aircraft_id: flight.id.clone(),
                    party: None,
                    callsign: None,
                    time: start + chrono::Duration::milliseconds((offset * 1e3) as i64),
                    state: tactical::geometry::Kinematics::from_track(
                        r.lat_deg,
                        r.lon_deg,
                        r.alt_ft * tactical::units::FT,
                        gs,
                        track,
                        r.vrate_fpm.unwrap_or(0.0) * tactical::units::FPM * speed,
                    ),
                });
                i += 1;
            }
            let n = live.ingest(batch);
            live.feed_status(&name, |s| {
                s.lines += n as u64;
                s.updates += n as u64;
                s.last_data_at = Some(Utc::now());
            });
        }
        if !repeat {
            break;
        }
    }
    live.feed_status(&name, |s| s.connected = false);
    tracing::info!(feed = %name, "recording finished");
}

/// The next message of a broadcast, or `None` once it is closed. Messages
/// lost because this receiver fell behind are logged and skipped: these
/// loops record what they get, and the lost ones stay visible in the API.
async fn next_or_warn<T: Clone>(rx: &mut broadcast::Receiver<T>, what: &str) -> Option<T> {
    loop {
        match rx.recv().await {
            Ok(v) => return Some(v),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "{what} came faster than they could be recorded");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Sends every alert change to the hotlines of the parties of its two
/// aircraft, through the record (critical for a new loss of separation).
///
/// A loss of separation also concerns whoever flies or watches nearby: its
/// start and end (not its updates, and not predicted conflicts, which in
/// busy traffic would drown the hotlines) go as advisories (not critical) to
/// the other parties with intents or subscriptions within 5 km / 300 m of it
/// over the next 10 minutes, with `near` set to where it is. Between two
/// aircraft of no party (both from surveillance feeds) they are the only
/// ones told.
pub async fn alerts_to_events(core: Arc<crate::core::Core>, live: Arc<Live>) {
    let mut rx = live.subscribe();
    while let Some(change) = next_or_warn(&mut rx, "alert changes").await {
        let a = &change.alert;
        let mut involved: Vec<String> = a.party_a.iter().chain(a.party_b.iter()).cloned().collect();
        involved.sort();
        involved.dedup();
        let mut data = serde_json::to_value(&*change).expect("plain data");
        let mut nearby_parties = Vec::new();
        let advise = a.kind == "loss_of_separation" && change.change != "updated";
        if let Some(p) = live.position_of(&a.aircraft_a).filter(|_| advise) {
            nearby_parties = core
                .read(|d| d.parties_near(&nearby(p.lat_deg, p.lon_deg, p.alt_m)))
                .await
                .into_iter()
                .map(|party| party.to_string())
                .filter(|party| !involved.contains(party))
                .collect();
            if !nearby_parties.is_empty() {
                data["near"] = serde_json::json!({"lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "alt_m": p.alt_m});
            }
        }
        if involved.is_empty() && nearby_parties.is_empty() {
            continue;
        }
        // A new loss of separation is what its parties may not miss.
        let critical = change.change == "new" && a.kind == "loss_of_separation";
        let event = |party: String, critical: bool| crate::hotline::NewEvent {
            party,
            kind: "traffic_alert",
            critical,
            sender: None,
            data: data.clone(),
        };
        let events = involved
            .into_iter()
            .map(|p| event(p, critical))
            .chain(nearby_parties.into_iter().map(|p| event(p, false)))
            .collect();
        core.record(
            "deconflict",
            "traffic_alert",
            data.clone(),
            Vec::new(),
            events,
        )
        .await;
    }
}

/// "Nearby" for traffic advisories: 5 km and 300 m around a position, over
/// the next 10 minutes.
fn nearby(lat_deg: f64, lon_deg: f64, alt_m: f64) -> airspace::Volume4D {
    let now = Utc::now();
    airspace::Volume4D {
        footprint: airspace::Footprint::Circle {
            center: airspace::LatLng::new(lat_deg, lon_deg),
            radius_m: 5_000.0,
        },
        altitude: airspace::AltitudeRange {
            lower_m: alt_m - 300.0,
            upper_m: alt_m + 300.0,
        },
        time: airspace::TimeRange::new(now, now + chrono::Duration::minutes(10)),
    }
}

/// Keeps the conformance monitor in step with the declared intents: all
/// of them at start, then every durable write.
pub async fn intents_to_monitor(core: Arc<crate::core::Core>, live: Arc<Live>) {
    // Subscribe first: a write between the two is seen twice, never missed.
    let mut rx = core.subscribe_intents();
    let all: Vec<dss::OperationalIntent> = core.read(|d| d.intents().cloned().collect()).await;
    for i in &all {
        live.link_intent(i, false);
    }
    loop {
        match rx.recv().await {
            Ok(news) => live.link_intent(&news.intent, news.deleted),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "resynchronising conformance monitoring");
                let all: Vec<dss::OperationalIntent> =
                    core.read(|d| d.intents().cloned().collect()).await;
                for i in &all {
                    live.link_intent(i, false);
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Tells the owner and the parties near it of every non-conformance and
/// its end, through the record; marks the intent Nonconforming where the
/// owner allowed it.
pub async fn conformance_to_events(core: Arc<crate::core::Core>, live: Arc<Live>) {
    let mut rx = live.subscribe_conformance();
    while let Some(event) = next_or_warn(&mut rx, "conformance changes").await {
        let (change, n, reason) = match &*event {
            ConformanceEvent::NonConforming(n) => ("new", n, None),
            ConformanceEvent::Resolved(r) => (
                "resolved",
                &r.nonconformance,
                Some(format!("{:?}", r.reason)),
            ),
        };
        let view = NonConformanceView::from(n);
        let around = nearby(n.position.lat_deg, n.position.lon_deg, n.position.alt_m);
        let mut parties: std::collections::BTreeSet<String> = core
            .read(|d| d.parties_near(&around))
            .await
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        parties.insert(n.owner.clone());
        let data = serde_json::json!({ "change": change, "nonconformance": view, "resolved_because": reason });
        let events = parties
            .into_iter()
            .map(|p| crate::hotline::NewEvent {
                critical: change == "new" && p == n.owner,
                party: p,
                kind: "nonconformance",
                sender: None,
                data: data.clone(),
            })
            .collect();
        core.record("deconflict", "nonconformance", data, Vec::new(), events)
            .await;
        if change == "new" && n.mark_intent_nonconforming {
            mark_nonconforming(&core, n).await;
        }
    }
}

/// Puts the intent in state Nonconforming as its owner would, through the
/// same rules as the F3548 API (with the conformance-monitoring scope the
/// owner delegated by asking for it).
async fn mark_nonconforming(core: &crate::core::Core, n: &NonConformance) {
    let Ok(id) = n.intent_id.parse::<uuid::Uuid>() else {
        return;
    };
    let owner = n.owner.clone();
    let caller = dss::Caller {
        manager: owner.clone(),
        conformance_monitoring: true,
    };
    let result = core
        .write(&owner, |d| {
            let Some(cur) = d.intent(id).cloned() else {
                return Err(dss::DssError::NotFound(format!(
                    "operational intent {id} not found"
                )));
            };
            if cur.state == dss::OperationalIntentState::Nonconforming {
                return Ok(dss::Outcome {
                    value: None,
                    changes: Vec::new(),
                });
            }
            let req = dss::PutOperationalIntent {
                id,
                ovn: Some(cur.ovn.clone()),
                extents: cur.extents.to_vec(),
                key: Vec::new(),
                state: dss::OperationalIntentState::Nonconforming,
                uss_base_url: cur.uss_base_url.to_string(),
                subscription: cur.subscription_id.map_or(
                    dss::SubscriptionChoice::None,
                    dss::SubscriptionChoice::Existing,
                ),
                monitoring: cur.monitoring.clone(),
            };
            d.put_intent(&caller, Utc::now(), req)
                .map(|o| dss::Outcome {
                    value: Some(o.value),
                    changes: o.changes,
                })
        })
        .await;
    match result {
        Ok(Some(_)) => {
            tracing::warn!(operational_intent = %id, owner = %owner, "marked Nonconforming on the owner's behalf")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(operational_intent = %id, error = %e.message, "cannot mark Nonconforming")
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/traffic/aircraft", get(list_aircraft))
        .route("/v1/traffic/alerts", get(list_alerts))
        .route("/v1/traffic/feeds", get(list_feeds))
        .route("/v1/traffic/nonconformances", get(list_nonconformances))
        .route("/v1/traffic/telemetry", post(post_telemetry))
}

/// Filters of the traffic API: `bbox=lat_min,lon_min,lat_max,lon_max`
/// (`lon_min > lon_max` crosses the antimeridian), `party`, `kind`.
#[derive(Debug, Deserialize)]
struct TrafficQuery {
    bbox: Option<String>,
    party: Option<String>,
    kind: Option<String>,
}

fn parse_bbox(s: &str) -> ApiResult<Area> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::bad(
                "bbox",
                "expected lat_min,lon_min,lat_max,lon_max in degrees",
            )
        })?;
    let [lat_min, lon_min, lat_max, lon_max] = v[..] else {
        return Err(ApiError::bad(
            "bbox",
            format!(
                "expected 4 numbers (lat_min,lon_min,lat_max,lon_max), got {}",
                v.len()
            ),
        ));
    };
    if !v.iter().all(|x| x.is_finite()) {
        return Err(ApiError::bad("bbox", "numbers must be finite"));
    }
    if !(-90.0..=90.0).contains(&lat_min) || !(-90.0..=90.0).contains(&lat_max) {
        return Err(ApiError::bad("bbox", "latitudes must be within [-90, 90]"));
    }
    if !(-180.0..=180.0).contains(&lon_min) || !(-180.0..=180.0).contains(&lon_max) {
        return Err(ApiError::bad(
            "bbox",
            "longitudes must be within [-180, 180]",
        ));
    }
    if lat_min > lat_max {
        return Err(ApiError::bad("bbox", "lat_min is above lat_max"));
    }
    Ok(Area {
        lat_min_deg: lat_min,
        lat_max_deg: lat_max,
        lon_min_deg: lon_min,
        lon_max_deg: lon_max,
        alt_min_m: f64::NEG_INFINITY,
        alt_max_m: f64::INFINITY,
    })
}

#[derive(Debug, Serialize)]
struct AircraftView {
    aircraft_id: String,
    party: Option<String>,
    callsign: Option<String>,
    reported: DateTime<Utc>,
    age_s: f64,
    lat_deg: f64,
    lon_deg: f64,
    alt_m: f64,
    east_mps: f64,
    north_mps: f64,
    vs_mps: f64,
}

async fn list_aircraft(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let area = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let now = Utc::now();
    let engine = st.live.engine.lock();
    let aircraft: Vec<AircraftView> = engine
        .tracks_at(now)
        .filter(|t| area.is_none_or(|a| a.contains(&t.state)))
        .filter(|t| q.party.is_none() || t.party == q.party.as_deref())
        .map(|t| AircraftView {
            aircraft_id: t.aircraft_id.to_string(),
            party: t.party.map(str::to_string),
            callsign: t.callsign.map(str::to_string),
            reported: t.reported,
            age_s: t.age_s,
            lat_deg: t.state.lat_deg,
            lon_deg: t.state.lon_deg,
            alt_m: t.state.alt_m,
            east_mps: t.state.east_mps,
            north_mps: t.state.north_mps,
            vs_mps: t.state.vs_mps,
        })
        .collect();
    drop(engine);
    Ok(Json(
        serde_json::json!({ "time": now, "aircraft": aircraft }),
    ))
}

async fn list_alerts(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let area = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some("conflict") => Some(AlertKind::Conflict),
        Some("loss_of_separation") => Some(AlertKind::LossOfSeparation),
        Some(other) => {
            return Err(ApiError::bad(
                "kind",
                format!("{other:?} is not one of conflict, loss_of_separation"),
            ))
        }
    };
    let now = Utc::now();
    let engine = st.live.engine.lock();
    let inside: Option<HashMap<&str, bool>> = area.map(|a| {
        engine
            .tracks_at(now)
            .map(|t| (t.aircraft_id, a.contains(&t.state)))
            .collect()
    });
    let mut alerts: Vec<AlertView> = engine
        .alerts()
        .filter(|a| kind.is_none_or(|k| a.kind == k))
        .filter(|a| {
            q.party
                .as_deref()
                .is_none_or(|p| a.party_a.as_deref() == Some(p) || a.party_b.as_deref() == Some(p))
        })
        .filter(|a| {
            inside.as_ref().is_none_or(|m| {
                m.get(a.a.as_str()).copied().unwrap_or(false)
                    || m.get(a.b.as_str()).copied().unwrap_or(false)
            })
        })
        .map(AlertView::from)
        .collect();
    drop(engine);
    alerts.sort_by(|x, y| (&x.aircraft_a, &x.aircraft_b).cmp(&(&y.aircraft_a, &y.aircraft_b)));
    Ok(Json(serde_json::json!({ "time": now, "alerts": alerts })))
}

async fn list_nonconformances(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let area = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let list: Vec<NonConformanceView> = st
        .live
        .monitor
        .lock()
        .open()
        .filter(|n| q.party.as_deref().is_none_or(|p| n.owner == p))
        .filter(|n| area.is_none_or(|a| a.contains(&n.position)))
        .map(NonConformanceView::from)
        .collect();
    Ok(Json(serde_json::json!({ "nonconformances": list })))
}

async fn list_feeds(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    Ok(Json(serde_json::json!({ "feeds": st.live.feeds() })))
}

#[derive(Debug, Serialize)]
struct RejectedLine {
    line: usize,
    message: String,
}

/// Telemetry a party sends about its own aircraft: JSON lines (one object
/// per line; a JSON array of objects is accepted too). Good lines are taken
/// even when others are bad; the answer lists each rejected line with its
/// reason. Only when no line is usable is the request a 400.
async fn post_telemetry(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let claims = authorize(&st, &headers, ANY_PARTY).await?;
    let party = claims.sub.clone();
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("body", "not UTF-8"))?;
    let lines: Vec<String> = if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad("body", format!("not a JSON array: {e}")))?;
        values.iter().map(|v| v.to_string()).collect()
    } else {
        text.lines().map(str::to_string).collect()
    };
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_telemetry(line) {
            Ok(t) if t.update.party.as_deref() != Some(party.as_str()) => rejected.push(RejectedLine {
                line: i + 1,
                message: format!(
                    "party: {:?} is not the caller ({party:?}); a party reports only its own aircraft",
                    t.update.party.unwrap_or_default()
                ),
            }),
            Ok(t) => accepted.push(t),
            Err(message) => rejected.push(RejectedLine {
                line: i + 1,
                message,
            }),
        }
    }
    let name = format!("telemetry:{party}");
    st.live.feed_status(&name, |s| {
        s.kind = "telemetry";
        s.source = party.clone();
        s.connected = true;
        s.lines += (accepted.len() + rejected.len()) as u64;
        s.malformed += rejected.len() as u64;
        if let Some(r) = rejected.first() {
            s.last_error = Some(format!("line {}: {}", r.line, r.message));
        }
        if !accepted.is_empty() {
            s.last_data_at = Some(Utc::now());
        }
    });
    if accepted.is_empty() {
        let message = match rejected.first() {
            Some(r) => format!("line {}: {}", r.line, r.message),
            None => "body: no telemetry lines".to_string(),
        };
        return Err(ApiError::bad("", message));
    }
    let n = accepted.len();
    st.live
        .ingest_with_intents(accepted.into_iter().map(|t| (t.update, t.intent_id)));
    st.live.feed_status(&name, |s| s.updates += n as u64);
    Ok(Json(
        serde_json::json!({ "accepted": n, "rejected": rejected }),
    ))
}
