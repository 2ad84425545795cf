//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
//! a committed transaction survives a power cut, written by one thread that
//! commits whatever has queued up while the previous fsync ran.

use crate::{Ack, Commit, Declaration, EventAck, LogRow, Result, Store, StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use dss::Change;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::sync::Mutex;
use std::thread;
use steadymap::ShardedMap;
use uuid::Uuid;

/// Versioned schema: entry N brings the schema from version N to N+1.
/// Never edit a released entry; append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the strategic entities. Bodies are the domain types as JSON; the
    // columns beside them are what a human or a migration may need to select on.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE operational_intents (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE constraints (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE subscriptions (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE uss_availability (uss TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE reports (id TEXT PRIMARY KEY, reporter TEXT NOT NULL, received_at TEXT NOT NULL, body TEXT NOT NULL);",
    // 1 -> 2: the record (append-only), the hotline's events and their
    // acknowledgements, and declarations for the notice report.
    "CREATE TABLE log (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
     CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
     CREATE TABLE events (seq INTEGER PRIMARY KEY, party TEXT NOT NULL, kind TEXT NOT NULL,
                          critical INTEGER NOT NULL, sender TEXT, created_at TEXT NOT NULL, body TEXT NOT NULL);
     CREATE INDEX events_by_party ON events (party, seq);
     CREATE INDEX events_by_sender ON events (sender, created_at);
     CREATE TABLE event_acks (seq INTEGER PRIMARY KEY, party TEXT NOT NULL, at TEXT NOT NULL);
     CREATE TABLE declarations (intent TEXT NOT NULL, version INTEGER NOT NULL, party TEXT NOT NULL,
                                declared_at TEXT NOT NULL, starts_at TEXT NOT NULL, late INTEGER NOT NULL,
                                PRIMARY KEY (intent, version));
     CREATE INDEX declarations_by_time ON declarations (declared_at);",
    // 2 -> 3: the private part of record entries (see `Commit::log_private`).
    "ALTER TABLE log ADD COLUMN private BLOB;",
    // 3 -> 4: entity rows keyed by insertion order (see `Rows`), with no
    // index on the random UUID: every new row was a write of a random page of
    // that index (and of its parents), most of the WAL a create wrote.
    "CREATE TABLE operational_intents_4 (row INTEGER PRIMARY KEY, id TEXT NOT NULL, manager TEXT NOT NULL, body TEXT NOT NULL);
     INSERT INTO operational_intents_4 (id, manager, body) SELECT id, manager, body FROM operational_intents;
     DROP TABLE operational_intents;
     ALTER TABLE operational_intents_4 RENAME TO operational_intents;
     CREATE TABLE constraints_4 (row INTEGER PRIMARY KEY, id TEXT NOT NULL, manager TEXT NOT NULL, body TEXT NOT NULL);
     INSERT INTO constraints_4 (id, manager, body) SELECT id, manager, body FROM constraints;
     DROP TABLE constraints;
     ALTER TABLE constraints_4 RENAME TO constraints;
     CREATE TABLE subscriptions_4 (row INTEGER PRIMARY KEY, id TEXT NOT NULL, manager TEXT NOT NULL, body TEXT NOT NULL);
     INSERT INTO subscriptions_4 (id, manager, body) SELECT id, manager, body FROM subscriptions;
     DROP TABLE subscriptions;
     ALTER TABLE subscriptions_4 RENAME TO subscriptions;",
    // 4 -> 5: declarations appended in the order they are made, without the
    // (intent, version) key: its index on random UUIDs was the last random
    // page a create wrote, and those pages are what makes a WAL checkpoint's
    // fsync, and the writer's pause when the WAL starts over, long. A
    // declaration made again replaces the earlier one when read (see
    // `declarations`), as the key's INSERT OR REPLACE did.
    "CREATE TABLE declarations_5 (intent TEXT NOT NULL, version INTEGER NOT NULL, party TEXT NOT NULL,
                                  declared_at TEXT NOT NULL, starts_at TEXT NOT NULL, late INTEGER NOT NULL);
     INSERT INTO declarations_5 (intent, version, party, declared_at, starts_at, late)
       SELECT intent, version, party, declared_at, starts_at, late FROM declarations ORDER BY declared_at;
     DROP TABLE declarations;
     ALTER TABLE declarations_5 RENAME TO declarations;
     CREATE INDEX declarations_by_time ON declarations (declared_at);",
    // 5 -> 6: the F3411 Remote ID entities, keyed as the others (see `Rows`).
    "CREATE TABLE rid_isas (row INTEGER PRIMARY KEY, id TEXT NOT NULL, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE rid_subscriptions (row INTEGER PRIMARY KEY, id TEXT NOT NULL, manager TEXT NOT NULL, body TEXT NOT NULL);",
];

