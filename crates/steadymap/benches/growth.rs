//! The longest single insert while a map grows to N entries of the size of
//! an operational intent with its key (168 + 16 bytes): what a write holding
//! the state's lock waits for when the map resizes.
//!
//! The same for a vector of 32-byte record hashes growing to 8 N.
//!
//! `cargo bench -p steadymap --bench growth [-- N]` (default 2,000,000).
use std::collections::HashMap;
use std::time::{Duration, Instant};
use steadymap::{ChunkedVec, ShardedMap};

#[derive(Clone, Copy)]
#[allow(dead_code)] // only its size matters
struct Payload([u64; 21]); // 168 bytes

fn key(i: u64) -> u128 {
    // Spread like random UUIDs.
    (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) ^ 0x5555
}

fn measure(name: &str, n: u64, mut insert: impl FnMut(u128)) {
    let mut worst = Duration::ZERO;
    let mut over_1ms = 0;
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        insert(key(i));
        let took = t.elapsed();
        if took > Duration::from_millis(1) {
            over_1ms += 1;
        }
        worst = worst.max(took);
    }
    println!(
        "{name:<22} {n} inserts in {:>7.1} ms; longest insert {:>8.3} ms; inserts over 1 ms: {over_1ms}",
        start.elapsed().as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let p = Payload([7; 21]);
    let mut std_map = HashMap::new();
    measure("std HashMap", n, |k| {
        std_map.insert(k, p);
    });
    drop(std_map);
    let mut sharded = ShardedMap::new();
    measure("steadymap::ShardedMap", n, |k| {
        sharded.insert(k, p);
    });
    drop(sharded);
    let mut v = Vec::new();
    measure("std Vec (32 B items)", 8 * n, |k| {
        v.push([k; 2]);
    });
    drop(v);
    let mut c = ChunkedVec::new();
    measure("steadymap::ChunkedVec", 8 * n, |k| {
        c.push([k; 2]);
    });
}
