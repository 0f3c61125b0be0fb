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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, WeakShared};
use http::StatusCode;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::claims::{
    ClaimMapping, ScopeClaim, audience_matches, canonical_resource, is_secure_url,
};
use super::fetch::{self, BodyError};
use super::{AuthError, AuthInfo, TokenVerifier};

/// Largest introspection response read. Real responses are a few hundred bytes; the bound
/// keeps a misbehaving endpoint from filling memory, and is enforced while the body streams.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Default bound on introspection requests in flight at once, per verifier (and its clones).
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;

/// Default bound on tokens waiting for a request slot, as a multiple of the bound on requests
/// in flight: a token at the back of a full queue waits about this many answers of the
/// endpoint, instead of up to the whole `timeout`.
const DEFAULT_QUEUED_PER_REQUEST: usize = 4;

/// Default time a refusal is remembered.
const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);

/// Latest `exp` or `nbf` accepted (the last second of year 9999): larger values are nonsense,
/// and would overflow `SystemTime` arithmetic.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

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
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            resource: resource.into(),
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

    /// The introspection endpoint.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The resource tokens must be issued for, in canonical form.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// Asks the endpoint about `token`; returns the response's members, or why there is none.
    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let inner = &*self.inner;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = inner
            .http
            .post(inner.endpoint.clone())
            .header(http::header::ACCEPT, "application/json");
        match &inner.credentials {
            Some(c) if c.method == ClientAuth::Post => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", &c.secret));
            }
            Some(c) => {
                // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding, so
                // a `:` in either survives the round trip.
                request =
                    request.basic_auth(form_encode(&c.client_id), Some(form_encode(&c.secret)));
            }
            None => {}
        }
        // The bearer layer logs the reason; only misconfigurations get their own log line.
        let unavailable = AuthError::Unavailable;
        let response = (request.form(&form).send().await)
            .map_err(|err| http_failure(err, "introspection request", inner.timeout))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            tracing::error!(
                endpoint = %inner.endpoint,
                %status,
                client_id = inner.credentials.as_ref().map(|c| c.client_id.as_str()),
                "the introspection endpoint refused this resource server's client credentials: \
                 check the client id, secret and authentication method (`ClientAuth`)"
            );
            return Err(AuthError::Unavailable(format!(
                "introspection endpoint refused the client credentials ({status})"
            )));
        }
        if !status.is_success() {
            return Err(unavailable(format!(
                "introspection endpoint answered {status}"
            )));
        }
        let body = match fetch::read_capped(response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return Err(unavailable("introspection response too large".into()));
            }
            Err(BodyError::Http(err)) => {
                return Err(http_failure(
                    err,
                    "reading the introspection response",
                    inner.timeout,
                ));
            }
        };
        match serde_json::from_slice(&body) {
            Ok(Value::Object(members)) => Ok(members),
            Ok(_) => Err(unavailable(
                "introspection response is not a JSON object".into(),
            )),
            Err(err) => Err(unavailable(format!(
                "introspection response is not JSON: {err}"
            ))),
        }
    }

    /// Applies RFC 7662 §2.2 and this resource server's rules to a response.
    fn validate(&self, response: Map<String, Value>) -> Result<AuthInfo, AuthError> {
        let inner = &*self.inner;
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        // Only the JSON boolean counts: `"true"` or `1` are malformed answers, not consent.
        if response.get("active") != Some(&Value::Bool(true)) {
            return Err(invalid("token is not active"));
        }
        if response.contains_key("cnf") {
            return Err(invalid(
                "token is sender-constrained (`cnf`), and proof of possession is not supported",
            ));
        }
        let exp = numeric_date(&response, "exp")?;
        let nbf = numeric_date(&response, "nbf")?;
        let auth = inner.mapping.auth_info(response)?;
        if inner
            .issuer
            .as_deref()
            .is_some_and(|issuer| auth.issuer() != Some(issuer))
        {
            return Err(invalid("token issuer is not the configured issuer"));
        }
        if auth.audience().is_empty() {
            tracing::warn!(
                endpoint = %inner.endpoint,
                "introspection response has no `aud`: configure the authorization server to \
                 return the token's audience (RFC 8707 resource indicators)"
            );
            return Err(invalid("introspection response has no audience"));
        }
        if !audience_matches(auth.audience(), &inner.resource) {
            return Err(invalid("token audience does not include this resource"));
        }
        let now = SystemTime::now();
        // `checked_add` is `None` only for an absurd leeway, which then tolerates everything.
        if exp.is_some_and(|exp| exp.checked_add(inner.leeway).is_some_and(|end| end < now)) {
            return Err(invalid("token expired"));
        }
        if nbf.is_some_and(|nbf| now.checked_add(inner.leeway).is_some_and(|late| nbf > late)) {
            return Err(invalid("token not yet valid"));
        }
        Ok(auth)
    }
}