/// The entity tables, whose rows the writer finds through [`Rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    OperationalIntents,
    Constraints,
    Subscriptions,
    RidIsas,
    RidSubscriptions,
}

impl Table {
    const ALL: [Table; 5] = [
        Table::OperationalIntents,
        Table::Constraints,
        Table::Subscriptions,
        Table::RidIsas,
        Table::RidSubscriptions,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::OperationalIntents => "operational_intents",
            Table::Constraints => "constraints",
            Table::Subscriptions => "subscriptions",
            Table::RidIsas => "rid_isas",
            Table::RidSubscriptions => "rid_subscriptions",
        }
    }

    fn insert_sql(self) -> &'static str {
        match self {
            Table::OperationalIntents => {
                "INSERT INTO operational_intents (id, manager, body) VALUES (?1, ?2, ?3)"
            }
            Table::Constraints => "INSERT INTO constraints (id, manager, body) VALUES (?1, ?2, ?3)",
            Table::Subscriptions => {
                "INSERT INTO subscriptions (id, manager, body) VALUES (?1, ?2, ?3)"
            }
            Table::RidIsas => "INSERT INTO rid_isas (id, manager, body) VALUES (?1, ?2, ?3)",
            Table::RidSubscriptions => {
                "INSERT INTO rid_subscriptions (id, manager, body) VALUES (?1, ?2, ?3)"
            }
        }
    }

    fn update_sql(self) -> &'static str {
        match self {
            Table::OperationalIntents => {
                "UPDATE operational_intents SET manager = ?2, body = ?3 WHERE row = ?1"
            }
            Table::Constraints => "UPDATE constraints SET manager = ?2, body = ?3 WHERE row = ?1",
            Table::Subscriptions => {
                "UPDATE subscriptions SET manager = ?2, body = ?3 WHERE row = ?1"
            }
            Table::RidIsas => "UPDATE rid_isas SET manager = ?2, body = ?3 WHERE row = ?1",
            Table::RidSubscriptions => {
                "UPDATE rid_subscriptions SET manager = ?2, body = ?3 WHERE row = ?1"
            }
        }
    }

    fn delete_sql(self) -> &'static str {
        match self {
            Table::OperationalIntents => "DELETE FROM operational_intents WHERE row = ?1",
            Table::Constraints => "DELETE FROM constraints WHERE row = ?1",
            Table::Subscriptions => "DELETE FROM subscriptions WHERE row = ?1",
            Table::RidIsas => "DELETE FROM rid_isas WHERE row = ?1",
            Table::RidSubscriptions => "DELETE FROM rid_subscriptions WHERE row = ?1",
        }
    }
}

/// Where each entity's row is, kept by the writer thread (the only writer of
/// the file): rows are keyed by insertion order, so a new entity is appended
/// to the pages the last ones went to, and an id is found here rather than
/// through an index on random UUIDs. About 40 bytes per entity, in maps
/// that grow in small steps (see `steadymap`): a map doubling at once would
/// hold up every write behind it.
#[derive(Default)]
struct Rows {
    by_table: [ShardedMap<Uuid, i64>; 5],
}

