//! The record over HTTP: signed checkpoints, entries, inclusion and
//! consistency proofs (RFC 9162 hashing, signed-note checkpoints).
//!
//! Entries are appended by [`Core`] in the same commit as the write they
//! describe. Checkpoints are signed here, every `interval` while entries
//! arrive, and only ever over entries the store has made durable: a signed
//! checkpoint never covers anything a crash could undo.

use crate::core::Core;
use crate::error::{ApiError, ApiResult};
use crate::extract::{authorize, Scopes};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const ANY_PARTY: Scopes = &[&[]];

/// The key file in the data folder; never leaves the machine.
pub const KEY_FILE: &str = "record-signing-key";

/// Most entries one `GET /v1/log/entries` returns.
const MAX_ENTRIES: u64 = 1000;

pub struct Record {
    signer: ledger::Signer,
    origin: String,
    /// The latest signed checkpoint and its size.
    latest: RwLock<(u64, String)>,
}

impl Record {
    /// Loads the signing key from the data folder (creating it on first
    /// start) and signs a checkpoint of what the store holds.
    pub fn open(core: &Core, data_dir: &Path, origin: &str) -> anyhow::Result<Record> {
        let path = data_dir.join(KEY_FILE);
        let signer = if core.store().shared() {
            // Every instance of a pool signs the one record: they share a
            // key derived from the store's secret (Ed25519 is deterministic,
            // so their checkpoints of one size are byte-identical).
            use sha2::Digest;
            let secret = core.store().secret()?;
            let seed: [u8; 32] = sha2::Sha256::new()
                .chain_update(b"deconflict record signing key\0")
                .chain_update(secret)
                .finalize()
                .into();
            ledger::Signer::from_seed(origin, &seed)
                .map_err(|e| anyhow::anyhow!("cannot derive the record key: {e}"))?
        } else {
            match std::fs::read_to_string(&path) {
                Ok(text) => ledger::Signer::parse(text.trim())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let s = ledger::Signer::generate(origin, &mut rand_core::OsRng)
                        .map_err(|e| anyhow::anyhow!("cannot create the record key: {e}"))?;
                    write_private(&path, &s.to_key_string())?;
                    s
                }
                Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
            }
        };
        let record = Record {
            signer,
            origin: origin.to_string(),
            latest: RwLock::new((u64::MAX, String::new())),
        };
        let size = *core.durable_log().borrow();
        record.sign(core, size)?;
        Ok(record)
    }

    /// The verifier key, as `deconflict verify --key` takes it.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_string()
    }

    fn sign(&self, core: &Core, size: u64) -> anyhow::Result<Option<(u64, String)>> {
        if self.latest.read().0 == size {
            return Ok(None);
        }
        let root = core.tree(|t| t.root_at(size))?;
        let cp = ledger::Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = self.signer.sign_checkpoint(&cp)?;
        *self.latest.write() = (size, note.clone());
        Ok(Some((size, note)))
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    writeln!(f, "{text}")?;
    f.sync_all()?;
    Ok(())
}

/// Signs a checkpoint whenever the durable record has grown, at most once
/// per `interval`, and keeps it in the store.
pub async fn checkpoint_loop(core: Arc<Core>, record: Arc<Record>, interval: Duration) {
    let mut durable = core.durable_log();
    loop {
        if durable.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(interval).await;
        let size = *durable.borrow_and_update();
        match record.sign(&core, size) {
            Ok(Some((size, note))) => {
                let store = core.store().clone();
                let _ =
                    tokio::task::spawn_blocking(move || store.save_checkpoint(size, &note)).await;
                metrics::gauge!("record_size").set(size as f64);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot sign a checkpoint"),
        }
    }
}

fn b64_all(hashes: &[ledger::Hash]) -> Vec<String> {
    hashes.iter().map(ledger::b64::encode).collect()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/log/key", get(key))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/entries", get(entries))
        .route("/v1/log/proof/inclusion", get(inclusion))
        .route("/v1/log/proof/consistency", get(consistency))
}

fn text(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

/// Like everything about the record, for parties only: it is their evidence.
async fn key(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<impl IntoResponse> {
    authorize(&st, &headers, ANY_PARTY).await?;
    Ok(text(format!("{}\n", st.record.verifier_key())))
}

async fn checkpoint(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    authorize(&st, &headers, ANY_PARTY).await?;
    Ok(text(st.record.latest.read().1.clone()))
}

/// The size proofs may be asked about: the latest signed checkpoint's.
fn signed_size(st: &AppState) -> u64 {
    st.record.latest.read().0
}

#[derive(Deserialize)]
struct Range {
    start: Option<u64>,
    end: Option<u64>,
}

async fn entries(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Range>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let size = signed_size(&st);
    let start = q.start.unwrap_or(0);
    let end = q
        .end
        .unwrap_or(size)
        .min(size)
        .min(start.saturating_add(MAX_ENTRIES));
    if start > end {
        return Err(ApiError::bad(
            "start",
            format!("{start} is beyond the signed size {size}"),
        ));
    }
    let rows = st
        .core
        .query_store(move |s| s.log_entries(start, end))
        .await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "index": start + i as u64, "data": b64.encode(e) }))
        .collect();
    Ok(Json(json!({ "tree_size": size, "entries": entries })))
}

#[derive(Deserialize)]
struct InclusionQuery {
    index: u64,
    size: Option<u64>,
}

async fn inclusion(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let signed = signed_size(&st);
    let size = q.size.unwrap_or(signed);
    if size > signed {
        return Err(ApiError::bad(
            "size",
            format!("{size} is beyond the signed size {signed}"),
        ));
    }
    if q.index >= size {
        return Err(ApiError::bad(
            "index",
            format!("{} is not below size {size}", q.index),
        ));
    }
    let hashes = st
        .core
        .tree(|t| t.inclusion_proof(q.index, size))
        .map_err(|e| ApiError::bad("index", e.to_string()))?;
    Ok(Json(
        json!({ "index": q.index, "size": size, "hashes": b64_all(&hashes) }),
    ))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

async fn consistency(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&st, &headers, ANY_PARTY).await?;
    let signed = signed_size(&st);
    let to = q.to.unwrap_or(signed);
    if to > signed {
        return Err(ApiError::bad(
            "to",
            format!("{to} is beyond the signed size {signed}"),
        ));
    }
    if q.from == 0 || q.from > to {
        return Err(ApiError::bad("from", format!("must be in 1..={to}")));
    }
    let hashes = st
        .core
        .tree(|t| t.consistency_proof(q.from, to))
        .map_err(|e| ApiError::bad("from", e.to_string()))?;
    Ok(Json(
        json!({ "from": q.from, "to": to, "hashes": b64_all(&hashes) }),
    ))
}
