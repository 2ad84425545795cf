//! Every way a proof, key, note or checkpoint can be refused.

/// What went wrong, named after the check that failed. Hashes in messages are
/// standard base64, as they appear on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // Tree queries.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {requested} is beyond the log, which has {size} leaves")]
    SizeBeyondLog { requested: u64, size: u64 },

    // Proofs.
    #[error(
        "consistency from size {old_size} to {new_size}: the old tree is larger than the new one"
    )]
    OldTreeLarger { old_size: u64, new_size: u64 },
    #[error(
        "consistency from the empty tree proves nothing (every tree extends it); skip the check"
    )]
    EmptyOldTree,
    #[error("{kind} proof has {actual} hashes, expected {expected}")]
    ProofLength {
        kind: &'static str,
        actual: usize,
        expected: usize,
    },
    #[error("{check}: computed root {computed} does not match expected root {expected}")]
    RootMismatch {
        check: &'static str,
        computed: String,
        expected: String,
    },

    // Whole-log verification.
    #[error("log has {entries} entries but the checkpoint is for size {checkpoint}")]
    LogSizeMismatch { entries: u64, checkpoint: u64 },

    // Keys.
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName(String),
    #[error("malformed {kind} key: {reason}")]
    MalformedKey {
        kind: &'static str,
        reason: &'static str,
    },
    #[error("unsupported key algorithm {0:#04x} (only Ed25519, 0x01, is supported)")]
    UnsupportedAlgorithm(u8),
    #[error("key hash {stated:08x} does not match the key, whose hash is {actual:08x}")]
    KeyHashMismatch { stated: u32, actual: u32 },

    // Signed notes and checkpoints.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    #[error("note has no signature by key {name}+{key_hash:08x}")]
    NoSignature { name: String, key_hash: u32 },
    #[error("signature by key {name}+{key_hash:08x} does not verify")]
    BadSignature { name: String, key_hash: u32 },
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("invalid hash {0:?}: expected standard base64 of 32 bytes")]
    InvalidHash(String),
}
