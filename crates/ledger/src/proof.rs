//! Proof verification, as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency) write it, step by step.
//!
//! The proof's length is checked first against the length the RFC's
//! algorithm will consume for these sizes, so that a truncated or padded
//! proof is reported as such rather than as a root mismatch; the RFC's own
//! length checks inside the loops then cannot fail.

use serde::{Deserialize, Serialize};

use crate::{b64, node_hash, Error, Hash};

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root`, given the audit path `proof` (sibling of the leaf first).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    check_len("inclusion", proof, inclusion_proof_len(index, size))?;
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        debug_assert!(sn != 0, "length checked");
        if fn_ & 1 == 1 || fn_ == sn {
            // We are a right child, or the last node of our level (which the
            // RFC promotes unchanged until it becomes a right child).
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    debug_assert_eq!(sn, 0, "length checked");
    check_root("inclusion proof", &r, root)
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix
/// of the tree of `new_size` leaves with root `new_root`.
///
/// Equal sizes need an empty proof and equal roots. `old_size == 0` is
/// refused ([`Error::EmptyOldTree`]): the empty tree is a prefix of every
/// tree, so a "proof" of it would say nothing (this matches
/// transparency-dev/merkle).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    if old_size > new_size {
        return Err(Error::OldTreeLarger { old_size, new_size });
    }
    if old_size == 0 {
        return Err(Error::EmptyOldTree);
    }
    if old_size == new_size {
        check_len("consistency", proof, 0)?;
        return check_root("consistency proof (equal sizes)", old_root, new_root);
    }
    check_len(
        "consistency",
        proof,
        consistency_proof_len(old_size, new_size),
    )?;
    // Step 2: when the old tree is a complete subtree, the proof omits its
    // root, which is then the starting point.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        debug_assert!(sn != 0, "length checked");
        if fn_ & 1 == 1 || fn_ == sn {
            // A left sibling: part of both the old and the new tree.
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // A right sibling: only in the new tree.
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    debug_assert_eq!(sn, 0, "length checked");
    check_root("consistency proof (old root)", &fr, old_root)?;
    check_root("consistency proof (new root)", &sr, new_root)
}

/// Number of hashes in the inclusion proof of leaf `index < size`: the
/// iterations of the RFC 9162 §2.1.3.2 loop. Panics if `index >= size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    assert!(index < size, "index {index} not in tree of size {size}");
    let (mut fn_, mut sn) = (index, size - 1);
    let mut len = 0;
    while sn != 0 {
        len += 1;
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    len
}

/// Number of hashes in the consistency proof from `old_size` to `new_size`,
/// `0 < old_size <= new_size`: the iterations of the RFC 9162 §2.1.4.2 loop,
/// plus the first hash unless the old tree is complete. Panics outside that
/// range.
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    assert!(
        0 < old_size && old_size <= new_size,
        "no consistency proof from {old_size} to {new_size}"
    );
    if old_size == new_size {
        return 0;
    }
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut len = usize::from(!old_size.is_power_of_two());
    while sn != 0 {
        len += 1;
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    len
}

fn check_len(kind: &'static str, proof: &[Hash], expected: usize) -> Result<(), Error> {
    if proof.len() != expected {
        return Err(Error::ProofLength {
            kind,
            actual: proof.len(),
            expected,
        });
    }
    Ok(())
}

fn check_root(check: &'static str, computed: &Hash, expected: &Hash) -> Result<(), Error> {
    if computed != expected {
        return Err(Error::RootMismatch {
            check,
            computed: b64::encode(computed),
            expected: b64::encode(expected),
        });
    }
    Ok(())
}

/// An inclusion proof as carried over the wire (hashes in base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "b64::hashes")]
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// [`verify_inclusion`] with this proof's index, size and hashes.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), Error> {
        verify_inclusion(
            leaf_hash,
            self.leaf_index,
            self.tree_size,
            &self.hashes,
            root,
        )
    }
}

/// A consistency proof as carried over the wire (hashes in base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    #[serde(with = "b64::hashes")]
    pub hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// [`verify_consistency`] with this proof's sizes and hashes.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), Error> {
        verify_consistency(
            self.old_size,
            self.new_size,
            old_root,
            new_root,
            &self.hashes,
        )
    }
}