impl Rows {
    fn load(conn: &Connection) -> Result<Rows> {
        let mut rows = Rows::default();
        for t in Table::ALL {
            let mut stmt = conn.prepare(&format!("SELECT row, id FROM {}", t.name()))?;
            let mut q = stmt.query([])?;
            let map = rows.of(t);
            while let Some(r) = q.next()? {
                let id: String = r.get(1)?;
                let id = Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Corrupt(format!("{}: id {id:?}: {e}", t.name())))?;
                map.insert(id, r.get(0)?);
            }
        }
        Ok(rows)
    }

    fn of(&mut self, t: Table) -> &mut ShardedMap<Uuid, i64> {
        &mut self.by_table[t as usize]
    }

    fn put(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        t: Table,
        id: Uuid,
        manager: &str,
        body: String,
    ) -> Result<()> {
        match self.of(t).get(&id) {
            Some(&row) => {
                let updated = tx
                    .prepare_cached(t.update_sql())?
                    .execute(params![row, manager, body])?;
                // The map and the table disagree: a bug, which must not pass
                // as an acknowledged (and lost) write.
                if updated != 1 {
                    return Err(StoreError::Corrupt(format!(
                        "{}: row {row} of {id} is missing",
                        t.name()
                    )));
                }
            }
            None => {
                tx.prepare_cached(t.insert_sql())?.execute(params![
                    id.to_string(),
                    manager,
                    body
                ])?;
                let row = tx.last_insert_rowid();
                self.of(t).insert(id, row);
            }
        }
        Ok(())
    }

    fn delete(&mut self, tx: &rusqlite::Transaction<'_>, t: Table, id: Uuid) -> Result<()> {
        if let Some(row) = self.of(t).remove(&id) {
            tx.prepare_cached(t.delete_sql())?.execute(params![row])?;
        }
        Ok(())
    }
}

/// Most batches a single transaction takes; bounds the latency of the first.
const MAX_GROUP: usize = 512;

struct Job {
    commit: Commit,
    ack: Ack,
}

pub struct SqliteStore {
    path: PathBuf,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, thread::JoinHandle<()>)>>,
    /// Idle read connections, reused (opening one costs a few syscalls and
    /// pragmas; the event stream and the record API read often).
    readers: Mutex<Vec<Connection>>,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL lets readers (load, backups) run beside the writer; FULL makes every
    // commit durable before it returns, which is what an acknowledgement promises.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run on their own thread (see `checkpointer`): done by the
    // committing connection, as SQLite does by default, they put a copy of
    // the WAL into the database file on the write path now and then, which
    // is what drove the write p99.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {current}")))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this program knows ({}); upgrade deconflict",
            MIGRATIONS.len()
        )));
    }
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (v + 1) as i64)?;
        tx.commit()?;
        tracing::info!(from = v, to = v + 1, "migrated database schema");
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn apply(tx: &rusqlite::Transaction<'_>, rows: &mut Rows, change: &Change) -> Result<()> {
    match change {
        Change::PutOperationalIntent(o) => {
            rows.put(tx, Table::OperationalIntents, o.id, &o.manager, to_json(o)?)?
        }
        Change::DeleteOperationalIntent(id) => rows.delete(tx, Table::OperationalIntents, *id)?,
        Change::PutConstraint(c) => {
            rows.put(tx, Table::Constraints, c.id, &c.manager, to_json(c)?)?
        }
        Change::DeleteConstraint(id) => rows.delete(tx, Table::Constraints, *id)?,
        Change::PutSubscription(s) => {
            rows.put(tx, Table::Subscriptions, s.id, &s.manager, to_json(s)?)?
        }
        Change::DeleteSubscription(id) => rows.delete(tx, Table::Subscriptions, *id)?,
        Change::PutIsa(i) => rows.put(tx, Table::RidIsas, i.id, &i.manager, to_json(i)?)?,
        Change::DeleteIsa(id) => rows.delete(tx, Table::RidIsas, *id)?,
        Change::PutRidSubscription(s) => {
            rows.put(tx, Table::RidSubscriptions, s.id, &s.manager, to_json(s)?)?
        }
        Change::DeleteRidSubscription(id) => rows.delete(tx, Table::RidSubscriptions, *id)?,
        Change::PutAvailability(a) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO uss_availability (uss, body) VALUES (?1, ?2)",
            )?
            .execute(params![a.uss, to_json(a)?])?;
        }
        Change::PutReport(r) => {
            tx.prepare_cached(
                "INSERT INTO reports (id, reporter, received_at, body) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                r.id.to_string(),
                r.reporter,
                r.received_at.to_rfc3339(),
                r.body
            ])?;
        }
    }
    Ok(())
}

