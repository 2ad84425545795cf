//! Index and pair-test benchmarks on realistic traffic: 1–5 km circles and
//! polygons spread over a ~200 × 200 km region and a 24 h window, 1 h each.
//!
//! `cargo bench -p airspace --bench index -- --quick`
//!
//! Each index size is built once (`Index::from_entries`, timed and printed),
//! then:
//! - `insert`: a new entity into the index of that size (the inserted
//!   entities are removed again outside the timed section, so the size
//!   stays put);
//! - `replace`: re-inserting an existing key with a new volume (remove +
//!   insert: the common update);
//! - `query`: a random volume of the same kind, exact results;
//! - `query-day`: a 1 km square over the whole day.
//!
//! `busy-area/query`: the same 1 km, all-day query in a 10 km square that
//! holds 1,000 small intents, with `n` more around it (see
//! [`bench_busy_area`]): the query's cost as the index grows elsewhere.
use airspace::{AltitudeRange, Footprint, Index, LatLng, PreparedFootprint, TimeRange, Volume4D};
use chrono::{DateTime, Duration, Utc};
use criterion::measurement::WallTime;
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

const CENTER: LatLng = LatLng {
    lat: 47.0,
    lng: 8.0,
};
/// Half the side of the region, in metres.
const HALF_SIDE_M: f64 = 100_000.0;
const DAY_S: i64 = 86_400;

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000, 0).unwrap()
}

/// Offsets in metres to a point, locally flat: vertex placement needs to be
/// plausible, not geodesically exact.
fn offset(c: LatLng, east: f64, north: f64) -> LatLng {
    let m_per_deg = 111_320.0;
    LatLng {
        lat: c.lat + north / m_per_deg,
        lng: c.lng + east / (m_per_deg * c.lat.to_radians().cos()),
    }
}

fn footprint(rng: &mut StdRng) -> Footprint {
    let c = offset(
        CENTER,
        rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
        rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
    );
    // 1–5 km across.
    let radius = rng.gen_range(500.0..2_500.0);
    if rng.gen_bool(0.5) {
        Footprint::Circle {
            center: c,
            radius_m: radius,
        }
    } else {
        let n = rng.gen_range(4..9);
        let a0 = rng.gen_range(0.0..std::f64::consts::TAU);
        let vertices = (0..n)
            .map(|k| {
                let a = a0 + std::f64::consts::TAU * k as f64 / n as f64;
                let r = radius * rng.gen_range(0.6..1.0);
                offset(c, r * a.cos(), r * a.sin())
            })
            .collect();
        Footprint::Polygon { vertices }
    }
}

fn volume(rng: &mut StdRng) -> Volume4D {
    let start = epoch() + Duration::seconds(rng.gen_range(0..DAY_S));
    let lower = rng.gen_range(0.0..300.0);
    Volume4D {
        footprint: footprint(rng),
        altitude: AltitudeRange {
            lower_m: lower,
            upper_m: lower + rng.gen_range(50.0..150.0),
        },
        time: TimeRange::new(start, start + Duration::hours(1)),
    }
}

/// What is planned around a random point all day.
fn day_query(rng: &mut StdRng) -> Volume4D {
    day_query_at(offset(
        CENTER,
        rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
        rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
    ))
}

/// What is planned around `c` all day: a 1 km square over the whole day,
/// the HTTP benchmark's query (small in space, long in time).
fn day_query_at(c: LatLng) -> Volume4D {
    let vertices = [
        (-500.0, -500.0),
        (500.0, -500.0),
        (500.0, 500.0),
        (-500.0, 500.0),
    ]
    .iter()
    .map(|&(e, n)| offset(c, e, n))
    .collect();
    Volume4D {
        footprint: Footprint::Polygon { vertices },
        altitude: AltitudeRange {
            lower_m: 0.0,
            upper_m: 500.0,
        },
        time: TimeRange::new(epoch(), epoch() + Duration::seconds(DAY_S)),
    }
}

fn bench_pairs(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let circle = |lat: f64, lng: f64, r: f64| Footprint::Circle {
        center: LatLng { lat, lng },
        radius_m: r,
    };
    let hexagon = |c: LatLng, r: f64| Footprint::Polygon {
        vertices: (0..6)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 6.0;
                offset(c, r * a.cos(), r * a.sin())
            })
            .collect(),
    };
    // Overlapping pairs, the expensive outcome (no early cap rejection).
    let a_c = circle(47.0, 8.0, 2_000.0);
    let b_c = circle(47.01, 8.02, 1_500.0);
    let a_p = hexagon(CENTER, 2_000.0);
    let b_p = hexagon(offset(CENTER, 1_500.0, 800.0), 1_500.0);
    let mut g = c.benchmark_group("pair");
    g.sample_size(30);
    for (name, a, b) in [
        ("circle-circle", &a_c, &b_c),
        ("polygon-polygon", &a_p, &b_p),
        ("polygon-circle", &a_p, &b_c),
    ] {
        g.bench_function(format!("{name}/unprepared"), |bench| {
            bench.iter(|| black_box(a).intersects(black_box(b)))
        });
        let (pa, pb) = (PreparedFootprint::new(a), PreparedFootprint::new(b));
        g.bench_function(format!("{name}/prepared"), |bench| {
            bench.iter(|| black_box(&pa).intersects(black_box(&pb)))
        });
    }
    // Random realistic pairs, mostly far apart.
    let pool: Vec<Footprint> = (0..1024).map(|_| footprint(&mut rng)).collect();
    let mut k = 0usize;
    g.bench_function("random/unprepared", |bench| {
        bench.iter(|| {
            k = (k + 1) % 1023;
            black_box(pool[k].intersects(&pool[k + 1]))
        })
    });
    g.finish();
}

