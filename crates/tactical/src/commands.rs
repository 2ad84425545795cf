//! Library entry points of the `deconflict detect` and `deconflict replay`
//! commands. They read and write files and return a summary; they print
//! nothing (except replay's progress bar on a terminal), so the binary
//! decides how to show the summary.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use std::io::IsTerminal;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{detect, DetectParams, MinimaRules, Mode};
use crate::recording::{Flight, Recording, Report};
use crate::replay::{LossRecord, ReplayParams, Replayer};
use crate::scenario::{los_csv, pairs_csv, Scenario};
use crate::units::{Minima, FT, NM};

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bluesky" => Ok(Mode::Bluesky),
            "default" => Ok(Mode::Default),
            other => Err(format!("mode {other:?}: expected bluesky or default")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Bluesky => "bluesky",
            Mode::Default => "default",
        })
    }
}

/// `deconflict detect SCENARIO.csv --mode bluesky|default --pairs-out PAIRS.csv
/// [--los-out LOS.csv] [--lookahead 300] [--minima 5nm,1000ft]`.
#[derive(Clone, Debug)]
pub struct DetectArgs {
    /// Scenario CSV (`id,lat_deg,lon_deg,alt_m,gs_east_mps,gs_north_mps,vs_mps`).
    pub scenario: PathBuf,
    pub mode: Mode,
    /// Where to write the conflict pairs (`id1,id2,tcpa_s,dcpa_m,tin_s,tout_s`).
    pub pairs_out: PathBuf,
    /// Where to write the pairs in loss of separation now (`id1,id2`).
    pub los_out: Option<PathBuf>,
    /// Lookahead (s); 300 by default.
    pub lookahead_s: f64,
    /// Separation minima; 5 NM / 1,000 ft by default. Parse with
    /// `"5nm,1000ft".parse::<Minima>()`.
    pub minima: Minima,
}

impl DetectArgs {
    pub fn new(scenario: PathBuf, mode: Mode, pairs_out: PathBuf) -> Self {
        DetectArgs {
            scenario,
            mode,
            pairs_out,
            los_out: None,
            lookahead_s: 300.0,
            minima: Minima::EN_ROUTE,
        }
    }
}

/// What `detect_command` did.
#[derive(Clone, Debug)]
pub struct DetectSummary {
    pub mode: Mode,
    pub aircraft: usize,
    /// Rows written to the pairs file (directed pairs).
    pub conflict_rows: usize,
    /// Rows written to the LoS file (directed pairs), counted even without one.
    pub los_rows: usize,
    /// Wall time of the detection cycle alone (not the file I/O).
    pub detect_time: Duration,
}

impl fmt::Display for DetectSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} aircraft, mode {}: {} directed conflict pairs, {} directed LoS pairs, detection {:.1} ms",
            self.aircraft,
            self.mode,
            self.conflict_rows,
            self.los_rows,
            self.detect_time.as_secs_f64() * 1e3
        )
    }
}

