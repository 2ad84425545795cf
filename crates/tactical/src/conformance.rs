//! Conformance monitoring: is an aircraft inside the operational intent it
//! flies?
//!
//! An aircraft is *linked* to an operational intent either because the intent
//! declares its aircraft id ([`MonitoredIntent::aircraft_ids`]) or because the
//! owner's telemetry names the intent (the `intent_hint` of
//! [`ConformanceMonitor::observe`]). Each report of a linked aircraft is
//! checked against the intent's volumes: the aircraft is *conforming* while it
//! is within the buffers ([`ConformanceParams`]) of some volume in area,
//! altitude and time. Leaving raises one [`ConformanceEvent::NonConforming`];
//! while it stays out nothing is repeated (the open record in
//! [`ConformanceMonitor::open`] follows the latest report); returning, or
//! anything else that ends the episode, raises one
//! [`ConformanceEvent::Resolved`] with the reason.
//!
//! Who else must be told (parties with intents or subscriptions nearby) and
//! whether the intent is then marked Nonconforming in the DSS are decided by
//! the service; a [`NonConformance`] carries what it needs: the position,
//! the intent, its owner and whether the owner allowed the marking.
//!
//! Pure: no I/O, no clock. Time comes from the reports, and `expire(now)` is
//! called by the owner of the monitor.

use std::collections::HashMap;

use airspace::{LatLng, PreparedFootprint, Volumes};
use chrono::{DateTime, TimeDelta, Utc};

use crate::feeds::TrackUpdate;
use crate::geometry::Kinematics;

/// Tolerances of the conformance test, and when to give up on a silent
/// track. Buffers are non-negative; they absorb measurement error, not
/// flight technical error, which the owner must already have included in
/// the volumes it declared.
#[derive(Clone, Debug, PartialEq)]
pub struct ConformanceParams {
    /// How far outside a volume's footprint a reported position may be and
    /// still conform (m). Default 30 m: a few times the 95 % horizontal
    /// error of an ordinary GNSS receiver (2–5 m, worse near buildings),
    /// plus the rounding of positions sent with 4–5 decimals (up to ~5 m);
    /// small against the tens to hundreds of metres of a drone volume, so a
    /// real excursion is still caught within a few seconds of flight.
    pub buffer_horizontal_m: f64,
    /// How far above or below a volume's altitude band a reported altitude
    /// may be and still conform (m). Default 15 m: GNSS vertical error is
    /// about 1.5 times the horizontal one, and drone bands are thin (often
    /// 0–120 m), where 30 m would hide a real climb through a neighbour's
    /// band.
    pub buffer_vertical_m: f64,
    /// How long before a volume starts or after it ends a report may still
    /// conform to it (s). Default 5 s: covers clock offset between the
    /// owner's aircraft and this service and the latency of a report, not
    /// late take-offs or landings, which need an updated intent.
    pub buffer_time_s: f64,
    /// Consecutive non-conforming reports before a non-conformance is
    /// raised. Default 1: the buffers are the noise filter; debouncing
    /// would delay every real alert by as many report periods. Raise it for
    /// feeds known to jump (multipath, ADS-B position glitches).
    pub min_reports: u32,
    /// And for at least this long since the first of them (s). Default 0.
    pub min_duration_s: f64,
    /// A linked aircraft silent for longer than this is dropped by
    /// [`ConformanceMonitor::expire`] (s). Default 60 s, the live traffic
    /// engine's track timeout.
    pub track_timeout_s: f64,
}

impl Default for ConformanceParams {
    fn default() -> Self {
        ConformanceParams {
            buffer_horizontal_m: 30.0,
            buffer_vertical_m: 15.0,
            buffer_time_s: 5.0,
            min_reports: 1,
            min_duration_s: 0.0,
            track_timeout_s: 60.0,
        }
    }
}

/// An operational intent as the monitor needs it. Linking it again (a new
/// version) replaces it.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitoredIntent {
    /// The operational intent's id (a UUID string).
    pub id: String,
    /// The party that manages it.
    pub owner: String,
    /// Aircraft declared to fly it (ids as the feeds give them: ICAO
    /// addresses for ADS-B, the owner's own ids for telemetry). May be
    /// empty when aircraft are linked by telemetry only.
    pub aircraft_ids: Vec<String>,
    pub volumes: Volumes,
    /// Whether the owner allows this service to mark the intent
    /// Nonconforming on its behalf.
    pub allow_nonconforming: bool,
}

