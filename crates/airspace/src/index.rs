//! In-memory spatio-temporal index of entities made of volumes.
//!
//! Each volume is one entry in an R-tree (rstar) over 5-D boxes:
//!
//! - 3 axes for the box around the footprint's bounding cap on the unit
//!   sphere of surface normals (scaled to metres). Working with normals
//!   rather than latitude/longitude means a footprint across the antimeridian
//!   or over a pole gets an ordinary, tight box, with no special case.
//! - altitude (m) and time (in units of 10 s from 2020). Unbounded sides
//!   become large finite sentinels, since infinite extents would poison the
//!   R*-tree's area/margin heuristics.
//!
//! The boxes are stored in single precision, rounded outward, so a box
//! never loses a point of its volume.
//!
//! A query collects the entries whose boxes meet the query's box, then runs
//! the exact [`Volume4D`] test, so results are exactly those of a full scan.
//! Volumes that can meet nothing (unusable footprint, NaN altitude) are kept
//! for [`Index::get`] but not put in the tree.
//!
//! Entities live in a slab and tree entries name their slot, so checking a
//! candidate costs no hashing; the key map is only used by insert, remove and
//! get. Each slot keeps its volumes' [`PreparedFootprint`]s, computed once at
//! insert (the box needs them anyway): preparing a stored footprint for every
//! candidate of every query was an eighth of a query's CPU time, for a few
//! hundred bytes per volume.
//!
//! The index is derived state: the store is the truth, and
//! [`Index::from_entries`] rebuilds it.
use crate::footprint::PreparedFootprint;
use crate::{Volume4D, Volumes};
use chrono::{DateTime, Utc};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{Envelope, RStarInsertionStrategy, RTree, RTreeObject, RTreeParams, AABB};
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::ops::ControlFlow;
use steadymap::{ChunkedVec, ShardedMap};

/// Boxes are single precision, rounded outward from the f64 values (see
/// [`volume_box`]): a tree entry is then 48 bytes instead of 88, and a
/// query's walk, which reads every box of every node it opens, reads a
/// third less memory (a node's slot for an entry or a child is 72 bytes
/// instead of 112). The widening (at most 0.5 m in space, 20–40 s in time for
/// dates up to 2040) only adds candidates, which the exact test removes.
type Point5 = [f32; 5];
/// A volume's box, naming (slot, volume index within the entity).
type Entry = GeomWithData<Rectangle<Point5>, (u32, u32)>;

/// R-tree shape, chosen by measurement at 1M volumes (see the benchmark):
/// nodes of 4–12 entries, and splitting an overfull node straight away
/// rather than R*'s forced reinsertion, which costs more per insert than it
/// gains in query speed on this data.
struct Params;

impl RTreeParams for Params {
    const MIN_SIZE: usize = 4;
    const MAX_SIZE: usize = 12;
    const REINSERTION_COUNT: usize = 0;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// Unit-normal coordinates are scaled to metres so that the five axes have
/// comparable units, which the R* split heuristics (areas, margins) assume.
const NORMAL_SCALE: f64 = 6_371_000.0;
/// Altitudes are clamped to ±this (m); unbounded sides map onto it.
const ALTITUDE_SENTINEL: f64 = 1e7;
/// Times are clamped to ±this (in [`TIME_UNIT_S`] from [`TIME_ORIGIN_S`],
/// ~ year 5190); unbounded sides map onto it.
const TIME_SENTINEL: f64 = 1e10;
/// Times count from 2020-01-01T00:00:00Z rather than 1970, so that the
/// dates in use are small numbers and their f32 rounding is fine (an f32
/// unit in the last place is 2 time units in 2026, 16 from 1970).
const TIME_ORIGIN_S: i64 = 1_577_836_800;
/// Time boxes are widened by this (in [`TIME_UNIT_S`], so 1 ms) so that the
/// f64 conversion of nanosecond timestamps can never drop a touching pair.
const TIME_PAD: f64 = 1e-4;

struct Slot<K> {
    key: K,
    volumes: Volumes,
    /// `prepared[i]` is `volumes[i]`'s footprint, prepared.
    prepared: Vec<PreparedFootprint>,
}

pub struct Index<K> {
    tree: RTree<Entry, Params>,
    // Containers that grow in small steps (see `steadymap`): this index
    // lives under the state's write lock.
    slots: ChunkedVec<Option<Slot<K>>>,
    free: Vec<u32>,
    by_key: ShardedMap<K, u32>,
    /// (latest end, key) for every entity whose volumes all have an end, so
    /// that expiry is a range scan. An entity with no volumes at all has
    /// `DateTime::<Utc>::MIN_UTC`: it is vacuously over.
    ends: BTreeSet<(DateTime<Utc>, K)>,
}

impl<K: Copy + Eq + Hash + Ord> Default for Index<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash + Ord> Index<K> {
    pub fn new() -> Self {
        Index {
            tree: RTree::new_with_params(),
            slots: ChunkedVec::new(),
            free: Vec::new(),
            by_key: ShardedMap::new(),
            ends: BTreeSet::new(),
        }
    }

