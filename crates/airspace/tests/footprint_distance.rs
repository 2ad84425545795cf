//! `Footprint::distance_outside_m` against geographiclib: zero exactly where
//! `contains_point` holds, the exact value for circles, the perpendicular
//! offset from an edge of a convex polygon, and never more than (nor much
//! less than) the distance to densely sampled outline points.
mod common;

use airspace::{Footprint, LatLng, PreparedFootprint};
use common::*;
use proptest::prelude::*;

/// Anywhere, near the antimeridian, or near a pole.
fn centre() -> impl Strategy<Value = LatLng> {
    prop_oneof![
        (-89.0..89.0f64, -180.0..180.0f64).prop_map(|(a, b)| ll(a, b)),
        (
            -89.0..89.0f64,
            prop_oneof![179.9..=180.0f64, -180.0..-179.9f64]
        )
            .prop_map(|(a, b)| ll(a, b)),
        (
            prop_oneof![89.9..=90.0f64, -90.0..=-89.9f64],
            -180.0..180.0f64
        )
            .prop_map(|(a, b)| ll(a, b)),
    ]
}

/// A circle or a star-shaped (possibly concave) polygon up to 100 km across.
fn footprint() -> impl Strategy<Value = (LatLng, Footprint, f64)> {
    (
        centre(),
        prop_oneof![
            (10.0..50_000.0f64).prop_map(|r| (None, vec![r], vec![])),
            (3usize..9).prop_flat_map(|n| (
                (0.0..360.0f64).prop_map(Some),
                prop::collection::vec(10.0..50_000.0f64, n),
                prop::collection::vec(-1.0..1.0f64, n),
            )),
        ],
    )
        .prop_map(|(c, (az0, radii, jitter))| {
            let reach = radii.iter().copied().fold(0.0, f64::max);
            let f = match az0 {
                None => circle(c.lat, c.lng, radii[0]),
                Some(az0) => star(c, az0, &radii, &jitter),
            };
            (c, f, reach)
        })
}

/// The midpoint of the geodesic a–b and the azimuth of the edge there.
fn midpoint(a: LatLng, b: LatLng) -> (LatLng, f64) {
    use geographiclib_rs::{DirectGeodesic, InverseGeodesic};
    let (len, azi, _, _): (f64, f64, f64, f64) = G.inverse(a.lat, a.lng, b.lat, b.lng);
    let (lat, lng, azi2): (f64, f64, f64) = G.direct(a.lat, a.lng, azi, len / 2.0);
    (ll(lat, lng), azi2)
}

