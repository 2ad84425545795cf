//! The server store: PostgreSQL, for several instances sharing one database
//! or a database kept apart from the service.
//!
//! Same tables and the same semantics as [`crate::SqliteStore`]; the
//! differences are only in how the work reaches the database:
//!
//! - **Writes**: one writer thread with its own connection takes every commit
//!   queued while the previous transaction ran (up to `MAX_GROUP`, 512) and writes
//!   them in one `SERIALIZABLE` transaction. The batch is coalesced first, so a
//!   transaction costs a fixed number of statements (one multi-row statement
//!   per table, rows passed as arrays through `UNNEST`) whatever the number of
//!   commits in it: entity puts and deletes keep the last change per key (the
//!   same end state as applying them in order), acknowledgements the first,
//!   declarations the last; rows are sorted by key, so two instances lock rows
//!   in the same order. Serialization failures (SQLSTATE 40001) and deadlocks
//!   (40P01) are retried with jittered exponential backoff (`MAX_ATTEMPTS`, 5
//!   attempts, from `BACKOFF_BASE`, 10 ms, doubling); so is a connection found broken
//!   before `COMMIT` was sent (nothing can have been written; the writer
//!   reconnects). A connection lost *during* `COMMIT` leaves the outcome
//!   unknown and is never retried. The session sets `synchronous_commit = on`,
//!   so an acknowledgement means the WAL is flushed whatever the server default.
//! - **Failures**: if a batch of several commits fails on an integrity or data
//!   error (SQLSTATE classes 23 and 22, e.g. a record index written twice,
//!   which belongs to one commit), its commits are written again one by one,
//!   in order: those before the bad one are committed and acknowledged, the
//!   bad one gets its error, and those after it are refused. On any other
//!   failure every commit of the batch gets the error. After a failure the
//!   writer refuses every later commit: the service fail-stops anyway, and
//!   refusing keeps what is durable a prefix of what was submitted (a later
//!   commit may depend on the failed one; the record must have no gap).
//!   SQLite keeps writing later batches; that is the one deliberate difference.
//! - **Reads** use a small pool of connections (see `Pool`); a read that
//!   finds its pooled connection broken (server restart, idle timeout) drops
//!   the idle ones and runs once more on a fresh connection.
//! - **Migrations** are versioned in `schema_version` (one row per applied
//!   version), each applied in its own transaction holding
//!   `pg_advisory_xact_lock`, so instances starting together apply each exactly
//!   once. A schema newer than this program is refused.
//! - **Types**: ids and JSON bodies `TEXT` (bodies are kept byte for byte, not
//!   `JSONB`, which would reorder keys); times `TIMESTAMPTZ` (microseconds, like
//!   the SQLite text form, and ordered as times); sequence numbers, record
//!   indices and versions `BIGINT`; flags `BOOLEAN`; the record and `meta`
//!   values `BYTEA`. `meta.event_seq` is the same 8-byte big-endian counter.
//! - **Async callers**: the sync client cannot block inside a Tokio runtime,
//!   so a call made from one (e.g. an `async fn` opening the store at start)
//!   runs on a scoped thread of its own; `spawn_blocking` works as usual.
//! - **TLS** is not supported yet (`NoTls`): use a local socket, a loopback
//!   address or a TLS-terminating sidecar.
//!
//! # CockroachDB and YugabyteDB
//!
//! The SQL is kept to what both run: no PL/pgSQL, no LISTEN/NOTIFY; beyond
//! plain SQL it uses multi-argument `UNNEST`, `ON CONFLICT`, `GREATEST` and
//! `= ANY($1)`, which both support. What differs there:
//!
//! - `pg_advisory_xact_lock`: CockroachDB long had it only as a stub that
//!   locks nothing (a real transaction-level one landed in 2026); YugabyteDB
//!   supports advisory locks only in recent releases (behind
//!   `ysql_yb_enable_advisory_locks`). Without a real lock, instances starting
//!   together may race on a migration: one fails on the duplicate
//!   `schema_version` row (or `CREATE TABLE`) and must be restarted; start one
//!   instance first when upgrading. A portable alternative is a lock row
//!   (`SELECT … FOR UPDATE` on a pre-created table).
//! - Transactional DDL: CockroachDB refuses a schema change after a write in
//!   the same transaction (so each migration writes its `schema_version` row
//!   after its DDL, and migrations are one per transaction); older YugabyteDB
//!   releases commit DDL outside the transaction, so a migration failing half
//!   way may leave tables behind that its retry must tolerate.
//! - CockroachDB runs every transaction `SERIALIZABLE` and returns 40001 far
//!   more often (clock uncertainty, contention); the retry loop covers it, but
//!   `MAX_ATTEMPTS` may need raising. It can also answer `COMMIT` with 40003
//!   (result unknown), treated here as ambiguous and never retried.
//! - Key layout: CockroachDB puts the monotonically increasing keys (`log.idx`,
//!   `events.seq`) in one range (a write hot spot: consider hash-sharded
//!   primary keys); YugabyteDB hash-shards the first primary-key column by
//!   default, so `ORDER BY idx`/`seq` scans sort everything: declare
//!   `PRIMARY KEY (idx ASC)` there (not valid PostgreSQL syntax).
//! - `idle_in_transaction_session_timeout` (the fence for a frozen instance,
//!   see `IDLE_IN_TRANSACTION_TIMEOUT`) is a session variable of CockroachDB
//!   and YugabyteDB too.
//! - `SET synchronous_commit = on` is accepted by CockroachDB (a no-op since
//!   20.2) and by YugabyteDB; both replicate a commit synchronously (Raft)
//!   before answering anyway.
//! - The tests use `DROP DATABASE … WITH (FORCE)`, `pg_terminate_backend` and
//!   `pg_stat_activity`, which are PostgreSQL's.

use crate::{Ack, Commit, Declaration, EventAck, LogRow, Result, Store, StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use dss::Change;
use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls, Row, Statement, Transaction};
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