/// Few, short samples: each size's index takes seconds to build and is
/// built once, and the interesting differences are between sizes.
fn short_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(3));
    g
}

fn bench_index(c: &mut Criterion) {
    let mut g = short_group(c, "index");
    for &n in &[10_000u64, 100_000, 1_000_000] {
        let mut rng = StdRng::seed_from_u64(n);
        let entries: Vec<(u64, Vec<Volume4D>)> =
            (0..n).map(|k| (k, vec![volume(&mut rng)])).collect();
        let built = Instant::now();
        let mut idx = Index::from_entries(entries);
        let build_s = built.elapsed().as_secs_f64();
        let queries: Vec<Volume4D> = (0..4096).map(|_| volume(&mut rng)).collect();
        let day_queries: Vec<Volume4D> = (0..4096).map(|_| day_query(&mut rng)).collect();
        let pool: Vec<Volume4D> = (0..4096).map(|_| volume(&mut rng)).collect();
        let mean_hits = |qs: &[Volume4D]| {
            qs.iter().map(|q| idx.query(q).len()).sum::<usize>() as f64 / qs.len() as f64
        };
        println!(
            "index n={n}: from_entries {build_s:.2} s ({:.2} µs/entity), mean {:.2} hits/query, {:.2} hits/day query",
            build_s * 1e6 / n as f64,
            mean_hits(&queries),
            mean_hits(&day_queries),
        );

        let mut next_key = n;
        g.bench_with_input(BenchmarkId::new("insert", n), &n, |bench, _| {
            bench.iter_custom(|iters| {
                let first = next_key;
                let start = Instant::now();
                for i in 0..iters {
                    idx.insert(next_key, vec![pool[(i % 4096) as usize].clone()]);
                    next_key += 1;
                }
                let elapsed = start.elapsed();
                for k in first..next_key {
                    idx.remove(k);
                }
                elapsed
            })
        });
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("replace", n), &n, |bench, _| {
            bench.iter(|| {
                i += 1;
                idx.insert((i as u64 * 7919) % n, vec![pool[i % 4096].clone()]);
            })
        });
        let mut j = 0usize;
        g.bench_with_input(BenchmarkId::new("query", n), &n, |bench, _| {
            bench.iter(|| {
                j = (j + 1) % 4096;
                black_box(idx.query(&queries[j]))
            })
        });
        g.bench_with_input(BenchmarkId::new("query-day", n), &n, |bench, _| {
            bench.iter(|| {
                j = (j + 1) % 4096;
                black_box(idx.query(&day_queries[j]))
            })
        });
        drop(idx);
    }
    g.finish();
}

/// The HTTP benchmark's busy area in miniature, to see what the index alone
/// makes of "flat to 1M": 1,000 intents (70 m circles, 8 min) in a 10 km
/// square, and `n` others (700 m circles, 25 min) over the 200 km square
/// around it with the busy square left empty, so that a busy-area query
/// (1 km, all day) finds as many intents at every `n` and only the index
/// grows.
fn bench_busy_area(c: &mut Criterion) {
    const BUSY_HALF_M: f64 = 5_000.0;
    let timed = |rng: &mut StdRng, center: LatLng, radius_m: f64, minutes: i64| {
        let start = epoch() + Duration::seconds(rng.gen_range(0..DAY_S));
        Volume4D {
            footprint: Footprint::Circle { center, radius_m },
            altitude: AltitudeRange {
                lower_m: 0.0,
                upper_m: 120.0,
            },
            time: TimeRange::new(start, start + Duration::minutes(minutes)),
        }
    };
    let mut g = short_group(c, "busy-area");
    for &n in &[10_000u64, 100_000, 1_000_000] {
        let mut rng = StdRng::seed_from_u64(n);
        let mut entries: Vec<(u64, Vec<Volume4D>)> = Vec::with_capacity(n as usize);
        while (entries.len() as u64) < n {
            let (east, north) = (
                rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
                rng.gen_range(-HALF_SIDE_M..HALF_SIDE_M),
            );
            if east.abs() < BUSY_HALF_M + 1_000.0 && north.abs() < BUSY_HALF_M + 1_000.0 {
                continue;
            }
            let v = timed(&mut rng, offset(CENTER, east, north), 350.0, 25);
            entries.push((entries.len() as u64, vec![v]));
        }
        let mut idx = Index::from_entries(entries);
        // The busy area fills after the preload, one create at a time.
        for k in 0..1_000 {
            let at = offset(
                CENTER,
                rng.gen_range(-BUSY_HALF_M..BUSY_HALF_M),
                rng.gen_range(-BUSY_HALF_M..BUSY_HALF_M),
            );
            idx.insert(n + k, vec![timed(&mut rng, at, 35.0, 8)]);
        }
        let inner = BUSY_HALF_M - 500.0;
        let queries: Vec<Volume4D> = (0..4096)
            .map(|_| {
                day_query_at(offset(
                    CENTER,
                    rng.gen_range(-inner..inner),
                    rng.gen_range(-inner..inner),
                ))
            })
            .collect();
        let hits = queries.iter().map(|q| idx.query(q).len()).sum::<usize>() as f64 / 4096.0;
        println!("busy-area n={n}: mean {hits:.2} hits/query");
        let mut j = 0usize;
        g.bench_with_input(BenchmarkId::new("query", n), &n, |bench, _| {
            bench.iter(|| {
                j = (j + 1) % 4096;
                black_box(idx.query(&queries[j]))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pairs, bench_index, bench_busy_area);
criterion_main!(benches);
