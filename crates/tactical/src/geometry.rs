//! Closest point of approach between two aircraft, in two models.
//!
//! - [`bluesky_pair`] reproduces BlueSky 1.1.1's `StateBased.detect` (python
//!   geo) operation by operation, so that its float results are the same:
//!   flat earth on a 6371 km sphere, the NM round trip, the bearing round
//!   trip, the `dv2` and `dvs` clamps. Each ordered pair is evaluated on its
//!   own, which is why level pairs one minimum apart can be asymmetric.
//! - [`default_pair`] is the correct model: relative position and velocities
//!   on the WGS84 ellipsoid, projected on the tangent plane at the pair's
//!   mean normal (so the antimeridian and the poles need no special case and
//!   the result does not depend on which aircraft is "own"), and the vertical
//!   interval without any clamp.
//!
//! Both are pure functions of two states; the pruning lives in `engine`.

use crate::units::{Minima, NM};

/// Radius of BlueSky's spherical earth (m).
pub const RE_BLUESKY: f64 = 6_371_000.0;

/// Kinematic state of one aircraft at the detection time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kinematics {
    pub lat_deg: f64,
    pub lon_deg: f64,
    pub alt_m: f64,
    /// Ground velocity, east component (m/s).
    pub east_mps: f64,
    /// Ground velocity, north component (m/s).
    pub north_mps: f64,
    /// Vertical speed, positive up (m/s).
    pub vs_mps: f64,
}

impl Kinematics {
    /// From ground speed (m/s) and track (radians clockwise from true
    /// north), as surveillance reports and scenarios give them.
    pub fn from_track(
        lat_deg: f64,
        lon_deg: f64,
        alt_m: f64,
        gs_mps: f64,
        track_rad: f64,
        vs_mps: f64,
    ) -> Kinematics {
        Kinematics {
            lat_deg,
            lon_deg,
            alt_m,
            east_mps: gs_mps * track_rad.sin(),
            north_mps: gs_mps * track_rad.cos(),
            vs_mps,
        }
    }

    pub fn ground_speed(&self) -> f64 {
        self.east_mps.hypot(self.north_mps)
    }
}

/// The state `dt` seconds later along the current ground velocity and
/// vertical speed, stepping on the WGS84 local radii (exact enough over the
/// few kilometres a stale report is carried).
pub fn advance(k: &Kinematics, dt: f64) -> Kinematics {
    const A: f64 = 6_378_137.0;
    const E2: f64 = 6.694_379_990_14e-3;
    let (sp, cp) = rad(k.lat_deg).sin_cos();
    let w = 1.0 - E2 * sp * sp;
    let m = A * (1.0 - E2) / w.powf(1.5);
    let n = A / w.sqrt();
    let lat = k.lat_deg + deg(k.north_mps * dt / m);
    let lon = if cp > 1e-9 {
        k.lon_deg + deg(k.east_mps * dt / (n * cp))
    } else {
        k.lon_deg
    };
    Kinematics {
        lat_deg: lat.clamp(-90.0, 90.0),
        lon_deg: (lon + 180.0).rem_euclid(360.0) - 180.0,
        alt_m: k.alt_m + k.vs_mps * dt,
        ..*k
    }
}

/// What the detector says about one pair (own `i`, intruder `j`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairGeometry {
    /// Horizontal time to closest point of approach (s).
    pub tcpa_s: f64,
    /// Horizontal distance at closest approach (m).
    pub dcpa_m: f64,
    /// Predicted start of the loss of separation (s); negative when already
    /// in it, `-inf` when it has always been (constant relative state).
    pub tin_s: f64,
    /// Predicted end of the loss of separation (s) (`inf`: never ends).
    pub tout_s: f64,
    /// Current horizontal distance (m).
    pub dist_m: f64,
    /// Current altitude difference `alt_j - alt_i` (m).
    pub dalt_m: f64,
    /// A loss of separation is predicted within the lookahead (or ongoing).
    pub conflict: bool,
    /// Separation is lost now.
    pub los: bool,
}