/// Times are stored as RFC 3339 with a fixed width (UTC, microseconds) so
/// that text order is time order.
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn write_commit(tx: &rusqlite::Transaction<'_>, rows: &mut Rows, commit: &Commit) -> Result<()> {
    for c in &commit.changes {
        apply(tx, rows, c)?;
    }
    for (idx, entry) in &commit.log {
        let private = commit
            .log_private
            .iter()
            .find(|(i, _)| i == idx)
            .map(|(_, p)| p);
        // Plain INSERT: an index written twice is a bug, and must fail loudly.
        tx.prepare_cached("INSERT INTO log (idx, entry, private) VALUES (?1, ?2, ?3)")?
            .execute(params![*idx as i64, entry, private])?;
    }
    for e in &commit.events {
        tx.prepare_cached(
            "INSERT INTO events (seq, party, kind, critical, sender, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            e.seq as i64,
            e.party,
            e.kind,
            e.critical,
            e.sender,
            ts(&e.created_at),
            e.body
        ])?;
    }
    for a in &commit.acks {
        // The first acknowledgement counts; repeating it changes nothing.
        tx.prepare_cached("INSERT OR IGNORE INTO event_acks (seq, party, at) VALUES (?1, ?2, ?3)")?
            .execute(params![a.seq as i64, a.party, ts(&a.at)])?;
    }
    for d in &commit.declarations {
        tx.prepare_cached(
            "INSERT INTO declarations (intent, version, party, declared_at, starts_at, late) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![d.intent, d.version, d.party, ts(&d.declared_at), ts(&d.starts_at), d.late])?;
    }
    Ok(())
}

fn write_group(conn: &mut Connection, rows: &mut Rows, jobs: &[Job]) -> Result<()> {
    let tx = conn.transaction()?;
    for job in jobs {
        write_commit(&tx, rows, &job.commit)?;
    }
    tx.commit()?;
    Ok(())
}

/// When the WAL starts over (sizes in 4 KiB frames).
#[derive(Debug, Clone, Copy)]
pub struct WalLimits {
    /// Past this the writer is asked to let the WAL start over. Default
    /// 256 MiB, about 1.4 s of writes at full speed: each start-over costs
    /// the writer one pass over the last frames and an fsync (a few ms), so
    /// it should be rare (64 MiB made the write p99 worse).
    pub reset_pages: i64,
    /// Past this the checkpointer stops waiting for the writer and forces a
    /// RESTART (blocking writers): only reached when readers keep old
    /// snapshots open through every reset. Default 4 GiB.
    pub large_pages: i64,
}