/// Runs one detection cycle on a scenario file and writes the pairs (and
/// LoS) files. Both modes write directed rows: BlueSky mode as BlueSky
/// reports them, default mode each unordered pair in both directions (so its
/// files compare with BlueSky's with `compare_pairs.py`).
pub fn detect_command(args: &DetectArgs) -> anyhow::Result<DetectSummary> {
    anyhow::ensure!(
        args.lookahead_s.is_finite() && args.lookahead_s >= 0.0,
        "lookahead {} must be a non-negative number of seconds",
        args.lookahead_s
    );
    let file = File::open(&args.scenario)
        .with_context(|| format!("opening {}", args.scenario.display()))?;
    let sc = Scenario::read(BufReader::new(file))
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let params = DetectParams::new(
        args.mode,
        args.lookahead_s,
        MinimaRules::uniform(args.minima),
    );
    let t = Instant::now();
    let pairs = detect(&sc.states, &params);
    let detect_time = t.elapsed();
    let both = args.mode == Mode::Default;
    let text = pairs_csv(&sc.ids, &pairs, both);
    std::fs::write(&args.pairs_out, &text)
        .with_context(|| format!("writing {}", args.pairs_out.display()))?;
    let los = los_csv(&sc.ids, &pairs, both);
    if let Some(path) = &args.los_out {
        std::fs::write(path, &los).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(DetectSummary {
        mode: args.mode,
        aircraft: sc.states.len(),
        conflict_rows: text.lines().count() - 1,
        los_rows: los.lines().count() - 1,
        detect_time,
    })
}

/// `deconflict replay FILE.csv[.gz] --report OUT.csv|OUT.json
/// [--minima 5nm,1000ft] [--vertical-tolerance FT] [--speed X]`.
#[derive(Clone, Debug)]
pub struct ReplayArgs {
    /// Recording in the CSV format of `shared/data` (plain or gzip).
    pub file: PathBuf,
    /// Report path; `.json` writes JSON, anything else CSV.
    pub report: PathBuf,
    /// 5 NM / 1,000 ft by default.
    pub minima: Minima,
    /// Subtracted from the vertical minimum for ADS-B's 25 ft altitude
    /// quantisation; 25 ft by default (see [`crate::replay::ReplayParams`]).
    pub vertical_tolerance_ft: f64,
    /// Replay speed as a multiple of real time; `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Longest extrapolation of a position past its report (s); 30 by default.
    pub max_extrapolation_s: f64,
    /// Tracks silent for longer than this are dropped (s); 30 by default.
    pub track_timeout_s: f64,
}

impl ReplayArgs {
    pub fn new(file: PathBuf, report: PathBuf) -> Self {
        let d = ReplayParams::default();
        ReplayArgs {
            file,
            report,
            minima: d.minima,
            vertical_tolerance_ft: d.vertical_tolerance_m / FT,
            speed: None,
            max_extrapolation_s: d.max_extrapolation_s,
            track_timeout_s: d.track_timeout_s,
        }
    }
}

/// What `replay_command` did.
#[derive(Clone, Debug)]
pub struct ReplaySummary {
    pub reports: usize,
    pub malformed: usize,
    /// The first few malformed rows, with line numbers and reasons.
    pub malformed_examples: Vec<String>,
    pub flights: usize,
    pub evaluations: u64,
    pub first_time: Option<DateTime<Utc>>,
    pub last_time: Option<DateTime<Utc>>,
    /// Pairs of flights that lost separation (rows of the report).
    pub losses: usize,
    /// The longest loss: flight ids and seconds.
    pub longest: Option<(String, String, i64)>,
    pub report: PathBuf,
    pub elapsed: Duration,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reports ({} malformed) of {} flights",
            self.reports, self.malformed, self.flights
        )?;
        if let (Some(a), Some(b)) = (self.first_time, self.last_time) {
            write!(f, " from {} to {}", iso(a.timestamp()), iso(b.timestamp()))?;
        }
        write!(
            f,
            "; {} evaluations in {:.2} s; {} pairs of flights lost separation",
            self.evaluations,
            self.elapsed.as_secs_f64(),
            self.losses
        )?;
        if let Some((a, b, d)) = &self.longest {
            write!(f, " (longest: {a} and {b}, {d} s)")?;
        }
        write!(f, "; report written to {}", self.report.display())?;
        for e in &self.malformed_examples {
            write!(f, "\n  malformed: {e}")?;
        }
        Ok(())
    }
}

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// The report: one row per pair of flights that lost separation.
pub fn report_csv(flights: &[Flight], records: &[LossRecord]) -> String {
    let mut out = String::from(
        "flight_id_a,flight_id_b,first_time,last_time,min_horiz_nm,vert_ft_at_min,duration_s,time_at_min,samples\n",
    );
    for r in records {
        out.push_str(&format!(
            "{},{},{},{},{:.4},{:.0},{},{},{}\n",
            flights[r.a as usize].id,
            flights[r.b as usize].id,
            iso(r.first_time_s),
            iso(r.last_time_s),
            r.min_horiz_m / NM,
            r.vert_at_min_m / FT,
            r.duration_s,
            iso(r.time_at_min_s),
            r.samples
        ));
    }
    out
}