/// numpy's `%` for a positive divisor: the result has the divisor's sign.
///
/// `rem_euclid` calls `fmod`; the common cases take a shortcut with the
/// very same result: `fmod` is exact, so for `0 <= a < b` it is `a`; for
/// `b <= a < 2b` it is `a - b`, which the subtraction gives exactly
/// (Sterbenz); for `-b < a < 0` it is `a`, to which `rem_euclid` adds `b`,
/// as here.
fn floor_mod(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        if a >= 0.0 && a < b {
            return a;
        }
        if a >= b && a < 2.0 * b {
            return a - b;
        }
        if a < 0.0 && a > -b {
            return a + b;
        }
    }
    a.rem_euclid(b)
}

fn rad(x: f64) -> f64 {
    x * (std::f64::consts::PI / 180.0)
}

fn deg(x: f64) -> f64 {
    x * (180.0 / std::f64::consts::PI)
}

/// BlueSky's `kwikqdrdist` up to the distance, for the pair (own `i`,
/// intruder `j`): (Δlat rad, Δlon rad, cos of the mean latitude, angle,
/// distance m), in BlueSky's order of operations (shared by the exact model
/// and its pre-filter so that both round alike).
#[inline(always)]
fn kwik_dist(i: &Kinematics, j: &Kinematics) -> (f64, f64, f64, f64, f64) {
    let dlat = rad(j.lat_deg - i.lat_deg);
    let dlon = rad(floor_mod((j.lon_deg - i.lon_deg) + 180.0, 360.0) - 180.0);
    let cavelat = (rad(j.lat_deg + i.lat_deg) * 0.5).cos();
    let dangle = (dlat * dlat + (dlon * dlon) * (cavelat * cavelat)).sqrt();
    let dist = (RE_BLUESKY * dangle / NM) * NM;
    (dlat, dlon, cavelat, dangle, dist)
}

/// BlueSky's closest point of approach from the relative position
/// (`dx`, `dy`, at `dist`) and velocity: (|v_rel|, with |v_rel|² clamped to
/// ≥ 1e-6, tcpa s, dcpa² m²), in BlueSky's order of operations.
#[inline(always)]
fn relative_cpa(i: &Kinematics, j: &Kinematics, dist: f64, dx: f64, dy: f64) -> (f64, f64, f64) {
    let du = j.east_mps - i.east_mps;
    let dv = j.north_mps - i.north_mps;
    let mut dv2 = du * du + dv * dv;
    if dv2.abs() < 1e-6 {
        dv2 = 1e-6;
    }
    let vrel = dv2.sqrt();
    let tcpa = -(du * dx + dv * dy) / dv2;
    let dcpa2 = (dist * dist - (tcpa * tcpa) * dv2).abs();
    (vrel, tcpa, dcpa2)
}

/// BlueSky StateBased for the ordered pair (own `i`, intruder `j`). Every
/// expression is in the order of BlueSky's numpy code (see
/// `shared/bluesky/README.md`), including the ones that look redundant
/// (`/ nm * nm`, the bearing round trip), because each one rounds.
pub fn bluesky_pair(
    i: &Kinematics,
    j: &Kinematics,
    minima: Minima,
    lookahead_s: f64,
) -> PairGeometry {
    let r = minima.horizontal_m;
    let h = minima.vertical_m;
    // kwikqdrdist_matrix
    let (dlat, dlon, cavelat, _, dist) = kwik_dist(i, j);
    let qdr = floor_mod(deg((dlon * cavelat).atan2(dlat)), 360.0);
    let qdrrad = rad(qdr);
    let dx = dist * qdrrad.sin();
    let dy = dist * qdrrad.cos();

    let (vrel, tcpa, dcpa2) = relative_cpa(i, j, dist, dx, dy);
    let r2 = r * r;
    let hor = dcpa2 < r2;
    let dxinhor = (r2 - dcpa2).max(0.0).sqrt();
    let dtinhor = dxinhor / vrel;
    let (tinhor, touthor) = if hor {
        (tcpa - dtinhor, tcpa + dtinhor)
    } else {
        (1e8, -1e8)
    };

    let dalt = j.alt_m - i.alt_m;
    let mut dvs = j.vs_mps - i.vs_mps;
    if dvs.abs() < 1e-6 {
        // BlueSky clamps to +1e-6 whatever the sign (quirk 4).
        dvs = 1e-6;
    }
    let tcrosshi = (dalt + h) / -dvs;
    let tcrosslo = (dalt - h) / -dvs;
    let tinver = tcrosshi.min(tcrosslo);
    let toutver = tcrosshi.max(tcrosslo);

    let tinconf = tinver.max(tinhor);
    let toutconf = toutver.min(touthor);
    let conflict = hor && tinconf <= toutconf && toutconf > 0.0 && tinconf < lookahead_s;
    let los = dist < r && dalt.abs() < h;
    PairGeometry {
        tcpa_s: tcpa,
        dcpa_m: dcpa2.sqrt(),
        tin_s: tinconf,
        tout_s: toutconf,
        dist_m: dist,
        dalt_m: dalt,
        conflict,
        los,
    }
}

