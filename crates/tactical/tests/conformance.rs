//! Conformance monitoring: linked aircraft against their operational
//! intents' volumes, with the non-conformance lifecycle.

use airspace::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};
use chrono::{DateTime, Duration, TimeZone, Utc};
use geographiclib_rs::{DirectGeodesic, Geodesic};
use tactical::conformance::{
    ConformanceEvent, ConformanceMonitor, ConformanceParams, MonitoredIntent, NonConformance,
    Resolved, ResolvedReason,
};
use tactical::feeds::TrackUpdate;
use tactical::geometry::Kinematics;

const INTENT: &str = "6f1b6ad0-5b2e-4c55-9b44-0c6c2b1f2a01";
const OTHER: &str = "0d3c9a5e-7d41-4f0e-8a55-1d9e3c2b4f02";

/// 10:00 UTC on the day of the tests, plus `s` seconds.
fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::seconds(s)
}

/// The point `s` metres from (lat, lng) along azimuth `azi`.
fn go(lat: f64, lng: f64, azi: f64, s: f64) -> (f64, f64) {
    Geodesic::wgs84().direct(lat, lng, azi, s)
}

/// A square of `side` metres with its south-west corner at (lat, lng):
/// edges along the meridians and geodesics east.
fn square(lat: f64, lng: f64, side: f64) -> Footprint {
    let sw = (lat, lng);
    let se = go(lat, lng, 90.0, side);
    let nw = go(lat, lng, 0.0, side);
    let ne = go(nw.0, nw.1, 90.0, side);
    Footprint::Polygon {
        vertices: [sw, se, ne, nw]
            .iter()
            .map(|&(a, b)| LatLng::new(a, b))
            .collect(),
    }
}

/// 1 km square at (46, 7), 0–120 m, from 10:00 to 10:30.
fn volume() -> Volume4D {
    Volume4D {
        footprint: square(46.0, 7.0, 1_000.0),
        altitude: AltitudeRange {
            lower_m: 0.0,
            upper_m: 120.0,
        },
        time: TimeRange::new(t(0), t(1800)),
    }
}

fn intent(volumes: Vec<Volume4D>) -> MonitoredIntent {
    MonitoredIntent {
        id: INTENT.into(),
        owner: "alpha".into(),
        aircraft_ids: vec!["D1".into()],
        volumes: volumes.into(),
        allow_nonconforming: true,
    }
}

fn report(id: &str, party: Option<&str>, s: i64, (lat, lng): (f64, f64), alt: f64) -> TrackUpdate {
    TrackUpdate {
        aircraft_id: id.into(),
        party: party.map(String::from),
        callsign: None,
        time: t(s),
        state: Kinematics {
            lat_deg: lat,
            lon_deg: lng,
            alt_m: alt,
            east_mps: 10.0,
            north_mps: 0.0,
            vs_mps: 0.0,
        },
    }
}

/// D1, reported by its owner.
fn d1(s: i64, at: (f64, f64), alt: f64) -> TrackUpdate {
    report("D1", Some("alpha"), s, at, alt)
}

/// Middle of the square, and `out` metres east of its eastern edge (at
/// half height).
fn centre() -> (f64, f64) {
    let w = go(46.0, 7.0, 0.0, 500.0);
    go(w.0, w.1, 90.0, 500.0)
}
fn east_of_edge(out: f64) -> (f64, f64) {
    let w = go(46.0, 7.0, 0.0, 500.0);
    go(w.0, w.1, 90.0, 1_000.0 + out)
}

fn monitor() -> ConformanceMonitor {
    let mut m = ConformanceMonitor::new(ConformanceParams::default());
    assert!(m.link(intent(vec![volume()])).is_empty());
    m
}

#[track_caller]
fn raised(ev: &[ConformanceEvent]) -> &NonConformance {
    match ev {
        [ConformanceEvent::NonConforming(nc)] => nc,
        _ => panic!("expected one NonConforming, got {ev:?}"),
    }
}

#[track_caller]
fn resolved(ev: &[ConformanceEvent]) -> &Resolved {
    match ev {
        [ConformanceEvent::Resolved(r)] => r,
        _ => panic!("expected one Resolved, got {ev:?}"),
    }
}

