//! The detection cycle: every pair of aircraft that is in, or is predicted
//! to enter, a loss of separation within the lookahead, without testing all
//! N² pairs.
//!
//! Pruning is by time slices. The lookahead is cut into slices of
//! `slice_s`; for each slice every aircraft is placed, at the slice's middle
//! time, in a latitude/longitude grid whose cells are at least one query
//! radius wide, and entries of a cell are sorted by altitude. Two aircraft
//! that come closer than R at some time of a slice are, at its middle time,
//! closer than `R + (s_i + s_j)·slice/2` horizontally (speeds bound how far
//! each moved) and closer than `H + (|vs_i| + |vs_j|)·slice/2` vertically, so
//! querying the grid with those radii finds every pair that can be in
//! conflict; the exact model then decides. Memory is O(N · slices + pairs).
//!
//! The pruning model (straight lines in earth-centred coordinates on a
//! sphere) is not the decision model, so the radii are widened by a bound
//! `f` on the relative difference between the two: the flat-earth
//! approximation of BlueSky differs from a sphere by about
//! `(D / Re) · tan(lat)` over a distance D, and the ellipsoid differs from
//! the sphere by under 1 %. BlueSky's flat earth is not bounded near the
//! poles at all, so in that mode aircraft beyond 80° are tested against
//! everyone (they are rare).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::geometry::{bluesky_pair, default_pair, Kinematics, PairGeometry};
use crate::units::Minima;

/// Which decision model to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// BlueSky 1.1.1 `StateBased` (python geo), quirks included; directed pairs.
    Bluesky,
    /// Ellipsoid tangent plane, no clamps; unordered pairs (`i < j`).
    Default,
}

/// A latitude/longitude/altitude box. `lon_min > lon_max` means the box
/// crosses the antimeridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub lat_min_deg: f64,
    pub lat_max_deg: f64,
    pub lon_min_deg: f64,
    pub lon_max_deg: f64,
    pub alt_min_m: f64,
    pub alt_max_m: f64,
}

impl Area {
    pub fn contains(&self, k: &Kinematics) -> bool {
        let lon_in = if self.lon_min_deg <= self.lon_max_deg {
            (self.lon_min_deg..=self.lon_max_deg).contains(&k.lon_deg)
        } else {
            k.lon_deg >= self.lon_min_deg || k.lon_deg <= self.lon_max_deg
        };
        lon_in
            && (self.lat_min_deg..=self.lat_max_deg).contains(&k.lat_deg)
            && (self.alt_min_m..=self.alt_max_m).contains(&k.alt_m)
    }
}

/// Minima that depend on where an aircraft is: the first rule whose area
/// contains it applies, else the default. A pair uses the larger minima of
/// its two aircraft in each dimension (an aircraft near an airport, 3 NM,
/// meeting one en route, 5 NM, is separated by 5 NM).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MinimaRules {
    pub default: Minima,
    pub rules: Vec<(Area, Minima)>,
}

impl MinimaRules {
    pub fn uniform(minima: Minima) -> Self {
        MinimaRules {
            default: minima,
            rules: Vec::new(),
        }
    }

    pub fn for_aircraft(&self, k: &Kinematics) -> Minima {
        self.rules
            .iter()
            .find(|(area, _)| area.contains(k))
            .map_or(self.default, |(_, m)| *m)
    }
}

/// Parameters of one detection cycle.
#[derive(Clone, Debug)]
pub struct DetectParams {
    pub mode: Mode,
    pub lookahead_s: f64,
    pub minima: MinimaRules,
    /// Length of a pruning time slice (s); only changes speed, never results.
    pub slice_s: f64,
}

impl DetectParams {
    pub fn new(mode: Mode, lookahead_s: f64, minima: MinimaRules) -> Self {
        DetectParams {
            mode,
            lookahead_s,
            minima,
            slice_s: 100.0,
        }
    }
}

/// One reported pair: `i` is the own aircraft, `j` the intruder (indices
/// into the state slice). In default mode `i < j` and the geometry is the
/// same seen from either side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairResult {
    pub i: u32,
    pub j: u32,
    pub geometry: PairGeometry,
}