/// Whether [`bluesky_pair`] can report the unordered pair `{i, j}` (conflict
/// or loss of separation) in either direction: `false` only when neither
/// `bluesky_pair(i, j)` nor `bluesky_pair(j, i)` does. A cheap filter for
/// the engine (one `cos`, no bearing).
///
/// It takes BlueSky's terms with BlueSky's operations (distance, relative
/// velocity and its clamp, the vertical interval and its clamp, in each
/// direction), except the relative position, which it takes from the
/// angles directly instead of through the bearing round trip: that moves
/// it by rounding only (about 1e-15 of the distance, so ~1e-9 m here),
/// and so moves `tcpa` by ~1e-9 m / |relative velocity| and `dcpa²` by
/// ~1e-3 m² at 1,000 km. Against that, the horizontal minimum is taken 1 cm
/// wider: `r²` grows by ~185 m² at 5 NM and the horizontal interval by
/// ~0.01 m / |relative velocity| on each side, so each direction's interval
/// is inside this one and every test of BlueSky's only gets easier. The
/// reverse direction differs from the forward one by rounding only (same
/// bounds), except in the vertical clamp, which is done for each.
pub(crate) fn bluesky_may_report(
    i: &Kinematics,
    j: &Kinematics,
    minima: Minima,
    lookahead_s: f64,
) -> bool {
    const MARGIN_M: f64 = 0.01;
    let r = minima.horizontal_m;
    let h = minima.vertical_m;
    let (dlat, dlon, cavelat, dangle, dist) = kwik_dist(i, j);
    let dalt = j.alt_m - i.alt_m;
    // Loss of separation now (the reverse distance differs by rounding).
    if dist < r + MARGIN_M && dalt.abs() < h {
        return true;
    }
    // dist · (sin, cos) of the bearing, without the bearing.
    let (dx, dy) = if dangle > 0.0 {
        (dist * (dlon * cavelat / dangle), dist * (dlat / dangle))
    } else {
        (0.0, 0.0)
    };
    let (vrel, tcpa, dcpa2) = relative_cpa(i, j, dist, dx, dy);
    let rw = r + MARGIN_M;
    let r2 = rw * rw;
    if dcpa2 >= r2 {
        return false;
    }
    let dtinhor = (r2 - dcpa2).sqrt() / vrel;
    let (tinhor, touthor) = (tcpa - dtinhor, tcpa + dtinhor);
    let conflict = |dalt: f64, dvs: f64| {
        let mut dvs = dvs;
        if dvs.abs() < 1e-6 {
            dvs = 1e-6;
        }
        let tcrosshi = (dalt + h) / -dvs;
        let tcrosslo = (dalt - h) / -dvs;
        let tinconf = tcrosshi.min(tcrosslo).max(tinhor);
        let toutconf = tcrosshi.max(tcrosslo).min(touthor);
        tinconf <= toutconf && toutconf > 0.0 && tinconf < lookahead_s
    };
    conflict(dalt, j.vs_mps - i.vs_mps) || conflict(i.alt_m - j.alt_m, i.vs_mps - j.vs_mps)
}

// WGS84
const WGS84_A: f64 = 6_378_137.0;
const WGS84_F: f64 = 1.0 / 298.257_223_563;

type V3 = [f64; 3];

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn scale(a: V3, k: f64) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}