/// An aircraft outside its operational intent.
#[derive(Clone, Debug, PartialEq)]
pub struct NonConformance {
    pub aircraft_id: String,
    pub intent_id: String,
    /// The party that manages the intent.
    pub owner: String,
    /// Time of the first non-conforming report of this excursion.
    pub since: DateTime<Utc>,
    /// Time of the latest non-conforming report.
    pub time: DateTime<Utc>,
    /// Position and velocity reported at `time`.
    pub position: Kinematics,
    /// Horizontal distance (m) outside the footprint of the nearest volume
    /// (see [`NonConformance::volume`]), not counting the buffer.
    pub distance_outside_m: f64,
    /// Distance (m) above or below that volume's altitude band.
    pub vertical_outside_m: f64,
    /// Time (s) before that volume's start or after its end.
    pub time_outside_s: f64,
    /// Index in the intent's volumes of the volume the distances are
    /// measured from: among those active at `time` (within the time buffer)
    /// the nearest in space, otherwise the nearest in time.
    pub volume: usize,
    /// Whether the service should mark the intent Nonconforming (the
    /// owner's [`MonitoredIntent::allow_nonconforming`]).
    pub mark_intent_nonconforming: bool,
}

/// Why an open non-conformance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedReason {
    /// A report found the aircraft back within its intent's volumes.
    Conforming,
    /// The aircraft now flies another of its intents, which it conforms to
    /// or which is the nearer in time.
    OtherIntent,
    /// The intent was unlinked (ended, deleted), or re-linked without this
    /// aircraft.
    Unlinked,
    /// The aircraft stopped reporting ([`ConformanceMonitor::expire`]) or
    /// was forgotten ([`ConformanceMonitor::forget`]); where it is now is
    /// unknown.
    TrackLost,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The non-conformance as it last stood.
    pub nonconformance: NonConformance,
    pub reason: ResolvedReason,
    /// The report that resolved it; for resolutions without one, the
    /// aircraft's last report (`unlink`, `forget`, a re-link) or `now`
    /// (`expire`).
    pub time: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConformanceEvent {
    NonConforming(NonConformance),
    Resolved(Resolved),
}

/// A linked intent with its footprints prepared once.
struct Linked {
    intent: MonitoredIntent,
    footprints: Vec<PreparedFootprint>,
}

/// Non-conforming reports seen so far, not yet enough to raise.
struct Pending {
    intent_id: String,
    since: DateTime<Utc>,
    reports: u32,
}

/// What the monitor keeps about a linked aircraft that has reported.
struct Aircraft {
    /// The intent its telemetry says it flies; overrides declarations.
    telemetry_intent: Option<String>,
    last: TrackUpdate,
    /// The intent its last report was judged against.
    judged_against: Option<String>,
    pending: Option<Pending>,
    open: Option<NonConformance>,
}

/// How a position stands against one intent: the nearest volume, and
/// whether that is within the buffers.
struct Judgement {
    conforming: bool,
    /// (time beyond the buffer, space beyond the buffers), compared
    /// lexicographically to pick the nearest volume and intent.
    miss: (f64, f64),
    volume: usize,
    horizontal_m: f64,
    vertical_m: f64,
    time_s: f64,
}

/// Checks linked aircraft against their operational intents.
pub struct ConformanceMonitor {
    params: ConformanceParams,
    intents: HashMap<String, Linked>,
    /// Aircraft id → intents that declare it.
    declared: HashMap<String, Vec<String>>,
    /// Linked aircraft that have reported.
    aircraft: HashMap<String, Aircraft>,
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1e3
}

impl ConformanceMonitor {
    pub fn new(params: ConformanceParams) -> Self {
        ConformanceMonitor {
            params,
            intents: HashMap::new(),
            declared: HashMap::new(),
            aircraft: HashMap::new(),
        }
    }

    pub fn params(&self) -> &ConformanceParams {
        &self.params
    }

    /// Open non-conformances, one at most per aircraft.
    pub fn open(&self) -> impl Iterator<Item = &NonConformance> {
        self.aircraft.values().filter_map(|a| a.open.as_ref())
    }

    pub fn is_linked(&self, intent_id: &str) -> bool {
        self.intents.contains_key(intent_id)
    }

    /// Number of linked intents.
    pub fn linked(&self) -> usize {
        self.intents.len()
    }

    /// Number of linked aircraft that have reported (unlinked traffic is
    /// never kept).
    pub fn monitored(&self) -> usize {
        self.aircraft.len()
    }