    /// Builds an index from scratch. Later entries replace earlier ones with
    /// the same key.
    ///
    /// Not rstar's `bulk_load`: its partitioning cuts every axis at least in
    /// two, so in 5-D each node gets 2⁵ = 32 children whatever the node size,
    /// and the first inserts into such a tree cascade splits up to the root
    /// (~45 µs each at 1M). Instead the boxes are inserted one by one in
    /// Z-order of their centres, which keeps consecutive inserts in the same
    /// subtree (cache-friendly) and yields a regular R-tree; ~6 s for 1M
    /// volumes.
    pub fn from_entries<V: Into<Volumes>>(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let entries: Vec<(K, V)> = entries.into_iter().collect();
        let last: HashMap<K, usize> = entries.iter().enumerate().map(|(i, e)| (e.0, i)).collect();
        let mut idx = Index::new();
        let mut items = Vec::with_capacity(entries.len());
        for (i, (key, volumes)) in entries.into_iter().enumerate() {
            if last[&key] == i {
                let slot = idx.add_entity(key, volumes.into());
                push_entries(slot, idx.slot(slot), &mut items);
            }
        }
        sort_by_z_order(&mut items);
        for item in items {
            idx.tree.insert(item);
        }
        idx
    }

    /// Adds the entity, replacing any existing entity with the same key.
    /// `volumes` may be a `Vec` or an existing [`Volumes`] to share.
    pub fn insert(&mut self, key: K, volumes: impl Into<Volumes>) {
        self.remove(key);
        let slot = self.add_entity(key, volumes.into());
        let mut items = Vec::with_capacity(self.slot(slot).volumes.len());
        push_entries(slot, self.slot(slot), &mut items);
        for item in items {
            self.tree.insert(item);
        }
    }

    /// Removes the entity; returns whether it was present.
    pub fn remove(&mut self, key: K) -> bool {
        let Some(slot) = self.by_key.remove(&key) else {
            return false;
        };
        let entity = self.slots[slot as usize]
            .take()
            .expect("key map points at an empty slot");
        // Boxes are a deterministic function of the volume, so recomputing
        // them finds the exact tree entries without storing them twice.
        let mut items = Vec::with_capacity(entity.volumes.len());
        push_entries(slot, &entity, &mut items);
        for item in &items {
            let removed = self.tree.remove(item);
            debug_assert!(removed.is_some(), "index entry missing on remove");
        }
        if let Some(end) = latest_end(&entity.volumes) {
            self.ends.remove(&(end, key));
        }
        self.free.push(slot);
        true
    }

