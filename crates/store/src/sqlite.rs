//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so
//! a committed transaction survives a power cut, written by one thread that
//! commits whatever has queued up while the previous fsync ran.

use crate::{Ack, Result, Store, StoreError};
use dss::Change;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;

/// Versioned schema: entry N brings the schema from version N to N+1.
/// Never edit a released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the strategic entities. Bodies are the domain types as JSON; the
    // columns beside them are what a human or a migration may need to select on.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE operational_intents (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE constraints (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE subscriptions (id TEXT PRIMARY KEY, manager TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE uss_availability (uss TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE reports (id TEXT PRIMARY KEY, reporter TEXT NOT NULL, received_at TEXT NOT NULL, body TEXT NOT NULL);",
];

/// Most batches a single transaction takes; bounds the latency of the first.
const MAX_GROUP: usize = 512;

struct Job {
    changes: Vec<Change>,
    ack: Ack,
}

pub struct SqliteStore {
    path: PathBuf,
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

fn apply(tx: &rusqlite::Transaction<'_>, change: &Change) -> Result<()> {
    match change {
        Change::PutOperationalIntent(o) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO operational_intents (id, manager, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![o.id.to_string(), o.manager, to_json(o)?])?;
        }
        Change::DeleteOperationalIntent(id) => {
            tx.prepare_cached("DELETE FROM operational_intents WHERE id = ?1")?
                .execute(params![id.to_string()])?;
        }
        Change::PutConstraint(c) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO constraints (id, manager, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![c.id.to_string(), c.manager, to_json(c)?])?;
        }
        Change::DeleteConstraint(id) => {
            tx.prepare_cached("DELETE FROM constraints WHERE id = ?1")?
                .execute(params![id.to_string()])?;
        }
        Change::PutSubscription(s) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subscriptions (id, manager, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![s.id.to_string(), s.manager, to_json(s)?])?;
        }
        Change::DeleteSubscription(id) => {
            tx.prepare_cached("DELETE FROM subscriptions WHERE id = ?1")?
                .execute(params![id.to_string()])?;
        }
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

fn write_group(conn: &mut Connection, jobs: &[Job]) -> Result<()> {
    let tx = conn.transaction()?;
    for job in jobs {
        for c in &job.changes {
            apply(&tx, c)?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        match write_group(&mut conn, &jobs) {
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
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut conn = open(&path)?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))?;
        Ok(SqliteStore {
            path,
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
    }

    fn read_conn(&self) -> Result<Connection> {
        open(&self.path)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn load_table<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    what: &str,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        let body = row?;
        out.push(
            serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("{what}: {e}: {body}")))?,
        );
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Vec<Change>> {
        let conn = self.read_conn()?;
        let mut out = Vec::new();
        for a in load_table(&conn, "SELECT body FROM uss_availability", "availability")? {
            out.push(Change::PutAvailability(a));
        }
        for s in load_table(&conn, "SELECT body FROM subscriptions", "subscription")? {
            out.push(Change::PutSubscription(s));
        }
        for c in load_table(&conn, "SELECT body FROM constraints", "constraint")? {
            out.push(Change::PutConstraint(c));
        }
        for o in load_table(&conn, "SELECT body FROM operational_intents", "intent")? {
            out.push(Change::PutOperationalIntent(o));
        }
        Ok(out)
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

    fn submit(&self, changes: Vec<Change>, ack: Ack) {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(Job { changes, ack }) {
                    (job.ack)(Err(StoreError::Closed));
                }
            }
            None => ack(Err(StoreError::Closed)),
        }
    }
}