impl IntrospectionVerifier {
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

    /// The flight that will give the verdict on `token`: the one under way for the same
    /// token, or a new one. `Err` is a verdict known without a flight: from the cache, or a
    /// refusal because the queue is full.
    fn board(&self, key: CacheKey, token: &str) -> Result<Verdict, Outcome> {
        let inner = &*self.inner;
        let mut flights = inner.flights.lock();
        // A flight that landed since the caller's lookup cached its verdict before leaving
        // the map.
        if let Some(outcome) = inner.cache.get(&key) {
            return Err(outcome);
        }
        match flights.get(&key).map(|flight| &flight.stage) {
            Some(Stage::Sent(verdict)) => return Ok(verdict.clone()),
            Some(Stage::Queued(waiting)) => {
                // `None`: its last waiter has just left, and it is going away; replaced below.
                if let Some(verdict) = waiting.upgrade() {
                    return Ok(verdict);
                }
            }
            None => {}
        }
        let id = inner.flights.next_id.fetch_add(1, Ordering::Relaxed);
        // The semaphore is fair: no permit is free while tokens wait, so this never jumps
        // the queue.
        if let Ok(permit) = inner.permits.clone().try_acquire_owned() {
            return Ok(self.send(&mut flights, key, id, token.to_owned(), permit));
        }
        // Checked and counted under the map's lock, so the bound holds; leaving the queue
        // only lowers the count.
        if inner.flights.queued.load(Ordering::Relaxed) >= inner.max_queued_requests {
            return Err(Err(AuthError::Unavailable(format!(
                "{} introspection requests already in flight and {} tokens waiting for one \
                 to finish",
                inner.max_concurrent_requests, inner.max_queued_requests
            ))));
        }
        let verdict = self.queue(key, id, token.to_owned());
        if let Some(waiting) = verdict.downgrade() {
            let stage = Stage::Queued(waiting);
            flights.insert(key, Flight { id, stage });
        }
        Ok(verdict)
    }

    /// A flight waiting for a request slot, then sending its request. Until it holds a slot
    /// it runs only while a request awaits its verdict (the map holds it weakly): dropped
    /// with the last of them, it forgets the token and leaves the queue and the map.
    fn queue(&self, key: CacheKey, id: u64, token: String) -> Verdict {
        let verifier = self.clone();
        // Made here rather than in the future, so that they act even if it is never polled.
        let waiting = Waiting::enter(self.inner.clone());
        let departure = Departure {
            inner: self.inner.clone(),
            key,
            id,
        };
        async move {
            let inner = &*verifier.inner;
            let permit =
                tokio::time::timeout(inner.timeout, inner.permits.clone().acquire_owned()).await;
            drop(waiting);
            let Ok(Ok(permit)) = permit else {
                return Err(AuthError::Unavailable(format!(
                    "{} introspection requests already in flight; none finished within {:?}",
                    inner.max_concurrent_requests, inner.timeout
                )));
            };
            let verdict = verifier.send(&mut inner.flights.lock(), key, id, token, permit);
            // The map now holds the sent request under the same id: the departure leaves it.
            drop(departure);
            verdict.await
        }
        .boxed()
        .shared()
    }