    pub fn get(&self, key: K) -> Option<&[Volume4D]> {
        self.by_key.get(&key).map(|&slot| &*self.slot(slot).volumes)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys (sorted, distinct) of the entities with at least one volume that
    /// intersects `volume`.
    pub fn query(&self, volume: &Volume4D) -> Vec<K> {
        self.query_any(std::slice::from_ref(volume))
    }

    /// Keys (sorted, distinct) of the entities with at least one volume that
    /// intersects at least one of `volumes`.
    pub fn query_any(&self, volumes: &[Volume4D]) -> Vec<K> {
        let queries: Vec<(&Volume4D, PreparedFootprint, AABB<Point5>)> = volumes
            .iter()
            .filter_map(|v| {
                let pf = PreparedFootprint::new(&v.footprint);
                volume_box(v, &pf).map(|b| (v, pf, b))
            })
            .collect();
        // (slot, volume index, query index) of every box-level candidate.
        // rstar's recursive walk, not its iterator (which keeps a stack of
        // nodes of its own): 10–15 % faster queries in the index benchmark.
        let mut candidates: Vec<(u32, u32, u32)> = Vec::new();
        for (qi, (_, _, aabb)) in queries.iter().enumerate() {
            let _ = self.tree.locate_in_envelope_intersecting_int(aabb, |e| {
                candidates.push((e.data.0, e.data.1, qi as u32));
                ControlFlow::<()>::Continue(())
            });
        }
        candidates.sort_unstable();
        let mut out = Vec::new();
        for group in candidates.chunk_by(|a, b| a.0 == b.0) {
            let entity = self.slot(group[0].0);
            let hit = group.chunk_by(|a, b| a.1 == b.1).any(|same_volume| {
                let vi = same_volume[0].1 as usize;
                let (v, vf) = (&entity.volumes[vi], &entity.prepared[vi]);
                same_volume.iter().any(|&(_, _, qi)| {
                    let (q, qf, _) = &queries[qi as usize];
                    q.time.overlaps(&v.time)
                        && q.altitude.overlaps(&v.altitude)
                        && qf.intersects(vf)
                })
            });
            if hit {
                out.push(entity.key);
            }
        }
        out.sort_unstable();
        out
    }

    /// Keys (sorted) of the entities whose every volume ends strictly before
    /// `t`: what has expired at `t`. A range scan over end times, not a scan
    /// over entities.
    pub fn ended_before(&self, t: DateTime<Utc>) -> Vec<K> {
        let mut keys: Vec<K> = self
            .ends
            .iter()
            .take_while(|(end, _)| *end < t)
            .map(|&(_, k)| k)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn slot(&self, slot: u32) -> &Slot<K> {
        self.slots[slot as usize]
            .as_ref()
            .expect("index entry points at an empty slot")
    }

    /// Stores the entity (not yet in the tree) in a free slot.
    fn add_entity(&mut self, key: K, volumes: Volumes) -> u32 {
        if let Some(end) = latest_end(&volumes) {
            self.ends.insert((end, key));
        }
        let prepared = volumes
            .iter()
            .map(|v| PreparedFootprint::new(&v.footprint))
            .collect();
        let entity = Some(Slot {
            key,
            volumes,
            prepared,
        });
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = entity;
                s
            }
            None => {
                let s = u32::try_from(self.slots.len()).expect("more than 2³² entities");
                self.slots.push(entity);
                s
            }
        };
        self.by_key.insert(key, slot);
        slot
    }
}

/// The latest end of the volumes, `None` if any is open-ended.
fn latest_end(volumes: &[Volume4D]) -> Option<DateTime<Utc>> {
    volumes.iter().try_fold(DateTime::<Utc>::MIN_UTC, |acc, v| {
        v.time.end.map(|e| acc.max(e))
    })
}

fn push_entries<K>(slot: u32, entity: &Slot<K>, out: &mut Vec<Entry>) {
    for (i, (v, pf)) in entity.volumes.iter().zip(&entity.prepared).enumerate() {
        if let Some(b) = volume_box(v, pf) {
            let vol = u32::try_from(i).expect("more than 2³² volumes in one entity");
            out.push(GeomWithData::new(
                Rectangle::from_corners(b.lower(), b.upper()),
                (slot, vol),
            ));
        }
    }
}

/// The time axis's unit (s): ten seconds, so that a day (8,640) is short beside the space an index holds
/// (hundreds of km in metres). The R* splits then cut space first, and a
/// query over a small area and a long time (what is planned here today?)
/// visits the few nodes around that area rather than one node per slice of
/// time; at 1M intents such queries took 23 % of the server's time in the
/// tree walk, with seconds as the unit.
const TIME_UNIT_S: f64 = 10.0;

/// `t` on the time axis: [`TIME_UNIT_S`] units from [`TIME_ORIGIN_S`].
fn time_coordinate(t: DateTime<Utc>) -> f64 {
    ((t.timestamp() - TIME_ORIGIN_S) as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9)
        / TIME_UNIT_S
}

/// The largest f32 not above `x` (finite `x` within f32's range).
fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f.next_down()
    } else {
        f
    }
}

/// The smallest f32 not below `x` (finite `x` within f32's range).
fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

/// The 5-D box of a volume, or `None` if the volume can intersect nothing.
///
/// Each axis interval is [min, max] of the two sides, which keeps the box
/// conservative even for inverted (invalid) ranges: `overlaps` on such a
/// range can still succeed against an unbounded one. Clamping is monotone,
/// so it preserves every overlap, and so is the outward rounding to f32
/// (lower sides down, upper sides up): a box holds all of its f64 box.
fn volume_box(v: &Volume4D, pf: &PreparedFootprint) -> Option<AABB<Point5>> {
    let cap = pf.cap()?;
    let (alo, ahi) = (v.altitude.lower_m, v.altitude.upper_m);
    if alo.is_nan() || ahi.is_nan() {
        return None;
    }
    let clamp_alt = |x: f64| x.clamp(-ALTITUDE_SENTINEL, ALTITUDE_SENTINEL);
    let ts = v.time.start.map_or(-TIME_SENTINEL, time_coordinate);
    let te = v.time.end.map_or(TIME_SENTINEL, time_coordinate);
    let clamp_t = |x: f64| x.clamp(-TIME_SENTINEL, TIME_SENTINEL);
    let (lo3, hi3) = cap.unit_box();
    Some(AABB::from_corners(
        [
            lo3[0] * NORMAL_SCALE,
            lo3[1] * NORMAL_SCALE,
            lo3[2] * NORMAL_SCALE,
            clamp_alt(alo.min(ahi)),
            clamp_t(ts.min(te) - TIME_PAD),
        ]
        .map(down),
        [
            hi3[0] * NORMAL_SCALE,
            hi3[1] * NORMAL_SCALE,
            hi3[2] * NORMAL_SCALE,
            clamp_alt(alo.max(ahi)),
            clamp_t(ts.max(te) + TIME_PAD),
        ]
        .map(up),
    ))
}

