//! The tamper-evident record: an append-only Merkle log and its signed
//! checkpoints.
//!
//! Every entry appended to the log becomes a leaf of a Merkle tree hashed
//! exactly as RFC 9162 (Certificate Transparency v2) §2.1 says: SHA-256,
//! leaf `H(0x00 ‖ entry)`, interior node `H(0x01 ‖ left ‖ right)`, the empty
//! tree `H("")`, and the left subtree of `n` leaves holding the largest power
//! of two smaller than `n`. The log operator publishes signed *checkpoints*
//! (origin, size, root) in the C2SP `tlog-checkpoint` / `signed-note` format
//! used by Go's checksum database and other transparency logs, so anyone
//! holding the public key can check that the log only ever grew:
//!
//! - an *inclusion proof* shows that an entry is leaf `i` of the tree of size
//!   `n` whose root a checkpoint signs;
//! - a *consistency proof* shows that the tree of size `m` is a prefix of the
//!   tree of size `n`: nothing before `m` was altered, removed or reordered;
//! - [`verify_log`] recomputes a checkpoint's root from the entries
//!   themselves.
//!
//! Because the formats are the standard ones, proofs and checkpoints can be
//! checked with independent tools (transparency-dev/merkle,
//! golang.org/x/mod/sumdb/note); the tests include their published vectors.
//!
//! Architecture invariant: pure. No I/O, no clock, no hidden randomness (key
//! generation takes the RNG as an argument). Storing leaves is the caller's
//! business: [`Tree::leaf_hashes`] is what to persist and
//! [`Tree::from_leaf_hashes`] rebuilds the tree at start.
//!
//! Layout:
//! - this file: the hash functions ([`leaf_hash`], [`node_hash`],
//!   [`EMPTY_ROOT`]).
//! - [`tree`]: [`Tree`], the in-memory log with every complete subtree cached
//!   by level, so roots of any size and proofs cost O(log n) hashes.
//! - [`proof`]: [`verify_inclusion`] and [`verify_consistency`] (RFC 9162
//!   §2.1.3.2 and §2.1.4.2), and serde-friendly [`InclusionProof`] /
//!   [`ConsistencyProof`] for the HTTP API.
//! - [`note`]: Ed25519 [`Signer`] / [`Verifier`] keys in the sumdb/note text
//!   formats and the signed-note envelope.
//! - [`checkpoint`]: [`Checkpoint`] bodies, signing and opening them, and
//!   [`verify_log`].
//! - [`b64`]: standard base64 for hashes, with serde helpers.
//! - [`error`]: one [`Error`] enum whose messages name the check that failed.

pub mod b64;
pub mod checkpoint;
pub mod error;
pub mod note;
pub mod proof;
pub mod tree;

pub use checkpoint::{verify_log, Checkpoint};
pub use error::Error;
pub use note::{Signer, Verifier};
pub use proof::{verify_consistency, verify_inclusion, ConsistencyProof, InclusionProof};
pub use tree::Tree;

use sha2::{Digest, Sha256};

/// A SHA-256 output: a leaf hash, an interior node or a tree root.
pub type Hash = [u8; 32];

/// Root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Hash of a log entry: `SHA-256(0x00 ‖ entry)`. The prefix byte keeps a leaf
/// from ever being mistaken for an interior node (second-preimage defence).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The RFC's split point for `n >= 2` leaves: the largest power of two
/// strictly smaller than `n`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn split_is_largest_power_of_two_below() {
        for n in 2..1000u64 {
            let k = split(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
        assert_eq!(split(u64::MAX), 1 << 63);
    }
}
