//! Durable appends to the record on the embedded store: how many entries per
//! second are on disk (fsync'd, acknowledged) when many writers append at
//! once. Each commit is what an event acknowledgement makes: one record
//! entry (with its leaf hash computed, as the service does) and one ack row.
//!
//! `cargo bench -p store --bench record_append [-- WRITERS SECONDS]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use store::{Commit, EventAck, SqliteStore, Store};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let writers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("bench.db")).unwrap());
    // The index of the next entry and the tree, as the service's write lock
    // keeps them: appended in submission order.
    let tree = Arc::new(Mutex::new(ledger::Tree::new()));
    let done = Arc::new(AtomicU64::new(0));
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (store, tree, done) = (store.clone(), tree.clone(), done.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let entry = format!(
                        r#"{{"time":"2026-11-25T00:00:00Z","actor":"w{w}","kind":"ack","data":{{"seq":{n}}}}}"#
                    )
                    .into_bytes();
                    let (tx, rx) = mpsc::channel();
                    let t = Instant::now();
                    {
                        let mut tree = tree.lock().unwrap();
                        let idx = tree.append(&entry);
                        store.submit(
                            Commit {
                                log: vec![(idx, entry)],
                                acks: vec![EventAck {
                                    seq: (w as u64) << 32 | n,
                                    party: format!("w{w}"),
                                    at: chrono::Utc::now(),
                                }],
                                ..Default::default()
                            },
                            Box::new(move |r| tx.send(r).unwrap()),
                        );
                    }
                    rx.recv().unwrap().unwrap();
                    lat.push(t.elapsed());
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                lat
            })
        })
        .collect();
    let start = Instant::now();
    for h in handles {
        latencies.extend(h.join().unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    store.close();
    latencies.sort();
    let n = done.load(Ordering::Relaxed);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "record appends on SQLite (WAL, synchronous=FULL, group commit): {writers} writers, {elapsed:.1} s: \
         {n} durable appends, {:.0}/s; latency p50 {:?} p99 {:?}",
        n as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    assert_eq!(store.load_log().unwrap().len() as u64, n);
}
