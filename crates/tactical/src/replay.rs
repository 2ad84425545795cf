//! Losses of separation in recorded traffic, replayed in time order.
//!
//! At every distinct report time the replayer updates the tracks that
//! reported, drops tracks whose last report is older than the timeout,
//! places the others at that time (extrapolated along their last ground
//! velocity for at most `max_extrapolation_s`, then held), and runs a
//! detection cycle (default model, lookahead 0) to find the pairs in loss of
//! separation now. Per pair of flights it keeps one record: first and last
//! time in loss, the closest horizontal distance and the vertical distance
//! then, and the time spent in loss (the sum of the intervals between
//! consecutive evaluation times at both of which the pair was in loss).
//!
//! Pure: reports in, records out; reading files and the clock are the
//! caller's.

use std::collections::HashMap;

use crate::engine::{detect, DetectParams, MinimaRules, Mode};
use crate::geometry::Kinematics;
use crate::recording::{Flight, Report};
use crate::units::{Minima, FPM, FT, KT};

/// Parameters of a replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayParams {
    pub minima: Minima,
    /// ADS-B altitudes are quantised to 25 ft, so two aircraft on adjacent
    /// flight levels, truly 1,000 ft apart, often report 975 ft. A pair is
    /// vertically in loss only when `|Δalt| < vertical minimum − tolerance`.
    /// Default 25 ft (one quantisation step): a reported 975 ft is
    /// indistinguishable from 1,000 ft and is not a loss; 950 ft is.
    pub vertical_tolerance_m: f64,
    /// Positions are extrapolated along the last ground velocity for at
    /// most this long after a report, then held. Default 30 s.
    pub max_extrapolation_s: f64,
    /// A track with no report for longer than this is dropped. Default 30 s
    /// (three missed reports at the 10 s rate of resampled recordings), so
    /// no stale position is ever held.
    pub track_timeout_s: f64,
}

impl Default for ReplayParams {
    fn default() -> Self {
        ReplayParams {
            minima: Minima::EN_ROUTE,
            vertical_tolerance_m: 25.0 * FT,
            max_extrapolation_s: 30.0,
            track_timeout_s: 30.0,
        }
    }
}

/// One pair of flights that lost separation (`a < b` by flight id).
#[derive(Clone, Debug, PartialEq)]
pub struct LossRecord {
    pub a: u32,
    pub b: u32,
    pub first_time_s: i64,
    pub last_time_s: i64,
    pub min_horiz_m: f64,
    /// |Δalt| when the horizontal distance was smallest (m).
    pub vert_at_min_m: f64,
    pub time_at_min_s: i64,
    pub duration_s: i64,
    /// Evaluation times at which the pair was in loss.
    pub samples: u64,
}

/// Position of a report `dt` seconds after it, along its ground velocity
/// on the ellipsoid's local radii (exact enough over a few kilometres).
pub fn extrapolate(r: &Report, dt: f64) -> (f64, f64, f64) {
    const A: f64 = 6_378_137.0;
    const E2: f64 = 6.694_379_990_14e-3;
    let track = r.track_deg.to_radians();
    let gs = r.gs_kt * KT;
    let (sp, cp) = r.lat_deg.to_radians().sin_cos();
    let w = 1.0 - E2 * sp * sp;
    let m = A * (1.0 - E2) / w.powf(1.5);
    let n = A / w.sqrt();
    let lat = r.lat_deg + (gs * track.cos() * dt / m).to_degrees();
    let lon = if cp > 1e-9 {
        r.lon_deg + (gs * track.sin() * dt / (n * cp)).to_degrees()
    } else {
        r.lon_deg
    };
    let alt = r.alt_ft * FT + r.vrate_fpm.unwrap_or(0.0) * FPM * dt;
    (lat.clamp(-90.0, 90.0), lon, alt)
}

/// The replay state between two report times.
pub struct Replayer<'a> {
    flights: &'a [Flight],
    params: ReplayParams,
    last: HashMap<u32, Report>,
    /// Pairs in loss at the previous evaluation time, and that time.
    previous: (i64, Vec<(u32, u32)>),
    records: HashMap<(u32, u32), LossRecord>,
    pub evaluations: u64,
}