impl Default for WalLimits {
    fn default() -> Self {
        WalLimits {
            reset_pages: 64 * 1024,
            large_pages: 1024 * 1024,
        }
    }
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

/// Copies the WAL into the database file beside the writer, PASSIVE (never
/// blocking it), every 100 ms, and flushes what it copied to disk.
///
/// A PASSIVE checkpoint alone never lets the WAL shrink under steady writes:
/// SQLite starts the WAL over only when a write transaction begins with
/// every frame already copied, and the writer has always appended more by
/// then. So when the WAL passes [`WalLimits::reset_pages`] this thread catches up
/// (passes back to back, each shorter than the last) and raises
/// `reset_wanted`; the writer then, between two groups, runs one more
/// PASSIVE itself, which copies what the checkpointer's last pass left,
/// and its next transaction starts the WAL over.
///
/// The flush: SQLite fsyncs the database file only at the end of a
/// checkpoint that reaches the end of the WAL, which under steady writes
/// is only ever the writer's pass. Left alone, that fsync had to write out
/// every page the checkpointer copied since the last start-over that the
/// kernel had not yet written back, up to the whole 256 MiB: the writer
/// stood still for it, 100-260 ms whenever writes had touched random pages
/// (deletes do). So this thread fsyncs the database file itself after
/// each pass that copied something (an extra fsync is always safe), and
/// the writer's pass has only the last 100 ms of copies left to flush
/// (the rounds that lead to a start-over do not flush: that would delay it).
/// Before, a RESTART checkpoint did the start-over while holding the
/// write lock for 30-170 ms. Looping the checkpointer's passes until under
/// 1 MiB was left made the writer's pass longer (50-250 ms: the passes do
/// not converge), so it stops after three.
fn checkpointer(
    conn: Connection,
    db: Option<std::fs::File>,
    limits: WalLimits,
    stop: Arc<AtomicBool>,
    reset_wanted: Arc<AtomicBool>,
) {
    // How many of the WAL's frames had been copied after the last flushed
    // pass, as SQLite reports it (back to 0 when the WAL starts over): a
    // pass that changes it has copied something.
    let mut copied_before = 0;
    let mut flush = |copied: i64| {
        if copied == copied_before {
            return;
        }
        copied_before = copied;
        if let Some(f) = &db {
            let start = std::time::Instant::now();
            match f.sync_data() {
                Ok(()) => metrics::histogram!("sqlite_checkpoint_flush_seconds")
                    .record(start.elapsed().as_secs_f64()),
                Err(e) => tracing::warn!(error = %e, "cannot flush the database file"),
            }
        }
    };
    while !stop.load(Ordering::Acquire) {
        thread::park_timeout(std::time::Duration::from_millis(100));
        match checkpoint(&conn, "PASSIVE") {
            Ok((_, wal, _)) if wal > limits.large_pages => {
                let _ = checkpoint(&conn, "RESTART");
            }
            // No flush on the way to a start-over: it would delay the
            // writer's pass while the WAL keeps growing, and that pass
            // flushes anyway.
            Ok((_, wal, _)) if wal > limits.reset_pages => {
                for _ in 0..3 {
                    if checkpoint(&conn, "PASSIVE").is_err() {
                        break;
                    }
                }
                reset_wanted.store(true, Ordering::Release);
            }
            Ok((_, _, copied)) => flush(copied),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; will retry"),
        }
    }
    if let Err(e) = checkpoint(&conn, "TRUNCATE") {
        tracing::warn!(error = %e, "final WAL checkpoint failed; the WAL is replayed at next open");
    }
}

/// The writer's half of a WAL reset (see [`checkpointer`]): with no write
/// in progress, a PASSIVE checkpoint copies every remaining frame, so the
/// next transaction writes from the start of the WAL again.
fn catch_up(conn: &Connection, reset_wanted: &AtomicBool) {
    if !reset_wanted.swap(false, Ordering::AcqRel) {
        return;
    }
    let start = std::time::Instant::now();
    match checkpoint(conn, "PASSIVE") {
        // The checkpointer's own pass holds the checkpoint lock: after the next group.
        Ok((true, _, _)) => reset_wanted.store(true, Ordering::Release),
        Ok((false, wal, copied)) => {
            let took = start.elapsed();
            metrics::histogram!("sqlite_wal_reset_seconds").record(took.as_secs_f64());
            tracing::debug!(
                wal_frames = wal,
                copied,
                micros = took.as_micros() as u64,
                "WAL caught up by the writer"
            );
        }
        Err(e) => tracing::warn!(error = %e, "WAL catch-up failed; will retry"),
    }
}

/// Declarations (with their row, which is the order they were made) in
/// time order, each (intent, version) only once: the last made. (A version
/// is declared again when an intent id is reused after a delete, or twice
/// within one commit.)
fn latest_declarations(rows: Vec<(i64, Declaration)>) -> Vec<Declaration> {
    let mut last: std::collections::HashMap<(&str, u32), i64> = Default::default();
    for (row, d) in &rows {
        let l = last.entry((d.intent.as_str(), d.version)).or_insert(*row);
        *l = (*l).max(*row);
    }
    let keep: Vec<bool> = rows
        .iter()
        .map(|(row, d)| last[&(d.intent.as_str(), d.version)] == *row)
        .collect();
    rows.into_iter()
        .zip(keep)
        .filter_map(|((_, d), k)| k.then_some(d))
        .collect()
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.get::<_, i64>(0)? as u64,
        party: r.get(1)?,
        kind: r.get(2)?,
        critical: r.get(3)?,
        sender: r.get(4)?,
        created_at: parse_ts(&r.get::<_, String>(5)?)?,
        body: r.get(6)?,
    })
}