type PgError = postgres::Error;

/// Versioned schema: entry N brings the schema from version N to N+1.
/// Never edit a released entry; append a new one. Same tables as SQLite's.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the strategic entities. Bodies are the domain types as JSON.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
     CREATE TABLE operational_intents (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE constraints (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE subscriptions (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE uss_availability (uss TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE reports (id TEXT PRIMARY KEY, reporter TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL);",
    // 1 -> 2: the record (append-only), the hotline's events and their
    // acknowledgements, and declarations for the notice report.
    "CREATE TABLE log (idx BIGINT PRIMARY KEY, entry BYTEA NOT NULL);
     CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
     CREATE TABLE events (seq BIGINT PRIMARY KEY, party TEXT NOT NULL, kind TEXT NOT NULL,
                          critical BOOLEAN NOT NULL, sender TEXT, created_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL);
     CREATE INDEX events_by_party ON events (party, seq);
     CREATE INDEX events_by_sender ON events (sender, created_at);
     CREATE TABLE event_acks (seq BIGINT PRIMARY KEY, party TEXT NOT NULL, at TIMESTAMPTZ NOT NULL);
     CREATE TABLE declarations (intent TEXT NOT NULL, version BIGINT NOT NULL, party TEXT NOT NULL,
                                declared_at TIMESTAMPTZ NOT NULL, starts_at TIMESTAMPTZ NOT NULL, late BOOLEAN NOT NULL,
                                PRIMARY KEY (intent, version));
     CREATE INDEX declarations_by_time ON declarations (declared_at);",
    // 2 -> 3: the pool's write lock, a row every writer locks: unlike an
    // advisory lock it works the same on CockroachDB and YugabyteDB.
    "CREATE TABLE write_lock (id INT PRIMARY KEY);
     INSERT INTO write_lock (id) VALUES (1);",
    // 3 -> 4: the private part of record entries (see `Commit::log_private`).
    "ALTER TABLE log ADD COLUMN private BYTEA;",
    // 4 -> 5: the F3411 Remote ID entities.
    "CREATE TABLE rid_isas (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE rid_subscriptions (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);",
];

/// Key of the advisory lock that serializes migrations ("deconfli").
const MIGRATION_LOCK: i64 = 0x6465_636f_6e66_6c69;

/// Most commits a single transaction takes; bounds the latency of the first.
const MAX_GROUP: usize = 512;
/// Attempts at one transaction before its commits are failed.
const MAX_ATTEMPTS: u32 = 5;
/// First retry delay; doubles at each attempt, with jitter (so ≤ 150 ms total).
const BACKOFF_BASE: Duration = Duration::from_millis(10);
/// Most read connections open at once (PostgreSQL allows 100 by default).
const MAX_READERS: usize = 16;
/// How long a read waits for a connection when all are busy.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// `attempt` counts from 0; equal jitter: between half and all of the step.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE * 2u32.pow(attempt.min(16));
    let half = step / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=half)
}

fn is_retryable(e: &PgError) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
        || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// An error caused by the data of one commit rather than by the database:
/// integrity constraint violations (class 23) and data exceptions (class 22,
/// e.g. a NUL character in a text).
fn is_attributable(e: &PgError) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("23") || c.code().starts_with("22"))
}

/// The connection is gone (server restart, network, idle timeout, the
/// session terminated by an administrator).
fn is_broken(e: &PgError) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        }
        None => is_io(e),
    }
}

fn is_io(e: &PgError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The error with its causes, the server's message and its SQLSTATE
/// (`postgres::Error` alone prints only "db error").
pub(crate) fn describe(e: &PgError) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(code) = e.code() {
        out.push_str(&format!(" (SQLSTATE {})", code.code()));
    }
    out
}

/// Runs `f` where the sync client may block: here, unless this thread drives
/// a Tokio runtime, in which case on a scoped thread of its own.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a session of this service may sit idle inside a transaction
/// before the database ends it (and the transaction with it).
///
/// This fences a frozen instance: one stopped (SIGSTOP, a VM paused, a
/// stalled host) while it holds the pool's write lock keeps its connection
/// open, so without a limit the others would wait for the lock as long as
/// it stays frozen, and if it ever woke it would commit what it prepared
/// from a stale view. With the limit the database rolls its transaction
/// back and releases the lock; the woken instance's commit fails (an
/// error, never a write behind anyone's back). Our transactions are never
/// idle for more than milliseconds (in-memory work between statements).
/// Override with `options=-c idle_in_transaction_session_timeout=…` in the
/// URL. (A dead host is noticed through the database server's TCP
/// keepalive settings instead.)
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

fn connect(config: &Config) -> std::result::Result<Client, PgError> {
    let mut client = config.connect(NoTls)?;
    // An acknowledgement promises durability, whatever the server's default.
    client.batch_execute("SET synchronous_commit = on")?;
    if !config
        .get_options()
        .is_some_and(|o| o.contains("idle_in_transaction_session_timeout"))
    {
        client.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'"
        ))?;
    }
    Ok(client)
}

fn migrate(client: &mut Client) -> Result<()> {
    loop {
        let mut tx = client.transaction()?;
        // Held until commit: instances starting together take turns, and each
        // sees the version the previous one left.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .try_get(0)?;
        let current = usize::try_from(current)
            .map_err(|_| StoreError::Corrupt(format!("negative schema version {current}")))?;
        if current > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "database schema version {current} is newer than this program knows ({}); upgrade deconflict",
                MIGRATIONS.len()
            )));
        }
        if current == MIGRATIONS.len() {
            tx.commit()?;
            return Ok(());
        }
        // One migration per transaction, its DDL before its write (CockroachDB
        // refuses a schema change after a write in the same transaction).
        tx.batch_execute(MIGRATIONS[current])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(current as i64 + 1)],
        )?;
        tx.commit()?;
        tracing::info!(from = current, to = current + 1, "migrated database schema");
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} exceeds 2^63")))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what} {v}")))
}

