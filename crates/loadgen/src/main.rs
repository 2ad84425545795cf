//! `loadgen`: HTTP load benchmark of the deconflict DSS API.
//!
//! It starts the release binary itself (or uses `--url`), preloads intents
//! through the API in stages (10k, 100k, 1M by default), and at each stage runs
//! the scenarios a USS produces in one busy area, each for a fixed time with C
//! concurrent keep-alive clients. It prints a markdown table and, with
//! `--json`, writes everything it measured. See BENCHMARKS.md for results.

use anyhow::{bail, ensure, Context};
use chrono::{DurationRound, TimeDelta, Utc};
use clap::{Parser, ValueEnum};
use loadgen::api::{Dss, Party, Tokens};
use loadgen::process::{self, Managed};
use loadgen::report::{self, Report, Row, Stage};
use loadgen::runner::{self, Area, Ctx, RunResult, Stop, Tally, Work};
use loadgen::workload::{Grid, LatLng, Layout, Slots};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The same allocator as the server: the load generator shares the two cores
// with it, so every microsecond it spends per request is taken from the service.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "HTTP load benchmark of the deconflict DSS API (ASTM F3548-21)",
    long_about = "Starts `deconflict serve` in development mode on a free loopback port \
(or uses --url), preloads operational intents through the API over a large region, and \
at each preload size runs the scenarios of a busy area with C concurrent keep-alive \
clients. Prints a markdown table of throughput and latency percentiles."
)]
struct Args {
    /// The deconflict binary to start (build it with `cargo build --release -p cli`).
    #[arg(long, default_value = "target/release/deconflict")]
    bin: PathBuf,
    /// Data folder of the started server [default: a fresh temporary folder,
    /// removed at the end].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the temporary data folder (its path is printed).
    #[arg(long)]
    keep_data: bool,
    /// Extra argument for `deconflict serve` (repeatable), e.g.
    /// `--server-arg=--conflict-model --server-arg=reference`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,

    /// Use an already running server at this base URL instead of starting one.
    /// It should be fresh: the workload assumes nothing else is in its area.
    #[arg(long, requires_all = ["token_alpha", "token_bravo"])]
    url: Option<String>,
    /// With --url: a bearer token for party "alpha" (scope utm.strategic_coordination).
    #[arg(long, env = "LOADGEN_TOKEN_ALPHA", hide_env_values = true)]
    token_alpha: Option<String>,
    /// With --url: a bearer token for party "bravo".
    #[arg(long, env = "LOADGEN_TOKEN_BRAVO", hide_env_values = true)]
    token_bravo: Option<String>,
    /// With --url: the server's process id, to report its memory and CPU use.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Scenarios to run at each preload size, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "query,create,query-then-create,mixed"
    )]
    scenarios: Vec<Scenario>,
    /// Concurrent clients; a list runs every scenario at each. With --rate,
    /// the most operations in flight at once.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    clients: Vec<usize>,
    /// Run these scenarios in an open loop at a fixed rate instead of flat
    /// out: SCENARIO=OPS_PER_S, comma-separated (e.g.
    /// `query=32000,create=1280`). Latency then counts from when each
    /// operation was due, so a service that falls behind shows it.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate)]
    rate: Vec<(Scenario, f64)>,
    /// Measured seconds of each scenario run.
    #[arg(long, default_value_t = 20.0)]
    duration_s: f64,
    /// Unmeasured seconds before each scenario run.
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// Idle seconds after each preload stage, before its scenarios: time for
    /// the service to finish what a preload leaves behind (copying the
    /// write-ahead log into the database), so that the scenarios measure
    /// themselves.
    #[arg(long, default_value_t = 0.0)]
    settle_s: f64,

    /// Preload sizes (intents in the region, cumulative): the scenarios run
    /// once the service holds each of them.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    preload: Vec<u64>,
    /// Concurrent clients of the preload.
    #[arg(long, default_value_t = 64)]
    preload_clients: usize,
    /// Intents placed in the busy area before the first scenario, so that
    /// queries there find something.
    #[arg(long, default_value_t = 1000)]
    busy_intents: u64,

    /// Centre of the busy area and of the region, "LAT,LNG".
    #[arg(long, default_value = "46.5,7.5")]
    center: LatLng,
    /// Side of the (square) busy area, km.
    #[arg(long, default_value_t = 10.0)]
    busy_km: f64,
    /// Side of a busy-area cell, m: each intent there is a circle or square
    /// spanning 70 % of one cell during an 8-minute slot of 10.
    #[arg(long, default_value_t = 100.0)]
    busy_cell_m: f64,
    /// Side of the (square) preload region around the busy area, km.
    #[arg(long, default_value_t = 200.0)]
    region_km: f64,
    /// Side of a region cell, m: each preloaded intent spans 70 % of one cell
    /// during a 25-minute slot of 30.
    #[arg(long, default_value_t = 1000.0)]
    region_cell_m: f64,
    /// Side of the square a `query` scenario asks about, m.
    #[arg(long, default_value_t = 1000.0)]
    query_m: f64,
    /// Hours the intents are spread over.
    #[arg(long, default_value_t = 24)]
    horizon_h: u32,
    /// Minutes from now to the start of the horizon. Long enough that no
    /// intent ends (and is removed by the service) during the run.
    #[arg(long, default_value_t = 120)]
    lead_min: i64,
    /// Create intents without an implicit subscription (`new_subscription`).
    #[arg(long)]
    no_subscription: bool,

    /// Worker threads of the load generator. The client shares the machine
    /// with the server; one thread keeps it from taking more than one core.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Also write everything measured to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seed of the random query areas.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Area queries in the busy area.
    Query,
    /// Creates of non-intersecting intents in the busy area.
    Create,
    /// Query the planned intent's neighbourhood, then create it with the OVNs seen.
    QueryThenCreate,
    /// 70 % queries, 15 % creates, 15 % deletes (of its own creates).
    Mixed,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Query => "query",
            Scenario::Create => "create",
            Scenario::QueryThenCreate => "query-then-create",
            Scenario::Mixed => "mixed",
        }
    }

    fn work(self) -> Work {
        match self {
            Scenario::Query => Work::Query,
            Scenario::Create => Work::Create,
            Scenario::QueryThenCreate => Work::QueryThenCreate,
            Scenario::Mixed => Work::Mixed,
        }
    }
}