/// Orders boxes along a Z-order (Morton) curve of their centres in space and
/// time (altitude, rarely selective, is left out), 16 bits per axis.
fn sort_by_z_order(items: &mut [Entry]) {
    const AXES: [usize; 4] = [0, 1, 2, 4];
    let centres: Vec<Point5> = items.iter().map(|e| e.envelope().center()).collect();
    let mut lo = [f64::INFINITY; 5];
    let mut hi = [f64::NEG_INFINITY; 5];
    for c in &centres {
        for d in AXES {
            lo[d] = lo[d].min(f64::from(c[d]));
            hi[d] = hi[d].max(f64::from(c[d]));
        }
    }
    let code = |c: &Point5| -> u64 {
        let mut q = [0u64; 4];
        for (k, d) in AXES.into_iter().enumerate() {
            let span = hi[d] - lo[d];
            if span > 0.0 {
                q[k] = ((f64::from(c[d]) - lo[d]) / span * 65_535.0) as u64;
            }
        }
        let mut z = 0u64;
        for bit in (0..16).rev() {
            for qk in q {
                z = (z << 1) | ((qk >> bit) & 1);
            }
        }
        z
    };
    let mut order: Vec<(u64, usize)> = centres.iter().map(code).zip(0..).collect();
    order.sort_unstable();
    // Apply the permutation in place by following its cycles.
    let mut dest: Vec<usize> = vec![0; items.len()];
    for (new, &(_, old)) in order.iter().enumerate() {
        dest[old] = new;
    }
    for i in 0..items.len() {
        while dest[i] != i {
            let j = dest[i];
            items.swap(i, j);
            dest.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AltitudeRange, Footprint, LatLng, TimeRange};

    #[test]
    fn z_order_permutation_is_a_permutation() {
        let mut items: Vec<Entry> = (0..500u32)
            .map(|i| {
                let x = ((i * 7919) % 500) as f32;
                GeomWithData::new(
                    Rectangle::from_corners([x, 0.0, 0.0, 0.0, 0.0], [x + 1.0, 1.0, 1.0, 1.0, 1.0]),
                    (i, 0),
                )
            })
            .collect();
        sort_by_z_order(&mut items);
        let mut seen: Vec<u32> = items.iter().map(|e| e.data.0).collect();
        // Sorted by x (the only varying axis).
        let xs: Vec<f32> = items.iter().map(|e| e.envelope().lower()[0]).collect();
        assert!(xs.windows(2).all(|w| w[0] <= w[1]));
        seen.sort_unstable();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    proptest::proptest! {
        #[test]
        fn f32_rounding_brackets_the_value(x in -1e10f64..1e10) {
            let (lo, hi) = (f64::from(down(x)), f64::from(up(x)));
            proptest::prop_assert!(lo <= x && x <= hi);
            // Adjacent f32s, or both exactly x.
            proptest::prop_assert!(lo == hi || down(x).next_up() == up(x));
        }
    }

    #[test]
    fn slots_are_reused() {
        let v = Volume4D {
            footprint: Footprint::Circle {
                center: LatLng::new(1.0, 2.0),
                radius_m: 10.0,
            },
            altitude: AltitudeRange::UNBOUNDED,
            time: TimeRange::UNBOUNDED,
        };
        let mut idx = Index::new();
        for round in 0..3 {
            for k in 0..10u32 {
                idx.insert(k, vec![v.clone()]);
            }
            assert_eq!(idx.query(&v), (0..10).collect::<Vec<_>>(), "round {round}");
            for k in 0..10u32 {
                assert!(idx.remove(k));
            }
        }
        assert_eq!(idx.slots.len(), 10);
        assert!(idx.query(&v).is_empty());
    }
}
