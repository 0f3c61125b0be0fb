//! What an [`IntrospectionVerifier`](super::IntrospectionVerifier) remembers: accepted tokens,
//! and refused ones for a shorter while (the negative cache), each on a shelf bounded in count
//! and time.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{CacheKey, Outcome};
use crate::auth::{AuthError, AuthInfo};
use crate::shelf::Shelf;

/// The verdicts remembered: accepted tokens, and refused ones for a shorter while. Each kind
/// has a shelf of its own, so that a flood of refused tokens never evicts an accepted one.
pub(super) struct Cache {
    accepted: Option<Shelf<CacheKey, Arc<AuthInfo>>>,
    refused: Option<Shelf<CacheKey, AuthError>>,
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
                let mut ttl = shelf.ttl();
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
                let mut ttl = shelf.ttl();
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn key(n: u32) -> CacheKey {
        CacheKey::of(&n.to_string())
    }

    fn accepted(auth: AuthInfo) -> Outcome {
        Ok(Arc::new(auth))
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
        let expires = cache.accepted.as_ref().unwrap().expires(&key(2)).unwrap();
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
        let expires = cache.refused.as_ref().unwrap().expires(&key(1)).unwrap();
        assert!(expires <= Instant::now() + Duration::from_secs(5));

        // Valid from now on by its own `nbf`: not remembered at all.
        cache.remember(key(2), &refused, Some(SystemTime::now()));
        assert!(cache.get(&key(2)).is_none());
        let soon = SystemTime::now() + Duration::from_secs(1);
        cache.remember(key(3), &refused, Some(soon));
        let expires = cache.refused.as_ref().unwrap().expires(&key(3)).unwrap();
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
        assert_eq!(cache.refused.as_ref().unwrap().len(), 4);
    }
}