/// The same report as a JSON array of objects with the CSV's fields.
pub fn report_json(flights: &[Flight], records: &[LossRecord]) -> String {
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "flight_id_a": flights[r.a as usize].id,
                "flight_id_b": flights[r.b as usize].id,
                "first_time": iso(r.first_time_s),
                "last_time": iso(r.last_time_s),
                "min_horiz_nm": (r.min_horiz_m / NM * 1e4).round() / 1e4,
                "vert_ft_at_min": (r.vert_at_min_m / FT).round(),
                "duration_s": r.duration_s,
                "time_at_min": iso(r.time_at_min_s),
                "samples": r.samples,
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}

/// Plays a recording through the detector and writes the loss report.
/// Draws a progress bar on stderr when it is a terminal; prints nothing else.
pub fn replay_command(args: &ReplayArgs) -> anyhow::Result<ReplaySummary> {
    if let Some(s) = args.speed {
        anyhow::ensure!(
            s.is_finite() && s > 0.0,
            "speed {s} must be a positive number"
        );
    }
    for (name, v) in [
        ("vertical tolerance", args.vertical_tolerance_ft),
        ("max extrapolation", args.max_extrapolation_s),
        ("track timeout", args.track_timeout_s),
    ] {
        anyhow::ensure!(
            v.is_finite() && v >= 0.0,
            "{name} {v} must be a non-negative number"
        );
    }
    let started = Instant::now();
    let rec = Recording::open(&args.file)?;
    let params = ReplayParams {
        minima: args.minima,
        vertical_tolerance_m: args.vertical_tolerance_ft * FT,
        max_extrapolation_s: args.max_extrapolation_s,
        track_timeout_s: args.track_timeout_s,
    };
    let chunks: Vec<&[Report]> = rec.reports.chunk_by(|x, y| x.time_s == y.time_s).collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(chunks.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} report times, {msg} [{elapsed_precise} < {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut replayer = Replayer::new(&rec.flights, params);
    let wall = Instant::now();
    let t0 = chunks.first().map(|c| c[0].time_s);
    for chunk in &chunks {
        let t = chunk[0].time_s;
        if let (Some(speed), Some(t0)) = (args.speed, t0) {
            // Pace against the start, so sleeps do not accumulate drift.
            let due = Duration::from_secs_f64((t - t0) as f64 / speed);
            if let Some(wait) = due.checked_sub(wall.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        replayer.step(t, chunk);
        bar.inc(1);
        if bar.position() % 256 == 0 {
            bar.set_message(iso(t));
        }
    }
    bar.finish_and_clear();
    let evaluations = replayer.evaluations;
    let records = replayer.finish();
    let is_json = args
        .report
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if is_json {
        report_json(&rec.flights, &records)
    } else {
        report_csv(&rec.flights, &records)
    };
    std::fs::write(&args.report, text)
        .with_context(|| format!("writing {}", args.report.display()))?;
    let longest = records.iter().max_by_key(|r| r.duration_s).map(|r| {
        (
            rec.flights[r.a as usize].id.clone(),
            rec.flights[r.b as usize].id.clone(),
            r.duration_s,
        )
    });
    Ok(ReplaySummary {
        reports: rec.reports.len(),
        malformed: rec.malformed,
        malformed_examples: rec.malformed_examples.clone(),
        flights: rec.flights.len(),
        evaluations,
        first_time: rec
            .reports
            .first()
            .and_then(|r| DateTime::from_timestamp(r.time_s, 0)),
        last_time: rec
            .reports
            .last()
            .and_then(|r| DateTime::from_timestamp(r.time_s, 0)),
        losses: records.len(),
        longest,
        report: args.report.clone(),
        elapsed: started.elapsed(),
    })
}
