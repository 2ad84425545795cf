//! `deconflict verify` and `deconflict export`: a client's checks of the
//! record, trusting nothing but the public key it was given.

use anyhow::{bail, Context};
use base64::Engine;
use ledger::{Checkpoint, ConsistencyProof, InclusionProof, Verifier};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(base: &str, token: Option<String>) -> anyhow::Result<Client> {
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
        })
    }

    fn get(&self, path: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let mut req = self.http.get(format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().with_context(|| format!("GET {path}"))?;
        if !resp.status().is_success() {
            bail!(
                "GET {path}: {} {}",
                resp.status(),
                resp.text().unwrap_or_default()
            );
        }
        Ok(resp)
    }

    fn checkpoint(&self) -> anyhow::Result<String> {
        Ok(self.get("/v1/log/checkpoint")?.text()?)
    }

    fn entry(&self, index: u64) -> anyhow::Result<Vec<u8>> {
        let v: serde_json::Value = self
            .get(&format!("/v1/log/entries?start={index}&end={}", index + 1))?
            .json()?;
        let e = v["entries"][0]["data"]
            .as_str()
            .with_context(|| format!("the server has no entry {index}"))?;
        Ok(B64.decode(e)?)
    }

    fn inclusion(&self, index: u64, size: u64) -> anyhow::Result<InclusionProof> {
        let w: WireInclusion = self
            .get(&format!(
                "/v1/log/proof/inclusion?index={index}&size={size}"
            ))?
            .json()?;
        Ok(InclusionProof {
            leaf_index: w.index,
            tree_size: w.size,
            hashes: decode_hashes(&w.hashes)?,
        })
    }

    fn consistency(&self, from: u64, to: u64) -> anyhow::Result<ConsistencyProof> {
        let w: WireConsistency = self
            .get(&format!("/v1/log/proof/consistency?from={from}&to={to}"))?
            .json()?;
        Ok(ConsistencyProof {
            old_size: w.from,
            new_size: w.to,
            hashes: decode_hashes(&w.hashes)?,
        })
    }
}

/// The service's proof formats: `{"index", "size", "hashes"}` and
/// `{"from", "to", "hashes"}`, hashes in base64.
#[derive(Deserialize)]
struct WireInclusion {
    index: u64,
    size: u64,
    hashes: Vec<String>,
}

#[derive(Deserialize)]
struct WireConsistency {
    from: u64,
    to: u64,
    hashes: Vec<String>,
}

fn decode_hashes(h: &[String]) -> anyhow::Result<Vec<ledger::Hash>> {
    h.iter()
        .map(|s| ledger::b64::decode(s).map_err(|e| anyhow::anyhow!("proof hash {s:?}: {e}")))
        .collect()
}

fn read_key(key: &str) -> anyhow::Result<Verifier> {
    let text = if Path::new(key).exists() {
        std::fs::read_to_string(key)?
    } else {
        key.to_string()
    };
    Verifier::parse(text.trim()).map_err(|e| anyhow::anyhow!("--key: {e}"))
}

fn open(v: &Verifier, note: &str, what: &str) -> anyhow::Result<Checkpoint> {
    v.open_checkpoint(note)
        .map_err(|e| anyhow::anyhow!("{what}: signature check failed: {e}"))
}

/// One entry with its proof, as `export` writes them.
#[derive(Serialize, Deserialize)]
pub struct ExportedEntry {
    pub index: u64,
    /// The entry's bytes, base64.
    pub data: String,
    pub proof: InclusionProof,
}

#[derive(Serialize, Deserialize)]
pub struct Export {
    pub party: String,
    pub key: String,
    pub checkpoint: String,
    pub entries: Vec<ExportedEntry>,
    /// With `export --since`: proof that `checkpoint` extends the record
    /// as an earlier checkpoint showed it, so that the file alone shows
    /// nothing was rewritten since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencyProof>,
}

pub struct VerifyArgs {
    pub key: String,
    pub server: Option<String>,
    pub token: Option<String>,
    pub file: Option<PathBuf>,
    pub checkpoint: Option<PathBuf>,
    pub entries: Vec<u64>,
    pub save: Option<PathBuf>,
}

