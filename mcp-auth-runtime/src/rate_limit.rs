//! Per-caller rate limits: a budget of requests per window for each verified caller, and
//! budgets of their own for chosen tools (a destructive tool can get a smaller one).
//!
//! Limits are keyed by the verified principal (issuer, subject and client id), never by IP
//! address alone: behind a proxy or a NAT many callers share an address, and one caller can
//! use many. The counters are fixed windows aligned on the wall clock, kept in this process
//! by default, or in Redis (feature `redis`) so that every replica of a server draws on the
//! same budget.
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
//!
//! let limits = RateLimits::local()
//!     .requests(Quota::per_minute(600))           // every request of a caller
//!     .tool("void_invoice", Quota::per_minute(10)); // and this tool's calls, on top
//! # let _ = limits;
//! ```
//!
//! Given to [`McpServerBuilder::rate_limits`](crate::McpServerBuilder::rate_limits), the
//! request budget is a [`RateLimitLayer`] on the MCP route, inside authentication, and each
//! tool's budget is checked when the call is dispatched (a layer cannot see which tool a
//! request calls without parsing its body). The layer also serves routes of your own, behind
//! [`BearerAuthLayer`](crate::auth::BearerAuthLayer):
//!
//! ```
//! use axum::{Router, routing::get};
//! use mcp_auth_runtime::auth::{BearerAuthLayer, Challenge, JwtVerifier};
//! use mcp_auth_runtime::rate_limit::{Quota, RateLimitLayer, RateLimits};
//!
//! # fn demo(verifier: JwtVerifier) {
//! let app: Router = Router::new()
//!     .route("/export", get(|| async { "..." }))
//!     // Layers run from the last added: authentication first, then the budget.
//!     .layer(RateLimitLayer::new(RateLimits::local().requests(Quota::per_minute(60))))
//!     .layer(BearerAuthLayer::new(verifier, Challenge::new("https://api.example.com")));
//! # }
//! ```
//!
//! A caller over its budget gets `429` with `Retry-After` (in whole seconds), the others are
//! not affected; a request without a verified caller passes through (authentication is the
//! layer before):
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Extension, Router, body::Body, routing::get};
//! use http::{Request, StatusCode, header};
//! use mcp_auth_runtime::auth::AuthInfo;
//! use mcp_auth_runtime::rate_limit::{Quota, RateLimitLayer, RateLimits};
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let get_export = || Request::get("/export").body(Body::empty()).unwrap();
//!
//! // One budget store, one budget per caller.
//! let limits = RateLimits::local().requests(Quota::per_minute(1));
//! let alice = Router::new()
//!     .route("/export", get(|| async { "..." }))
//!     .layer(RateLimitLayer::new(limits.clone()))
//!     .layer(Extension(Arc::new(AuthInfo::new("alice"))));
//! let bob = Router::new()
//!     .route("/export", get(|| async { "..." }))
//!     .layer(RateLimitLayer::new(limits))
//!     .layer(Extension(Arc::new(AuthInfo::new("bob"))));
//!
//! assert_eq!(alice.clone().oneshot(get_export()).await.unwrap().status(), StatusCode::OK);
//! let refused = alice.oneshot(get_export()).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert!(refused.headers().contains_key(header::RETRY_AFTER));
//! // Bob draws on a budget of his own.
//! assert_eq!(bob.oneshot(get_export()).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::Response;
use http::Request;
use tower::{Layer, Service};

use crate::auth::AuthInfo;
use crate::jsonrpc::{code, error_for};

/// A number of requests per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    max: u32,
    window: Duration,
}

impl Quota {
    /// `max` requests per `window`.
    ///
    /// # Panics
    ///
    /// If `window` is shorter than a millisecond.
    pub fn new(max: u32, window: Duration) -> Self {
        assert!(
            window >= Duration::from_millis(1),
            "a rate-limit window must be at least 1 ms"
        );
        Quota { max, window }
    }

    /// `max` requests per second.
    pub fn per_second(max: u32) -> Self {
        Quota::new(max, Duration::from_secs(1))
    }

    /// `max` requests per minute.
    pub fn per_minute(max: u32) -> Self {
        Quota::new(max, Duration::from_secs(60))
    }

    pub(crate) fn window_ms(&self) -> u64 {
        self.window.as_millis() as u64
    }

    /// The number of requests (or, for API keys, failures) allowed per window.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }
}

/// The rate limits of a server. See the [module docs](self).
#[derive(Clone)]
pub struct RateLimits {
    requests: Option<Quota>,
    tools: HashMap<String, Quota>,
    backend: Backend,
    /// Requests refused by the request budget, then by a tool's budget: read by metrics.
    rejections: [Arc<crate::observe::Count>; 2],
}