/// A read bound (`after`, `end`, `limit`) beyond `i64` means "no bound".
fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------
// The batch: commits coalesced into one row set per table.

/// Final state per key of one entity table: `Some((manager, body))` to put,
/// `None` to delete. Applying only the last change per key gives the same
/// state as applying them all in order (rows are independent: no foreign keys).
#[derive(Default)]
struct Entities(BTreeMap<String, Option<(String, String)>>);

impl Entities {
    fn put(&mut self, id: String, manager: &str, body: String) {
        self.0.insert(id, Some((manager.to_owned(), body)));
    }

    fn delete(&mut self, id: String) {
        self.0.insert(id, None);
    }

    fn write(
        &self,
        tx: &mut Transaction<'_>,
        put: &Statement,
        delete: &Statement,
    ) -> std::result::Result<(), PgError> {
        let (mut ids, mut managers, mut bodies, mut gone) = (vec![], vec![], vec![], vec![]);
        for (id, state) in &self.0 {
            match state {
                Some((manager, body)) => {
                    ids.push(id);
                    managers.push(manager);
                    bodies.push(body);
                }
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            tx.execute(delete, &[&gone])?;
        }
        if !ids.is_empty() {
            tx.execute(put, &[&ids, &managers, &bodies])?;
        }
        Ok(())
    }
}

/// Record rows as columns: index, entry, private part.
type LogColumns = (Vec<i64>, Vec<Vec<u8>>, Vec<Option<Vec<u8>>>);

/// Everything a batch writes, as columns ready to bind as arrays.
#[derive(Default)]
struct Rows {
    intents: Entities,
    constraints: Entities,
    subscriptions: Entities,
    rid_isas: Entities,
    rid_subscriptions: Entities,
    availability: BTreeMap<String, String>,
    reports: (Vec<String>, Vec<String>, Vec<DateTime<Utc>>, Vec<String>),
    log: LogColumns,
    /// With their sequence numbers checked to fit a `BIGINT`.
    events: Vec<(i64, StoredEvent)>,
    /// The first acknowledgement of an event counts.
    acks: BTreeMap<i64, (String, DateTime<Utc>)>,
    /// The last declaration of an (intent, version) counts.
    declarations: BTreeMap<(String, i64), Declaration>,
}

impl Rows {
    fn of<'a>(commits: impl IntoIterator<Item = &'a Commit>) -> Result<Rows> {
        let mut rows = Rows::default();
        for c in commits {
            rows.add(c)?;
        }
        Ok(rows)
    }

    fn add(&mut self, commit: &Commit) -> Result<()> {
        for change in &commit.changes {
            match change {
                Change::PutOperationalIntent(o) => {
                    self.intents.put(o.id.to_string(), &o.manager, to_json(o)?)
                }
                Change::DeleteOperationalIntent(id) => self.intents.delete(id.to_string()),
                Change::PutConstraint(c) => {
                    self.constraints
                        .put(c.id.to_string(), &c.manager, to_json(c)?)
                }
                Change::DeleteConstraint(id) => self.constraints.delete(id.to_string()),
                Change::PutSubscription(s) => {
                    self.subscriptions
                        .put(s.id.to_string(), &s.manager, to_json(s)?)
                }
                Change::DeleteSubscription(id) => self.subscriptions.delete(id.to_string()),
                Change::PutIsa(i) => self.rid_isas.put(i.id.to_string(), &i.manager, to_json(i)?),
                Change::DeleteIsa(id) => self.rid_isas.delete(id.to_string()),
                Change::PutRidSubscription(s) => {
                    self.rid_subscriptions
                        .put(s.id.to_string(), &s.manager, to_json(s)?)
                }
                Change::DeleteRidSubscription(id) => self.rid_subscriptions.delete(id.to_string()),
                Change::PutAvailability(a) => {
                    self.availability.insert(a.uss.to_string(), to_json(a)?);
                }
                Change::PutReport(r) => {
                    self.reports.0.push(r.id.to_string());
                    self.reports.1.push(r.reporter.to_string());
                    self.reports.2.push(r.received_at);
                    self.reports.3.push(r.body.clone());
                }
            }
        }
        for (idx, entry) in &commit.log {
            // Plain INSERT: an index written twice is a bug, and must fail loudly.
            self.log.0.push(to_i64(*idx, "record index")?);
            self.log.1.push(entry.clone());
            self.log.2.push(
                commit
                    .log_private
                    .iter()
                    .find(|(i, _)| i == idx)
                    .map(|(_, p)| p.clone()),
            );
        }
        for e in &commit.events {
            self.events
                .push((to_i64(e.seq, "event sequence number")?, e.clone()));
        }
        for a in &commit.acks {
            self.acks
                .entry(to_i64(a.seq, "event sequence number")?)
                .or_insert_with(|| (a.party.clone(), a.at));
        }
        for d in &commit.declarations {
            self.declarations
                .insert((d.intent.clone(), i64::from(d.version)), d.clone());
        }
        Ok(())
    }

