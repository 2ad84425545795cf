//! Every validation error names the right field, with a useful reason.
mod common;

use airspace::{
    validate_footprint, validate_query_volume, validate_volume, AltitudeRange, Footprint, LatLng,
    Limits, TimeRange, Volume4D,
};
use chrono::{DateTime, Duration, Utc};
use common::*;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000 + s, 0).unwrap()
}

fn vol(footprint: Footprint) -> Volume4D {
    Volume4D {
        footprint,
        altitude: AltitudeRange {
            lower_m: 0.0,
            upper_m: 120.0,
        },
        time: TimeRange::new(t(0), t(3600)),
    }
}

fn square() -> Footprint {
    poly(&[(47.0, 8.0), (47.0, 8.01), (47.01, 8.01), (47.01, 8.0)])
}

/// Asserts the volume is rejected on `field` with a reason containing `reason`.
#[track_caller]
fn rejects(v: &Volume4D, field: &str, reason: &str) {
    let e = validate_volume(v, &Limits::default()).expect_err("should be rejected");
    assert_eq!(e.field, field, "{e}");
    assert!(e.reason.contains(reason), "{e}");
    // validate_footprint names the same field without the `volume.` prefix.
    if let Some(rest) = field.strip_prefix("volume.") {
        if rest.starts_with("outline_") {
            let e2 = validate_footprint(&v.footprint, &Limits::default()).unwrap_err();
            assert_eq!(e2.field, rest);
            assert_eq!(e2.reason, e.reason);
        }
    }
}

#[test]
fn valid_volumes_pass() {
    let limits = Limits::default();
    for f in [
        square(),
        circle(47.0, 8.0, 500.0),
        // Closing vertex repeated, consecutive duplicate.
        poly(&[
            (47.0, 8.0),
            (47.0, 8.0),
            (47.0, 8.01),
            (47.01, 8.01),
            (47.0, 8.0),
        ]),
        // Exactly on the bounds of the coordinate ranges.
        poly(&[(90.0, 0.0), (89.9, 180.0), (89.9, -90.0)]),
        poly(&[(-90.0, -180.0), (-89.9, 0.0), (-89.9, 90.0)]),
        poly(&[
            (-56.0, 179.9),
            (-56.0, -180.0),
            (-55.9, -179.9),
            (-55.9, 180.0),
        ]),
        circle(90.0, 180.0, 1_000.0),
        circle(-90.0, -180.0, 1_000.0),
        // Concave.
        poly(&[(0.0, 0.0), (0.0, 0.3), (0.3, 0.3), (0.1, 0.15), (0.3, 0.0)]),
    ] {
        assert_eq!(validate_footprint(&f, &limits), Ok(()), "{f:?}");
        assert_eq!(validate_volume(&vol(f), &limits), Ok(()));
    }
    // Unbounded sides.
    let mut v = vol(square());
    v.altitude = AltitudeRange::UNBOUNDED;
    v.time = TimeRange::UNBOUNDED;
    assert_eq!(validate_volume(&v, &limits), Ok(()));
    v.time = TimeRange {
        start: Some(t(0)),
        end: None,
    };
    v.altitude.upper_m = 50.0;
    assert_eq!(validate_volume(&v, &limits), Ok(()));
    // A flat slab is allowed.
    v.altitude = AltitudeRange {
        lower_m: 50.0,
        upper_m: 50.0,
    };
    assert_eq!(validate_volume(&v, &limits), Ok(()));
}

