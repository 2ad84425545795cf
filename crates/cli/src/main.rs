//! `deconflict`: one binary, a subcommand per job. It only parses arguments and
//! hands over to the library crates.

use anyhow::Context;
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
    Serve(ServeArgs),
    /// Print a development token signed by the key in the data folder.
    Token(TokenArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8082", env = "DECONFLICT_LISTEN")]
    listen: SocketAddr,
    /// Folder of the embedded store (and of the development signing key).
    #[arg(long, default_value = "data", env = "DECONFLICT_DATA_DIR")]
    data_dir: PathBuf,
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
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?;
                server::serve(config, listener, server::shutdown_signal()).await
            })
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
