//! The issuer's signing keys: discovered, fetched, cached, refreshed on rotation, and never
//! fetched more often than the configured interval, however many unknown `kid`s arrive.
//!
//! A discovered `jwks_uri` must pass the rules of a configured URL before anything is fetched
//! from it, and every document is read under
//! [`MAX_DOCUMENT_BYTES`](discovery::MAX_DOCUMENT_BYTES) while it streams: see
//! [`fetch`](super::fetch) for the rules, other origins and redirects.

mod discovery;
mod keys;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use tokio::sync::Mutex;
use tracing::Instrument;

use self::discovery::{discover_jwks_uri, get_json};
pub(crate) use self::keys::{Key, KeySet};
use super::fetch;
use super::{AuthError, Readiness};

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksSource {
    /// `jwks_uri` from the issuer's metadata (RFC 8414, then OpenID Connect Discovery).
    Discover { issuer: String },
    /// An explicit key set URL.
    Url(String),
}

/// Fetches and caches a remote key set.
pub(crate) struct JwksCache {
    source: JwksSource,
    http: reqwest::Client,
    /// At most one fetch per interval, whatever triggers it.
    refetch_interval: Duration,
    /// Keys older than this are refreshed on the next request that needs them.
    max_age: Duration,
    keys: RwLock<Snapshot>,
    /// Held while fetching, so that concurrent misses share one fetch (single flight).
    refresh: Mutex<RefreshState>,
    /// Fetches started so far. A caller that finds it changed after waiting for `refresh`
    /// shares the outcome of the fetch it waited for instead of starting another, so that no
    /// caller waits for more than two fetches: otherwise callers queued behind a slow issuer
    /// would each wait for one more fetch, and the last of N would wait N timeouts.
    attempts: AtomicU64,
    /// Fetches and their outcome, read by metrics.
    pub(crate) fetches: Arc<crate::observe::Fetches>,
}

struct Snapshot {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
    /// Incremented with every key set stored, so that results verified under an earlier
    /// one (the verified-token cache) can tell.
    generation: u64,
}

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    jwks_url: Option<String>,
}

