//! [`Shelf`]: values by key, bounded in count and in time, the oldest evicted first. What the
//! introspection verifier remembers, and the exchanged tokens of
//! [`TokenExchange`](crate::downstream::TokenExchange).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Values by key, bounded in count and in time.
///
/// One mutex guards everything; each critical section is a hash lookup, or an insertion with
/// amortised O(1) eviction, so contention stays negligible next to an HTTP round trip.
pub(crate) struct Shelf<K, V> {
    ttl: Duration,
    capacity: usize,
    state: Mutex<ShelfState<K, V>>,
}

struct ShelfState<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys in insertion order, with the generation of the insertion. An item whose
    /// generation no longer matches its entry is stale and skipped.
    order: VecDeque<(K, u64)>,
    generation: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
    generation: u64,
}

impl<K: Copy + Eq + Hash, V: Clone> Shelf<K, V> {
    /// A shelf keeping entries for `ttl` at most, `capacity` of them at most; `None` if
    /// either is zero.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Option<Shelf<K, V>> {
        (!ttl.is_zero() && capacity > 0).then(|| Shelf {
            ttl,
            capacity,
            state: Mutex::new(ShelfState {
                entries: HashMap::new(),
                order: VecDeque::new(),
                generation: 0,
            }),
        })
    }

    /// The longest an entry is kept.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When the entry for `key` expires, for tests.
    #[cfg(test)]
    pub(crate) fn expires(&self, key: &K) -> Option<Instant> {
        self.lock().entries.get(key).map(|entry| entry.expires)
    }

    /// How many entries are kept, expired ones not yet evicted included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShelfState<K, V>> {
        // Every critical section leaves the state consistent, so a panic elsewhere while the
        // lock was held does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value for `key`, if it has not expired.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let now = Instant::now();
        let mut state = self.lock();
        let entry = state.entries.get(key)?;
        if entry.expires > now {
            return Some(entry.value.clone());
        }
        state.entries.remove(key);
        None
    }

    /// Remembers `value` for `ttl`, which the caller has already bounded by the shelf's.
    pub(crate) fn insert(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        let Some(expires) = now.checked_add(ttl).filter(|expires| *expires > now) else {
            return;
        };
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        state.entries.insert(
            key,
            Entry {
                value,
                expires,
                generation,
            },
        );
        state.order.push_back((key, generation));
        state.evict(self.capacity, now);
    }
}

impl<K: Copy + Eq + Hash, V> ShelfState<K, V> {
    /// Drops stale order items and expired entries from the front, then the oldest entries
    /// until at most `capacity` remain.
    fn evict(&mut self, capacity: usize, now: Instant) {
        while let Some(&(key, generation)) = self.order.front() {
            let live = self
                .entries
                .get(&key)
                .filter(|e| e.generation == generation);
            match live {
                Some(entry) if entry.expires > now && self.entries.len() <= capacity => break,
                Some(_) => {
                    self.entries.remove(&key);
                }
                None => {}
            }
            self.order.pop_front();
        }
        // Entries replaced or removed on lookup leave items behind a live front; compact
        // before they outnumber the entries.
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order.retain(|(key, generation)| {
                entries
                    .get(key)
                    .is_some_and(|e| e.generation == *generation)
            });
        }
    }
}

impl<K, V> fmt::Debug for Shelf<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len();
        f.debug_struct("Shelf")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> [u8; 4] {
        n.to_be_bytes()
    }

    #[test]
    fn a_shelf_evicts_the_oldest_entry_when_full() {
        let shelf = Shelf::new(Duration::from_secs(60), 3).unwrap();
        for n in 0..5 {
            shelf.insert(key(n), n, Duration::from_secs(60));
        }
        assert!(shelf.get(&key(0)).is_none());
        assert!(shelf.get(&key(1)).is_none());
        for n in 2..5 {
            assert_eq!(shelf.get(&key(n)), Some(n));
        }
        assert_eq!(shelf.lock().entries.len(), 3);
    }

    #[test]
    fn a_shelf_order_queue_stays_bounded() {
        let shelf = Shelf::new(Duration::from_secs(60), 10).unwrap();
        for _ in 0..10_000 {
            shelf.insert(key(1), (), Duration::from_secs(60));
        }
        let state = shelf.lock();
        assert_eq!(state.entries.len(), 1);
        assert!(state.order.len() <= 2 + 64, "{}", state.order.len());
    }
}
