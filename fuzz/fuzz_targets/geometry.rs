//! Geometry: footprints with arbitrary coordinates (finite or not, near each
//! other or across the globe, degenerate or self-intersecting) through
//! validation, exact intersection and containment, the display overlap and
//! the spatio-temporal index. Nothing may panic, and:
//!
//! - `intersects` is symmetric, for any input (the service compares in both
//!   directions depending on who writes first);
//! - a valid footprint meets and contains itself, and its area is within the
//!   limit;
//! - containment implies intersection;
//! - a valid volume has a valid footprint and an ordered altitude band;
//! - the index answers exactly what the direct test answers.
#![no_main]

use airspace::validate::{validate_footprint, validate_volume};
use airspace::{AltitudeRange, Footprint, Index, LatLng, Limits, TimeRange, Volume4D};
use arbitrary::Arbitrary;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

/// A coordinate: mostly a small offset from a shared anchor (so that shapes
/// meet often), sometimes any f64 at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Coord {
    /// Offset from the anchor in units of 1e-5° (about a metre): ±0.33°.
    Near(i16),
    /// Offset in units of 1e-3°: ±33°, for shapes across large areas.
    Far(i16),
    Raw(f64),
}

#[derive(Arbitrary, Debug, Clone)]
enum Shape {
    Circle {
        lat: Coord,
        lng: Coord,
        /// Radius in metres: small values or anything.
        radius: Radius,
    },
    Polygon(Vec<(Coord, Coord)>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Radius {
    Metres(u16),
    Raw(f64),
}

#[derive(Arbitrary, Debug)]
struct Input {
    anchor_lat: i16,
    anchor_lng: i16,
    a: Shape,
    b: Shape,
    alt_a: (i16, i16),
    alt_b: (i16, i16),
    time_a: (u16, u16),
    time_b: (u16, u16),
}

fn coord(anchor: f64, c: Coord) -> f64 {
    match c {
        Coord::Near(d) => anchor + d as f64 * 1e-5,
        Coord::Far(d) => anchor + d as f64 * 1e-3,
        Coord::Raw(x) => x,
    }
}

fn footprint(s: &Shape, lat0: f64, lng0: f64) -> Footprint {
    match s {
        Shape::Circle { lat, lng, radius } => Footprint::Circle {
            center: LatLng::new(coord(lat0, *lat), coord(lng0, *lng)),
            radius_m: match radius {
                Radius::Metres(m) => *m as f64,
                Radius::Raw(x) => *x,
            },
        },
        Shape::Polygon(v) => Footprint::Polygon {
            vertices: v
                .iter()
                .take(64)
                .map(|(a, b)| LatLng::new(coord(lat0, *a), coord(lng0, *b)))
                .collect(),
        },
    }
}

fn volume(f: Footprint, alt: (i16, i16), time: (u16, u16)) -> Volume4D {
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let minute = |m: u16| t0 + chrono::Duration::minutes(m as i64 % 2880);
    Volume4D {
        footprint: f,
        altitude: AltitudeRange {
            lower_m: alt.0 as f64,
            upper_m: alt.1 as f64,
        },
        time: TimeRange::new(minute(time.0), minute(time.1)),
    }
}

fuzz_target!(|input: Input| {
    // Anchors anywhere on the globe, poles and antimeridian included.
    let lat0 = (input.anchor_lat as f64 / i16::MAX as f64) * 90.0;
    let lng0 = (input.anchor_lng as f64 / i16::MAX as f64) * 180.0;
    let a = footprint(&input.a, lat0, lng0);
    let b = footprint(&input.b, lat0, lng0);
    let limits = Limits::default();
    let va = validate_footprint(&a, &limits);
    let vb = validate_footprint(&b, &limits);

    let ab = a.intersects(&b);
    assert_eq!(ab, b.intersects(&a), "intersects is not symmetric");
    let a_contains_b = a.contains(&b);
    let area = a.area_m2();
    assert!(area >= 0.0 || area.is_nan(), "negative area {area}");
    if va.is_ok() {
        assert!(area <= limits.max_area_m2, "valid but area {area} m²");
        assert!(a.intersects(&a), "valid footprint does not meet itself");
        assert!(a.contains(&a), "valid footprint does not contain itself");
    }
    if va.is_ok() && vb.is_ok() {
        if a_contains_b {
            assert!(ab, "contains but does not intersect");
        }
        // What the hotline shows for a strategic conflict: must not panic.
        let parts = airspace::overlap::intersection(&a, &b);
        for ring in &parts {
            for p in ring {
                assert!(
                    p.lat.is_finite() && p.lng.is_finite(),
                    "overlap vertex {p:?}"
                );
            }
        }
        let _ = a.distance_outside_m(LatLng::new(lat0, lng0));
    }

    let v_a = volume(a, input.alt_a, input.time_a);
    let v_b = volume(b, input.alt_b, input.time_b);
    let vva = validate_volume(&v_a, &limits);
    let vvb = validate_volume(&v_b, &limits);
    if vva.is_ok() {
        assert!(va.is_ok(), "valid volume, invalid footprint");
        assert!(v_a.altitude.lower_m <= v_a.altitude.upper_m);
    }
    let direct = v_a.intersects(&v_b);
    assert_eq!(
        direct,
        v_b.intersects(&v_a),
        "Volume4D::intersects not symmetric"
    );
    if vva.is_ok() && vvb.is_ok() {
        let mut index: Index<u32> = Index::new();
        index.insert(1, vec![v_b.clone()]);
        let found = index.query(&v_a).contains(&1);
        assert_eq!(found, direct, "index and direct test disagree");
        index.insert(2, vec![v_a.clone()]);
        assert!(
            index.query(&v_a).contains(&2),
            "index misses a volume's own query"
        );
        assert!(index.remove(1));
        assert!(
            !index.query(&v_a).contains(&1),
            "index returns a removed volume"
        );
    }
});