#[test]
fn lifecycle_inside_leave_stay_out_return() {
    let mut m = monitor();
    assert!(m.observe(&d1(60, centre(), 60.0), None).is_empty());
    assert_eq!(m.open().count(), 0);

    // 80 m beyond the eastern edge (30 m buffer): one alert.
    let ev = m.observe(&d1(70, east_of_edge(80.0), 60.0), None);
    let nc = raised(&ev);
    assert_eq!(
        (
            nc.aircraft_id.as_str(),
            nc.intent_id.as_str(),
            nc.owner.as_str()
        ),
        ("D1", INTENT, "alpha")
    );
    assert_eq!((nc.since, nc.time), (t(70), t(70)));
    assert!((nc.distance_outside_m - 80.0).abs() < 0.5, "{nc:?}");
    assert_eq!((nc.vertical_outside_m, nc.time_outside_s), (0.0, 0.0));
    assert_eq!(nc.volume, 0);
    assert!(nc.mark_intent_nonconforming);

    // Further out: no repeat, but the open record follows it.
    assert!(m
        .observe(&d1(80, east_of_edge(200.0), 60.0), None)
        .is_empty());
    let open: Vec<_> = m.open().collect();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].since, open[0].time), (t(70), t(80)));
    assert!((open[0].distance_outside_m - 200.0).abs() < 0.5);

    // Back inside the buffer (not yet inside the square): resolved.
    let ev = m.observe(&d1(90, east_of_edge(20.0), 60.0), None);
    let r = resolved(&ev);
    assert_eq!(r.reason, ResolvedReason::Conforming);
    assert_eq!(r.time, t(90));
    assert_eq!(r.nonconformance.time, t(80), "as it last stood");
    assert_eq!(m.open().count(), 0);
    assert!(m.observe(&d1(100, centre(), 60.0), None).is_empty());
}

#[test]
fn buffers_are_tolerances_at_their_edges() {
    let mut m = monitor();
    let p = ConformanceParams::default();
    // Horizontal: just inside and just beyond 30 m.
    assert!(m
        .observe(
            &d1(10, east_of_edge(p.buffer_horizontal_m - 0.5), 60.0),
            None
        )
        .is_empty());
    raised(&m.observe(
        &d1(11, east_of_edge(p.buffer_horizontal_m + 0.5), 60.0),
        None,
    ));
    resolved(&m.observe(&d1(12, centre(), 60.0), None));
    // Vertical: 0–120 m with a 15 m buffer, above and below.
    assert!(m.observe(&d1(20, centre(), 134.0), None).is_empty());
    assert!(m.observe(&d1(21, centre(), -14.0), None).is_empty());
    let ev = m.observe(&d1(22, centre(), 140.0), None);
    let nc = raised(&ev);
    assert_eq!(nc.distance_outside_m, 0.0);
    assert!((nc.vertical_outside_m - 20.0).abs() < 1e-9);
    resolved(&m.observe(&d1(23, centre(), 100.0), None));
    raised(&m.observe(&d1(24, centre(), -16.0), None));
    resolved(&m.observe(&d1(25, centre(), 0.0), None));
    // Time: the volume ends at 10:30, 5 s buffer.
    assert!(m.observe(&d1(1805, centre(), 60.0), None).is_empty());
    let ev = m.observe(&d1(1810, centre(), 60.0), None);
    assert!((raised(&ev).time_outside_s - 10.0).abs() < 1e-9);
}

#[test]
fn flying_before_the_start_is_nonconforming() {
    let mut m = monitor();
    assert!(m.observe(&d1(-3, centre(), 60.0), None).is_empty());
    let ev = m.observe(&d1(-2, centre(), 60.0), None);
    assert!(ev.is_empty(), "within the time buffer");
    let mut m = monitor();
    let ev = m.observe(&d1(-60, centre(), 60.0), None);
    let nc = raised(&ev);
    assert_eq!(nc.time_outside_s, 60.0);
    assert_eq!(nc.distance_outside_m, 0.0);
    // The start arrives: conforming without moving.
    let r = resolved(&m.observe(&d1(0, centre(), 60.0), None)).clone();
    assert_eq!(r.reason, ResolvedReason::Conforming);
}

