//! JWKS endpoint client: initial fetch, periodic refresh in a background
//! task, and rate-limited on-demand refresh when a token names an unknown
//! `kid` (the usual sign that the issuer rotated keys).
//!
//! The current key set is an immutable `Arc<Vec<_>>` behind a `std` RwLock:
//! verification only clones the `Arc` under a momentary read lock, so it never
//! waits on the network, and a refresh swaps the whole set at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::error::AuthSetupError;
use crate::keys::{parse_jwks, JwkOutcome, VerificationKey};

/// Largest JWKS document accepted. Real ones are a few KiB; the cap keeps a
/// misbehaving endpoint from exhausting memory.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Most keys kept from one document: every key without a `kid` may be tried
/// per token, so this bounds the work a token can cause.
const MAX_JWKS_KEYS: usize = 64;
/// First retry delay after a failed fetch; doubles up to [`MAX_RETRY_DELAY`]
/// (or the refresh period, if shorter).
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 5;

pub(crate) type KeySet = Arc<Vec<Arc<VerificationKey>>>;

pub(crate) struct JwksSource {
    url: String,
    client: reqwest::Client,
    keys: RwLock<KeySet>,
    /// Bumped on every successful install, so a request that waited for an
    /// in-flight fetch can tell that it need not fetch again.
    generation: AtomicU64,
    /// Serialises fetches: a burst of tokens with a new `kid` causes one
    /// request to the endpoint, not one per token.
    fetch_lock: tokio::sync::Mutex<()>,
    /// When the last on-demand fetch was started, for rate limiting.
    last_on_demand: Mutex<Option<Instant>>,
    min_on_demand_interval: Duration,
    refresh_period: Duration,
    runtime: Handle,
    refresh_task: OnceLock<AbortHandle>,
}

impl Drop for JwksSource {
    fn drop(&mut self) {
        // The task only holds a Weak reference and would exit at its next
        // wake-up anyway; aborting makes that immediate.
        if let Some(task) = self.refresh_task.get() {
            task.abort();
        }
    }
}

