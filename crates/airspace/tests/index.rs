//! The index returns exactly what a full scan would.
mod common;

use airspace::{AltitudeRange, Footprint, Index, TimeRange, Volume4D};
use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000 + s, 0).unwrap()
}

fn v(footprint: Footprint, lo: f64, hi: f64, start: i64, end: i64) -> Volume4D {
    Volume4D {
        footprint,
        altitude: AltitudeRange {
            lower_m: lo,
            upper_m: hi,
        },
        time: TimeRange::new(t(start), t(end)),
    }
}

#[test]
fn insert_get_replace_remove() {
    let mut idx: Index<u32> = Index::new();
    assert!(idx.is_empty());
    let a = v(circle(47.0, 8.0, 1_000.0), 0.0, 100.0, 0, 3600);
    let b = v(circle(47.0, 8.05, 1_000.0), 0.0, 100.0, 0, 3600);
    idx.insert(1, vec![a.clone()]);
    idx.insert(2, vec![b.clone()]);
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.get(1), Some(&[a.clone()][..]));
    assert_eq!(
        idx.query(&v(circle(47.0, 8.0, 10.0), 50.0, 60.0, 10, 20)),
        vec![1]
    );
    let wide = v(circle(47.0, 8.02, 5_000.0), 50.0, 60.0, 10, 20);
    assert_eq!(idx.query(&wide), vec![1, 2]);
    // Replace 1 with a volume elsewhere: the old box must be gone.
    let far = v(circle(-33.0, 151.0, 1_000.0), 0.0, 100.0, 0, 3600);
    idx.insert(1, vec![far.clone()]);
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.query(&wide), vec![2]);
    assert_eq!(idx.query(&far), vec![1]);
    assert!(idx.remove(2));
    assert!(!idx.remove(2));
    assert_eq!(idx.query(&wide), Vec::<u32>::new());
    assert_eq!(idx.get(2), None);
    assert_eq!(idx.len(), 1);
}

#[test]
fn exact_not_just_boxes() {
    // Two circles whose boxes overlap but which are 2 m apart.
    let mut idx: Index<u32> = Index::new();
    let c = ll(10.0, 180.0);
    let other = go(c, 45.0, 2_000.0 + 1_000.0 + 2.0);
    idx.insert(7, vec![v(circle(c.lat, c.lng, 2_000.0), 0.0, 1.0, 0, 1)]);
    let q = v(circle(other.lat, other.lng, 1_000.0), 0.0, 1.0, 0, 1);
    assert!(idx.query(&q).is_empty());
    let q = v(circle(other.lat, other.lng, 1_004.0), 0.0, 1.0, 0, 1);
    assert_eq!(idx.query(&q), vec![7]);
}

#[test]
fn multi_volume_entities_and_query_any() {
    let mut idx: Index<u32> = Index::new();
    idx.insert(
        1,
        vec![
            v(circle(0.0, 0.0, 100.0), 0.0, 10.0, 0, 10),
            v(circle(0.0, 1.0, 100.0), 0.0, 10.0, 20, 30),
        ],
    );
    idx.insert(2, vec![v(circle(0.0, 2.0, 100.0), 0.0, 10.0, 0, 30)]);
    let q1 = v(circle(0.0, 1.0, 50.0), 5.0, 6.0, 25, 26);
    let q2 = v(circle(0.0, 2.0, 50.0), 5.0, 6.0, 25, 26);
    assert_eq!(idx.query(&q1), vec![1]);
    assert_eq!(idx.query_any(&[q1.clone(), q2.clone()]), vec![1, 2]);
    assert_eq!(idx.query_any(&[q2.clone(), q1, q2]), vec![1, 2]);
    assert_eq!(idx.query_any(&[]), Vec::<u32>::new());
}

#[test]
fn ended_before_is_strict_and_ignores_open_ended() {
    let mut idx: Index<u32> = Index::new();
    idx.insert(1, vec![v(circle(0.0, 0.0, 1.0), 0.0, 1.0, 0, 100)]);
    idx.insert(
        2,
        vec![
            v(circle(0.0, 0.0, 1.0), 0.0, 1.0, 0, 100),
            v(circle(0.0, 0.0, 1.0), 0.0, 1.0, 0, 200),
        ],
    );
    let mut open = v(circle(0.0, 0.0, 1.0), 0.0, 1.0, 0, 10);
    open.time.end = None;
    idx.insert(3, vec![open]);
    assert_eq!(idx.ended_before(t(100)), Vec::<u32>::new());
    assert_eq!(idx.ended_before(t(101)), vec![1]);
    assert_eq!(idx.ended_before(t(201)), vec![1, 2]);
    idx.insert(1, vec![v(circle(0.0, 0.0, 1.0), 0.0, 1.0, 0, 1000)]);
    assert_eq!(idx.ended_before(t(201)), vec![2]);
    idx.remove(2);
    assert_eq!(idx.ended_before(t(100_000)), vec![1]);
}

#[test]
fn bulk_load_matches_incremental() {
    let entries: Vec<(u32, Vec<Volume4D>)> = (0..500u32)
        .map(|k| {
            let c = ll(40.0 + (k % 25) as f64 * 0.01, 10.0 + (k / 25) as f64 * 0.01);
            (
                k,
                vec![v(
                    circle(c.lat, c.lng, 600.0),
                    0.0,
                    100.0,
                    k as i64,
                    k as i64 + 50,
                )],
            )
        })
        .collect();
    let bulk = Index::from_entries(entries.clone());
    let mut inc = Index::new();
    for (k, vs) in entries {
        inc.insert(k, vs);
    }
    assert_eq!(bulk.len(), inc.len());
    for k in 0..60 {
        let q = v(circle(40.1, 10.05, 1_500.0), 50.0, 60.0, k * 7, k * 7 + 10);
        assert_eq!(bulk.query(&q), inc.query(&q));
    }
    assert_eq!(bulk.ended_before(t(300)), inc.ended_before(t(300)));
}