    fn write(&self, tx: &mut Transaction<'_>, st: &Statements) -> std::result::Result<(), PgError> {
        self.subscriptions
            .write(tx, &st.put_subscriptions, &st.delete_subscriptions)?;
        self.constraints
            .write(tx, &st.put_constraints, &st.delete_constraints)?;
        self.intents
            .write(tx, &st.put_intents, &st.delete_intents)?;
        self.rid_isas
            .write(tx, &st.put_rid_isas, &st.delete_rid_isas)?;
        self.rid_subscriptions.write(
            tx,
            &st.put_rid_subscriptions,
            &st.delete_rid_subscriptions,
        )?;
        if !self.availability.is_empty() {
            let uss: Vec<&String> = self.availability.keys().collect();
            let bodies: Vec<&String> = self.availability.values().collect();
            tx.execute(&st.put_availability, &[&uss, &bodies])?;
        }
        if !self.reports.0.is_empty() {
            let (ids, reporters, times, bodies) = &self.reports;
            tx.execute(&st.insert_reports, &[ids, reporters, times, bodies])?;
        }
        if !self.log.0.is_empty() {
            tx.execute(&st.insert_log, &[&self.log.0, &self.log.1, &self.log.2])?;
        }
        if !self.events.is_empty() {
            let e = &self.events;
            let seqs: Vec<i64> = e.iter().map(|e| e.0).collect();
            let parties: Vec<&str> = e.iter().map(|e| e.1.party.as_str()).collect();
            let kinds: Vec<&str> = e.iter().map(|e| e.1.kind.as_str()).collect();
            let critical: Vec<bool> = e.iter().map(|e| e.1.critical).collect();
            let senders: Vec<Option<&str>> = e.iter().map(|e| e.1.sender.as_deref()).collect();
            let times: Vec<DateTime<Utc>> = e.iter().map(|e| e.1.created_at).collect();
            let bodies: Vec<&str> = e.iter().map(|e| e.1.body.as_str()).collect();
            tx.execute(
                &st.insert_events,
                &[
                    &seqs, &parties, &kinds, &critical, &senders, &times, &bodies,
                ],
            )?;
        }
        if !self.acks.is_empty() {
            let seqs: Vec<i64> = self.acks.keys().copied().collect();
            let parties: Vec<&str> = self.acks.values().map(|a| a.0.as_str()).collect();
            let times: Vec<DateTime<Utc>> = self.acks.values().map(|a| a.1).collect();
            tx.execute(&st.insert_acks, &[&seqs, &parties, &times])?;
        }
        if !self.declarations.is_empty() {
            let d = &self.declarations;
            let intents: Vec<&str> = d.keys().map(|k| k.0.as_str()).collect();
            let versions: Vec<i64> = d.keys().map(|k| k.1).collect();
            let parties: Vec<&str> = d.values().map(|v| v.party.as_str()).collect();
            let declared: Vec<DateTime<Utc>> = d.values().map(|v| v.declared_at).collect();
            let starts: Vec<DateTime<Utc>> = d.values().map(|v| v.starts_at).collect();
            let late: Vec<bool> = d.values().map(|v| v.late).collect();
            tx.execute(
                &st.put_declarations,
                &[&intents, &versions, &parties, &declared, &starts, &late],
            )?;
        }
        Ok(())
    }
}

/// The writer's statements, prepared once per connection.
struct Statements {
    put_intents: Statement,
    delete_intents: Statement,
    put_constraints: Statement,
    delete_constraints: Statement,
    put_subscriptions: Statement,
    delete_subscriptions: Statement,
    put_rid_isas: Statement,
    delete_rid_isas: Statement,
    put_rid_subscriptions: Statement,
    delete_rid_subscriptions: Statement,
    put_availability: Statement,
    insert_reports: Statement,
    insert_log: Statement,
    insert_events: Statement,
    insert_acks: Statement,
    put_declarations: Statement,
}

fn put_entity_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, manager, body)
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[])
         ON CONFLICT (id) DO UPDATE SET manager = EXCLUDED.manager, body = EXCLUDED.body"
    )
}

fn delete_entity_sql(table: &str) -> String {
    format!("DELETE FROM {table} WHERE id = ANY($1::TEXT[])")
}

impl Statements {
    fn prepare(c: &mut Client) -> std::result::Result<Statements, PgError> {
        Ok(Statements {
            put_intents: c.prepare(&put_entity_sql("operational_intents"))?,
            delete_intents: c.prepare(&delete_entity_sql("operational_intents"))?,
            put_constraints: c.prepare(&put_entity_sql("constraints"))?,
            delete_constraints: c.prepare(&delete_entity_sql("constraints"))?,
            put_subscriptions: c.prepare(&put_entity_sql("subscriptions"))?,
            delete_subscriptions: c.prepare(&delete_entity_sql("subscriptions"))?,
            put_rid_isas: c.prepare(&put_entity_sql("rid_isas"))?,
            delete_rid_isas: c.prepare(&delete_entity_sql("rid_isas"))?,
            put_rid_subscriptions: c.prepare(&put_entity_sql("rid_subscriptions"))?,
            delete_rid_subscriptions: c.prepare(&delete_entity_sql("rid_subscriptions"))?,
            put_availability: c.prepare(
                "INSERT INTO uss_availability (uss, body)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[])
                 ON CONFLICT (uss) DO UPDATE SET body = EXCLUDED.body",
            )?,
            insert_reports: c.prepare(
                "INSERT INTO reports (id, reporter, received_at, body)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TIMESTAMPTZ[], $4::TEXT[])",
            )?,
            insert_log: c.prepare(
                "INSERT INTO log (idx, entry, private) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[])",
            )?,
            insert_events: c.prepare(
                "INSERT INTO events (seq, party, kind, critical, sender, created_at, body)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BOOLEAN[],
                                      $5::TEXT[], $6::TIMESTAMPTZ[], $7::TEXT[])",
            )?,
            insert_acks: c.prepare(
                "INSERT INTO event_acks (seq, party, at)
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TIMESTAMPTZ[])
                 ON CONFLICT (seq) DO NOTHING",
            )?,
            put_declarations: c.prepare(
                "INSERT INTO declarations (intent, version, party, declared_at, starts_at, late)
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TIMESTAMPTZ[],
                                      $5::TIMESTAMPTZ[], $6::BOOLEAN[])
                 ON CONFLICT (intent, version) DO UPDATE SET party = EXCLUDED.party,
                     declared_at = EXCLUDED.declared_at, starts_at = EXCLUDED.starts_at,
                     late = EXCLUDED.late",
            )?,
        })
    }
}

// ---------------------------------------------------------------------------
// The writer.

pub(crate) struct Job {
    pub(crate) commit: Commit,
    pub(crate) ack: Ack,
}

