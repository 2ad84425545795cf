//! The detection cycle: every pair of aircraft that is in, or is predicted
//! to enter, a loss of separation within the lookahead, without testing all
//! N² pairs.
//!
//! Pruning is by time slices. The lookahead is cut into slices of
//! `slice_s`; for each slice every aircraft is placed, at the slice's middle
//! time, in a latitude/longitude grid (cells a fraction of the query
//! radius, split by class: exactly level, level, climbing or descending),
//! and the entries of a cell are sorted by altitude. Two aircraft that come
//! closer than R at some time of a slice are, at its middle time, closer
//! than `R + (s_i + s_j)·slice/2` horizontally (speeds bound how far each
//! moved) and closer than `H + (|vs_i| + |vs_j|)·slice/2` vertically. Each
//! pair of nearby cells is scanned once (a cell with the cells of larger
//! keys around it), with a sliding altitude window, and each pair that
//! passes those two cheap bounds gets the exact pruning test, which also
//! gives the first time the pair can be in conflict: the pair is kept only
//! in the slice holding that time, so each pair is a candidate once,
//! without deduplication. The exact model then decides. Memory is
//! O(N · slices + pairs).
//!
//! The pruning model (straight lines in earth-centred coordinates on a
//! sphere) is not the decision model, so the radii are widened by a bound
//! `f` on the relative difference between the two: the flat-earth
//! approximation of BlueSky differs from a sphere by about
//! `(D / Re) · tan(lat)` over a distance D, and the ellipsoid differs from
//! the sphere by under 1 %. BlueSky's flat earth is not bounded near the
//! poles at all, so in that mode aircraft beyond 80° are tested against
//! everyone (they are rare). In BlueSky mode a cheap, conservative version
//! of BlueSky's own test (no bearing) drops most candidates it would not
//! report before the exact model runs on both directions.

use rayon::prelude::*;

use crate::geometry::{
    bluesky_may_report, bluesky_pair, default_pair, default_pair_frames, EcefFrame, Kinematics,
    PairGeometry,
};
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

/// An aircraft in the pruning model: a straight line in earth-centred
/// coordinates (m, m/s), from a point on the sphere along its tangent.
#[derive(Clone, Copy)]
struct Track {
    p: [f64; 3],
    v: [f64; 3],
    alt: f64,
    vs: f64,
    /// Ground speed (m/s).
    speed: f64,
}

impl Track {
    /// From the aircraft and its [`sphere_state`].
    fn new(k: &Kinematics, (p, v): ([f64; 3], [f64; 3])) -> Track {
        Track {
            p: [p[0] * RE, p[1] * RE, p[2] * RE],
            v: [v[0] * RE, v[1] * RE, v[2] * RE],
            alt: k.alt_m,
            vs: k.vs_mps,
            speed: k.ground_speed(),
        }
    }
}

