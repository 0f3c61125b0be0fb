//! [`JwtVerifierBuilder`]: the settings of a [`JwtVerifier`], checked once.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{DecodingKey, Validation};

use super::{Inner, JwtVerifier, Keys};
use crate::auth::cache::TokenCache;
use crate::auth::claims::{ClaimMapping, ScopeClaim, canonical_resource, is_secure_url};
use crate::auth::fetch;
use crate::auth::jwks::{JwksCache, JwksSource, KeySet};
use crate::auth::{Algorithm, JwkSet};

/// Why a [`JwtVerifierBuilder`] refused its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The issuer is not an absolute `https` URL (or `http` on loopback).
    #[error("issuer `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureIssuer(String),
    /// The JWKS URL is not an absolute `https` URL (or `http` on loopback).
    #[error("JWKS URL `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureJwksUrl(String),
    /// The resource is not an absolute URI without fragment.
    #[error(
        "resource `{0}` must be an absolute URI without fragment, e.g. https://mcp.example.com/mcp"
    )]
    InvalidResource(String),
    /// The algorithm allow-list is empty, or holds an HMAC algorithm without a shared secret.
    #[error("{0}")]
    Algorithms(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The HMAC secret is shorter than the 32 bytes HS256 needs (RFC 7518 §3.2).
    #[error(
        "the HMAC secret is {0} bytes long; it must hold at least 32 random bytes (RFC 7518 §3.2)"
    )]
    WeakHmacSecret(usize),
}

/// Configures a [`JwtVerifier`]. Created by [`JwtVerifier::builder`].
///
/// | option | default |
/// | --- | --- |
/// | keys | discovered from the issuer's metadata |
/// | [`algorithms`](Self::algorithms) | [`JwtVerifier::DEFAULT_ALGORITHMS`] |
/// | [`leeway`](Self::leeway) | 60 s |
/// | [`scope_claim`](Self::scope_claim) | `scope` |
/// | [`tenant_claim`](Self::tenant_claim) | none |
/// | [`refetch_interval`](Self::refetch_interval) | 30 s |
/// | [`max_key_age`](Self::max_key_age) | 1 h |
/// | [`timeout`](Self::timeout) | 5 s |
/// | [`cache_capacity`](Self::cache_capacity) | [`JwtVerifier::DEFAULT_CACHE_CAPACITY`] (1024 tokens) |
/// | [`allow_untyped_tokens`](Self::allow_untyped_tokens) | off: `typ` must be `at+jwt` |
#[must_use]
pub struct JwtVerifierBuilder {
    issuer: String,
    resource: String,
    source: Option<JwksSource>,
    static_keys: Option<JwkSet>,
    hmac_secret: Option<Vec<u8>>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    mapping: ClaimMapping,
    refetch_interval: Duration,
    max_age: Duration,
    timeout: Duration,
    cache_capacity: usize,
    allow_untyped: bool,
}

