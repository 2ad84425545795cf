//! The HTTP edge of deconflict.
//!
//! Layout: [`wire`] holds the standard's JSON formats, [`scd`] the F3548-21
//! endpoints, [`extract`] authentication and body decoding, [`core`] the
//! in-memory state and its path to the store. [`run`] wires them to a socket:
//! it opens the store, rebuilds the state, serves until SIGINT/SIGTERM, then
//! drains in-flight requests and flushes the store.

pub mod auxiliary;
pub mod core;
pub mod error;
pub mod extract;
pub mod hotline;
pub mod live;
pub mod ratelimit;
pub mod record;
pub mod rid;
pub mod scd;
pub mod ui;
pub mod webhooks;
pub mod wire;

use crate::core::Core;
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use store::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;

/// Everything `deconflict serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_keys: Vec<PathBuf>,
    pub jwks_url: Option<String>,
    pub audiences: Vec<String>,
    pub max_body_bytes: usize,
    pub rules: dss::Config,
    /// How often ended entities are removed.
    pub expiry_interval: Duration,
    /// `postgres://...` for PostgreSQL; `None`: SQLite in `data_dir`.
    pub store_url: Option<String>,
    /// Live traffic: feeds and detection parameters.
    pub live: live::LiveConfig,
    /// Minimum notice of declarations.
    pub notice: hotline::NoticePolicy,
    /// Event stream behaviour and retention.
    pub hotline: hotline::HotlineConfig,
    /// Origin line of the record's checkpoints (and name of its key).
    pub log_origin: String,
    /// Least time between two signed checkpoints while entries arrive.
    pub checkpoint_interval: Duration,
    /// Parties' webhook URLs and retry policy.
    pub webhooks: webhooks::WebhookConfig,
    /// Requests per party.
    pub rate_limit: ratelimit::RateLimit,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8082".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            public_keys: Vec::new(),
            jwks_url: None,
            audiences: vec!["localhost".into(), "127.0.0.1".into()],
            max_body_bytes: 1 << 20,
            rules: dss::Config::default(),
            expiry_interval: Duration::from_secs(10),
            store_url: None,
            live: live::LiveConfig::default(),
            notice: hotline::NoticePolicy::default(),
            hotline: hotline::HotlineConfig::default(),
            log_origin: "deconflict.local/record".into(),
            checkpoint_interval: Duration::from_secs(2),
            webhooks: webhooks::WebhookConfig::default(),
            rate_limit: ratelimit::RateLimit::default(),
        }
    }
}

impl Config {
    /// Development mode: no key of a real identity provider was configured, so
    /// the service signs and accepts its own tokens.
    pub fn development_mode(&self) -> bool {
        self.public_keys.is_empty() && self.jwks_url.is_none()
    }
}

/// Shared by every handler. One `Arc` around it all: axum clones the state
/// for every request, and a clone is then one reference count, not one per
/// shared part (the clones and drops of the separate counts were 2 % of a
/// query's CPU time).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares, behind [`AppState`]'s one `Arc`.
pub struct Shared {
    pub core: Arc<Core>,
    pub verifier: auth::Verifier,
    pub max_body_bytes: usize,
    pub live: Arc<live::Live>,
    pub hotline: hotline::HotlineConfig,
    pub record: Arc<record::Record>,
    /// Development mode only: the key that signs tokens for `/v1/dev/token`.
    pub dev_key: Option<Arc<auth::dev::DevKey>>,
    pub limiter: Arc<ratelimit::Limiter>,
}

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // A second server in the same process (tests) shares the first recorder.
        let _ = metrics::set_global_recorder(recorder);
        // `build_recorder` leaves upkeep to the caller: without it every
        // histogram sample is kept until the next scrape, so a service
        // nobody scrapes would grow by 8 bytes per request without bound.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            });
        handle
    })
}

async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status();
    tracing::debug!(%method, %route, status = status.as_u16(), micros = elapsed.as_micros() as u64, "request");
    let (count, duration) = request_metrics(&method, route, status);
    count.increment(1);
    duration.record(elapsed.as_secs_f64());
    if status.is_server_error() {
        tracing::error!(status = %status, "request failed with a server error");
    }
    resp
}