impl<'a> Replayer<'a> {
    pub fn new(flights: &'a [Flight], params: ReplayParams) -> Self {
        Replayer {
            flights,
            params,
            last: HashMap::new(),
            previous: (i64::MIN, Vec::new()),
            records: HashMap::new(),
            evaluations: 0,
        }
    }

    /// Applies every report of time `t` (all with `time_s == t`, after any
    /// earlier time) and evaluates separation at `t`.
    pub fn step(&mut self, t: i64, reports: &[Report]) {
        for r in reports {
            self.last.insert(r.flight, *r);
        }
        let p = self.params;
        self.last
            .retain(|_, r| (t - r.time_s) as f64 <= p.track_timeout_s);
        let mut live: Vec<(u32, Kinematics)> = self
            .last
            .values()
            .map(|r| {
                let dt = ((t - r.time_s) as f64).min(p.max_extrapolation_s);
                let (lat, lon, alt) = extrapolate(r, dt);
                let gs = r.gs_kt * KT;
                let trk = r.track_deg.to_radians();
                (
                    r.flight,
                    Kinematics::from_track(
                        lat,
                        lon,
                        alt,
                        gs,
                        trk,
                        r.vrate_fpm.unwrap_or(0.0) * FPM,
                    ),
                )
            })
            .collect();
        live.sort_by_key(|(f, _)| *f);
        let states: Vec<Kinematics> = live.iter().map(|(_, k)| *k).collect();
        let minima = Minima {
            horizontal_m: p.minima.horizontal_m,
            vertical_m: (p.minima.vertical_m - p.vertical_tolerance_m).max(0.0),
        };
        let detect_params = DetectParams::new(Mode::Default, 0.0, MinimaRules::uniform(minima));
        let mut now: Vec<(u32, u32)> = Vec::new();
        for pr in detect(&states, &detect_params) {
            let g = pr.geometry;
            if !g.los {
                continue;
            }
            let (fa, fb) = (live[pr.i as usize].0, live[pr.j as usize].0);
            let (a, b) = if self.flights[fa as usize].id < self.flights[fb as usize].id {
                (fa, fb)
            } else {
                (fb, fa)
            };
            // One airframe whose flight was split (new callsign) is not a pair.
            if self.flights[a as usize].icao24 == self.flights[b as usize].icao24 {
                continue;
            }
            now.push((a, b));
            let rec = self.records.entry((a, b)).or_insert(LossRecord {
                a,
                b,
                first_time_s: t,
                last_time_s: t,
                min_horiz_m: f64::INFINITY,
                vert_at_min_m: 0.0,
                time_at_min_s: t,
                duration_s: 0,
                samples: 0,
            });
            if self.previous.1.binary_search(&(a, b)).is_ok() {
                rec.duration_s += t - self.previous.0;
            }
            rec.last_time_s = t;
            rec.samples += 1;
            if g.dist_m < rec.min_horiz_m {
                rec.min_horiz_m = g.dist_m;
                rec.vert_at_min_m = g.dalt_m.abs();
                rec.time_at_min_s = t;
            }
        }
        now.sort_unstable();
        self.previous = (t, now);
        self.evaluations += 1;
    }

    /// Records sorted by (flight id a, flight id b).
    pub fn finish(self) -> Vec<LossRecord> {
        let flights = self.flights;
        let mut out: Vec<LossRecord> = self.records.into_values().collect();
        out.sort_by(|x, y| {
            (&flights[x.a as usize].id, &flights[x.b as usize].id)
                .cmp(&(&flights[y.a as usize].id, &flights[y.b as usize].id))
        });
        out
    }
}

