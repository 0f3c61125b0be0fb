//! [`JwtVerifier`]: JWT access tokens (RFC 9068) checked against the issuer's keys.

mod builder;
mod names;
mod typ;
mod validate;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{DecodingKey, Validation};
use sha2::{Digest, Sha256};

use super::cache::{TokenCache, Verified};
use super::claims::{ClaimMapping, now};
use super::jwks::{JwksCache, Key, KeySet};
use super::{Algorithm, AuthError, AuthInfo, Readiness, TokenVerifier};

pub use self::builder::{JwtConfigError, JwtVerifierBuilder};

/// Validates JWT access tokens: signature with the issuer's keys, `iss`, `aud`, `exp`, `nbf`,
/// `iat`, and the algorithm against an allow-list.
///
/// Every rule (keys and their discovery, algorithms, `typ`, bound tokens, claims, the cache of
/// verified tokens) is in the [JWT access tokens](crate::auth#jwt-access-tokens) part of the
/// guide.
///
/// ```no_run
/// use mcp_auth_runtime::auth::{JwtVerifier, ScopeClaim};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = JwtVerifier::builder(
///     "https://auth.example.com/realms/billing",   // the issuer, exactly as in `iss`
///     "https://billing.example.com/mcp",           // this server: the audience
/// )
/// .scope_claim(ScopeClaim::Scope)
/// .tenant_claim("tenant")
/// .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    resource: String,
    /// Whether `resource` is its own canonical form, so that an audience equal to it needs no
    /// parsing to match.
    resource_is_canonical: bool,
    algorithms: Vec<jsonwebtoken::Algorithm>,
    /// The claim validation of each allowed algorithm, built once.
    validations: Vec<(jsonwebtoken::Algorithm, Validation)>,
    cache: Option<TokenCache>,
    leeway: u64,
    mapping: ClaimMapping,
    keys: Keys,
    hmac: Option<DecodingKey>,
    /// Whether tokens with `typ` absent or `JWT` are accepted too.
    allow_untyped: bool,
}

enum Keys {
    Remote(JwksCache),
    Static(KeySet),
}

impl JwtVerifier {
    /// The asymmetric algorithms accepted by default (RFC 8725 §3.1: an explicit allow-list):
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and EdDSA.
    pub const DEFAULT_ALGORITHMS: &'static [Algorithm] = &Algorithm::ASYMMETRIC;

    /// How many verified tokens a [`JwtVerifier`] remembers by default; see
    /// [`cache_capacity`](JwtVerifierBuilder::cache_capacity).
    pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

    /// The least length of an [`hmac_secret`](JwtVerifierBuilder::hmac_secret): RFC 7518 §3.2
    /// requires a key at least as long as the hash.
    pub const MIN_HMAC_SECRET_LEN: usize = 32;

    /// Starts configuring a verifier for tokens of `issuer` minted for `resource` (this
    /// server's canonical URI, the expected audience).
    pub fn builder(issuer: impl Into<String>, resource: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder::new(issuer.into(), resource.into())
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Fetches the issuer's keys now (discovering them if needed), so that a misconfigured or
    /// unreachable issuer shows at start-up rather than on the first request. Returns the
    /// number of usable keys.
    pub async fn warm_up(&self) -> Result<usize, AuthError> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.warm_up().await.map_err(AuthError::Unavailable),
            Keys::Static(keys) => Ok(keys.len()),
        }
    }

    /// Whether tokens can be checked now: see [`TokenVerifier::ready`].
    pub async fn readiness(&self) -> Readiness {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.readiness().await,
            Keys::Static(_) => Readiness::Ready,
        }
    }

    async fn key(
        &self,
        kid: Option<&str>,
        alg: jsonwebtoken::Algorithm,
    ) -> Result<Arc<Key>, AuthError> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.key(kid, alg).await,
            Keys::Static(keys) => keys.find(kid, alg).ok_or_else(|| {
                AuthError::InvalidToken(crate::auth::InvalidToken::new(
                    crate::auth::InvalidTokenKind::UnknownKey,
                    "no configured key matches the token's `kid` and `alg`",
                ))
            }),
        }
    }

    /// Counts this verifier's cache lookups and key-set fetches in `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &crate::observe::Metrics) {
        if let Some(cache) = &self.inner.cache {
            metrics.attach_cache(crate::observe::CacheKind::Jwt, &cache.lookups);
        }
        if let Keys::Remote(jwks) = &self.inner.keys {
            metrics.attach_fetches(&jwks.fetches);
        }
    }

    /// The generation of the key set results are verified under; `None` while it must be
    /// refreshed before a remembered result may be served.
    fn key_generation(&self) -> Option<u64> {
        match &self.inner.keys {
            Keys::Remote(cache) => cache.generation(),
            Keys::Static(_) => Some(0),
        }
    }

    /// What must still hold when `auth`, verified under key set `generation`, is served
    /// again; `None` if its time claims cannot be read back (it is then not remembered).
    fn limits(&self, auth: &Arc<AuthInfo>, generation: u64) -> Option<Verified> {
        let secs = |claim: &str| match auth.claims().get(claim) {
            None => Some(0),
            Some(value) => value.as_u64(),
        };
        let expires = auth
            .expires_at()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let earliest = secs("nbf")?
            .max(secs("iat")?)
            .saturating_sub(self.inner.leeway);
        Some(Verified {
            auth: auth.clone(),
            expires,
            earliest,
            generation,
        })
    }
}

impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.verify_shared(token).await.map(Arc::unwrap_or_clone)
    }

    async fn ready(&self) -> Readiness {
        self.readiness().await
    }

    fn resource(&self) -> Option<&str> {
        Some(&self.inner.resource)
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        let Some(cache) = &self.inner.cache else {
            return self.verify_uncached(token).await.map(Arc::new);
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Read before the key lookup: a key set stored meanwhile has a later generation, so
        // the result is remembered under the older one and checked again on its next use.
        let generation = self.key_generation();
        if let Some(auth) = cache.get(&digest, now(), generation) {
            return Ok(auth);
        }
        let auth = Arc::new(self.verify_uncached(token).await?);
        if let Some(verified) = generation.and_then(|generation| self.limits(&auth, generation)) {
            cache.insert(digest, verified);
        }
        Ok(auth)
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("JwtVerifier")
            .field("issuer", &inner.issuer)
            .field("resource", &inner.resource)
            .field("algorithms", &inner.algorithms)
            .field("leeway", &inner.leeway)
            .field("mapping", &inner.mapping)
            .field("hmac_secret", &inner.hmac.as_ref().map(|_| "<redacted>"))
            .field("allow_untyped_tokens", &inner.allow_untyped)
            .finish_non_exhaustive()
    }
}
