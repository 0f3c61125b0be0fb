//! [`IntrospectionVerifier`]: opaque access tokens checked by asking the authorization server
//! (RFC 7662 token introspection).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use mcp_auth_runtime::auth::{ClientAuth, IntrospectionVerifier, ScopeClaim};
//! use mcp_auth_runtime::prelude::*;
//!
//! /// Look up an invoice.
//! #[tool(scope = "invoices:read", read_only)]
//! async fn lookup_invoice(ctx: ToolContext, invoice_id: String) -> Result<String, ToolError> {
//!     Ok(format!("{invoice_id} of tenant {}", ctx.auth().tenant().unwrap_or("?")))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = IntrospectionVerifier::builder(
//!     "https://auth.example.com/oauth2/introspect", // the RFC 7662 endpoint
//!     "https://billing.example.com/mcp",            // this server: the audience
//! )
//! .issuer("https://auth.example.com")
//! .client_credentials("billing-mcp", std::env::var("INTROSPECTION_SECRET")?, ClientAuth::Basic)
//! .scope_claim(ScopeClaim::Scope)
//! .tenant_claim("tenant")
//! .cache_max_ttl(Duration::from_secs(30))
//! .build()?;
//!
//! let app: axum::Router = McpServer::builder("billing", "1.0.0")
//!     .tools(tools![lookup_invoice])
//!     .resource("https://billing.example.com/mcp")
//!     .authorization_server("https://auth.example.com")
//!     .verifier(verifier)
//!     .build()?
//!     .into_router();
//! # let _ = app;
//! # Ok(()) }
//! ```

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
/// Each token is sent as `token=..&token_type_hint=access_token` in a form-urlencoded `POST`,
/// authenticated with the [client credentials](IntrospectionBuilder::client_credentials) of
/// this resource server. The response is accepted only when
///
/// - `active` is the JSON boolean `true`;
/// - `aud` (a string or an array) contains the resource, compared in canonical form. A
///   response **without `aud` is rejected**: RFC 7662 makes the member optional, but without
///   it a token issued for any other resource would be accepted here (RFC 8707, MCP
///   authorization: audience validation). Configure the authorization server to return the
///   audience, typically by having clients request tokens with `resource=<this server>`;
/// - `iss` equals the configured [`issuer`](IntrospectionBuilder::issuer) exactly, when one is
///   configured (a response without `iss` is then rejected);
/// - `exp`, when present, lies in the future and `nbf`, when present, in the past, both with a
///   [`leeway`](IntrospectionBuilder::leeway);
/// - it has no `cnf` member: such a token is sender-constrained (DPoP, RFC 9449; mutual TLS,
///   RFC 8705), and this bearer-only resource server cannot check the proof of possession, so
///   accepting it would turn a bound token back into a bearer one.
///
/// Claims of the wrong JSON type reject the token. Anything that prevents an answer (the
/// endpoint is unreachable or slow beyond the [`timeout`](IntrospectionBuilder::timeout),
/// answers a non-2xx status or a body that is not a JSON object) is
/// [`AuthError::Unavailable`]: the request fails closed with `503`, never passes. A `401` or
/// `403` from the endpoint means the client credentials are wrong; it is logged at `error`
/// level as a misconfiguration.
///
/// # Cache
///
/// Accepted tokens are cached, keyed by the SHA-256 of the token (the token itself is never
/// stored), for [`cache_max_ttl`](IntrospectionBuilder::cache_max_ttl) (default 60 s) and never
/// past the token's `exp`. A revoked token can therefore be accepted for up to that long after
/// revocation; a zero TTL turns this cache off.
///
/// Refused tokens (the endpoint answered, and the answer does not let the token through:
/// inactive, another audience, expired, `cnf`, ...) are remembered too, for
/// [`negative_cache_ttl`](IntrospectionBuilder::negative_cache_ttl) (default 5 s), so that a
/// client repeating a bad token costs the authorization server one request per TTL. A refusal
/// is never remembered past the moment the token's own `nbf` would let it through, and a
/// failure to get an answer (timeout, connection error, non-2xx status, a body that is not a
/// JSON object) is never remembered at all. The price: a token that the authorization server
/// calls inactive and then active (a replica lagging behind the one that issued it) is refused
/// for up to the TTL; a zero TTL turns this cache off.
///
/// Each cache holds at most [`cache_capacity`](IntrospectionBuilder::cache_capacity) entries;
/// when full, the oldest entry goes first. Refusals have their own entries, so a flood of
/// random tokens never evicts an accepted one.
///
/// # Load on the authorization server
///
/// Random tokens cannot be turned into a flood of introspection requests, nor into work that
/// outlives the requests that carried them:
///
/// - concurrent requests with the same token share one introspection request (single
///   flight), keyed by the SHA-256 of the token;
/// - at most [`max_concurrent_requests`](IntrospectionBuilder::max_concurrent_requests)
///   (default 32) introspection requests are in flight at once; a token that finds them all
///   taken waits its turn, in arrival order, for at most the
///   [`timeout`](IntrospectionBuilder::timeout), then fails closed with `503`;
/// - at most [`max_queued_requests`](IntrospectionBuilder::max_queued_requests) tokens (default
///   4 × `max_concurrent_requests`) wait at once; beyond it, a new token fails with `503` at
///   once rather than after the timeout. A token already waiting or in flight is joined, never
///   refused;
/// - a token waiting for a request slot is forgotten as soon as the last request waiting for
///   it goes away (its client disconnected): nothing is left running, holding the token, or
///   waiting to be sent. A request already sent finishes, and its verdict is cached, even if
///   every client that asked went away: the answer is not wasted, and at most
///   `max_concurrent_requests` of them run at once;
/// - tokens found in the cache never wait, whatever the load: a flood of random tokens does
///   not slow down tokens already accepted.
///
/// A flood of random tokens larger than the endpoint can answer still competes with a
/// legitimate token that is not cached yet: the latter may be refused with `503` (and
/// `Retry-After`) while the flood lasts, quickly rather than after the timeout.
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

    /// The verdict on `token`: from the cache, from the flight under way for the same token,
    /// or from a new flight.
    async fn verdict(&self, token: &str) -> Outcome {
        let key = CacheKey::of(token);
        if let Some(outcome) = self.inner.cache.get(&key) {
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
