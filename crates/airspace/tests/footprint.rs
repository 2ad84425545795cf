//! Deterministic checks of the horizontal predicates: accuracy against
//! geographiclib at the metre and centimetre level, poles, antimeridian,
//! containment corner cases, areas.
mod common;

use airspace::{Footprint, LatLng, PreparedFootprint};
use common::*;

fn both_ways(a: &Footprint, b: &Footprint) -> bool {
    let ab = a.intersects(b);
    assert_eq!(ab, b.intersects(a), "asymmetric for {a:?} / {b:?}");
    ab
}

#[test]
fn circles_at_sum_of_radii_plus_minus_two_metres() {
    // Includes a pole, the antimeridian and the conformance site at 56°S 178°E.
    let centres = [
        ll(0.0, 0.0),
        ll(47.4, 8.5),
        ll(-56.0, 178.0),
        ll(90.0, 0.0),
        ll(-89.99, 45.0),
        ll(10.0, 180.0),
        ll(-33.9, -179.999),
    ];
    for c in centres {
        for (r1, r2) in [(50.0, 70.0), (1_000.0, 2_500.0), (30_000.0, 45_000.0)] {
            for az in [0.0, 37.0, 90.0, 181.0, 270.0] {
                for (delta, expect) in [(-2.0, true), (2.0, false), (-0.05, true), (0.05, false)] {
                    let other = go(c, az, r1 + r2 + delta);
                    let got =
                        both_ways(&circle(c.lat, c.lng, r1), &circle(other.lat, other.lng, r2));
                    assert_eq!(got, expect, "{c:?} az {az} r {r1}+{r2} delta {delta}");
                }
            }
        }
    }
}

#[test]
fn circle_centred_at_the_pole() {
    let pole = circle(90.0, 0.0, 10_000.0);
    // The pole's longitude is arbitrary.
    assert!(both_ways(&pole, &circle(90.0, 137.0, 1.0)));
    // 89.9° N is ~11.17 km from the pole along any meridian.
    let d = dist(ll(90.0, 0.0), ll(89.9, 0.0));
    for lng in [-180.0, -90.0, 0.0, 45.0, 180.0] {
        assert!(both_ways(&pole, &circle(89.9, lng, d - 10_000.0 + 1.0)));
        assert!(!both_ways(&pole, &circle(89.9, lng, d - 10_000.0 - 1.0)));
    }
    // A square of vertices at 89.9° around the pole contains it.
    let square = poly(&[(89.9, 0.0), (89.9, 90.0), (89.9, 180.0), (89.9, -90.0)]);
    assert!(square.contains_point(ll(90.0, 0.0)));
    assert!(both_ways(&square, &circle(90.0, 0.0, 1.0)));
    assert!(square.contains(&circle(90.0, 10.0, 5_000.0)));
    assert!(!square.contains(&circle(90.0, 10.0, 9_000.0)));
    // Its corners are ~11.17 km from the pole, its edges closer.
    assert!(!pole.contains(&square));
    assert!(circle(90.0, 0.0, d + 0.05).contains(&square));
    assert!(!circle(90.0, 0.0, d - 0.05).contains(&square));
    // And the same around the south pole.
    let south = poly(&[(-89.5, 10.0), (-89.5, 130.0), (-89.5, -110.0)]);
    assert!(south.contains_point(ll(-90.0, 0.0)));
    assert!(!south.contains_point(ll(-89.0, 0.0)));
}

#[test]
fn across_the_antimeridian() {
    // lng 180 and -180 are the same meridian.
    assert!(both_ways(
        &circle(10.0, 180.0, 5.0),
        &circle(10.0, -180.0, 5.0)
    ));
    let c = ll(-56.0, 178.0);
    let d = dist(c, ll(-56.0, -178.0));
    assert!(both_ways(
        &circle(-56.0, 178.0, d / 2.0 + 1.0),
        &circle(-56.0, -178.0, d / 2.0)
    ));
    assert!(!both_ways(
        &circle(-56.0, 178.0, d / 2.0 - 1.0),
        &circle(-56.0, -178.0, d / 2.0)
    ));

    // A box straddling the antimeridian (short way, not round the world).
    let b = poly(&[
        (-56.5, 179.5),
        (-56.5, -179.5),
        (-55.5, -179.5),
        (-55.5, 179.5),
    ]);
    assert!(b.contains_point(ll(-56.0, 180.0)));
    assert!(b.contains_point(ll(-56.0, -179.9)));
    assert!(b.contains_point(ll(-56.0, 179.9)));
    assert!(!b.contains_point(ll(-56.0, 0.0)));
    assert!(!b.contains_point(ll(-56.0, 179.0)));
    assert!(both_ways(&b, &circle(-56.0, 180.0, 10.0)));
    assert!(b.contains(&circle(-56.0, -180.0, 10_000.0)));
    let boxed = poly(&[
        (-56.2, 179.8),
        (-56.2, -179.8),
        (-55.8, -179.8),
        (-55.8, 179.8),
    ]);
    assert!(b.contains(&boxed));
    assert!(!boxed.contains(&b));
    // The conformance circle at 56°S 178°E: 1° of longitude there is ~62 km,
    // so a 100 km circle reaches over the antimeridian into the box.
    assert!(both_ways(&circle(-56.0, 178.0, 100_000.0), &b));
    assert!(!both_ways(&circle(-56.0, 178.0, 50_000.0), &b));
    let west_edge = ll(-56.0, 179.5);
    let gap = dist(c, west_edge);
    // The box's west edge is the meridian 179.5°, but its nearest point to
    // the centre is not exactly at 56°S (the perpendicular geodesic curves
    // towards the equator); that moves the distance by a few metres, well
    // inside the ±50 m margin here.
    assert!(both_ways(&circle(-56.0, 178.0, gap + 50.0), &b));
    assert!(!both_ways(&circle(-56.0, 178.0, gap - 50.0), &b));
}