impl JwksCache {
    pub(crate) fn new(
        source: JwksSource,
        http: reqwest::Client,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Self {
        JwksCache {
            source,
            http,
            refetch_interval,
            max_age,
            keys: RwLock::new(Snapshot {
                keys: Arc::default(),
                fetched_at: None,
                generation: 0,
            }),
            refresh: Mutex::new(RefreshState::default()),
            attempts: AtomicU64::new(0),
            fetches: Arc::default(),
        }
    }

    fn snapshot(&self) -> (Arc<KeySet>, Option<Instant>) {
        let snapshot = self.keys.read().unwrap_or_else(|e| e.into_inner());
        (snapshot.keys.clone(), snapshot.fetched_at)
    }

    /// Replaces the key set.
    fn store(&self, keys: Arc<KeySet>) {
        let mut snapshot = self.keys.write().unwrap_or_else(|e| e.into_inner());
        *snapshot = Snapshot {
            keys,
            fetched_at: Some(Instant::now()),
            generation: snapshot.generation + 1,
        };
    }

    /// The generation of the current key set while it is fresh; `None` when it was never
    /// fetched or is older than the maximum age, and so must be refreshed before a result
    /// verified under it is served again.
    pub(crate) fn generation(&self) -> Option<u64> {
        let snapshot = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let fresh = snapshot
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        fresh.then_some(snapshot.generation)
    }

    /// The key for `kid` and `alg`. A miss or a stale set triggers a refetch, at most once per
    /// interval; concurrent callers wait for the same fetch instead of starting their own.
    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<Key>, AuthError> {
        let (keys, fetched_at) = self.snapshot();
        let fresh = fetched_at.is_some_and(|at| at.elapsed() < self.max_age);
        if let (true, Some(key)) = (fresh, keys.find(kid, alg)) {
            return Ok(key);
        }

        let attempts = self.attempts.load(Ordering::Acquire);
        let mut refresh = self.refresh.lock().await;
        // Another caller may have fetched while this one waited.
        let (keys, fetched_at) = self.snapshot();
        let fresh = fetched_at.is_some_and(|at| at.elapsed() < self.max_age);
        if let (true, Some(key)) = (fresh, keys.find(kid, alg)) {
            return Ok(key);
        }
        let waited_for_a_fetch = self.attempts.load(Ordering::Acquire) != attempts;
        let may_fetch = !waited_for_a_fetch
            && refresh
                .last_attempt
                .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_fetch && let Some(set) = self.refetch(&mut refresh).await {
            drop(refresh);
            return set.find(kid, alg).ok_or_else(unknown_key);
        }
        drop(refresh);
        // A stale set still holds the issuer's keys: keep using it while the issuer is
        // unreachable, rather than turning every caller away.
        if let Some(key) = keys.find(kid, alg) {
            return Ok(key);
        }
        if fetched_at.is_none() {
            // Never fetched successfully: nothing can be verified.
            return Err(AuthError::Unavailable(
                "the issuer's signing keys could not be fetched".into(),
            ));
        }
        Err(unknown_key())
    }

    /// Whether tokens can be checked: fresh keys are enough; otherwise the key set is
    /// fetched, at most once per refetch interval whatever asks, so that readiness probes
    /// never hammer the issuer.
    pub(crate) async fn readiness(&self) -> Readiness {
        if self.generation().is_some() {
            return Readiness::Ready;
        }
        let mut refresh = self.refresh.lock().await;
        if self.generation().is_some() {
            return Readiness::Ready;
        }
        let may_fetch = refresh
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_fetch && self.refetch(&mut refresh).await.is_some() {
            return Readiness::Ready;
        }
        let reason = refresh
            .last_error
            .clone()
            .unwrap_or_else(|| "the issuer's keys are due for a refresh".into());
        let (keys, fetched_at) = self.snapshot();
        if fetched_at.is_some() && keys.len() > 0 {
            Readiness::Degraded(reason)
        } else {
            Readiness::Unavailable(reason)
        }
    }

    /// Fetches the key set and stores it, recording the attempt and its outcome in `refresh`
    /// (held by the caller); `None` if the fetch failed, which is logged.
    async fn refetch(&self, refresh: &mut RefreshState) -> Option<Arc<KeySet>> {
        self.attempts.fetch_add(1, Ordering::AcqRel);
        refresh.last_attempt = Some(Instant::now());
        let fetched = self.fetch(refresh).await;
        self.fetches.record(fetched.is_ok());
        match fetched {
            Ok(set) => {
                tracing::info!(keys = set.len(), "fetched the issuer's signing keys");
                refresh.last_error = None;
                let set = Arc::new(set);
                self.store(set.clone());
                Some(set)
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot fetch the issuer's signing keys");
                refresh.last_error = Some(err);
                None
            }
        }
    }

    /// Fetches now, whatever the interval: used at start-up to fail fast.
    pub(crate) async fn warm_up(&self) -> Result<usize, String> {
        let mut refresh = self.refresh.lock().await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        refresh.last_attempt = Some(Instant::now());
        let fetched = self.fetch(&mut refresh).await;
        self.fetches.record(fetched.is_ok());
        let set = fetched?;
        let count = set.len();
        self.store(Arc::new(set));
        Ok(count)
    }

    /// Fetches the key set in a `mcp_auth.jwks.fetch` span.
    async fn fetch(&self, refresh: &mut RefreshState) -> Result<KeySet, String> {
        let span = crate::observe::trace::jwks_fetch_span();
        let fetched = self.fetch_keys(refresh).instrument(span.clone()).await;
        if fetched.is_err() {
            crate::observe::trace::record_error(&span, "jwks_unavailable");
        }
        fetched
    }

    async fn fetch_keys(&self, refresh: &mut RefreshState) -> Result<KeySet, String> {
        let url = match (&self.source, &refresh.jwks_url) {
            (JwksSource::Url(url), _) => {
                if let Err(why) = fetch::check_url(url) {
                    return Err(format!(
                        "the configured JWKS URL {} is not fetched: {why}",
                        fetch::shown(url)
                    ));
                }
                url.clone()
            }
            (JwksSource::Discover { .. }, Some(url)) => url.clone(),
            (JwksSource::Discover { issuer }, None) => {
                let url = discover_jwks_uri(&self.http, issuer).await?;
                refresh.jwks_url = Some(url.clone());
                url
            }
        };
        let set: jsonwebtoken::jwk::JwkSet = get_json(&self.http, &url).await?;
        let keys = KeySet::from_jwks(&set);
        if keys.len() == 0 {
            return Err(format!("the key set at {url} holds no usable signing key"));
        }
        Ok(keys)
    }
}

/// The refusal of a token that no key of the issuer verifies.
fn unknown_key() -> AuthError {
    AuthError::InvalidToken(crate::auth::InvalidToken::new(
        crate::auth::InvalidTokenKind::UnknownKey,
        "no key of the issuer matches the token's `kid` and `alg`",
    ))
}
