//! Persistence of the strategic state behind one trait, [`Store`].
//!
//! The store is the truth: the service rebuilds its in-memory state and indexes
//! from [`Store::load`] at start, and every change it makes is handed to
//! [`Store::submit`] and acknowledged to a client only once the store reports
//! it durable. Implementations batch concurrent submissions into one
//! transaction (group commit) so durability costs one fsync per batch, not per
//! write. Two implementations: [`SqliteStore`] (embedded, the default) and
//! [`PgStore`] (PostgreSQL, for several instances on one database).

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::{SqliteStore, WalLimits};

use chrono::{DateTime, Utc};
use dss::Change;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// From [`PgStore`]; the message carries the server's and its SQLSTATE.
    #[error("PostgreSQL error: {}", postgres::describe(.0))]
    Pg(#[from] ::postgres::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("commit failed: {0}")]
    Failed(String),
    #[error("the store has shut down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Called once the batch it was submitted with is durable (or failed).
pub type Ack = Box<dyn FnOnce(Result<()>) + Send>;

/// An event addressed to one party (the hotline). `body` is the event as
/// its recipients see it (JSON); the store does not interpret it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Global and strictly increasing; the SSE `id`.
    pub seq: u64,
    pub party: String,
    pub kind: String,
    /// Critical events are sent again until acknowledged.
    pub critical: bool,
    /// The party whose action caused it, if any.
    pub sender: Option<String>,
    pub created_at: DateTime<Utc>,
    pub body: String,
}

/// A party's acknowledgement of one of its events.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAck {
    pub seq: u64,
    pub party: String,
    pub at: DateTime<Utc>,
}

/// A declaration of an operational intent as the notice report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    pub intent: String,
    pub version: u32,
    pub party: String,
    pub declared_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub late: bool,
}

/// A record entry as stored: its bytes and its private part, if any.
pub type LogRow = (Vec<u8>, Option<Vec<u8>>);

/// One atomic unit of durability: state changes together with the record
/// entries, events and acknowledgements they caused. All of it is durable,
/// or none of it.
#[derive(Debug, Default)]
pub struct Commit {
    pub changes: Vec<Change>,
    /// Entries of the record, `(index, bytes)`, indices consecutive.
    pub log: Vec<(u64, Vec<u8>)>,
    /// Beside some entries, kept with them but never served: what the
    /// entry shows only in part (a change with its OVNs, which the record
    /// shows only hashed). Other instances of a pool rebuild from it.
    pub log_private: Vec<(u64, Vec<u8>)>,
    pub events: Vec<StoredEvent>,
    pub acks: Vec<EventAck>,
    pub declarations: Vec<Declaration>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.log.is_empty()
            && self.log_private.is_empty()
            && self.events.is_empty()
            && self.acks.is_empty()
            && self.declarations.is_empty()
    }
}

impl From<Vec<Change>> for Commit {
    fn from(changes: Vec<Change>) -> Self {
        Commit {
            changes,
            ..Default::default()
        }
    }
}

/// What the service needs from persistence.
pub trait Store: Send + Sync {
    /// Everything stored, as the changes that rebuild it, one at a time, in
    /// an order that [`dss::Dss::apply`] accepts (subscriptions before the
    /// intents using them). An error from `f` stops the scan and is returned.
    /// Streamed: at 1M intents the whole state is gigabytes of changes.
    fn scan_state(&self, f: &mut dyn FnMut(Change) -> Result<()>) -> Result<()>;

    /// Every change of [`Store::scan_state`], held at once: for tests; the
    /// service streams.
    fn load(&self) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        self.scan_state(&mut |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// The secret seed of OVNs; created on first use and kept forever.
    fn secret(&self) -> Result<[u8; 32]>;

    /// Queues a commit to be applied atomically, in submission order. `ack`
    /// runs once it is durable. Commits submitted earlier are durable no later.
    fn submit(&self, commit: Commit, ack: Ack);

    /// Stops accepting commits and waits until every queued one is written.
    fn close(&self);

    /// Whether other instances of the service may write to this store too
    /// (a pool). If so, writes go through [`Store::write_exclusive`] and
    /// every instance follows the others through [`Store::tail`].
    fn shared(&self) -> bool {
        false
    }

    /// Pools: one transaction that holds the pool-wide write lock, hands
    /// `f` the record entries from index `after` on (what other instances
    /// wrote since this one last looked) and the highest event sequence
    /// number used, then writes the commit `f` returns. Returns once it is
    /// durable. An error from `f` aborts the transaction. Blocking: call it
    /// outside async code (e.g. in `tokio::task::block_in_place`).
    fn write_exclusive(
        &self,
        after: u64,
        f: &mut dyn FnMut(Vec<LogRow>, u64) -> Result<Commit>,
    ) -> Result<()> {
        let _ = (after, f);
        Err(StoreError::Failed("this store is not shared".into()))
    }

    /// Record entries from index `after` on, each with its private part.
    fn tail(&self, after: u64) -> Result<Vec<LogRow>>;

    /// Calls `f` with every entry of the record, in order, with its index:
    /// what rebuilding the Merkle tree and the delivery cursors at start-up
    /// reads. Streamed, never all in memory at once: the record of a million
    /// intents is over a gigabyte, and the allocator keeps what a start-up
    /// once held (a `Vec` of every entry cost ~1 GiB of RSS for good).
    /// An error from `f` stops the scan and is returned.
    fn scan_log(&self, f: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()>;

    /// Every entry of the record, in order. Holds them all: for tests and
    /// small records; the service uses [`Store::scan_log`].
    fn load_log(&self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.scan_log(&mut |_, e| {
            out.push(e.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// Entries `start..end` of the record.
    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>>;

    /// The latest signed checkpoint kept, if any.
    fn latest_checkpoint(&self) -> Result<Option<String>>;

    /// Keeps a signed checkpoint of `size` entries (not part of a commit:
    /// a checkpoint lost in a crash is signed again from the entries).
    fn save_checkpoint(&self, size: u64, note: &str) -> Result<()>;

    /// Highest event sequence number ever used (0: none).
    fn last_event_seq(&self) -> Result<u64>;

    /// A party's events after `after`, oldest first, at most `limit`.
    fn events_after(&self, party: &str, after: u64, limit: usize) -> Result<Vec<StoredEvent>>;

    /// One event by its sequence number.
    fn event(&self, seq: u64) -> Result<Option<StoredEvent>>;

    /// Events sent because of `sender`'s actions since `since`, with their
    /// acknowledgement if any.
    fn events_sent_by(
        &self,
        sender: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(StoredEvent, Option<EventAck>)>>;

    /// Critical events not yet acknowledged, oldest first.
    fn unacknowledged_critical(&self) -> Result<Vec<StoredEvent>>;

    /// Removes events (and their acknowledgements) created before `cutoff`;
    /// returns how many. The record keeps its own copy forever.
    fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<usize>;

    /// Declarations made in `[from, to)`.
    fn declarations(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Declaration>>;
}

#[cfg(test)]
mod tests;