/// A circle of radius r whose centre lies `r + delta` from an edge of a
/// 100 km polygon, measured along the geodesic perpendicular to the edge.
#[test]
fn circle_tangent_to_a_long_edge() {
    for (a, b) in [
        (ll(47.0, 8.0), ll(47.8, 8.9)),
        (ll(-56.3, 179.6), ll(-55.6, -179.2)),
        (ll(89.2, 0.0), ll(89.3, 120.0)),
        (ll(0.0, -0.5), ll(0.0, 0.5)),
    ] {
        let len = dist(a, b);
        let azi_ab = azimuth(a, b);
        for frac in [0.3, 0.5, 0.77] {
            let (lat, lng, azi_line): (f64, f64, f64) =
                geographiclib_rs::DirectGeodesic::direct(&*G, a.lat, a.lng, azi_ab, len * frac);
            let foot = ll(lat, lng);
            // A third vertex on the left of a→b makes the polygon.
            let apex = go(foot, azi_line - 90.0, 40_000.0);
            let p = poly(&[(a.lat, a.lng), (b.lat, b.lng), (apex.lat, apex.lng)]);
            // At 100 km the chord is ~1 m shorter than the geodesic; at
            // 1,500 km the plane stretches distances by ~2 %.
            for r in [200.0, 5_000.0, 30_000.0, 100_000.0, 1_500_000.0] {
                for (delta, expect) in [(-1.0, true), (1.0, false), (-0.05, true), (0.05, false)] {
                    // Centre on the right of the edge, outside the polygon.
                    let c = go(foot, azi_line + 90.0, r + delta);
                    let got = both_ways(&p, &circle(c.lat, c.lng, r));
                    assert_eq!(
                        got, expect,
                        "edge {a:?}-{b:?} frac {frac} r {r} delta {delta}"
                    );
                    if expect {
                        assert!(!p.contains(&circle(c.lat, c.lng, r)));
                    }
                }
                if r > 5_000.0 {
                    continue; // the apex is too close for a disc this big
                }
                // From inside: covered iff the circle stays off the edge.
                let inside = go(foot, azi_line - 90.0, r + 1.0);
                assert!(p.contains(&circle(inside.lat, inside.lng, r)));
                let inside = go(foot, azi_line - 90.0, r - 1.0);
                assert!(!p.contains(&circle(inside.lat, inside.lng, r)));
            }
        }
    }
}

/// A second polygon with one vertex `delta` metres across the midpoint of a
/// 100 km geodesic edge of the first.
#[test]
fn polygon_vertex_at_a_long_edge() {
    for (a, b) in [
        (ll(47.0, 8.0), ll(47.8, 8.9)),
        (ll(-56.3, 179.6), ll(-55.6, -179.2)),
        (ll(89.5, -30.0), ll(89.5, 60.0)),
        (ll(10.0, 20.0), ll(10.9, 20.0)),
    ] {
        let len = dist(a, b);
        let (lat, lng, azi_line): (f64, f64, f64) =
            geographiclib_rs::DirectGeodesic::direct(&*G, a.lat, a.lng, azimuth(a, b), len / 2.0);
        let mid = ll(lat, lng);
        let apex = go(mid, azi_line - 90.0, 50_000.0);
        let p = poly(&[(a.lat, a.lng), (b.lat, b.lng), (apex.lat, apex.lng)]);
        for (delta, expect) in [(-0.1, true), (0.1, false), (-0.05, true), (0.05, false)] {
            // Positive delta: the tip stays on the right, outside.
            let tip = go(mid, azi_line + 90.0, delta);
            let base1 = go(mid, azi_line + 90.0, 30_000.0);
            let base1 = go(base1, azi_line, 10_000.0);
            let base2 = go(mid, azi_line + 90.0, 30_000.0);
            let base2 = go(base2, azi_line, -10_000.0);
            let q = poly(&[
                (tip.lat, tip.lng),
                (base1.lat, base1.lng),
                (base2.lat, base2.lng),
            ]);
            assert_eq!(both_ways(&p, &q), expect, "edge {a:?}-{b:?} delta {delta}");
        }
    }
}