fn parse_rate(s: &str) -> Result<(Scenario, f64), String> {
    let (name, rate) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write SCENARIO=OPS_PER_S"))?;
    let scenario = Scenario::from_str(name.trim(), true)?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|e| format!("{s:?}: the rate: {e}"))?;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("{s:?}: the rate must be a positive number"));
    }
    Ok((scenario, rate))
}

impl Args {
    /// The open-loop rate of a scenario, if it has one.
    fn rate_of(&self, scenario: Scenario) -> Option<f64> {
        self.rate
            .iter()
            .rev()
            .find(|(s, _)| *s == scenario)
            .map(|&(_, r)| r)
    }

    fn check(&mut self) -> anyhow::Result<()> {
        ensure!(
            !self.clients.is_empty() && self.clients.iter().all(|&c| c > 0),
            "--clients: give positive numbers"
        );
        ensure!(
            self.preload_clients > 0,
            "--preload-clients must be positive"
        );
        ensure!(self.client_threads > 0, "--client-threads must be positive");
        ensure!(
            self.duration_s > 0.0 && self.warmup_s >= 0.0 && self.settle_s >= 0.0,
            "--duration-s must be positive, --warmup-s and --settle-s not negative"
        );
        ensure!(self.horizon_h > 0, "--horizon-h must be positive");
        ensure!(
            self.query_m > 0.0 && self.query_m <= self.busy_km * 1000.0,
            "--query-m must be positive and at most the busy area's side"
        );
        ensure!(
            self.busy_km < self.region_km,
            "the busy area must be smaller than the region around it"
        );
        ensure!(
            self.region_km <= 1000.0,
            "--region-km: at most 1000 (the grid is laid out on a local flat approximation)"
        );
        self.preload.sort_unstable();
        self.preload.dedup();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.check()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        // On Ctrl-C or SIGTERM the benchmark future is dropped, and with it the
        // server it started (killed) and its temporary data folder (removed).
        tokio::select! {
            r = bench(args) => r,
            s = interrupted() => bail!("interrupted by {s}; the server and its data folder were removed"),
        }
    })
}