/// Replays reports (sorted by time) in one go.
pub fn replay(flights: &[Flight], reports: &[Report], params: ReplayParams) -> Vec<LossRecord> {
    let mut r = Replayer::new(flights, params);
    for chunk in reports.chunk_by(|x, y| x.time_s == y.time_s) {
        r.step(chunk[0].time_s, chunk);
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        t: i64,
        flight: u32,
        lat: f64,
        lon: f64,
        alt_ft: f64,
        gs_kt: f64,
        track: f64,
    ) -> Report {
        Report {
            time_s: t,
            flight,
            lat_deg: lat,
            lon_deg: lon,
            alt_ft,
            gs_kt,
            track_deg: track,
            vrate_fpm: Some(0.0),
        }
    }

    fn flights() -> Vec<Flight> {
        ["B", "A", "C"]
            .iter()
            .enumerate()
            .map(|(k, id)| Flight {
                id: id.to_string(),
                icao24: format!("x{k}"),
            })
            .collect()
    }

    #[test]
    fn loss_is_recorded_once_per_pair_with_duration() {
        let fl = flights();
        let mut reps = Vec::new();
        // Two aircraft 0.02 deg apart (2.2 km), same level, for 60 s, then
        // one climbs away; a third far away.
        for t in (0..=120).step_by(10) {
            let alt_b = if t <= 60 { 35000.0 } else { 37000.0 };
            reps.push(report(t, 0, 46.0, 7.0, 35000.0, 0.0, 0.0));
            reps.push(report(t, 1, 46.02, 7.0, alt_b, 0.0, 0.0));
            reps.push(report(t, 2, 47.0, 9.0, 35000.0, 0.0, 0.0));
        }
        reps.sort_by_key(|r| r.time_s);
        let out = replay(&fl, &reps, ReplayParams::default());
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(
            (fl[r.a as usize].id.as_str(), fl[r.b as usize].id.as_str()),
            ("A", "B")
        );
        assert_eq!(
            (r.first_time_s, r.last_time_s, r.duration_s, r.samples),
            (0, 60, 60, 7)
        );
        assert!((r.min_horiz_m - 0.02f64.to_radians() * 6_367_000.0).abs() < 20.0);
    }

    #[test]
    fn vertical_tolerance_treats_975_ft_as_separated() {
        let fl = flights();
        let reps = vec![
            report(0, 0, 46.0, 7.0, 35000.0, 0.0, 0.0),
            report(0, 1, 46.0, 7.0, 35975.0, 0.0, 0.0),
        ];
        assert!(replay(&fl, &reps, ReplayParams::default()).is_empty());
        let strict = ReplayParams {
            vertical_tolerance_m: 0.0,
            ..ReplayParams::default()
        };
        assert_eq!(replay(&fl, &reps, strict).len(), 1);
    }

    #[test]
    fn stale_tracks_time_out_and_are_not_extrapolated_past_the_age() {
        let fl = flights();
        // Flight 0 reports once at t=0 flying east at 360 kt (185 m/s);
        // flight 1 waits 14 km east of it. Extrapolated 30 s, 0 is 8.4 km
        // from 1 (inside 5 NM) from t=30 on; capped at 10 s it stops 12.1 km
        // away; timed out after 20 s it is gone while still 10.3 km away.
        let lon_step = 14_000.0 / (6_389_000.0 * 46f64.to_radians().cos());
        let mut reps = vec![report(0, 0, 46.0, 7.0, 35000.0, 360.0, 90.0)];
        for t in (0..=50).step_by(10) {
            reps.push(report(
                t,
                1,
                46.0,
                7.0 + lon_step.to_degrees(),
                35000.0,
                0.0,
                0.0,
            ));
        }
        reps.sort_by_key(|r| r.time_s);
        let capped = ReplayParams {
            max_extrapolation_s: 10.0,
            track_timeout_s: 100.0,
            ..ReplayParams::default()
        };
        assert!(replay(&fl, &reps, capped).is_empty());
        let long = ReplayParams {
            max_extrapolation_s: 30.0,
            track_timeout_s: 100.0,
            ..ReplayParams::default()
        };
        let out = replay(&fl, &reps, long);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].first_time_s, 30);
        // Timed out after 20 s: gone before it gets close.
        let short = ReplayParams {
            track_timeout_s: 20.0,
            ..ReplayParams::default()
        };
        assert!(replay(&fl, &reps, short).is_empty());
    }
}