#[test]
fn examples() {
    let c = circle(46.0, 7.0, 1_000.0);
    assert_eq!(c.distance_outside_m(ll(46.0, 7.0)), 0.0);
    let p = go(ll(46.0, 7.0), 30.0, 1_250.0);
    assert!((c.distance_outside_m(p) - 250.0).abs() < 1e-6);
    let square = poly(&[(46.0, 7.0), (46.0, 7.01), (46.01, 7.01), (46.01, 7.0)]);
    assert_eq!(square.distance_outside_m(ll(46.005, 7.005)), 0.0);
    assert_eq!(square.distance_outside_m(ll(46.0, 7.0)), 0.0);
    // Edges are geodesics, not parallels: the southern edge bulges ~12 mm
    // north of latitude 46 at its middle (sagitta L² tan φ / 8R), so the
    // parallel's midpoint is that far outside.
    let sag = square.distance_outside_m(ll(46.0, 7.005));
    assert!((sag - 0.0119).abs() < 0.001, "{sag}");
    // Due south of a vertex: the vertex is nearest.
    let v = ll(46.0, 7.0);
    let below = go(v, 180.0, 321.0);
    assert!((square.distance_outside_m(below) - 321.0).abs() < 0.05);
    // Unusable inputs are infinitely far.
    assert_eq!(c.distance_outside_m(ll(f64::NAN, 7.0)), f64::INFINITY);
    assert_eq!(
        circle(46.0, 7.0, -1.0).distance_outside_m(ll(46.0, 7.0)),
        f64::INFINITY
    );
    // Far away (beyond the local projection): still the geodesic distance
    // to the nearest edge, here a vertex.
    let antipodal = ll(-46.0, -173.0);
    let d = square.distance_outside_m(antipodal);
    let nearest = [(46.0, 7.0), (46.0, 7.01), (46.01, 7.01), (46.01, 7.0)]
        .iter()
        .map(|&(a, b)| dist(ll(a, b), antipodal))
        .fold(f64::INFINITY, f64::min);
    assert!(
        d <= nearest + 1e-6 && d > nearest - 2_000.0,
        "{d} {nearest}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn zero_exactly_when_inside((c, f, reach) in footprint(), azi in 0.0..360.0f64, frac in 0.0..2.0f64) {
        let p = go(c, azi, reach * frac);
        let d = f.distance_outside_m(p);
        prop_assert_eq!(d == 0.0, f.contains_point(p), "{} m", d);
        prop_assert!(d >= 0.0 && d.is_finite());
        prop_assert_eq!(d, PreparedFootprint::new(&f).distance_outside_m(p));
    }

    #[test]
    fn circle_distance_is_geodesic(
        c in centre(),
        r in 0.0..100_000.0f64,
        azi in 0.0..360.0f64,
        s in 0.0..300_000.0f64,
    ) {
        let f = circle(c.lat, c.lng, r);
        let p = go(c, azi, s);
        let d = f.distance_outside_m(p);
        let expect = dist(c, p) - r;
        if expect > 0.011 {
            prop_assert!((d - expect).abs() < 1e-6, "{} vs {}", d, expect);
        } else if expect < -0.011 {
            prop_assert_eq!(d, 0.0);
        }
    }

    /// Moving out of a regular (hence convex) polygon perpendicularly from
    /// the middle of an edge, the foot of the perpendicular stays the
    /// nearest point: the distance is the offset.
    #[test]
    fn offset_from_edge_midpoint(
        c in centre(),
        n in 3usize..10,
        r in 20.0..50_000.0f64,
        az0 in 0.0..360.0f64,
        edge in 0usize..10,
        d in 0.05..50_000.0f64,
    ) {
        let f = star(c, az0, &vec![r; n], &[]);
        let Footprint::Polygon { vertices } = &f else { unreachable!() };
        let i = edge % n;
        let (m, azi) = midpoint(vertices[i], vertices[(i + 1) % n]);
        // Outward is the side away from the centre.
        let left = go(m, azi - 90.0, 1.0);
        let right = go(m, azi + 90.0, 1.0);
        let out = if dist(left, c) > dist(right, c) { azi - 90.0 } else { azi + 90.0 };
        let p = go(m, out, d);
        let got = f.distance_outside_m(p);
        prop_assert!((got - d).abs() < 0.01, "offset {} m, distance {} m", d, got);
    }
}

proptest! {
    // The oracle measures every sample with geographiclib.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against outline samples at most 20 m apart: the true nearest point is
    /// within 10 m of a sample, so the sampled minimum is at most
    /// √(d² + 10²) for straight edges (a little more around a circle), and
    /// it can never be below the true distance.
    #[test]
    fn agrees_with_sampled_outline((c, f, reach) in footprint(), azi in 0.0..360.0f64, frac in 1.0..3.0f64) {
        let p = go(c, azi, reach * frac + 1.0);
        let d = f.distance_outside_m(p);
        if !f.contains_point(p) {
            let sampled = boundary_samples(&f, 20.0)
                .into_iter()
                .map(|q| dist(p, q))
                .fold(f64::INFINITY, f64::min);
            prop_assert!(d <= sampled + 0.01, "{} m > sampled {} m", d, sampled);
            // A circle's outline curves away from the point: at arc length h
            // from the nearest point, the distance is √(d² + h² (1 + d/r)).
            let bound = match &f {
                Footprint::Circle { radius_m, .. } => (d * d + 100.0 * (1.0 + d / radius_m)).sqrt(),
                Footprint::Polygon { .. } => d.hypot(10.0),
            };
            prop_assert!(sampled <= bound + 0.05, "{} m, but sampled {} m", d, sampled);
        }
    }
}
