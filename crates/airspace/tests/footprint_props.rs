//! Property tests of the horizontal and 4-D predicates against a
//! brute-force oracle that samples points and decides membership with
//! geographiclib alone.
mod common;

use airspace::{
    validate_footprint, validate_volume, AltitudeRange, Footprint, LatLng, Limits, TimeRange,
    Volume4D,
};
use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;

/// Anywhere, near the antimeridian, or near a pole.
fn centre() -> impl Strategy<Value = LatLng> {
    prop_oneof![
        (-89.0..89.0f64, -180.0..180.0f64).prop_map(|(a, b)| ll(a, b)),
        (
            -89.0..89.0f64,
            prop_oneof![179.7..=180.0f64, -180.0..-179.7f64]
        )
            .prop_map(|(a, b)| ll(a, b)),
        (
            prop_oneof![89.8..=90.0f64, -90.0..=-89.8f64],
            -180.0..180.0f64
        )
            .prop_map(|(a, b)| ll(a, b)),
    ]
}

#[derive(Debug, Clone)]
enum Spec {
    Circle(f64),
    Star {
        az0: f64,
        radii: Vec<f64>,
        jitter: Vec<f64>,
    },
}

fn spec(min_r: f64, max_r: f64) -> impl Strategy<Value = Spec> {
    prop_oneof![
        (min_r..max_r).prop_map(Spec::Circle),
        (3usize..9)
            .prop_flat_map(move |n| (
                0.0..360.0f64,
                prop::collection::vec(min_r..max_r, n),
                prop::collection::vec(-1.0..1.0f64, n),
            ))
            .prop_map(|(az0, radii, jitter)| Spec::Star { az0, radii, jitter }),
    ]
}

fn build(c: LatLng, s: &Spec) -> Footprint {
    match s {
        Spec::Circle(r) => circle(c.lat, c.lng, *r),
        Spec::Star { az0, radii, jitter } => star(c, *az0, radii, jitter),
    }
}

/// Every point of the shape is within this distance of its centre.
fn reach(s: &Spec) -> f64 {
    match s {
        Spec::Circle(r) => *r,
        Spec::Star { radii, .. } => radii.iter().copied().fold(0.0, f64::max),
    }
}

#[derive(Debug, Clone)]
struct Pair {
    a: Footprint,
    b: Footprint,
    ca: LatLng,
    cb: LatLng,
    reach_a: f64,
    reach_b: f64,
}

/// Two shapes 100 m – 6 km in size whose centres are up to 15 km apart: a
/// good share of them meet, many nearly.
fn pair() -> impl Strategy<Value = Pair> {
    (
        centre(),
        spec(100.0, 6_000.0),
        0.0..360.0f64,
        0.0..15_000.0f64,
        spec(100.0, 6_000.0),
    )
        .prop_map(|(ca, sa, az, d, sb)| {
            let cb = go(ca, az, d);
            Pair {
                a: build(ca, &sa),
                b: build(cb, &sb),
                ca,
                cb,
                reach_a: reach(&sa),
                reach_b: reach(&sb),
            }
        })
}

const SPACING: f64 = 40.0;

