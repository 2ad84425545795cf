//! Planar segment and ring predicates, used on footprints projected into an
//! [`ellipsoid::Frame`](crate::ellipsoid::Frame).
//!
//! Hand-written rather than taken from `geo`: every test here needs a
//! distance tolerance ("touching counts", and the projection is accurate to
//! millimetres, not to the last bit), an x-sweep over edge pairs, and nothing
//! else, and these few functions are cheaper than converting to `geo` types on
//! the hot path.

pub(crate) type P2 = [f64; 2];

/// Twice the signed area of triangle (a, b, c); > 0 when counter-clockwise.
#[inline]
fn orient(a: &P2, b: &P2, c: &P2) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Squared distance from `p` to segment `a`–`b`, and the parameter in [0, 1]
/// of the nearest point.
#[inline]
pub(crate) fn point_segment_dist2(p: &P2, a: &P2, b: &P2) -> (f64, f64) {
    let d = [b[0] - a[0], b[1] - a[1]];
    let len2 = d[0] * d[0] + d[1] * d[1];
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let q = [a[0] + t * d[0] - p[0], a[1] + t * d[1] - p[1]];
    (q[0] * q[0] + q[1] * q[1], t)
}

/// Whether segments a–b and c–d come within `tol` of each other.
#[inline]
pub(crate) fn segments_within(a: &P2, b: &P2, c: &P2, d: &P2, tol: f64) -> bool {
    let o1 = orient(a, b, c);
    let o2 = orient(a, b, d);
    let o3 = orient(c, d, a);
    let o4 = orient(c, d, b);
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    // Not properly crossing: the closest approach is at an end point.
    let tol2 = tol * tol;
    point_segment_dist2(c, a, b).0 <= tol2
        || point_segment_dist2(d, a, b).0 <= tol2
        || point_segment_dist2(a, c, d).0 <= tol2
        || point_segment_dist2(b, c, d).0 <= tol2
}

/// Parameter along a–b of the proper crossing with c–d, if they cross.
#[inline]
pub(crate) fn crossing_parameter(a: &P2, b: &P2, c: &P2, d: &P2) -> Option<f64> {
    let r = [b[0] - a[0], b[1] - a[1]];
    let s = [d[0] - c[0], d[1] - c[1]];
    let denom = r[0] * s[1] - r[1] * s[0];
    if denom == 0.0 {
        return None;
    }
    let w = [c[0] - a[0], c[1] - a[1]];
    let t = (w[0] * s[1] - w[1] * s[0]) / denom;
    let u = (w[0] * r[1] - w[1] * r[0]) / denom;
    ((0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u)).then_some(t)
}

/// Even-odd point-in-ring test; the ring is implicitly closed.
/// Unsigned area (shoelace) and perimeter of a closed ring.
pub(crate) fn area_and_perimeter(ring: &[P2]) -> (f64, f64) {
    let n = ring.len();
    let (mut twice, mut perimeter) = (0.0, 0.0);
    for i in 0..n {
        let (a, b) = (&ring[i], &ring[(i + 1) % n]);
        twice += a[0] * b[1] - b[0] * a[1];
        perimeter += (b[0] - a[0]).hypot(b[1] - a[1]);
    }
    (0.5 * twice.abs(), perimeter)
}