/// Why a transaction did not commit.
enum WriteError {
    /// The data of a commit cannot be encoded.
    Encode(StoreError),
    /// The database refused the transaction; nothing of it was written.
    Refused(PgError),
    /// Still failing after `MAX_ATTEMPTS` attempts; nothing was written.
    Exhausted(PgError),
    /// No clear answer to `COMMIT` (connection lost, session ended, 40003):
    /// the transaction may or may not have committed.
    Ambiguous(PgError),
}

impl WriteError {
    fn attributable(&self) -> bool {
        match self {
            WriteError::Encode(_) => true,
            WriteError::Refused(e) => is_attributable(e),
            WriteError::Exhausted(_) | WriteError::Ambiguous(_) => false,
        }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Encode(e) => write!(f, "{e}"),
            WriteError::Refused(e) => write!(f, "{}", describe(e)),
            WriteError::Exhausted(e) => {
                write!(f, "gave up after {MAX_ATTEMPTS} attempts: {}", describe(e))
            }
            WriteError::Ambiguous(e) => write!(f, "outcome of COMMIT unknown: {}", describe(e)),
        }
    }
}

/// What went wrong in one attempt.
enum Attempt {
    Connect(PgError),
    BeforeCommit(PgError),
    Commit(PgError),
}

struct WriterConn {
    client: Client,
    statements: Statements,
}

pub(crate) struct Writer {
    config: Config,
    conn: Option<WriterConn>,
    /// Set by the first failure; every later commit is refused with it.
    failed: Option<String>,
    retries: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn new(config: Config, retries: Arc<AtomicU64>) -> Writer {
        Writer {
            config,
            conn: None,
            failed: None,
            retries,
        }
    }

    /// Writes a batch and acknowledges each of its commits.
    pub(crate) fn process(&mut self, jobs: Vec<Job>) {
        if let Some(why) = &self.failed {
            let msg = format!("refused: an earlier commit failed ({why})");
            for j in jobs {
                (j.ack)(Err(StoreError::Failed(msg.clone())));
            }
            return;
        }
        let result = Rows::of(jobs.iter().map(|j| &j.commit))
            .map_err(WriteError::Encode)
            .and_then(|rows| self.commit(&rows));
        match result {
            Ok(()) => {
                for j in jobs {
                    (j.ack)(Ok(()));
                }
            }
            Err(e) if jobs.len() > 1 && e.attributable() => {
                tracing::warn!(error = %e, batch = jobs.len(), "group commit failed; writing its commits one by one");
                self.one_by_one(jobs);
            }
            Err(e) => self.fail(e, jobs, false),
        }
    }

    fn one_by_one(&mut self, jobs: Vec<Job>) {
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            let result = Rows::of([&job.commit])
                .map_err(WriteError::Encode)
                .and_then(|rows| self.commit(&rows));
            match result {
                Ok(()) => (job.ack)(Ok(())),
                Err(e) => {
                    let mut rest = vec![job];
                    rest.extend(jobs);
                    self.fail(e, rest, true);
                    return;
                }
            }
        }
    }

    /// Fails every job with `e` (`blame_first`: `jobs[0]` with `e`, the others
    /// as not written after it); the writer refuses everything from now on.
    fn fail(&mut self, e: WriteError, jobs: Vec<Job>, blame_first: bool) {
        // The service applied these changes in memory already; it cannot serve
        // from a state the database does not hold, so every writer in the
        // group is told, and the service stops.
        let msg = e.to_string();
        tracing::error!(error = %msg, batch = jobs.len(), "commit to PostgreSQL failed");
        let after = format!("not written: an earlier commit of its batch failed ({msg})");
        for (i, j) in jobs.into_iter().enumerate() {
            let m = if blame_first && i > 0 { &after } else { &msg };
            (j.ack)(Err(StoreError::Failed(m.clone())));
        }
        self.failed = Some(msg);
    }

    /// One transaction for `rows`, retried on serialization failures,
    /// deadlocks and connections found broken before `COMMIT`.
    fn commit(&mut self, rows: &Rows) -> std::result::Result<(), WriteError> {
        let mut attempt = 0;
        loop {
            let e = match self.attempt(rows) {
                Ok(()) => return Ok(()),
                Err(Attempt::Connect(e)) => e,
                Err(Attempt::BeforeCommit(e)) if is_retryable(&e) || is_broken(&e) => e,
                Err(Attempt::BeforeCommit(e)) => return Err(WriteError::Refused(e)),
                // No answer, the session ended while committing, or the
                // server says it does not know (CockroachDB's 40003): the
                // transaction may have committed; retrying could write it twice.
                Err(Attempt::Commit(e))
                    if e.as_db_error().is_none()
                        || is_broken(&e)
                        || e.code() == Some(&SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN) =>
                {
                    self.conn = None;
                    return Err(WriteError::Ambiguous(e));
                }
                Err(Attempt::Commit(e)) if is_retryable(&e) => e,
                Err(Attempt::Commit(e)) => return Err(WriteError::Refused(e)),
            };
            if is_broken(&e) || self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                self.conn = None;
            }
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(WriteError::Exhausted(e));
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let wait = backoff(attempt - 1);
            tracing::debug!(error = %describe(&e), attempt, ?wait, "retrying transaction");
            thread::sleep(wait);
        }
    }

    fn attempt(&mut self, rows: &Rows) -> std::result::Result<(), Attempt> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = None;
            let mut client = connect(&self.config).map_err(Attempt::Connect)?;
            let statements = Statements::prepare(&mut client).map_err(Attempt::Connect)?;
            self.conn = Some(WriterConn { client, statements });
        }
        let Some(WriterConn { client, statements }) = self.conn.as_mut() else {
            unreachable!("connected above");
        };
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .start()
            .map_err(Attempt::BeforeCommit)?;
        rows.write(&mut tx, statements)
            .map_err(Attempt::BeforeCommit)?;
        tx.commit().map_err(Attempt::Commit)
    }
}

