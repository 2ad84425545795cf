//! One allocation per distinct [`Name`] held in the state.
//!
//! Every intent, constraint and subscription names its manager and its
//! base URL, and a few parties hold a million entities between them. With
//! a copy of each string per entity, a service restarted with 1M intents
//! (and their implicit subscriptions) held 2.84 GiB; with one per value,
//! 2.45 GiB (medians of five restarts, BENCHMARKS.md). A query answer also
//! read each copy from its own cold cache line.

use crate::model::Name;
use std::collections::HashSet;
use std::sync::Arc;

/// Names below this many are never pruned.
const MIN_LIMIT: usize = 4096;

pub(crate) struct Names {
    kept: HashSet<Name>,
    /// When the set reaches this size, the names that no entity holds any
    /// more are dropped, and the limit becomes twice what is left: memory
    /// stays within twice the live names, and pruning costs O(1) amortized
    /// per name added.
    limit: usize,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            kept: HashSet::new(),
            limit: MIN_LIMIT,
        }
    }
}

impl Names {
    /// Makes `name` the state's allocation of its value.
    pub(crate) fn share(&mut self, name: &mut Name) {
        if let Some(kept) = self.kept.get(name) {
            if !Arc::ptr_eq(kept, name) {
                *name = kept.clone();
            }
            return;
        }
        if self.kept.len() >= self.limit {
            // Held only here: no entity uses it any more.
            self.kept.retain(|n| Arc::strong_count(n) > 1);
            self.limit = (2 * self.kept.len()).max(MIN_LIMIT);
        }
        self.kept.insert(name.clone());
    }

    /// The two names every stored entity carries.
    pub(crate) fn share_entity(&mut self, manager: &mut Name, uss_base_url: &mut Name) {
        self.share(manager);
        self.share(uss_base_url);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_end_up_as_one_allocation() {
        let mut names = Names::default();
        let mut a: Name = "alpha".into();
        let mut b: Name = String::from("alpha").into();
        assert!(!Arc::ptr_eq(&a, &b));
        names.share(&mut a);
        names.share(&mut b);
        assert!(Arc::ptr_eq(&a, &b));
        let mut c: Name = "bravo".into();
        names.share(&mut c);
        assert_eq!(&*c, "bravo");
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn names_nobody_holds_are_dropped_and_the_set_stays_bounded() {
        let mut names = Names::default();
        let mut live = Vec::new();
        for i in 0..10 * MIN_LIMIT {
            let mut n: Name = format!("https://uss-{i}.example").into();
            names.share(&mut n);
            // One in ten stays held by an "entity"; the rest are let go.
            if i % 10 == 0 {
                live.push(n);
            }
            assert!(names.len() <= 2 * MIN_LIMIT.max(2 * live.len()));
        }
        // Every live name is still shared, not copied.
        for n in &live {
            let mut again: Name = n.to_string().into();
            names.share(&mut again);
            assert!(Arc::ptr_eq(n, &again), "{n} was dropped while held");
        }
    }
}