/// Resolves on SIGINT or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Table rows from a run: one per operation kind, plus a total for `mixed`.
/// `kind` is what ran ("query", "mixed", "preload", …); `scenario` labels
/// the rows (with its rate if it ran in an open loop: "create @1,280/s").
fn rows_of(
    scenario: &str,
    kind: &str,
    mut r: RunResult,
    preloaded: u64,
    stored: Option<u64>,
    clients: usize,
) -> Vec<Row> {
    let elapsed = r.elapsed.as_secs_f64();
    let (server_cpu, loadgen_cpu, other_cpu) = (r.server_cpu, r.loadgen_cpu, r.other_cpu);
    let aborted = r.aborted.clone();
    let cores = |d: Option<Duration>| {
        d.filter(|_| elapsed > 0.0)
            .map(|d| d.as_secs_f64() / elapsed)
    };
    let row = |name: String, t: &mut Tally, cpu: bool, queries: bool| {
        let ops = t.samples.len() as u64;
        Row {
            scenario: name,
            preloaded,
            stored_at_start: stored,
            clients,
            ops,
            elapsed_s: elapsed,
            ops_per_s: if elapsed > 0.0 {
                ops as f64 / elapsed
            } else {
                0.0
            },
            latency: t.samples.summary(),
            errors: t.error_count(),
            error_kinds: t.errors.clone(),
            mean_found: (queries && ops > 0).then(|| t.found as f64 / ops as f64),
            server_cores: if cpu { cores(server_cpu) } else { None },
            loadgen_cores: if cpu { cores(loadgen_cpu) } else { None },
            other_cores: if cpu { cores(other_cpu) } else { None },
            slowest: t.slowest.clone(),
            timeline: t.timeline.clone(),
            aborted: aborted.clone(),
        }
    };
    if r.by_op.len() <= 1 && kind != "mixed" {
        let queries = matches!(kind, "query" | "query-then-create");
        let mut t = r.by_op.pop_first().map(|(_, t)| t).unwrap_or_default();
        return vec![row(scenario.to_string(), &mut t, true, queries)];
    }
    let mut total = r.total();
    let mut rows = vec![row(scenario.to_string(), &mut total, true, false)];
    let kinds: Vec<&'static str> = r.by_op.keys().copied().collect();
    for k in kinds {
        let t = r.by_op.get_mut(k).expect("listed key");
        rows.push(row(format!("{scenario}: {k}"), t, false, k == "query"));
    }
    rows
}

fn say(row: &Row) {
    let l = row.latency;
    eprintln!(
        "  => {} ({} clients): {} ops, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors {:?}",
        row.scenario,
        row.clients,
        row.ops,
        row.ops_per_s,
        l.map_or(0.0, |l| l.p50_ms),
        l.map_or(0.0, |l| l.p99_ms),
        l.map_or(0.0, |l| l.max_ms),
        row.errors,
        row.error_kinds
    );
    if let Some(why) = &row.aborted {
        eprintln!("     warning: the run stopped early: {why}");
    }
    if let Some(s) = row.slowest.first().filter(|s| s.ms > 50.0) {
        eprintln!(
            "     slowest: {:.0} ms, started {:.2} s into the run (operation #{})",
            s.ms, s.at_s, s.nth
        );
    }
    if let Some(other) = row.other_cores.filter(|&c| c > 0.2) {
        eprintln!(
            "     warning: other processes used {other:.2} cores meanwhile; these figures understate the service"
        );
    }
}

