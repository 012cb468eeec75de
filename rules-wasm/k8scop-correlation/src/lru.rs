//! A map with a fixed maximum number of entries that forgets the least
//! recently used one when full, and drops stale entries from its
//! least-recently-used end as time advances. Every table of per-identity
//! state in this pack is one, so memory stays bounded whatever the input.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

pub struct Lru<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Use order: the smallest tick is the least recently used key.
    order: BTreeMap<u64, K>,
    next_tick: u64,
    capacity: usize,
}

struct Slot<V> {
    value: V,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// A map holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Lru {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_tick: 0,
            capacity: capacity.max(1),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry of `key`, marked as just used, if present.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let tick = self.bump();
        let slot = self.entries.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, key.clone());
        Some(&mut slot.value)
    }

    /// The entry of `key`, marked as just used; created with `new` when
    /// missing, after evicting the least recently used entry if full.
    pub fn entry(&mut self, key: &K, new: impl FnOnce() -> V) -> &mut V {
        if !self.entries.contains_key(key) {
            if self.entries.len() >= self.capacity
                && let Some((_, oldest)) = self.order.pop_first()
            {
                self.entries.remove(&oldest);
            }
            let tick = self.bump();
            self.order.insert(tick, key.clone());
            self.entries
                .insert(key.clone(), Slot { value: new(), tick });
            return &mut self.entries.get_mut(key).expect("just inserted").value;
        }
        self.get_mut(key).expect("present")
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.entries.remove(key)?;
        self.order.remove(&slot.tick);
        Some(slot.value)
    }

    /// Drop entries from the least recently used end while `stale` says so;
    /// stops at the first fresh one. Events come in time order, so use order
    /// is time order and this finds every stale entry in amortised O(1) per
    /// event (an entry behind a fresh one waits for the next call).
    pub fn expire(&mut self, mut stale: impl FnMut(&V) -> bool) -> usize {
        let mut dropped = 0;
        while let Some((&tick, key)) = self.order.first_key_value() {
            if !stale(&self.entries[key].value) {
                break;
            }
            let key = key.clone();
            self.order.remove(&tick);
            self.entries.remove(&key);
            dropped += 1;
        }
        dropped
    }

    fn bump(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn evicts_the_least_recently_used_when_full() {
        let mut m: Lru<&str, u32> = Lru::new(2);
        *m.entry(&"a", || 0) += 1;
        *m.entry(&"b", || 0) += 1;
        // Using "a" makes "b" the least recently used.
        *m.entry(&"a", || 0) += 1;
        m.entry(&"c", || 7);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get_mut(&"a").copied(), Some(2));
        assert!(m.get_mut(&"b").is_none());
        assert_eq!(m.get_mut(&"c").copied(), Some(7));
    }

    #[test]
    fn expire_drops_stale_entries_from_the_old_end() {
        let mut m: Lru<u32, i64> = Lru::new(10);
        for (k, t) in [(1, 100), (2, 200), (3, 300)] {
            m.entry(&k, || t);
        }
        assert_eq!(m.expire(|&t| t < 250), 2);
        assert_eq!(m.len(), 1);
        assert!(m.get_mut(&3).is_some());
        assert_eq!(m.expire(|&t| t < 250), 0);
    }

    #[test]
    fn remove_keeps_the_order_consistent() {
        let mut m: Lru<u32, ()> = Lru::new(2);
        m.entry(&1, || ());
        m.entry(&2, || ());
        assert!(m.remove(&1).is_some());
        m.entry(&3, || ());
        // Room for 3 without evicting 2.
        assert!(m.get_mut(&2).is_some());
        assert_eq!(m.expire(|_| true), 2);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn stays_bounded_under_a_flood_of_new_keys() {
        let mut m: Lru<u64, u64> = Lru::new(100);
        for k in 0..100_000 {
            m.entry(&k, || k);
        }
        assert_eq!(m.len(), 100);
        assert_eq!(m.order.len(), 100);
        assert!(m.get_mut(&99_999).is_some());
        assert!(m.get_mut(&99_899).is_none());
    }
}
