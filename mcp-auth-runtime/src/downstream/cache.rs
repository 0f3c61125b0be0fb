//! The exchanged tokens kept: keyed by the SHA-256 of (inbound token, downstream, sorted
//! scopes), each kept until `refresh_before` ahead of its own expiry and never past the
//! inbound token's, at most `capacity` of them (the oldest evicted first).
//!
//! A response without `expires_in` is not cached (nothing says how long the token lives), nor
//! is anything exchanged for an inbound token whose expiry is unknown: a cached token must
//! never serve a caller whose own token has expired.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::token::Target;
use super::{Downstream, DownstreamToken, SubjectToken};
use crate::shelf::Shelf;

/// The longest a token is kept, whatever its lifetime: one day.
const MAX_KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// What the cache and the exchanges in flight are keyed by: no map holds the inbound token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CacheKey([u8; 32]);

impl CacheKey {
    pub(super) fn of(subject: &SubjectToken, downstream: &Downstream) -> CacheKey {
        let mut digest = Sha256::new();
        // Each part length-prefixed, so that no two requests hash the same parts.
        let mut part = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        };
        part(subject.token.as_bytes());
        match &downstream.target {
            Target::Resource(uri) => part(format!("resource {uri}").as_bytes()),
            Target::Audience(name) => part(format!("audience {name}").as_bytes()),
        }
        for scope in downstream.sorted_scopes() {
            part(scope.as_bytes());
        }
        CacheKey(digest.finalize().into())
    }
}

/// Exchanged tokens by [`CacheKey`].
pub(super) struct Cache {
    shelf: Option<Shelf<CacheKey, DownstreamToken>>,
    refresh_before: Duration,
}

impl Cache {
    /// A cache of `capacity` tokens (`0`: none), each handed out until `refresh_before` ahead
    /// of its expiry.
    pub(super) fn new(capacity: usize, refresh_before: Duration) -> Cache {
        Cache {
            shelf: Shelf::new(MAX_KEPT, capacity),
            refresh_before,
        }
    }

    pub(super) fn get(&self, key: &CacheKey) -> Option<DownstreamToken> {
        self.shelf.as_ref()?.get(key)
    }

    /// Keeps `token`, which lives `lifetime` from now, for `subject` as long as allowed.
    pub(super) fn remember(
        &self,
        key: CacheKey,
        token: &DownstreamToken,
        lifetime: Option<Duration>,
        subject: &SubjectToken,
    ) {
        let Some(shelf) = &self.shelf else { return };
        if let Some(kept) = kept_for(lifetime, subject.expires_at, self.refresh_before) {
            shelf.insert(key, token.clone(), kept.min(shelf.ttl()));
        }
    }
}

/// How long a token living `lifetime` from now may be handed out for a subject token expiring
/// at `subject_expires`: `None` when it may not be kept at all.
fn kept_for(
    lifetime: Option<Duration>,
    subject_expires: Option<SystemTime>,
    refresh_before: Duration,
) -> Option<Duration> {
    let own = lifetime?.checked_sub(refresh_before)?;
    let subject_left = subject_expires?.duration_since(SystemTime::now()).ok()?;
    Some(own.min(subject_left)).filter(|kept| !kept.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(token: &str, expires_in: u64) -> SubjectToken {
        SubjectToken {
            token: token.into(),
            expires_at: Some(SystemTime::now() + Duration::from_secs(expires_in)),
        }
    }

    #[test]
    fn keys_differ_by_inbound_token_target_and_scopes_but_not_scope_order() {
        let payments = Downstream::resource("https://p.example/api").scopes(["a", "b"]);
        let key = CacheKey::of(&subject("t1", 60), &payments);
        assert!(key == CacheKey::of(&subject("t1", 60), &payments.clone().scopes(["b", "a"])));
        for other in [
            CacheKey::of(&subject("t2", 60), &payments),
            CacheKey::of(&subject("t1", 60), &payments.clone().scopes(["a"])),
            CacheKey::of(
                &subject("t1", 60),
                &Downstream::audience("https://p.example/api").scopes(["a", "b"]),
            ),
            CacheKey::of(
                &subject("t1", 60),
                &Downstream::resource("https://p.example/api").scopes(["a b"]),
            ),
        ] {
            assert!(key != other);
        }
    }

    #[test]
    fn a_token_is_kept_until_refresh_before_its_expiry_and_never_past_the_inbound_token() {
        let minute = Duration::from_secs(60);
        let soon = |secs| Some(SystemTime::now() + Duration::from_secs(secs));
        let kept = kept_for(Some(5 * minute), soon(3600), minute).unwrap();
        assert_eq!(kept, 4 * minute);
        let kept = kept_for(Some(5 * minute), soon(90), minute).unwrap();
        assert!(kept <= Duration::from_secs(90) && kept > minute, "{kept:?}");
        assert_eq!(kept_for(None, soon(3600), minute), None, "no expires_in");
        assert_eq!(
            kept_for(Some(5 * minute), None, minute),
            None,
            "no inbound exp"
        );
        assert_eq!(
            kept_for(Some(minute), soon(3600), minute),
            None,
            "no time left"
        );
        let past = Some(SystemTime::now() - minute);
        assert_eq!(
            kept_for(Some(5 * minute), past, minute),
            None,
            "inbound expired"
        );
    }

    #[test]
    fn a_cache_of_zero_keeps_nothing() {
        let cache = Cache::new(0, Duration::from_secs(30));
        let subject = subject("t", 3600);
        let key = CacheKey::of(&subject, &Downstream::audience("p"));
        let token = DownstreamToken {
            token: "x".into(),
            expires_at: None,
            scopes: vec![],
        };
        cache.remember(key, &token, Some(Duration::from_secs(300)), &subject);
        assert!(cache.get(&key).is_none());
        let cache = Cache::new(1, Duration::from_secs(30));
        cache.remember(key, &token, Some(Duration::from_secs(300)), &subject);
        assert!(cache.get(&key).is_some());
    }
}
