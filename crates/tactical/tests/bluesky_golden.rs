//! BlueSky-compatible mode against BlueSky 1.1.1's own output (StateBased,
//! python geo) on the N=1000 seed 1 scenario: every directed pair, within
//! 1e-6 s and 1e-3 m, none missing, none extra; same LoS pairs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;

use tactical::engine::{detect, detect_brute_force, DetectParams, MinimaRules, Mode, PairResult};
use tactical::scenario::{los_csv, pairs_csv, Scenario};
use tactical::units::Minima;

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read_pairs(text: &str) -> BTreeMap<(String, String), Vec<f64>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..5], &["id1", "id2", "tcpa_s", "dcpa_m", "tin_s"]);
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let vals = f[2..5].iter().map(|x| x.parse().unwrap()).collect();
            ((f[0].to_string(), f[1].to_string()), vals)
        })
        .collect()
}

/// Equality of two cycles, reporting only the differing pairs.
fn assert_same(fast: &[PairResult], slow: &[PairResult], what: &str) {
    if fast == slow {
        return;
    }
    let key = |p: &PairResult| (p.i, p.j);
    let missing: Vec<_> = slow
        .iter()
        .filter(|p| !fast.iter().any(|q| key(q) == key(p)))
        .take(5)
        .collect();
    let extra: Vec<_> = fast
        .iter()
        .filter(|p| !slow.iter().any(|q| key(q) == key(p)))
        .take(5)
        .collect();
    panic!(
        "{what}: {} pruned vs {} brute force; missing {missing:?}; extra {extra:?}",
        fast.len(),
        slow.len()
    );
}

fn params() -> DetectParams {
    DetectParams::new(Mode::Bluesky, 300.0, MinimaRules::uniform(Minima::EN_ROUTE))
}

#[test]
fn bluesky_mode_matches_bluesky_pairs_n1000() {
    let sc = Scenario::read(BufReader::new(
        File::open(data("scenario_n1000_seed1.csv")).unwrap(),
    ))
    .unwrap();
    assert_eq!(sc.states.len(), 1000);
    let pairs = detect(&sc.states, &params());
    let ours = read_pairs(&pairs_csv(&sc.ids, &pairs, false));
    let reference = read_pairs(
        &std::fs::read_to_string(data("pairs_n1000_seed1_statebased_pygeo.csv")).unwrap(),
    );
    assert_eq!(reference.len(), 319);
    let missing: Vec<_> = reference
        .keys()
        .filter(|k| !ours.contains_key(*k))
        .collect();
    let extra: Vec<_> = ours
        .keys()
        .filter(|k| !reference.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (k, r) in &reference {
        let o = &ours[k];
        assert!(
            (o[0] - r[0]).abs() <= 1e-6,
            "{k:?} tcpa {} vs {}",
            o[0],
            r[0]
        );
        assert!(
            (o[1] - r[1]).abs() <= 1e-3,
            "{k:?} dcpa {} vs {}",
            o[1],
            r[1]
        );
        assert!(
            (o[2] - r[2]).abs() <= 1e-6,
            "{k:?} tin {} vs {}",
            o[2],
            r[2]
        );
    }
    // 57 of them have no reverse pair: the vertical-speed clamp quirk.
    let one_way = ours
        .keys()
        .filter(|(a, b)| !ours.contains_key(&(b.clone(), a.clone())))
        .count();
    assert_eq!(one_way, 57);

    let los = los_csv(&sc.ids, &pairs, false);
    let reference_los =
        std::fs::read_to_string(data("los_n1000_seed1_statebased_pygeo.csv")).unwrap();
    assert_eq!(los, reference_los);
}

#[test]
fn pruned_cycle_equals_brute_force_on_generated_traffic() {
    for (n, seed) in [(1500, 3u64), (3000, 4)] {
        let sc = Scenario::generate(n, seed);
        for mode in [Mode::Bluesky, Mode::Default] {
            let mut p = params();
            p.mode = mode;
            let fast = detect(&sc.states, &p);
            let slow = detect_brute_force(&sc.states, &p);
            assert!(!slow.is_empty());
            assert_same(&fast, &slow, &format!("mode {mode:?} n {n}"));
        }
    }
}

/// Clusters of traffic anywhere on the globe, including over the poles and
/// across the antimeridian, where the pruning grid wraps and degenerates.
fn global_clusters(seed: u64) -> Vec<tactical::geometry::Kinematics> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres = [
        (90.0, 0.0),
        (-89.7, 120.0),
        (10.0, 179.99),
        (-45.0, -179.9),
        (60.0, 10.0),
        (84.0, -60.0),
    ];
    let mut out = Vec::new();
    for (lat0, lon0) in centres {
        for _ in 0..150 {
            let lat = (lat0 + (next() - 0.5) * 3.0_f64).clamp(-90.0, 90.0);
            let lon = lon0 + (next() - 0.5) * 20.0;
            let lon = (lon + 180.0_f64).rem_euclid(360.0) - 180.0;
            let trk = next() * std::f64::consts::TAU;
            let gs = 100.0 + next() * 200.0;
            out.push(tactical::geometry::Kinematics {
                lat_deg: lat,
                lon_deg: lon,
                alt_m: 9000.0 + (next() * 4.0).floor() * 304.8,
                east_mps: gs * trk.sin(),
                north_mps: gs * trk.cos(),
                vs_mps: if next() < 0.3 {
                    (next() - 0.5) * 20.0
                } else {
                    0.0
                },
            });
        }
    }
    out
}

#[test]
fn pruned_cycle_equals_brute_force_at_poles_and_antimeridian() {
    for seed in 1..4 {
        let states = global_clusters(seed);
        for mode in [Mode::Bluesky, Mode::Default] {
            let mut p = params();
            p.mode = mode;
            let fast = detect(&states, &p);
            let slow = detect_brute_force(&states, &p);
            assert!(slow.len() > 20, "{}", slow.len());
            assert_same(&fast, &slow, &format!("mode {mode:?} seed {seed}"));
        }
    }
}
