//! [`IntrospectionBuilder`]: the settings of an [`IntrospectionVerifier`], checked once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use url::Url;

use super::cache::Cache;
use super::flight::Flights;
use super::{ClientAuth, Credentials, Inner, IntrospectionVerifier};
use crate::auth::claims::{ClaimMapping, ScopeClaim, canonical_resource, is_secure_url};
use crate::auth::fetch;

/// Default bound on introspection requests in flight at once, per verifier (and its clones).
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;

/// Default bound on tokens waiting for a request slot, as a multiple of the bound on requests
/// in flight: a token at the back of a full queue waits about this many answers of the
/// endpoint, instead of up to the whole `timeout`.
const DEFAULT_QUEUED_PER_REQUEST: usize = 4;

/// Default time a refusal is remembered.
const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);

/// Why an [`IntrospectionBuilder`] refused its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionConfigError {
    /// The endpoint is not an absolute `https` URL (or `http` on loopback).
    #[error("introspection endpoint `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureEndpoint(String),
    /// The endpoint URL carries a user name or password.
    #[error("introspection endpoint URL must not carry credentials: use `.client_credentials(..)`")]
    CredentialsInUrl,
    /// The endpoint URL has a fragment (RFC 6749 §3.1: endpoint URIs have none).
    #[error("introspection endpoint URL `{0}` must not have a fragment")]
    FragmentInUrl(String),
    /// [`max_concurrent_requests`](IntrospectionBuilder::max_concurrent_requests) is zero.
    #[error("`max_concurrent_requests` must be at least 1")]
    NoConcurrentRequests,
    /// The resource is not an absolute URI without fragment.
    #[error(
        "resource `{0}` must be an absolute URI without fragment, e.g. https://mcp.example.com/mcp"
    )]
    InvalidResource(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Configures an [`IntrospectionVerifier`]. Created by [`IntrospectionVerifier::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`issuer`](Self::issuer) | not checked |
/// | [`client_credentials`](Self::client_credentials) | none sent |
/// | [`scope_claim`](Self::scope_claim) | [`ScopeClaim::Scope`] |
/// | [`tenant_claim`](Self::tenant_claim) | none |
/// | [`leeway`](Self::leeway) | 60 s |
/// | [`timeout`](Self::timeout) | 5 s |
/// | [`cache_max_ttl`](Self::cache_max_ttl) | 60 s |
/// | [`negative_cache_ttl`](Self::negative_cache_ttl) | 5 s |
/// | [`cache_capacity`](Self::cache_capacity) | 10 000 accepted, and as many refused |
/// | [`max_concurrent_requests`](Self::max_concurrent_requests) | 32 |
/// | [`max_queued_requests`](Self::max_queued_requests) | 4 × `max_concurrent_requests` |
#[must_use]
pub struct IntrospectionBuilder {
    endpoint: String,
    resource: String,
    issuer: Option<String>,
    credentials: Option<Credentials>,
    mapping: ClaimMapping,
    leeway: Duration,
    timeout: Duration,
    cache_max_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: usize,
    max_concurrent_requests: usize,
    max_queued_requests: Option<usize>,
}

impl IntrospectionBuilder {
    pub(super) fn new(endpoint: String, resource: String) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint,
            resource,
            issuer: None,
            credentials: None,
            mapping: ClaimMapping::default(),
            leeway: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            cache_max_ttl: Duration::from_secs(60),
            negative_cache_ttl: DEFAULT_NEGATIVE_CACHE_TTL,
            cache_capacity: 10_000,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_queued_requests: None,
        }
    }

    /// Accepts only responses whose `iss` equals `issuer` exactly. Without it, `iss` is not
    /// checked: the endpoint is trusted to answer for its own tokens only.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Authenticates to the endpoint as the client `client_id` with `secret`, sent as `method`
    /// says. RFC 7662 §2.1 requires endpoints to authenticate their callers, so real
    /// deployments need this.
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
        method: ClientAuth,
    ) -> Self {
        self.credentials = Some(Credentials {
            client_id: client_id.into(),
            secret: secret.into(),
            method,
        });
        self
    }

    /// Where the response carries the scopes.
    pub fn scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.mapping.scope = claim;
        self
    }

    /// The member naming the caller's tenant, for [`AuthInfo::tenant`](crate::auth::AuthInfo::tenant).
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.tenant = Some(claim.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`. It widens acceptance only: cached results
    /// still never outlive `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The bound on each request to the endpoint, connecting and reading the answer included;
    /// also the longest wait for a free request slot (see
    /// [`max_concurrent_requests`](Self::max_concurrent_requests)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an accepted token is remembered; zero turns the cache off. This is how long a
    /// revoked token may still be accepted.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = ttl;
        self
    }

    /// How long a refused token is remembered (default 5 s), so that repeating it does not
    /// reach the endpoint again; zero turns this off. Never past the moment the token's `nbf`
    /// would let it through; failures to get an answer are never remembered. This is how long
    /// a token the endpoint wrongly called inactive (a lagging replica) stays refused.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// How many accepted tokens are remembered at most, and how many refused ones; zero turns
    /// both caches off.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The most introspection requests in flight at once (default 32), whatever the number of
    /// requests to this server; the others wait, for at most the [`timeout`](Self::timeout),
    /// then fail with `503`. Zero is refused by [`build`](Self::build).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// The most tokens waiting at once for an introspection request slot (default 4 ×
    /// [`max_concurrent_requests`](Self::max_concurrent_requests)); beyond it, a new token
    /// fails with `503` at once instead of waiting. Requests with a token already waiting or
    /// in flight join it and are never refused. Zero means never wait: a new token that finds
    /// every slot taken fails at once.
    pub fn max_queued_requests(mut self, max: usize) -> Self {
        self.max_queued_requests = Some(max);
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<IntrospectionVerifier, IntrospectionConfigError> {
        let endpoint = Url::parse(&self.endpoint)
            .map_err(|_| IntrospectionConfigError::InsecureEndpoint(self.endpoint.clone()))?;
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(IntrospectionConfigError::CredentialsInUrl);
        }
        if endpoint.fragment().is_some() {
            return Err(IntrospectionConfigError::FragmentInUrl(self.endpoint));
        }
        if !is_secure_url(&self.endpoint) {
            return Err(IntrospectionConfigError::InsecureEndpoint(self.endpoint));
        }
        if self.max_concurrent_requests == 0 {
            return Err(IntrospectionConfigError::NoConcurrentRequests);
        }
        let resource = canonical_resource(&self.resource)
            .ok_or_else(|| IntrospectionConfigError::InvalidResource(self.resource.clone()))?;
        let http = fetch::client(self.timeout)
            .map_err(|e| IntrospectionConfigError::Http(e.to_string()))?;
        let cache = Cache::new(
            self.cache_max_ttl,
            self.negative_cache_ttl,
            self.cache_capacity,
        );
        let max_concurrent_requests = self.max_concurrent_requests.min(Semaphore::MAX_PERMITS);
        let max_queued_requests = self
            .max_queued_requests
            .unwrap_or(max_concurrent_requests.saturating_mul(DEFAULT_QUEUED_PER_REQUEST));
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                resource,
                issuer: self.issuer,
                credentials: self.credentials,
                mapping: self.mapping,
                leeway: self.leeway,
                timeout: self.timeout,
                http,
                cache,
                lookups: Default::default(),
                flights: Flights::default(),
                permits: Arc::new(Semaphore::new(max_concurrent_requests)),
                max_concurrent_requests,
                max_queued_requests,
            }),
        })
    }
}

impl fmt::Debug for IntrospectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionBuilder")
            .field("endpoint", &self.endpoint)
            .field("resource", &self.resource)
            .field("issuer", &self.issuer)
            .field(
                "client_id",
                &self.credentials.as_ref().map(|c| &c.client_id),
            )
            .field("client_auth", &self.credentials.as_ref().map(|c| c.method))
            .field("scope_claim", &self.mapping.scope)
            .field("tenant_claim", &self.mapping.tenant)
            .field("leeway", &self.leeway)
            .field("timeout", &self.timeout)
            .field("cache_max_ttl", &self.cache_max_ttl)
            .field("negative_cache_ttl", &self.negative_cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("max_queued_requests", &self.max_queued_requests)
            .finish_non_exhaustive()
    }
}
