//! In-memory spatio-temporal index of entities made of volumes.
//!
//! Each volume is one entry in an R-tree (rstar) over 5-D boxes:
//!
//! - 3 axes for the box around the footprint's bounding cap on the unit
//!   sphere of surface normals (scaled to metres). Working with normals
//!   rather than latitude/longitude means a footprint across the antimeridian
//!   or over a pole gets an ordinary, tight box, with no special case.
//! - altitude (m) and time (s since the epoch). Unbounded sides become large
//!   finite sentinels, since infinite extents would poison the R*-tree's
//!   area/margin heuristics.
//!
//! A query collects the entries whose boxes meet the query's box, then runs
//! the exact [`Volume4D`] test, so results are exactly those of a full scan.
//! Volumes that can meet nothing (unusable footprint, NaN altitude) are kept
//! for [`Index::get`] but not put in the tree.
//!
//! The index is derived state: the store is the truth, and
//! [`Index::from_entries`] rebuilds it in one bulk load.
use crate::footprint::PreparedFootprint;
use crate::Volume4D;
use chrono::{DateTime, Utc};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RStarInsertionStrategy, RTree, RTreeParams, AABB};
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

type Point5 = [f64; 5];
type Entry<K> = GeomWithData<Rectangle<Point5>, (K, u32)>;

pub struct Params;
impl RTreeParams for Params {
    const MIN_SIZE: usize = 4;
    const MAX_SIZE: usize = 12;
    const REINSERTION_COUNT: usize = 3;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// Unit-normal coordinates are scaled to metres so that the five axes have
/// comparable units, which the R* split heuristics (margins) assume.
const NORMAL_SCALE: f64 = 6_371_000.0;
/// Altitudes are clamped to ±this (m); unbounded sides map onto it.
const ALTITUDE_SENTINEL: f64 = 1e7;
/// Times are clamped to ±this (s since 1970, ~ year 5138); unbounded sides
/// map onto it.
const TIME_SENTINEL: f64 = 1e11;
/// Time boxes are widened by this (s) so that the f64 conversion of
/// nanosecond timestamps can never drop a touching pair.
const TIME_PAD: f64 = 1e-3;

pub struct Index<K> {
    tree: RTree<Entry<K>, Params>,
    entities: HashMap<K, Vec<Volume4D>>,
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
            entities: HashMap::new(),
            ends: BTreeSet::new(),
        }
    }

    /// Builds an index from scratch in one bulk load (several times faster
    /// than inserting one by one, and a better-balanced tree). Later entries
    /// replace earlier ones with the same key.
    pub fn from_entries(entries: impl IntoIterator<Item = (K, Vec<Volume4D>)>) -> Self {
        let mut entities: HashMap<K, Vec<Volume4D>> = HashMap::new();
        for (key, volumes) in entries {
            entities.insert(key, volumes);
        }
        let mut items = Vec::with_capacity(entities.len());
        let mut ends = BTreeSet::new();
        for (key, volumes) in &entities {
            push_entries(*key, volumes, &mut items);
            if let Some(end) = latest_end(volumes) {
                ends.insert((end, *key));
            }
        }
        let mut tree = RTree::new_with_params();
        if std::env::var("MORTON").is_ok() { sort_by_morton(&mut items); }
        for it in items { tree.insert(it); }
        Index {
            tree,
            entities,
            ends,
        }
    }

    /// Adds the entity, replacing any existing entity with the same key.
    pub fn insert(&mut self, key: K, volumes: Vec<Volume4D>) {
        self.remove(key);
        let mut items = Vec::with_capacity(volumes.len());
        push_entries(key, &volumes, &mut items);
        for item in items {
            self.tree.insert(item);
        }
        if let Some(end) = latest_end(&volumes) {
            self.ends.insert((end, key));
        }
        self.entities.insert(key, volumes);
    }

    /// Removes the entity; returns whether it was present.
    pub fn remove(&mut self, key: K) -> bool {
        let Some(volumes) = self.entities.remove(&key) else {
            return false;
        };
        // Boxes are a deterministic function of the volume, so recomputing
        // them finds the exact tree entries without storing them twice.
        let mut items = Vec::with_capacity(volumes.len());
        push_entries(key, &volumes, &mut items);
        for item in &items {
            let removed = self.tree.remove(item);
            debug_assert!(removed.is_some(), "index entry missing on remove");
        }
        if let Some(end) = latest_end(&volumes) {
            self.ends.remove(&(end, key));
        }
        true
    }

    pub fn get(&self, key: K) -> Option<&[Volume4D]> {
        self.entities.get(&key).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn tmp_visits(&self, key: K) -> (usize, usize) {
        use std::cell::Cell;
        struct F<'a, K> {
            target: AABB<Point5>,
            checked: &'a Cell<usize>,
            unpacked: &'a Cell<usize>,
            _k: std::marker::PhantomData<K>,
        }
        impl<'a, K> rstar::SelectionFunction<Entry<K>> for F<'a, K>
        where
            Entry<K>: rstar::RTreeObject<Envelope = AABB<Point5>>,
        {
            fn should_unpack_parent(&self, e: &AABB<Point5>) -> bool {
                use rstar::Envelope;
                self.checked.set(self.checked.get() + 1);
                let r = e.contains_envelope(&self.target);
                if r {
                    self.unpacked.set(self.unpacked.get() + 1);
                }
                r
            }
        }
        let v = &self.entities[&key][0];
        let pf = PreparedFootprint::new(&v.footprint);
        let b = volume_box(v, &pf).unwrap();
        let (c, u) = (Cell::new(0), Cell::new(0));
        let f = F::<K> {
            target: b,
            checked: &c,
            unpacked: &u,
            _k: std::marker::PhantomData,
        };
        let _ = self.tree.locate_with_selection_function(f).count();
        (c.get(), u.get())
    }
    pub fn tmp_boxes(&self, volume: &Volume4D) -> usize {
        let pf = PreparedFootprint::new(&volume.footprint);
        let b = volume_box(volume, &pf).unwrap();
        self.tree.locate_in_envelope_intersecting(&b).count()
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
        // (key, volume index, query index) of every box-level candidate.
        let mut candidates: Vec<(K, u32, u32)> = Vec::new();
        for (qi, (_, _, aabb)) in queries.iter().enumerate() {
            candidates.extend(
                self.tree
                    .locate_in_envelope_intersecting(aabb)
                    .map(|e| (e.data.0, e.data.1, qi as u32)),
            );
        }
        candidates.sort_unstable();
        let mut out = Vec::new();
        for group in candidates.chunk_by(|a, b| a.0 == b.0) {
            let key = group[0].0;
            let stored = &self.entities[&key];
            let hit = group.chunk_by(|a, b| a.1 == b.1).any(|same_volume| {
                let v = &stored[same_volume[0].1 as usize];
                // Prepare the stored footprint once, and only after a query
                // has passed the cheap altitude and time tests.
                let mut prepared: Option<PreparedFootprint> = None;
                same_volume.iter().any(|&(_, _, qi)| {
                    let (q, qf, _) = &queries[qi as usize];
                    q.time.overlaps(&v.time)
                        && q.altitude.overlaps(&v.altitude)
                        && qf.intersects(
                            prepared.get_or_insert_with(|| PreparedFootprint::new(&v.footprint)),
                        )
                })
            });
            if hit {
                out.push(key);
            }
        }
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
}

