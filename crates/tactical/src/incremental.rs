//! The live engine: position updates arrive one at a time; each is checked
//! only against the aircraft near it, and the alerts it changes come out as
//! events with a lifecycle (new, updated, resolved). An alert is not
//! repeated while it is ongoing: it is re-announced only when its kind
//! changes (predicted conflict ↔ loss of separation) or its predicted start
//! moves by more than `retrigger_s`.
//!
//! Pure: time comes from the updates; `expire(now)` is called by the owner.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::engine::{Grid, MinimaRules};
use crate::feeds::TrackUpdate;
use crate::geometry::{advance, default_pair, Kinematics, PairGeometry};

#[derive(Clone, Debug)]
pub struct IncrementalParams {
    pub lookahead_s: f64,
    pub minima: MinimaRules,
    /// Reports older than this are not extrapolated further (s).
    pub max_extrapolation_s: f64,
    /// Tracks silent for longer than this are dropped by `expire` (s).
    pub track_timeout_s: f64,
    /// Speed bound of the neighbour grid; faster aircraft are checked
    /// against everyone (correct, just slower) (m/s).
    pub max_speed_mps: f64,
    /// Re-announce an ongoing conflict when its predicted start moves by
    /// more than this (s).
    pub retrigger_s: f64,
}

impl Default for IncrementalParams {
    fn default() -> Self {
        IncrementalParams {
            lookahead_s: 300.0,
            minima: MinimaRules::default(),
            max_extrapolation_s: 30.0,
            track_timeout_s: 60.0,
            max_speed_mps: 350.0,
            retrigger_s: 30.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// Loss of separation predicted within the lookahead.
    Conflict,
    /// Loss of separation now.
    LossOfSeparation,
}

/// An alert between two aircraft (`a < b`), with both parties.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub a: String,
    pub b: String,
    pub party_a: Option<String>,
    pub party_b: Option<String>,
    pub kind: AlertKind,
    pub geometry: PairGeometry,
    pub since: DateTime<Utc>,
    pub time: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AlertEvent {
    New(Alert),
    Updated(Alert),
    Resolved(Alert),
}

struct Tracked {
    party: Option<String>,
    callsign: Option<String>,
    state: Kinematics,
    time: DateTime<Utc>,
    cell: u64,
}

/// One tracked aircraft, estimated at a given time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackView<'a> {
    pub aircraft_id: &'a str,
    pub party: Option<&'a str>,
    pub callsign: Option<&'a str>,
    /// Time of the last report.
    pub reported: DateTime<Utc>,
    /// Seconds since the last report (negative if it is in the future).
    pub age_s: f64,
    pub state: Kinematics,
}

pub struct IncrementalEngine {
    params: IncrementalParams,
    grid: Grid,
    /// Largest distance at which two aircraft can be in conflict (m).
    reach: f64,
    tracks: HashMap<String, Tracked>,
    cells: HashMap<u64, HashSet<String>>,
    fast: HashSet<String>,
    alerts: HashMap<(String, String), Alert>,
    /// Pair evaluations done, for tests and metrics.
    pub evaluations: u64,
}

impl IncrementalEngine {
    pub fn new(params: IncrementalParams) -> Self {
        let r_max = params
            .minima
            .rules
            .iter()
            .map(|(_, m)| m.horizontal_m)
            .fold(params.minima.default.horizontal_m, f64::max);
        // Two aircraft at most max_speed each, looking lookahead ahead, each
        // possibly carried max_extrapolation from its report.
        let reach =
            r_max + 2.0 * params.max_speed_mps * (params.lookahead_s + params.max_extrapolation_s);
        IncrementalEngine {
            grid: Grid::new(reach),
            reach,
            params,
            tracks: HashMap::new(),
            cells: HashMap::new(),
            fast: HashSet::new(),
            alerts: HashMap::new(),
            evaluations: 0,
        }
    }

    pub fn tracked(&self) -> usize {
        self.tracks.len()
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Every tracked aircraft as it is estimated to be at `now`: carried
    /// along its last velocity, but never further than the extrapolation
    /// limit, so a silent aircraft is shown where it was last plausible.
    pub fn tracks_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = TrackView<'_>> {
        self.tracks
            .keys()
            .filter_map(move |id| self.track_at(id, now))
    }

    /// One tracked aircraft as estimated at `now` (see [`Self::tracks_at`]).
    pub fn track_at(&self, id: &str, now: DateTime<Utc>) -> Option<TrackView<'_>> {
        self.tracks.get_key_value(id).map(|(id, t)| TrackView {
            aircraft_id: id,
            party: t.party.as_deref(),
            callsign: t.callsign.as_deref(),
            reported: t.time,
            age_s: (now - t.time).num_milliseconds() as f64 / 1e3,
            state: self.state_at(t, now),
        })
    }