/// Whether two tracks can, in the pruning model, be closer than the
/// horizontal radius `r + c·|d|` and the vertical `h` together at some time
/// in `[0, lookahead]`, the first such time falling in slice `s` (of
/// `slice_of`, a non-decreasing function). The vertical test has no clamp
/// (it is the true motion; BlueSky's clamp moves the interval by at most
/// 1e-6 m/s, covered by `h`'s slack). Swapping `a` and `b` only negates `d`,
/// `w`, `dalt` and `dvs`, which gives the same result bit for bit. The
/// vertical window comes first: it is cheap, and often puts the first time
/// in another slice.
fn conflict_starts_in(
    a: &Track,
    b: &Track,
    (r, c, h, lookahead): (f64, f64, f64, f64),
    slice_of: impl Fn(f64) -> usize,
    s: usize,
) -> bool {
    let (mut lo, mut hi) = (0.0f64, lookahead);
    // Vertical window: |dalt + dvs t| <= h. (Reciprocals instead of
    // divisions: an ulp here or there is far inside the bounds' slack.)
    let dalt = b.alt - a.alt;
    let dvs = b.vs - a.vs;
    if dvs == 0.0 {
        if dalt.abs() > h {
            return false;
        }
    } else {
        let inv = 1.0 / dvs;
        let t1 = (-h - dalt) * inv;
        let t2 = (h - dalt) * inv;
        lo = lo.max(t1.min(t2));
        hi = hi.min(t1.max(t2));
        // The first time is at least `lo` and at most `hi`.
        if lo > hi || slice_of(lo) > s || slice_of(hi) < s {
            return false;
        }
    }
    // Horizontal window: |d + w t|^2 <= rr^2.
    let d = [b.p[0] - a.p[0], b.p[1] - a.p[1], b.p[2] - a.p[2]];
    let w = [b.v[0] - a.v[0], b.v[1] - a.v[1], b.v[2] - a.v[2]];
    let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    let rr = r + c * d2.sqrt();
    let w2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    let dw = d[0] * w[0] + d[1] * w[1] + d[2] * w[2];
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
        let inv = 1.0 / w2;
        lo = lo.max((-dw - sq) * inv);
        hi = hi.min((-dw + sq) * inv);
    }
    lo <= hi && slice_of(lo) == s
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
        let x = (lon + 180.0).rem_euclid(360.0);
        self.for_cell_runs(lat, lat, x, x, radius_m, |first, last| {
            for key in first..=last {
                f(key);
            }
        });
    }

    /// Calls `f(first, last)` with runs of consecutive keys (same row,
    /// consecutive columns) covering every cell that may hold a point within
    /// `radius_m` (arc) of a point of the box `[lat_lo, lat_hi]` ×
    /// `[x_lo, x_hi]`, `x` being the longitude + 180° (`0 <= x_lo <= x_hi
    /// <= 360`). The latitude band is widened by the radius, and the
    /// longitudes by the radius over the parallel at the band's poleward
    /// edge (all of them from 89.999° on).
    fn for_cell_runs(
        &self,
        lat_lo: f64,
        lat_hi: f64,
        x_lo: f64,
        x_hi: f64,
        radius_m: f64,
        mut f: impl FnMut(u64, u64),
    ) {
        let dlat = (radius_m / RE).to_degrees();
        let (r0, r1) = (self.row(lat_lo - dlat), self.row(lat_hi + dlat));
        let edge = (lat_lo - dlat).abs().max((lat_hi + dlat).abs());
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
            let c0 = ((x_lo - dlon) / width).floor() as i64;
            let c1 = ((x_hi + dlon) / width).floor() as i64;
            let base = (r as u64) << 32;
            if c1 - c0 + 1 >= n {
                f(base, base | (n - 1) as u64);
            } else {
                let (a, b) = (c0.rem_euclid(n) as u64, c1.rem_euclid(n) as u64);
                if a <= b {
                    f(base | a, base | b);
                } else {
                    f(base | a, base | (n - 1) as u64);
                    f(base, base | b);
                }
            }
        }
    }

    /// [`Grid::for_cell_runs`] for every point of cell `key` (class bits
    /// above bit 62 ignored).
    fn for_cell_runs_near_cell(&self, key: u64, radius_m: f64, f: impl FnMut(u64, u64)) {
        let row = ((key >> 32) & 0x3fff_ffff) as i64;
        let col = (key & 0xffff_ffff) as f64;
        let lat_lo = -90.0 + row as f64 * self.row_deg;
        let width = 360.0 / self.ncols(row) as f64;
        self.for_cell_runs(
            lat_lo,
            lat_lo + self.row_deg,
            col * width,
            (col + 1.0) * width,
            radius_m,
            f,
        );
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
/// (The straight track normalised back onto the sphere. Normalising a
/// point outside the sphere is projecting it onto the ball, which never
/// moves two points apart: chords between normalised points are at most
/// those between the straight-line points, which the bounds are about.)
fn sphere_at(p: [f64; 3], v: [f64; 3], t: f64) -> ([f64; 3], f64, f64) {
    let q = [p[0] + v[0] * t, p[1] + v[1] * t, p[2] + v[2] * t];
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
    let u = [q[0] / n, q[1] / n, q[2] / n];
    let lat = u[2].clamp(-1.0, 1.0).asin().to_degrees();
    let lon = u[1].atan2(u[0]).to_degrees();
    ([u[0] * RE, u[1] * RE, u[2] * RE], lat, lon)
}

/// An aircraft in one slice of the pruning grid, at the slice's middle time.
#[derive(Clone, Copy)]
struct Item {
    /// Position on the sphere (m).
    p: [f64; 3],
    /// Altitude (m).
    alt: f64,
    /// Ground speed and |vertical speed| (m/s), for the pair bounds (the
    /// bounds have a relative slack far above f32 rounding).
    speed: f32,
    vs: f32,
    /// Internal number of the aircraft.
    idx: u32,
}

/// One time slice of the pruning grid: the aircraft placed at the slice's
/// middle time, sorted by (cell, altitude).
struct Slice {
    /// Index of the slice (its middle time is `(s + 0.5) · slice`).
    s: usize,
    tm: f64,
    grid: Grid,
    /// Query radius of the grid (arc, m): covers the largest chord at the
    /// middle time of a pair this slice must find.
    reach: f64,
    /// Occupied cells, sorted by key; cell `c` holds
    /// `items[starts[c]..starts[c + 1]]`.
    cells: Vec<u64>,
    starts: Vec<u32>,
    items: Vec<Item>,
    /// The items' tracks, in the same order (read when a pair passes the
    /// cheap bounds: next to each other in memory, unlike by index).
    tracks: Vec<Track>,
}

/// Aircraft are kept in cells by class, so that pairs of level aircraft
/// are only compared within ±H (plus a little): exactly level (vs = 0),
/// level (|vs| <= LEVEL_VS) and moving. The class is in the key's top bits.
const LEVEL_VS: f64 = 0.5;
const FLAT: u64 = 0;
const LEVEL: u64 = 1 << 62;
const MOVING: u64 = 1 << 63;
const CLASS: u64 = FLAT | LEVEL | MOVING;
/// Grid cells are this fraction of the query radius: smaller cells hug the
/// query disc more closely (fewer pairs compared) but cost more cells.
const CELLS_PER_REACH: f64 = 1.5;

/// What the scan of the pruning grid needs, shared by all slices.
struct Pruning<'a> {
    states: &'a [Kinematics],
    minima: &'a [Minima],
    bluesky: bool,
    /// Largest vertical minimum.
    h_max: f64,
    lookahead: f64,
    slice: f64,
    inv_slice: f64,
    nslices: usize,
    r0: f64,
    h_test: f64,
    c_pos: f64,
    k_rot: f64,
    vs_max: f64,
}