fn all_samples(f: &Footprint, c: LatLng) -> Vec<LatLng> {
    let mut s = boundary_samples(f, SPACING);
    s.extend(interior_samples(f, c));
    s.extend(anchor_points(f));
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn intersects_is_symmetric_and_reflexive(p in pair()) {
        prop_assert_eq!(p.a.intersects(&p.b), p.b.intersects(&p.a));
        prop_assert!(p.a.intersects(&p.a));
        prop_assert!(p.a.contains(&p.a));
        prop_assert!(p.b.contains(&p.b));
    }

    #[test]
    fn far_apart_shapes_do_not_meet(p in pair()) {
        if dist(p.ca, p.cb) > p.reach_a + p.reach_b + 1.0 {
            prop_assert!(!p.a.intersects(&p.b));
            prop_assert!(!p.a.contains(&p.b));
        }
    }

    #[test]
    fn contains_implies_intersects(p in pair()) {
        if p.a.contains(&p.b) {
            prop_assert!(p.a.intersects(&p.b));
        }
        if p.b.contains(&p.a) {
            prop_assert!(p.a.intersects(&p.b));
        }
    }

    #[test]
    fn volumes_apart_in_time_or_altitude_do_not_meet(
        p in pair(),
        t0 in 1_600_000_000i64..1_900_000_000,
        len in 1i64..86_400,
        gap_ns in 1i64..10_000_000_000,
        lo in -500.0..5_000.0f64,
        h in 0.0..1_000.0f64,
        dz in 0.001..100.0f64,
    ) {
        let start = DateTime::<Utc>::from_timestamp(t0, 0).unwrap();
        let end = start + Duration::seconds(len);
        let alt = AltitudeRange { lower_m: lo, upper_m: lo + h };
        let a = Volume4D { footprint: p.a.clone(), altitude: alt, time: TimeRange::new(start, end) };
        // Same footprint (so surely overlapping horizontally) ...
        let same = |altitude, time| Volume4D { footprint: p.a.clone(), altitude, time };
        let later = end + Duration::nanoseconds(gap_ns);
        // ... disjoint in time,
        let b = same(alt, TimeRange::new(later, later + Duration::seconds(len)));
        prop_assert!(!a.intersects(&b) && !b.intersects(&a));
        let before = TimeRange { start: None, end: Some(start - Duration::nanoseconds(gap_ns)) };
        prop_assert!(!same(alt, before).intersects(&a));
        // ... disjoint in altitude,
        let above = AltitudeRange { lower_m: lo + h + dz, upper_m: lo + h + dz + 10.0 };
        prop_assert!(!a.intersects(&same(above, a.time)));
        let below = AltitudeRange { lower_m: f64::NEG_INFINITY, upper_m: lo - dz };
        prop_assert!(!a.intersects(&same(below, a.time)));
        // ... while touching bounds do meet (closed intervals).
        let on_top = AltitudeRange { lower_m: lo + h, upper_m: lo + h + 1.0 };
        prop_assert!(a.intersects(&same(on_top, TimeRange::new(end, later))));
        prop_assert!(a.intersects(&same(AltitudeRange::UNBOUNDED, TimeRange::UNBOUNDED)));
        // And the real pair only meets in 4-D if it meets horizontally.
        let b4 = Volume4D { footprint: p.b.clone(), altitude: alt, time: a.time };
        prop_assert_eq!(a.intersects(&b4), p.a.intersects(&p.b));
    }
}