    /// Sends the introspection of `token` on a task of its own, holding `permit`, so that it
    /// completes and its verdict is cached even if every request waiting for it goes away.
    /// Records it in `flights`, locked by the caller, before the task can land.
    fn send(
        &self,
        flights: &mut HashMap<CacheKey, Flight>,
        key: CacheKey,
        id: u64,
        token: String,
        permit: OwnedSemaphorePermit,
    ) -> Verdict {
        let verifier = self.clone();
        let task = tokio::spawn(async move {
            let _landing = Landing {
                inner: verifier.inner.clone(),
                key,
                id,
            };
            let (outcome, valid_from) = verifier.ask(&token).await;
            drop(permit);
            verifier.inner.cache.remember(key, &outcome, valid_from);
            outcome
        });
        let verdict = async move {
            task.await.unwrap_or_else(|_| {
                Err(AuthError::Unavailable(
                    "the introspection task panicked".into(),
                ))
            })
        }
        .boxed()
        .shared();
        let stage = Stage::Sent(verdict.clone());
        flights.insert(key, Flight { id, stage });
        verdict
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

    /// The member naming the caller's tenant, for [`AuthInfo::tenant`].
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
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            // A redirect could carry the token (307/308 resend the body) to another host;
            // authorization servers publish the endpoint's final URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IntrospectionConfigError::Http(e.to_string()))?;
        let cache = Cache {
            accepted: Shelf::new(self.cache_max_ttl, self.cache_capacity),
            refused: Shelf::new(self.negative_cache_ttl, self.cache_capacity),
        };
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

/// Why a request to the endpoint failed, with the causes (connection refused, DNS, TLS) that
/// `reqwest`'s own message leaves out. The request body, and so the token, is never part of it.
fn http_failure(err: reqwest::Error, what: &str, timeout: Duration) -> AuthError {
    if err.is_timeout() {
        return AuthError::Unavailable(format!("{what} timed out after {timeout:?}"));
    }
    let err = err.without_url();
    let mut reason = format!("{what} failed: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    AuthError::Unavailable(reason)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A NumericDate member (RFC 7519 §2) as a time; a member of another type rejects the token.
fn numeric_date(
    response: &Map<String, Value>,
    name: &str,
) -> Result<Option<SystemTime>, AuthError> {
    match response.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|secs| *secs <= MAX_NUMERIC_DATE)
            .map(|secs| Some(UNIX_EPOCH + Duration::from_secs(secs)))
            .ok_or_else(|| AuthError::InvalidToken(format!("claim `{name}` is not a NumericDate"))),
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

/// The verdict of one flight, awaited by every request with the same token.
type Verdict = Shared<BoxFuture<'static, Outcome>>;

/// Flights under way, by token digest: waiting for a request slot, or with their request sent.
#[derive(Default)]
struct Flights {
    map: Mutex<HashMap<CacheKey, Flight>>,
    /// Flights waiting for a request slot.
    queued: AtomicUsize,
    /// Ids of flights, so that a flight leaving the map never removes its successor.
    next_id: AtomicU64,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Flight>> {
        // Every critical section leaves the map consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One token's flight: its id, and how far it got.
struct Flight {
    id: u64,
    stage: Stage,
}

/// Where a flight is: waiting for a request slot, or sent.
enum Stage {
    /// Waiting for a request slot, driven by the requests awaiting its verdict; held weakly so
    /// that it ends with the last of them.
    Queued(WeakShared<BoxFuture<'static, Outcome>>),
    /// Its request sent, on a task that finishes whoever waits.
    Sent(Verdict),
}

/// Counts a flight in [`Flights::queued`] until dropped: when it gets a request slot, gives
/// up waiting, or is dropped with its last waiter.
struct Waiting(Arc<Inner>);

impl Waiting {
    fn enter(inner: Arc<Inner>) -> Waiting {
        inner.flights.queued.fetch_add(1, Ordering::Relaxed);
        Waiting(inner)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.flights.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes a flight that never sent its request from [`Flights`] when it ends, however it
/// ends: given up, or dropped with its last waiter.
struct Departure {
    inner: Arc<Inner>,
    key: CacheKey,
    id: u64,
}

impl Drop for Departure {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock();
        if let Some(flight) = flights.get(&self.key)
            && flight.id == self.id
            && matches!(flight.stage, Stage::Queued(_))
        {
            flights.remove(&self.key);
        }
    }
}

/// Removes a flight from [`Flights`] when the task sending its request ends, however it ends
/// (a panic included), after its verdict is cached.
struct Landing {
    inner: Arc<Inner>,
    key: CacheKey,
    id: u64,
}

impl Drop for Landing {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock();
        let landed = flights
            .get(&self.key)
            .is_some_and(|flight| flight.id == self.id)
            .then(|| flights.remove(&self.key));
        // The verdict's last handle may go with the entry: dropped after the lock.
        drop(flights);
        drop(landed);
    }
}

/// The verdicts remembered: accepted tokens, and refused ones for a shorter while. Each kind
/// has a shelf of its own, so that a flood of refused tokens never evicts an accepted one.
struct Cache {
    accepted: Option<Shelf<Arc<AuthInfo>>>,
    refused: Option<Shelf<AuthError>>,
}

impl Cache {
    /// The remembered verdict for `key`, if any.
    fn get(&self, key: &CacheKey) -> Option<Outcome> {
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
    fn remember(&self, key: CacheKey, outcome: &Outcome, valid_from: Option<SystemTime>) {
        let left = |until: SystemTime| until.duration_since(SystemTime::now()).ok();
        match outcome {
            Ok(auth) => {
                let Some(shelf) = &self.accepted else { return };
                let mut ttl = shelf.ttl;
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
                let mut ttl = shelf.ttl;
                if let Some(valid_from) = valid_from {
                    ttl = ttl.min(left(valid_from).unwrap_or_default());
                }
                shelf.insert(key, refusal.clone(), ttl);
            }
            Err(AuthError::Unavailable(_)) => {}
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

/// Verdicts of one kind, bounded in count and in time.
///
/// One mutex guards everything; each critical section is a hash lookup, or an insertion with
/// amortised O(1) eviction, so contention stays negligible next to an HTTP round trip.
struct Shelf<V> {
    ttl: Duration,
    capacity: usize,
    state: Mutex<ShelfState<V>>,
}

struct ShelfState<V> {
    entries: HashMap<CacheKey, Entry<V>>,
    /// Keys in insertion order, with the generation of the insertion. An item whose
    /// generation no longer matches its entry is stale and skipped.
    order: VecDeque<(CacheKey, u64)>,
    generation: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
    generation: u64,
}

impl<V: Clone> Shelf<V> {
    /// A shelf keeping entries for `ttl` at most, `capacity` of them at most; `None` if
    /// either is zero.
    fn new(ttl: Duration, capacity: usize) -> Option<Shelf<V>> {
        (!ttl.is_zero() && capacity > 0).then(|| Shelf {
            ttl,
            capacity,
            state: Mutex::new(ShelfState {
                entries: HashMap::new(),
                order: VecDeque::new(),
                generation: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShelfState<V>> {
        // Every critical section leaves the state consistent, so a panic elsewhere while the
        // lock was held does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value for `key`, if it has not expired.
    fn get(&self, key: &CacheKey) -> Option<V> {
        let now = Instant::now();
        let mut state = self.lock();
        let entry = state.entries.get(key)?;
        if entry.expires > now {
            return Some(entry.value.clone());
        }
        state.entries.remove(key);
        None
    }

    /// Remembers `value` for `ttl`, which the caller has already bounded by the shelf's.
    fn insert(&self, key: CacheKey, value: V, ttl: Duration) {
        let now = Instant::now();
        let Some(expires) = now.checked_add(ttl).filter(|expires| *expires > now) else {
            return;
        };
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        state.entries.insert(
            key,
            Entry {
                value,
                expires,
                generation,
            },
        );
        state.order.push_back((key, generation));
        state.evict(self.capacity, now);
    }
}

impl<V> ShelfState<V> {
    /// Drops stale order items and expired entries from the front, then the oldest entries
    /// until at most `capacity` remain.
    fn evict(&mut self, capacity: usize, now: Instant) {
        while let Some(&(key, generation)) = self.order.front() {
            let live = self
                .entries
                .get(&key)
                .filter(|e| e.generation == generation);
            match live {
                Some(entry) if entry.expires > now && self.entries.len() <= capacity => break,
                Some(_) => {
                    self.entries.remove(&key);
                }
                None => {}
            }
            self.order.pop_front();
        }
        // Entries replaced or removed on lookup leave items behind a live front; compact
        // before they outnumber the entries.
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order.retain(|(key, generation)| {
                entries
                    .get(key)
                    .is_some_and(|e| e.generation == *generation)
            });
        }
    }
}

impl<V> fmt::Debug for Shelf<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len();
        f.debug_struct("Shelf")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> CacheKey {
        CacheKey::of(&n.to_string())
    }

    fn cache(accepted_ttl: Duration, refused_ttl: Duration, capacity: usize) -> Cache {
        Cache {
            accepted: Shelf::new(accepted_ttl, capacity),
            refused: Shelf::new(refused_ttl, capacity),
        }
    }

    fn accepted(auth: AuthInfo) -> Outcome {
        Ok(Arc::new(auth))
    }

    #[test]
    fn a_shelf_evicts_the_oldest_entry_when_full() {
        let shelf = Shelf::new(Duration::from_secs(60), 3).unwrap();
        for n in 0..5 {
            shelf.insert(key(n), n, Duration::from_secs(60));
        }
        assert!(shelf.get(&key(0)).is_none());
        assert!(shelf.get(&key(1)).is_none());
        for n in 2..5 {
            assert_eq!(shelf.get(&key(n)), Some(n));
        }
        assert_eq!(shelf.lock().entries.len(), 3);
    }

    #[test]
    fn a_shelf_order_queue_stays_bounded() {
        let shelf = Shelf::new(Duration::from_secs(60), 10).unwrap();
        for _ in 0..10_000 {
            shelf.insert(key(1), (), Duration::from_secs(60));
        }
        let state = shelf.lock();
        assert_eq!(state.entries.len(), 1);
        assert!(state.order.len() <= 2 + 64, "{}", state.order.len());
    }

    #[test]
    fn cached_acceptances_never_outlive_exp() {
        let cache = cache(Duration::from_secs(3600), Duration::from_secs(5), 10);
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
        let expires = cache.accepted.as_ref().unwrap().lock().entries[&key(2)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(30));
    }

    #[test]
    fn refusals_are_remembered_briefly_and_never_past_nbf() {
        let cache = cache(Duration::from_secs(60), Duration::from_secs(5), 10);
        let refused = Err(AuthError::InvalidToken("token is not active".into()));
        cache.remember(key(1), &refused, None);
        assert!(matches!(
            cache.get(&key(1)),
            Some(Err(AuthError::InvalidToken(_)))
        ));
        let expires = cache.refused.as_ref().unwrap().lock().entries[&key(1)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(5));

        // Valid from now on by its own `nbf`: not remembered at all.
        cache.remember(key(2), &refused, Some(SystemTime::now()));
        assert!(cache.get(&key(2)).is_none());
        let soon = SystemTime::now() + Duration::from_secs(1);
        cache.remember(key(3), &refused, Some(soon));
        let expires = cache.refused.as_ref().unwrap().lock().entries[&key(3)].expires;
        assert!(expires <= Instant::now() + Duration::from_secs(1));

        // The endpoint did not answer: nothing is known, nothing is remembered.
        cache.remember(key(4), &Err(AuthError::Unavailable("down".into())), None);
        assert!(cache.get(&key(4)).is_none());
    }

    #[test]
    fn refusals_never_evict_acceptances() {
        let cache = cache(Duration::from_secs(60), Duration::from_secs(5), 4);
        cache.remember(key(0), &accepted(AuthInfo::new("a")), None);
        for n in 1..100 {
            cache.remember(key(n), &Err(AuthError::InvalidToken("no".into())), None);
        }
        assert!(matches!(cache.get(&key(0)), Some(Ok(_))));
        assert_eq!(cache.refused.as_ref().unwrap().lock().entries.len(), 4);
    }

    #[test]
    fn numeric_dates_are_bounded_integers() {
        let response = |v: Value| serde_json::json!({ "exp": v }).as_object().unwrap().clone();
        assert!(numeric_date(&response(Value::from(u64::MAX)), "exp").is_err());
        assert!(numeric_date(&response(Value::from(-1)), "exp").is_err());
        assert!(numeric_date(&response(Value::from("1")), "exp").is_err());
        assert_eq!(
            numeric_date(&response(Value::from(10)), "exp").unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(10))
        );
    }

    /// An endpoint that accepts connections and never answers, and a verifier with one
    /// request slot and room for `queue` tokens waiting.
    async fn stuck_verifier(queue: usize) -> (IntrospectionVerifier, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let verifier = IntrospectionVerifier::builder(url, "https://mcp.example.com/mcp")
            .max_concurrent_requests(1)
            .max_queued_requests(queue)
            .build()
            .unwrap();
        (verifier, listener)
    }

    fn state(verifier: &IntrospectionVerifier) -> (usize, usize) {
        let flights = &verifier.inner.flights;
        (flights.lock().len(), flights.queued.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_waiting_flight_leaves_the_map_and_the_queue_with_its_last_waiter() {
        let (verifier, _listener) = stuck_verifier(100).await;
        // Takes the only slot, and keeps it: its request is sent on a task of its own.
        assert!(verifier.verify("sent").now_or_never().is_none());
        assert_eq!(state(&verifier), (1, 0));
        let mut waiters: Vec<_> = (0..3).map(|_| verifier.verify("queued").boxed()).collect();
        for waiter in &mut waiters {
            assert!(waiter.now_or_never().is_none());
        }
        assert_eq!(state(&verifier), (2, 1), "three waiters, one flight");
        waiters.truncate(1);
        assert_eq!(state(&verifier), (2, 1), "a waiter is left");
        drop(waiters);
        assert_eq!(state(&verifier), (1, 0), "the last waiter left");
        for i in 0..100 {
            assert!(
                verifier
                    .verify(&format!("gone-{i}"))
                    .now_or_never()
                    .is_none()
            );
        }
        assert_eq!(state(&verifier), (1, 0));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_new_tokens_and_joins_waiting_ones() {
        let (verifier, _listener) = stuck_verifier(2).await;
        assert!(verifier.verify("sent").now_or_never().is_none());
        let mut waiters: Vec<_> = ["a", "b", "a"]
            .into_iter()
            .map(|token| verifier.verify(token).boxed())
            .collect();
        for waiter in &mut waiters {
            assert!(waiter.now_or_never().is_none());
        }
        assert_eq!(state(&verifier), (3, 2));
        let refused = verifier.verify("c").now_or_never();
        assert!(
            matches!(refused, Some(Err(AuthError::Unavailable(_)))),
            "{refused:?}"
        );
        let mut joined = verifier.verify("b").boxed();
        assert!((&mut joined).now_or_never().is_none(), "joins its flight");
        assert!(
            verifier.verify("sent").now_or_never().is_none(),
            "joins its flight"
        );
        assert_eq!(state(&verifier), (3, 2));

        let (verifier, _listener) = stuck_verifier(0).await;
        assert!(verifier.verify("sent").now_or_never().is_none());
        let refused = verifier.verify("c").now_or_never();
        assert!(
            matches!(refused, Some(Err(AuthError::Unavailable(_)))),
            "never waits"
        );
        assert_eq!(state(&verifier), (1, 0));
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("a:b c/é"), "a%3Ab+c%2F%C3%A9");
    }
}