impl JwksSource {
    /// Validates the settings, does the first fetch (a failure is logged, not
    /// fatal: the identity provider may simply start later than us), and
    /// starts the refresh task.
    pub(crate) async fn start(
        url: &str,
        refresh_period: Duration,
        min_on_demand_interval: Duration,
    ) -> Result<Arc<JwksSource>, AuthSetupError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| AuthSetupError::InvalidJwksUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        match parsed.scheme() {
            "https" => {}
            "http" => {
                let host = parsed.host_str().unwrap_or_default();
                let loopback = host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    tracing::warn!(
                        url,
                        "JWKS URL uses plain http: keys can be substituted in transit; use https"
                    );
                }
            }
            other => {
                return Err(AuthSetupError::InvalidJwksUrl {
                    url: url.to_owned(),
                    reason: format!("scheme {other:?} is not http or https"),
                })
            }
        }
        let runtime = Handle::try_current().map_err(|_| AuthSetupError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("deconflict-auth/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Follow a few redirects (some providers move their JWKS),
                // but never from https to http: that would hand key
                // substitution to anyone on the path.
                let downgrade = attempt.url().scheme() != "https"
                    && attempt.previous().iter().any(|u| u.scheme() == "https");
                if downgrade {
                    attempt.error("JWKS redirect from https to http refused")
                } else if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error("too many JWKS redirects")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| AuthSetupError::HttpClient(e.to_string()))?;

        let source = Arc::new(JwksSource {
            url: url.to_owned(),
            client,
            keys: RwLock::new(Arc::new(Vec::new())),
            generation: AtomicU64::new(0),
            fetch_lock: tokio::sync::Mutex::new(()),
            last_on_demand: Mutex::new(None),
            min_on_demand_interval,
            refresh_period,
            runtime,
            refresh_task: OnceLock::new(),
        });

        let first_ok = {
            let _guard = source.fetch_lock.lock().await;
            source.fetch_and_install().await
        };
        let task = source
            .runtime
            .spawn(refresh_loop(Arc::downgrade(&source), first_ok));
        // Cannot already be set: `source` was created just above.
        let _ = source.refresh_task.set(task.abort_handle());
        Ok(source)
    }

    /// The current key set (cheap: one `Arc` clone).
    pub(crate) fn keys(&self) -> KeySet {
        // A poisoned lock only means a writer panicked between two complete
        // states; the value is still a whole key set, so keep serving it.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Claims the on-demand refresh slot if the rate limit allows it now.
    fn claim_on_demand_slot(&self) -> bool {
        let mut last = self
            .last_on_demand
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.min_on_demand_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Called from the synchronous verify path on an unknown `kid`: starts a
    /// background fetch if the rate limit allows. Never blocks.
    pub(crate) fn request_refresh(self: &Arc<Self>) {
        if !self.claim_on_demand_slot() {
            return;
        }
        let source = Arc::clone(self);
        // Handle::spawn works from any thread, including non-runtime ones.
        self.runtime.spawn(async move {
            let _guard = source.fetch_lock.lock().await;
            tracing::info!(url = %source.url, "unknown key id in a token: refreshing JWKS");
            source.fetch_and_install().await;
        });
    }

    /// Refreshes on demand and waits for the result. Returns whether the key
    /// set changed (so retrying the token is worthwhile): either this call
    /// fetched successfully, or a concurrent fetch completed while it waited.
    pub(crate) async fn refresh_and_wait(&self) -> bool {
        let generation_before = self.generation.load(Ordering::Acquire);
        let _guard = self.fetch_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != generation_before {
            return true;
        }
        if !self.claim_on_demand_slot() {
            return false;
        }
        tracing::info!(url = %self.url, "unknown key id in a token: refreshing JWKS");
        self.fetch_and_install().await
    }

    /// Fetches the document and installs its keys; returns whether it did.
    /// Callers hold `fetch_lock`.
    /// On any failure the previous key set stays in force: better to keep
    /// verifying with slightly stale keys than to refuse every request
    /// because the identity provider had a hiccup.
    async fn fetch_and_install(&self) -> bool {
        let outcome = async {
            let body = self.fetch().await?;
            let outcomes = parse_jwks(&body, &self.url)?;
            let mut keys = Vec::new();
            for outcome in outcomes {
                match outcome {
                    JwkOutcome::Usable(key) => keys.push(Arc::new(key)),
                    JwkOutcome::Skipped(why) => {
                        tracing::debug!(url = %self.url, why, "JWKS key ignored")
                    }
                    JwkOutcome::Invalid(why) => {
                        tracing::warn!(url = %self.url, why, "JWKS key is invalid and was ignored")
                    }
                }
            }
            if keys.is_empty() {
                return Err("the JWKS has no usable RS256 or ES256 signing key".to_owned());
            }
            if keys.len() > MAX_JWKS_KEYS {
                tracing::warn!(
                    url = %self.url,
                    count = keys.len(),
                    kept = MAX_JWKS_KEYS,
                    "JWKS has too many keys; keeping the first ones"
                );
                keys.truncate(MAX_JWKS_KEYS);
            }
            Ok(keys)
        }
        .await;
        match outcome {
            Ok(keys) => {
                let kids: Vec<&str> = keys
                    .iter()
                    .map(|k| k.kid.as_deref().unwrap_or("(none)"))
                    .collect();
                tracing::info!(url = %self.url, count = keys.len(), ?kids, "JWKS keys loaded");
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
                self.generation.fetch_add(1, Ordering::AcqRel);
                true
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    error,
                    "JWKS fetch failed; keeping the previous keys and retrying"
                );
                false
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("endpoint answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("document larger than {MAX_JWKS_BYTES} bytes"));
        }
        // Read chunk by chunk so the cap holds even without Content-Length.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("document larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Periodic refresh. Holds only a `Weak` reference so that dropping the last
/// `Verifier` ends it.
async fn refresh_loop(source: Weak<JwksSource>, mut last_ok: bool) {
    let mut retry_delay = FIRST_RETRY_DELAY;
    loop {
        let delay = {
            let Some(s) = source.upgrade() else { return };
            if last_ok {
                retry_delay = FIRST_RETRY_DELAY;
                s.refresh_period
            } else {
                // Until the first success, and after failures, retry sooner
                // than the refresh period, backing off exponentially.
                let d = retry_delay.min(s.refresh_period);
                retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
                d
            }
        };
        tokio::time::sleep(delay).await;
        let Some(s) = source.upgrade() else { return };
        let _guard = s.fetch_lock.lock().await;
        last_ok = s.fetch_and_install().await;
    }
}