    /// Links an intent, replacing the version linked before. Aircraft that
    /// were judged against it, or that it now declares, have their last
    /// report judged again against the new version: a changed intent that
    /// now covers an aircraft resolves its non-conformance at once, one that
    /// no longer does raises it (a re-judged report does not count again
    /// towards [`ConformanceParams::min_reports`]). An aircraft the new
    /// version no longer declares, and that its telemetry does not link,
    /// has its non-conformance against it resolved as
    /// [`ResolvedReason::Unlinked`].
    pub fn link(&mut self, intent: MonitoredIntent) -> Vec<ConformanceEvent> {
        let id = intent.id.clone();
        let old_ids = self
            .intents
            .get(&id)
            .map(|l| l.intent.aircraft_ids.clone())
            .unwrap_or_default();
        for a in &old_ids {
            self.undeclare(a, &id);
        }
        for a in &intent.aircraft_ids {
            let list = self.declared.entry(a.clone()).or_default();
            if !list.contains(&id) {
                list.push(id.clone());
            }
        }
        let footprints = intent
            .volumes
            .iter()
            .map(|v| PreparedFootprint::new(&v.footprint))
            .collect();
        let new_ids = intent.aircraft_ids.clone();
        self.intents
            .insert(id.clone(), Linked { intent, footprints });

        let mut affected: Vec<String> = self
            .aircraft
            .iter()
            .filter(|(a, st)| {
                st.judged_against.as_deref() == Some(id.as_str())
                    || st.telemetry_intent.as_deref() == Some(id.as_str())
                    || st.pending.as_ref().is_some_and(|p| p.intent_id == id)
                    || new_ids.contains(a)
            })
            .map(|(a, _)| a.clone())
            .collect();
        affected.sort_unstable();
        let mut events = Vec::new();
        for a in affected {
            if let Some(mut st) = self.aircraft.remove(&a) {
                let last = st.last.clone();
                self.judge(&mut st, &last, false, &mut events);
                self.keep_if_linked(a, st, &mut events);
            }
        }
        events
    }

    /// Unlinks an intent (ended, deleted), resolving the non-conformances
    /// open against it. Its aircraft are not judged again until their next
    /// report: their last one may be long past (an aircraft that landed).
    pub fn unlink(&mut self, intent_id: &str) -> Vec<ConformanceEvent> {
        let Some(linked) = self.intents.remove(intent_id) else {
            return Vec::new();
        };
        for a in &linked.intent.aircraft_ids {
            self.undeclare(a, intent_id);
        }
        let mut ids: Vec<String> = self.aircraft.keys().cloned().collect();
        ids.sort_unstable();
        let mut events = Vec::new();
        for a in ids {
            let Some(mut st) = self.aircraft.remove(&a) else {
                continue;
            };
            if st.telemetry_intent.as_deref() == Some(intent_id) {
                st.telemetry_intent = None;
            }
            if st.judged_against.as_deref() == Some(intent_id) {
                st.judged_against = None;
            }
            if st
                .pending
                .as_ref()
                .is_some_and(|p| p.intent_id == intent_id)
            {
                st.pending = None;
            }
            if st.open.as_ref().is_some_and(|o| o.intent_id == intent_id) {
                let time = st.last.time;
                resolve(&mut st, ResolvedReason::Unlinked, time, &mut events);
            }
            self.keep_if_linked(a, st, &mut events);
        }
        events
    }

    /// Judges one report. `intent_hint` is the operational intent the
    /// report says the aircraft flies (telemetry); it links the aircraft to
    /// that intent from now on, in preference to declarations, if the
    /// intent is linked and the report comes from its owner (a party links
    /// only its own aircraft to its own intents). Reports from another party
    /// than an intent's owner are never judged against it; reports without
    /// a party (surveillance) are judged against the intents that declare
    /// their aircraft id. Reports older than the aircraft's last one, and
    /// positions that are not finite, are ignored.
    ///
    /// An aircraft linked to no intent costs two hash lookups.
    ///
    /// Altitudes are compared as given with the volumes' bands, which are
    /// metres above the WGS84 ellipsoid: the feed must deliver that datum.
    pub fn observe(
        &mut self,
        update: &TrackUpdate,
        intent_hint: Option<&str>,
    ) -> Vec<ConformanceEvent> {
        let id = update.aircraft_id.as_str();
        let hint = intent_hint.filter(|h| {
            self.intents
                .get(*h)
                .is_some_and(|l| update.party.as_deref() == Some(l.intent.owner.as_str()))
        });
        if hint.is_none() && !self.aircraft.contains_key(id) && !self.declared.contains_key(id) {
            return Vec::new();
        }
        let s = &update.state;
        if !(s.lat_deg.is_finite() && s.lon_deg.is_finite() && s.alt_m.is_finite()) {
            return Vec::new();
        }
        let known = self.aircraft.get(id);
        if known.is_some_and(|st| update.time < st.last.time) {
            return Vec::new();
        }
        // A report that no linked intent may be judged against (another
        // party's aircraft under the same id) leaves no trace: it must not
        // become the "last report" that later ones are ordered against.
        let telemetry = hint.or_else(|| known.and_then(|st| st.telemetry_intent.as_deref()));
        if self.candidates(telemetry, update).is_empty() {
            return Vec::new();
        }
        let mut st = match self.aircraft.remove(id) {
            Some(mut st) => {
                st.last = update.clone();
                st
            }
            None => Aircraft {
                telemetry_intent: None,
                last: update.clone(),
                judged_against: None,
                pending: None,
                open: None,
            },
        };
        if let Some(h) = hint {
            st.telemetry_intent = Some(h.to_string());
        }
        let mut events = Vec::new();
        self.judge(&mut st, update, true, &mut events);
        self.keep_if_linked(id.to_string(), st, &mut events);
        events
    }