/// Position on the ellipsoid surface (ECEF, metres), the geodetic up vector,
/// and the horizontal ground velocity as an ECEF vector. East and north are
/// written from the longitude and latitude directly, so they stay defined
/// at the poles (where "east" depends on the longitude one reports).
fn ecef_frame(k: &Kinematics) -> (V3, V3, V3) {
    let (sp, cp) = rad(k.lat_deg).sin_cos();
    let (sl, cl) = rad(k.lon_deg).sin_cos();
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let n = WGS84_A / (1.0 - e2 * sp * sp).sqrt();
    let pos = [n * cp * cl, n * cp * sl, n * (1.0 - e2) * sp];
    let up = [cp * cl, cp * sl, sp];
    let east = [-sl, cl, 0.0];
    let north = [-sp * cl, -sp * sl, cp];
    let vel = add(scale(east, k.east_mps), scale(north, k.north_mps));
    (pos, up, vel)
}

/// Entry and exit times of `|p + w t| < r` for 2-D (here: 3-D vectors in a
/// plane) relative motion; `None` if never.
fn disc_interval(p: V3, w: V3, r: f64) -> Option<(f64, f64)> {
    let w2 = dot(w, w);
    let p2 = dot(p, p);
    if w2 < 1e-12 {
        return (p2 < r * r).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let tcpa = -dot(p, w) / w2;
    let d2 = (p2 - tcpa * tcpa * w2).max(0.0);
    if d2 >= r * r {
        return None;
    }
    let half = ((r * r - d2) / w2).sqrt();
    Some((tcpa - half, tcpa + half))
}

/// The correct model for an unordered pair; symmetric by construction (the
/// tangent plane is the one at the mean of both normals, and swapping `i`
/// and `j` only negates the relative vectors).
pub fn default_pair(
    i: &Kinematics,
    j: &Kinematics,
    minima: Minima,
    lookahead_s: f64,
) -> PairGeometry {
    default_pair_frames(&EcefFrame::new(i), &EcefFrame::new(j), minima, lookahead_s)
}

/// What [`default_pair`] needs of one aircraft, computed once per aircraft
/// when it takes part in many pairs (same operations, so the same bits).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EcefFrame {
    pos: V3,
    up: V3,
    vel: V3,
    alt_m: f64,
    vs_mps: f64,
}

impl EcefFrame {
    pub(crate) fn new(k: &Kinematics) -> EcefFrame {
        let (pos, up, vel) = ecef_frame(k);
        EcefFrame {
            pos,
            up,
            vel,
            alt_m: k.alt_m,
            vs_mps: k.vs_mps,
        }
    }
}

/// [`default_pair`] on precomputed frames.
pub(crate) fn default_pair_frames(
    i: &EcefFrame,
    j: &EcefFrame,
    minima: Minima,
    lookahead_s: f64,
) -> PairGeometry {
    let r = minima.horizontal_m;
    let h = minima.vertical_m;
    let (pi, ui, vi) = (i.pos, i.up, i.vel);
    let (pj, uj, vj) = (j.pos, j.up, j.vel);
    let mut n = add(ui, uj);
    let nn = dot(n, n).sqrt();
    // Antipodal aircraft have no common plane; they are also 20,000 km apart.
    n = if nn > 1e-9 { scale(n, 1.0 / nn) } else { ui };
    let horizontal = |v: V3| sub(v, scale(n, dot(v, n)));
    // The relative position is the chord, laid in the tangent plane with its
    // length kept: below ~100 km chord, projection and arc agree to well
    // under a millimetre, and far apart (up to antipodal, where the
    // projection of the chord vanishes) the distance stays monotonic.
    let chord = sub(pj, pi);
    let projected = horizontal(chord);
    let (cl, pl) = (dot(chord, chord).sqrt(), dot(projected, projected).sqrt());
    let p = if pl > 1e-9 * cl {
        scale(projected, cl / pl)
    } else {
        chord
    };
    let w = horizontal(sub(vj, vi));
    let dist = dot(p, p).sqrt();
    let w2 = dot(w, w);
    let tcpa = if w2 < 1e-12 { 0.0 } else { -dot(p, w) / w2 };
    let dcpa = dot(add(p, scale(w, tcpa)), add(p, scale(w, tcpa))).sqrt();

    let dalt = j.alt_m - i.alt_m;
    let dvs = j.vs_mps - i.vs_mps;
    let vertical = if dvs == 0.0 {
        (dalt.abs() < h).then_some((f64::NEG_INFINITY, f64::INFINITY))
    } else {
        let a = (-h - dalt) / dvs;
        let b = (h - dalt) / dvs;
        Some((a.min(b), a.max(b)))
    };
    let horiz = disc_interval(p, w, r);
    let (tin, tout, conflict) = match (horiz, vertical) {
        (Some((a, b)), Some((c, d))) => {
            let tin = a.max(c);
            let tout = b.min(d);
            (tin, tout, tin < tout && tout > 0.0 && tin < lookahead_s)
        }
        _ => (f64::INFINITY, f64::NEG_INFINITY, false),
    };
    PairGeometry {
        tcpa_s: tcpa,
        dcpa_m: dcpa,
        tin_s: tin,
        tout_s: tout,
        dist_m: dist,
        dalt_m: dalt,
        conflict,
        los: dist < r && dalt.abs() < h,
    }
}

