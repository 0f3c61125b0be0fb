//! The scope middleware for routes of one's own: [`RequireScopes`] and its service
//! [`RequireScopesService`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use serde_json::json;
use tower::{Layer, Service};

use super::challenge::Scheme;
use super::layer::reject;
use super::{AuthInfo, Challenge, ResponseFuture};
use crate::scope::ScopePolicy;

/// Requires every one of a set of scopes of the caller that a [`BearerAuthLayer`](super::BearerAuthLayer)
/// verified, for routes of your own next to an MCP server.
///
/// A caller lacking any of them gets `403` with the same `WWW-Authenticate` challenge as the
/// MCP endpoint's (RFC 6750 §3.1 `insufficient_scope`, naming every required scope and the
/// protected-resource metadata, RFC 9728 §5.1), so that a client can step up; in the scheme
/// the token came in (`DPoP` for a DPoP-bound token, RFC 9449 §7.1). Get one from
/// [`McpServer::require_scopes`](crate::McpServer::require_scopes), which takes the server's
/// challenge, metadata URL and [`ScopePolicy`]; [`RequireScopes::new`] is for a challenge of
/// your own.
///
/// The bearer layer must run first, so it is added *after* this one (axum runs the last
/// `.layer` first). A request that reaches `RequireScopes` without a verified caller is a
/// mistake in the layer order, never the client's: it gets `500` (fail closed) and the
/// mistake is logged once.
///
/// ```
/// use axum::body::Body;
/// use axum::{Router, routing::get};
/// use http::{Request, StatusCode, header};
/// use mcp_auth_runtime::auth::{BearerAuthLayer, Challenge, JwkSet, JwtVerifier, RequireScopes};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// const SECRET: &[u8] = b"a shared secret of at least 32 bytes";
/// let verifier = JwtVerifier::builder("https://auth.example.com", "https://api.example.com/mcp")
///     .static_keys(JwkSet::from_json(r#"{"keys": []}"#)?)
///     .hmac_secret(SECRET)
///     .build()?;
/// // With an `McpServer`, `server.require_scopes([..])` and `server.bearer_auth()` build both
/// // from the server's configuration.
/// let challenge = Challenge::new("example")
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource/mcp");
///
/// let app = Router::new()
///     .route("/reports", get(|| async { "the reports" }))
///     .layer(RequireScopes::new(challenge.clone(), ["reports:read"]))
///     .layer(BearerAuthLayer::new(verifier, challenge)); // runs first
///
/// # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
/// let token = |scope: &str| -> Result<String, jsonwebtoken::errors::Error> {
///     let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
///     jwt_header.typ = Some("at+jwt".into());
///     let claims = serde_json::json!({
///         "iss": "https://auth.example.com", "aud": "https://api.example.com/mcp",
///         "sub": "alice", "scope": scope, "iat": now, "exp": now + 300,
///     });
///     jsonwebtoken::encode(&jwt_header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET))
/// };
/// let get_reports = |token: String| {
///     Request::get("/reports")
///         .header(header::AUTHORIZATION, format!("Bearer {token}"))
///         .body(Body::empty())
/// };
///
/// let response = app.clone().oneshot(get_reports(token("reports:read")?)?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
///
/// let response = app.oneshot(get_reports(token("invoices:read")?)?).await?;
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// assert_eq!(
///     response.headers()[header::WWW_AUTHENTICATE],
///     "Bearer realm=\"example\", \
///      resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\", \
///      error=\"insufficient_scope\", scope=\"reports:read\", \
///      error_description=\"the request requires higher privileges than provided by the access token\""
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RequireScopes {
    required: Arc<[String]>,
    policy: ScopePolicy,
    challenge: Arc<Challenge>,
    /// Whether a misordered layer was reported already.
    reported: Arc<AtomicBool>,
}

impl RequireScopes {
    /// Requires every one of `scopes`, matched exactly; a `403` carries `challenge`'s
    /// parameters.
    ///
    /// # Panics
    ///
    /// If a scope is not an RFC 6749 scope token (`"a b"`, `""`), or there is none: the
    /// mistake is in the code, and shows at start-up as axum's invalid routes do.
    pub fn new<I, T>(challenge: Challenge, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let required: Arc<[String]> = scopes.into_iter().map(Into::into).collect();
        assert!(
            !required.is_empty(),
            "`RequireScopes` needs at least one scope"
        );
        if let Some(bad) = required.iter().find(|s| !super::is_scope_token(s)) {
            panic!(
                "invalid scope `{bad}` for `RequireScopes`: a scope token is non-empty and \
                 contains no spaces, quotes or backslashes; pass each scope separately"
            );
        }
        RequireScopes {
            required,
            policy: ScopePolicy::default(),
            challenge: Arc::new(challenge),
            reported: Arc::default(),
        }
    }

    /// How granted scopes satisfy the required ones (exact matching by default).
    #[must_use]
    pub fn policy(mut self, policy: ScopePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The required scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.required.iter().map(String::as_str)
    }

    /// The answer to a request that lacks a scope, or `None` when it may pass; a `403`
    /// challenges in the `scheme` the token came in.
    fn refusal(&self, auth: Option<&AuthInfo>, scheme: Scheme) -> Option<Response> {
        let Some(auth) = auth else {
            if !self.reported.swap(true, Ordering::Relaxed) {
                crate::server::visible_error!(
                    "a request reached `RequireScopes` without a verified caller: add the \
                     `BearerAuthLayer` after `RequireScopes` (`.layer(require).layer(bearer)`: \
                     axum runs the last layer first); such requests are refused with 500"
                );
            }
            return Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({
                        "error": "server_misconfigured",
                        "error_description": "the route's authorization is misconfigured; see the server log",
                    })),
                )
                    .into_response(),
            );
        };
        let required: Vec<&str> = self.scopes().collect();
        let missing = self.policy.missing(auth, &required);
        if missing.is_empty() {
            return None;
        }
        tracing::info!(
            subject = auth.subject(),
            client_id = auth.client_id(),
            missing = %missing.join(" "),
            "insufficient scope"
        );
        let challenge = self.challenge.insufficient_scope_in(scheme, &required);
        Some(reject(
            StatusCode::FORBIDDEN,
            vec![challenge],
            "insufficient_scope",
        ))
    }
}

impl fmt::Debug for RequireScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireScopes`] wraps around an inner service.
#[derive(Clone)]
pub struct RequireScopesService<S> {
    inner: S,
    layer: RequireScopes,
}

impl<S> RequireScopesService<S> {
    crate::inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for RequireScopesService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesService")
            .field("inner", &self.inner)
            .field("required", &self.layer.required)
            .finish()
    }
}

impl<S, B> Service<Request<B>> for RequireScopesService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let auth = request.extensions().get::<Arc<AuthInfo>>();
        let scheme = super::scheme_of(&request);
        if let Some(refusal) = self.layer.refusal(auth.map(Arc::as_ref), scheme) {
            return Box::pin(async move { Ok(refusal) });
        }
        // The clone that was polled ready serves this request; the fresh one waits its turn.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}
