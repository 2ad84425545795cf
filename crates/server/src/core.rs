//! The one place where the in-memory state meets the store.
//!
//! Writes run under an exclusive lock: the rules are checked and applied in
//! memory; the record entries and the hotline events the write causes are
//! derived from it; all of it is queued to the store as one commit *while the
//! lock is still held* (so the store and the record see writes in the order
//! they were applied), and the client is answered only once the store says
//! the commit is durable. Events go out to live listeners only then too.
//!
//! Reads run under a shared lock and then wait until everything they could
//! have seen is durable, so no client is ever shown a state a crash could undo.

use crate::error::ApiError;
use crate::hotline::{self, Facts, NewEvent, NoticePolicy};
use chrono::{DateTime, Utc};
use dss::{Dss, DssError, Outcome};
use parking_lot::RwLock;
use serde::Serialize;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use store::{Commit, EventAck, LogRow, Store, StoredEvent};
use tokio::sync::{broadcast, oneshot, watch};

tokio::task_local! {
    /// Index in the record of the entry of the write a request made; the
    /// response middleware puts it in a header.
    pub static LOG_INDEX: Cell<Option<u64>>;
}

/// What a write holds the lock over: the rules' state, the Merkle tree of
/// the record and the event counter, which must advance together.
pub struct State {
    pub dss: Dss,
    pub tree: ledger::Tree,
    next_event_seq: u64,
}

pub struct Core {
    state: RwLock<State>,
    store: Arc<dyn Store>,
    /// Sequence number of the last commit applied in memory.
    applied: AtomicU64,
    /// Sequence number of the last commit the store made durable.
    durable: watch::Sender<u64>,
    /// Entries of the record that are durable (a checkpoint never covers more).
    durable_log: watch::Sender<u64>,
    /// Events, once durable, to whoever streams them.
    events: broadcast::Sender<Arc<StoredEvent>>,
    /// Operational intents written (`None`: deleted), once durable, for
    /// conformance monitoring.
    intents: broadcast::Sender<Arc<IntentNews>>,
    /// The last commit published, and those durable but waiting for it.
    publish_order: parking_lot::Mutex<(u64, std::collections::BTreeMap<u64, Pending>)>,
    pub notice: NoticePolicy,
}

/// One entry of the record. Serialized with a fixed field order: the bytes
/// are what the Merkle tree hashes.
#[derive(Serialize)]
struct Entry<'a, T: Serialize> {
    time: DateTime<Utc>,
    actor: &'a str,
    kind: &'a str,
    data: T,
}

/// The record entries of changes: each shows the change with every OVN
/// replaced by its SHA-256 (`ovn_sha256`, hex) — the record is read by all
/// parties and the standard shows an OVN only to its manager — and keeps the
/// change itself as the entry's private part.
fn change_entries(time: DateTime<Utc>, actor: &str, changes: &[dss::Change]) -> Vec<LogRow> {
    changes
        .iter()
        .map(|c| {
            let mut shown = serde_json::to_value(c).expect("changes are plain data");
            hash_ovns(&mut shown);
            let private = serde_json::to_vec(c).expect("changes are plain data");
            (entry_bytes(time, actor, "change", shown), Some(private))
        })
        .collect()
}

fn hash_ovns(v: &mut serde_json::Value) {
    use sha2::Digest;
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(ovn)) = map.remove("ovn") {
                let digest = sha2::Sha256::digest(ovn.as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                map.insert("ovn_sha256".into(), serde_json::Value::String(hex));
            }
            for (_, x) in map.iter_mut() {
                hash_ovns(x);
            }
        }
        serde_json::Value::Array(xs) => xs.iter_mut().for_each(hash_ovns),
        _ => {}
    }
}

fn entry_bytes<T: Serialize>(time: DateTime<Utc>, actor: &str, kind: &str, data: T) -> Vec<u8> {
    serde_json::to_vec(&Entry {
        time,
        actor,
        kind,
        data,
    })
    .expect("record entries are plain data")
}

/// An operational intent as written by a durable commit.
#[derive(Debug, Clone)]
pub struct IntentNews {
    pub intent: dss::OperationalIntent,
    pub deleted: bool,
}

/// What a commit built under the lock leaves for after durability.
struct Pending {
    seq: u64,
    log_end: u64,
    first_index: Option<u64>,
    events: Vec<Arc<StoredEvent>>,
    intents: Vec<Arc<IntentNews>>,
}