#[test]
fn coordinates_out_of_range() {
    let mut vs = vec![ll(47.0, 8.0), ll(47.0, 8.01), ll(47.01, 8.01)];
    vs[2].lat = 91.0;
    let f = Footprint::Polygon {
        vertices: vs.clone(),
    };
    rejects(
        &vol(f),
        "volume.outline_polygon.vertices[2].lat",
        "latitude 91 outside [-90, 90]",
    );
    vs[2].lat = 47.01;
    vs[0].lng = -180.5;
    let f = Footprint::Polygon {
        vertices: vs.clone(),
    };
    rejects(
        &vol(f),
        "volume.outline_polygon.vertices[0].lng",
        "longitude -180.5 outside [-180, 180]",
    );
    vs[0].lng = f64::NAN;
    let f = Footprint::Polygon {
        vertices: vs.clone(),
    };
    rejects(
        &vol(f),
        "volume.outline_polygon.vertices[0].lng",
        "finite number, got NaN",
    );
    vs[0].lng = 8.0;
    vs[1].lat = f64::NEG_INFINITY;
    let f = Footprint::Polygon { vertices: vs };
    rejects(
        &vol(f),
        "volume.outline_polygon.vertices[1].lat",
        "got -inf",
    );

    rejects(
        &vol(circle(-90.5, 8.0, 10.0)),
        "volume.outline_circle.center.lat",
        "latitude -90.5 outside",
    );
    rejects(
        &vol(circle(1.0, 1e300, 10.0)),
        "volume.outline_circle.center.lng",
        "longitude 1e300 outside",
    );
    rejects(
        &vol(circle(f64::NAN, 8.0, 10.0)),
        "volume.outline_circle.center.lat",
        "got NaN",
    );
}

#[test]
fn circle_radius() {
    rejects(
        &vol(circle(47.0, 8.0, 0.0)),
        "volume.outline_circle.radius",
        "radius must be > 0",
    );
    rejects(
        &vol(circle(47.0, 8.0, -3.0)),
        "volume.outline_circle.radius",
        "radius must be > 0",
    );
    rejects(
        &vol(circle(47.0, 8.0, f64::NAN)),
        "volume.outline_circle.radius",
        "finite number, got NaN",
    );
    rejects(
        &vol(circle(47.0, 8.0, f64::INFINITY)),
        "volume.outline_circle.radius",
        "got inf",
    );
    rejects(
        &vol(circle(47.0, 8.0, 3e6)),
        "volume.outline_circle.radius",
        "exceeds the supported 2000 km",
    );
}

#[test]
fn polygon_shape() {
    let f = "volume.outline_polygon.vertices";
    rejects(&vol(poly(&[])), f, "fewer than 3 distinct vertices");
    rejects(
        &vol(poly(&[(47.0, 8.0), (47.0, 8.01)])),
        f,
        "fewer than 3 distinct vertices",
    );
    rejects(
        &vol(poly(&[(47.0, 8.0), (47.0, 8.0), (47.0, 8.01), (47.0, 8.0)])),
        f,
        "fewer than 3 distinct vertices",
    );
    // Bow tie (symmetric, so its signed area is zero too: reported as
    // self-intersecting, which is the cause).
    rejects(
        &vol(poly(&[
            (47.0, 8.0),
            (47.01, 8.01),
            (47.0, 8.01),
            (47.01, 8.0),
        ])),
        f,
        "polygon edges cross each other (self-intersecting)",
    );
    // A vertex touching a non-adjacent edge.
    rejects(
        &vol(poly(&[
            (0.0, 0.0),
            (0.0, 0.02),
            (0.02, 0.02),
            (0.0, 0.01),
            (0.02, 0.0),
        ])),
        f,
        "self-intersecting",
    );
    // A spike that doubles back along its own edge.
    rejects(
        &vol(poly(&[(0.0, 0.0), (0.0, 0.02), (0.0, 0.01), (0.02, 0.01)])),
        f,
        "self-intersecting",
    );
    // Collinear along the equator (a geodesic): no area.
    rejects(
        &vol(poly(&[(0.0, 0.0), (0.0, 0.01), (0.0, 0.02)])),
        f,
        "zero-area polygon",
    );
    // Collinear along a meridian, out and back.
    rejects(
        &vol(poly(&[(10.0, 5.0), (10.02, 5.0), (10.01, 5.0)])),
        f,
        "zero-area polygon",
    );
    // Too many vertices: checked first, before any per-vertex work.
    let many: Vec<(f64, f64)> = (0..1200)
        .map(|k| {
            let a = (k as f64 / 1200.0 * 360.0).to_radians();
            (47.0 + 0.01 * a.sin(), 8.0 + 0.01 * a.cos())
        })
        .collect();
    rejects(&vol(poly(&many)), f, "too many vertices: 1200 > 1000");
    let limits = Limits {
        max_vertices: 2000,
        ..Limits::default()
    };
    assert_eq!(validate_volume(&vol(poly(&many)), &limits), Ok(()));
    // Spanning a continent (thin, so the area limit alone would not catch it).
    rejects(
        &vol(poly(&[(0.0, 0.0), (0.0, 40.0), (0.001, 20.0)])),
        f,
        "more than the supported 2000 km",
    );
}

