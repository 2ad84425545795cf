//! The tree and the proof verifiers against RFC 9162's definitions, written
//! out naively below, against published hashes, and under bit flips.

use ledger::proof::{consistency_proof_len, inclusion_proof_len};
use ledger::{
    leaf_hash, verify_consistency, verify_inclusion, verify_log, Checkpoint, Error, Hash, Tree,
    EMPTY_ROOT,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

// ---- RFC 9162 §2.1, transcribed literally (recursion on slices, no caching).

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Largest power of two strictly smaller than `n`, by counting.
fn k_for(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`.
fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => sha256(&[]),
        1 => sha256(&[&[0x00], &d[0]]),
        n => {
            let k = k_for(n);
            sha256(&[&[0x01], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

/// `PATH(m, D[n])`.
fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_for(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// `SUBPROOF(m, D[n], b)`; `PROOF(m, D[n])` is `subproof(m, d, true)`.
fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_for(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

fn tree_of(d: &[Vec<u8>]) -> Tree {
    let mut t = Tree::new();
    for (i, e) in d.iter().enumerate() {
        assert_eq!(t.append(e), i as u64);
    }
    t
}

fn hex(s: &str) -> Hash {
    let b: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    b.try_into().unwrap()
}

// ---- Published values.

/// transparency-dev/merkle `testonly/constants.go`: `LeafInputs()` and
/// `RootHashes()` (Apache-2.0, Google LLC).
#[test]
fn transparency_dev_reference_roots() {
    let leaves: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    })
    .collect();
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let leaf_hashes = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ];
    let mut t = Tree::new();
    assert_eq!(t.root(), hex(roots[0]));
    assert_eq!(EMPTY_ROOT, hex(roots[0]));
    for (i, leaf) in leaves.iter().enumerate() {
        assert_eq!(leaf_hash(leaf), hex(leaf_hashes[i]), "leaf {i}");
        t.append(leaf);
        assert_eq!(t.root(), hex(roots[i + 1]), "size {}", i + 1);
        assert_eq!(
            mth(&leaves[..=i]),
            hex(roots[i + 1]),
            "naive size {}",
            i + 1
        );
    }
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(t.root_at(size as u64), Ok(hex(root)), "root_at({size})");
    }
}

/// golang.org/x/mod/sumdb/tlog `TestFormatTree`: `RecordHash("hello world")`
/// (a leaf hash) in a tree note.
#[test]
fn go_tlog_record_hash() {
    let cp = Checkpoint {
        origin: "go.sum database tree".into(),
        size: 123456789012,
        root: leaf_hash(b"hello world"),
    };
    assert_eq!(
        cp.body().unwrap(),
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    );
}

// ---- Exhaustive agreement with the naive definitions.

const MAX: usize = 64;

#[test]
fn roots_match_the_definition() {
    let d = entries(MAX);
    let t = tree_of(&d);
    for n in 0..=MAX {
        let want = mth(&d[..n]);
        assert_eq!(t.root_at(n as u64), Ok(want), "root_at({n})");
        let prefix = tree_of(&d[..n]);
        assert_eq!(prefix.root(), want, "root of {n}");
        assert_eq!(
            Tree::from_leaf_hashes(prefix.leaf_hashes().copied().collect()),
            prefix,
            "from_leaf_hashes({n})"
        );
        let cp = Checkpoint {
            origin: "o".into(),
            size: n as u64,
            root: want,
        };
        assert_eq!(verify_log(&d[..n], &cp), Ok(()), "verify_log({n})");
    }
}

#[test]
fn inclusion_proofs_match_the_definition_and_verify() {
    let d = entries(MAX);
    let t = tree_of(&d);
    for n in 1..=MAX {
        let root = mth(&d[..n]);
        for i in 0..n {
            let (i64_, n64) = (i as u64, n as u64);
            let proof = t.inclusion_proof(i64_, n64).unwrap();
            assert_eq!(proof, path(i, &d[..n]), "PATH({i}, {n})");
            assert_eq!(proof.len(), inclusion_proof_len(i64_, n64));
            let leaf = leaf_hash(&d[i]);
            assert_eq!(verify_inclusion(&leaf, i64_, n64, &proof, &root), Ok(()));
        }
    }
}

#[test]
fn consistency_proofs_match_the_definition_and_verify() {
    let d = entries(MAX);
    let t = tree_of(&d);
    for n in 1..=MAX {
        let new_root = mth(&d[..n]);
        for m in 1..=n {
            let (m64, n64) = (m as u64, n as u64);
            let proof = t.consistency_proof(m64, n64).unwrap();
            assert_eq!(proof, subproof(m, &d[..n], true), "PROOF({m}, {n})");
            assert_eq!(proof.len(), consistency_proof_len(m64, n64));
            let old_root = mth(&d[..m]);
            assert_eq!(
                verify_consistency(m64, n64, &old_root, &new_root, &proof),
                Ok(()),
                "verify({m}, {n})"
            );
        }
    }
}

/// A proof only proves what it was made for: another index, another size or
/// another old size does not verify against the right root for it.
#[test]
fn proofs_do_not_transfer_to_other_positions() {
    const N: usize = 24;
    let d = entries(N);
    let t = tree_of(&d);
    let root = |n: usize| mth(&d[..n]);
    for n in 1..=N {
        for (i, entry) in d[..n].iter().enumerate() {
            let proof = t.inclusion_proof(i as u64, n as u64).unwrap();
            let leaf = leaf_hash(entry);
            for j in (0..n).filter(|&j| j != i) {
                assert!(verify_inclusion(&leaf, j as u64, n as u64, &proof, &root(n)).is_err());
            }
            for n2 in (i + 1..=N).filter(|&n2| n2 != n) {
                assert!(verify_inclusion(&leaf, i as u64, n2 as u64, &proof, &root(n2)).is_err());
            }
        }
        for m in 1..=n {
            let proof = t.consistency_proof(m as u64, n as u64).unwrap();
            for m2 in (1..=n).filter(|&m2| m2 != m) {
                assert!(
                    verify_consistency(m2 as u64, n as u64, &root(m2), &root(n), &proof).is_err(),
                    "PROOF({m}, {n}) accepted as ({m2}, {n})"
                );
            }
            for n2 in (m..=N).filter(|&n2| n2 != n) {
                assert!(
                    verify_consistency(m as u64, n2 as u64, &root(m), &root(n2), &proof).is_err(),
                    "PROOF({m}, {n}) accepted as ({m}, {n2})"
                );
            }
        }
    }
}

#[test]
fn wrong_lengths_and_sizes_are_named() {
    let d = entries(10);
    let t = tree_of(&d);
    let (root, leaf) = (t.root(), leaf_hash(&d[3]));
    let mut proof = t.inclusion_proof(3, 10).unwrap();
    proof.push(root);
    assert_eq!(
        verify_inclusion(&leaf, 3, 10, &proof, &root),
        Err(Error::ProofLength {
            kind: "inclusion",
            actual: 5,
            expected: 4
        })
    );
    proof.truncate(3);
    assert!(matches!(
        verify_inclusion(&leaf, 3, 10, &proof, &root),
        Err(Error::ProofLength { actual: 3, .. })
    ));
    assert_eq!(
        verify_inclusion(&leaf, 10, 10, &[], &root),
        Err(Error::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    let old = t.root_at(4).unwrap();
    assert_eq!(
        verify_consistency(5, 4, &root, &old, &[]),
        Err(Error::OldTreeLarger {
            old_size: 5,
            new_size: 4
        })
    );
    assert_eq!(
        verify_consistency(0, 10, &EMPTY_ROOT, &root, &[]),
        Err(Error::EmptyOldTree)
    );
    assert_eq!(verify_consistency(4, 4, &old, &old, &[]), Ok(()));
    assert!(matches!(
        verify_consistency(4, 4, &old, &root, &[]),
        Err(Error::RootMismatch { .. })
    ));
    assert!(matches!(
        verify_consistency(4, 4, &old, &old, &[old]),
        Err(Error::ProofLength { expected: 0, .. })
    ));
    // 4 is a complete subtree: its root is not repeated in the proof.
    let proof = t.consistency_proof(4, 10).unwrap();
    let mut padded = vec![old];
    padded.extend(&proof);
    assert!(matches!(
        verify_consistency(4, 10, &old, &root, &padded),
        Err(Error::ProofLength { .. })
    ));
    let err = verify_consistency(4, 10, &root, &root, &proof).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("consistency proof (new root): computed root"),
        "{err}"
    );
}

// ---- A million leaves.

#[test]
fn a_million_leaves() {
    const N: u64 = 1_000_000;
    let entry = |i: u64| i.to_le_bytes();
    let mut t = Tree::new();
    for i in 0..N {
        t.append(&entry(i));
    }
    let root = t.root();
    let cp = Checkpoint {
        origin: "o".into(),
        size: N,
        root,
    };
    assert_eq!(verify_log((0..N).map(entry), &cp), Ok(()));
    let rebuilt = Tree::from_leaf_hashes(t.leaf_hashes().copied().collect());
    assert_eq!(rebuilt.root(), root);
    for (i, m) in [
        (0, 1),
        (524_287, 524_288),
        (999_999, 999_999),
        (123_456, 777_777),
    ] {
        let proof = t.inclusion_proof(i, N).unwrap();
        assert!(proof.len() <= 20, "ceil(log2(1M)) = 20");
        assert_eq!(
            verify_inclusion(&leaf_hash(&entry(i)), i, N, &proof, &root),
            Ok(())
        );
        let proof = t.consistency_proof(m, N).unwrap();
        let old = t.root_at(m).unwrap();
        assert_eq!(verify_consistency(m, N, &old, &root, &proof), Ok(()));
    }
}

// ---- Any single bit flip is rejected.

fn flip(h: &mut Hash, bit: usize) {
    h[bit / 8] ^= 1 << (bit % 8);
}

fn small_tree(n: u64) -> Tree {
    let mut t = Tree::new();
    for i in 0..n {
        t.append(format!("entry {i}").as_bytes());
    }
    t
}

proptest! {
    #[test]
    fn inclusion_rejects_any_bit_flip(
        n in 1u64..300, index in any::<u64>(), target in any::<usize>(), bit in 0usize..256,
    ) {
        let t = small_tree(n);
        let index = index % n;
        let (mut leaf, mut root) = (t.leaf_hash(index).unwrap(), t.root());
        let mut proof = t.inclusion_proof(index, n).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, index, n, &proof, &root), Ok(()));
        match target % (proof.len() + 2) {
            0 => flip(&mut leaf, bit),
            1 => flip(&mut root, bit),
            k => flip(&mut proof[k - 2], bit),
        }
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root).is_err());
    }

    #[test]
    fn consistency_rejects_any_bit_flip(
        n in 1u64..300, m in any::<u64>(), target in any::<usize>(), bit in 0usize..256,
    ) {
        let t = small_tree(n);
        let m = m % n + 1;
        let (mut old, mut new) = (t.root_at(m).unwrap(), t.root());
        let mut proof = t.consistency_proof(m, n).unwrap();
        prop_assert_eq!(verify_consistency(m, n, &old, &new, &proof), Ok(()));
        match target % (proof.len() + 2) {
            0 => flip(&mut old, bit),
            1 => flip(&mut new, bit),
            k => flip(&mut proof[k - 2], bit),
        }
        prop_assert!(verify_consistency(m, n, &old, &new, &proof).is_err());
    }
}