impl JwtVerifierBuilder {
    pub(super) fn new(issuer: String, resource: String) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuer,
            resource,
            source: None,
            static_keys: None,
            hmac_secret: None,
            algorithms: None,
            leeway: Duration::from_secs(60),
            mapping: ClaimMapping::default(),
            refetch_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            cache_capacity: JwtVerifier::DEFAULT_CACHE_CAPACITY,
            allow_untyped: false,
        }
    }

    /// Also accepts access tokens that are not explicitly typed: `typ` absent, or the generic
    /// `JWT`. Off by default, as RFC 8725 §3.11 and RFC 9068 §4 advise: with it, an ID token
    /// (or any other JWT) the issuer signed for this audience cannot be told from an access
    /// token by its type. Turn it on only for an issuer that cannot type its access tokens
    /// `at+jwt`; the README's "Use a real issuer" says which do. Even then, every other
    /// explicit `typ` is refused, and so is a token that looks like an ID token: one carrying
    /// `nonce`, `at_hash`, `c_hash` or `s_hash`, one with `auth_time` but no scope claim, or one
    /// whose `typ` claim (Keycloak) is not `Bearer`.
    pub fn allow_untyped_tokens(mut self, allow: bool) -> Self {
        self.allow_untyped = allow;
        self
    }

    /// Fetches keys from this JWKS URL instead of discovering it.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(JwksSource::Url(url.into()));
        self
    }

    /// Verifies with these keys only; nothing is fetched.
    pub fn static_keys(mut self, keys: JwkSet) -> Self {
        self.static_keys = Some(keys);
        self
    }

    /// Also accepts HS256/384/512 tokens signed with this shared secret. Off by default: a
    /// shared secret lets anyone who holds it mint tokens. It must be at least
    /// [`JwtVerifier::MIN_HMAC_SECRET_LEN`] (32) bytes; [`build`](Self::build) refuses a shorter one.
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// The accepted algorithms, replacing [`JwtVerifier::DEFAULT_ALGORITHMS`].
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Where the token carries its scopes.
    pub fn scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.mapping.scope = claim;
        self
    }

    /// The claim naming the caller's tenant, for [`AuthInfo::tenant`](crate::auth::AuthInfo::tenant).
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.tenant = Some(claim.into());
        self
    }

    /// The least time between two fetches of the key set, whatever triggers them.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How long fetched keys are used before they are fetched again.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The bound on each request to the issuer (metadata and key set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many verified tokens to remember (default [`JwtVerifier::DEFAULT_CACHE_CAPACITY`]); `0` turns
    /// the cache off, so that every request is checked from scratch. See
    /// [`JwtVerifier`] for why remembering weakens no check.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<JwtVerifier, JwtConfigError> {
        crate::auth::install_crypto_provider();
        if !is_secure_url(&self.issuer) {
            return Err(JwtConfigError::InsecureIssuer(fetch::shown(&self.issuer)));
        }
        let resource = canonical_resource(&self.resource)
            .ok_or_else(|| JwtConfigError::InvalidResource(self.resource.clone()))?;
        let algorithms = self.algorithms.unwrap_or_else(|| {
            let mut algorithms = JwtVerifier::DEFAULT_ALGORITHMS.to_vec();
            if self.hmac_secret.is_some() {
                algorithms.extend(Algorithm::HMAC);
            }
            algorithms
        });
        if algorithms.is_empty() {
            return Err(JwtConfigError::Algorithms(
                "the algorithm allow-list is empty".into(),
            ));
        }
        if let Some(secret) = &self.hmac_secret
            && secret.len() < JwtVerifier::MIN_HMAC_SECRET_LEN
        {
            return Err(JwtConfigError::WeakHmacSecret(secret.len()));
        }
        if algorithms.iter().any(|a| a.is_hmac()) && self.hmac_secret.is_none() {
            return Err(JwtConfigError::Algorithms(
                "HMAC algorithms need an explicit `hmac_secret`".into(),
            ));
        }
        let mut seen = HashSet::new();
        let algorithms: Vec<jsonwebtoken::Algorithm> = (algorithms.into_iter())
            .filter(|a| seen.insert(*a))
            .map(Algorithm::to_jsonwebtoken)
            .collect();
        let keys = match self.static_keys {
            Some(set) => Keys::Static(KeySet::from_jwks(set.as_jsonwebtoken())),
            None => {
                let source = self.source.unwrap_or_else(|| JwksSource::Discover {
                    issuer: self.issuer.clone(),
                });
                if let JwksSource::Url(url) = &source
                    && !is_secure_url(url)
                {
                    // Shown without userinfo: errors end up in logs.
                    return Err(JwtConfigError::InsecureJwksUrl(fetch::shown(url)));
                }
                let http =
                    fetch::client(self.timeout).map_err(|e| JwtConfigError::Http(e.to_string()))?;
                Keys::Remote(JwksCache::new(
                    source,
                    http,
                    self.refetch_interval,
                    self.max_age,
                ))
            }
        };
        let validations = algorithms
            .iter()
            .map(|alg| (*alg, validation(*alg, &self.issuer, self.leeway.as_secs())))
            .collect();
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                resource_is_canonical: canonical_resource(&resource).as_deref()
                    == Some(resource.as_str()),
                resource,
                algorithms,
                validations,
                cache: TokenCache::new(self.cache_capacity),
                leeway: self.leeway.as_secs(),
                mapping: self.mapping,
                keys,
                hmac: self.hmac_secret.map(|s| DecodingKey::from_secret(&s)),
                allow_untyped: self.allow_untyped,
            }),
        })
    }
}

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The claim validation `jsonwebtoken` does for tokens signed with `alg`.
fn validation(alg: jsonwebtoken::Algorithm, issuer: &str, leeway: u64) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = leeway;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    // `aud` is compared in canonical form (RFC 8707) by `accept`, which `jsonwebtoken`'s exact
    // string comparison cannot do; the check itself is never skipped.
    validation.validate_aud = false;
    validation
}
