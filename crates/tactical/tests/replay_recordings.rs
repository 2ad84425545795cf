//! Replay of the real recordings of `shared/data` (copied into tests/data):
//! the formation flight's deliberate loss of separation, and the Swiss day
//! against an independent brute-force O(N²) check.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use tactical::{replay_command, ReplayArgs};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tactical-replay-{}-{name}", std::process::id()))
}

/// Report rows as maps from column name to cell.
fn read_report(path: &PathBuf) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn formation_flight_loss_is_reported() {
    let args = ReplayArgs::new(
        data("traffic_formation_2017-12-01.csv.gz"),
        tmp("formation.csv"),
    );
    let summary = replay_command(&args).unwrap();
    assert_eq!(summary.flights, 2);
    assert_eq!(summary.malformed, 0);
    let rows = read_report(&args.report);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["flight_id_a"], "20171201_AFR787V_39c424");
    assert_eq!(r["flight_id_b"], "20171201_FWKDL_3900fb");
    // About 14:40:33 - 15:21:14 UTC, ~1,489 s within 5 NM / 1,000 ft.
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    let first = t(&r["first_time"]);
    let last = t(&r["last_time"]);
    assert!(
        (first - t("2017-12-01T14:40:33Z")).abs() <= 5,
        "{}",
        r["first_time"]
    );
    assert!(
        (last - t("2017-12-01T15:21:14Z")).abs() <= 5,
        "{}",
        r["last_time"]
    );
    let duration: i64 = r["duration_s"].parse().unwrap();
    assert!((duration - 1489).abs() <= 20, "duration {duration}");
    let min_nm: f64 = r["min_horiz_nm"].parse().unwrap();
    assert!(min_nm < 0.05, "{min_nm}");
    assert!(summary
        .to_string()
        .contains("1 pairs of flights lost separation"));

    // The JSON report has the same content.
    let json = ReplayArgs::new(args.file.clone(), tmp("formation.json"));
    replay_command(&json).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json.report).unwrap()).unwrap();
    assert_eq!(v[0]["duration_s"].as_i64(), Some(duration));
    assert_eq!(v[0]["first_time"].as_str(), Some(r["first_time"].as_str()));
}

struct Row {
    t: i64,
    flight: String,
    icao: String,
    lat: f64,
    lon: f64,
    alt_m: f64,
    gs: f64,
    trk: f64,
    vs: f64,
}

/// Independent brute force: same track rules (30 s timeout, extrapolation
/// capped at 30 s, same airframe never a pair, vertical |Δalt| < 975 ft),
/// but geodesics from geographiclib for both extrapolation and distance,
/// and every pair tested at every report time.
fn brute_force(path: &PathBuf) -> BTreeMap<(String, String), (i64, i64, f64, i64)> {
    let file = std::fs::File::open(path).unwrap();
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut rows = Vec::new();
    for line in reader.lines().skip(1) {
        let line = line.unwrap();
        let f: Vec<&str> = line.split(',').collect();
        let num = |k: usize| f[k].parse::<f64>().unwrap_or(0.0);
        rows.push(Row {
            t: chrono::DateTime::parse_from_rfc3339(f[0])
                .unwrap()
                .timestamp(),
            flight: f[1].to_string(),
            icao: f[2].to_string(),
            lat: num(4),
            lon: num(5),
            alt_m: num(6) * 0.3048,
            gs: num(7) * 1852.0 / 3600.0,
            trk: num(8),
            vs: num(9) * 0.3048 / 60.0,
        });
    }
    let g = Geodesic::wgs84();
    let mut last: HashMap<String, usize> = HashMap::new();
    // pair -> (first, last, min distance, previous time in loss, duration)
    let mut out: BTreeMap<(String, String), (i64, i64, f64, i64)> = BTreeMap::new();
    let mut prev_in: (i64, Vec<(String, String)>) = (i64::MIN, Vec::new());
    let mut k = 0;
    while k < rows.len() {
        let t = rows[k].t;
        while k < rows.len() && rows[k].t == t {
            last.insert(rows[k].flight.clone(), k);
            k += 1;
        }
        last.retain(|_, &mut i| t - rows[i].t <= 30);
        let live: Vec<(&Row, f64, f64, f64)> = last
            .values()
            .map(|&i| {
                let r = &rows[i];
                let dt = ((t - r.t) as f64).min(30.0);
                let (lat, lon, _): (f64, f64, f64) = g.direct(r.lat, r.lon, r.trk, r.gs * dt);
                (r, lat, lon, r.alt_m + r.vs * dt)
            })
            .collect();
        let mut now = Vec::new();
        for a in 0..live.len() {
            for b in 0..live.len() {
                let (ra, rb) = (live[a].0, live[b].0);
                if ra.flight >= rb.flight || ra.icao == rb.icao {
                    continue;
                }
                let d: f64 = g.inverse(live[a].1, live[a].2, live[b].1, live[b].2);
                if d < 5.0 * 1852.0 && (live[a].3 - live[b].3).abs() < 975.0 * 0.3048 {
                    let key = (ra.flight.clone(), rb.flight.clone());
                    let was_in = prev_in.1.contains(&key);
                    let e = out.entry(key.clone()).or_insert((t, t, f64::INFINITY, 0));
                    e.1 = t;
                    e.2 = e.2.min(d);
                    if was_in {
                        e.3 += t - prev_in.0;
                    }
                    now.push(key);
                }
            }
        }
        prev_in = (t, now);
    }
    out
}

#[test]
fn switzerland_losses_agree_with_brute_force() {
    let file = data("traffic_switzerland_2018-08-01.csv.gz");
    let args = ReplayArgs::new(file.clone(), tmp("switzerland.csv"));
    let summary = replay_command(&args).unwrap();
    assert_eq!(summary.reports, 138_774);
    let ours: BTreeMap<(String, String), (i64, i64, f64, i64)> = read_report(&args.report)
        .into_iter()
        .map(|r| {
            let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
            (
                (r["flight_id_a"].clone(), r["flight_id_b"].clone()),
                (
                    t(&r["first_time"]),
                    t(&r["last_time"]),
                    r["min_horiz_nm"].parse::<f64>().unwrap() * 1852.0,
                    r["duration_s"].parse().unwrap(),
                ),
            )
        })
        .collect();
    let reference = brute_force(&file);
    assert!(!reference.is_empty());
    let ours_keys: Vec<_> = ours.keys().collect();
    let ref_keys: Vec<_> = reference.keys().collect();
    assert_eq!(ours_keys, ref_keys);
    for (k, r) in &reference {
        let o = &ours[k];
        assert_eq!((o.0, o.1, o.3), (r.0, r.1, r.3), "{k:?}");
        // Extrapolated positions differ by a few metres: the replayer steps
        // along the local north/east radii (constant track), geographiclib
        // along the geodesic (whose track turns by ~d·tan(lat)/R).
        assert!((o.2 - r.2).abs() < 10.0, "{k:?}: {} vs {}", o.2, r.2);
    }
    eprintln!(
        "{} losses in the Swiss day agree with brute force",
        reference.len()
    );
}
