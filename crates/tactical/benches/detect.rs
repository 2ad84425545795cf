//! Full detection cycles on generated traffic (cd_baseline.py's distribution:
//! 600 km square, FL100–FL400, 200–500 kt, lookahead 300 s, 5 NM / 1000 ft).
//!
//! `cargo bench -p tactical --bench detect [-- N|FILE.csv ...]` prints, per
//! scenario (generated with seed 1, or a scenario file) and mode,
//! the median wall time of a cycle over several runs (after one warm-up run)
//! and the number of pairs found.

use std::time::Instant;

use tactical::engine::{detect, DetectParams, MinimaRules, Mode};
use tactical::scenario::Scenario;
use tactical::units::Minima;

fn main() {
    // Arguments: sizes to generate (seed 1), or scenario CSV files.
    let mut inputs: Vec<(String, Scenario)> = Vec::new();
    for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        if let Ok(n) = a.parse::<usize>() {
            inputs.push((format!("{n} (generated)"), Scenario::generate(n, 1)));
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
    }
    println!("threads: {}", rayon::current_num_threads());
    println!(
        "| N | mode | median [min] ms | runs | extra peak RSS MiB | conflict pairs | LoS pairs |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for (n, sc) in inputs {
        let size = sc.states.len();
        for mode in [Mode::Bluesky, Mode::Default] {
            let mut params = DetectParams::new(mode, 300.0, MinimaRules::uniform(Minima::EN_ROUTE));
            // SLICE_S overrides the pruning slice length, to tune it.
            if let Some(s) = std::env::var("SLICE_S").ok().and_then(|s| s.parse().ok()) {
                params.slice_s = s;
            }
            let runs = if size >= 50_000 { 3 } else { 7 };
            let mut times = Vec::new();
            // Peak RSS of the first cycle above the RSS before it (Linux).
            let before = status_kib("VmRSS");
            let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            let mut result = detect(&sc.states, &params);
            let extra_mib = match (reset, before, status_kib("VmHWM")) {
                (true, Some(b), Some(p)) => format!("{:.0}", (p.saturating_sub(b)) as f64 / 1024.0),
                _ => "n/a".to_string(),
            };
            for _ in 0..runs {
                let t = Instant::now();
                result = detect(&sc.states, &params);
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let conflicts = result.iter().filter(|p| p.geometry.conflict).count();
            let los = result.iter().filter(|p| p.geometry.los).count();
            println!(
                "| {n} | {mode:?} | {:.1} [{:.1}] | {runs} | {extra_mib} | {conflicts} | {los} |",
                times[runs / 2],
                times[0]
            );
        }
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