/// The request counter and latency histogram of one (method, route,
/// status), looked up in the registry once per worker thread rather than on
/// every request (which cost three label strings and a hash of them). The
/// cache is found by route (borrowed, so nothing is formatted or allocated
/// per request), then among that route's few (method, status) pairs.
fn request_metrics(
    method: &axum::http::Method,
    route: &str,
    status: StatusCode,
) -> (metrics::Counter, metrics::Histogram) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    type Handles = (metrics::Counter, metrics::Histogram);
    type ByRoute = HashMap<String, Vec<(axum::http::Method, StatusCode, Handles)>>;
    thread_local! {
        static CACHE: RefCell<ByRoute> = RefCell::default();
    }
    CACHE.with(|cache| {
        let mut map = cache.borrow_mut();
        let cached = map
            .get(route)
            .and_then(|pairs| pairs.iter().find(|(m, s, _)| m == method && *s == status));
        if let Some((_, _, h)) = cached {
            return h.clone();
        }
        let labels = [
            ("method", method.as_str().to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_u16().to_string()),
        ];
        let h = (
            metrics::counter!("http_requests_total", &labels),
            metrics::histogram!("http_request_duration_seconds", &labels),
        );
        map.entry(route.to_owned())
            .or_default()
            .push((method.clone(), status, h.clone()));
        h
    })
}

/// What every request goes through before routing, in one layer (each
/// `from_fn` layer costs a boxed future and a service clone per request):
///
/// - the body is read whole first. A handler that answers without reading
///   it (a DELETE carrying one, a 401 before decoding) would otherwise leave
///   unread bytes on a kept-alive connection, which hyper resolves by
///   closing it under the client's next request;
/// - the request runs with a slot for the record index of its write, which
///   is returned in `X-Log-Index`.
async fn edge(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, st.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // to_bytes fails only on a read error or the limit; both are the client's.
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            return if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request body exceeds the limit of {} bytes",
                        st.max_body_bytes
                    ),
                )
                .into_response()
            } else {
                ApiError::bad("body", format!("cannot read request body: {e}")).into_response()
            };
        }
    };
    let req = Request::from_parts(parts, bytes.into());
    let (index, mut resp) = crate::core::LOG_INDEX
        .scope(std::cell::Cell::new(None), async {
            let resp = next.run(req).await;
            (crate::core::LOG_INDEX.with(|c| c.get()), resp)
        })
        .await;
    if let Some(i) = index {
        resp.headers_mut()
            .insert("x-log-index", axum::http::HeaderValue::from(i));
    }
    resp
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenIn {
    sub: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// Development mode only (404 otherwise): a token for any party, so that
/// the map's sign-in button and scripts need no CLI. Tokens last one hour.
/// `GET /v1/dev/token`: 200 where tokens are minted (development mode),
/// 404 elsewhere; the map shows its "Dev token" button accordingly.
async fn dev_mode(State(st): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    if st.dev_key.is_none() {
        return Err(ApiError::not_found(
            "tokens are minted only in development mode",
        ));
    }
    Ok(axum::Json(serde_json::json!({ "development": true })))
}

async fn dev_token(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let Some(key) = &st.dev_key else {
        return Err(ApiError::not_found(
            "tokens are minted only in development mode",
        ));
    };
    // Not `JsonBody`: this endpoint is for callers without a token.
    let body: DevTokenIn = extract::decode(&body)?;
    let sub = body.sub.trim();
    if sub.is_empty() || sub.len() > 128 || sub.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad(
            "sub",
            "must be 1 to 128 printable characters",
        ));
    }
    let scopes = if body.scopes.is_empty() {
        vec![
            "utm.strategic_coordination".to_string(),
            "utm.constraint_management".to_string(),
            "utm.constraint_processing".to_string(),
            "utm.conformance_monitoring_sa".to_string(),
            "utm.availability_arbitration".to_string(),
        ]
    } else {
        body.scopes
    };
    let token = key.mint(sub, &scopes, "localhost", Duration::from_secs(3600));
    Ok(axum::Json(
        serde_json::json!({ "token": token, "sub": sub, "scopes": scopes }),
    ))
}

async fn healthy() -> &'static str {
    "ok"
}

async fn metrics_text(State(st): State<AppState>) -> String {
    let ((oi, c, s), (isas, rid_subs)) = st.core.read(|d| (d.counts(), d.rid_counts())).await;
    metrics::gauge!("dss_operational_intents").set(oi as f64);
    metrics::gauge!("dss_constraints").set(c as f64);
    metrics::gauge!("dss_subscriptions").set(s as f64);
    metrics::gauge!("rid_identification_service_areas").set(isas as f64);
    metrics::gauge!("rid_subscriptions").set(rid_subs as f64);
    prometheus().render()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // Reaching this is a bug; the client still gets a well-formed answer.
    ApiError::internal("internal error").into_response()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let _ = prometheus();
    Router::new()
        .merge(scd::routes())
        .merge(rid::routes())
        .merge(auxiliary::routes())
        .merge(live::routes())
        .merge(hotline::routes())
        .merge(record::routes())
        .merge(ui::routes())
        .route(
            "/v1/dev/token",
            axum::routing::post(dev_token).get(dev_mode),
        )
        .route("/healthy", get(healthy))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .route_layer(middleware::from_fn(track))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(state)
}