fn writer_loop(mut writer: Writer, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        writer.process(jobs);
    }
}

// ---------------------------------------------------------------------------
// The read pool.

/// A connection with the statements prepared on it so far.
pub(crate) struct Conn {
    pub(crate) client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &'static str) -> std::result::Result<Statement, PgError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, PgError> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }
}

/// A bounded pool of read connections.
///
/// Hand-made rather than `r2d2_postgres`: what is needed is a stack of idle
/// clients and a bound on how many are open, as `SqliteStore` keeps its
/// readers; r2d2 would add a dependency, a thread pool of its own for
/// maintenance, and connection tests on checkout that cost a round trip per
/// read. Here a connection is tested by using it: one found broken is dropped,
/// with the other idle ones (after a server restart they are all broken), and
/// the read runs once more on a fresh one. Each connection keeps its prepared
/// statements, so a frequent read costs one round trip.
struct Pool {
    config: Config,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    /// Connections open, idle or lent.
    open: usize,
}

struct Lent<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    fresh: bool,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("lent connection")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("lent connection")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut state = lock(&self.pool.state);
        if conn.client.is_closed() {
            state.open -= 1;
            drop(state);
            drop(conn);
        } else {
            state.idle.push(conn);
            drop(state);
        }
        self.pool.returned.notify_one();
    }
}

impl Pool {
    fn new(config: Config) -> Pool {
        Pool {
            config,
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
        }
    }

    fn get(&self) -> Result<Lent<'_>> {
        let deadline = Instant::now() + CHECKOUT_TIMEOUT;
        let mut state = lock(&self.state);
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Lent {
                    pool: self,
                    conn: Some(conn),
                    fresh: false,
                });
            }
            if state.open < MAX_READERS {
                state.open += 1;
                drop(state);
                return match connect(&self.config) {
                    Ok(client) => Ok(Lent {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: HashMap::new(),
                        }),
                        fresh: true,
                    }),
                    Err(e) => {
                        lock(&self.state).open -= 1;
                        self.returned.notify_one();
                        Err(e.into())
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Failed(format!(
                    "all {MAX_READERS} PostgreSQL read connections busy for {CHECKOUT_TIMEOUT:?}"
                )));
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Drops every idle connection (they are likely as broken as the one
    /// just found so).
    fn drain_idle(&self) {
        let idle = {
            let mut state = lock(&self.state);
            let idle = std::mem::take(&mut state.idle);
            state.open -= idle.len();
            idle
        };
        drop(idle);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime.
        let idle = std::mem::take(&mut lock(&self.state).idle);
        off_runtime(move || drop(idle));
    }
}

// ---------------------------------------------------------------------------
// The store.

/// The PostgreSQL store. See the module documentation.
pub struct PgStore {
    pool: Pool,
    /// The connection of pool-wide exclusive writes.
    exclusive: Mutex<Option<WriterConn>>,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    retries: Arc<AtomicU64>,
    config: Config,
}

/// Parses a connection URL (`postgres://user[:password]@host[:port]/dbname`,
/// or the key=value form), naming the application and bounding the connect
/// time unless the URL does.
pub(crate) fn parse_config(url: &str) -> Result<Config> {
    let mut config: Config = url.parse()?;
    if config.get_application_name().is_none() {
        config.application_name("deconflict");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

fn event_row(r: &Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: to_u64(r.try_get(0)?, "event sequence number")?,
        party: r.try_get(1)?,
        kind: r.try_get(2)?,
        critical: r.try_get(3)?,
        sender: r.try_get(4)?,
        created_at: r.try_get(5)?,
        body: r.try_get(6)?,
    })
}

fn decode<T: serde::de::DeserializeOwned>(bodies: Vec<String>, what: &str) -> Result<Vec<T>> {
    bodies
        .into_iter()
        .map(|body| {
            serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("{what}: {e}: {body}")))
        })
        .collect()
}

