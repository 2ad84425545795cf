//! Webhooks: a party that configured a URL also gets its events POSTed
//! there, in order, retried with exponential backoff; every attempt and its
//! outcome is appended to the record.
//!
//! One task per party, so a slow or dead endpoint delays only its own
//! party. Webhooks are a convenience beside the event stream, not its
//! replacement: events that arrive while the service is down are not
//! re-posted after a restart (the stream's Last-Event-ID replay covers
//! them), and after the last retry an event is given up, recorded as such.

use crate::core::Core;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::StoredEvent;
use tokio::sync::{broadcast, mpsc};

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
) {
    while let Some(e) = rx.recv().await {
        let mut backoff = config.first_backoff;
        for attempt in 1..=config.max_attempts {
            let started = Instant::now();
            let result = client
                .post(&url)
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
}