#[test]
fn from_entries_keeps_the_last_entry_per_key() {
    let here = v(circle(10.0, 10.0, 100.0), 0.0, 10.0, 0, 10);
    let there = v(circle(-10.0, -10.0, 100.0), 0.0, 10.0, 0, 20);
    let idx = Index::from_entries(vec![
        (1u32, vec![here.clone()]),
        (2, vec![here.clone()]),
        (1, vec![there.clone()]),
    ]);
    assert_eq!(idx.len(), 2);
    assert_eq!(idx.query(&here), vec![2]);
    assert_eq!(idx.query(&there), vec![1]);
    assert_eq!(idx.get(1), Some(&[there][..]));
    assert_eq!(idx.ended_before(t(15)), vec![2]);
}

// ---- property test against a brute-force shadow -------------------------

/// Volumes in a ~20 km region straddling the antimeridian, so that boxes
/// collide often and the exact test decides; with unbounded, inverted and
/// touching altitude/time ranges mixed in.
fn volume() -> impl Strategy<Value = Volume4D> {
    let footprint = prop_oneof![
        (-50.1..-49.9f64, 179.85..180.15f64, 10.0..4_000.0f64).prop_map(|(lat, lng, r)| {
            let lng = if lng > 180.0 { lng - 360.0 } else { lng };
            circle(lat, lng, r)
        }),
        (
            -50.1..-49.9f64,
            179.85..180.15f64,
            0.0..360.0f64,
            prop::collection::vec(100.0..4_000.0f64, 3..7)
        )
            .prop_map(|(lat, lng, az, radii)| {
                let lng = if lng > 180.0 { lng - 360.0 } else { lng };
                star(ll(lat, lng), az, &radii, &[])
            }),
    ];
    let alt = prop_oneof![
        (0.0..300.0f64, 0.0..200.0f64).prop_map(|(lo, h)| AltitudeRange {
            lower_m: lo,
            upper_m: lo + h
        }),
        Just(AltitudeRange::UNBOUNDED),
        (0.0..300.0f64).prop_map(|lo| AltitudeRange {
            lower_m: lo,
            upper_m: f64::INFINITY
        }),
        // Inverted (invalid, but the index must still agree with a scan).
        (0.0..300.0f64, 0.0..50.0f64).prop_map(|(lo, h)| AltitudeRange {
            lower_m: lo + h,
            upper_m: lo
        }),
    ];
    let time = prop_oneof![
        (0i64..20, 1i64..6).prop_map(|(s, d)| TimeRange::new(t(s * 600), t((s + d) * 600))),
        (0i64..20).prop_map(|s| TimeRange {
            start: Some(t(s * 600)),
            end: None
        }),
        (0i64..20).prop_map(|e| TimeRange {
            start: None,
            end: Some(t(e * 600))
        }),
        Just(TimeRange::UNBOUNDED),
        (0i64..20, 1i64..6).prop_map(|(s, d)| TimeRange::new(t((s + d) * 600), t(s * 600))),
        (0i64..20, 0i64..1_000_000_000).prop_map(|(s, ns)| {
            let a = t(s * 600) + Duration::nanoseconds(ns);
            TimeRange::new(a, a)
        }),
    ];
    (footprint, alt, time).prop_map(|(footprint, altitude, time)| Volume4D {
        footprint,
        altitude,
        time,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, Vec<Volume4D>),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, prop::collection::vec(volume(), 0..4)).prop_map(|(k, vs)| Op::Insert(k, vs)),
        1 => (0u8..40).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn index_agrees_with_full_scan(
        ops in prop::collection::vec(op(), 1..80),
        queries in prop::collection::vec(volume(), 1..12),
        cut in 0i64..30,
        bulk in any::<bool>(),
    ) {
        let mut idx: Index<u8> = Index::new();
        let mut shadow: BTreeMap<u8, Vec<Volume4D>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, vs) => {
                    idx.insert(k, vs.clone());
                    shadow.insert(k, vs);
                }
                Op::Remove(k) => {
                    prop_assert_eq!(idx.remove(k), shadow.remove(&k).is_some());
                }
            }
        }
        if bulk {
            idx = Index::from_entries(shadow.clone());
        }
        prop_assert_eq!(idx.len(), shadow.len());
        for (k, vs) in &shadow {
            prop_assert_eq!(idx.get(*k), Some(vs.as_slice()));
        }
        for q in &queries {
            let expect: Vec<u8> = shadow
                .iter()
                .filter(|(_, vs)| vs.iter().any(|x| x.intersects(q)))
                .map(|(k, _)| *k)
                .collect();
            prop_assert_eq!(idx.query(q), expect);
        }
        let expect: Vec<u8> = shadow
            .iter()
            .filter(|(_, vs)| vs.iter().any(|x| queries.iter().any(|q| x.intersects(q))))
            .map(|(k, _)| *k)
            .collect();
        prop_assert_eq!(idx.query_any(&queries), expect);
        let at = t(cut * 600);
        let expect: Vec<u8> = shadow
            .iter()
            .filter(|(_, vs)| vs.iter().all(|x| x.time.end.is_some_and(|e| e < at)))
            .map(|(k, _)| *k)
            .collect();
        prop_assert_eq!(idx.ended_before(at), expect);
    }
}
