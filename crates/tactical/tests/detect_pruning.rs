//! The pruned cycle against the O(N²) reference on traffic built to hit
//! the pruning's edges: exactly level aircraft on flight levels (pairs one
//! minimum apart, which only BlueSky's vertical clamp reports), vertical
//! speeds around the level classes, several vertical minima, dense
//! clusters, and lookaheads long enough to test every pair.

use tactical::engine::{detect, detect_brute_force, Area, DetectParams, MinimaRules, Mode};
use tactical::geometry::Kinematics;
use tactical::units::{Minima, FT, NM};

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` aircraft within `half_deg` of (lat0, lon0), most of them exactly
/// level on flight levels 1000 ft apart, some with tiny or ordinary
/// vertical speeds.
fn flight_levels(n: usize, seed: u64, lat0: f64, lon0: f64, half_deg: f64) -> Vec<Kinematics> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let lat = (lat0 + (r.unit() - 0.5) * 2.0 * half_deg).clamp(-90.0, 90.0);
            let lon = (lon0 + (r.unit() - 0.5) * 2.0 * half_deg + 180.0).rem_euclid(360.0) - 180.0;
            let fl = 100.0 + (r.unit() * 6.0).floor() * 10.0;
            let (gs, trk) = (100.0 + r.unit() * 160.0, r.unit() * std::f64::consts::TAU);
            let kind = r.unit();
            let (alt, vs) = if kind < 0.6 {
                (fl * 100.0 * FT, 0.0)
            } else if kind < 0.7 {
                // "Level" with a little noise, on either side of 0.5 m/s.
                (fl * 100.0 * FT, (r.unit() - 0.5) * 1.2)
            } else if kind < 0.75 {
                (fl * 100.0 * FT, (r.unit() - 0.5) * 2e-6)
            } else {
                (
                    fl * 100.0 * FT + (r.unit() - 0.5) * 900.0,
                    (r.unit() - 0.5) * 30.0,
                )
            };
            Kinematics::from_track(lat, lon, alt, gs, trk, vs)
        })
        .collect()
}

/// 5 NM / 1000 ft, and 3 NM / 500 ft in a box around (lat0, lon0) below
/// FL120: pairs use the larger minima of their two aircraft.
fn mixed_minima(lat0: f64, lon0: f64) -> MinimaRules {
    MinimaRules {
        default: Minima::EN_ROUTE,
        rules: vec![(
            Area {
                lat_min_deg: lat0 - 0.1,
                lat_max_deg: lat0 + 0.1,
                lon_min_deg: lon0 - 0.1,
                lon_max_deg: lon0 + 0.1,
                alt_min_m: 0.0,
                alt_max_m: 12_000.0 * FT,
            },
            Minima {
                horizontal_m: 3.0 * NM,
                vertical_m: 500.0 * FT,
            },
        )],
    }
}

fn assert_agree(states: &[Kinematics], params: &DetectParams, what: &str) -> usize {
    let fast = detect(states, params);
    let slow = detect_brute_force(states, params);
    if fast != slow {
        let missing = slow
            .iter()
            .filter(|p| !fast.contains(p))
            .take(3)
            .collect::<Vec<_>>();
        let extra = fast
            .iter()
            .filter(|p| !slow.contains(p))
            .take(3)
            .collect::<Vec<_>>();
        panic!(
            "{what}: {} pruned vs {} brute force; missing {missing:?}; extra {extra:?}",
            fast.len(),
            slow.len()
        );
    }
    slow.len()
}

#[test]
fn pruned_equals_brute_force_on_flight_levels() {
    let places = [(35.0, 38.0), (0.0, 179.95), (-60.0, -179.99), (82.0, 10.0)];
    for (seed, &(lat0, lon0)) in places.iter().enumerate() {
        let states = flight_levels(1000, seed as u64 + 1, lat0, lon0, 0.5);
        for mode in [Mode::Bluesky, Mode::Default] {
            for (lookahead, slice) in [(300.0, 100.0), (120.0, 7.0), (0.0, 100.0), (450.0, 64.0)] {
                for minima in [
                    MinimaRules::uniform(Minima::EN_ROUTE),
                    mixed_minima(lat0, lon0),
                ] {
                    let mut params = DetectParams::new(mode, lookahead, minima);
                    params.slice_s = slice;
                    let what = format!("{mode:?} at ({lat0}, {lon0}), {lookahead} s / {slice} s");
                    let found = assert_agree(&states, &params, &what);
                    assert!(found > 0, "{what}");
                }
            }
        }
    }
}

/// BlueSky reports some exactly level pairs exactly 1000 ft apart in one
/// direction only (its vertical clamp): the pruning must keep them.
#[test]
fn one_way_pairs_one_minimum_apart_are_kept() {
    let states = flight_levels(2000, 11, 35.0, 38.0, 0.6);
    let params = DetectParams::new(Mode::Bluesky, 300.0, MinimaRules::uniform(Minima::EN_ROUTE));
    let found = detect(&states, &params);
    assert_eq!(found, detect_brute_force(&states, &params));
    let pairs: std::collections::HashSet<(u32, u32)> = found.iter().map(|p| (p.i, p.j)).collect();
    let one_way = pairs
        .iter()
        .filter(|(i, j)| !pairs.contains(&(*j, *i)))
        .count();
    assert!(one_way > 0);
}

/// A lookahead so long that the pruning bound says nothing: every pair
/// is evaluated, and the result is still sorted and complete.
#[test]
fn very_long_lookahead_tests_every_pair() {
    let states = flight_levels(400, 5, 47.0, 8.0, 2.0);
    for mode in [Mode::Bluesky, Mode::Default] {
        let params = DetectParams::new(mode, 5000.0, MinimaRules::uniform(Minima::EN_ROUTE));
        let found = assert_agree(&states, &params, &format!("{mode:?} 5000 s"));
        assert!(found > 100, "{found}");
    }
}

/// Invalid states are ignored, wherever they are in the input.
#[test]
fn invalid_states_are_ignored() {
    let mut states = flight_levels(600, 9, 35.0, 38.0, 0.3);
    for (k, s) in states.iter_mut().enumerate().filter(|(k, _)| k % 37 == 0) {
        match k % 3 {
            0 => s.lat_deg = f64::NAN,
            1 => s.vs_mps = f64::INFINITY,
            _ => s.lat_deg = 95.0,
        }
    }
    for mode in [Mode::Bluesky, Mode::Default] {
        let params = DetectParams::new(mode, 300.0, MinimaRules::uniform(Minima::EN_ROUTE));
        assert_agree(&states, &params, &format!("{mode:?}"));
    }
}