#[test]
fn moving_from_one_volume_to_the_next_stays_conforming() {
    // Two 1 km squares side by side: the western one until 10:15, the
    // eastern one from 10:14 (the overlap is the hand-over), and a third
    // one 5 km further east later on.
    let west = Volume4D {
        time: TimeRange::new(t(0), t(900)),
        ..volume()
    };
    let (la, lo) = go(46.0, 7.0, 90.0, 1_000.0);
    let east = Volume4D {
        footprint: square(la, lo, 1_000.0),
        time: TimeRange::new(t(840), t(1800)),
        ..volume()
    };
    let (fa, fo) = go(46.0, 7.0, 90.0, 7_000.0);
    let far = Volume4D {
        footprint: square(fa, fo, 1_000.0),
        time: TimeRange::new(t(1800), t(2400)),
        ..volume()
    };
    let mut m = ConformanceMonitor::new(ConformanceParams::default());
    m.link(intent(vec![west, east, far]));
    let mid_row = go(46.0, 7.0, 0.0, 500.0);
    for k in 0..=20 {
        // From the western centre to the eastern centre, 10:04 to 10:24,
        // crossing the shared edge at 10:14, once the eastern one is active.
        let s = 240 + 60 * k;
        let at = go(mid_row.0, mid_row.1, 90.0, 500.0 + 50.0 * k as f64);
        assert!(m.observe(&d1(s, at, 60.0), None).is_empty(), "{k}");
    }
    // In the gap between the eastern and the far volume: no volume covers
    // it, whatever the times (the intent is not its bounding box).
    let gap = go(mid_row.0, mid_row.1, 90.0, 4_000.0);
    let ev = m.observe(&d1(1790, gap, 60.0), None);
    let nc = raised(&ev);
    assert_eq!(
        nc.volume, 1,
        "the volume active now, not the nearer far one"
    );
    assert!((nc.distance_outside_m - 2_000.0).abs() < 1.0, "{nc:?}");
    let far_centre = go(mid_row.0, mid_row.1, 90.0, 7_500.0);
    resolved(&m.observe(&d1(1900, far_centre, 60.0), None));
}

#[test]
fn relinking_rejudges_the_last_report() {
    let mut m = monitor();
    assert!(m.observe(&d1(60, centre(), 60.0), None).is_empty());
    // The owner moves its intent 5 km north: the aircraft is outside it.
    let moved = Volume4D {
        footprint: square(46.05, 7.0, 1_000.0),
        ..volume()
    };
    let ev = m.link(intent(vec![moved.clone()]));
    let nc = raised(&ev);
    assert_eq!(nc.time, t(60));
    assert!(nc.distance_outside_m > 4_000.0);
    // A new version that no longer allows marking: the record follows,
    // silently.
    let ev = m.link(MonitoredIntent {
        allow_nonconforming: false,
        ..intent(vec![moved])
    });
    assert!(ev.is_empty());
    assert!(!m.open().next().unwrap().mark_intent_nonconforming);
    // And back over the aircraft: resolved at once.
    let r = resolved(&m.link(intent(vec![volume()]))).clone();
    assert_eq!((r.reason, r.time), (ResolvedReason::Conforming, t(60)));

    // A version without the aircraft: its open non-conformance ends.
    raised(&m.observe(&d1(70, east_of_edge(100.0), 60.0), None));
    let r = resolved(&m.link(MonitoredIntent {
        aircraft_ids: vec![],
        ..intent(vec![volume()])
    }))
    .clone();
    assert_eq!(r.reason, ResolvedReason::Unlinked);
    assert_eq!(m.monitored(), 0);
    assert!(m
        .observe(&d1(80, east_of_edge(100.0), 60.0), None)
        .is_empty());
}

#[test]
fn unlinking_resolves_and_stops_monitoring() {
    let mut m = monitor();
    raised(&m.observe(&d1(60, east_of_edge(100.0), 60.0), None));
    let r = resolved(&m.unlink(INTENT)).clone();
    assert_eq!((r.reason, r.time), (ResolvedReason::Unlinked, t(60)));
    assert_eq!((m.open().count(), m.monitored(), m.linked()), (0, 0, 0));
    assert!(m
        .observe(&d1(70, east_of_edge(100.0), 60.0), None)
        .is_empty());
    assert!(m.unlink(INTENT).is_empty(), "unknown intent: nothing");
}

