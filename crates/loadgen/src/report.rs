//! The results as a markdown table (stdout) and as JSON (`--json`).

use crate::process::{Machine, Memory};
use crate::runner::{Slow, Tick};
use crate::stats::Summary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of the results table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    /// Intents preloaded in the region (the busy area's own are extra).
    pub preloaded: u64,
    /// The service's own count of stored intents when the run started.
    pub stored_at_start: Option<u64>,
    pub clients: usize,
    pub ops: u64,
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub latency: Option<Summary>,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// Mean intents returned per query (query scenarios).
    pub mean_found: Option<f64>,
    /// CPU cores used on average over the run (1.0 = one core busy).
    pub server_cores: Option<f64>,
    pub loadgen_cores: Option<f64>,
    /// Cores everything else on the machine used meanwhile.
    pub other_cores: Option<f64>,
    /// The slowest operations (when they started), slowest first.
    pub slowest: Vec<Slow>,
    /// Operations and the longest of them by tenth of a second from the
    /// start of the run (warm-up included: its ticks are empty).
    pub timeline: Vec<Tick>,
    /// Why the run stopped before its time or count, if it did.
    pub aborted: Option<String>,
}

/// The state of the service after a preload stage.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub preloaded: u64,
    pub stored_intents: Option<u64>,
    /// Time the preload of this stage took, and its rate.
    pub preload_s: f64,
    pub preload_per_s: f64,
    pub server_memory: Option<Memory>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub machine: Machine,
    pub config: serde_json::Value,
    pub stages: Vec<Stage>,
    pub results: Vec<Row>,
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "–".to_string(), f)
}

pub fn results_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| scenario | preloaded intents | clients | ops | ops/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU | loadgen CPU | other CPU |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in rows {
        let l = r.latency;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            thousands(r.preloaded),
            r.clients,
            thousands(r.ops),
            thousands(r.ops_per_s.round() as u64),
            opt(l.map(|l| l.p50_ms), ms),
            opt(l.map(|l| l.p90_ms), ms),
            opt(l.map(|l| l.p99_ms), ms),
            opt(l.map(|l| l.max_ms), ms),
            thousands(r.errors),
            opt(r.server_cores, |c| format!("{c:.2}")),
            opt(r.loadgen_cores, |c| format!("{c:.2}")),
            opt(r.other_cores, |c| format!("{c:.2}")),
        );
    }
    t
}

pub fn stages_table(stages: &[Stage]) -> String {
    let mut t = String::from(
        "| preloaded intents | stored intents | preload time s | preload creates/s | server RSS MiB | server peak RSS MiB |\n\
         |--:|--:|--:|--:|--:|--:|\n",
    );
    for s in stages {
        let mib = |k: u64| format!("{:.0}", k as f64 / 1024.0);
        let _ = writeln!(
            t,
            "| {} | {} | {:.1} | {} | {} | {} |",
            thousands(s.preloaded),
            s.stored_intents.map_or("–".into(), thousands),
            s.preload_s,
            thousands(s.preload_per_s.round() as u64),
            s.server_memory.map_or("–".into(), |m| mib(m.rss_kib)),
            s.server_memory.map_or("–".into(), |m| mib(m.hwm_kib)),
        );
    }
    t
}

/// Query scenarios: how many intents a query returned on average.
pub fn found_notes(rows: &[Row]) -> String {
    let mut t = String::new();
    for r in rows {
        if let Some(f) = r.mean_found {
            let _ = writeln!(
                t,
                "- {} at {} preloaded, {} clients: {f:.1} intents per query on average",
                r.scenario,
                thousands(r.preloaded),
                r.clients
            );
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
