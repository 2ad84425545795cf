//! The one place where the in-memory state meets the store.
//!
//! Writes run under an exclusive lock: the rules are checked and applied in
//! memory, the resulting changes are queued to the store *while the lock is
//! still held* (so the store sees them in the order they were applied), and the
//! client is answered only once the store says they are durable.
//!
//! Reads run under a shared lock and then wait until everything they could
//! have seen is durable, so no client is ever shown a state a crash could undo.

use crate::error::ApiError;
use dss::{Dss, DssError, Outcome};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use store::Store;
use tokio::sync::{oneshot, watch};

pub struct Core {
    dss: RwLock<Dss>,
    store: Arc<dyn Store>,
    /// Sequence number of the last change set applied in memory.
    applied: AtomicU64,
    /// Sequence number of the last change set the store made durable.
    durable: watch::Sender<u64>,
}

impl Core {
    /// Rebuilds the state from the store.
    pub fn open(store: Arc<dyn Store>, config: dss::Config) -> anyhow::Result<Core> {
        let secret = store.secret()?;
        let mut dss = Dss::new(config, secret);
        for change in store.load()? {
            dss.apply(&change);
        }
        let (durable, _) = watch::channel(0);
        Ok(Core {
            dss: RwLock::new(dss),
            store,
            applied: AtomicU64::new(0),
            durable,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs a write operation and returns its value once its effect is durable.
    pub async fn write<T>(
        &self,
        op: impl FnOnce(&mut Dss) -> Result<Outcome<T>, DssError>,
    ) -> Result<T, ApiError> {
        // Everything under the lock is synchronous: the guard never lives
        // across an await, and the store sees changes in the order applied.
        let (value, pending) = {
            let mut dss = self.dss.write();
            let outcome = op(&mut dss)?;
            if outcome.changes.is_empty() {
                (outcome.value, Err(self.applied.load(Ordering::Acquire)))
            } else {
                let seq = self.applied.fetch_add(1, Ordering::AcqRel) + 1;
                let (tx, rx) = oneshot::channel();
                let durable = self.durable.clone();
                self.store.submit(
                    outcome.changes,
                    Box::new(move |r| {
                        if r.is_ok() {
                            durable.send_if_modified(|d| {
                                let advance = *d < seq;
                                if advance {
                                    *d = seq;
                                }
                                advance
                            });
                        }
                        let _ = tx.send(r);
                    }),
                );
                (outcome.value, Ok(rx))
            }
        };
        match pending {
            // Nothing changed; still, what the operation saw must be durable.
            Err(seen) => {
                self.settle(seen).await;
                Ok(value)
            }
            Ok(rx) => match rx.await {
                Ok(Ok(())) => Ok(value),
                Ok(Err(e)) => fail_stop(&e.to_string()),
                Err(_) => fail_stop("the store dropped a commit"),
            },
        }
    }

    /// Runs a read and returns once everything it may have seen is durable.
    pub async fn read<T>(&self, op: impl FnOnce(&Dss) -> T) -> T {
        let (value, seq) = {
            let dss = self.dss.read();
            (op(&dss), self.applied.load(Ordering::Acquire))
        };
        self.settle(seq).await;
        value
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

/// The memory holds changes the disk refused: serving on would show clients a
/// state that a restart would lose. Stop; the restart reloads the truth.
fn fail_stop(why: &str) -> ! {
    tracing::error!(error = why, "the store failed to make a change durable; stopping so that nothing unrecorded is ever acknowledged");
    std::process::exit(70);
}
