//! Checkpoints (C2SP `tlog-checkpoint`): the signed statement "the log named
//! *origin* had *size* entries and this root".
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//! ```
//!
//! The body is the text of a signed note ([`crate::note`]). Extension lines
//! (optional, "not recommended" by the spec) are neither written nor
//! accepted.

use serde::{Deserialize, Serialize};

use crate::{b64, leaf_hash, node_hash, Error, Hash, Signer, Verifier, EMPTY_ROOT};

/// A tree head: the log `origin` had `size` entries, whose root was `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    #[serde(with = "b64::hash")]
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> Result<String, Error> {
        check_origin(&self.origin)?;
        Ok(format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64::encode(&self.root)
        ))
    }

    /// Parses a note text written by [`Checkpoint::body`] (or by any log
    /// following the spec, without extension lines).
    pub fn parse_body(text: &str) -> Result<Self, Error> {
        let lines = text
            .strip_suffix('\n')
            .ok_or(Error::MalformedCheckpoint("does not end with a newline"))?;
        let mut lines = lines.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(Error::MalformedCheckpoint(
                "expected origin, tree size and root hash lines",
            ));
        };
        if lines.next().is_some() {
            return Err(Error::MalformedCheckpoint(
                "extension lines are not supported",
            ));
        }
        check_origin(origin)?;
        // One spelling per number: ASCII digits, no sign, no leading zero.
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if !canonical {
            return Err(Error::MalformedCheckpoint(
                "tree size is not a decimal number without leading zeros",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| Error::MalformedCheckpoint("tree size does not fit in 64 bits"))?;
        let root = b64::decode(root).map_err(|_| {
            Error::MalformedCheckpoint("root hash is not standard base64 of 32 bytes")
        })?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn check_origin(origin: &str) -> Result<(), Error> {
    if origin.is_empty() {
        return Err(Error::MalformedCheckpoint("empty origin"));
    }
    if origin.contains(char::is_control) {
        return Err(Error::MalformedCheckpoint(
            "origin contains a newline or control character",
        ));
    }
    Ok(())
}

impl Signer {
    /// The signed note of `checkpoint`. Fails only for an origin that cannot
    /// be a checkpoint line (empty, or with a newline or control character).
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> Result<String, Error> {
        self.sign_note(&checkpoint.body()?)
    }
}

impl Verifier {
    /// Checks the note's signature by this key, then parses the checkpoint.
    /// The origin is not compared with anything: the caller knows which log
    /// it expects (the key name need not equal the origin).
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint, Error> {
        Checkpoint::parse_body(self.open_note(note)?)
    }
}

/// Recomputes the root of `entries` and checks that they are exactly the
/// log `checkpoint` describes: same number of entries, same root. Any
/// altered, removed, inserted or reordered entry changes the root.
///
/// To check that a longer log starts with the checkpointed one, pass
/// `entries.take(checkpoint.size)`.
pub fn verify_log<I>(entries: I, checkpoint: &Checkpoint) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    // The right border of the tree so far: one complete subtree per set bit
    // of `count`, largest (leftmost) first. O(log n) memory.
    let mut border: Vec<Hash> = Vec::new();
    let mut count: u64 = 0;
    for entry in entries {
        let mut h = leaf_hash(entry.as_ref());
        for _ in 0..count.trailing_ones() {
            let left = border.pop().expect("one subtree per set bit");
            h = node_hash(&left, &h);
        }
        border.push(h);
        count += 1;
    }
    if count != checkpoint.size {
        return Err(Error::LogSizeMismatch {
            entries: count,
            checkpoint: checkpoint.size,
        });
    }
    let root = border
        .into_iter()
        .rev()
        .reduce(|right, left| node_hash(&left, &right))
        .unwrap_or(EMPTY_ROOT);
    if root != checkpoint.root {
        return Err(Error::RootMismatch {
            check: "log entries against checkpoint",
            computed: b64::encode(&root),
            expected: b64::encode(&checkpoint.root),
        });
    }
    Ok(())
}
