//! Shared test helpers: shape builders and an oracle that decides point
//! membership with geographiclib alone (no projection), so it is independent
//! of the code under test.
#![allow(dead_code)]

use airspace::{Footprint, LatLng};
use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use std::sync::LazyLock;

pub static G: LazyLock<Geodesic> = LazyLock::new(Geodesic::wgs84);

pub fn ll(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

pub fn circle(lat: f64, lng: f64, r: f64) -> Footprint {
    Footprint::Circle {
        center: ll(lat, lng),
        radius_m: r,
    }
}

pub fn poly(v: &[(f64, f64)]) -> Footprint {
    Footprint::Polygon {
        vertices: v.iter().map(|&(lat, lng)| ll(lat, lng)).collect(),
    }
}

/// The point `s` metres from `p` along azimuth `azi` (degrees).
pub fn go(p: LatLng, azi: f64, s: f64) -> LatLng {
    let (lat, lng): (f64, f64) = G.direct(p.lat, p.lng, azi, s);
    ll(lat, lng)
}

pub fn dist(a: LatLng, b: LatLng) -> f64 {
    G.inverse(a.lat, a.lng, b.lat, b.lng)
}

pub fn azimuth(a: LatLng, b: LatLng) -> f64 {
    let (_s, azi1, _azi2, _a12): (f64, f64, f64, f64) = G.inverse(a.lat, a.lng, b.lat, b.lng);
    azi1
}

/// Star-shaped polygon around `c`: vertex k at azimuth az0 + 360 k / n
/// (+ jitter) and distance radii[k].
pub fn star(c: LatLng, az0: f64, radii: &[f64], jitter: &[f64]) -> Footprint {
    let n = radii.len();
    let step = 360.0 / n as f64;
    Footprint::Polygon {
        vertices: (0..n)
            .map(|k| {
                let j = jitter.get(k).copied().unwrap_or(0.0) * 0.4 * step;
                go(c, az0 + step * k as f64 + j, radii[k])
            })
            .collect(),
    }
}

/// Winding-number membership: the azimuth from `p` sweeps a full turn along
/// the outline iff `p` is inside. Each geodesic edge is seen from `p` under
/// less than 180°, so each step is the short way round.
pub fn oracle_in_polygon(p: LatLng, vertices: &[LatLng]) -> bool {
    let n = vertices.len();
    let az: Vec<f64> = vertices.iter().map(|v| azimuth(p, *v)).collect();
    let mut sum = 0.0;
    for i in 0..n {
        let mut d = az[(i + 1) % n] - az[i];
        while d > 180.0 {
            d -= 360.0;
        }
        while d <= -180.0 {
            d += 360.0;
        }
        sum += d;
    }
    sum.abs() > 180.0
}

pub fn oracle_contains(f: &Footprint, p: LatLng) -> bool {
    match f {
        Footprint::Circle { center, radius_m } => dist(*center, p) <= *radius_m,
        Footprint::Polygon { vertices } => oracle_in_polygon(p, vertices),
    }
}

/// Points on the boundary, about `spacing` metres apart along it.
pub fn boundary_samples(f: &Footprint, spacing: f64) -> Vec<LatLng> {
    match f {
        Footprint::Circle { center, radius_m } => {
            let k = ((2.0 * std::f64::consts::PI * radius_m / spacing).ceil() as usize).max(8);
            (0..k)
                .map(|i| go(*center, 360.0 * i as f64 / k as f64, *radius_m))
                .collect()
        }
        Footprint::Polygon { vertices } => {
            let n = vertices.len();
            let mut out = Vec::new();
            for i in 0..n {
                let (a, b) = (vertices[i], vertices[(i + 1) % n]);
                let (len, azi, _, _): (f64, f64, f64, f64) = G.inverse(a.lat, a.lng, b.lat, b.lng);
                let k = ((len / spacing).ceil() as usize).max(1);
                for j in 0..k {
                    let (lat, lng): (f64, f64) =
                        G.direct(a.lat, a.lng, azi, len * j as f64 / k as f64);
                    out.push(ll(lat, lng));
                }
            }
            out
        }
    }
}

/// Points certainly inside: the centre, and for circles/stars points along
/// the rays from the centre to the boundary.
pub fn interior_samples(f: &Footprint, center: LatLng) -> Vec<LatLng> {
    let mut out = vec![center];
    match f {
        Footprint::Circle { center, radius_m } => {
            for k in 0..12 {
                for frac in [0.3, 0.6, 0.9] {
                    out.push(go(*center, 30.0 * k as f64, radius_m * frac));
                }
            }
        }
        Footprint::Polygon { vertices } => {
            for v in vertices {
                let (s, az) = (dist(center, *v), azimuth(center, *v));
                for frac in [0.3, 0.6, 0.9] {
                    out.push(go(center, az, s * frac));
                }
            }
        }
    }
    out
}

/// Unit-free ECEF-ish position (chord distances in metres) for fast
/// proximity checks between samples.
pub fn ecef(p: LatLng) -> [f64; 3] {
    let a = 6_378_137.0;
    let f = 1.0 / 298.257_223_563;
    let e2 = f * (2.0 - f);
    let (sp, cp) = p.lat.to_radians().sin_cos();
    let (sl, cl) = p.lng.to_radians().sin_cos();
    let nu = a / (1.0 - e2 * sp * sp).sqrt();
    [nu * cp * cl, nu * cp * sl, nu * (1.0 - e2) * sp]
}

/// Smallest chord distance between a point of `a` and a point of `b`
/// (sweep over x).
pub fn min_sample_distance(a: &[LatLng], b: &[LatLng], cutoff: f64) -> f64 {
    let mut pb: Vec<[f64; 3]> = b.iter().map(|p| ecef(*p)).collect();
    pb.sort_by(|x, y| x[0].total_cmp(&y[0]));
    let mut best = f64::INFINITY;
    for p in a.iter().map(|p| ecef(*p)) {
        let start = pb.partition_point(|q| q[0] < p[0] - cutoff);
        for q in &pb[start..] {
            if q[0] > p[0] + cutoff {
                break;
            }
            let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
            best = best.min(d);
        }
    }
    best
}

/// A polygon's vertices or a circle's centre.
pub fn anchor_points(f: &Footprint) -> Vec<LatLng> {
    match f {
        Footprint::Circle { center, .. } => vec![*center],
        Footprint::Polygon { vertices } => vertices.clone(),
    }
}