/// Per-slice constants of the pair bounds.
struct Bounds {
    /// `|vs|` factor of the vertical bound: `slice/2 · SLACK`.
    vs_k: f64,
    /// The chord bound's numerator, `(r0 + c·ssum·tm + ssum·slice/2)·SLACK
    /// + 1`, as `q0 + ssum·(q1 + q2·ssum)`.
    q0: f64,
    q1: f64,
    q2: f64,
}

/// Bounds are compared with this relative slack (rounding; f32 speeds).
const SLACK: f64 = 1.001;

impl Pruning<'_> {
    /// Model-difference factor of a pair whose speeds sum to `ssum`.
    fn c_of(&self, ssum: f64) -> f64 {
        self.c_pos + self.k_rot * ssum * self.lookahead
    }

    fn bounds(&self, tm: f64) -> Bounds {
        let half = self.slice / 2.0;
        let kl = self.k_rot * self.lookahead;
        Bounds {
            vs_k: half * SLACK,
            q0: self.r0 * SLACK + 1.0,
            q1: (self.c_pos * tm + half) * SLACK,
            q2: kl * tm * SLACK,
        }
    }

    /// The vertical bound's own-aircraft part (see [`Pruning::may_pass`]).
    fn dz_own(&self, b: &Bounds, a: &Item) -> f64 {
        (self.h_test * SLACK + 1.0) + f64::from(a.vs) * b.vs_k
    }

    /// The cheap bounds on a pair of a slice (see `detect`): whether the
    /// pair may have to be kept. Without branches (about one pair in five
    /// passes, unpredictably); a NaN keeps the pair.
    #[inline(always)]
    fn may_pass(&self, b: &Bounds, a: &Item, dz_a: f64, o: &Item) -> bool {
        let dz = dz_a + f64::from(o.vs) * b.vs_k;
        let ssum = f64::from(a.speed) + f64::from(o.speed);
        let d = [o.p[0] - a.p[0], o.p[1] - a.p[1], o.p[2] - a.p[2]];
        let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        let k = 1.0 - self.c_of(ssum);
        let lim = b.q0 + ssum * (b.q1 + b.q2 * ssum);
        !(((o.alt - a.alt).abs() > dz) | (d2 * (k * k) > lim * lim))
    }

    /// Keeps the pair if the pruning model lets it conflict and its window
    /// starts in slice `s` (and, in BlueSky mode, if BlueSky may report it).
    /// (`conflict_starts_in` is symmetric, so the order of the two does not
    /// matter.)
    #[inline(never)]
    fn confirm(&self, sl: &Slice, pa: usize, pb: usize, out: &mut Vec<u64>) {
        let (ta, tb) = (&sl.tracks[pa], &sl.tracks[pb]);
        let c = self.c_of(ta.speed + tb.speed);
        let bounds = (self.r0, c, self.h_test, self.lookahead);
        let slice_of = |t: f64| ((t * self.inv_slice) as usize).min(self.nslices - 1);
        if !conflict_starts_in(ta, tb, bounds, slice_of, sl.s) {
            return;
        }
        let (a, b) = (sl.items[pa].idx, sl.items[pb].idx);
        let (i, j) = (a.min(b) as usize, a.max(b) as usize);
        if self.bluesky {
            let m = self.minima[i].max(self.minima[j]);
            if !bluesky_may_report(&self.states[i], &self.states[j], m, self.lookahead) {
                return;
            }
        }
        out.push(((i as u64) << 32) | j as u64);
    }

    /// Vertical speed bound of a cell's class.
    fn class_vs(&self, key: u64) -> f64 {
        match key & CLASS {
            FLAT => 0.0,
            LEVEL => LEVEL_VS,
            _ => self.vs_max,
        }
    }

    /// Every pair of cells of a slice that may hold a pair closer than the
    /// slice's reach, each once: a cell with itself, and with each cell of
    /// a larger key near it (the relation is symmetric: each holds a point
    /// within the reach of a point of the other).
    fn scan(&self, sl: &Slice, ca: usize, out: &mut Vec<u64>) {
        let b = self.bounds(sl.tm);
        let key_a = sl.cells[ca];
        let cell = |c: usize| sl.starts[c] as usize..sl.starts[c + 1] as usize;
        self.cell_pair(sl, &b, (key_a, cell(ca)), (key_a, cell(ca)), out);
        sl.grid
            .for_cell_runs_near_cell(key_a, sl.reach, |first, last| {
                for class in [FLAT, LEVEL, MOVING] {
                    let (first, last) = ((first | class).max(key_a + 1), last | class);
                    if first > last {
                        continue;
                    }
                    let from = sl.cells.partition_point(|&k| k < first);
                    let to = from + sl.cells[from..].partition_point(|&k| k <= last);
                    for cb in from..to {
                        self.cell_pair(sl, &b, (key_a, cell(ca)), (sl.cells[cb], cell(cb)), out);
                    }
                }
            });
    }

    /// The pairs of two cells (or of one cell with itself) within their
    /// altitude bound. Both are sorted by altitude: a sliding window.
    #[inline]
    fn cell_pair(
        &self,
        sl: &Slice,
        b: &Bounds,
        (key_a, ra): (u64, std::ops::Range<usize>),
        (key_b, rb): (u64, std::ops::Range<usize>),
        out: &mut Vec<u64>,
    ) {
        let same = key_a == key_b;
        // Two exactly level aircraft keep their altitudes, and the default
        // model reports them only if |dalt| < H: an exact bound (their
        // altitudes in the slice are their altitudes, bit for bit).
        // (BlueSky's vertical clamp makes them conflict up to H + 1e-6 m/s ·
        // lookahead, which `h_test` covers.)
        // The altitude differences are monotonic in each altitude (rounding
        // is), so `|dalt| < h_max` is a window of the sorted cells.
        let flat = !self.bluesky && key_a & CLASS == FLAT && key_b & CLASS == FLAT;
        let dz = if flat {
            // |dalt| > this <=> |dalt| >= h_max.
            self.h_max.next_down()
        } else {
            let vs = self.class_vs(key_a) + self.class_vs(key_b);
            (self.h_test + vs * self.slice / 2.0) * SLACK + 1.0
        };
        let mut lo = rb.start;
        // Pairs that pass the cheap bounds, written unconditionally and
        // kept by advancing the count.
        let mut passed = [0u32; 64];
        for pa in ra {
            let a = &sl.items[pa];
            let dz_a = if flat { dz } else { self.dz_own(b, a) };
            let start = if same {
                pa + 1
            } else {
                while lo < rb.end && a.alt - sl.items[lo].alt > dz {
                    lo += 1;
                }
                lo
            };
            let mut count = 0;
            for po in start..rb.end {
                let o = &sl.items[po];
                if o.alt - a.alt > dz {
                    break;
                }
                passed[count] = po as u32;
                count += usize::from(self.may_pass(b, a, dz_a, o));
                if count == passed.len() {
                    for &po in &passed {
                        self.confirm(sl, pa, po as usize, out);
                    }
                    count = 0;
                }
            }
            for &po in &passed[..count] {
                self.confirm(sl, pa, po as usize, out);
            }
        }
    }
}

