//! `deconflict`: one binary, a subcommand per job. It only parses arguments and
//! hands over to the library crates.

use anyhow::Context;

mod record;

// Serving allocates many small short-lived objects per request (JSON, index
// results); glibc's malloc showed up as a fifth of the profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "deconflict",
    version,
    about = "Deconfliction service for parties without a common command (ASTM F3548-21 DSS API)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Box<ServeArgs>),
    /// Print a development token signed by the key in the data folder.
    Token(TokenArgs),
    /// Predict conflicts and losses of separation in a scenario of aircraft
    /// states (the CSV formats of the BlueSky baseline).
    Detect(DetectArgs),
    /// Play recorded traffic (CSV, optionally gzipped) through the detector
    /// and report every pair of flights that lost separation.
    Replay(ReplayArgs),
    /// Check the record: checkpoint signatures, inclusion of entries, and
    /// that a newer checkpoint extends a saved one (from a server or an
    /// exported file).
    Verify(VerifyCli),
    /// Write a party's entries of the record with their inclusion proofs.
    Export(ExportCli),
}

#[derive(clap::Args)]
struct VerifyCli {
    /// The record's public key (as printed at start and served at
    /// /v1/log/key), or a file holding it.
    #[arg(long)]
    key: String,
    /// Base URL of the service, e.g. http://127.0.0.1:8082.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token for the server.
    #[arg(long, env = "DECONFLICT_TOKEN")]
    token: Option<String>,
    /// An exported file (deconflict export) to check instead of, or besides, a server.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A checkpoint saved earlier: the newer one must extend it.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Entries (by index) that must be in the server's signed record.
    #[arg(long = "entry")]
    entries: Vec<u64>,
    /// Save the server's checkpoint here for the next check.
    #[arg(long)]
    save: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ExportCli {
    /// The party whose entries to export.
    #[arg(long)]
    party: String,
    #[arg(long, default_value = "http://127.0.0.1:8082")]
    server: String,
    #[arg(long, env = "DECONFLICT_TOKEN")]
    token: Option<String>,
    /// Output file (JSON).
    #[arg(long)]
    out: PathBuf,
    /// A checkpoint saved earlier (e.g. by `verify --save`): the file then
    /// carries the proof that the exported record extends it, which
    /// `verify --file F --checkpoint SAVED` checks offline.
    #[arg(long)]
    since: Option<PathBuf>,
}

#[derive(clap::Args)]
struct DetectArgs {
    /// Scenario CSV (id, lat, lon, alt, track, gs, vs).
    scenario: PathBuf,
    /// `bluesky`: reproduce BlueSky's StateBased detector, quirks included;
    /// `default`: symmetric, on the ellipsoid, per-pair minima.
    #[arg(long, default_value = "default")]
    mode: tactical::engine::Mode,
    /// Where to write the directed conflict pairs.
    #[arg(long)]
    pairs_out: PathBuf,
    /// Where to write the pairs in loss of separation now.
    #[arg(long)]
    los_out: Option<PathBuf>,
    /// Lookahead in seconds.
    #[arg(long, default_value_t = 300.0)]
    lookahead: f64,
    /// Horizontal and vertical minima, e.g. 5nm,1000ft or 50m,15m.
    #[arg(long, default_value = "5nm,1000ft")]
    minima: tactical::units::Minima,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Recorded traffic, .csv or .csv.gz.
    file: PathBuf,
    /// Report of losses of separation: .json for JSON, anything else CSV.
    #[arg(long)]
    report: PathBuf,
    /// Horizontal and vertical minima, e.g. 5nm,1000ft.
    #[arg(long, default_value = "5nm,1000ft")]
    minima: tactical::units::Minima,
    /// Feet taken off the vertical minimum before comparing, for the 25 ft
    /// quantisation of ADS-B altitudes (adjacent flight levels report 975 ft).
    #[arg(long, default_value_t = 25.0)]
    vertical_tolerance: f64,
    /// Replay speed (2 = twice real time); without it, as fast as possible.
    #[arg(long)]
    speed: Option<f64>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8082", env = "DECONFLICT_LISTEN")]
    listen: SocketAddr,
    /// Folder of the embedded store (and of the development signing key).
    #[arg(long, default_value = "data", env = "DECONFLICT_DATA_DIR")]
    data_dir: PathBuf,
    /// Store in PostgreSQL instead of the embedded SQLite:
    /// postgres://user[:password]@host:port/database (the database must exist).
    #[arg(long, env = "DECONFLICT_STORE")]
    store: Option<String>,
    /// PEM public key (RSA or EC P-256) whose tokens are accepted. Repeatable.
    #[arg(long = "public-key")]
    public_keys: Vec<PathBuf>,
    /// JWKS URL of the identity provider (fetched, cached, refreshed).
    #[arg(long)]
    jwks_url: Option<String>,
    /// Accepted token audiences, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    audiences: Vec<String>,
    /// Largest accepted request body in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Largest footprint area in km² (the reference DSS: 2,500).
    #[arg(long, default_value_t = 2500.0)]
    max_area_km2: f64,
    /// Most vertices in a polygon.
    #[arg(long, default_value_t = 1000)]
    max_vertices: usize,
    /// Accept http:// USS base URLs (development only; the standard requires https).
    #[arg(long)]
    allow_http_base_urls: bool,
    /// How declarations are compared: `exact` (each extent on its own) or
    /// `reference` (extents share their bounding altitude band and time window,
    /// as the InterUSS reference DSS does).
    #[arg(long, default_value = "exact", value_parser = ["exact", "reference"])]
    conflict_model: String,
    /// Seconds between sweeps that remove ended entities.
    #[arg(long, default_value_t = 10)]
    expiry_interval_s: u64,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
    /// Live traffic: an SBS-1 BaseStation server to read (host:port, as
    /// dump1090 and readsb serve on port 30003). Repeatable.
    #[arg(long = "sbs")]
    sbs: Vec<String>,
    /// QNH (hPa) of the area the --sbs feeds cover: their altitudes are
    /// barometric (pressure altitude on 1013.25 hPa) and are turned into
    /// heights above mean sea level with it. The default leaves them as
    /// reported; set it (and --sbs-geoid-height) when surveillance aircraft
    /// are checked against volumes, which are in W84.
    #[arg(long, default_value_t = 1013.25)]
    sbs_qnh: f64,
    /// Geoid height N (m) of the area of the --sbs feeds: mean sea level
    /// above the WGS84 ellipsoid (about +50 in the Alps, -30 in the
    /// Netherlands), added to make SBS altitudes W84 heights.
    #[arg(long, default_value_t = 0.0)]
    sbs_geoid_height: f64,
    /// Live traffic: a recording (CSV of shared/data/, .csv or .csv.gz)
    /// played as if it were flying now.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Speed of --replay (traffic flies this many times faster).
    #[arg(long, default_value_t = 1.0)]
    replay_speed: f64,
    /// Start --replay again when it ends.
    #[arg(long)]
    replay_loop: bool,
    /// Separation minima of live traffic, e.g. 5nm,1000ft or 50m,15m.
    #[arg(long, default_value = "5nm,1000ft")]
    traffic_minima: tactical::units::Minima,
    /// Conflict prediction lookahead for live traffic, in seconds.
    #[arg(long, default_value_t = 300.0)]
    lookahead_s: f64,
    /// A track silent for this many seconds is dropped.
    #[arg(long, default_value_t = 60.0)]
    track_timeout_s: f64,
    /// A position is never carried forward further than this many seconds.
    #[arg(long, default_value_t = 30.0)]
    max_extrapolation_s: f64,
    /// Minimum notice (seconds between declaring an operational intent and
    /// its start). Late declarations are accepted, marked and reported.
    #[arg(long, default_value_t = 3600)]
    min_notice_s: u64,
    /// Areas with their own minimum notice: JSON
    /// `[{"min_notice_s": N, "volume": <F3548 Volume4D>}]`.
    #[arg(long)]
    notice_areas: Option<PathBuf>,
    /// Unacknowledged critical events are sent again this often (seconds).
    #[arg(long, default_value_t = 30)]
    resend_interval_s: u64,
    /// Events are kept this many days for clients that reconnect (the
    /// record keeps them forever).
    #[arg(long, default_value_t = 7)]
    event_retention_days: u32,
    /// Conformance monitoring: metres an aircraft may stray horizontally
    /// outside its intent's volumes before it is non-conforming.
    #[arg(long, default_value_t = 30.0)]
    conformance_buffer_m: f64,
    /// Conformance monitoring: metres of vertical tolerance.
    #[arg(long, default_value_t = 15.0)]
    conformance_buffer_vertical_m: f64,
    /// Conformance monitoring: seconds of tolerance on the time window.
    #[arg(long, default_value_t = 5.0)]
    conformance_buffer_s: f64,
    /// A party's webhook: its events are also POSTed to URL, with retries
    /// (PARTY=URL, repeatable).
    #[arg(long = "webhook", value_parser = server::webhooks::parse_webhook)]
    webhooks: Vec<(String, String)>,
    /// Attempts per event and webhook.
    #[arg(long, default_value_t = 8)]
    webhook_max_attempts: u32,
    /// Seconds before the first webhook retry (doubling, at most 60 s).
    #[arg(long, default_value_t = 1.0)]
    webhook_first_backoff_s: f64,
    /// Requests per second a party may make (sustained); 0: no limit.
    /// Over it: 429 with Retry-After.
    #[arg(long, default_value_t = 2000.0)]
    rate_limit_per_s: f64,
    /// Requests a party may make at once after being idle.
    #[arg(long, default_value_t = 4000.0)]
    rate_limit_burst: f64,
    /// Origin line of the record's signed checkpoints.
    #[arg(long, default_value = "deconflict.local/record")]
    log_origin: String,
    /// Least seconds between two signed checkpoints while entries arrive.
    #[arg(long, default_value_t = 2.0)]
    checkpoint_interval_s: f64,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The party the token speaks for.
    #[arg(long)]
    sub: String,
    /// Scope to grant (repeatable), e.g. utm.strategic_coordination.
    #[arg(long = "scope", required = true, num_args = 1..)]
    scopes: Vec<String>,
    /// Folder holding the development key (as given to serve).
    #[arg(long, default_value = "data", env = "DECONFLICT_DATA_DIR")]
    data_dir: PathBuf,
    /// Audience claim.
    #[arg(long, default_value = "localhost")]
    audience: String,
    /// Lifetime in seconds (at most 3600: the service refuses longer ones).
    #[arg(long, default_value_t = 3600)]
    ttl_s: u64,
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => {
            init_logs(&a.log_format);
            let config = server::Config {
                listen: a.listen,
                data_dir: a.data_dir,
                public_keys: a.public_keys,
                jwks_url: a.jwks_url,
                audiences: a.audiences,
                max_body_bytes: a.max_body_bytes,
                rules: dss::Config {
                    limits: airspace::Limits {
                        max_vertices: a.max_vertices,
                        max_area_m2: a.max_area_km2 * 1e6,
                    },
                    require_https: !a.allow_http_base_urls,
                    conflict_model: if a.conflict_model == "reference" {
                        dss::ConflictModel::Reference
                    } else {
                        dss::ConflictModel::Exact
                    },
                },
                expiry_interval: Duration::from_secs(a.expiry_interval_s.max(1)),
                store_url: a.store,
                live: server::live::LiveConfig {
                    params: tactical::incremental::IncrementalParams {
                        lookahead_s: a.lookahead_s,
                        minima: tactical::engine::MinimaRules::uniform(a.traffic_minima),
                        track_timeout_s: a.track_timeout_s,
                        max_extrapolation_s: a.max_extrapolation_s,
                        ..Default::default()
                    },
                    conformance: tactical::conformance::ConformanceParams {
                        buffer_horizontal_m: a.conformance_buffer_m,
                        buffer_vertical_m: a.conformance_buffer_vertical_m,
                        buffer_time_s: a.conformance_buffer_s,
                        track_timeout_s: a.track_timeout_s,
                        ..Default::default()
                    },
                    sbs: a.sbs,
                    sbs_datum: tactical::units::PressureDatum::new(a.sbs_qnh, a.sbs_geoid_height)
                        .map_err(|e| anyhow::anyhow!("--sbs-qnh/--sbs-geoid-height: {e}"))?,
                    replay: a.replay,
                    replay_speed: a.replay_speed,
                    replay_loop: a.replay_loop,
                },
                notice: server::hotline::NoticePolicy {
                    min_notice: chrono::Duration::seconds(a.min_notice_s as i64),
                    areas: match &a.notice_areas {
                        None => Vec::new(),
                        Some(path) => {
                            let text = std::fs::read_to_string(path)
                                .with_context(|| format!("cannot read {}", path.display()))?;
                            server::hotline::NoticePolicy::parse_areas(&text).map_err(|e| {
                                anyhow::anyhow!("--notice-areas {}: {e}", path.display())
                            })?
                        }
                    },
                },
                log_origin: a.log_origin,
                rate_limit: server::ratelimit::RateLimit {
                    per_second: a.rate_limit_per_s.max(0.0),
                    burst: a.rate_limit_burst.max(1.0),
                },
                webhooks: server::webhooks::WebhookConfig {
                    urls: a.webhooks.into_iter().collect(),
                    max_attempts: a.webhook_max_attempts.max(1),
                    first_backoff: Duration::from_secs_f64(
                        a.webhook_first_backoff_s.clamp(0.001, 3600.0),
                    ),
                    ..Default::default()
                },
                checkpoint_interval: Duration::from_millis((a.checkpoint_interval_s * 1e3) as u64),
                hotline: server::hotline::HotlineConfig {
                    resend_interval: Duration::from_secs(a.resend_interval_s.max(1)),
                    retention: chrono::Duration::days(a.event_retention_days as i64),
                },
            };
            if !(a.replay_speed.is_finite() && a.replay_speed > 0.0) {
                anyhow::bail!("--replay-speed must be a positive number");
            }
            for (name, v) in [
                ("--lookahead-s", a.lookahead_s),
                ("--track-timeout-s", a.track_timeout_s),
                ("--max-extrapolation-s", a.max_extrapolation_s),
                ("--conformance-buffer-m", a.conformance_buffer_m),
                (
                    "--conformance-buffer-vertical-m",
                    a.conformance_buffer_vertical_m,
                ),
                ("--conformance-buffer-s", a.conformance_buffer_s),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    anyhow::bail!("{name} must be a non-negative number of seconds");
                }
            }
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?;
                server::serve(config, listener, server::shutdown_signal()).await
            })
        }
        Command::Detect(a) => {
            let mut args = tactical::DetectArgs::new(a.scenario, a.mode, a.pairs_out);
            args.los_out = a.los_out;
            args.lookahead_s = a.lookahead;
            args.minima = a.minima;
            println!("{}", tactical::detect_command(&args)?);
            Ok(())
        }
        Command::Replay(a) => {
            let mut args = tactical::ReplayArgs::new(a.file, a.report);
            args.minima = a.minima;
            args.vertical_tolerance_ft = a.vertical_tolerance;
            args.speed = a.speed;
            println!("{}", tactical::replay_command(&args)?);
            Ok(())
        }
        Command::Verify(a) => {
            let report = record::verify(&record::VerifyArgs {
                key: a.key,
                server: a.server,
                token: a.token,
                file: a.file,
                checkpoint: a.checkpoint,
                entries: a.entries,
                save: a.save,
            })?;
            println!("{report}\nverified");
            Ok(())
        }
        Command::Export(a) => {
            println!(
                "{}",
                record::export(&a.server, a.token, &a.party, &a.out, a.since.as_deref())?
            );
            Ok(())
        }
        Command::Token(a) => {
            let key = auth::dev::DevKey::load_or_create(&a.data_dir).with_context(|| {
                format!(
                    "cannot load the development key in {}",
                    a.data_dir.display()
                )
            })?;
            if a.ttl_s > 3600 {
                anyhow::bail!(
                    "--ttl-s {} is longer than the 3600 s the service accepts",
                    a.ttl_s
                );
            }
            let token = key.mint(&a.sub, &a.scopes, &a.audience, Duration::from_secs(a.ttl_s));
            println!("{token}");
            Ok(())
        }
    }
}