impl Core {
    /// Rebuilds the state and the record from the store.
    pub fn open(
        store: Arc<dyn Store>,
        config: dss::Config,
        notice: NoticePolicy,
    ) -> anyhow::Result<Core> {
        let secret = store.secret()?;
        let (dss, tree, next_event_seq) = if store.shared() {
            // In a pool, the tables and the record could be read at two
            // moments with another instance's write between them; the
            // record alone is one consistent history, so replay it.
            let mut st = State {
                dss: Dss::new(config, secret),
                tree: ledger::Tree::new(),
                next_event_seq: 1,
            };
            let entries = store.tail(0)?;
            let _ = apply_entries(&mut st, entries)?;
            let next = st.next_event_seq.max(store.last_event_seq()? + 1);
            (st.dss, st.tree, next)
        } else {
            // The record's leaf hashes on a thread of their own, beside the
            // tables' rows: two full reads of the store at once, on two cores.
            let (dss, leaves) = std::thread::scope(|s| {
                let leaves = s.spawn(|| {
                    let mut leaves: Vec<ledger::Hash> = Vec::new();
                    store
                        .scan_log(&mut |_, e| {
                            leaves.push(ledger::leaf_hash(e));
                            Ok(())
                        })
                        .map(|()| leaves)
                });
                let mut restore = Dss::restoring(config, secret);
                let scanned = store.scan_state(&mut |change| {
                    restore.add(change);
                    Ok(())
                });
                let dss = scanned.map(|()| restore.finish());
                match leaves.join() {
                    Ok(leaves) => (dss, leaves),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            });
            (
                dss?,
                ledger::Tree::from_leaf_hashes(leaves?),
                store.last_event_seq()? + 1,
            )
        };
        let size = tree.size();
        let (durable, _) = watch::channel(0);
        let (durable_log, _) = watch::channel(size);
        let (events, _) = broadcast::channel(8192);
        let (intents, _) = broadcast::channel(8192);
        Ok(Core {
            state: RwLock::new(State {
                dss,
                tree,
                next_event_seq,
            }),
            store,
            applied: AtomicU64::new(0),
            durable,
            durable_log,
            events,
            intents,
            publish_order: parking_lot::Mutex::new((0, std::collections::BTreeMap::new())),
            notice,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs a blocking read of the store off the async threads; a store
    /// failure is the service's (500), never the client's.
    pub async fn query_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Durable events from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// Durable writes of operational intents from now on.
    pub fn subscribe_intents(&self) -> broadcast::Receiver<Arc<IntentNews>> {
        self.intents.subscribe()
    }

    /// Number of record entries known durable, and a way to wait for more.
    pub fn durable_log(&self) -> watch::Receiver<u64> {
        self.durable_log.subscribe()
    }

    /// Runs a write of the rules as `actor` and returns its value once its
    /// effect — state, record entries, events — is durable.
    pub async fn write<T: Facts>(
        &self,
        actor: &str,
        op: impl FnOnce(&mut Dss) -> Result<Outcome<T>, DssError>,
    ) -> Result<T, ApiError> {
        if self.store.shared() {
            return self.write_pooled(actor, op);
        }
        let now = Utc::now();
        // Everything under the lock is synchronous: the guard never lives
        // across an await, and the store sees commits in the order applied.
        let (value, pending) = {
            let mut st = self.state.write();
            let outcome = op(&mut st.dss)?;
            if outcome.changes.is_empty() {
                (outcome.value, Err(self.applied.load(Ordering::Acquire)))
            } else {
                let (value, commit, log, events, news) = self.derive(&st.dss, actor, outcome, now);
                let rx = self.submit(&mut st, commit, log, events, now, news);
                (value, Ok(rx))
            }
        };
        match pending {
            // Nothing changed; still, what the operation saw must be durable.
            Err(seen) => {
                self.settle(seen).await;
                Ok(value)
            }
            Ok(rx) => {
                self.finish(rx).await;
                Ok(value)
            }
        }
    }

    /// What an applied write leaves besides its value: the commit of its
    /// changes and declarations, its record entries, the events it causes
    /// and the intents to tell the monitor about. Decided on the state after
    /// the write, under the lock.
    #[allow(clippy::type_complexity)]
    fn derive<T: Facts>(
        &self,
        dss: &Dss,
        actor: &str,
        outcome: Outcome<T>,
        now: DateTime<Utc>,
    ) -> (T, Commit, Vec<LogRow>, Vec<NewEvent>, Vec<Arc<IntentNews>>) {
        let (events, declarations) = hotline::events_for(
            dss,
            actor,
            &outcome.value.facts(),
            &outcome.changes,
            now,
            &self.notice,
        );
        let log = change_entries(now, actor, &outcome.changes);
        let news = intent_news(&outcome.value, &outcome.changes);
        let commit = Commit {
            changes: outcome.changes,
            declarations,
            ..Default::default()
        };
        (outcome.value, commit, log, events, news)
    }

    /// Records something that is not a change of the rules' state (an
    /// acknowledgement, a delivery, a traffic alert) with its events.
    pub async fn record(
        &self,
        actor: &str,
        kind: &str,
        data: serde_json::Value,
        acks: Vec<EventAck>,
        events: Vec<NewEvent>,
    ) -> u64 {
        let now = Utc::now();
        if self.store.shared() {
            let log = vec![(entry_bytes(now, actor, kind, &data), None)];
            let commit = Commit {
                acks,
                ..Default::default()
            };
            let mut job = Some((commit, log, events));
            return self
                .exclusive(
                    |_st| {
                        let (commit, log, events) = job.take().expect("called once");
                        Ok(Ok(((), commit, log, events, Vec::new())))
                    },
                    now,
                )
                .ok()
                .and_then(|(_, p)| p)
                .unwrap_or(0);
        }
        let rx = {
            let mut st = self.state.write();
            let log = vec![(entry_bytes(now, actor, kind, &data), None)];
            let commit = Commit {
                acks,
                ..Default::default()
            };
            self.submit(&mut st, commit, log, events, now, Vec::new())
        };
        self.finish(rx).await.unwrap_or(0)
    }

    /// Numbers the events, appends entries (the changes', then one per
    /// event) to the tree and queues the commit. Called under the lock.
    fn submit(
        &self,
        st: &mut State,
        commit: Commit,
        log: Vec<LogRow>,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
        intents: Vec<Arc<IntentNews>>,
    ) -> oneshot::Receiver<(store::Result<()>, Pending)> {
        let (commit, pending) = self.build(st, commit, log, events, now, intents);
        let (tx, rx) = oneshot::channel();
        self.store.submit(
            commit,
            Box::new(move |r| {
                let _ = tx.send((r, pending));
            }),
        );
        rx
    }

    /// The commit of a write and what to publish once it is durable.
    fn build(
        &self,
        st: &mut State,
        mut commit: Commit,
        mut log: Vec<LogRow>,
        events: Vec<NewEvent>,
        now: DateTime<Utc>,
        intents: Vec<Arc<IntentNews>>,
    ) -> (Commit, Pending) {
        let first_index = (!log.is_empty()).then(|| st.tree.size());
        for e in events {
            let seq = st.next_event_seq;
            st.next_event_seq += 1;
            let body = hotline::event_body(seq, &e, now, first_index);
            log.push((
                entry_bytes(
                    now,
                    e.sender.as_deref().unwrap_or("deconflict"),
                    "event",
                    serde_json::json!({ "seq": seq, "party": e.party, "event": &body }),
                ),
                None,
            ));
            commit.events.push(StoredEvent {
                seq,
                party: e.party,
                kind: e.kind.to_string(),
                critical: e.critical,
                sender: e.sender,
                created_at: now,
                body: body.to_string(),
            });
        }
        for (bytes, private) in log {
            let idx = st.tree.append(&bytes);
            if let Some(p) = private {
                commit.log_private.push((idx, p));
            }
            commit.log.push((idx, bytes));
        }
        let pending = Pending {
            seq: self.applied.fetch_add(1, Ordering::AcqRel) + 1,
            log_end: st.tree.size(),
            first_index,
            events: commit.events.iter().cloned().map(Arc::new).collect(),
            intents,
        };
        (commit, pending)
    }

    /// Waits for durability, then publishes: watermarks, events, the
    /// record index of the request. Returns that index.
    async fn finish(&self, rx: oneshot::Receiver<(store::Result<()>, Pending)>) -> Option<u64> {
        let (result, p) = match rx.await {
            Ok(v) => v,
            Err(_) => fail_stop("the store dropped a commit"),
        };
        if let Err(e) = result {
            fail_stop(&e.to_string());
        }
        self.publish(p)
    }

    /// After durability: watermarks, events, intents, the request's index.
    fn publish(&self, p: Pending) -> Option<u64> {
        let index = p.first_index;
        if let Some(i) = index {
            let _ = LOG_INDEX.try_with(|c| c.set(Some(i)));
        }
        // The tasks that wait for commits wake in any order; listeners must
        // get events in sequence order (a stream skips what is older than
        // what it last sent), so publish commits in the order they were
        // numbered, holding back any that finish early.
        let mut order = self.publish_order.lock();
        order.1.insert(p.seq, p);
        loop {
            let next = order.0 + 1;
            let Some(p) = order.1.remove(&next) else {
                break;
            };
            order.0 = next;
            self.publish_one(p);
        }
        index
    }

    fn publish_one(&self, p: Pending) {
        // Commits become durable in order, so the watermarks only advance.
        self.durable.send_if_modified(|d| {
            let advance = *d < p.seq;
            if advance {
                *d = p.seq;
            }
            advance
        });
        self.durable_log.send_if_modified(|d| {
            let advance = *d < p.log_end;
            if advance {
                *d = p.log_end;
            }
            advance
        });
        for e in p.events {
            let _ = self.events.send(e);
        }
        for i in p.intents {
            let _ = self.intents.send(i);
        }
    }

    /// Runs a read and returns once everything it may have seen is durable.
    pub async fn read<T>(&self, op: impl FnOnce(&Dss) -> T) -> T {
        if self.store.shared() {
            // Read-your-writes across the pool: first take in what the
            // other instances have committed.
            self.sync();
            return op(&self.state.read().dss);
        }
        let (value, seq) = {
            let st = self.state.read();
            (op(&st.dss), self.applied.load(Ordering::Acquire))
        };
        self.settle(seq).await;
        value
    }

    /// Reads the record's tree (proofs, roots). Only sizes up to
    /// [`Core::durable_log`] should be served.
    pub fn tree<T>(&self, op: impl FnOnce(&ledger::Tree) -> T) -> T {
        op(&self.state.read().tree)
    }

    /// Pools: brings this instance up to date with what the others have
    /// committed (and tells this instance's listeners). Blocking.
    pub fn sync(&self) {
        let after = self.state.read().tree.size();
        let tail = tokio::task::block_in_place(|| self.store.tail(after));
        let tail = match tail {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read what other instances wrote");
                return;
            }
        };
        if tail.is_empty() {
            return;
        }
        let published = {
            let mut st = self.state.write();
            // Another task may have taken some of these in meanwhile.
            let have = (st.tree.size() - after) as usize;
            if have >= tail.len() {
                return;
            }
            match apply_entries(&mut st, tail.into_iter().skip(have).collect()) {
                Ok(p) => (p, st.tree.size()),
                Err(e) => fail_stop(&format!("cannot apply another instance's entry: {e}")),
            }
        };
        self.publish_caught_up(published);
    }

    fn publish_caught_up(&self, ((events, intents), size): (CaughtUp, u64)) {
        self.durable_log.send_if_modified(|d| {
            let advance = *d < size;
            if advance {
                *d = size;
            }
            advance
        });
        for e in events {
            let _ = self.events.send(e);
        }
        for i in intents {
            let _ = self.intents.send(i);
        }
    }

    /// Pools: runs `op` inside the pool-wide exclusive transaction, after
    /// catching up; `op` returns the write's value and commit parts, or a
    /// rules error (then nothing is written). Blocking.
    #[allow(clippy::type_complexity)]
    fn exclusive<T>(
        &self,
        mut op: impl FnMut(
            &mut State,
        ) -> Result<
            Result<(T, Commit, Vec<LogRow>, Vec<NewEvent>, Vec<Arc<IntentNews>>), DssError>,
            store::StoreError,
        >,
        now: DateTime<Utc>,
    ) -> Result<(T, Option<u64>), DssError> {
        let mut st = self.state.write();
        let after = st.tree.size();
        let mut outcome: Option<Result<(T, Pending), DssError>> = None;
        let mut caught: Option<CaughtUp> = None;
        let mut touched = false;
        let result = tokio::task::block_in_place(|| {
            self.store.write_exclusive(after, &mut |tail, last_seq| {
                touched = true;
                caught = Some(apply_entries(&mut st, tail)?);
                st.next_event_seq = st.next_event_seq.max(last_seq + 1);
                match op(&mut st)? {
                    Err(e) => {
                        outcome = Some(Err(e));
                        Ok(Commit::default())
                    }
                    Ok((value, commit, log, events, intents)) => {
                        let (commit, pending) =
                            self.build(&mut st, commit, log, events, now, intents);
                        outcome = Some(Ok((value, pending)));
                        Ok(commit)
                    }
                }
            })
        });
        if let Err(e) = result {
            if touched {
                // Memory may hold what the database refused.
                fail_stop(&e.to_string());
            }
            return Err(DssError::Conflict(format!(
                "the database is unavailable, nothing was written: {e}"
            )));
        }
        let size = st.tree.size();
        drop(st);
        if let Some(c) = caught {
            self.publish_caught_up((c, size));
        }
        match outcome.expect("the transaction ran the operation") {
            Err(e) => Err(e),
            Ok((value, pending)) => {
                let index = self.publish(pending);
                Ok((value, index))
            }
        }
    }

    /// [`Core::write`] in a pool.
    fn write_pooled<T: Facts>(
        &self,
        actor: &str,
        op: impl FnOnce(&mut Dss) -> Result<Outcome<T>, DssError>,
    ) -> Result<T, ApiError> {
        let now = Utc::now();
        let mut op = Some(op);
        let (value, _) = self.exclusive(
            |st| {
                let op = op.take().expect("called once");
                let outcome = match op(&mut st.dss) {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e)),
                };
                Ok(Ok(self.derive(&st.dss, actor, outcome, now)))
            },
            now,
        )?;
        Ok(value)
    }

    async fn settle(&self, seq: u64) {
        if *self.durable.borrow() >= seq {
            return;
        }
        let mut rx = self.durable.subscribe();
        // wait_for only fails if the sender is gone, which is `self`.
        let _ = rx.wait_for(|d| *d >= seq).await;
    }
}

fn intent_news<T: Facts>(value: &T, changes: &[dss::Change]) -> Vec<Arc<IntentNews>> {
    value
        .facts()
        .iter()
        .filter_map(|f| match f {
            hotline::Fact::Intent { intent, .. } => Some(Arc::new(IntentNews {
                intent: (*intent).clone(),
                deleted: changes.iter().any(
                    |c| matches!(c, dss::Change::DeleteOperationalIntent(id) if *id == intent.id),
                ),
            })),
            _ => None,
        })
        .collect()
}

/// Events and intents taken in from other instances, to publish.
type CaughtUp = (Vec<Arc<StoredEvent>>, Vec<Arc<IntentNews>>);

/// Takes record entries written by other instances into the state: the
/// tree grows by each, `change` entries are applied to the rules' state,
/// `event` entries advance the event counter and are returned to publish.
fn apply_entries(st: &mut State, entries: Vec<LogRow>) -> Result<CaughtUp, store::StoreError> {
    let mut events = Vec::new();
    let mut intents = Vec::new();
    for (bytes, private) in entries {
        let index = st.tree.append(&bytes);
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| store::StoreError::Corrupt(format!("record entry: {e}")))?;
        match v["kind"].as_str() {
            Some("change") => {
                // The entry shows OVNs hashed; the change itself is beside it.
                let private = private.ok_or_else(|| {
                    store::StoreError::Corrupt(format!(
                        "record entry {index}: change without its private part"
                    ))
                })?;
                let change: dss::Change = serde_json::from_slice(&private)
                    .map_err(|e| store::StoreError::Corrupt(format!("record change: {e}")))?;
                match &change {
                    dss::Change::PutOperationalIntent(o) => intents.push(Arc::new(IntentNews {
                        intent: o.clone(),
                        deleted: false,
                    })),
                    dss::Change::DeleteOperationalIntent(id) => {
                        if let Some(o) = st.dss.intent(*id) {
                            intents.push(Arc::new(IntentNews {
                                intent: o.clone(),
                                deleted: true,
                            }));
                        }
                    }
                    _ => {}
                }
                st.dss.apply(&change);
            }
            Some("event") => {
                let d = &v["data"];
                let body = &d["event"];
                let seq = d["seq"].as_u64().unwrap_or(0);
                st.next_event_seq = st.next_event_seq.max(seq + 1);
                events.push(Arc::new(StoredEvent {
                    seq,
                    party: d["party"].as_str().unwrap_or_default().to_string(),
                    kind: body["kind"].as_str().unwrap_or_default().to_string(),
                    critical: body["critical"].as_bool().unwrap_or(false),
                    sender: body["sender"].as_str().map(str::to_string),
                    created_at: serde_json::from_value(body["time"].clone())
                        .unwrap_or_else(|_| Utc::now()),
                    body: body.to_string(),
                }));
            }
            _ => {}
        }
    }
    Ok((events, intents))
}

/// The memory holds changes the disk refused: serving on would show clients a
/// state that a restart would lose. Stop; the restart reloads the truth.
fn fail_stop(why: &str) -> ! {
    tracing::error!(error = why, "the store failed to make a change durable; stopping so that nothing unrecorded is ever acknowledged");
    std::process::exit(70);
}