const EVENT_COLUMNS: &str = "seq, party, kind, critical, sender, created_at, body";

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>, reset_wanted: Arc<AtomicBool>) {
    // Read here rather than in `open`: a full pass over the entity tables
    // (1.5 s at 1M intents), which then runs beside the service's own
    // start-up reads instead of before them. No commit comes before it.
    let mut rows = match Rows::load(&conn) {
        Ok(rows) => rows,
        Err(e) => {
            // Nothing can be written without the rows; every commit fails,
            // and the service stops at the first (fail-stop).
            tracing::error!(error = %e, "cannot read the entity rows; refusing every commit");
            let msg = format!("cannot read the entity rows: {e}");
            while let Ok(j) = rx.recv() {
                (j.ack)(Err(StoreError::Failed(msg.clone())));
            }
            return;
        }
    };
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        match write_group(&mut conn, &mut rows, &jobs) {
            Ok(()) => {
                for j in jobs {
                    (j.ack)(Ok(()));
                }
            }
            Err(e) => {
                // The service applied these changes in memory already; it cannot
                // serve from a state the disk does not hold, so every writer in
                // the group is told, and the service stops (see server::commit).
                tracing::error!(error = %e, batch = jobs.len(), "group commit failed");
                let msg = e.to_string();
                for j in jobs {
                    (j.ack)(Err(StoreError::Failed(msg.clone())));
                }
                // The rolled-back group may have moved rows in the map.
                match Rows::load(&conn) {
                    Ok(r) => rows = r,
                    Err(e) => tracing::error!(error = %e, "cannot re-read the entity rows"),
                }
            }
        }
        // After the acknowledgements, so the group just written does not wait.
        catch_up(&conn, &reset_wanted);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        Self::open_with(path, WalLimits::default())
    }

    /// [`SqliteStore::open`] with other WAL limits (tests use small ones).
    pub fn open_with(path: impl AsRef<Path>, limits: WalLimits) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut conn = open(&path)?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let reset_wanted = Arc::new(AtomicBool::new(false));
        let writer = {
            let reset_wanted = reset_wanted.clone();
            thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || writer_loop(conn, rx, reset_wanted))?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ck = {
            let (stop, conn) = (stop.clone(), open(&path)?);
            // Only for fsync, which flushes the file whichever descriptor
            // asks; without it (it cannot fail after SQLite opened the
            // file, short of a race with its removal) the writer's passes
            // flush everything, only later.
            let db = std::fs::File::open(&path)
                .map_err(
                    |e| tracing::warn!(error = %e, "cannot open the database file to flush it"),
                )
                .ok();
            thread::Builder::new()
                .name("sqlite-checkpointer".into())
                .spawn(move || checkpointer(conn, db, limits, stop, reset_wanted))?
        };
        Ok(SqliteStore {
            checkpointer: Mutex::new(Some((stop, ck))),
            path,
            readers: Mutex::new(Vec::new()),
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting changes and waits until every queued one is written.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.join();
        }
        if let Some((stop, ck)) = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            stop.store(true, Ordering::Release);
            ck.thread().unpark();
            let _ = ck.join();
        }
    }

    fn read_conn(&self) -> Result<Connection> {
        open(&self.path)
    }

    /// Runs `f` on a pooled read connection.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => self.read_conn()?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Decodes each row's body (column 0) of `sql` and hands it to `f`, row by row.