/// Checks signatures, inclusion and consistency; returns what it checked.
pub fn verify(a: &VerifyArgs) -> anyhow::Result<String> {
    let v = read_key(&a.key)?;
    let mut report = Vec::new();
    let old = match &a.checkpoint {
        Some(p) => {
            let note =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let cp = open(&v, &note, &p.display().to_string())?;
            report.push(format!("saved checkpoint: signature OK, size {}", cp.size));
            Some(cp)
        }
        None => None,
    };
    if let Some(path) = &a.file {
        let ex: Export = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        let cp = open(&v, &ex.checkpoint, "export checkpoint")?;
        for e in &ex.entries {
            let bytes = B64
                .decode(&e.data)
                .with_context(|| format!("entry {}: not base64", e.index))?;
            if e.proof.leaf_index != e.index || e.proof.tree_size != cp.size {
                bail!("entry {}: its proof is for another index or size", e.index);
            }
            e.proof
                .verify(&ledger::leaf_hash(&bytes), &cp.root)
                .map_err(|err| {
                    anyhow::anyhow!("entry {}: not in the signed record: {err}", e.index)
                })?;
        }
        report.push(format!(
            "export of {}: checkpoint signature OK (size {}), {} entries included",
            ex.party,
            cp.size,
            ex.entries.len()
        ));
        if let Some(old) = &old {
            check_extends(old, &cp, "the export's", || {
                ex.consistency.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "the export carries no consistency proof from size {}; \
                         export it with --since the saved checkpoint",
                        old.size
                    )
                })
            })?;
            report.push(format!("consistency {} -> {}: OK", old.size, cp.size));
        }
    }
    if let Some(server) = &a.server {
        let c = Client::new(server, a.token.clone())?;
        let note = c.checkpoint()?;
        let cp = open(&v, &note, "server checkpoint")?;
        report.push(format!("server checkpoint: signature OK, size {}", cp.size));
        if let Some(old) = &old {
            check_extends(old, &cp, "the server's", || {
                c.consistency(old.size, cp.size)
            })?;
            report.push(format!("consistency {} -> {}: OK", old.size, cp.size));
        }
        for &i in &a.entries {
            let bytes = c.entry(i)?;
            let p = c.inclusion(i, cp.size)?;
            if p.leaf_index != i || p.tree_size != cp.size {
                bail!("entry {i}: the server sent a proof for another index or size");
            }
            p.verify(&ledger::leaf_hash(&bytes), &cp.root)
                .map_err(|e| anyhow::anyhow!("entry {i}: not in the signed record: {e}"))?;
            report.push(format!("entry {i}: included"));
        }
        if let Some(save) = &a.save {
            std::fs::write(save, &note)?;
            report.push(format!("checkpoint saved to {}", save.display()));
        }
    }
    if report.is_empty() {
        bail!("nothing to verify: give --server and/or --file");
    }
    Ok(report.join("\n"))
}

/// Checks that checkpoint `new` (from `whose`: the server's, the export's)
/// extends the saved `old`: same origin, not smaller, the same root at the
/// same size, else a consistency proof (fetched only when needed).
fn check_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    whose: &str,
    proof: impl FnOnce() -> anyhow::Result<ConsistencyProof>,
) -> anyhow::Result<()> {
    if old.origin != new.origin {
        bail!(
            "origin differs: saved {:?}, {whose} {:?}",
            old.origin,
            new.origin
        );
    }
    if old.size > new.size {
        bail!(
            "{whose} checkpoint ({}) is older than the saved one ({}): the record was rolled back",
            new.size,
            old.size
        );
    }
    if old.size == new.size {
        if old.root != new.root {
            bail!(
                "same size {} but a different root: the record was rewritten",
                new.size
            );
        }
    } else if old.size > 0 {
        let p = proof()?;
        if p.old_size != old.size || p.new_size != new.size {
            bail!(
                "{whose} consistency proof is for sizes {} -> {}, not {} -> {}",
                p.old_size,
                p.new_size,
                old.size,
                new.size
            );
        }
        p.verify(&old.root, &new.root).map_err(|e| {
            anyhow::anyhow!("the record is not an extension of the saved checkpoint: {e}")
        })?;
    }
    Ok(())
}

/// Writes every entry of the record that concerns `party` (its own writes
/// and acknowledgements, the events sent to it and their deliveries), each
/// with its inclusion proof against the server's latest signed checkpoint.
///
/// With `since` (a checkpoint saved earlier), the file also carries the
/// consistency proof from it to the exported checkpoint.
pub fn export(
    server: &str,
    token: Option<String>,
    party: &str,
    out: &Path,
    since: Option<&Path>,
) -> anyhow::Result<String> {
    let c = Client::new(server, token)?;
    let key = c.get("/v1/log/key")?.text()?.trim().to_string();
    let note = c.checkpoint()?;
    let v = Verifier::parse(&key).map_err(|e| anyhow::anyhow!("server key: {e}"))?;
    let cp = open(&v, &note, "server checkpoint")?;
    let consistency = match since {
        Some(p) => {
            let saved =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let old = open(&v, &saved, &p.display().to_string())?;
            let mut fetched = None;
            check_extends(&old, &cp, "the server's", || {
                let proof = c.consistency(old.size, cp.size)?;
                fetched = Some(proof.clone());
                Ok(proof)
            })?;
            // Sizes equal (or the saved one empty): no proof needed, but the
            // file still says from where it was checked.
            Some(fetched.unwrap_or(ConsistencyProof {
                old_size: old.size,
                new_size: cp.size,
                hashes: Vec::new(),
            }))
        }
        None => None,
    };
    let mut entries = Vec::new();
    let mut start = 0;
    while start < cp.size {
        let page: serde_json::Value = c
            .get(&format!("/v1/log/entries?start={start}&end={}", cp.size))?
            .json()?;
        let rows = page["entries"].as_array().context("entries")?;
        if rows.is_empty() {
            bail!("the server returned no entries at {start}");
        }
        for r in rows {
            let index = r["index"].as_u64().context("index")?;
            let b64 = r["data"].as_str().context("data")?;
            let bytes = B64.decode(b64)?;
            let e: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let concerns = e["actor"] == party || e["data"]["party"] == party;
            if concerns {
                entries.push(ExportedEntry {
                    index,
                    data: b64.to_string(),
                    proof: c.inclusion(index, cp.size)?,
                });
            }
        }
        start += rows.len() as u64;
    }
    let n = entries.len();
    let ex = Export {
        party: party.to_string(),
        key,
        checkpoint: note,
        entries,
        consistency,
    };
    std::fs::write(out, serde_json::to_vec_pretty(&ex)?)?;
    Ok(format!(
        "exported {n} entries of {party} with proofs against checkpoint size {} to {}",
        cp.size,
        out.display()
    ))
}
