//! The issuer's signing keys: discovered, fetched, cached, refreshed on rotation, and never
//! fetched more often than the configured interval, however many unknown `kid`s arrive.
//!
//! A discovered `jwks_uri` must pass the rules of a configured URL before anything is fetched
//! from it, and every document is read under [`MAX_DOCUMENT_BYTES`] while it streams: see
//! [`fetch`](super::fetch) for the rules, other origins and redirects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::fetch::{self, BodyError};
use super::{AuthError, Readiness};

/// Largest key set or metadata document read from an issuer.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A verification key from a key set, with what it may verify.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    /// The algorithm the JWK pins with `alg`, if it does.
    alg: Option<Algorithm>,
    kind: KeyKind,
    pub(crate) decoding: DecodingKey,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl Key {
    /// Turns a JWK into a key, or `None` for keys that can never verify a token here:
    /// symmetric keys (an HMAC secret in a public key set is a misconfiguration, and using a
    /// public key as an HMAC secret is the classic algorithm-confusion attack), encryption
    /// keys, and curves or types we do not support.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Option<Key> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyKind::EcP256,
                EllipticCurve::P384 => KeyKind::EcP384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => Some(signing_algorithm(alg)?),
        };
        let decoding = DecodingKey::from_jwk(jwk).ok()?;
        Some(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            kind,
            decoding,
        })
    }

    /// Whether this key may verify a token signed with `alg`: the key type must be the one the
    /// algorithm uses, and a JWK that names its algorithm allows that one only.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        let kind_fits = match self.kind {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        };
        kind_fits && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The keys of one key set, by `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    without_kid: Vec<Arc<Key>>,
}

impl KeySet {
    pub(crate) fn from_jwks(set: &JwkSet) -> KeySet {
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            let Some(key) = Key::from_jwk(jwk) else {
                continue;
            };
            let key = Arc::new(key);
            match &key.kid {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), key);
                }
                None => keys.without_kid.push(key),
            }
        }
        keys
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// The key for a token's `kid` and `alg`. A token without `kid` may use a key set's only
    /// key that fits its algorithm; with several candidates it is ambiguous and refused.
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).filter(|k| k.allows(alg)).cloned(),
            None => {
                let mut candidates = self
                    .by_kid
                    .values()
                    .chain(&self.without_kid)
                    .filter(|k| k.allows(alg));
                let first = candidates.next()?;
                candidates.next().is_none().then(|| first.clone())
            }
        }
    }
}

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
            return set.find(kid, alg).ok_or_else(|| {
                AuthError::InvalidToken(
                    "no key of the issuer matches the token's `kid` and `alg`".into(),
                )
            });
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
        Err(AuthError::InvalidToken(
            "no key of the issuer matches the token's `kid` and `alg`".into(),
        ))
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
        match self.fetch(refresh).await {
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
        let set = self.fetch(&mut refresh).await?;
        let count = set.len();
        self.store(Arc::new(set));
        Ok(count)
    }

    async fn fetch(&self, refresh: &mut RefreshState) -> Result<KeySet, String> {
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
        let set: JwkSet = get_json(&self.http, &url).await?;
        let keys = KeySet::from_jwks(&set);
        if keys.len() == 0 {
            return Err(format!("the key set at {url} holds no usable signing key"));
        }
        Ok(keys)
    }
}

#[derive(Deserialize)]
struct AuthorizationServerMetadata {
    issuer: String,
    jwks_uri: Option<String>,
}

/// The metadata URLs to try for `issuer`, in the order the MCP authorization specification
/// gives: RFC 8414 with the issuer's path inserted, OpenID Connect Discovery with the path
/// inserted, then OpenID Connect Discovery with the path appended.
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<String>, String> {
    let url = Url::parse(issuer).map_err(|e| format!("invalid issuer URL: {e}"))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// Finds the issuer's `jwks_uri`. The metadata's `issuer` must be the configured issuer
/// exactly (RFC 8414 §3.3), or a compromised or confused document could substitute keys; the
/// `jwks_uri` must pass the rules of a configured URL (see [`fetch`](super::fetch)).
async fn discover_jwks_uri(http: &reqwest::Client, issuer: &str) -> Result<String, String> {
    let mut errors = Vec::new();
    for url in metadata_urls(issuer)? {
        match get_json::<AuthorizationServerMetadata>(http, &url).await {
            Ok(metadata) if metadata.issuer != issuer => {
                return Err(format!(
                    "the metadata at {url} names issuer {:?}, not the configured {issuer:?}",
                    metadata.issuer
                ));
            }
            Ok(metadata) => {
                let jwks_uri = metadata
                    .jwks_uri
                    .ok_or_else(|| format!("the metadata at {url} has no jwks_uri"))?;
                let parsed = fetch::check_discovered_url(&jwks_uri, issuer).map_err(|why| {
                    format!(
                        "the metadata at {url} advertises jwks_uri {}, which is not fetched: {why}",
                        fetch::shown(&jwks_uri)
                    )
                })?;
                let same_origin =
                    Url::parse(issuer).is_ok_and(|issuer| issuer.origin() == parsed.origin());
                tracing::info!(%jwks_uri, same_origin, "discovered the issuer's key set URL");
                return Ok(jwks_uri);
            }
            Err(err) => errors.push(err),
        }
    }
    Err(format!("issuer metadata not found: {}", errors.join("; ")))
}

/// Fetches a JSON document of at most [`MAX_DOCUMENT_BYTES`], read under that bound as it
/// streams. Redirects are not followed (the client's policy); a `3xx` is a failure.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(format!(
            "GET {url}: HTTP {status}: redirects are not followed, configure or publish the \
             final URL"
        ));
    }
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let body = match fetch::read_capped(response, MAX_DOCUMENT_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(format!(
                "GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        Err(BodyError::Http(e)) => return Err(format!("GET {url}: {e}")),
    };
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: invalid JSON document: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_the_mcp_discovery_order() {
        assert_eq!(
            metadata_urls("https://auth.example.com").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("http://localhost:8080/realms/master").unwrap(),
            [
                "http://localhost:8080/.well-known/oauth-authorization-server/realms/master",
                "http://localhost:8080/.well-known/openid-configuration/realms/master",
                "http://localhost:8080/realms/master/.well-known/openid-configuration"
            ]
        );
    }
}