fn evaluate(mode: Mode, a: &Kinematics, b: &Kinematics, m: Minima, lookahead: f64) -> PairGeometry {
    match mode {
        Mode::Bluesky => bluesky_pair(a, b, m, lookahead),
        Mode::Default => default_pair(a, b, m, lookahead),
    }
}

fn valid(k: &Kinematics) -> bool {
    k.lat_deg.is_finite()
        && k.lon_deg.is_finite()
        && k.alt_m.is_finite()
        && k.east_mps.is_finite()
        && k.north_mps.is_finite()
        && k.vs_mps.is_finite()
        && (-90.0..=90.0).contains(&k.lat_deg)
}

/// Reference O(N²) cycle: every pair, no pruning. For tests and tiny N.
pub fn detect_brute_force(states: &[Kinematics], params: &DetectParams) -> Vec<PairResult> {
    let minima: Vec<Minima> = states
        .iter()
        .map(|k| params.minima.for_aircraft(k))
        .collect();
    let mut out = Vec::new();
    for i in 0..states.len() {
        for j in 0..states.len() {
            if i == j
                || (params.mode == Mode::Default && j < i)
                || !valid(&states[i])
                || !valid(&states[j])
            {
                continue;
            }
            let g = evaluate(
                params.mode,
                &states[i],
                &states[j],
                minima[i].max(minima[j]),
                params.lookahead_s,
            );
            if g.conflict || g.los {
                out.push(PairResult {
                    i: i as u32,
                    j: j as u32,
                    geometry: g,
                });
            }
        }
    }
    out
}

/// Sphere radius used for pruning (m).
const RE: f64 = 6_371_000.0;

#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    /// Altitude at the slice's middle time (entries of a cell are sorted by it).
    alt: f64,
    idx: u32,
    track: Track,
}

/// An aircraft in the pruning model: a straight line in earth-centred
/// coordinates (m, m/s), from a point on the sphere along its tangent.
#[derive(Clone, Copy)]
struct Track {
    p: [f64; 3],
    v: [f64; 3],
    alt: f64,
    vs: f64,
}

impl Track {
    fn new(k: &Kinematics) -> Track {
        let (p, v) = sphere_state(k);
        Track {
            p: [p[0] * RE, p[1] * RE, p[2] * RE],
            v: [v[0] * RE, v[1] * RE, v[2] * RE],
            alt: k.alt_m,
            vs: k.vs_mps,
        }
    }
}

/// Whether two tracks can, in the pruning model, be closer than the
/// horizontal radius `r + c·|d|` and the vertical `h` at a common time
/// in `[0, lookahead]`. The vertical test has no clamp (it is the true
/// motion; BlueSky's clamp moves the interval by at most 1e-6 m/s, covered
/// by `h`'s slack).
fn may_conflict(a: &Track, b: &Track, r: f64, c: f64, h: f64, lookahead: f64) -> bool {
    let d = [b.p[0] - a.p[0], b.p[1] - a.p[1], b.p[2] - a.p[2]];
    let w = [b.v[0] - a.v[0], b.v[1] - a.v[1], b.v[2] - a.v[2]];
    let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    let rr = r + c * d2.sqrt();
    let w2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    let dw = d[0] * w[0] + d[1] * w[1] + d[2] * w[2];
    // Horizontal window: |d + w t|^2 <= rr^2.
    let (mut lo, mut hi) = (0.0f64, lookahead);
    if w2 < 1e-12 {
        if d2 > rr * rr {
            return false;
        }
    } else {
        let disc = dw * dw - w2 * (d2 - rr * rr);
        if disc < 0.0 {
            return false;
        }
        let sq = disc.sqrt();
        lo = lo.max((-dw - sq) / w2);
        hi = hi.min((-dw + sq) / w2);
    }
    // Vertical window: |dalt + dvs t| <= h.
    let dalt = b.alt - a.alt;
    let dvs = b.vs - a.vs;
    if dvs == 0.0 {
        if dalt.abs() > h {
            return false;
        }
    } else {
        let t1 = (-h - dalt) / dvs;
        let t2 = (h - dalt) / dvs;
        lo = lo.max(t1.min(t2));
        hi = hi.min(t1.max(t2));
    }
    lo <= hi
}