#[derive(Clone)]
enum Backend {
    Local(Arc<Mutex<HashMap<String, (u64, u32)>>>),
    #[cfg(feature = "redis")]
    /// The connection and the key prefix.
    Redis(redis::aio::ConnectionManager, Arc<str>),
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("requests", &self.requests)
            .field("tools", &self.tools)
            .field(
                "backend",
                &match self.backend {
                    Backend::Local(_) => "local",
                    #[cfg(feature = "redis")]
                    Backend::Redis(..) => "redis",
                },
            )
            .finish()
    }
}

/// The longest a request waits for its Redis counter before it is let through.
#[cfg(feature = "redis")]
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Counters kept in this process stop growing here; older windows are dropped first.
const MAX_LOCAL_COUNTERS: usize = 100_000;

/// A request over its budget: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) retry_after: Duration,
}

impl RateLimits {
    /// Limits counted in this process: each replica of a server enforces its own budget.
    pub fn local() -> Self {
        RateLimits {
            requests: None,
            tools: HashMap::new(),
            backend: Backend::Local(Arc::default()),
            rejections: Default::default(),
        }
    }

    /// Limits counted in Redis, shared by every replica that uses the same Redis.
    ///
    /// If Redis cannot be reached, requests are let through and the error is logged: rate
    /// limits protect capacity, and turning every caller away because the counter store is
    /// down would be the outage they exist to prevent. Authentication and scopes never
    /// depend on Redis.
    ///
    /// Counters are keys `mcp-auth:rl:BUCKET:CALLER:WINDOW` (the caller hashed), expiring after
    /// two windows.
    #[cfg(feature = "redis")]
    pub fn redis(connection: redis::aio::ConnectionManager) -> Self {
        Self::redis_with_prefix(connection, "mcp-auth")
    }

    /// As [`redis`](Self::redis), with keys under `prefix` (`PREFIX:rl:...`): servers that
    /// share a Redis but not their budgets need different prefixes.
    #[cfg(feature = "redis")]
    pub fn redis_with_prefix(connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        RateLimits {
            requests: None,
            tools: HashMap::new(),
            backend: Backend::Redis(connection, prefix.into()),
            rejections: Default::default(),
        }
    }

    /// The budget of every request of a caller.
    pub fn requests(mut self, quota: Quota) -> Self {
        self.requests = Some(quota);
        self
    }

    /// The budget of one tool's calls per caller, counted in addition to
    /// [`requests`](Self::requests).
    pub fn tool(mut self, name: impl Into<String>, quota: Quota) -> Self {
        self.tools.insert(name.into(), quota);
        self
    }

    pub(crate) fn has_request_budget(&self) -> bool {
        self.requests.is_some()
    }

    /// The tools with a budget of their own.
    pub(crate) fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// Checks a request of `caller` against the request budget.
    pub(crate) async fn check_request(&self, caller: &str) -> Result<(), Limited> {
        let checked = match self.requests {
            Some(quota) => self.take(caller, "*", quota).await,
            None => Ok(()),
        };
        if checked.is_err() {
            self.rejections[0].add();
        }
        checked
    }

    /// Checks a call of `tool` by `caller` against the tool's budget, if it has one.
    pub(crate) async fn check_tool(&self, caller: &str, tool: &str) -> Result<(), Limited> {
        let checked = match self.tools.get(tool) {
            Some(quota) => self.take(caller, tool, *quota).await,
            None => Ok(()),
        };
        if checked.is_err() {
            self.rejections[1].add();
        }
        checked
    }

    /// Counts this server's rejections in `metrics`.
    pub(crate) fn attach(&self, metrics: &crate::observe::Metrics) {
        use crate::observe::Limit;
        metrics.attach_rejections(Limit::RequestBudget, &self.rejections[0]);
        metrics.attach_rejections(Limit::Tool, &self.rejections[1]);
    }

    async fn take(&self, caller: &str, bucket: &str, quota: Quota) -> Result<(), Limited> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let window = now / quota.window_ms();
        let retry_after = Duration::from_millis((window + 1) * quota.window_ms() - now);
        let count = match &self.backend {
            Backend::Local(counters) => {
                let key = format!("{bucket}\u{0}{caller}");
                let mut counters = counters.lock().unwrap_or_else(|e| e.into_inner());
                if counters.len() >= MAX_LOCAL_COUNTERS {
                    counters.retain(|_, (w, _)| *w >= window);
                }
                let entry = counters.entry(key).or_insert((window, 0));
                if entry.0 != window {
                    *entry = (window, 0);
                }
                entry.1 = entry.1.saturating_add(1);
                entry.1
            }
            #[cfg(feature = "redis")]
            Backend::Redis(connection, prefix) => {
                // Bounded: a slow or absent Redis must not hold requests up.
                let key = redis_key(prefix, bucket, caller, window);
                let counted = tokio::time::timeout(
                    REDIS_TIMEOUT,
                    redis_incr(connection.clone(), &key, quota),
                )
                .await;
                match counted {
                    Ok(Ok(count)) => count,
                    Ok(Err(err)) => {
                        tracing::error!(error = %err, "rate-limit counter unavailable; request let through");
                        return Ok(());
                    }
                    Err(_) => {
                        tracing::error!(
                            "rate-limit counter did not answer in time; request let through"
                        );
                        return Ok(());
                    }
                }
            }
        };
        if count > quota.max {
            Err(Limited { retry_after })
        } else {
            Ok(())
        }
    }
}

