//! WGS84 ellipsoid helpers: unit normals, earth-centred coordinates, rigorous
//! chord/geodesic bounds, and the local projection in which geodesics are
//! (very nearly) straight lines.
//!
//! Everything is in earth-centred earth-fixed (ECEF) vectors, so there is no
//! antimeridian and no pole special case anywhere in the crate: longitude only
//! ever appears inside `sin`/`cos`.

use geographiclib_rs::Geodesic;
use std::sync::LazyLock;

/// Semi-major axis (m).
pub(crate) const A: f64 = 6_378_137.0;
/// Flattening.
pub(crate) const F: f64 = 1.0 / 298.257_223_563;
/// First eccentricity squared.
pub(crate) const E2: f64 = F * (2.0 - F);
/// Semi-minor axis (m).
pub(crate) const B: f64 = A * (1.0 - F);
/// Largest normal curvature anywhere on the ellipsoid (the meridian at the
/// equator, radius b²/a). It bounds both how fast the surface normal turns per
/// metre travelled and the space curvature of every geodesic.
pub(crate) const KAPPA_MAX: f64 = A / (B * B);

/// The shared WGS84 geodesic solver (its construction computes series
/// coefficients, so build it once).
pub(crate) fn geodesic() -> &'static Geodesic {
    static G: LazyLock<Geodesic> = LazyLock::new(Geodesic::wgs84);
    &G
}

pub(crate) type V3 = [f64; 3];