/// Horizontal distance between two points on the WGS84 ellipsoid, measured
/// as `default_pair` does (chord projected on the mean tangent plane; within
/// millimetres of the geodesic below ~50 km).
pub fn tangent_distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let k = |lat_deg, lon_deg| Kinematics {
        lat_deg,
        lon_deg,
        alt_m: 0.0,
        east_mps: 0.0,
        north_mps: 0.0,
        vs_mps: 0.0,
    };
    default_pair(&k(lat1, lon1), &k(lat2, lon2), Minima::EN_ROUTE, 0.0).dist_m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::FT;

    fn ac(lat: f64, lon: f64, alt: f64, e: f64, n: f64, vs: f64) -> Kinematics {
        Kinematics {
            lat_deg: lat,
            lon_deg: lon,
            alt_m: alt,
            east_mps: e,
            north_mps: n,
            vs_mps: vs,
        }
    }

    #[test]
    fn floor_mod_shortcuts_equal_rem_euclid() {
        let mut cases: Vec<f64> = vec![0.0, -0.0, 360.0, 720.0, -360.0, 180.0, -180.0, 540.0];
        for x in [
            1e-300,
            1e-20,
            1e-9,
            0.1,
            179.99,
            359.999_999_999,
            400.0,
            719.9,
        ] {
            for y in [x, -x, 360.0 - x, 360.0 + x, -360.0 + x, 720.0 - x] {
                cases.push(y);
                cases.push(f64::from_bits(y.to_bits() + 1));
                cases.push(f64::from_bits(y.to_bits().saturating_sub(1)));
            }
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            cases.push(((s >> 11) as f64 / (1u64 << 53) as f64) * 1440.0 - 720.0);
        }
        for a in cases {
            assert_eq!(
                floor_mod(a, 360.0).to_bits(),
                a.rem_euclid(360.0).to_bits(),
                "{a:e}"
            );
        }
    }

    #[test]
    fn head_on_at_equator_default() {
        // 0.2 deg apart on the equator (~22.26 km), closing at 400 m/s.
        let a = ac(0.0, 0.0, 10000.0, 200.0, 0.0, 0.0);
        let b = ac(0.0, 0.2, 10000.0, -200.0, 0.0, 0.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        let d = 0.2f64.to_radians() * 6_378_137.0;
        assert!((g.dist_m - d).abs() < 2.0, "{}", g.dist_m);
        assert!((g.tcpa_s - d / 400.0).abs() < 0.01);
        assert!(g.dcpa_m < 1e-3);
        assert!((g.tin_s - (d - 9260.0) / 400.0).abs() < 0.01);
        assert!((g.tout_s - (d + 9260.0) / 400.0).abs() < 0.01);
        assert!(g.conflict && !g.los);
    }

    #[test]
    fn antimeridian_and_pole_are_continuous() {
        // Across the antimeridian: 179.95E and 179.95W, converging.
        let a = ac(10.0, 179.95, 9000.0, 150.0, 0.0, 0.0);
        let b = ac(10.0, -179.95, 9000.0, -150.0, 0.0, 0.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        let d = 0.1f64.to_radians() * 6_378_137.0 * 10f64.to_radians().cos();
        assert!((g.dist_m - d).abs() < 50.0, "{} vs {d}", g.dist_m);
        assert!(g.conflict);
        // Over the north pole: one on each side, flying north towards it.
        let a = ac(89.95, 0.0, 9000.0, 0.0, 200.0, 0.0);
        let b = ac(89.95, 180.0, 9000.0, 0.0, 200.0, 0.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        let d = 0.1f64.to_radians() * 6_356_752.0;
        assert!((g.dist_m - d).abs() < 100.0, "{} vs {d}", g.dist_m);
        assert!((g.tcpa_s - d / 400.0).abs() < 0.5, "{}", g.tcpa_s);
        assert!(g.conflict);
        // Exactly at the pole, with a longitude chosen by the reporter.
        let a = ac(90.0, 45.0, 9000.0, 0.0, 0.0, 0.0);
        let b = ac(89.99, 45.0, 9000.0, 0.0, 100.0, 0.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        assert!(g.los && g.dcpa_m < 1.0);
    }

    #[test]
    fn far_apart_aircraft_are_far_apart() {
        let a = ac(90.0, 0.0, 9000.0, 0.0, 0.0, 0.0);
        let b = ac(-90.0, 0.0, 9000.0, 0.0, 0.0, 0.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        assert!(g.dist_m > 12_000_000.0 && !g.los && !g.conflict, "{g:?}");
        let c = ac(0.0, 100.0, 9000.0, 0.0, 0.0, 0.0);
        let d = ac(0.0, -80.0, 9000.0, 0.0, 0.0, 0.0);
        assert!(default_pair(&c, &d, Minima::EN_ROUTE, 300.0).dist_m > 12_000_000.0);
    }

    #[test]
    fn bluesky_level_pair_quirk_is_asymmetric() {
        // Two level aircraft exactly 1000 ft apart on converging tracks: the
        // upper one (own) sees the lower one as entering, not the reverse.
        let up = ac(35.0, 38.0, 11000.0 * FT, 200.0, 0.0, 0.0);
        let low = ac(35.0, 38.1, 10000.0 * FT, -200.0, 0.0, 0.0);
        let a = bluesky_pair(&up, &low, Minima::EN_ROUTE, 300.0);
        let b = bluesky_pair(&low, &up, Minima::EN_ROUTE, 300.0);
        assert!(a.conflict);
        assert!(!b.conflict);
        let (da, db) = (
            default_pair(&up, &low, Minima::EN_ROUTE, 300.0),
            default_pair(&low, &up, Minima::EN_ROUTE, 300.0),
        );
        assert!(!da.conflict && !db.conflict);
    }

    #[test]
    fn default_vertical_only_conflict() {
        // Same position, one climbing through the other's level in 100 s.
        let a = ac(46.0, 7.0, 10000.0, 0.0, 0.0, 0.0);
        let b = ac(46.0, 7.0, 10000.0 - 1000.0, 0.0, 0.0, 10.0);
        let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
        assert!(g.conflict && !g.los);
        assert!((g.tin_s - (1000.0 - 304.8) / 10.0).abs() < 1e-9);
        assert!((g.tout_s - (1000.0 + 304.8) / 10.0).abs() < 1e-9);
    }

    /// `bluesky_may_report` must say yes whenever BlueSky reports the pair
    /// in either direction, on the edges of its quirks too: altitudes one
    /// minimum apart (exactly, and by a rounding either way), vertical
    /// speeds around the 1e-6 clamp, equal velocities (the `dv2` clamp),
    /// tangential encounters, poles and the antimeridian.
    #[test]
    fn bluesky_may_report_keeps_every_reported_pair() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let m = Minima::EN_ROUTE;
        let (mut reported, mut kept) = (0, 0);
        for case in 0..400_000u32 {
            let lat = match case % 4 {
                0 => (next() - 0.5) * 170.0,
                1 => 89.0 + next(),
                _ => (next() - 0.5) * 120.0,
            };
            let lon = if case % 3 == 0 {
                179.9 + next() * 0.2
            } else {
                (next() - 0.5) * 360.0
            };
            let lon = (lon + 180.0f64).rem_euclid(360.0) - 180.0;
            let reach = [0.05, 0.2, 1.0][(case % 3) as usize];
            let lat2 = (lat + (next() - 0.5) * reach).clamp(-90.0, 90.0);
            let lon2 = lon + (next() - 0.5) * reach;
            let alt = 3000.0 + (next() * 30.0).floor() * 304.8;
            let h = m.vertical_m;
            let alt2 = match case % 6 {
                0 => alt + h,
                1 => alt - h,
                2 => f64::from_bits((alt + h).to_bits() + 1),
                3 => f64::from_bits((alt - h).to_bits() - 1),
                4 => alt + (next() - 0.5) * 4.0 * h,
                _ => alt,
            };
            let vs = |x: f64| match case % 5 {
                0 => 0.0,
                1 => (x - 0.5) * 4e-6,
                2 => (x - 0.5) * 1e-3,
                _ => (x - 0.5) * 30.0,
            };
            let (gs, trk) = (100.0 + next() * 200.0, next() * std::f64::consts::TAU);
            let a = ac(lat, lon, alt, gs * trk.sin(), gs * trk.cos(), vs(next()));
            let b = if case % 7 == 0 {
                // Same velocity, or nearly.
                let e = (next() - 0.5) * 1e-3;
                ac(lat2, lon2, alt2, a.east_mps + e, a.north_mps, vs(next()))
            } else {
                let (gs, trk) = (100.0 + next() * 200.0, next() * std::f64::consts::TAU);
                ac(lat2, lon2, alt2, gs * trk.sin(), gs * trk.cos(), vs(next()))
            };
            for lookahead in [0.0, 300.0] {
                let g1 = bluesky_pair(&a, &b, m, lookahead);
                let g2 = bluesky_pair(&b, &a, m, lookahead);
                let any = g1.conflict || g1.los || g2.conflict || g2.los;
                let may = bluesky_may_report(&a, &b, m, lookahead);
                reported += usize::from(any);
                kept += usize::from(may);
                assert!(
                    !any || (may && bluesky_may_report(&b, &a, m, lookahead)),
                    "{a:?} {b:?} {lookahead}: {g1:?} {g2:?}"
                );
            }
        }
        // The filter is not vacuous: it keeps few pairs BlueSky does not
        // report.
        assert!(reported > 10_000, "{reported}");
        assert!(
            kept < reported + reported / 4,
            "{kept} kept, {reported} reported"
        );
    }

    proptest::proptest! {
        #[test]
        fn default_pair_is_symmetric(
            lat in -90.0f64..90.0, lon in -180.0f64..180.0,
            dlat in -0.3f64..0.3, dlon in -0.3f64..0.3,
            e1 in -300.0f64..300.0, n1 in -300.0f64..300.0,
            e2 in -300.0f64..300.0, n2 in -300.0f64..300.0,
            alt in 0.0f64..12000.0, dalt in -600.0f64..600.0, vs in -20.0f64..20.0,
        ) {
            let a = ac(lat, lon, alt, e1, n1, 0.0);
            let b = ac((lat + dlat).clamp(-90.0, 90.0), lon + dlon, alt + dalt, e2, n2, vs);
            let g1 = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
            let g2 = default_pair(&b, &a, Minima::EN_ROUTE, 300.0);
            proptest::prop_assert_eq!(g1.conflict, g2.conflict);
            proptest::prop_assert_eq!(g1.los, g2.los);
            proptest::prop_assert!((g1.dist_m - g2.dist_m).abs() < 1e-6);
            proptest::prop_assert!((g1.tcpa_s - g2.tcpa_s).abs() < 1e-6 * (1.0 + g1.tcpa_s.abs()));
        }

        #[test]
        fn default_cpa_is_the_minimum_of_sampled_distances(
            lat in -89.0f64..89.0, lon in -180.0f64..180.0,
            dlat in -0.2f64..0.2, dlon in -0.2f64..0.2,
            e1 in -300.0f64..300.0, n1 in -300.0f64..300.0,
            e2 in -300.0f64..300.0, n2 in -300.0f64..300.0,
        ) {
            // The CPA distance is never above the distance at any sampled time
            // (relative motion is linear in the tangent plane).
            let a = ac(lat, lon, 0.0, e1, n1, 0.0);
            let b = ac(lat + dlat, lon + dlon, 0.0, e2, n2, 0.0);
            let g = default_pair(&a, &b, Minima::EN_ROUTE, 300.0);
            proptest::prop_assert!(g.dcpa_m <= g.dist_m + 1e-6);
        }
    }
}