#[test]
fn unlinked_traffic_is_ignored_and_not_kept() {
    let mut m = monitor();
    for k in 0..1000 {
        let id = format!("{k:06x}");
        assert!(m
            .observe(&report(&id, None, 60, east_of_edge(5e3), 3e3), None)
            .is_empty());
    }
    assert_eq!(m.monitored(), 0);
    // Another party's aircraft that happens to share the declared id is not
    // judged against alpha's intent; alpha's own, or surveillance, is.
    assert!(m
        .observe(
            &report("D1", Some("bravo"), 60, east_of_edge(5e3), 60.0),
            None
        )
        .is_empty());
    assert_eq!(m.monitored(), 0, "and leaves no trace");
    raised(&m.observe(&report("D1", None, 61, east_of_edge(5e3), 60.0), None));
}

#[test]
fn telemetry_names_the_intent() {
    let mut m = ConformanceMonitor::new(ConformanceParams::default());
    m.link(MonitoredIntent {
        aircraft_ids: vec![],
        ..intent(vec![volume()])
    });
    let out = east_of_edge(100.0);
    // Not declared, no hint: not monitored.
    assert!(m.observe(&d1(60, out, 60.0), None).is_empty());
    // A hint from another party, or to an intent the monitor does not
    // know, links nothing.
    let bravo = report("D1", Some("bravo"), 61, out, 60.0);
    assert!(m.observe(&bravo, Some(INTENT)).is_empty());
    assert!(m.observe(&d1(62, out, 60.0), Some(OTHER)).is_empty());
    assert_eq!(m.monitored(), 0);
    // The owner's telemetry names it: judged, and the link holds for
    // later reports that do not repeat it.
    let ev = m.observe(&d1(63, out, 60.0), Some(INTENT));
    assert_eq!(raised(&ev).intent_id, INTENT);
    resolved(&m.observe(&d1(64, centre(), 60.0), None));
    raised(&m.observe(&d1(65, out, 60.0), None));
    // Forgetting the track ends the telemetry link too.
    let r = resolved(&m.forget("D1")).clone();
    assert_eq!((r.reason, r.time), (ResolvedReason::TrackLost, t(65)));
    assert!(m.observe(&d1(66, out, 60.0), None).is_empty());
}

#[test]
fn telemetry_overrides_declarations() {
    // D1 is declared in INTENT (over (46, 7)); its telemetry says it flies
    // OTHER, 5 km north.
    let mut m = monitor();
    let other = MonitoredIntent {
        id: OTHER.into(),
        aircraft_ids: vec![],
        volumes: vec![Volume4D {
            footprint: square(46.05, 7.0, 1_000.0),
            ..volume()
        }]
        .into(),
        ..intent(vec![])
    };
    m.link(other);
    raised(&m.observe(&d1(60, centre(), 60.0), Some(OTHER)));
    assert_eq!(m.open().next().unwrap().intent_id, OTHER);
    // Unlinking OTHER ends the telemetry link; the declaration remains.
    resolved(&m.unlink(OTHER));
    assert!(m.observe(&d1(70, centre(), 60.0), None).is_empty());
}

#[test]
fn sequential_intents_of_one_aircraft() {
    // The same drone flies 10:00–10:30 and 11:00–11:30 over the same field.
    let mut m = monitor();
    let later = MonitoredIntent {
        id: OTHER.into(),
        volumes: vec![Volume4D {
            time: TimeRange::new(t(3600), t(5400)),
            ..volume()
        }]
        .into(),
        ..intent(vec![])
    };
    m.link(later);
    assert!(m.observe(&d1(600, centre(), 60.0), None).is_empty());
    assert!(m.observe(&d1(4000, centre(), 60.0), None).is_empty());
    // Flying at 10:40: late for the first, which it stays with.
    let mut m = monitor();
    m.link(MonitoredIntent {
        id: OTHER.into(),
        volumes: vec![Volume4D {
            time: TimeRange::new(t(3600), t(5400)),
            ..volume()
        }]
        .into(),
        ..intent(vec![])
    });
    let ev = m.observe(&d1(2400, centre(), 60.0), None);
    assert_eq!(raised(&ev).intent_id, INTENT);
    assert!(m.observe(&d1(3000, centre(), 60.0), None).is_empty());
    // 11:00: it conforms to the second one.
    let ev = m.observe(&d1(3600, centre(), 60.0), None);
    let r = resolved(&ev);
    assert_eq!(
        (r.reason, r.nonconformance.intent_id.as_str()),
        (ResolvedReason::OtherIntent, INTENT)
    );
}