    /// Drops aircraft silent for longer than the track timeout, resolving
    /// their non-conformances as [`ResolvedReason::TrackLost`]: where the
    /// aircraft is now is unknown, and an alert nobody can update or clear
    /// would stay open for ever. The reason tells recipients it did not
    /// come back.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<ConformanceEvent> {
        let timeout = self.params.track_timeout_s;
        let mut stale: Vec<String> = self
            .aircraft
            .iter()
            .filter(|(_, st)| seconds(now - st.last.time) > timeout)
            .map(|(a, _)| a.clone())
            .collect();
        stale.sort_unstable();
        let mut events = Vec::new();
        for a in stale {
            if let Some(mut st) = self.aircraft.remove(&a) {
                resolve(&mut st, ResolvedReason::TrackLost, now, &mut events);
            }
        }
        events
    }

    /// Forgets an aircraft's reports (its track was dropped), resolving its
    /// non-conformance as [`ResolvedReason::TrackLost`] and ending a link
    /// made by its telemetry. Declarations stay: a later report is judged
    /// afresh.
    pub fn forget(&mut self, aircraft_id: &str) -> Vec<ConformanceEvent> {
        let mut events = Vec::new();
        if let Some(mut st) = self.aircraft.remove(aircraft_id) {
            let time = st.last.time;
            resolve(&mut st, ResolvedReason::TrackLost, time, &mut events);
        }
        events
    }

    fn undeclare(&mut self, aircraft_id: &str, intent_id: &str) {
        if let Some(list) = self.declared.get_mut(aircraft_id) {
            list.retain(|i| i != intent_id);
            if list.is_empty() {
                self.declared.remove(aircraft_id);
            }
        }
    }

    /// Puts the aircraft's state back if something still links it;
    /// otherwise resolves what is open (as of its last report) and lets it
    /// go, so that unlinked traffic leaves nothing behind.
    fn keep_if_linked(
        &mut self,
        aircraft_id: String,
        mut st: Aircraft,
        events: &mut Vec<ConformanceEvent>,
    ) {
        if st.telemetry_intent.is_some() || self.declared.contains_key(&aircraft_id) {
            self.aircraft.insert(aircraft_id, st);
        } else {
            let time = st.last.time;
            resolve(&mut st, ResolvedReason::Unlinked, time, events);
        }
    }

    /// The intents a report may be judged against.
    fn candidates(&self, telemetry_intent: Option<&str>, report: &TrackUpdate) -> Vec<&Linked> {
        let from_owner = |l: &&Linked| {
            report
                .party
                .as_deref()
                .is_none_or(|p| p == l.intent.owner.as_str())
        };
        if let Some(l) = telemetry_intent
            .and_then(|i| self.intents.get(i))
            .filter(from_owner)
        {
            return vec![l];
        }
        self.declared
            .get(&report.aircraft_id)
            .into_iter()
            .flatten()
            .filter_map(|i| self.intents.get(i))
            .filter(from_owner)
            .collect()
    }

    /// Judges `report` for the aircraft and updates its episode. `fresh`:
    /// a new report (counts towards `min_reports`), rather than the last
    /// one judged again after a re-link.
    fn judge(
        &self,
        st: &mut Aircraft,
        report: &TrackUpdate,
        fresh: bool,
        events: &mut Vec<ConformanceEvent>,
    ) {
        let t = report.time;
        // Among the intents that may apply: one it conforms to, else the
        // nearest in time then space; but while a non-conformance is open
        // against one of them and it conforms to none, stay with that one
        // rather than flip between equally wrong intents.
        let mut judged: Vec<(&Linked, Judgement)> = self
            .candidates(st.telemetry_intent.as_deref(), report)
            .into_iter()
            .filter_map(|l| self.judge_against(l, &report.state, t).map(|j| (l, j)))
            .collect();
        judged.sort_by(|(la, a), (lb, b)| {
            a.miss
                .0
                .total_cmp(&b.miss.0)
                .then(a.miss.1.total_cmp(&b.miss.1))
                .then(la.intent.id.cmp(&lb.intent.id))
        });
        let open_intent = st.open.as_ref().map(|o| o.intent_id.clone());
        let chosen = match judged.first() {
            Some((_, j)) if !j.conforming => judged
                .iter()
                .find(|(l, _)| Some(&l.intent.id) == open_intent.as_ref())
                .or(judged.first()),
            first => first,
        };
        let Some((linked, j)) = chosen else {
            // Nothing applies (no volumes, or only intents of other
            // parties): no verdict. What is open stays open until the
            // aircraft is judged again, unlinked or lost.
            st.judged_against = None;
            return;
        };
        let intent = &linked.intent;
        st.judged_against = Some(intent.id.clone());

        // An episode against another intent ends here.
        if open_intent.as_ref().is_some_and(|o| *o != intent.id) {
            resolve(st, ResolvedReason::OtherIntent, t, events);
        }
        if j.conforming {
            st.pending = None;
            resolve(st, ResolvedReason::Conforming, t, events);
            return;
        }
        let record = |since| NonConformance {
            aircraft_id: report.aircraft_id.clone(),
            intent_id: intent.id.clone(),
            owner: intent.owner.clone(),
            since,
            time: t,
            position: report.state,
            distance_outside_m: j.horizontal_m,
            vertical_outside_m: j.vertical_m,
            time_outside_s: j.time_s,
            volume: j.volume,
            mark_intent_nonconforming: intent.allow_nonconforming,
        };
        if let Some(open) = &mut st.open {
            // Still out: follow it, without a new event.
            *open = record(open.since);
            return;
        }
        let pending = match st.pending.take() {
            Some(mut p) if p.intent_id == intent.id => {
                if fresh {
                    p.reports += 1;
                }
                p
            }
            _ => Pending {
                intent_id: intent.id.clone(),
                since: t,
                reports: 1,
            },
        };
        if pending.reports >= self.params.min_reports
            && seconds(t - pending.since) >= self.params.min_duration_s
        {
            let nc = record(pending.since);
            st.open = Some(nc.clone());
            events.push(ConformanceEvent::NonConforming(nc));
        } else {
            st.pending = Some(pending);
        }
    }

    /// The nearest volume of `linked` to the position at `t`, or `None` if
    /// the intent has no volumes.
    fn judge_against(
        &self,
        linked: &Linked,
        k: &Kinematics,
        t: DateTime<Utc>,
    ) -> Option<Judgement> {
        let p = &self.params;
        let here = LatLng::new(k.lat_deg, k.lon_deg);
        let mut best: Option<Judgement> = None;
        for (i, (v, fp)) in linked
            .intent
            .volumes
            .iter()
            .zip(&linked.footprints)
            .enumerate()
        {
            let time_s = match (v.time.start, v.time.end) {
                (Some(s), _) if t < s => seconds(s - t),
                (_, Some(e)) if t > e => seconds(t - e),
                _ => 0.0,
            };
            let horizontal_m = fp.distance_outside_m(here);
            let vertical_m = (v.altitude.lower_m - k.alt_m)
                .max(k.alt_m - v.altitude.upper_m)
                .max(0.0);
            let (dh, dv) = (
                (horizontal_m - p.buffer_horizontal_m).max(0.0),
                (vertical_m - p.buffer_vertical_m).max(0.0),
            );
            let miss = ((time_s - p.buffer_time_s).max(0.0), dh.hypot(dv));
            let j = Judgement {
                conforming: miss == (0.0, 0.0),
                miss,
                volume: i,
                horizontal_m,
                vertical_m,
                time_s,
            };
            let nearer = best.as_ref().is_none_or(|b| {
                j.miss
                    .0
                    .total_cmp(&b.miss.0)
                    .then(j.miss.1.total_cmp(&b.miss.1))
                    .is_lt()
            });
            if nearer {
                best = Some(j);
            }
        }
        best
    }
}

/// Closes the aircraft's open non-conformance, if any, and its pending
/// streak.
fn resolve(
    st: &mut Aircraft,
    reason: ResolvedReason,
    time: DateTime<Utc>,
    events: &mut Vec<ConformanceEvent>,
) {
    st.pending = None;
    if let Some(nc) = st.open.take() {
        events.push(ConformanceEvent::Resolved(Resolved {
            nonconformance: nc,
            reason,
            time,
        }));
    }
}