/// One detection cycle. Returns every pair in conflict within the lookahead
/// or in loss of separation now, sorted by (i, j). Aircraft with a
/// non-finite value or a latitude outside ±90° are ignored.
///
/// Aircraft are renumbered first, in the order of a grid, so that
/// neighbours are near each other in memory (the exact models then mostly
/// read cached states). Then three phases: (1) the candidate pairs, each
/// unordered pair once, from the pruning grid (see the module comment);
/// (2) for each aircraft, the candidates it evaluates as own aircraft
/// (both directions in BlueSky mode, the larger index in default mode),
/// sorted by index; (3) the exact model on each, aircraft in parallel;
/// the rows are then put in index order.
pub fn detect(states: &[Kinematics], params: &DetectParams) -> Vec<PairResult> {
    let n = states.len();
    if n < 2 {
        return Vec::new();
    }
    assert!(n < u32::MAX as usize, "too many aircraft");
    let lookahead = params.lookahead_s.max(0.0);
    let bluesky = params.mode == Mode::Bluesky;
    let mut r_max = 0.0f64;
    let mut h_max = 0.0f64;
    let (mut s_max, mut vs_max, mut lat_max) = (0.0f64, 0.0f64, 0.0f64);
    for k in states {
        let m = params.minima.for_aircraft(k);
        r_max = r_max.max(m.horizontal_m);
        h_max = h_max.max(m.vertical_m);
        if valid(k) {
            s_max = s_max.max(k.ground_speed());
            vs_max = vs_max.max(k.vs_mps.abs());
            lat_max = lat_max.max(k.lat_deg.abs());
        }
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
    // At most MAX_SLICES slices (a longer slice only costs speed).
    const MAX_SLICES: f64 = 64.0;
    let slice = params
        .slice_s
        .max(lookahead / MAX_SLICES)
        .clamp(1.0, lookahead.max(1.0));
    // Straight lines leave the sphere: two tracks drift apart radially by at
    // most this much within the lookahead.
    let drift = (s_max * lookahead).powi(2) / (2.0 * RE);
    let r0 = r_max + drift + 50.0;
    let c_of = |ssum: f64| c_pos + k_rot * ssum * lookahead;
    // With very long lookaheads the bound says nothing: test every pair.
    let c_max = c_of(2.0 * s_max);
    let exhaustive = c_max.is_nan() || c_max >= 0.5 || !lookahead.is_finite();
    // A pair whose conflict window (`conflict_starts_in`) starts at `lo` is
    // looked for in the slice holding `lo` only. At that slice's middle time
    // tm it is within this chord: |d(tm)| <= |d(lo)| + ssum·slice/2, with
    // |d(lo)| <= r0 + c|d(0)| and |d(0)| <= |d(tm)| + ssum·tm; and within
    // `h_test + (|vs_i| + |vs_j|)·slice/2` vertically.
    let reach = |ssum: f64, tm: f64| {
        let c = c_of(ssum);
        (r0 + c * ssum * tm + ssum * slice / 2.0) / (1.0 - c)
    };
    // The grid of a slice: cells a fraction of the arc of its largest chord.
    let grid_at = |tm: f64| {
        let chord = reach(2.0 * s_max, tm) * SLACK;
        let arc = 2.0 * RE * (chord / (2.0 * RE)).min(1.0).asin() * SLACK;
        (Grid::new(arc / CELLS_PER_REACH), arc)
    };

    // Internal numbering `k`: `order[k]` is the aircraft's index, in the
    // Z order of the grid cells (neighbourhoods stay compact in memory).
    let order: Vec<u32> = {
        // (Exhaustive: the bounds are meaningless, any cell size will do.)
        let grid = if exhaustive {
            Grid::new(1e5)
        } else {
            grid_at(0.0).0
        };
        let mut keyed: Vec<(u64, u32)> = states
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let key = if valid(k) {
                    let key = grid.key(k.lat_deg, k.lon_deg);
                    morton(key >> 32, key & 0xffff_ffff)
                } else {
                    u64::MAX
                };
                (key, i as u32)
            })
            .collect();
        keyed.par_sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    };
    let mut internal = vec![0u32; n];
    for (k, &i) in order.iter().enumerate() {
        internal[i as usize] = k as u32;
    }
    let st: Vec<Kinematics> = order.iter().map(|&i| states[i as usize]).collect();
    let minima: Vec<Minima> = st.iter().map(|k| params.minima.for_aircraft(k)).collect();
    let ok: Vec<bool> = st.iter().map(valid).collect();
    let polar = |k: usize| bluesky && ok[k] && st[k].lat_deg.abs() > POLAR_DEG;

    // Phase 1: candidate pairs (k << 32 | l, k < l, internal numbers).
    let mut parts: Vec<Vec<u64>> = Vec::new();
    if !exhaustive {
        let pruning = Pruning {
            states: &st,
            minima: &minima,
            bluesky,
            h_max,
            lookahead,
            slice,
            inv_slice: 1.0 / slice,
            nslices: ((lookahead / slice).ceil() as usize).max(1),
            r0,
            h_test: h_max + 1.0,
            c_pos,
            k_rot,
            vs_max,
        };
        let sphere: Vec<([f64; 3], [f64; 3])> = st.iter().map(sphere_state).collect();
        let tracks: Vec<Track> = st
            .iter()
            .zip(&sphere)
            .map(|(k, s)| Track::new(k, *s))
            .collect();
        let slices: Vec<Slice> = (0..pruning.nslices)
            .into_par_iter()
            .map(|s| {
                let tm = (s as f64 + 0.5) * slice;
                let (grid, arc) = grid_at(tm);
                // (cell key, altitude, k), and the positions by k.
                type Placed = Option<((u64, f64, u32), [f64; 3])>;
                let placed: Vec<Placed> = (0..n)
                    .into_par_iter()
                    .with_min_len(1024)
                    .map(|k| {
                        if !ok[k] || polar(k) {
                            return None;
                        }
                        let a = &st[k];
                        let (p, lat, lon) = sphere_at(sphere[k].0, sphere[k].1, tm);
                        let class = if a.vs_mps == 0.0 {
                            FLAT
                        } else if a.vs_mps.abs() <= LEVEL_VS {
                            LEVEL
                        } else {
                            MOVING
                        };
                        let key = grid.key(lat, lon) | class;
                        Some(((key, a.alt_m + a.vs_mps * tm, k as u32), p))
                    })
                    .collect();
                let pos: Vec<[f64; 3]> = placed
                    .iter()
                    .map(|e| e.map_or([0.0; 3], |(_, p)| p))
                    .collect();
                let mut keyed: Vec<(u64, f64, u32)> =
                    placed.into_iter().flatten().map(|e| e.0).collect();
                keyed.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                let mut cells = Vec::new();
                let mut starts = Vec::new();
                for (e, (key, _, _)) in keyed.iter().enumerate() {
                    if cells.last() != Some(key) {
                        cells.push(*key);
                        starts.push(e as u32);
                    }
                }
                starts.push(keyed.len() as u32);
                let items = keyed
                    .par_iter()
                    .map(|&(_, alt, k)| Item {
                        p: pos[k as usize],
                        alt,
                        speed: tracks[k as usize].speed as f32,
                        vs: tracks[k as usize].vs.abs() as f32,
                        idx: k,
                    })
                    .collect();
                Slice {
                    s,
                    tm,
                    grid,
                    reach: arc,
                    cells,
                    starts,
                    tracks: keyed.par_iter().map(|e| tracks[e.2 as usize]).collect(),
                    items,
                }
            })
            .collect();
        parts = slices
            .par_iter()
            .flat_map(|sl| {
                (0..sl.cells.len())
                    .into_par_iter()
                    .fold(Vec::new, |mut out, ca| {
                        pruning.scan(sl, ca, &mut out);
                        out
                    })
            })
            .collect();
        // BlueSky's flat earth is unbounded near the poles: aircraft there
        // are candidates with everyone (they are rare).
        let polar_k: Vec<usize> = (0..n).filter(|&k| polar(k)).collect();
        if !polar_k.is_empty() {
            let mut out = Vec::new();
            for &p in &polar_k {
                for q in (0..n).filter(|&q| ok[q] && q != p && !(polar(q) && q < p)) {
                    out.push(((p.min(q) as u64) << 32) | p.max(q) as u64);
                }
            }
            parts.push(out);
        }
    }

    // Phase 2: per own aircraft (internal number), the intruders as
    // `index << 32 | internal number`, sorted. Exhaustive: every valid
    // aircraft.
    let all: Vec<u64> = if exhaustive {
        (0..n)
            .filter(|&i| valid(&states[i]))
            .map(|i| ((i as u64) << 32) | u64::from(internal[i]))
            .collect()
    } else {
        Vec::new()
    };
    let rows = if exhaustive {
        Csr::default()
    } else {
        Csr::from_pairs(n, &parts, &order, bluesky)
    };
    drop(parts);
    let row = |k: usize| -> &[u64] {
        if !exhaustive {
            return rows.row(k);
        }
        if !ok[k] {
            return &[];
        }
        // BlueSky: everyone else (skipped below); default: larger indices.
        let i = u64::from(order[k]);
        &all[if bluesky {
            0
        } else {
            all.partition_point(|&e| e >> 32 <= i)
        }..]
    };

    // Phase 3: the exact model, in blocks of own aircraft, each block into
    // a vector with room for all its candidates (pages beyond what is
    // written are never touched); then the rows in index order.
    let frames: Vec<EcefFrame> = if bluesky {
        Vec::new()
    } else {
        st.iter().map(EcefFrame::new).collect()
    };
    let uniform = params.minima.rules.is_empty();
    let eval = |k: usize, l: usize, i: u32, j: u32| {
        let m = if uniform {
            params.minima.default
        } else if i < j {
            minima[k].max(minima[l])
        } else {
            minima[l].max(minima[k])
        };
        let g = if bluesky {
            bluesky_pair(&st[k], &st[l], m, lookahead)
        } else {
            default_pair_frames(&frames[k], &frames[l], m, lookahead)
        };
        (g.conflict || g.los).then_some(PairResult { i, j, geometry: g })
    };
    // In waves of own aircraft by index, so that only a wave's results are
    // held twice (in blocks, then in the output); a wave is evaluated while
    // the one before is copied out.
    const ROWS: usize = 256;
    let waves = (n / 16_384).clamp(1, 8);
    let wave_start = |w: usize| (w * n).div_ceil(waves);
    type Blocks = Vec<(Vec<PairResult>, Vec<u32>)>;
    let evaluate = |w: usize| -> Blocks {
        let in_wave = |k: usize| (wave_start(w)..wave_start(w + 1)).contains(&(order[k] as usize));
        (0..n.div_ceil(ROWS))
            .into_par_iter()
            .map(|block| {
                let ks = block * ROWS..(block * ROWS + ROWS).min(n);
                let room = if exhaustive {
                    0
                } else {
                    ks.clone()
                        .filter(|&k| in_wave(k))
                        .map(|k| rows.row(k).len())
                        .sum()
                };
                let mut out = Vec::with_capacity(room);
                let mut ends = Vec::with_capacity(ks.len());
                for k in ks {
                    if in_wave(k) {
                        let i = order[k];
                        out.extend(row(k).iter().filter_map(|&e| {
                            let (j, l) = ((e >> 32) as u32, e as u32 as usize);
                            (j != i).then(|| eval(k, l, i, j)).flatten()
                        }));
                    }
                    ends.push(out.len() as u32);
                }
                (out, ends)
            })
            .collect()
    };
    let assemble = |out: &mut Vec<PairResult>, w: usize, blocks: &Blocks| {
        for &k in &internal[wave_start(w)..wave_start(w + 1)] {
            let (results, ends) = &blocks[k as usize / ROWS];
            let r = k as usize % ROWS;
            let start = if r == 0 { 0 } else { ends[r - 1] as usize };
            out.extend_from_slice(&results[start..ends[r] as usize]);
        }
    };
    // Room for every candidate (only what is written is touched).
    let mut out = Vec::with_capacity(if exhaustive { 0 } else { rows.cols.len() });
    let mut pending: Option<(usize, Blocks)> = None;
    for w in 0..=waves {
        let ((), next) = rayon::join(
            || {
                if let Some((done, blocks)) = pending.take() {
                    assemble(&mut out, done, &blocks);
                }
            },
            || (w < waves).then(|| (w, evaluate(w))),
        );
        pending = next;
    }
    out
}

