//! Appends per second, and proof work at a million leaves.
//!
//! `cargo bench -p ledger --bench append`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ledger::{leaf_hash, verify_consistency, verify_inclusion, Tree};

/// Not a power of two, so roots and proofs cross incomplete subtrees.
const N: u64 = 1_000_000;
/// About the size of one serialised change record.
const ENTRY_LEN: usize = 256;

fn entry(i: u64) -> [u8; ENTRY_LEN] {
    let mut e = [0x5a; ENTRY_LEN];
    e[..8].copy_from_slice(&i.to_le_bytes());
    e
}

/// Deterministic pseudo-random values below `bound` (SplitMix64).
fn picks(bound: u64) -> impl FnMut() -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

fn build() -> Tree {
    let mut t = Tree::new();
    for i in 0..N {
        t.append(&entry(i));
    }
    t
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(N));
    g.bench_function("1M entries of 256 B into an empty tree", |b| {
        b.iter(|| build().root())
    });
    let leaves = build().leaf_hashes().copied().collect::<Vec<_>>();
    g.bench_function("from_leaf_hashes (1M)", |b| {
        b.iter_batched(
            || leaves.clone(),
            Tree::from_leaf_hashes,
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let t = build();
    let root = t.root();
    let mut g = c.benchmark_group("at 1M leaves");
    g.bench_function("root", |b| b.iter(|| black_box(&t).root()));
    let mut pick = picks(N);
    g.bench_function("root_at(random size)", |b| {
        b.iter(|| t.root_at(pick() + 1).unwrap())
    });
    let mut pick = picks(N);
    g.bench_function("inclusion_proof(random index)", |b| {
        b.iter(|| t.inclusion_proof(pick(), N).unwrap())
    });
    let mut pick = picks(N - 1);
    g.bench_function("consistency_proof(random old size)", |b| {
        b.iter(|| t.consistency_proof(pick() + 1, N).unwrap())
    });

    let index = 123_457;
    let proof = t.inclusion_proof(index, N).unwrap();
    let leaf = leaf_hash(&entry(index));
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| verify_inclusion(&leaf, index, N, black_box(&proof), &root).unwrap())
    });
    let old = 654_321;
    let old_root = t.root_at(old).unwrap();
    let proof = t.consistency_proof(old, N).unwrap();
    g.bench_function("verify_consistency", |b| {
        b.iter(|| verify_consistency(old, N, &old_root, &root, black_box(&proof)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, appends, proofs);
criterion_main!(benches);