#[test]
fn self_intersection_check_scales() {
    // 1,000 vertices on a circle: the x-sweep keeps this fast.
    let c = ll(47.0, 8.0);
    let radii = vec![20_000.0; 1000];
    let f = star(c, 0.0, &radii, &[]);
    let start = std::time::Instant::now();
    assert_eq!(validate_footprint(&f, &Limits::default()), Ok(()));
    // Same, with the last vertex pulled across the outline.
    let Footprint::Polygon { mut vertices } = f else {
        unreachable!()
    };
    vertices[999] = go(c, 180.0, 25_000.0);
    let e = validate_footprint(&Footprint::Polygon { vertices }, &Limits::default()).unwrap_err();
    assert_eq!(e.field, "outline_polygon.vertices");
    assert!(e.reason.contains("self-intersecting"), "{e}");
    assert!(start.elapsed().as_secs_f64() < 5.0, "{:?}", start.elapsed());
}

#[test]
fn altitudes() {
    let mut v = vol(square());
    v.altitude = AltitudeRange {
        lower_m: 120.0,
        upper_m: 100.0,
    };
    rejects(
        &v,
        "volume.altitude_lower",
        "lower altitude 120 above upper altitude 100",
    );
    v.altitude = AltitudeRange {
        lower_m: f64::NAN,
        upper_m: 100.0,
    };
    rejects(&v, "volume.altitude_lower", "got NaN");
    v.altitude = AltitudeRange {
        lower_m: 0.0,
        upper_m: f64::NAN,
    };
    rejects(&v, "volume.altitude_upper", "got NaN");
    v.altitude = AltitudeRange {
        lower_m: f64::INFINITY,
        upper_m: f64::INFINITY,
    };
    rejects(&v, "volume.altitude_lower", "+infinity");
    v.altitude = AltitudeRange {
        lower_m: f64::NEG_INFINITY,
        upper_m: f64::NEG_INFINITY,
    };
    rejects(&v, "volume.altitude_upper", "-infinity");
}

#[test]
fn times() {
    let mut v = vol(square());
    v.time = TimeRange::new(t(100), t(100));
    rejects(&v, "time_end", "start must be before end");
    v.time = TimeRange::new(t(100), t(100) - Duration::nanoseconds(1));
    rejects(&v, "time_end", "start must be before end");
    v.time = TimeRange::new(t(100), t(100) + Duration::nanoseconds(1));
    assert_eq!(validate_volume(&v, &Limits::default()), Ok(()));
}

#[test]
fn query_volumes() {
    let limits = Limits::default();
    let mut v = vol(square());
    // A query may ask about one instant ...
    v.time = TimeRange::new(t(100), t(100));
    assert_eq!(validate_query_volume(&v, &limits), Ok(()));
    // ... but not a reversed window,
    v.time = TimeRange::new(t(100), t(99));
    assert_eq!(
        validate_query_volume(&v, &limits).unwrap_err().field,
        "time_end"
    );
    // and otherwise follows the volume rules, with the same field names.
    v.time = TimeRange::UNBOUNDED;
    v.altitude = AltitudeRange::UNBOUNDED;
    assert_eq!(validate_query_volume(&v, &limits), Ok(()));
    v.footprint = circle(95.0, 0.0, 10.0);
    let e = validate_query_volume(&v, &limits).unwrap_err();
    assert_eq!(e.field, "volume.outline_circle.center.lat");
    v.footprint = poly(&[(0.0, 0.0), (0.0, 0.95), (0.95, 0.95), (0.95, 0.0)]);
    assert_eq!(
        validate_query_volume(&v, &limits).unwrap_err().field,
        "volume"
    );
}

