//! Full detection cycles on generated traffic (cd_baseline.py's distribution:
//! 600 km square, FL100–FL400, 200–500 kt, lookahead 300 s, 5 NM / 1000 ft).
//!
//! `cargo bench -p tactical --bench detect [-- N|Nw|FILE.csv ...]` prints,
//! per scenario (generated with seed 1, or a scenario file) and mode, the
//! median wall time of a cycle over several runs (after one warm-up run),
//! the median CPU time of a cycle summed over all threads (less sensitive
//! than wall time to other jobs on a shared machine, Linux only), the
//! number of pairs found and a checksum of the whole result (every index
//! and every float bit), to check that an engine change leaves the results
//! unchanged.
//!
//! `N` is the generator's scenario as it is: always the same 600 km square,
//! so the density (and the pairs per aircraft) grows with N, and the pairs
//! as N². `Nw` ("wide") is the same traffic spread over a square whose area
//! grows with N, keeping the density of N = 10,000 (≈ 0.028 aircraft per
//! km²): at N = 100,000 a 1,900 km square, as busy per km² as the 600 km
//! one at 10,000.

use std::hash::Hasher;
use std::time::Instant;

use tactical::engine::{detect, DetectParams, MinimaRules, Mode, PairResult};
use tactical::scenario::Scenario;
use tactical::units::Minima;

/// Aircraft count whose density `Nw` keeps.
const REFERENCE_N: f64 = 10_000.0;

/// The generated scenario with its square scaled by `sqrt(n / 10,000)`
/// about its centre (35°N 38°E), positions kept uniform in km².
fn wide(n: usize, seed: u64) -> Scenario {
    const RE: f64 = 6_371_000.0;
    let (lat0, lon0) = (35.0f64, 38.0f64);
    let f = (n as f64 / REFERENCE_N).sqrt().max(1.0);
    let mut sc = Scenario::generate(n, seed);
    for k in &mut sc.states {
        // Back to the generator's metres, scaled, and onto the sphere with
        // the local parallel's length.
        let y = (k.lat_deg - lat0).to_radians() * RE * f;
        let x = (k.lon_deg - lon0).to_radians() * RE * lat0.to_radians().cos() * f;
        k.lat_deg = lat0 + (y / RE).to_degrees();
        k.lon_deg = lon0 + (x / (RE * k.lat_deg.to_radians().cos())).to_degrees();
    }
    sc
}

/// FxHash-style checksum of every index and every float bit of a result.
fn checksum(result: &[PairResult]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for p in result {
        let g = &p.geometry;
        h.write_u32(p.i);
        h.write_u32(p.j);
        for x in [g.tcpa_s, g.dcpa_m, g.tin_s, g.tout_s, g.dist_m, g.dalt_m] {
            h.write_u64(x.to_bits());
        }
        h.write_u8(u8::from(g.conflict) | u8::from(g.los) << 1);
    }
    h.finish()
}

fn main() {
    // Arguments: sizes to generate (seed 1), `N` or `Nw`, or scenario CSV files.
    let mut inputs: Vec<(String, Scenario)> = Vec::new();
    for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        if let Ok(n) = a.parse::<usize>() {
            inputs.push((format!("{n} (generated)"), Scenario::generate(n, 1)));
        } else if let Some(n) = a.strip_suffix('w').and_then(|n| n.parse::<usize>().ok()) {
            inputs.push((format!("{n} (wide)"), wide(n, 1)));
        } else if a.ends_with(".csv") {
            let file = std::fs::File::open(&a).unwrap_or_else(|e| panic!("{a}: {e}"));
            let sc = Scenario::read(std::io::BufReader::new(file))
                .unwrap_or_else(|e| panic!("{a}: {e}"));
            inputs.push((format!("{} ({a})", sc.states.len()), sc));
        }
    }
    if inputs.is_empty() {
        for n in [2_000, 5_000, 10_000, 20_000, 100_000] {
            inputs.push((format!("{n} (generated)"), Scenario::generate(n, 1)));
        }
        inputs.push(("100000 (wide)".to_string(), wide(100_000, 1)));
    }
    // MODES=bluesky or MODES=default runs one mode only.
    let modes: Vec<Mode> = match std::env::var("MODES").as_deref() {
        Ok("bluesky") => vec![Mode::Bluesky],
        Ok("default") => vec![Mode::Default],
        _ => vec![Mode::Bluesky, Mode::Default],
    };
    // RUNS overrides the number of timed cycles.
    let runs_override: Option<usize> = std::env::var("RUNS").ok().and_then(|s| s.parse().ok());
    println!("threads: {}", rayon::current_num_threads());
    println!(
        "| N | mode | median [min] ms | CPU ms | runs | extra peak RSS MiB | conflict pairs | LoS pairs | checksum |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (n, sc) in inputs {
        let size = sc.states.len();
        for &mode in &modes {
            let mut params = DetectParams::new(mode, 300.0, MinimaRules::uniform(Minima::EN_ROUTE));
            // SLICE_S overrides the pruning slice length, to tune it.
            if let Some(s) = std::env::var("SLICE_S").ok().and_then(|s| s.parse().ok()) {
                params.slice_s = s;
            }
            let runs = runs_override
                .unwrap_or(if size >= 50_000 { 5 } else { 9 })
                .max(1);
            let mut times = Vec::new();
            let mut cpu = Vec::new();
            // Peak RSS of the first cycle above the RSS before it (Linux).
            let before = status_kib("VmRSS");
            let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            let mut result = detect(&sc.states, &params);
            let extra_mib = match (reset, before, status_kib("VmHWM")) {
                (true, Some(b), Some(p)) => format!("{:.0}", (p.saturating_sub(b)) as f64 / 1024.0),
                _ => "n/a".to_string(),
            };
            for _ in 0..runs {
                drop(result);
                let c = cpu_ns();
                let t = Instant::now();
                result = detect(&sc.states, &params);
                times.push(t.elapsed().as_secs_f64() * 1e3);
                cpu.push(
                    cpu_ns()
                        .zip(c)
                        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e6),
                );
            }
            times.sort_by(f64::total_cmp);
            let mut cpu: Vec<f64> = cpu.into_iter().flatten().collect();
            cpu.sort_by(f64::total_cmp);
            let cpu = cpu
                .get(cpu.len() / 2)
                .map_or("n/a".to_string(), |c| format!("{c:.1}"));
            let conflicts = result.iter().filter(|p| p.geometry.conflict).count();
            let los = result.iter().filter(|p| p.geometry.los).count();
            println!(
                "| {n} | {mode:?} | {:.1} [{:.1}] | {cpu} | {runs} | {extra_mib} | {conflicts} | {los} | {:016x} |",
                times[runs / 2],
                times[0],
                checksum(&result)
            );
        }
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of all the process's threads so far (ns), from
/// `/proc/self/task/*/schedstat` (Linux).
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}