fn write_json(path: &PathBuf, report: &Report) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let machine = process::machine();
    eprintln!(
        "machine: {} CPUs ({}), {:.1} GiB",
        machine.cpus, machine.cpu_model, machine.memory_gib
    );

    // --- the service
    let mut managed = None;
    let (url, tokens) = match &args.url {
        Some(url) => {
            let (a, b) = (args.token_alpha.as_deref(), args.token_bravo.as_deref());
            let tokens = Tokens::new(a.unwrap_or_default(), b.unwrap_or_default())?;
            (url.clone(), tokens)
        }
        None => {
            let m = Managed::start(&args.bin, args.data_dir.clone(), &args.server_args).await?;
            eprintln!(
                "started {} (pid {}) on {}, data in {}",
                args.bin.display(),
                m.pid(),
                m.url,
                m.data_dir.display()
            );
            let minter = m.minter();
            let tokens = Tokens::new(&minter.mint("alpha")?, &minter.mint("bravo")?)?;
            let url = m.url.clone();
            managed = Some(m);
            (url, tokens)
        }
    };
    let server_pid = managed.as_ref().map(Managed::pid).or(args.server_pid);
    let dss = Dss::new(&url, tokens, !args.no_subscription).await?;
    ensure!(dss.healthy().await, "{url}/healthy does not answer 200");

    // --- the layouts: a busy area at the centre of a region, one time base
    let base =
        (Utc::now() + TimeDelta::minutes(args.lead_min)).duration_trunc(TimeDelta::minutes(1))?;
    let busy = Layout::new(
        Grid::centred(args.center, args.busy_km * 1000.0, args.busy_cell_m),
        Slots {
            base,
            len: TimeDelta::minutes(10),
            busy: TimeDelta::minutes(8),
            count: args.horizon_h * 6,
        },
        None,
    );
    let region = Layout::new(
        Grid::centred(args.center, args.region_km * 1000.0, args.region_cell_m),
        Slots {
            base,
            len: TimeDelta::minutes(30),
            busy: TimeDelta::minutes(25),
            count: args.horizon_h * 2,
        },
        Some(busy.grid.bounds()),
    );
    if let Some(&max) = args.preload.last() {
        ensure!(
            max <= region.capacity(),
            "--preload {max} does not fit: the region holds {} conflict-free intents \
             (use a larger --region-km, smaller --region-cell-m or longer --horizon-h)",
            region.capacity()
        );
    }
    eprintln!(
        "busy area: {} km square, {} cells, capacity {}; region: {} km square, capacity {}; horizon from {base}",
        args.busy_km,
        busy.grid.cells(),
        busy.capacity(),
        args.region_km,
        region.capacity()
    );
    let config = json!({
        "url": url,
        "scenarios": args.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "clients": args.clients,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "settle_s": args.settle_s,
        "preload": args.preload,
        "preload_clients": args.preload_clients,
        "busy_intents": args.busy_intents,
        "center": [args.center.lat, args.center.lng],
        "busy_km": args.busy_km,
        "busy_cell_m": args.busy_cell_m,
        "region_km": args.region_km,
        "region_cell_m": args.region_cell_m,
        "query_m": args.query_m,
        "horizon_h": args.horizon_h,
        "horizon_start": base.to_rfc3339(),
        "implicit_subscription": !args.no_subscription,
        "client_threads": args.client_threads,
        "server_args": args.server_args,
    });
    let ctx = Arc::new(Ctx::new(dss, busy, region, args.query_m, server_pid));

    // Development tokens live an hour; a long preload outlives them.
    let refresher = managed.as_ref().map(|m| {
        let minter = m.minter();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(20 * 60);
            let mut tick = tokio::time::interval_at((Instant::now() + every).into(), every);
            loop {
                tick.tick().await;
                for p in Party::ALL {
                    let m = minter.clone();
                    let minted = tokio::task::spawn_blocking(move || m.mint(p.name())).await;
                    match minted.map_err(anyhow::Error::from).and_then(|t| t) {
                        Ok(t) => {
                            if let Err(e) = ctx.dss.tokens.set(p, &t) {
                                eprintln!("warning: cannot use the new token: {e}");
                            }
                        }
                        Err(e) => {
                            eprintln!("warning: cannot refresh the token of {}: {e}", p.name())
                        }
                    }
                }
            }
        })
    });

    let mut report = Report {
        command,
        machine,
        config,
        stages: Vec::new(),
        results: Vec::new(),
    };
    let timed = Stop::Timed {
        warmup: Duration::from_secs_f64(args.warmup_s),
        measure: Duration::from_secs_f64(args.duration_s),
    };

    // --- the busy area's own intents
    if args.busy_intents > 0 {
        eprintln!("preloading {} intents in the busy area", args.busy_intents);
        let r = runner::run(
            ctx.clone(),
            Work::Preload(Area::Busy),
            args.preload_clients,
            Stop::Count(args.busy_intents),
            None,
            args.seed,
            "busy-area preload",
        )
        .await;
        let rows = rows_of(
            "preload (busy area)",
            "preload",
            r,
            0,
            None,
            args.preload_clients,
        );
        say(&rows[0]);
        ensure!(
            rows[0].errors == 0,
            "the busy-area preload failed: {:?}",
            rows[0].error_kinds
        );
        report.results.extend(rows);
    }

    for &size in &args.preload {
        // --- preload the region up to `size`
        let have = ctx.placed(Area::Region);
        let started = Instant::now();
        if size > have {
            eprintln!(
                "preloading {} intents in the region (to {size})",
                size - have
            );
            let r = runner::run(
                ctx.clone(),
                Work::Preload(Area::Region),
                args.preload_clients,
                Stop::Count(size - have),
                None,
                args.seed,
                "preload",
            )
            .await;
            let rows = rows_of("preload", "preload", r, size, None, args.preload_clients);
            say(&rows[0]);
            if rows[0].errors > 0 {
                bail!(
                    "the preload failed ({:?}); see the server log",
                    rows[0].error_kinds
                );
            }
            report.results.extend(rows);
        }
        let preload_s = started.elapsed().as_secs_f64();
        let stage = Stage {
            preloaded: size,
            stored_intents: ctx.dss.stored_intents().await,
            preload_s,
            preload_per_s: (size - have) as f64 / preload_s.max(1e-9),
            server_memory: server_pid.and_then(process::memory),
        };
        eprintln!("stage {size}: {stage:?}");
        report.stages.push(stage);
        if args.settle_s > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(args.settle_s)).await;
        }

        // --- the scenarios
        for &clients in &args.clients {
            for &scenario in &args.scenarios {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let stored = ctx.dss.stored_intents().await;
                let rate = args.rate_of(scenario);
                // Open-loop rows say their rate: "create @1,280/s".
                let name = match rate {
                    Some(r) => format!("{} @{}/s", scenario.name(), report::thousands(r as u64)),
                    None => scenario.name().to_string(),
                };
                eprintln!(
                    "{name} with {clients} clients at {size} preloaded ({} stored)",
                    stored.map_or("?".into(), report::thousands)
                );
                let mut r = runner::run(
                    ctx.clone(),
                    scenario.work(),
                    clients,
                    timed,
                    rate,
                    args.seed,
                    &name,
                )
                .await;
                let created = std::mem::take(&mut r.created);
                let rows = rows_of(&name, scenario.name(), r, size, stored, clients);
                rows.iter().for_each(say);
                report.results.extend(rows);

                // Put the state back to the preload (timed too: deletes are
                // an operation like any other).
                if !created.is_empty() {
                    let n = created.len() as u64;
                    let r = runner::run(
                        ctx.clone(),
                        Work::Delete(Mutex::new(created)),
                        clients,
                        Stop::Count(n),
                        None,
                        args.seed,
                        "delete",
                    )
                    .await;
                    if !r.created.is_empty() {
                        eprintln!("warning: {} intents could not be deleted", r.created.len());
                    }
                    let rows = rows_of("delete", "delete", r, size, None, clients);
                    rows.iter().for_each(say);
                    report.results.extend(rows);
                }
            }
        }
        if let Some(path) = &args.json {
            write_json(path, &report)?;
        }
    }

    if let Some(r) = refresher {
        r.abort();
    }
    if let Some(pid) = server_pid {
        if let Some(m) = process::memory(pid) {
            eprintln!(
                "server memory at the end: RSS {} MiB, peak {} MiB",
                m.rss_kib / 1024,
                m.hwm_kib / 1024
            );
        }
    }

    println!("{}", report::results_table(&report.results));
    println!("{}", report::stages_table(&report.stages));
    print!("{}", report::found_notes(&report.results));
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(mut m) = managed {
        if args.keep_data {
            m.keep_data();
            eprintln!("kept the data folder {}", m.data_dir.display());
        }
        m.stop(Duration::from_secs(60))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_name_a_scenario_and_a_positive_number() {
        assert_eq!(parse_rate("create=1280"), Ok((Scenario::Create, 1280.0)));
        assert_eq!(
            parse_rate(" query-then-create = 3000.5 "),
            Ok((Scenario::QueryThenCreate, 3000.5))
        );
        for bad in [
            "create",
            "create=0",
            "create=-1",
            "create=inf",
            "fly=10",
            "query=x",
        ] {
            let e = parse_rate(bad).unwrap_err();
            assert!(
                e.contains("rate") || e.contains("SCENARIO") || e.contains("fly"),
                "{bad}: {e}"
            );
        }
        let mut args = Args::parse_from([
            "loadgen",
            "--rate",
            "query=100,create=5",
            "--rate",
            "query=200",
        ]);
        args.check().unwrap();
        assert_eq!(args.rate_of(Scenario::Query), Some(200.0));
        assert_eq!(args.rate_of(Scenario::Create), Some(5.0));
        assert_eq!(args.rate_of(Scenario::Mixed), None);
    }
}