/// The latest end of the volumes, `None` if any is open-ended.
fn latest_end(volumes: &[Volume4D]) -> Option<DateTime<Utc>> {
    volumes.iter().try_fold(DateTime::<Utc>::MIN_UTC, |acc, v| {
        v.time.end.map(|e| acc.max(e))
    })
}

fn push_entries<K: Copy>(key: K, volumes: &[Volume4D], out: &mut Vec<Entry<K>>) {
    for (i, v) in volumes.iter().enumerate() {
        let pf = PreparedFootprint::new(&v.footprint);
        if let Some(b) = volume_box(v, &pf) {
            out.push(GeomWithData::new(
                Rectangle::from_corners(b.lower(), b.upper()),
                (key, i as u32),
            ));
        }
    }
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9
}

/// The 5-D box of a volume, or `None` if the volume can intersect nothing.
///
/// Each axis interval is [min, max] of the two sides, which keeps the box
/// conservative even for inverted (invalid) ranges: `overlaps` on such a
/// range can still succeed against an unbounded one. Clamping is monotone,
/// so it preserves every overlap.
fn volume_box(v: &Volume4D, pf: &PreparedFootprint) -> Option<AABB<Point5>> {
    let cap = pf.cap()?;
    let (alo, ahi) = (v.altitude.lower_m, v.altitude.upper_m);
    if alo.is_nan() || ahi.is_nan() {
        return None;
    }
    let clamp_alt = |x: f64| x.clamp(-ALTITUDE_SENTINEL, ALTITUDE_SENTINEL);
    let ts = v.time.start.map_or(-TIME_SENTINEL, seconds);
    let te = v.time.end.map_or(TIME_SENTINEL, seconds);
    let clamp_t = |x: f64| x.clamp(-TIME_SENTINEL, TIME_SENTINEL);
    let (lo3, hi3) = cap.unit_box();
    Some(AABB::from_corners(
        [
            lo3[0] * NORMAL_SCALE,
            lo3[1] * NORMAL_SCALE,
            lo3[2] * NORMAL_SCALE,
            clamp_alt(alo.min(ahi)),
            clamp_t(ts.min(te) - TIME_PAD),
        ],
        [
            hi3[0] * NORMAL_SCALE,
            hi3[1] * NORMAL_SCALE,
            hi3[2] * NORMAL_SCALE,
            clamp_alt(alo.max(ahi)),
            clamp_t(ts.max(te) + TIME_PAD),
        ],
    ))
}

fn sort_by_morton<K>(items: &mut Vec<Entry<K>>) {
    use rstar::{Envelope, RTreeObject};
    if items.is_empty() { return; }
    let mut lo = [f64::INFINITY; 5];
    let mut hi = [f64::NEG_INFINITY; 5];
    let centres: Vec<[f64; 5]> = items.iter().map(|e| e.envelope().center()).collect();
    for c in &centres { for d in 0..5 { lo[d] = lo[d].min(c[d]); hi[d] = hi[d].max(c[d]); } }
    let dims = [0usize, 1, 2, 4];
    let mut keyed: Vec<(u64, usize)> = centres.iter().enumerate().map(|(i, c)| {
        let mut code = 0u64;
        let q: Vec<u64> = dims.iter().map(|&d| { let span = hi[d] - lo[d]; if span > 0.0 { (((c[d] - lo[d]) / span) * 65535.0) as u64 } else { 0 } }).collect();
        for bit in (0..16).rev() { for qd in &q { code = (code << 1) | ((qd >> bit) & 1); } }
        (code, i)
    }).collect();
    keyed.sort_unstable();
    let mut taken: Vec<Option<Entry<K>>> = items.drain(..).map(Some).collect();
    for (_, i) in keyed { items.push(taken[i].take().unwrap()); }
}
