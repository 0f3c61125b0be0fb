//! What an [`IntrospectionVerifier`](super::IntrospectionVerifier) remembers: accepted tokens,
//! and refused ones for a shorter while (the negative cache), each on a shelf bounded in count
//! and time.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::{CacheKey, Outcome};
use crate::auth::{AuthError, AuthInfo};

/// The verdicts remembered: accepted tokens, and refused ones for a shorter while. Each kind
/// has a shelf of its own, so that a flood of refused tokens never evicts an accepted one.
pub(super) struct Cache {
    accepted: Option<Shelf<Arc<AuthInfo>>>,
    refused: Option<Shelf<AuthError>>,
}

impl Cache {
    /// A cache keeping accepted tokens for `accepted_ttl` and refused ones for `refused_ttl`,
    /// `capacity` of each at most; a zero TTL or capacity turns that kind off.
    pub(super) fn new(accepted_ttl: Duration, refused_ttl: Duration, capacity: usize) -> Cache {
        Cache {
            accepted: Shelf::new(accepted_ttl, capacity),
            refused: Shelf::new(refused_ttl, capacity),
        }
    }

    /// The remembered verdict for `key`, if any.
    pub(super) fn get(&self, key: &CacheKey) -> Option<Outcome> {
        if let Some(auth) = self.accepted.as_ref().and_then(|shelf| shelf.get(key)) {
            return Some(Ok(auth));
        }
        (self.refused.as_ref())
            .and_then(|shelf| shelf.get(key))
            .map(Err)
    }

    /// Remembers a verdict: an acceptance for the accepted TTL but never past the token's
    /// `exp`; a refusal (`InvalidToken`) for the refused TTL but never past `valid_from`, the
    /// moment its own `nbf` would let it through. `Unavailable` is never remembered: the
    /// endpoint did not answer, so nothing is known about the token.
    pub(super) fn remember(
        &self,
        key: CacheKey,
        outcome: &Outcome,
        valid_from: Option<SystemTime>,
    ) {
        let left = |until: SystemTime| until.duration_since(SystemTime::now()).ok();
        match outcome {
            Ok(auth) => {
                let Some(shelf) = &self.accepted else { return };
                let mut ttl = shelf.ttl;
                if let Some(exp) = auth.expires_at() {
                    // `exp` already passed (within the leeway): accepted this once, not
                    // remembered.
                    let Some(left) = left(exp) else { return };
                    ttl = ttl.min(left);
                }
                shelf.insert(key, auth.clone(), ttl);
            }
            Err(refusal @ AuthError::InvalidToken(_)) => {
                let Some(shelf) = &self.refused else { return };
                let mut ttl = shelf.ttl;
                if let Some(valid_from) = valid_from {
                    ttl = ttl.min(left(valid_from).unwrap_or_default());
                }
                shelf.insert(key, refusal.clone(), ttl);
            }
            Err(AuthError::Unavailable(_) | AuthError::RateLimited { .. }) => {}
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("accepted", &self.accepted)
            .field("refused", &self.refused)
            .finish()
    }
}

/// Verdicts of one kind, bounded in count and in time.
///
/// One mutex guards everything; each critical section is a hash lookup, or an insertion with
/// amortised O(1) eviction, so contention stays negligible next to an HTTP round trip.
struct Shelf<V> {
    ttl: Duration,
    capacity: usize,
    state: Mutex<ShelfState<V>>,
}

struct ShelfState<V> {
    entries: HashMap<CacheKey, Entry<V>>,
    /// Keys in insertion order, with the generation of the insertion. An item whose
    /// generation no longer matches its entry is stale and skipped.
    order: VecDeque<(CacheKey, u64)>,
    generation: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
    generation: u64,
}

impl<V: Clone> Shelf<V> {
    /// A shelf keeping entries for `ttl` at most, `capacity` of them at most; `None` if
    /// either is zero.
    fn new(ttl: Duration, capacity: usize) -> Option<Shelf<V>> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, ShelfState<V>> {
        // Every critical section leaves the state consistent, so a panic elsewhere while the
        // lock was held does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value for `key`, if it has not expired.
    fn get(&self, key: &CacheKey) -> Option<V> {
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
    fn insert(&self, key: CacheKey, value: V, ttl: Duration) {
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

impl<V> ShelfState<V> {
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

impl<V> fmt::Debug for Shelf<V> {
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

    fn key(n: u32) -> CacheKey {
        CacheKey::of(&n.to_string())
    }

    fn accepted(auth: AuthInfo) -> Outcome {
        Ok(Arc::new(auth))
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

    #[test]
    fn cached_acceptances_never_outlive_exp() {
        let cache = Cache::new(Duration::from_secs(3600), Duration::from_secs(5), 10);
        let past = SystemTime::now() - Duration::from_secs(1);
        cache.remember(
            key(1),
            &accepted(AuthInfo::new("a").with_expires_at(past)),
            None,
        );
        assert!(cache.get(&key(1)).is_none());
        let soon = SystemTime::now() + Duration::from_secs(30);
        cache.remember(
            key(2),
            &accepted(AuthInfo::new("b").with_expires_at(soon)),
            None,
        );
        let expires = cache.accepted.as_ref().unwrap().lock().entries[&key(2)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(30));
    }

    #[test]
    fn refusals_are_remembered_briefly_and_never_past_nbf() {
        let cache = Cache::new(Duration::from_secs(60), Duration::from_secs(5), 10);
        let refused = Err(AuthError::InvalidToken("token is not active".into()));
        cache.remember(key(1), &refused, None);
        assert!(matches!(
            cache.get(&key(1)),
            Some(Err(AuthError::InvalidToken(_)))
        ));
        let expires = cache.refused.as_ref().unwrap().lock().entries[&key(1)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(5));

        // Valid from now on by its own `nbf`: not remembered at all.
        cache.remember(key(2), &refused, Some(SystemTime::now()));
        assert!(cache.get(&key(2)).is_none());
        let soon = SystemTime::now() + Duration::from_secs(1);
        cache.remember(key(3), &refused, Some(soon));
        let expires = cache.refused.as_ref().unwrap().lock().entries[&key(3)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(1));

        // The endpoint did not answer: nothing is known, nothing is remembered.
        cache.remember(key(4), &Err(AuthError::Unavailable("down".into())), None);
        assert!(cache.get(&key(4)).is_none());
    }

    #[test]
    fn refusals_never_evict_acceptances() {
        let cache = Cache::new(Duration::from_secs(60), Duration::from_secs(5), 4);
        cache.remember(key(0), &accepted(AuthInfo::new("a")), None);
        for n in 1..100 {
            cache.remember(key(n), &Err(AuthError::InvalidToken("no".into())), None);
        }
        assert!(matches!(cache.get(&key(0)), Some(Ok(_))));
        assert_eq!(cache.refused.as_ref().unwrap().lock().entries.len(), 4);
    }
}