/// A tower layer holding each verified caller to the request budget of [`RateLimits`]
/// ([`requests`](RateLimits::requests)): beyond it, `429 Too Many Requests` with `Retry-After`
/// and a JSON-RPC error (`-32005`).
///
/// The caller is the [`AuthInfo`] that [`BearerAuthLayer`](crate::auth::BearerAuthLayer) put in
/// the request's extensions (issuer, subject and client id), so the layer goes inside it.
/// Requests without one pass unchecked: without a verified identity there is nobody to count
/// for, and counting by IP address would put everyone behind one proxy in a single budget.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limits: RateLimits,
}

impl RateLimitLayer {
    /// Applies `limits`' request budget.
    pub fn new(limits: RateLimits) -> Self {
        RateLimitLayer { limits }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around an inner service.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limits: RateLimits,
}

impl<S> RateLimit<S> {
    crate::inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready; the service polled ready is the one that gets the request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let caller = request.extensions().get::<Arc<AuthInfo>>().cloned();
        let limits = self.limits.clone();
        Box::pin(async move {
            if let Some(auth) = caller
                && let Err(limited) = limits.check_request(auth.principal_key()).await
            {
                tracing::info!(
                    subject = auth.subject(),
                    client_id = auth.client_id(),
                    "rate limit reached"
                );
                return Ok(rate_limited(limited.retry_after));
            }
            inner.call(request).await
        })
    }
}

/// `429` for a caller over its request budget: a JSON-RPC error without id, and
/// `Retry-After`.
pub(crate) fn rate_limited(retry_after: Duration) -> Response {
    let body = error_for(None, code::RATE_LIMITED, "rate limit exceeded");
    too_many_requests(retry_after, body)
}

/// `429` with `body` and `Retry-After` in whole seconds, rounded up.
pub(crate) fn too_many_requests(retry_after: Duration, body: bytes::Bytes) -> Response {
    let seconds = retry_after.as_millis().div_ceil(1000).max(1);
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from(seconds as u64),
    );
    response
}

/// The counter of `caller` for `bucket` in `window`. The caller is hashed: Redis keys show up
/// in monitoring, subjects need not.
#[cfg(feature = "redis")]
fn redis_key(prefix: &str, bucket: &str, caller: &str, window: u64) -> String {
    use sha2::Digest;
    let caller = sha2::Sha256::digest(caller.as_bytes());
    let caller: String = caller[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}:rl:{bucket}:{caller}:{window}")
}

#[cfg(feature = "redis")]
async fn redis_incr(
    mut connection: redis::aio::ConnectionManager,
    key: &str,
    quota: Quota,
) -> redis::RedisResult<u32> {
    let (count, _): (u32, i32) = redis::pipe()
        .atomic()
        .incr(key, 1)
        .pexpire(key, (quota.window_ms() * 2) as i64)
        .query_async(&mut connection)
        .await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_caller_has_its_own_budget() {
        let limits = RateLimits::local().requests(Quota::new(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert!(limits.check_request("alice").await.is_ok());
        }
        let limited = limits.check_request("alice").await.unwrap_err();
        assert!(limited.retry_after <= Duration::from_secs(60));
        assert!(limits.check_request("bob").await.is_ok());
    }

    #[tokio::test]
    async fn tools_without_a_budget_are_not_limited() {
        let limits =
            RateLimits::local().tool("void_invoice", Quota::new(1, Duration::from_secs(60)));
        assert!(limits.check_tool("alice", "void_invoice").await.is_ok());
        assert!(limits.check_tool("alice", "void_invoice").await.is_err());
        for _ in 0..10 {
            assert!(limits.check_tool("alice", "lookup_invoice").await.is_ok());
            assert!(limits.check_request("alice").await.is_ok());
        }
    }

    #[tokio::test]
    async fn budgets_refill_with_the_next_window() {
        let limits = RateLimits::local().requests(Quota::new(1, Duration::from_millis(50)));
        assert!(limits.check_request("alice").await.is_ok());
        let limited = limits.check_request("alice").await.unwrap_err();
        tokio::time::sleep(limited.retry_after + Duration::from_millis(5)).await;
        assert!(limits.check_request("alice").await.is_ok());
    }
}