/// Opens the store, rebuilds the state and sets up authentication.
pub async fn build(config: &Config) -> anyhow::Result<(AppState, Arc<dyn Store>)> {
    std::fs::create_dir_all(&config.data_dir)?;
    let started = std::time::Instant::now();
    let (store, db): (Arc<dyn Store>, String) = match &config.store_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let u = url.clone();
            // The synchronous client must not block a runtime thread.
            let pg = tokio::task::spawn_blocking(move || PgStore::open(&u)).await??;
            (Arc::new(pg), redact(url))
        }
        Some(other) => anyhow::bail!(
            "--store {other:?}: expected postgres://user@host:port/database (or no --store for the embedded SQLite)"
        ),
        None => {
            let db = config.data_dir.join("deconflict.db");
            (Arc::new(SqliteStore::open(&db)?), db.display().to_string())
        }
    };
    let core = Core::open(store.clone(), config.rules.clone(), config.notice.clone())?;
    let (oi, c, s) = core.read(|d| d.counts()).await;
    tracing::info!(database = %db, operational_intents = oi, constraints = c, subscriptions = s,
        seconds = started.elapsed().as_secs_f64(), "state restored from the store");

    let mut vc = auth::VerifierConfig {
        public_key_files: config.public_keys.clone(),
        jwks_url: config.jwks_url.clone(),
        audiences: config.audiences.clone(),
        ..Default::default()
    };
    let mut dev_key = None;
    if config.development_mode() {
        let key = auth::dev::DevKey::load_or_create(&config.data_dir)?;
        tracing::warn!("==================================================================");
        tracing::warn!("DEVELOPMENT MODE: no --public-key or --jwks-url was given.");
        tracing::warn!(
            "This service accepts tokens signed by its own key in {}",
            config.data_dir.display()
        );
        tracing::warn!(
            "Mint one with: deconflict token --sub NAME --scope SCOPE --data-dir {}",
            config.data_dir.display()
        );
        tracing::warn!("Never run a shared deployment like this.");
        tracing::warn!("==================================================================");
        vc.extra_public_keys_pem.push(key.public_key_pem());
        dev_key = Some(Arc::new(key));
    }
    let verifier = auth::Verifier::new(vc).await?;
    let record = record::Record::open(&core, &config.data_dir, &config.log_origin)?;
    tracing::info!(
        key = %record.verifier_key(),
        entries = *core.durable_log().borrow(),
        "the record's checkpoints are signed with this key (also at GET /v1/log/key)"
    );
    Ok((
        AppState(Arc::new(Shared {
            core: Arc::new(core),
            verifier,
            max_body_bytes: config.max_body_bytes,
            live: Arc::new(live::Live::new(
                config.live.params.clone(),
                config.live.conformance.clone(),
            )),
            hotline: config.hotline.clone(),
            record: Arc::new(record),
            dev_key,
            limiter: Arc::new(ratelimit::Limiter::new(config.rate_limit)),
        })),
        store,
    ))
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}://{}:***{}", &url[..s], &cred[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Removes ended entities on a schedule, through the same durable path as writes.
async fn expire_loop(core: Arc<Core>, every: Duration, retention: chrono::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        match core.write("deconflict", |d| Ok(d.expire(now))).await {
            Ok(e) if e != dss::Expired::default() => {
                tracing::info!(
                    operational_intents = e.operational_intents,
                    constraints = e.constraints,
                    subscriptions = e.subscriptions,
                    identification_service_areas = e.isas,
                    rid_subscriptions = e.rid_subscriptions,
                    "removed ended entities"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e.message, "expiry sweep failed"),
        }
        hotline::prune(&core, retention).await;
    }
}

/// Serves until `shutdown` resolves, then drains and flushes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (state, store) = build(&config).await?;
    let sweeper = tokio::spawn(expire_loop(
        state.core.clone(),
        config.expiry_interval,
        config.hotline.retention,
    ));
    live::start(&state.live, &config.live);
    tokio::spawn(live::alerts_to_events(
        state.core.clone(),
        state.live.clone(),
    ));
    tokio::spawn(live::intents_to_monitor(
        state.core.clone(),
        state.live.clone(),
    ));
    tokio::spawn(live::conformance_to_events(
        state.core.clone(),
        state.live.clone(),
    ));
    webhooks::start(&state.core, &config.webhooks);
    if state.core.store().shared() {
        // Follow the other instances of the pool even when idle, so that
        // event streams and checkpoints here keep up with their writes.
        let core = state.core.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                core.sync();
            }
        });
    }
    tokio::spawn(record::checkpoint_loop(
        state.core.clone(),
        state.record.clone(),
        config.checkpoint_interval,
    ));
    let app = router(state);
    tracing::info!(listen = %listener.local_addr()?, "deconflict is serving the ASTM F3548-21 DSS API");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    sweeper.abort();
    store.close();
    tracing::info!("stopped; every acknowledged write is in the store");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
