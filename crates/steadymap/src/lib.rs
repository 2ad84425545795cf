//! Containers for the in-memory state whose growth never stops the world.
//!
//! A hash table grows by moving every entry into a table twice the size, in
//! the one insert that crosses its load limit; a `Vec` grows by copying all
//! of itself. The strategic state holds up to millions of entities behind
//! one write lock, so such a step (an operational intent with its key is 184
//! bytes: 1M of them are 180 MB to move) stalls every request for tens to
//! hundreds of milliseconds. These containers grow in small steps instead:
//!
//! - [`ShardedMap`] is [`SHARDS`] hash maps, a key's shard chosen by a hash
//!   seeded apart from the maps' own, so each resize moves 1/256 of the
//!   entries.
//! - [`ChunkedVec`] keeps its items in chunks of doubling size that are
//!   never reallocated; only the short list of chunks is ever copied.

use hashbrown::{DefaultHashBuilder, HashMap};
use std::hash::{BuildHasher, Hash};

/// Shards of a [`ShardedMap`]. At 1M entries a shard holds ~4,000 and its
/// resize moves well under a millisecond's worth of memory.
pub const SHARDS: usize = 256;

/// A hash map that grows one shard at a time.
///
/// The shard is picked with its own hasher: picking it from the bits the
/// shards' tables use would leave those bits constant within a shard.
#[derive(Clone)]
pub struct ShardedMap<K, V> {
    picker: DefaultHashBuilder,
    shards: Box<[HashMap<K, V>]>,
    len: usize,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            picker: DefaultHashBuilder::default(),
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
            len: 0,
        }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for ShardedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> ShardedMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, shard by shard, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard(&self, key: &K) -> usize {
        // The top bits: the best mixed ones of the hash.
        (self.picker.hash_one(key) >> (64 - SHARDS.trailing_zeros())) as usize
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards[self.shard(key)].get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let s = self.shard(key);
        self.shards[s].get_mut(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let s = self.shard(&key);
        let old = self.shards[s].insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let s = self.shard(key);
        let old = self.shards[s].remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// The value of `key`, inserting `make()` first if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let s = self.shard(&key);
        let shard = &mut self.shards[s];
        let len = &mut self.len;
        shard.entry(key).or_insert_with(|| {
            *len += 1;
            make()
        })
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ShardedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = ShardedMap::new();
        map.extend(iter);
        map
    }
}

impl<K: Hash + Eq, V> Extend<(K, V)> for ShardedMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

/// Items in the first chunk of a [`ChunkedVec`]; chunk `k` holds
/// `FIRST_CHUNK << k`. A power of two.
const FIRST_CHUNK: usize = 16;
const FIRST_BITS: u32 = FIRST_CHUNK.trailing_zeros();

/// A growing vector whose items never move: each chunk is allocated whole
/// at twice the size of the one before and never reallocated, so growth
/// copies nothing but the short list of chunks, and at most half of the
/// capacity is unused, as in a `Vec`.
#[derive(Debug, Clone)]
pub struct ChunkedVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

/// (chunk, offset) of item `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let shifted = i + FIRST_CHUNK;
    let top = usize::BITS - 1 - shifted.leading_zeros();
    ((top - FIRST_BITS) as usize, shifted - (1 << top))
}

impl<T> ChunkedVec<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends; returns the new item's index.
    pub fn push(&mut self, item: T) -> usize {
        let (chunk, _) = locate(self.len);
        if chunk == self.chunks.len() {
            self.chunks.push(Vec::with_capacity(FIRST_CHUNK << chunk));
        }
        self.chunks[chunk].push(item);
        self.len += 1;
        self.len - 1
    }

    /// The last item, removed.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.chunks.last_mut()?.pop()?;
        self.len -= 1;
        if self.chunks.last().is_some_and(Vec::is_empty) {
            self.chunks.pop();
        }
        Some(item)
    }

    pub fn last(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let (c, o) = locate(i);
        Some(&self.chunks[c][o])
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let (c, o) = locate(i);
        Some(&mut self.chunks[c][o])
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> FromIterator<T> for ChunkedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = ChunkedVec::new();
        for item in iter {
            v.push(item);
        }
        v
    }
}

impl<T: PartialEq> PartialEq for ChunkedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for ChunkedVec<T> {}

impl<T> std::ops::Index<usize> for ChunkedVec<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(t) => t,
            None => panic!("index {i} out of range for a ChunkedVec of {}", self.len),
        }
    }
}

impl<T> std::ops::IndexMut<usize> for ChunkedVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        let len = self.len;
        match self.get_mut(i) {
            Some(t) => t,
            None => panic!("index {i} out of range for a ChunkedVec of {len}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Bump(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            any::<u16>().prop_map(Op::Remove),
            any::<u16>().prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Any sequence of changes leaves the same contents as a std map.
        #[test]
        fn a_sharded_map_behaves_as_one_map(ops in proptest::collection::vec(op(), 0..2000)) {
            let mut ours = ShardedMap::new();
            let mut model = std::collections::HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), model.remove(&k)),
                    Op::Bump(k) => {
                        *ours.get_or_insert_with(k, || 0) += 1;
                        *model.entry(k).or_insert(0) += 1;
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(ours.get(k), Some(v));
            }
            let mut listed: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let mut expected: Vec<_> = model.into_iter().collect();
            listed.sort();
            expected.sort();
            prop_assert_eq!(listed, expected);
        }

        #[test]
        fn a_chunked_vec_behaves_as_a_vec(n in 0usize..20_000) {
            let mut ours = ChunkedVec::new();
            for i in 0..n {
                prop_assert_eq!(ours.push(i * 3), i);
            }
            prop_assert_eq!(ours.len(), n);
            for i in (0..n).step_by(97) {
                ours[i] += 1;
                prop_assert_eq!(ours[i], i * 3 + 1);
            }
            prop_assert!(ours.get(n).is_none());
            prop_assert_eq!(ours.iter().count(), n);
            prop_assert_eq!(ours.last().copied(), n.checked_sub(1).map(|i| i * 3 + usize::from(i % 97 == 0)));
            for i in (0..n).rev() {
                prop_assert_eq!(ours.pop(), Some(i * 3 + usize::from(i % 97 == 0)));
            }
            prop_assert!(ours.pop().is_none() && ours.is_empty());
        }
    }

    /// Items stay where they are while the vector grows past many chunks.
    #[test]
    fn chunked_items_never_move() {
        let mut v = ChunkedVec::new();
        v.push(0u64);
        let first: *const u64 = &v[0];
        for i in 1..(FIRST_CHUNK << 12) as u64 {
            v.push(i);
        }
        assert!(std::ptr::eq(first, &v[0]));
    }

    /// Keys spread over every shard, so no shard holds much more than its share.
    #[test]
    fn keys_spread_over_the_shards() {
        let map: ShardedMap<u64, ()> = (0..SHARDS as u64 * 1000).map(|k| (k, ())).collect();
        let largest = map.shards.iter().map(|s| s.len()).max().unwrap();
        let smallest = map.shards.iter().map(|s| s.len()).min().unwrap();
        assert!(
            largest < 1300 && smallest > 700,
            "shards hold {smallest}..{largest}"
        );
    }
}
