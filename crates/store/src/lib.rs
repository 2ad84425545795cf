//! Persistence of the strategic state behind one trait, [`Store`].
//!
//! The store is the truth: the service rebuilds its in-memory state and indexes
//! from [`Store::load`] at start, and every change it makes is handed to
//! [`Store::submit`] and acknowledged to a client only once the store reports
//! it durable. Implementations batch concurrent submissions into one
//! transaction (group commit) so durability costs one fsync per batch, not per
//! write.

mod sqlite;

pub use sqlite::SqliteStore;

use dss::Change;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
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

/// What the service needs from persistence.
pub trait Store: Send + Sync {
    /// Everything stored, as the changes that rebuild it, in an order that
    /// [`dss::Dss::apply`] accepts (subscriptions before the intents using them).
    fn load(&self) -> Result<Vec<Change>>;

    /// The secret seed of OVNs; created on first use and kept forever.
    fn secret(&self) -> Result<[u8; 32]>;

    /// Queues changes to be applied atomically, in submission order. `ack` runs
    /// once they are durable. Changes submitted earlier are durable no later.
    fn submit(&self, changes: Vec<Change>, ack: Ack);
}

#[cfg(test)]
mod tests;