proptest! {
    // The oracle costs a few thousand geodesic computations per case.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sampled common point means the shapes intersect; and when they
    /// are said to intersect, sampling at 40 m finds either a vertex/centre
    /// of one inside the other or boundary points within 40 m of each other
    /// (an exact crossing has samples of both outlines within half the
    /// spacing of it). So a false "yes" would need a gap under 40 m, and a
    /// false "no" is caught outright.
    #[test]
    fn intersects_agrees_with_point_sampling(p in pair()) {
        let got = p.a.intersects(&p.b);
        let sa = all_samples(&p.a, p.ca);
        let sb = all_samples(&p.b, p.cb);
        let common = sa.iter().any(|&x| oracle_contains(&p.b, x))
            || sb.iter().any(|&x| oracle_contains(&p.a, x));
        if common {
            prop_assert!(got, "sampled a common point, but intersects = false");
        }
        if got && !common {
            let d = min_sample_distance(
                &boundary_samples(&p.a, SPACING),
                &boundary_samples(&p.b, SPACING),
                SPACING * 2.0,
            );
            prop_assert!(d <= SPACING + 0.05, "intersects = true, but outlines are {d} m apart");
        }
    }

    /// Every sampled point of a covered shape is in the cover (or within a
    /// sample spacing of its outline, where the oracle's verdict on a
    /// boundary sample could go either way).
    #[test]
    fn contains_agrees_with_point_sampling(p in pair(), shrink in 0.05..1.0f64) {
        // Move the second shape onto the first's centre and shrink it, so
        // that containment actually happens. (It is star-shaped around its
        // own centre `cb`, so it is rebuilt around `ca` from `cb`: the
        // interior samples are rays from `ca` and must stay inside. Shrinking
        // towards `ca` from `ca` left `ca` outside the shape, and the oracle
        // then took an outside point for an inside one.)
        let inner = match &p.b {
            Footprint::Circle { radius_m, .. } => circle(p.ca.lat, p.ca.lng, radius_m * shrink),
            Footprint::Polygon { vertices } => Footprint::Polygon {
                vertices: vertices.iter().map(|v| {
                    go(p.ca, azimuth(p.cb, *v), dist(p.cb, *v) * shrink)
                }).collect(),
            },
        };
        for (outer, inner, centre) in [(&p.a, &inner, p.ca), (&p.a, &p.b, p.cb)] {
            if outer.contains(inner) {
                let outline = boundary_samples(outer, SPACING);
                for x in all_samples(inner, centre) {
                    if !oracle_contains(outer, x) {
                        let d = min_sample_distance(&[x], &outline, SPACING * 2.0);
                        prop_assert!(d <= SPACING, "contains = true but {x:?} is {d} m outside");
                    }
                }
            }
        }
        // Circle around a polygon: the farthest point is a vertex, so the
        // oracle is exact.
        if let Footprint::Polygon { vertices } = &inner {
            let far = vertices.iter().map(|v| dist(p.ca, *v)).fold(0.0, f64::max);
            for (r, expect) in [(far + 0.05, true), (far - 0.05, false)] {
                prop_assert_eq!(circle(p.ca.lat, p.ca.lng, r).contains(&inner), expect);
            }
        }
    }
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(90.0),
        Just(-180.0),
        Just(180.0),
        Just(0.0),
        -200.0..200.0f64,
    ]
}

fn any_footprint() -> impl Strategy<Value = Footprint> {
    prop_oneof![
        (any_f64(), any_f64(), any_f64()).prop_map(|(lat, lng, r)| circle(lat, lng, r)),
        prop::collection::vec((any_f64(), any_f64()), 0..12).prop_map(|v| poly(&v)),
        // Plausible coordinates, arbitrary shapes: self-intersecting,
        // degenerate, huge.
        prop::collection::vec((-90.0..=90.0f64, -180.0..=180.0f64), 0..12).prop_map(|v| poly(&v)),
        (-90.0..=90.0f64, -180.0..=180.0f64, 0.0..3e7f64).prop_map(|(a, b, r)| circle(a, b, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Garbage in never panics, and never yields an invalid "valid".
    #[test]
    fn arbitrary_numbers_never_panic(
        a in any_footprint(),
        b in any_footprint(),
        lo in any_f64(),
        hi in any_f64(),
    ) {
        let limits = Limits::default();
        let va = validate_footprint(&a, &limits);
        let _ = validate_footprint(&b, &limits);
        let v = Volume4D {
            footprint: a.clone(),
            altitude: AltitudeRange { lower_m: lo, upper_m: hi },
            time: TimeRange::UNBOUNDED,
        };
        let vv = validate_volume(&v, &limits);
        let ab = a.intersects(&b);
        prop_assert_eq!(ab, b.intersects(&a));
        let _ = a.contains(&b);
        let area = a.area_m2();
        prop_assert!(area >= 0.0 || area.is_nan());
        if va.is_ok() {
            prop_assert!(area <= limits.max_area_m2);
            prop_assert!(a.intersects(&a));
            prop_assert!(a.contains(&a));
        }
        if vv.is_ok() {
            prop_assert!(va.is_ok());
            prop_assert!(!lo.is_nan() && !hi.is_nan() && lo <= hi);
        }
    }
}