pub(crate) fn point_in_ring(p: &P2, ring: &[P2]) -> bool {
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (&ring[i], &ring[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Squared distance from `p` to the ring's boundary.
pub(crate) fn ring_boundary_dist2(p: &P2, ring: &[P2]) -> f64 {
    let n = ring.len();
    let mut best = f64::INFINITY;
    for i in 0..n {
        best = best.min(point_segment_dist2(p, &ring[i], &ring[(i + 1) % n]).0);
    }
    best
}

/// Whether `p` is inside the ring or within `tol` of its boundary.
pub(crate) fn point_in_or_near_ring(p: &P2, ring: &[P2], tol: f64) -> bool {
    point_in_ring(p, ring) || ring_boundary_dist2(p, ring) <= tol * tol
}

#[derive(Clone, Copy)]
pub(crate) struct BBox {
    pub min: P2,
    pub max: P2,
}

impl BBox {
    pub(crate) fn of(points: &[P2]) -> BBox {
        let mut b = BBox {
            min: [f64::INFINITY; 2],
            max: [f64::NEG_INFINITY; 2],
        };
        for p in points {
            b.min[0] = b.min[0].min(p[0]);
            b.min[1] = b.min[1].min(p[1]);
            b.max[0] = b.max[0].max(p[0]);
            b.max[1] = b.max[1].max(p[1]);
        }
        b
    }

    #[inline]
    pub(crate) fn overlaps(&self, o: &BBox, tol: f64) -> bool {
        self.min[0] <= o.max[0] + tol
            && o.min[0] <= self.max[0] + tol
            && self.min[1] <= o.max[1] + tol
            && o.min[1] <= self.max[1] + tol
    }

    #[inline]
    pub(crate) fn contains(&self, o: &BBox, tol: f64) -> bool {
        self.min[0] <= o.min[0] + tol
            && self.min[1] <= o.min[1] + tol
            && o.max[0] <= self.max[0] + tol
            && o.max[1] <= self.max[1] + tol
    }
}

#[inline]
fn edge_bbox(ring: &[P2], i: usize) -> BBox {
    let a = &ring[i];
    let b = &ring[(i + 1) % ring.len()];
    BBox {
        min: [a[0].min(b[0]), a[1].min(b[1])],
        max: [a[0].max(b[0]), a[1].max(b[1])],
    }
}

/// Below this many edge pairs a plain double loop beats sorting.
const SWEEP_THRESHOLD: usize = 64;

/// Calls `f(i, j)` for every edge `i` of ring `a` and edge `j` of ring `b`
/// whose bounding boxes come within `tol`, until `f` returns `true`.
/// Returns whether some call returned `true`.
///
/// Large rings are swept along x (sort edges by their left end, keep the
/// edges whose right end has not been passed), so two 1,000-vertex outlines
/// cost roughly n log n plus the truly overlapping pairs, not n².
pub(crate) fn any_edge_pair(
    a: &[P2],
    b: &[P2],
    tol: f64,
    mut f: impl FnMut(usize, usize) -> bool,
) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a.len() * b.len() <= SWEEP_THRESHOLD {
        for i in 0..a.len() {
            let bi = edge_bbox(a, i);
            for j in 0..b.len() {
                if bi.overlaps(&edge_bbox(b, j), tol) && f(i, j) {
                    return true;
                }
            }
        }
        return false;
    }
    // Only edges that reach into the other ring's box can pair up.
    let (box_a, box_b) = (BBox::of(a), BBox::of(b));
    let mut items: Vec<(BBox, u32, bool)> = Vec::with_capacity(a.len() + b.len());
    for (ring, other, is_a) in [(a, &box_b, true), (b, &box_a, false)] {
        for i in 0..ring.len() {
            let bb = edge_bbox(ring, i);
            if bb.overlaps(other, tol) {
                items.push((bb, i as u32, is_a));
            }
        }
    }
    items.sort_unstable_by(|x, y| x.0.min[0].total_cmp(&y.0.min[0]));
    let mut active: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for k in 0..items.len() {
        let (bb, idx, is_a) = items[k];
        // active[0] holds a's edges, active[1] b's.
        let other = usize::from(is_a);
        active[other].retain(|&m| items[m].0.max[0] + tol >= bb.min[0]);
        for &m in &active[other] {
            let (ob, oidx, _) = items[m];
            if bb.overlaps(&ob, tol) {
                let hit = if is_a {
                    f(idx as usize, oidx as usize)
                } else {
                    f(oidx as usize, idx as usize)
                };
                if hit {
                    return true;
                }
            }
        }
        active[usize::from(!is_a)].push(k);
    }
    false
}

/// Calls `f(i, j)` with `i < j` for every pair of edges of one ring whose
/// bounding boxes come within `tol`, until `f` returns `true` (x-sweep as in
/// [`any_edge_pair`]).
pub(crate) fn any_self_edge_pair(
    ring: &[P2],
    tol: f64,
    mut f: impl FnMut(usize, usize) -> bool,
) -> bool {
    let mut items: Vec<(BBox, usize)> = (0..ring.len()).map(|i| (edge_bbox(ring, i), i)).collect();
    items.sort_unstable_by(|x, y| x.0.min[0].total_cmp(&y.0.min[0]));
    let mut active: Vec<usize> = Vec::new();
    for k in 0..items.len() {
        let (bb, idx) = items[k];
        active.retain(|&m| items[m].0.max[0] + tol >= bb.min[0]);
        for &m in &active {
            let (ob, oidx) = items[m];
            if bb.overlaps(&ob, tol) && f(idx.min(oidx), idx.max(oidx)) {
                return true;
            }
        }
        active.push(k);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        let (a, b) = ([0.0, 0.0], [10.0, 0.0]);
        assert!(segments_within(&a, &b, &[5.0, -1.0], &[5.0, 1.0], 0.0));
        assert!(segments_within(&a, &b, &[5.0, 0.0], &[5.0, 1.0], 0.0));
        assert!(!segments_within(&a, &b, &[5.0, 0.02], &[5.0, 1.0], 0.01));
        assert!(segments_within(&a, &b, &[5.0, 0.02], &[5.0, 1.0], 0.03));
        assert!(!segments_within(&a, &b, &[11.0, -1.0], &[11.0, 1.0], 0.5));
        // Collinear overlap.
        assert!(segments_within(&a, &b, &[3.0, 0.0], &[12.0, 0.0], 0.0));
        assert_eq!(
            crossing_parameter(&a, &b, &[2.5, -1.0], &[2.5, 1.0]),
            Some(0.25)
        );
    }

    #[test]
    fn ring_membership() {
        let sq = [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]];
        assert!(point_in_ring(&[2.0, 2.0], &sq));
        assert!(!point_in_ring(&[5.0, 2.0], &sq));
        assert!(point_in_or_near_ring(&[4.005, 2.0], &sq, 0.01));
        assert!(!point_in_or_near_ring(&[4.02, 2.0], &sq, 0.01));
    }

    #[test]
    fn sweep_finds_the_same_pairs_as_brute_force() {
        // Two zig-zag rings large enough to take the sweep path.
        let zig = |dx: f64, n: usize| -> Vec<P2> {
            (0..n)
                .map(|i| [i as f64 + dx, if i % 2 == 0 { 0.0 } else { 3.0 }])
                .chain((0..n).rev().map(|i| [i as f64 + dx, 10.0]))
                .collect()
        };
        let (a, b) = (zig(0.0, 40), zig(0.5, 30));
        let mut swept = Vec::new();
        any_edge_pair(&a, &b, 0.0, |i, j| {
            if segments_within(
                &a[i],
                &a[(i + 1) % a.len()],
                &b[j],
                &b[(j + 1) % b.len()],
                0.0,
            ) {
                swept.push((i, j));
            }
            false
        });
        let mut brute = Vec::new();
        for i in 0..a.len() {
            for j in 0..b.len() {
                if segments_within(
                    &a[i],
                    &a[(i + 1) % a.len()],
                    &b[j],
                    &b[(j + 1) % b.len()],
                    0.0,
                ) {
                    brute.push((i, j));
                }
            }
        }
        swept.sort_unstable();
        assert!(!brute.is_empty());
        assert_eq!(swept, brute);

        let mut self_swept = Vec::new();
        any_self_edge_pair(&a, 0.0, |i, j| {
            self_swept.push((i, j));
            false
        });
        let n = a.len();
        let mut self_brute = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                if edge_bbox(&a, i).overlaps(&edge_bbox(&a, j), 0.0) {
                    self_brute.push((i, j));
                }
            }
        }
        self_swept.sort_unstable();
        assert_eq!(self_swept, self_brute);
    }
}