#[test]
fn area_limit() {
    // ~105 km × 105 km ≈ 11,000 km².
    let big = poly(&[(0.0, 0.0), (0.0, 0.95), (0.95, 0.95), (0.95, 0.0)]);
    let e = validate_volume(&vol(big.clone()), &Limits::default()).unwrap_err();
    assert_eq!(e.field, "volume");
    assert!(e.reason.starts_with("area 11"), "{e}");
    assert!(
        e.reason.ends_with("km² exceeds the limit of 2500 km²"),
        "{e}"
    );
    let e = validate_footprint(&big, &Limits::default()).unwrap_err();
    assert_eq!(e.field, "outline_polygon");
    // A circle of 30 km radius is ~2,827 km².
    let e = validate_volume(&vol(circle(10.0, 10.0, 30_000.0)), &Limits::default()).unwrap_err();
    assert_eq!(e.field, "volume");
    assert_eq!(e.reason, "area 2827 km² exceeds the limit of 2500 km²");
    assert_eq!(
        validate_volume(&vol(circle(10.0, 10.0, 28_000.0)), &Limits::default()),
        Ok(())
    );
    let loose = Limits {
        max_area_m2: 2e10,
        ..Limits::default()
    };
    assert_eq!(validate_volume(&vol(big), &loose), Ok(()));
}

#[test]
fn first_problem_is_reported() {
    // A bad coordinate is reported before the shape problems it causes.
    let f = poly(&[(47.0, 8.0), (95.0, 8.0), (47.0, 8.0)]);
    let mut v = vol(f);
    v.altitude.lower_m = f64::NAN;
    rejects(
        &v,
        "volume.outline_polygon.vertices[1].lat",
        "latitude 95 outside",
    );
    let _ = LatLng { lat: 0.0, lng: 0.0 };
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// Validation skips the geodesic area when a planar estimate is far from
    /// the limit; that shortcut never changes a verdict. With the limit set
    /// anywhere near the polygon's geodesic area (and on thin slivers near
    /// the zero-area threshold), the polygon passes exactly when its
    /// geodesic area is within the limit.
    #[test]
    fn the_area_limit_is_decided_on_the_geodesic_area(
        lat in -89.5..89.5f64,
        lng in -180.0..180.0f64,
        az0 in 0.0..360.0f64,
        radii in proptest::collection::vec(500.0..45_000.0f64, 3..10),
        jitter in proptest::collection::vec(-1.0..1.0f64, 10),
        ratio in 0.9..1.1f64,
    ) {
        let f = star(ll(lat, lng), az0, &radii, &jitter);
        let unlimited = Limits { max_area_m2: f64::INFINITY, ..Limits::default() };
        proptest::prop_assume!(validate_footprint(&f, &unlimited).is_ok());
        let area = f.area_m2();
        let limits = Limits { max_area_m2: area * ratio, ..Limits::default() };
        let verdict = validate_footprint(&f, &limits);
        proptest::prop_assert_eq!(verdict.is_ok(), area <= limits.max_area_m2, "{:?}", verdict);
    }
}

#[test]
fn slivers_are_zero_area_whatever_the_limit() {
    // Four vertices 40 km apart along one meridian, 1 mm off it.
    let sliver = poly(&[
        (47.0, 8.0),
        (47.2, 8.0),
        (47.4, 8.00000001),
        (47.2, 8.00000001),
    ]);
    for max_area_m2 in [1.0, 2.5e9, f64::INFINITY] {
        let e = validate_footprint(
            &sliver,
            &Limits {
                max_area_m2,
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert!(
            e.reason.contains("zero-area") || e.reason.contains("self-intersecting"),
            "{e}"
        );
    }
}