pub(crate) struct Grid {
    /// Row height (deg).
    row_deg: f64,
    nrows: i64,
    cell_m: f64,
}

impl Grid {
    pub(crate) fn new(cell_m: f64) -> Self {
        let row_deg = (cell_m / RE).to_degrees().min(180.0);
        Grid {
            row_deg,
            nrows: (180.0 / row_deg).ceil() as i64,
            cell_m,
        }
    }

    fn row(&self, lat: f64) -> i64 {
        (((lat + 90.0) / self.row_deg).floor() as i64).clamp(0, self.nrows - 1)
    }

    /// Columns of a row, so that each cell is at least `cell_m` wide at the
    /// row's poleward edge.
    fn ncols(&self, row: i64) -> i64 {
        let lo = -90.0 + row as f64 * self.row_deg;
        let hi = lo + self.row_deg;
        let edge = lo.abs().max(hi.abs()).min(90.0);
        let circumference = 2.0 * std::f64::consts::PI * RE * edge.to_radians().cos();
        ((circumference / self.cell_m).floor() as i64).max(1)
    }

    fn col(&self, row: i64, lon: f64) -> i64 {
        let n = self.ncols(row);
        let x = (lon + 180.0).rem_euclid(360.0) / 360.0;
        ((x * n as f64).floor() as i64).clamp(0, n - 1)
    }

    pub(crate) fn key(&self, lat: f64, lon: f64) -> u64 {
        let r = self.row(lat);
        ((r as u64) << 32) | self.col(r, lon) as u64
    }

    /// Calls `f` with the key of every cell that may hold a point within
    /// `radius_m` (arc) of (lat, lon).
    pub(crate) fn for_cells(&self, lat: f64, lon: f64, radius_m: f64, mut f: impl FnMut(u64)) {
        let dlat = (radius_m / RE).to_degrees();
        let (r0, r1) = (self.row(lat - dlat), self.row(lat + dlat));
        let edge = (lat - dlat).abs().max((lat + dlat).abs());
        let dlon = if edge >= 89.999 {
            360.0
        } else {
            let a = radius_m / (RE * edge.to_radians().cos());
            if a >= std::f64::consts::PI {
                360.0
            } else {
                a.to_degrees()
            }
        };
        for r in r0..=r1 {
            let n = self.ncols(r);
            let width = 360.0 / n as f64;
            let x = (lon + 180.0).rem_euclid(360.0);
            let c0 = ((x - dlon) / width).floor() as i64;
            let c1 = ((x + dlon) / width).floor() as i64;
            if c1 - c0 + 1 >= n {
                for c in 0..n {
                    f(((r as u64) << 32) | c as u64);
                }
            } else {
                for c in c0..=c1 {
                    f(((r as u64) << 32) | c.rem_euclid(n) as u64);
                }
            }
        }
    }
}

/// Unit-sphere position and tangent velocity of an aircraft.
fn sphere_state(k: &Kinematics) -> ([f64; 3], [f64; 3]) {
    let (sp, cp) = k.lat_deg.to_radians().sin_cos();
    let (sl, cl) = k.lon_deg.to_radians().sin_cos();
    let p = [cp * cl, cp * sl, sp];
    let e = [-sl, cl, 0.0];
    let n = [-sp * cl, -sp * sl, cp];
    let v = [
        (e[0] * k.east_mps + n[0] * k.north_mps) / RE,
        (e[1] * k.east_mps + n[1] * k.north_mps) / RE,
        (e[2] * k.east_mps + n[2] * k.north_mps) / RE,
    ];
    (p, v)
}

/// Position at time t, on the sphere of radius RE (m), with its lat/lon.
/// (The straight track normalised back onto the sphere: only its cell
/// matters, and the grid radii cover the difference.)
fn sphere_at(p: [f64; 3], v: [f64; 3], t: f64) -> ([f64; 3], f64, f64) {
    let q = [p[0] + v[0] * t, p[1] + v[1] * t, p[2] + v[2] * t];
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
    let u = [q[0] / n, q[1] / n, q[2] / n];
    let lat = u[2].clamp(-1.0, 1.0).asin().to_degrees();
    let lon = u[1].atan2(u[0]).to_degrees();
    ([u[0] * RE, u[1] * RE, u[2] * RE], lat, lon)
}