/// The Z-order (Morton) code of a cell: the bits of its row and column,
/// interleaved.
fn morton(row: u64, col: u64) -> u64 {
    let spread = |mut x: u64| {
        x &= 0xffff_ffff;
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        (x | (x << 1)) & 0x5555_5555_5555_5555
    };
    (spread(row) << 1) | spread(col)
}

/// Rows of sorted entries (compressed sparse rows).
#[derive(Default)]
struct Csr {
    /// Row `k` is `cols[start[k]..start[k + 1]]`.
    start: Vec<usize>,
    cols: Vec<u64>,
}

impl Csr {
    fn row(&self, k: usize) -> &[u64] {
        &self.cols[self.start[k]..self.start[k + 1]]
    }

    /// The own rows of candidate pairs `k << 32 | l` (internal numbers):
    /// row `k` holds `order[l] << 32 | l` for each intruder `l`, sorted (by
    /// index); in both rows if `both`, else in the row of the smaller index.
    /// In parallel: each thread reads every pair and counts, fills and
    /// sorts its own range of rows.
    fn from_pairs(n: usize, parts: &[Vec<u64>], order: &[u32], both: bool) -> Csr {
        // Calls `f(k, entry)` for each entry of a row in `rows`.
        let each = |rows: std::ops::Range<usize>, f: &mut dyn FnMut(usize, u64)| {
            for &p in parts.iter().flatten() {
                let (k, l) = ((p >> 32) as usize, (p & 0xffff_ffff) as usize);
                let (i, j) = (u64::from(order[k]), u64::from(order[l]));
                if (both || i < j) && rows.contains(&k) {
                    f(k, (j << 32) | l as u64);
                }
                if (both || j < i) && rows.contains(&l) {
                    f(l, (i << 32) | k as u64);
                }
            }
        };
        let ranges = rayon::current_num_threads().clamp(1, n);
        let bound = |r: usize| r * n / ranges;
        let counts: Vec<Vec<usize>> = (0..ranges)
            .into_par_iter()
            .map(|r| {
                let rows = bound(r)..bound(r + 1);
                let mut count = vec![0usize; rows.len()];
                each(rows.clone(), &mut |k, _| count[k - rows.start] += 1);
                count
            })
            .collect();
        let mut start = Vec::with_capacity(n + 1);
        start.push(0);
        for c in counts.iter().flatten() {
            start.push(start[start.len() - 1] + c);
        }
        let mut cols = vec![0u64; start[n]];
        let mut chunks = Vec::with_capacity(ranges);
        let mut rest = &mut cols[..];
        for r in 0..ranges {
            let len = start[bound(r + 1)] - start[bound(r)];
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(len);
            chunks.push(chunk);
            rest = tail;
        }
        chunks.into_par_iter().enumerate().for_each(|(r, chunk)| {
            let rows = bound(r)..bound(r + 1);
            let base = start[rows.start];
            let mut next: Vec<usize> = start[rows.clone()].iter().map(|s| s - base).collect();
            each(rows.clone(), &mut |k, e| {
                chunk[next[k - rows.start]] = e;
                next[k - rows.start] += 1;
            });
            for k in rows {
                chunk[start[k] - base..start[k + 1] - base].sort_unstable();
            }
        });
        Csr { start, cols }
    }
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