#[test]
fn touching_counts() {
    // Shared vertex, shared edge.
    let a = poly(&[(0.0, 0.0), (0.0, 0.01), (0.01, 0.01), (0.01, 0.0)]);
    let b = poly(&[(0.01, 0.01), (0.02, 0.01), (0.02, 0.02)]);
    let c = poly(&[(0.0, 0.01), (0.0, 0.02), (0.01, 0.02), (0.01, 0.01)]);
    assert!(both_ways(&a, &b));
    assert!(both_ways(&a, &c));
    // Circles touching at one point.
    let d = dist(ll(0.0, 0.0), ll(0.0, 0.01));
    assert!(both_ways(
        &circle(0.0, 0.0, d / 2.0),
        &circle(0.0, 0.01, d / 2.0)
    ));
    // A circle touching a vertex from outside.
    let corner = ll(0.01, 0.01);
    let c2 = go(corner, 45.0, 300.0);
    assert!(both_ways(&a, &circle(c2.lat, c2.lng, 300.0)));
    assert!(!both_ways(&a, &circle(c2.lat, c2.lng, 299.9)));
}

#[test]
fn containment_without_crossings_either_way() {
    let big = poly(&[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)]);
    let small = poly(&[(0.4, 0.4), (0.4, 0.6), (0.6, 0.6), (0.6, 0.4)]);
    assert!(both_ways(&big, &small));
    assert!(big.contains(&small));
    assert!(!small.contains(&big));
    assert!(both_ways(&big, &circle(0.5, 0.5, 100.0)));
    assert!(both_ways(&circle(0.5, 0.5, 200_000.0), &small));
    assert!(circle(0.5, 0.5, 200_000.0).contains(&big));
    assert!(!circle(0.5, 0.5, 70_000.0).contains(&big));
    assert!(circle(0.5, 0.5, 30_000.0).contains(&circle(0.5, 0.6, 18_000.0)));
    assert!(!circle(0.5, 0.5, 30_000.0).contains(&circle(0.5, 0.6, 20_000.0)));
}

#[test]
fn non_convex_containment() {
    // A "U": the notch between the arms is outside.
    let u = poly(&[
        (0.0, 0.0),
        (0.0, 0.3),
        (0.3, 0.3),
        (0.3, 0.2),
        (0.1, 0.2),
        (0.1, 0.1),
        (0.3, 0.1),
        (0.3, 0.0),
    ]);
    // Every vertex of this triangle is inside the U, but its top edge
    // crosses the notch.
    let across = poly(&[(0.05, 0.05), (0.25, 0.05), (0.25, 0.25)]);
    for v in [ll(0.05, 0.05), ll(0.25, 0.05), ll(0.25, 0.25)] {
        assert!(u.contains_point(v));
    }
    assert!(!u.contains(&across));
    assert!(both_ways(&u, &across));
    // Confined to one arm: covered.
    let arm = poly(&[(0.15, 0.02), (0.25, 0.02), (0.25, 0.08)]);
    assert!(u.contains(&arm));
    // Touching the boundary from inside still counts as covered.
    let flush = poly(&[(0.1, 0.1), (0.1, 0.15), (0.05, 0.15)]);
    assert!(u.contains(&flush));
    // A circle in the notch meets nothing.
    let notch = go(ll(0.2, 0.15), 0.0, 0.0);
    assert!(!both_ways(&u, &circle(notch.lat, notch.lng, 3_000.0)));
    assert!(both_ways(&u, &circle(notch.lat, notch.lng, 7_000.0)));
    // Everything covers itself.
    assert!(u.contains(&u));
    assert!(circle(1.0, 2.0, 300.0).contains(&circle(1.0, 2.0, 300.0)));
}

#[test]
fn duplicates_and_closing_vertex_are_ignored() {
    let open = poly(&[(0.0, 0.0), (0.0, 0.1), (0.1, 0.1)]);
    let closed = poly(&[
        (0.0, 0.0),
        (0.0, 0.0),
        (0.0, 0.1),
        (0.1, 0.1),
        (0.1, 0.1),
        (0.0, 0.0),
    ]);
    assert!((open.area_m2() - closed.area_m2()).abs() < 1e-6);
    let probe = circle(0.05, 0.04, 10.0);
    assert_eq!(open.intersects(&probe), closed.intersects(&probe));
    assert!(open.contains(&closed) && closed.contains(&open));
}