    fn state_at(&self, t: &Tracked, now: DateTime<Utc>) -> Kinematics {
        let dt = (now - t.time).num_milliseconds() as f64 / 1e3;
        advance(&t.state, dt.clamp(0.0, self.params.max_extrapolation_s))
    }

    /// Applies one update (older than the aircraft's last one: ignored) and
    /// returns the alert events it causes.
    pub fn update(&mut self, u: TrackUpdate) -> Vec<AlertEvent> {
        if let Some(old) = self.tracks.get(&u.aircraft_id) {
            if u.time < old.time {
                return Vec::new();
            }
        }
        self.remove_from_index(&u.aircraft_id);
        let cell = self.grid.key(u.state.lat_deg, u.state.lon_deg);
        let id = u.aircraft_id.clone();
        if u.state.ground_speed() > self.params.max_speed_mps {
            self.fast.insert(id.clone());
        } else {
            self.cells.entry(cell).or_default().insert(id.clone());
        }
        self.tracks.insert(
            id.clone(),
            Tracked {
                party: u.party,
                callsign: u.callsign,
                state: u.state,
                time: u.time,
                cell,
            },
        );
        self.evaluate_around(&id, u.time)
    }

    fn remove_from_index(&mut self, id: &str) {
        if let Some(old) = self.tracks.get(id) {
            if let Some(set) = self.cells.get_mut(&old.cell) {
                set.remove(id);
                if set.is_empty() {
                    self.cells.remove(&old.cell);
                }
            }
        }
        self.fast.remove(id);
    }