fn scan_table<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    what: &str,
    f: &mut dyn FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let body = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        f(serde_json::from_str(body)
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}: {body}")))?)?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn tail(&self, after: u64) -> Result<Vec<LogRow>> {
        self.with_reader(|c| {
            let mut stmt =
                c.prepare_cached("SELECT entry, private FROM log WHERE idx >= ?1 ORDER BY idx")?;
            let rows = stmt.query_map(params![after as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<LogRow>>>()?)
        })
    }

    fn close(&self) {
        SqliteStore::close(self)
    }

    fn scan_state(&self, f: &mut dyn FnMut(Change) -> Result<()>) -> Result<()> {
        let conn = self.read_conn()?;
        // One read transaction, so the tables are one moment.
        conn.execute_batch("BEGIN")?;
        let scanned = (|| {
            scan_table(
                &conn,
                "SELECT body FROM uss_availability",
                "availability",
                &mut |a| f(Change::PutAvailability(a)),
            )?;
            scan_table(
                &conn,
                "SELECT body FROM subscriptions",
                "subscription",
                &mut |s| f(Change::PutSubscription(s)),
            )?;
            scan_table(
                &conn,
                "SELECT body FROM constraints",
                "constraint",
                &mut |c| f(Change::PutConstraint(c)),
            )?;
            scan_table(
                &conn,
                "SELECT body FROM operational_intents",
                "intent",
                &mut |o| f(Change::PutOperationalIntent(o)),
            )?;
            scan_table(
                &conn,
                "SELECT body FROM rid_isas",
                "identification service area",
                &mut |i| f(Change::PutIsa(i)),
            )?;
            scan_table(
                &conn,
                "SELECT body FROM rid_subscriptions",
                "RID subscription",
                &mut |s| f(Change::PutRidSubscription(s)),
            )
        })();
        scanned.and(conn.execute_batch("COMMIT").map_err(Into::into))
    }

    fn secret(&self) -> Result<[u8; 32]> {
        let conn = self.read_conn()?;
        let existing: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'ovn_secret'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let bytes = match existing {
            Some(b) => b,
            None => {
                let fresh: [u8; 32] = rand::random();
                // INSERT OR IGNORE then re-read: two instances starting at once agree.
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('ovn_secret', ?1)",
                    params![fresh.to_vec()],
                )?;
                conn.query_row("SELECT value FROM meta WHERE key = 'ovn_secret'", [], |r| {
                    r.get(0)
                })?
            }
        };
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("ovn_secret is not 32 bytes".into()))
    }

    fn submit(&self, commit: Commit, ack: Ack) {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
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
        self.with_reader(|c| {
            // One read transaction: the scan sees one state of the record.
            let mut stmt = c.prepare("SELECT idx, entry FROM log ORDER BY idx")?;
            let mut rows = stmt.query([])?;
            let mut next: i64 = 0;
            while let Some(r) = rows.next()? {
                let idx: i64 = r.get(0)?;
                if idx != next {
                    return Err(StoreError::Corrupt(format!(
                        "the record has a gap: entry {idx} follows {}",
                        next - 1
                    )));
                }
                let entry = r
                    .get_ref(1)?
                    .as_blob()
                    .map_err(|e| StoreError::Corrupt(format!("record entry {idx}: {e}")))?;
                f(idx as u64, entry)?;
                next += 1;
            }
            Ok(())
        })
    }

    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT entry FROM log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )?;
            let rows = stmt.query_map(params![start as i64, end as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<Vec<u8>>>>()?)
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn save_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        self.with_reader(|c| {
            c.execute(
                "INSERT OR REPLACE INTO checkpoints (size, note) VALUES (?1, ?2)",
                params![size as i64, note],
            )?;
            // Older ones are implied by the newest and the consistency proofs.
            c.execute(
                "DELETE FROM checkpoints WHERE size < (SELECT MAX(size) FROM checkpoints)",
                [],
            )?;
            Ok(())
        })
    }

    fn last_event_seq(&self) -> Result<u64> {
        self.with_reader(|c| {
            let v: Option<i64> = c.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
            let meta: Option<Vec<u8>> = c
                .query_row("SELECT value FROM meta WHERE key = 'event_seq'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            let pruned = meta
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Ok(v.map_or(0, |v| v as u64).max(pruned))
        })
    }

    fn events_after(&self, party: &str, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE party = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![party, after as i64, limit as i64], event_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                &format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"),
                params![seq as i64],
                event_row,
            )
            .optional()?)
        })
    }

    fn events_sent_by(
        &self,
        sender: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(StoredEvent, Option<EventAck>)>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.seq, e.party, e.kind, e.critical, e.sender, e.created_at, e.body, a.at
                 FROM events e LEFT JOIN event_acks a ON a.seq = e.seq
                 WHERE e.sender = ?1 AND e.created_at >= ?2 ORDER BY e.seq DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![sender, ts(&since), limit as i64], |r| {
                let e = event_row(r)?;
                let at: Option<String> = r.get(7)?;
                let ack = at
                    .map(|a| {
                        Ok::<_, rusqlite::Error>(EventAck {
                            seq: e.seq,
                            party: e.party.clone(),
                            at: parse_ts(&a)?,
                        })
                    })
                    .transpose()?;
                Ok((e, ack))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn unacknowledged_critical(&self) -> Result<Vec<StoredEvent>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE critical AND seq NOT IN (SELECT seq FROM event_acks) ORDER BY seq"
            ))?;
            let rows = stmt.query_map([], event_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        self.with_reader(|c| {
            // Keep the sequence counter: numbers are never reused after a prune.
            let max: Option<i64> = c.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
            if let Some(max) = max {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('event_seq', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![(max as u64).to_be_bytes().to_vec()],
                )?;
            }
            c.execute(
                "DELETE FROM event_acks WHERE seq IN (SELECT seq FROM events WHERE created_at < ?1)",
                params![ts(&cutoff)],
            )?;
            Ok(c.execute("DELETE FROM events WHERE created_at < ?1", params![ts(&cutoff)])?)
        })
    }

    fn declarations(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Declaration>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT intent, version, party, declared_at, starts_at, late, rowid FROM declarations
                 WHERE declared_at >= ?1 AND declared_at < ?2 ORDER BY declared_at, rowid",
            )?;
            let rows = stmt.query_map(params![ts(&from), ts(&to)], |r| {
                let d = Declaration {
                    intent: r.get(0)?,
                    version: r.get(1)?,
                    party: r.get(2)?,
                    declared_at: parse_ts(&r.get::<_, String>(3)?)?,
                    starts_at: parse_ts(&r.get::<_, String>(4)?)?,
                    late: r.get(5)?,
                };
                Ok((r.get::<_, i64>(6)?, d))
            })?;
            let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(latest_declarations(rows))
        })
    }
}