/// A transaction on a read connection, retried like the writer's (for the
/// few writes outside commits: checkpoints, pruning).
fn in_transaction<T>(
    conn: &mut Conn,
    isolation: IsolationLevel,
    mut body: impl FnMut(&mut Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        let result = (|| {
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(isolation)
                .start()?;
            let v = body(&mut tx)?;
            tx.commit()?;
            Ok(v)
        })();
        match result {
            Err(StoreError::Pg(e)) if is_retryable(&e) && attempt + 1 < MAX_ATTEMPTS => {
                thread::sleep(backoff(attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (e.g.
    /// `postgres://postgres@127.0.0.1:5432/deconflict`; it must exist),
    /// brings its schema up to date and starts the writer.
    pub fn open(url: &str) -> Result<PgStore> {
        let config = parse_config(url)?;
        off_runtime(|| {
            let mut client = connect(&config)?;
            migrate(&mut client)?;
            drop(client);
            let retries = Arc::new(AtomicU64::new(0));
            let writer = Writer::new(config.clone(), retries.clone());
            let (tx, rx) = mpsc::channel::<Job>();
            let handle = thread::Builder::new()
                .name("pg-writer".into())
                .spawn(move || writer_loop(writer, rx))?;
            Ok(PgStore {
                exclusive: Mutex::new(None),
                pool: Pool::new(config.clone()),
                config,
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                retries,
            })
        })
    }

    /// Stops accepting commits and waits until every queued one is written.
    pub fn close(&self) {
        drop(lock(&self.tx).take());
        if let Some(w) = lock(&self.writer).take() {
            let _ = w.join();
        }
    }

    /// Transactions the writer retried (serialization failures, deadlocks,
    /// broken connections) since the store was opened.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Runs `f` on a pooled connection, once more on a fresh one if the
    /// pooled one turns out broken.
    fn with_conn<T: Send>(&self, mut f: impl FnMut(&mut Conn) -> Result<T> + Send) -> Result<T> {
        off_runtime(|| {
            let mut conn = self.pool.get()?;
            match f(&mut conn) {
                Err(StoreError::Pg(e)) if !conn.fresh && is_broken(&e) => {
                    tracing::info!(error = %describe(&e), "PostgreSQL connection broken; reconnecting");
                    // Not returned to the pool: it is closed.
                    let closed = conn.conn.take();
                    lock(&self.pool.state).open -= 1;
                    drop(conn);
                    drop(closed);
                    self.pool.drain_idle();
                    let mut conn = self.pool.get()?;
                    f(&mut conn)
                }
                other => other,
            }
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for PgStore {
    fn tail(&self, after: u64) -> Result<Vec<LogRow>> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT entry, private FROM log WHERE idx >= $1 ORDER BY idx",
                &[&clamp(after)],
            )?;
            Ok(rows
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<std::result::Result<_, PgError>>()?)
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn write_exclusive(
        &self,
        after: u64,
        f: &mut dyn FnMut(Vec<LogRow>, u64) -> Result<Commit>,
    ) -> Result<()> {
        // Not `off_runtime`: `f` holds the caller's state and is not Send;
        // the caller runs this outside the runtime (block_in_place).
        {
            let mut guard = lock(&self.exclusive);
            if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
                *guard = None;
                let mut client = connect(&self.config)?;
                let statements = Statements::prepare(&mut client)?;
                *guard = Some(WriterConn { client, statements });
            }
            let Some(WriterConn { client, statements }) = guard.as_mut() else {
                unreachable!("connected above");
            };
            // READ COMMITTED on purpose: once the lock is ours, every later
            // statement sees what the previous holder committed. (Under
            // SERIALIZABLE the snapshot would predate the wait.)
            let result = (|| {
                let mut tx = client
                    .build_transaction()
                    .isolation_level(IsolationLevel::ReadCommitted)
                    .start()?;
                tx.query("SELECT id FROM write_lock WHERE id = 1 FOR UPDATE", &[])?;
                let entries: Vec<LogRow> = tx
                    .query(
                        "SELECT entry, private FROM log WHERE idx >= $1 ORDER BY idx",
                        &[&clamp(after)],
                    )?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<std::result::Result<_, PgError>>()?;
                let r = tx.query_one(
                    "SELECT (SELECT MAX(seq) FROM events), (SELECT value FROM meta WHERE key = 'event_seq')",
                    &[],
                )?;
                let max: Option<i64> = r.try_get(0)?;
                let pruned: Option<Vec<u8>> = r.try_get(1)?;
                let pruned = pruned
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                let last_seq = max
                    .map_or(Ok(0), |v| to_u64(v, "event sequence number"))?
                    .max(pruned);
                let commit = f(entries, last_seq)?;
                Rows::of([&commit])?.write(&mut tx, statements)?;
                tx.commit()?;
                Ok(())
            })();
            if let Err(StoreError::Pg(e)) = &result {
                if is_broken(e) {
                    *guard = None;
                }
            }
            result
        }
    }

    fn close(&self) {
        PgStore::close(self)
    }

    fn scan_state(&self, f: &mut dyn FnMut(Change) -> Result<()>) -> Result<()> {
        // One snapshot for the tables, read whole: a retry on a broken
        // connection must not hand `f` a change twice.
        let tables = self.with_conn(|c| {
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let mut out = Vec::new();
            for sql in [
                "SELECT body FROM uss_availability ORDER BY uss",
                "SELECT body FROM subscriptions ORDER BY id",
                "SELECT body FROM constraints ORDER BY id",
                "SELECT body FROM operational_intents ORDER BY id",
                "SELECT body FROM rid_isas ORDER BY id",
                "SELECT body FROM rid_subscriptions ORDER BY id",
            ] {
                let rows = tx.query(sql, &[])?;
                out.push(
                    rows.iter()
                        .map(|r| r.try_get(0))
                        .collect::<std::result::Result<Vec<String>, _>>()?,
                );
            }
            tx.commit()?;
            Ok(out)
        })?;
        let [availability, subscriptions, constraints, intents, isas, rid_subscriptions]: [Vec<
            String,
        >;
            6] = tables
            .try_into()
            .map_err(|_| StoreError::Corrupt("load: unexpected table count".into()))?;
        for a in decode(availability, "availability")? {
            f(Change::PutAvailability(a))?;
        }
        for s in decode(subscriptions, "subscription")? {
            f(Change::PutSubscription(s))?;
        }
        for c in decode(constraints, "constraint")? {
            f(Change::PutConstraint(c))?;
        }
        for o in decode(intents, "intent")? {
            f(Change::PutOperationalIntent(o))?;
        }
        for i in decode(isas, "identification service area")? {
            f(Change::PutIsa(i))?;
        }
        for s in decode(rid_subscriptions, "RID subscription")? {
            f(Change::PutRidSubscription(s))?;
        }
        Ok(())
    }

    fn secret(&self) -> Result<[u8; 32]> {
        let bytes: Vec<u8> = self.with_conn(|c| {
            let select = "SELECT value FROM meta WHERE key = 'ovn_secret'";
            if let Some(r) = c.query(select, &[])?.first() {
                return Ok(r.try_get(0)?);
            }
            // Insert unless there, then read whatever won: two instances
            // starting at once agree.
            let fresh: [u8; 32] = rand::random();
            c.client.execute(
                "INSERT INTO meta (key, value) VALUES ('ovn_secret', $1) ON CONFLICT (key) DO NOTHING",
                &[&fresh.as_slice()],
            )?;
            let row = c.client.query_one(select, &[])?;
            Ok(row.try_get(0)?)
        })?;
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("ovn_secret is not 32 bytes".into()))
    }

    fn submit(&self, commit: Commit, ack: Ack) {
        let guard = lock(&self.tx);
        match guard.as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(Job { commit, ack }) {
                    (job.ack)(Err(StoreError::Closed));
                }
            }
            None => ack(Err(StoreError::Closed)),
        }
    }

    fn scan_log(&self, f: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        // In pages, each one query: a page is handed on only once it has
        // arrived whole, so the pool's retry on a broken connection never
        // shows `f` an entry twice, and only a page is in memory at a time.
        const PAGE: i64 = 10_000;
        let mut next: i64 = 0;
        loop {
            let rows = self.with_conn(|c| {
                Ok(c.query(
                    "SELECT idx, entry FROM log WHERE idx >= $1 ORDER BY idx LIMIT $2",
                    &[&next, &PAGE],
                )?)
            })?;
            let n = rows.len();
            for r in rows {
                let idx: i64 = r.try_get(0)?;
                if idx != next {
                    return Err(StoreError::Corrupt(format!(
                        "the record has a gap: entry {idx} follows {}",
                        next - 1
                    )));
                }
                let entry: &[u8] = r.try_get(1)?;
                f(idx as u64, entry)?;
                next += 1;
            }
            if (n as i64) < PAGE {
                return Ok(());
            }
        }
    }

    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT entry FROM log WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&clamp(start), &clamp(end)],
            )?;
            Ok(rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?)
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<String>> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?;
            Ok(rows.first().map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn save_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        let size = to_i64(size, "checkpoint size")?;
        self.with_conn(|c| {
            in_transaction(c, IsolationLevel::ReadCommitted, |tx| {
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES ($1, $2)
                     ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note",
                    &[&size, &note],
                )?;
                // Older ones are implied by the newest and the consistency proofs.
                tx.execute(
                    "DELETE FROM checkpoints WHERE size < (SELECT MAX(size) FROM checkpoints)",
                    &[],
                )?;
                Ok(())
            })
        })
    }

    fn last_event_seq(&self) -> Result<u64> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT (SELECT MAX(seq) FROM events), (SELECT value FROM meta WHERE key = 'event_seq')",
                &[],
            )?;
            let r = rows
                .first()
                .ok_or_else(|| StoreError::Corrupt("no row for last_event_seq".into()))?;
            let max: Option<i64> = r.try_get(0)?;
            let pruned: Option<Vec<u8>> = r.try_get(1)?;
            let pruned = pruned
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Ok(max.map_or(Ok(0), |v| to_u64(v, "event sequence number"))?.max(pruned))
        })
    }

    fn events_after(&self, party: &str, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with_conn(|c| {
            c.query(
                "SELECT seq, party, kind, critical, sender, created_at, body FROM events
                 WHERE party = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&party, &clamp(after), &clamp(limit as u64)],
            )?
            .iter()
            .map(event_row)
            .collect()
        })
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        self.with_conn(|c| {
            c.query(
                "SELECT seq, party, kind, critical, sender, created_at, body FROM events WHERE seq = $1",
                &[&seq],
            )?
            .first()
            .map(event_row)
            .transpose()
        })
    }

    fn events_sent_by(
        &self,
        sender: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(StoredEvent, Option<EventAck>)>> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT e.seq, e.party, e.kind, e.critical, e.sender, e.created_at, e.body, a.at
                 FROM events e LEFT JOIN event_acks a ON a.seq = e.seq
                 WHERE e.sender = $1 AND e.created_at >= $2 ORDER BY e.seq DESC LIMIT $3",
                &[&sender, &since, &clamp(limit as u64)],
            )?;
            rows.iter()
                .map(|r| {
                    let e = event_row(r)?;
                    let at: Option<DateTime<Utc>> = r.try_get(7)?;
                    let ack = at.map(|at| EventAck {
                        seq: e.seq,
                        party: e.party.clone(),
                        at,
                    });
                    Ok((e, ack))
                })
                .collect()
        })
    }

    fn unacknowledged_critical(&self) -> Result<Vec<StoredEvent>> {
        self.with_conn(|c| {
            c.query(
                "SELECT seq, party, kind, critical, sender, created_at, body FROM events e
                 WHERE critical AND NOT EXISTS (SELECT 1 FROM event_acks a WHERE a.seq = e.seq)
                 ORDER BY seq",
                &[],
            )?
            .iter()
            .map(event_row)
            .collect()
        })
    }

    fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        self.with_conn(|c| {
            in_transaction(c, IsolationLevel::Serializable, |tx| {
                // Keep the sequence counter: numbers are never reused after a
                // prune. GREATEST: an instance pruning concurrently with an
                // older maximum must not move it back (8-byte big-endian
                // values compare as the numbers do).
                let max: Option<i64> = tx
                    .query_one("SELECT MAX(seq) FROM events", &[])?
                    .try_get(0)?;
                if let Some(max) = max {
                    let bytes = to_u64(max, "event sequence number")?.to_be_bytes();
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('event_seq', $1)
                         ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)",
                        &[&bytes.as_slice()],
                    )?;
                }
                tx.execute(
                    "DELETE FROM event_acks WHERE seq IN (SELECT seq FROM events WHERE created_at < $1)",
                    &[&cutoff],
                )?;
                let n = tx.execute("DELETE FROM events WHERE created_at < $1", &[&cutoff])?;
                Ok(n as usize)
            })
        })
    }

    fn declarations(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Declaration>> {
        self.with_conn(|c| {
            c.query(
                "SELECT intent, version, party, declared_at, starts_at, late FROM declarations
                 WHERE declared_at >= $1 AND declared_at < $2 ORDER BY declared_at",
                &[&from, &to],
            )?
            .iter()
            .map(|r| {
                let version: i64 = r.try_get(1)?;
                Ok(Declaration {
                    intent: r.try_get(0)?,
                    version: u32::try_from(version).map_err(|_| {
                        StoreError::Corrupt(format!("declaration version {version} out of range"))
                    })?,
                    party: r.try_get(2)?,
                    declared_at: r.try_get(3)?,
                    starts_at: r.try_get(4)?,
                    late: r.try_get(5)?,
                })
            })
            .collect()
        })
    }
}