#[test]
fn areas() {
    // geographiclib's documented value for the 1° square at the equator.
    let sq = poly(&[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)]);
    assert!((sq.area_m2() - 12_308_778_361.469_452).abs() < 1e-3);
    // Orientation does not matter.
    let cw = poly(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]);
    assert!((cw.area_m2() - sq.area_m2()).abs() < 1e-3);
    let c = circle(45.0, 7.0, 1_000.0).area_m2();
    assert!((c / (std::f64::consts::PI * 1e6) - 1.0).abs() < 1e-6);
    assert_eq!(circle(45.0, 7.0, f64::NAN).area_m2(), 0.0);
    assert_eq!(poly(&[(0.0, 0.0), (0.0, 1.0)]).area_m2(), 0.0);
}

#[test]
fn unusable_input_meets_nothing() {
    let good = circle(0.0, 0.0, 1e6);
    for bad in [
        circle(f64::NAN, 0.0, 10.0),
        circle(0.0, f64::INFINITY, 10.0),
        circle(91.0, 0.0, 10.0),
        circle(0.0, 0.0, -1.0),
        circle(0.0, 0.0, f64::NAN),
        poly(&[]),
        poly(&[(0.0, 0.0), (f64::NAN, 0.1), (0.1, 0.1)]),
    ] {
        assert!(!both_ways(&good, &bad), "{bad:?}");
        assert!(!good.contains(&bad));
        assert!(!bad.contains(&good));
        assert!(PreparedFootprint::new(&bad).is_empty());
    }
}

#[test]
fn prepared_agrees_with_plain() {
    let shapes = [
        circle(47.0, 8.0, 3_000.0),
        poly(&[(47.0, 8.0), (47.02, 8.05), (46.98, 8.06)]),
        star(
            ll(47.01, 8.03),
            10.0,
            &[2_000.0, 4_000.0, 1_500.0, 3_000.0, 2_500.0],
            &[],
        ),
        circle(47.03, 8.08, 500.0),
    ];
    let prepared: Vec<PreparedFootprint> = shapes.iter().map(PreparedFootprint::new).collect();
    for (i, a) in shapes.iter().enumerate() {
        for (j, b) in shapes.iter().enumerate() {
            assert_eq!(a.intersects(b), prepared[i].intersects(&prepared[j]));
            assert_eq!(a.contains(b), prepared[i].contains(&prepared[j]));
        }
    }
}

#[test]
fn large_polygons_are_handled_quickly() {
    // Two 1,000-vertex outlines (the validation limit) interleaved so that
    // almost every edge is near an edge of the other.
    let c = ll(30.0, 30.0);
    let n = 1000;
    let radii_a: Vec<f64> = (0..n)
        .map(|k| if k % 2 == 0 { 20_000.0 } else { 19_000.0 })
        .collect();
    let radii_b: Vec<f64> = (0..n)
        .map(|k| if k % 2 == 0 { 19_500.0 } else { 20_500.0 })
        .collect();
    let a = star(c, 0.0, &radii_a, &[]);
    let b = star(c, 0.1, &radii_b, &[]);
    let t = std::time::Instant::now();
    assert!(a.intersects(&b));
    assert!(!a.contains(&b));
    let inner = star(c, 0.0, &vec![18_000.0; n], &[]);
    assert!(a.contains(&inner));
    // Generous even for an unoptimised build; the sweep keeps it to a few
    // milliseconds in release.
    assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
}

#[test]
fn contains_point_matches_the_oracle() {
    let f = star(
        ll(-20.0, 150.0),
        5.0,
        &[5_000.0, 9_000.0, 3_000.0, 8_000.0, 6_000.0, 2_000.0],
        &[],
    );
    let Footprint::Polygon { vertices } = &f else {
        unreachable!()
    };
    for i in 0..40 {
        for j in 0..40 {
            let p = LatLng {
                lat: -20.1 + 0.005 * i as f64,
                lng: 149.9 + 0.005 * j as f64,
            };
            assert_eq!(f.contains_point(p), oracle_in_polygon(p, vertices), "{p:?}");
        }
    }
}

/// Found by fuzzing: a circle of 1 cm at 46°N 7°E did not intersect itself
/// (the cap pre-filter had no rounding slack), so two parties could declare
/// the same tiny circle without a conflict.
#[test]
fn tiny_circles_meet_themselves_everywhere() {
    for (lat, lng) in [
        (46.0, 7.0),
        (0.0, 0.0),
        (-33.9, 151.2),
        (89.99, 179.99),
        (12.5, -70.0),
    ] {
        for r in [1e-6, 1e-3, 0.01, 0.05, 0.5] {
            let c = airspace::Footprint::Circle {
                center: airspace::LatLng::new(lat, lng),
                radius_m: r,
            };
            assert!(c.intersects(&c), "r = {r} m at ({lat}, {lng})");
        }
    }
}