    fn neighbours(&self, id: &str) -> Vec<String> {
        let me = &self.tracks[id];
        let mut out: Vec<String> = Vec::new();
        if self.fast.contains(id) {
            out.extend(self.tracks.keys().cloned());
        } else {
            self.grid
                .for_cells(me.state.lat_deg, me.state.lon_deg, self.reach, |key| {
                    if let Some(set) = self.cells.get(&key) {
                        out.extend(set.iter().cloned());
                    }
                });
            out.extend(self.fast.iter().cloned());
        }
        out.retain(|o| o != id);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn evaluate_around(&mut self, id: &str, now: DateTime<Utc>) -> Vec<AlertEvent> {
        let me = &self.tracks[id];
        let own = self.state_at(me, now);
        let mut events = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for other in self.neighbours(id) {
            let t = &self.tracks[&other];
            let theirs = self.state_at(t, now);
            let m = self
                .params
                .minima
                .for_aircraft(&own)
                .max(self.params.minima.for_aircraft(&theirs));
            let (a, b, ka, kb, pa, pb) = if id < other.as_str() {
                (
                    id.to_string(),
                    other.clone(),
                    own,
                    theirs,
                    me.party.clone(),
                    t.party.clone(),
                )
            } else {
                (
                    other.clone(),
                    id.to_string(),
                    theirs,
                    own,
                    t.party.clone(),
                    me.party.clone(),
                )
            };
            self.evaluations += 1;
            let g = default_pair(&ka, &kb, m, self.params.lookahead_s);
            if !(g.conflict || g.los) {
                continue;
            }
            let kind = if g.los {
                AlertKind::LossOfSeparation
            } else {
                AlertKind::Conflict
            };
            let key = (a.clone(), b.clone());
            seen.insert(key.clone());
            match self.alerts.get_mut(&key) {
                Some(alert) => {
                    let moved = (alert.geometry.tin_s - g.tin_s).abs() > self.params.retrigger_s
                        && kind == AlertKind::Conflict;
                    let changed = alert.kind != kind || moved;
                    alert.geometry = g;
                    alert.time = now;
                    if changed {
                        alert.kind = kind;
                        events.push(AlertEvent::Updated(alert.clone()));
                    }
                }
                None => {
                    let alert = Alert {
                        a,
                        b,
                        party_a: pa,
                        party_b: pb,
                        kind,
                        geometry: g,
                        since: now,
                        time: now,
                    };
                    self.alerts.insert(key, alert.clone());
                    events.push(AlertEvent::New(alert));
                }
            }
        }
        // Alerts of this aircraft that no longer hold.
        let gone: Vec<(String, String)> = self
            .alerts
            .keys()
            .filter(|(a, b)| (a == id || b == id) && !seen.contains(&(a.clone(), b.clone())))
            .cloned()
            .collect();
        for key in gone {
            if let Some(mut alert) = self.alerts.remove(&key) {
                alert.time = now;
                events.push(AlertEvent::Resolved(alert));
            }
        }
        events
    }

    /// Drops tracks silent for longer than the timeout, resolving their alerts.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<AlertEvent> {
        let timeout = self.params.track_timeout_s;
        let stale: Vec<String> = self
            .tracks
            .iter()
            .filter(|(_, t)| (now - t.time).num_milliseconds() as f64 / 1e3 > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut events = Vec::new();
        for id in stale {
            self.remove_from_index(&id);
            self.tracks.remove(&id);
            let keys: Vec<_> = self
                .alerts
                .keys()
                .filter(|(a, b)| *a == id || *b == id)
                .cloned()
                .collect();
            for k in keys {
                if let Some(mut alert) = self.alerts.remove(&k) {
                    alert.time = now;
                    events.push(AlertEvent::Resolved(alert));
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn upd(id: &str, party: &str, t: i64, lat: f64, lon: f64, east: f64) -> TrackUpdate {
        TrackUpdate {
            aircraft_id: id.into(),
            party: Some(party.into()),
            callsign: None,
            time: Utc.timestamp_opt(1_700_000_000 + t, 0).unwrap(),
            state: Kinematics {
                lat_deg: lat,
                lon_deg: lon,
                alt_m: 10_000.0,
                east_mps: east,
                north_mps: 0.0,
                vs_mps: 0.0,
            },
        }
    }

    #[test]
    fn alert_lifecycle_new_updated_resolved() {
        let mut e = IncrementalEngine::new(IncrementalParams::default());
        // Head-on, 0.5 deg apart (~39 km at 46N), closing at 400 m/s.
        assert!(e.update(upd("A", "alpha", 0, 46.0, 7.0, 200.0)).is_empty());
        let ev = e.update(upd("B", "bravo", 0, 46.0, 7.5, -200.0));
        assert_eq!(ev.len(), 1);
        let AlertEvent::New(alert) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!((alert.a.as_str(), alert.b.as_str()), ("A", "B"));
        assert_eq!(
            (alert.party_a.as_deref(), alert.party_b.as_deref()),
            (Some("alpha"), Some("bravo"))
        );
        assert_eq!(alert.kind, AlertKind::Conflict);
        // The same geometry, reported again: no repeat.
        assert!(e
            .update(upd("A", "alpha", 10, 46.0, 7.0 + 0.0258, 200.0))
            .is_empty());
        // Inside 5 NM: the alert becomes a loss of separation.
        let ev = e.update(upd("A", "alpha", 80, 46.0, 7.22, 200.0));
        let ev2 = e.update(upd("B", "bravo", 80, 46.0, 7.28, -200.0));
        let kinds: Vec<_> = ev.iter().chain(&ev2).collect();
        assert!(
            kinds.iter().any(
                |x| matches!(x, AlertEvent::Updated(a) if a.kind == AlertKind::LossOfSeparation)
            ),
            "{kinds:?}"
        );
        // B turns away north-east far off: resolved.
        let ev = e.update(upd("B", "bravo", 90, 47.0, 8.5, 0.0));
        assert!(
            matches!(&ev[..], [AlertEvent::Resolved(a)] if a.b == "B"),
            "{ev:?}"
        );
        assert_eq!(e.alerts().count(), 0);
    }

    #[test]
    fn only_neighbours_are_evaluated_and_stale_tracks_expire() {
        let mut e = IncrementalEngine::new(IncrementalParams::default());
        // 200 aircraft spread over the globe, far from each other.
        for k in 0..200 {
            let lat = -60.0 + (k % 20) as f64 * 6.0;
            let lon = -170.0 + (k / 20) as f64 * 34.0;
            e.update(upd(&format!("X{k}"), "p", 0, lat, lon, 100.0));
        }
        assert_eq!(e.tracked(), 200);
        // Far fewer than the 19,900 pairs are ever evaluated.
        assert!(e.evaluations < 1000, "{}", e.evaluations);
        e.update(upd("C", "c", 0, 46.0, 7.0, 0.0));
        let ev = e.update(upd("D", "d", 0, 46.0, 7.01, 0.0));
        assert!(matches!(&ev[..], [AlertEvent::New(a)] if a.kind == AlertKind::LossOfSeparation));
        e.update(upd("C", "c", 100, 46.0, 7.0, 0.0));
        let ev = e.expire(Utc.timestamp_opt(1_700_000_000 + 100, 0).unwrap());
        assert!(
            matches!(&ev[..], [AlertEvent::Resolved(a)] if a.b == "D"),
            "{ev:?}"
        );
        assert_eq!(e.tracked(), 1);
    }
}
