//! The verified-token cache of [`JwtVerifier`](super::JwtVerifier): tokens that passed every
//! check, by SHA-256 of the token, with what must still hold when one is served again.
//!
//! # Why serving a cached result weakens no check
//!
//! A JWT's verdict depends on the token's bytes, the verifier's configuration, the key set and
//! the clock. The cache holds the [`AuthInfo`] of a token that passed every check (signature,
//! algorithm, `iss`, `aud`, `exp`, `nbf`, `iat`, claim types, distinct names), keyed by the
//! token's SHA-256, so only the same bytes find it; the configuration never changes. What is
//! left is checked again on every hit:
//!
//! - **the clock**: an entry is served only while `now < exp` — stricter than a cold check,
//!   which allows the leeway past `exp` — and only while `now` is still past `nbf` and `iat`
//!   less the leeway, should the clock step back;
//! - **the keys**: each entry records the generation of the key set it was verified under; a
//!   refetched key set has a new generation, so a key that disappeared (rotation, revocation)
//!   takes its tokens out of the cache at once, and a key set past its maximum age serves no
//!   hit until it is refreshed, exactly as a cold check would refetch it.
//!
//! Failures are never cached. The cache is bounded: two generations of at most half the
//! capacity each; a hit in the older one moves the entry to the newer one, and when the newer
//! one is full the older one is dropped (an approximate LRU with O(1) operations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::AuthInfo;

/// A token that passed every check, and the limits of its validity.
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) auth: Arc<AuthInfo>,
    /// `exp`, in seconds since the epoch: served while `now < expires`.
    pub(crate) expires: u64,
    /// `max(nbf, iat) - leeway`: served while `now >= earliest`.
    pub(crate) earliest: u64,
    /// The key set generation the signature was checked under.
    pub(crate) generation: u64,
}

/// Verified tokens by SHA-256 of the token.
pub(crate) struct TokenCache {
    /// Entries per generation: half the capacity, at least one.
    half: usize,
    /// Whether the older generation is kept: not with a capacity of one.
    keep_old: bool,
    maps: Mutex<Maps>,
    /// Hits and misses, read by metrics.
    pub(crate) lookups: Arc<crate::observe::Lookups>,
}

#[derive(Default)]
struct Maps {
    young: HashMap<[u8; 32], Verified>,
    old: HashMap<[u8; 32], Verified>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; `None` for a capacity of 0.
    pub(crate) fn new(capacity: usize) -> Option<TokenCache> {
        (capacity > 0).then(|| TokenCache {
            half: (capacity / 2).max(1),
            keep_old: capacity > 1,
            maps: Mutex::default(),
            lookups: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The identity of the token with this digest, if it is cached and still valid at `now`
    /// under key set `generation` (`None` when the key set must be refreshed first).
    pub(crate) fn get(
        &self,
        digest: &[u8; 32],
        now: u64,
        generation: Option<u64>,
    ) -> Option<Arc<AuthInfo>> {
        let found = self.lookup(digest, now, generation);
        self.lookups.record(found.is_some());
        crate::observe::trace::record_cache_hit(found.is_some());
        found
    }

    fn lookup(
        &self,
        digest: &[u8; 32],
        now: u64,
        generation: Option<u64>,
    ) -> Option<Arc<AuthInfo>> {
        let usable =
            |v: &Verified| now < v.expires && now >= v.earliest && generation == Some(v.generation);
        let mut maps = self.lock();
        if let Some(verified) = maps.young.get(digest) {
            if usable(verified) {
                return Some(verified.auth.clone());
            }
            maps.young.remove(digest);
            return None;
        }
        let verified = maps.old.remove(digest)?;
        if !usable(&verified) {
            return None;
        }
        let auth = verified.auth.clone();
        self.insert_locked(&mut maps, *digest, verified);
        Some(auth)
    }

    /// Remembers a token that passed every check.
    pub(crate) fn insert(&self, digest: [u8; 32], verified: Verified) {
        let mut maps = self.lock();
        self.insert_locked(&mut maps, digest, verified);
    }

    fn insert_locked(&self, maps: &mut Maps, digest: [u8; 32], verified: Verified) {
        if maps.young.len() >= self.half && !maps.young.contains_key(&digest) {
            let young = std::mem::take(&mut maps.young);
            maps.old = if self.keep_old { young } else { HashMap::new() };
            maps.old.remove(&digest);
        }
        maps.young.insert(digest, verified);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let maps = self.lock();
        maps.young.len() + maps.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(generation: u64, expires: u64) -> Verified {
        Verified {
            auth: Arc::new(AuthInfo::new("alice")),
            expires,
            earliest: 100,
            generation,
        }
    }

    fn digest(n: u8) -> [u8; 32] {
        [n; 32]
    }

    /// A cache holding token 1, verified under key set `generation`, served from 100 to 200.
    fn holding_one(generation: u64) -> TokenCache {
        let cache = TokenCache::new(8).unwrap();
        cache.insert(digest(1), verified(generation, 200));
        cache
    }

    /// Whether `cache` serves token 1 at `now` under key set `generation`.
    fn hit(cache: &TokenCache, now: u64, generation: Option<u64>) -> bool {
        cache.get(&digest(1), now, generation).is_some()
    }

    #[test]
    fn entries_are_served_until_exp_only() {
        let cache = holding_one(0);
        assert!(hit(&cache, 199, Some(0)));
        assert!(!hit(&cache, 200, Some(0)), "at exp");
        assert!(!hit(&cache, 150, Some(0)), "dropped at exp");
    }

    #[test]
    fn entries_are_not_served_before_nbf_or_iat() {
        let cache = holding_one(0);
        assert!(!hit(&cache, 99, Some(0)), "the clock stepped back");
    }

    #[test]
    fn another_key_set_generation_invalidates() {
        let cache = holding_one(3);
        assert!(!hit(&cache, 150, None), "a stale key set");
        cache.insert(digest(1), verified(3, 200));
        assert!(!hit(&cache, 150, Some(4)), "a refetched key set");
        assert!(!hit(&cache, 150, Some(3)), "dropped when found stale");
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let cache = TokenCache::new(4).unwrap();
        for n in 0..100 {
            cache.insert(digest(n), verified(0, 200));
            // Token 0 is used all the time, so it survives every rotation.
            assert!(cache.get(&digest(0), 150, Some(0)).is_some(), "after {n}");
            assert!(cache.len() <= 4);
        }
        assert!(cache.get(&digest(1), 150, Some(0)).is_none(), "evicted");
        let single = TokenCache::new(1).unwrap();
        single.insert(digest(1), verified(0, 200));
        single.insert(digest(2), verified(0, 200));
        assert_eq!(single.len(), 1);
        assert!(single.get(&digest(2), 150, Some(0)).is_some());
        assert!(TokenCache::new(0).is_none());
    }
}