#[test]
fn debouncing_needs_consecutive_reports_and_duration() {
    let params = ConformanceParams {
        min_reports: 3,
        min_duration_s: 2.0,
        ..ConformanceParams::default()
    };
    let mut m = ConformanceMonitor::new(params);
    m.link(intent(vec![volume()]));
    let out = east_of_edge(100.0);
    // Two outliers, then back: nothing.
    assert!(m.observe(&d1(10, out, 60.0), None).is_empty());
    assert!(m.observe(&d1(11, out, 60.0), None).is_empty());
    assert!(m.observe(&d1(12, centre(), 60.0), None).is_empty());
    // Three in a row over 2 s: raised, since the first.
    assert!(m.observe(&d1(20, out, 60.0), None).is_empty());
    assert!(m.observe(&d1(21, out, 60.0), None).is_empty());
    let ev = m.observe(&d1(22, out, 60.0), None);
    assert_eq!((raised(&ev).since, raised(&ev).time), (t(20), t(22)));
    // Three reports within one second are not enough.
    resolved(&m.observe(&d1(30, centre(), 60.0), None));
    let mut u = d1(40, out, 60.0);
    for ms in [0, 300, 600] {
        u.time = t(40) + Duration::milliseconds(ms);
        assert!(m.observe(&u, None).is_empty());
    }
    u.time = t(42);
    raised(&m.observe(&u, None));
}

#[test]
fn silent_tracks_expire_as_lost() {
    let mut m = monitor();
    raised(&m.observe(&d1(60, east_of_edge(100.0), 60.0), None));
    assert!(m.expire(t(120)).is_empty(), "60 s is not yet too long");
    let r = resolved(&m.expire(t(121))).clone();
    assert_eq!((r.reason, r.time), (ResolvedReason::TrackLost, t(121)));
    assert_eq!(m.monitored(), 0);
    // A conforming aircraft expires silently; the next report starts afresh.
    assert!(m.observe(&d1(200, centre(), 60.0), None).is_empty());
    assert!(m.expire(t(400)).is_empty());
    assert_eq!(m.monitored(), 0);
    raised(&m.observe(&d1(410, east_of_edge(100.0), 60.0), None));
}

#[test]
fn stale_and_unusable_reports_are_ignored() {
    let mut m = monitor();
    raised(&m.observe(&d1(60, east_of_edge(100.0), 60.0), None));
    assert!(m.observe(&d1(50, centre(), 60.0), None).is_empty(), "older");
    assert!(m.observe(&d1(61, centre(), f64::NAN), None).is_empty());
    assert_eq!(m.open().count(), 1);
}

#[test]
fn circles_and_open_ended_volumes() {
    let mut m = ConformanceMonitor::new(ConformanceParams::default());
    m.link(intent(vec![Volume4D {
        footprint: Footprint::Circle {
            center: LatLng::new(46.0, 7.0),
            radius_m: 200.0,
        },
        altitude: AltitudeRange {
            lower_m: f64::NEG_INFINITY,
            upper_m: 120.0,
        },
        time: TimeRange {
            start: Some(t(0)),
            end: None,
        },
    }]));
    assert!(m
        .observe(&d1(86_400, go(46.0, 7.0, 45.0, 229.0), -50.0), None)
        .is_empty());
    let ev = m.observe(&d1(86_401, go(46.0, 7.0, 45.0, 250.0), -50.0), None);
    assert!((raised(&ev).distance_outside_m - 50.0).abs() < 1e-6);
}
