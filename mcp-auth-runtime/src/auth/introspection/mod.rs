//! [`IntrospectionVerifier`]: opaque access tokens checked by asking the authorization server
//! (RFC 7662 token introspection).

mod builder;
mod cache;
mod client;
mod flight;
mod validate;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;

use self::cache::Cache;
use self::flight::Flights;
use self::validate::numeric_date;
use super::claims::ClaimMapping;
use super::{AuthError, AuthInfo, TokenVerifier};

pub use self::builder::{IntrospectionBuilder, IntrospectionConfigError};

/// How the resource server authenticates to the introspection endpoint (RFC 7662 §2.1,
/// RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic authentication, with the client id and secret each
    /// form-urlencoded first (RFC 6749 §2.3.1). Every authorization server supports it; the
    /// default.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// Validates opaque access tokens by asking the authorization server about each one (RFC 7662
/// token introspection).
///
/// What a response must say to be accepted, what is cached and for how long, and how the load
/// on the authorization server stays bounded: the
/// [introspection](crate::auth#opaque-tokens-introspection) part of the guide.
///
/// Clones of a verifier share its caches, its requests in flight, their bound and its HTTP
/// connection pool.
///
/// `Debug` output shows the configuration but never the client secret or a token.
///
/// ```no_run
/// use mcp_auth_runtime::auth::{ClientAuth, IntrospectionVerifier};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = IntrospectionVerifier::builder(
///     "https://auth.example.com/oauth2/introspect",
///     "https://billing.example.com/mcp",
/// )
/// .client_credentials("billing-mcp", std::env::var("INTROSPECTION_SECRET")?, ClientAuth::Post)
/// .build()?;
/// # let _ = verifier;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Url,
    resource: String,
    issuer: Option<String>,
    credentials: Option<Credentials>,
    mapping: ClaimMapping,
    leeway: Duration,
    timeout: Duration,
    http: reqwest::Client,
    cache: Cache,
    /// Hits and misses of `cache`, read by metrics.
    lookups: Arc<crate::observe::Lookups>,
    flights: Flights,
    /// Permits for introspection requests in flight.
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
    max_queued_requests: usize,
}

/// The client id and secret of this resource server at the authorization server.
#[derive(Clone)]
struct Credentials {
    client_id: String,
    secret: String,
    method: ClientAuth,
}

impl IntrospectionVerifier {
    /// Starts configuring a verifier that asks `endpoint` (the authorization server's
    /// `introspection_endpoint`) about tokens, accepting only tokens whose audience is
    /// `resource`, the canonical URI of this server (e.g. `https://billing.example.com/mcp`).
    pub fn builder(
        endpoint: impl Into<String>,
        resource: impl Into<String>,
    ) -> IntrospectionBuilder {
        IntrospectionBuilder::new(endpoint.into(), resource.into())
    }

    /// The introspection endpoint.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The resource tokens must be issued for, in canonical form.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// Counts this verifier's cache lookups in `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &crate::observe::Metrics) {
        metrics.attach_cache(
            crate::observe::CacheKind::Introspection,
            &self.inner.lookups,
        );
    }

    /// The verdict on `token`: from the cache, from the flight under way for the same token,
    /// or from a new flight.
    async fn verdict(&self, token: &str) -> Outcome {
        let key = CacheKey::of(token);
        let cached = self.inner.cache.get(&key);
        self.inner.lookups.record(cached.is_some());
        crate::observe::trace::record_cache_hit(cached.is_some());
        if let Some(outcome) = cached {
            return outcome;
        }
        match self.board(key, token) {
            Ok(verdict) => verdict.await,
            Err(outcome) => outcome,
        }
    }
    /// Asks the endpoint about `token` and judges the answer. Also returns when a refusal
    /// may stop holding: `nbf` less the leeway, if in the future.
    async fn ask(&self, token: &str) -> (Outcome, Option<SystemTime>) {
        let inner = &*self.inner;
        let response = match self.introspect(token).await {
            Ok(response) => response,
            Err(err) => return (Err(err), None),
        };
        let valid_from = numeric_date(&response, "nbf")
            .ok()
            .flatten()
            .and_then(|nbf| nbf.checked_sub(inner.leeway))
            .filter(|from| *from > SystemTime::now());
        (self.validate(response).map(Arc::new), valid_from)
    }
}

impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.verdict(token).await.map(|auth| AuthInfo::clone(&auth))
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        self.verdict(token).await
    }

    fn resource(&self) -> Option<&str> {
        Some(&self.inner.resource)
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &inner.endpoint.as_str())
            .field("resource", &inner.resource)
            .field("issuer", &inner.issuer)
            .field(
                "client_id",
                &inner.credentials.as_ref().map(|c| &c.client_id),
            )
            .field("client_auth", &inner.credentials.as_ref().map(|c| c.method))
            .field("scope_claim", &inner.mapping.scope)
            .field("tenant_claim", &inner.mapping.tenant)
            .field("leeway", &inner.leeway)
            .field("timeout", &inner.timeout)
            .field("cache", &inner.cache)
            .field("max_concurrent_requests", &inner.max_concurrent_requests)
            .field("max_queued_requests", &inner.max_queued_requests)
            .finish_non_exhaustive()
    }
}

/// What the caches and the requests in flight are keyed by: the SHA-256 of a token, so that
/// no map holds a token, and neither a memory dump nor a debug print of one yields usable
/// credentials.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey([u8; 32]);

impl CacheKey {
    fn of(token: &str) -> CacheKey {
        CacheKey(Sha256::digest(token.as_bytes()).into())
    }
}

/// What verifying a token gives, shared by every request waiting for it.
type Outcome = Result<Arc<AuthInfo>, AuthError>;