#[inline]
pub(crate) fn dot(a: &V3, b: &V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub(crate) fn sub(a: &V3, b: &V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
pub(crate) fn cross(a: &V3, b: &V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
pub(crate) fn norm(a: &V3) -> f64 {
    dot(a, a).sqrt()
}

/// Angle between two unit vectors, accurate for tiny and near-π angles alike
/// (`acos` of a dot product loses half the digits near 0).
#[cfg(test)]
#[inline]
pub(crate) fn angle_between(a: &V3, b: &V3) -> f64 {
    norm(&cross(a, b)).atan2(dot(a, b))
}

/// Outward unit normal of the ellipsoid at geodetic (lat, lng) in degrees.
#[inline]
pub(crate) fn normal(lat_deg: f64, lng_deg: f64) -> V3 {
    let (sp, cp) = lat_deg.to_radians().sin_cos();
    let (sl, cl) = lng_deg.to_radians().sin_cos();
    [cp * cl, cp * sl, sp]
}

/// The surface point whose outward normal is `n` (unit). Trig-free: the
/// geodetic normal already carries sin/cos of latitude and longitude.
#[inline]
pub(crate) fn ecef_from_normal(n: &V3) -> V3 {
    let w = 1.0 - E2 * n[2] * n[2];
    let nu = A / w.sqrt();
    [nu * n[0], nu * n[1], nu * (1.0 - E2) * n[2]]
}

/// The unit normal at the surface point `x` (the gradient of
/// x²/a² + y²/a² + z²/b², normalised).
#[inline]
pub(crate) fn normal_from_ecef(x: &V3) -> V3 {
    let g = [x[0], x[1], x[2] / (1.0 - E2)];
    let len = norm(&g);
    [g[0] / len, g[1] / len, g[2] / len]
}

/// Geodetic (lat, lng) in degrees of the surface point whose normal is `n`.
#[inline]
pub(crate) fn latlng_from_normal(n: &V3) -> (f64, f64) {
    let lat = n[2].atan2(n[0].hypot(n[1])).to_degrees();
    let lng = n[1].atan2(n[0]).to_degrees();
    (lat, lng)
}

/// Rigorous upper bound on the geodesic distance between two surface points
/// whose straight-line (chord) distance is `chord`. The chord itself is the
/// lower bound.
///
/// A geodesic is a space curve of curvature at most `KAPPA_MAX` (its curvature
/// is the normal curvature of the surface). By Schur's comparison theorem its
/// chord is at least that of a circular arc of the same length and curvature
/// `KAPPA_MAX`, i.e. `chord >= 2/κ sin(κ s / 2)`, which inverts to the bound
/// below. The gap to the chord is κ² c³ / 24: about 1 m at 100 km, so most
/// distance comparisons are settled without a geodesic inverse.
#[inline]
pub(crate) fn geodesic_upper_bound(chord: f64) -> f64 {
    let x = 0.5 * KAPPA_MAX * chord;
    // Schur's theorem needs the arc to be at most half a circle; stay well
    // inside that (x <= 0.5 is a chord of ~6,300 km).
    if x <= 0.5 {
        2.0 / KAPPA_MAX * x.asin()
    } else {
        f64::INFINITY
    }
}

/// Geodesic distance and azimuths between two points (degrees in, metres out).
#[inline]
pub(crate) fn inverse(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    geographiclib_rs::InverseGeodesic::inverse(geodesic(), lat1, lng1, lat2, lng2)
}

/// A central projection of the ellipsoid onto its tangent plane at a centre
/// point C, from a point Q on C's normal at depth `r0` (the mean of the two
/// principal radii of curvature at C), scaled so that distances near C are
/// metres.
///
/// Why this projection: a plane through Q cuts the ellipsoid in a curve that
/// the projection maps onto a straight line, and because every surface normal
/// near C passes within a few hundred metres of Q, those plane sections are
/// very nearly geodesics. Measured against geographiclib (see the unit tests)
/// a 100 km geodesic deviates from a straight line by at most ~5 mm when it
/// lies near the centre, ~1.5 cm when it lies 100 km away and ~0.6 m at
/// 4,000 km; polygon edges are cut into pieces of at most
/// [`DENSIFY_MAX_EDGE_M`](crate::footprint) so the deviation (which grows
/// with the cube of the edge length) stays far below 1 m everywhere we
/// project. It plays the role of Karney's ellipsoidal gnomonic projection but
/// costs a dozen flops per point instead of a geodesic inverse (~0.5 µs),
/// which is what makes exact tests affordable on the write path.
pub(crate) struct Frame {
    q: V3,
    n: V3,
    e: V3,
    u: V3,
    r0: f64,
}

impl Frame {
    /// The frame centred at the surface point with unit normal `n`.
    pub(crate) fn at_normal(n: V3) -> Frame {
        let c = ecef_from_normal(&n);
        let w = 1.0 - E2 * n[2] * n[2];
        let prime_vertical = A / w.sqrt();
        let meridional = A * (1.0 - E2) / (w * w.sqrt());
        let r0 = 0.5 * (prime_vertical + meridional);
        let q = [c[0] - r0 * n[0], c[1] - r0 * n[1], c[2] - r0 * n[2]];
        let h = n[0].hypot(n[1]);
        // Any orthonormal tangent basis works; at a pole "east" is undefined,
        // so pick one.
        let e = if h > 1e-12 {
            [-n[1] / h, n[0] / h, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        let u = cross(&n, &e);
        Frame { q, n, e, u, r0 }
    }

    /// Plane coordinates (m) of the surface point `x`, or `None` when the
    /// point is too far from the centre (more than ~80° of arc) for the
    /// projection to be meaningful.
    #[inline]
    pub(crate) fn project(&self, x: &V3) -> Option<[f64; 2]> {
        let v = sub(x, &self.q);
        let t = dot(&v, &self.n);
        if t.is_nan() || t < 0.15 * self.r0 {
            return None;
        }
        let k = self.r0 / t;
        Some([k * dot(&v, &self.e), k * dot(&v, &self.u)])
    }

    /// Projects every point, or returns `false` if any is out of range.
    pub(crate) fn project_all(&self, xs: &[V3], out: &mut Vec<[f64; 2]>) -> bool {
        out.clear();
        out.reserve(xs.len());
        for x in xs {
            match self.project(x) {
                Some(p) => out.push(p),
                None => return false,
            }
        }
        true
    }

    /// The surface point that projects to plane point `p`: where the ray from
    /// Q through `p` leaves the ellipsoid (Q is inside, so there is exactly
    /// one such point).
    pub(crate) fn unproject(&self, p: [f64; 2]) -> V3 {
        let d = [
            self.r0 * self.n[0] + p[0] * self.e[0] + p[1] * self.u[0],
            self.r0 * self.n[1] + p[0] * self.e[1] + p[1] * self.u[1],
            self.r0 * self.n[2] + p[0] * self.e[2] + p[1] * self.u[2],
        ];
        // Scale to the unit sphere: x²/a² + y²/a² + z²/b² = 1.
        let qs = [self.q[0] / A, self.q[1] / A, self.q[2] / B];
        let ds = [d[0] / A, d[1] / A, d[2] / B];
        let aa = dot(&ds, &ds);
        let bb = dot(&qs, &ds);
        let cc = dot(&qs, &qs) - 1.0;
        let lambda = (-bb + (bb * bb - aa * cc).max(0.0).sqrt()) / aa;
        [
            self.q[0] + lambda * d[0],
            self.q[1] + lambda * d[1],
            self.q[2] + lambda * d[2],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geographiclib_rs::DirectGeodesic;

    /// Small deterministic generator so these tests need no extra dependency.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.next()
        }
    }

    fn ecef(lat: f64, lng: f64) -> V3 {
        ecef_from_normal(&normal(lat, lng))
    }

    /// Worst deviation (m) of a geodesic from the straight line between its
    /// projected end points, for geodesics of length `len` starting up to
    /// `offset` from the projection centre.
    fn worst_straightness(offset: f64, len: f64, rng: &mut Lcg) -> f64 {
        let g = geodesic();
        let mut worst = 0.0f64;
        for _ in 0..300 {
            let (lat0, lng0) = (rng.range(-89.9, 89.9), rng.range(-180.0, 180.0));
            let frame = Frame::at_normal(normal(lat0, lng0));
            let (la, loa): (f64, f64) =
                g.direct(lat0, lng0, rng.range(0.0, 360.0), offset * rng.next());
            let az = rng.range(0.0, 360.0);
            let (lb, lob): (f64, f64) = g.direct(la, loa, az, len);
            let a = frame.project(&ecef(la, loa)).unwrap();
            let b = frame.project(&ecef(lb, lob)).unwrap();
            let d = [b[0] - a[0], b[1] - a[1]];
            let l = d[0].hypot(d[1]);
            for k in 1..16 {
                let (lm, lom): (f64, f64) = g.direct(la, loa, az, len * k as f64 / 16.0);
                let m = frame.project(&ecef(lm, lom)).unwrap();
                let dev = ((m[0] - a[0]) * d[1] - (m[1] - a[1]) * d[0]).abs() / l;
                worst = worst.max(dev);
            }
        }
        worst
    }

    #[test]
    fn geodesics_are_nearly_straight_in_the_frame() {
        let mut rng = Lcg(7);
        // (offset from centre, edge length, allowed deviation in metres);
        // the measured values are about half the bounds.
        for (offset, len, bound) in [
            (0.0, 100e3, 0.01),
            (100e3, 100e3, 0.03),
            (50e3, 50e3, 0.01),
            (1_000e3, 50e3, 0.05),
            (4_000e3, 50e3, 0.2),
        ] {
            let w = worst_straightness(offset, len, &mut rng);
            assert!(
                w < bound,
                "offset {offset} len {len}: deviation {w} m >= {bound} m"
            );
        }
    }

    #[test]
    fn unproject_inverts_project() {
        let mut rng = Lcg(3);
        let g = geodesic();
        for _ in 0..500 {
            let (lat0, lng0) = (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            let frame = Frame::at_normal(normal(lat0, lng0));
            let (lat, lng): (f64, f64) =
                g.direct(lat0, lng0, rng.range(0.0, 360.0), rng.range(0.0, 3_000e3));
            let x = ecef(lat, lng);
            let back = frame.unproject(frame.project(&x).unwrap());
            assert!(norm(&sub(&x, &back)) < 1e-6, "{x:?} vs {back:?}");
        }
    }

    #[test]
    fn chord_bounds_bracket_the_geodesic() {
        let mut rng = Lcg(5);
        let g = geodesic();
        for _ in 0..2000 {
            let (lat0, lng0) = (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            let s = rng.range(0.0, 5_000e3);
            let (lat, lng): (f64, f64) = g.direct(lat0, lng0, rng.range(0.0, 360.0), s);
            let chord = norm(&sub(&ecef(lat0, lng0), &ecef(lat, lng)));
            assert!(chord <= s + 1e-6);
            assert!(geodesic_upper_bound(chord) >= s - 1e-6, "{s} {chord}");
        }
    }
}
