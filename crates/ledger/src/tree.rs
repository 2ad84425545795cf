//! The in-memory Merkle log.
//!
//! Every *complete* subtree is cached: `levels[l][i]` is the hash of leaves
//! `[i·2^l, (i+1)·2^l)`, and `levels[0]` are the leaf hashes. That is about
//! 2n hashes (64 MiB for a million leaves) and one node hash per append,
//! amortised. In exchange, any node of the RFC 9162 tree of *any* size up to
//! the current one is a right fold over at most log₂ n cached subtrees (the
//! binary decomposition of its width), so:
//!
//! - [`Tree::root`] and [`Tree::root_at`] cost O(log n) hashes, for historic
//!   sizes too;
//! - [`Tree::inclusion_proof`] costs O(log n): along the path only one
//!   sibling can be an incomplete subtree (once the path turns left it stays
//!   inside a complete subtree);
//! - [`Tree::consistency_proof`] costs O(log² n) in the worst case and
//!   O(log n) typically.

use crate::{leaf_hash, node_hash, split, Error, Hash, EMPTY_ROOT};
use steadymap::ChunkedVec;

/// An append-only RFC 9162 Merkle tree held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// `levels[l][i]` = hash of the complete subtree of 2^l leaves starting at
    /// leaf `i << l`. Level `l` has `size >> l` entries. Chunked: the tree
    /// grows on the write path, and a `Vec` of 32 MB doubling would copy
    /// itself there.
    levels: Vec<ChunkedVec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a tree from its stored leaf hashes (O(n) hashes).
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        if leaves.is_empty() {
            return Self::default();
        }
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() >= 2) {
            let below = levels.last().expect("non-empty");
            let above = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Self {
            levels: levels
                .into_iter()
                .map(|l| l.into_iter().collect())
                .collect(),
        }
    }

    /// Appends an entry, returning its leaf index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends an already computed leaf hash (`leaf_hash(entry)`), returning
    /// its leaf index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        if self.levels.is_empty() {
            self.levels.push(ChunkedVec::new());
        }
        self.levels[0].push(leaf);
        // The new leaf completes one subtree per trailing one bit of its
        // index: hash each completed pair into the level above.
        for level in 0..index.trailing_ones() as usize {
            let below = &self.levels[level];
            let parent = node_hash(&below[below.len() - 2], &below[below.len() - 1]);
            if level + 1 == self.levels.len() {
                self.levels.push(ChunkedVec::new());
            }
            self.levels[level + 1].push(parent);
        }
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// All leaf hashes in order: what to persist to rebuild the tree.
    pub fn leaf_hashes(&self) -> impl Iterator<Item = &Hash> {
        self.levels.iter().take(1).flat_map(ChunkedVec::iter)
    }

    /// The hash of leaf `index`, if it exists.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// Root of the whole tree (O(log n) hashes).
    pub fn root(&self) -> Hash {
        self.range_hash(0, self.size())
    }

    /// Root of the tree as it was when it had `size` leaves (O(log n)).
    pub fn root_at(&self, size: u64) -> Result<Hash, Error> {
        self.check_size(size)?;
        Ok(self.range_hash(0, size))
    }

    /// Audit path of leaf `index` in the tree of size `size`, from the leaf's
    /// sibling up (RFC 9162 §2.1.3.1, `PATH(m, D[n])`).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
        self.check_size(size)?;
        if index >= size {
            return Err(Error::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::with_capacity(64 - size.leading_zeros() as usize);
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// Proof that the tree of size `old_size` is a prefix of the tree of size
    /// `new_size` (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`). Empty when the sizes
    /// are equal; refused for `old_size == 0`, which has nothing to prove.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, Error> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(Error::OldTreeLarger { old_size, new_size });
        }
        if old_size == 0 {
            return Err(Error::EmptyOldTree);
        }
        let mut proof = Vec::new();
        self.subproof(old_size, 0, new_size, true, &mut proof);
        Ok(proof)
    }

    fn check_size(&self, requested: u64) -> Result<(), Error> {
        let size = self.size();
        if requested > size {
            return Err(Error::SizeBeyondLog { requested, size });
        }
        Ok(())
    }

    /// `PATH(m, D[start:end])` appended to `out`, deepest sibling first.
    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        if end - start <= 1 {
            return;
        }
        let k = split(end - start);
        if m < start + k {
            self.path(m, start, start + k, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.path(m, start + k, end, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// `SUBPROOF(m, D[start:end], complete)` appended to `out`, with `m`
    /// counted from `start`.
    fn subproof(&self, m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            // The old tree's node itself: the verifier already knows it when
            // it is the old root.
            if !complete {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// `MTH(D[start:end])` for a node of some RFC tree, i.e. with `start` a
    /// multiple of the smallest power of two ≥ `end - start`. The RFC splits
    /// off the largest power of two each time, so the node is the right fold
    /// of the complete subtrees of its width's binary decomposition, all of
    /// which are aligned and cached.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let mut acc: Option<Hash> = None;
        let mut right = end;
        while right > start {
            // Peel off the rightmost (smallest) complete subtree.
            let level = (right - start).trailing_zeros();
            let left = right - (1 << level);
            let h = self.levels[level as usize][(left >> level) as usize];
            acc = Some(match acc {
                None => h,
                Some(r) => node_hash(&h, &r),
            });
            right = left;
        }
        acc.unwrap_or(EMPTY_ROOT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_have_the_documented_shape() {
        let mut t = Tree::new();
        for i in 0..1000u32 {
            t.append(&i.to_be_bytes());
            let n = t.size() as usize;
            for (l, level) in t.levels.iter().enumerate() {
                assert_eq!(level.len(), n >> l);
            }
        }
        assert_eq!(
            Tree::from_leaf_hashes(t.leaf_hashes().copied().collect()),
            t
        );
    }

    #[test]
    fn empty_tree() {
        let t = Tree::new();
        assert_eq!(t.root(), EMPTY_ROOT);
        assert_eq!(t.root_at(0), Ok(EMPTY_ROOT));
        assert_eq!(t.leaf_hash(0), None);
        assert_eq!(Tree::from_leaf_hashes(Vec::new()).root(), EMPTY_ROOT);
        assert_eq!(
            t.inclusion_proof(0, 0),
            Err(Error::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(t.consistency_proof(0, 0), Err(Error::EmptyOldTree));
    }

    #[test]
    fn queries_beyond_the_log_are_refused() {
        let mut t = Tree::new();
        t.append(b"a");
        t.append(b"b");
        let beyond = Error::SizeBeyondLog {
            requested: 3,
            size: 2,
        };
        assert_eq!(t.root_at(3), Err(beyond.clone()));
        assert_eq!(t.inclusion_proof(0, 3), Err(beyond.clone()));
        assert_eq!(t.consistency_proof(1, 3), Err(beyond));
        assert_eq!(
            t.inclusion_proof(2, 2),
            Err(Error::IndexOutOfRange { index: 2, size: 2 })
        );
        assert_eq!(
            t.consistency_proof(2, 1),
            Err(Error::OldTreeLarger {
                old_size: 2,
                new_size: 1
            })
        );
        assert_eq!(t.consistency_proof(2, 2), Ok(vec![]));
    }
}