/// One detection cycle. Returns every pair in conflict within the lookahead
/// or in loss of separation now, sorted by (i, j). Aircraft with a
/// non-finite value or a latitude outside ±90° are ignored.
pub fn detect(states: &[Kinematics], params: &DetectParams) -> Vec<PairResult> {
    let n = states.len();
    if n < 2 {
        return Vec::new();
    }
    let lookahead = params.lookahead_s.max(0.0);
    let minima: Vec<Minima> = states
        .iter()
        .map(|k| params.minima.for_aircraft(k))
        .collect();
    let ok: Vec<bool> = states.iter().map(valid).collect();
    let r_max = minima.iter().map(|m| m.horizontal_m).fold(0.0, f64::max);
    let h_max = minima.iter().map(|m| m.vertical_m).fold(0.0, f64::max);
    let speed: Vec<f64> = states.iter().map(|k| k.ground_speed()).collect();
    let (mut s_max, mut vs_max, mut lat_max) = (0.0f64, 0.0f64, 0.0f64);
    for (k, s) in states.iter().zip(&speed).filter(|(k, _)| valid(k)) {
        s_max = s_max.max(*s);
        vs_max = vs_max.max(k.vs_mps.abs());
        lat_max = lat_max.max(k.lat_deg.abs());
    }

    // Model-difference bound (see the module comment). For a pair whose
    // distance is |d| now, the relative position in the pruning model and
    // in the decision model differ by at most `c_pos·|d|` (ellipsoid against
    // sphere, flat earth against chord) plus the rotation between the two
    // aircraft's local frames, an angle of at most `k_rot·|d|`, applied to
    // the distance they fly, `ssum·lookahead`.
    let d_max = r_max + 2.0 * s_max * lookahead;
    const POLAR_DEG: f64 = 80.0;
    let c_pos = 0.01;
    let k_rot = match params.mode {
        Mode::Bluesky => {
            let lat = (lat_max + (d_max / RE).to_degrees()).min(POLAR_DEG);
            (1.0 + lat.to_radians().tan()) / RE
        }
        Mode::Default => 2.0 / RE,
    };
    let c_of = |ssum: f64| c_pos + k_rot * ssum * lookahead;
    // With very long lookaheads the bound says nothing: test every pair.
    let exhaustive = c_of(2.0 * s_max) >= 0.5;
    let polar: Vec<u32> = if params.mode == Mode::Bluesky {
        (0..n as u32)
            .filter(|&i| ok[i as usize] && states[i as usize].lat_deg.abs() > POLAR_DEG)
            .collect()
    } else {
        Vec::new()
    };

    let slice = params.slice_s.clamp(1.0, lookahead.max(1.0));
    let nslices = ((lookahead / slice).ceil() as usize).max(1);
    // Straight lines leave the sphere: two tracks drift apart radially by at
    // most this much within the lookahead.
    let drift = (s_max * lookahead).powi(2) / (2.0 * RE);
    let r0 = r_max + drift + 50.0;
    let h_test = h_max + 1.0;
    // Grid queries: a pair that passes `may_conflict` is, at the middle time
    // of some slice, within this chord: |d| <= chord(tm) + ssum·tm, and
    // chord(tm) <= r0 + c|d| + ssum·slice/2.
    let reach = |ssum: f64, tm: f64| {
        let c = c_of(ssum);
        (r0 + c * ssum * tm + ssum * slice / 2.0) / (1.0 - c)
    };
    let grid = Grid::new(reach(2.0 * s_max, 0.0));
    // Level aircraft (|vs| <= LEVEL_VS) are kept in cells of their own, so
    // that a level own aircraft scans level traffic within ±H only.
    const LEVEL_VS: f64 = 0.5;
    const MOVING: u64 = 1 << 63;

    let tracks: Vec<Track> = states.iter().map(Track::new).collect();
    let sphere: Vec<([f64; 3], [f64; 3])> = states.iter().map(sphere_state).collect();
    // Per slice: entries sorted by (cell, altitude at the middle time), and
    // cell -> range of entries.
    type SliceData = (Vec<Entry>, Vec<f64>, FxHashMap<u64, (u32, u32)>);
    let slices: Vec<SliceData> = (0..nslices)
        .into_par_iter()
        .map(|s| {
            let tm = (s as f64 + 0.5) * slice;
            let mut entries: Vec<Entry> = (0..n)
                .filter(|&i| ok[i])
                .map(|i| {
                    let (_, lat, lon) = sphere_at(sphere[i].0, sphere[i].1, tm);
                    let class = if states[i].vs_mps.abs() <= LEVEL_VS {
                        0
                    } else {
                        MOVING
                    };
                    Entry {
                        key: grid.key(lat, lon) | class,
                        alt: states[i].alt_m + states[i].vs_mps * tm,
                        idx: i as u32,
                        track: tracks[i],
                    }
                })
                .collect();
            entries.sort_unstable_by(|a, b| a.key.cmp(&b.key).then(a.alt.total_cmp(&b.alt)));
            let mut cells = FxHashMap::default();
            let mut start = 0;
            while start < entries.len() {
                let key = entries[start].key;
                let mut end = start + 1;
                while end < entries.len() && entries[end].key == key {
                    end += 1;
                }
                cells.insert(key, (start as u32, end as u32));
                start = end;
            }
            let alts = entries.iter().map(|e| e.alt).collect();
            (entries, alts, cells)
        })
        .collect();

    let per_own = |i: usize| -> Vec<PairResult> {
        if !ok[i] {
            return Vec::new();
        }
        let mut cand: Vec<u32> = Vec::new();
        if exhaustive || (params.mode == Mode::Bluesky && states[i].lat_deg.abs() > POLAR_DEG) {
            cand.extend((0..n as u32).filter(|&j| ok[j as usize]));
        } else {
            cand.extend_from_slice(&polar);
            let own = &tracks[i];
            for (s, (entries, alts, cells)) in slices.iter().enumerate() {
                let tm = (s as f64 + 0.5) * slice;
                let (_, lat, lon) = sphere_at(sphere[i].0, sphere[i].1, tm);
                let alt = states[i].alt_m + states[i].vs_mps * tm;
                let own_vs = states[i].vs_mps.abs();
                let dz_level = h_test + (own_vs + LEVEL_VS) * slice / 2.0;
                let dz_moving = h_test + (own_vs + vs_max) * slice / 2.0;
                grid.for_cells(lat, lon, reach(speed[i] + s_max, tm) * 1.001, |key| {
                    for (key, dz) in [(key, dz_level), (key | MOVING, dz_moving)] {
                        let Some(&(a, b)) = cells.get(&key) else {
                            continue;
                        };
                        let cell = &entries[a as usize..b as usize];
                        let lo = alts[a as usize..b as usize].partition_point(|&x| x < alt - dz);
                        for e in &cell[lo..] {
                            if e.alt > alt + dz {
                                break;
                            }
                            let j = e.idx as usize;
                            // Each unordered pair is found from its lower index.
                            if j <= i {
                                continue;
                            }
                            let ssum = speed[i] + speed[j];
                            if may_conflict(own, &e.track, r0, c_of(ssum), h_test, lookahead) {
                                cand.push(e.idx);
                            }
                        }
                    }
                });
            }
        }
        cand.sort_unstable();
        cand.dedup();
        let mut out = Vec::new();
        for j in cand.into_iter().filter(|&j| j as usize > i) {
            let ju = j as usize;
            let m = minima[i].max(minima[ju]);
            let g = evaluate(params.mode, &states[i], &states[ju], m, lookahead);
            if g.conflict || g.los {
                out.push(PairResult {
                    i: i as u32,
                    j,
                    geometry: g,
                });
            }
            // BlueSky evaluates each direction on its own (they can differ).
            if params.mode == Mode::Bluesky {
                let g = evaluate(params.mode, &states[ju], &states[i], m, lookahead);
                if g.conflict || g.los {
                    out.push(PairResult {
                        i: j,
                        j: i as u32,
                        geometry: g,
                    });
                }
            }
        }
        out
    };
    // Visit own aircraft in grid order (that of the first slice), so that
    // consecutive queries touch the same cells while they are in cache; then
    // sort the results by (i, j).
    let order: Vec<u32> = slices[0].0.iter().map(|e| e.idx).collect();
    let mut out: Vec<PairResult> = order
        .par_iter()
        .flat_map_iter(|&i| per_own(i as usize))
        .collect();
    out.par_sort_unstable_by_key(|p| (p.i, p.j));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{FT, NM};

    fn ac(lat: f64, lon: f64, alt: f64, east: f64) -> Kinematics {
        Kinematics {
            lat_deg: lat,
            lon_deg: lon,
            alt_m: alt,
            east_mps: east,
            north_mps: 0.0,
            vs_mps: 0.0,
        }
    }

    /// 3 NM / 1000 ft within a box around an airport, 5 NM elsewhere.
    fn airport_rules() -> MinimaRules {
        MinimaRules {
            default: Minima::EN_ROUTE,
            rules: vec![(
                Area {
                    lat_min_deg: 46.9,
                    lat_max_deg: 47.1,
                    lon_min_deg: 179.0,
                    lon_max_deg: -179.0,
                    alt_min_m: 0.0,
                    alt_max_m: 3000.0,
                },
                Minima {
                    horizontal_m: 3.0 * NM,
                    vertical_m: 1000.0 * FT,
                },
            )],
        }
    }

    #[test]
    fn minima_follow_the_area_and_a_pair_takes_the_larger() {
        let rules = airport_rules();
        // The area crosses the antimeridian.
        assert_eq!(
            rules
                .for_aircraft(&ac(47.0, 179.5, 1000.0, 0.0))
                .horizontal_m,
            3.0 * NM
        );
        assert_eq!(
            rules
                .for_aircraft(&ac(47.0, -179.5, 1000.0, 0.0))
                .horizontal_m,
            3.0 * NM
        );
        assert_eq!(
            rules.for_aircraft(&ac(47.0, 178.5, 1000.0, 0.0)),
            Minima::EN_ROUTE
        );
        assert_eq!(
            rules.for_aircraft(&ac(47.0, 179.5, 5000.0, 0.0)),
            Minima::EN_ROUTE
        );

        let params = DetectParams::new(Mode::Default, 0.0, rules);
        // 4 NM apart, both near the airport: separated under 3 NM.
        let dlon = 4.0 * NM / (6_389_000.0 * 47f64.to_radians().cos());
        let a = ac(47.0, 179.5, 2900.0, 0.0);
        let b = ac(47.0, 179.5 + dlon.to_degrees(), 2900.0, 0.0);
        assert!(detect(&[a, b], &params).is_empty());
        // Same distance, one of them above the area's ceiling (but within
        // 1000 ft): the en-route 5 NM applies to the pair.
        let c = ac(47.0, 179.5 + dlon.to_degrees(), 3100.0, 0.0);
        let found = detect(&[a, c], &params);
        assert_eq!(found.len(), 1);
        assert!(found[0].geometry.los);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Pruning never changes the answer, whatever the traffic, minima
        /// rules, lookahead and slice length.
        #[test]
        fn pruned_equals_brute_force(
            seed in 0u64..1000,
            n in 2usize..120,
            lat0 in -85.0f64..85.0,
            lon0 in -180.0f64..180.0,
            lookahead in 0.0f64..600.0,
            slice in 5.0f64..200.0,
            bluesky in proptest::bool::ANY,
        ) {
            let mut sc = crate::scenario::Scenario::generate(n, seed);
            // Squeeze the 600 km square to ~60 km and move it anywhere.
            for k in &mut sc.states {
                k.lat_deg = (lat0 + (k.lat_deg - 35.0) / 10.0).clamp(-90.0, 90.0);
                k.lon_deg = ((lon0 + (k.lon_deg - 38.0) / 10.0) + 180.0).rem_euclid(360.0) - 180.0;
            }
            let mut rules = airport_rules();
            rules.rules[0].0.lat_min_deg = lat0 - 0.1;
            rules.rules[0].0.lat_max_deg = lat0 + 0.1;
            rules.rules[0].0.alt_max_m = 8000.0;
            let mode = if bluesky { Mode::Bluesky } else { Mode::Default };
            let mut params = DetectParams::new(mode, lookahead, rules);
            params.slice_s = slice;
            proptest::prop_assert_eq!(detect(&sc.states, &params), detect_brute_force(&sc.states, &params));
        }
    }
}
