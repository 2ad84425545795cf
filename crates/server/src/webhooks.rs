//! Webhooks: a party that configured a URL also gets its events POSTed
//! there, in order, retried with exponential backoff; every attempt and its
//! outcome is appended to the record.
//!
//! One task per party, so a slow or dead endpoint delays only its own
//! party. Delivery is at least once, in sequence order: after a restart,
//! each party's task first posts the events after the last one whose
//! delivery the record shows settled (delivered or given up) — those the
//! service never got to, and any attempt cut short by the stop — then new
//! ones. Receivers deduplicate by `X-Deconflict-Event-Id`. A party whose
//! webhook never had an attempt starts with new events (configuring a
//! webhook does not replay the whole history; the stream's `?after=` does
//! that). After the last retry an event is given up, recorded as such.

use crate::core::Core;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::StoredEvent;
use tokio::sync::{broadcast, mpsc, OnceCell};

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Party → URL.
    pub urls: HashMap<String, String>,
    /// Attempts per event (the first included).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time, at most `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            urls: HashMap::new(),
            max_attempts: 8,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Parses `PARTY=URL`.
pub fn parse_webhook(s: &str) -> Result<(String, String), String> {
    let (party, url) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected PARTY=URL"))?;
    let party = party.trim();
    if party.is_empty() {
        return Err(format!("{s:?}: the party is empty"));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!(
            "{s:?}: the URL must start with https:// or http://"
        ));
    }
    Ok((party.to_string(), url.to_string()))
}

/// Starts one delivery task per configured party.
pub fn start(core: &Arc<Core>, config: &WebhookConfig) {
    if config.urls.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    // Where each party's deliveries stopped: read from the record once, by
    // the first task that needs it; live events queue up meanwhile.
    let cursors: Arc<OnceCell<HashMap<String, u64>>> = Arc::new(OnceCell::new());
    let mut queues: HashMap<String, mpsc::UnboundedSender<Arc<StoredEvent>>> = HashMap::new();
    for (party, url) in &config.urls {
        let (tx, rx) = mpsc::unbounded_channel();
        queues.insert(party.clone(), tx);
        tokio::spawn(deliver(
            core.clone(),
            client.clone(),
            party.clone(),
            url.clone(),
            config.clone(),
            rx,
            cursors.clone(),
        ));
        tracing::info!(party = %party, url = %url, "webhook configured");
    }
    let mut events = core.subscribe_events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(q) = queues.get(&e.party) {
                        let _ = q.send(e);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "webhook dispatch fell behind; those events are on the stream only"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

async fn deliver(
    core: Arc<Core>,
    client: reqwest::Client,
    party: String,
    url: String,
    config: WebhookConfig,
    mut rx: mpsc::UnboundedReceiver<Arc<StoredEvent>>,
    cursors: Arc<OnceCell<HashMap<String, u64>>>,
) {
    let cursors = cursors
        .get_or_init(|| async {
            let store = core.store().clone();
            match tokio::task::spawn_blocking(move || settled_cursors(store.as_ref())).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read past webhook deliveries; starting with new events");
                    HashMap::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading past webhook deliveries failed");
                    HashMap::new()
                }
            }
        })
        .await;
    // The last event handed to this endpoint (settled or being tried).
    let mut done = 0u64;
    if let Some(&settled) = cursors.get(&party) {
        done = settled;
        loop {
            let store = core.store().clone();
            let p = party.clone();
            let page = tokio::task::spawn_blocking(move || store.events_after(&p, done, 256)).await;
            let page = match page {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::error!(party = %party, error = %e, "cannot read the events missed while down");
                    break;
                }
                Err(e) => {
                    tracing::error!(party = %party, error = %e, "reading missed events failed");
                    break;
                }
            };
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            if done == settled {
                tracing::info!(party = %party, after = settled, "webhook: posting the events missed while down");
            }
            for e in page {
                post(&core, &client, &party, &url, &config, &e).await;
            }
            done = last;
        }
    }
    while let Some(e) = rx.recv().await {
        // Already posted from the backlog (it was read after this event
        // was queued).
        if e.seq <= done {
            continue;
        }
        done = e.seq;
        post(&core, &client, &party, &url, &config, &e).await;
    }
}

/// Posts one event, retrying with backoff; every attempt goes to the record.
async fn post(
    core: &Core,
    client: &reqwest::Client,
    party: &str,
    url: &str,
    config: &WebhookConfig,
    e: &StoredEvent,
) {
    let mut backoff = config.first_backoff;
    for attempt in 1..=config.max_attempts {
        let started = Instant::now();
        let result = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-deconflict-event-id", e.seq.to_string())
            .header("x-deconflict-event-kind", e.kind.as_str())
            .body(e.body.clone())
            .send()
            .await;
        let (status, error) = match &result {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(err) => (None, Some(err.to_string())),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let last = attempt == config.max_attempts;
        let outcome = if ok {
            "delivered"
        } else if last {
            "given_up"
        } else {
            "retrying"
        };
        metrics::counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
        core.record(
            "deconflict",
            "webhook_attempt",
            json!({
                "seq": e.seq, "party": party, "url": url, "attempt": attempt,
                "status": status, "error": error, "outcome": outcome,
                "duration_ms": started.elapsed().as_millis() as u64,
            }),
            Vec::new(),
            Vec::new(),
        )
        .await;
        if ok {
            break;
        }
        if last {
            tracing::warn!(party = %party, seq = e.seq, "webhook delivery given up");
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

/// Per party, the latest event whose webhook delivery the record shows
/// settled (delivered or given up). Only entries that mention a webhook
/// attempt are parsed.
fn settled_cursors(store: &dyn store::Store) -> store::Result<HashMap<String, u64>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        kind: String,
        data: Attempt,
    }
    #[derive(serde::Deserialize)]
    struct Attempt {
        seq: u64,
        party: String,
        outcome: String,
    }
    let finder = memchr::memmem::Finder::new(b"\"webhook_attempt\"");
    let mut out: HashMap<String, u64> = HashMap::new();
    store.scan_log(&mut |_, bytes| {
        if finder.find(bytes).is_none() {
            return Ok(());
        }
        let Ok(e) = serde_json::from_slice::<Entry>(bytes) else {
            return Ok(());
        };
        if e.kind == "webhook_attempt"
            && matches!(e.data.outcome.as_str(), "delivered" | "given_up")
        {
            let c = out.entry(e.data.party).or_default();
            *c = (*c).max(e.data.seq);
        }
        Ok(())
    })?;
    Ok(out)
}
