//! [`McpServer`]: the declared tools, served over MCP Streamable HTTP on axum; configured by
//! [`McpServerBuilder`] ([`builder`]), refused with a [`BuildError`] ([`error`]).

mod build;
mod builder;
mod error;

pub use builder::McpServerBuilder;
pub use error::BuildError;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use http::StatusCode;

use crate::auth::{AuthInfo, BearerAuthLayer, SharedVerifier};
use crate::health::Probes;
use crate::http::guard::{Allowed, GuardLayer};
use crate::http::{Endpoint, json_response};
use crate::metadata::ProtectedResourceMetadata;
use crate::tool::ToolDef;

/// An MCP server: the registered tools, their scopes, and how callers are authenticated.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// /// Say hello.
/// #[tool(unscoped)]
/// async fn hello() -> &'static str { "hello" }
///
/// let router: axum::Router = McpServer::builder("demo", "1.0.0")
///     .tools(tools![hello])
///     .without_auth()
///     .build()
///     .expect("valid configuration")
///     .into_router();
/// ```
///
#[doc = include_str!("../../docs/transport.md")]
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    /// What the MCP endpoint's handlers share.
    endpoint: Arc<Endpoint>,
    allowed: Arc<Allowed>,
    auth: Auth,
    metadata: Option<Metadata>,
    path: String,
    health_checks: bool,
}

/// The protected-resource metadata document, serialized once, and where it is served.
struct Metadata {
    document: ProtectedResourceMetadata,
    body: Bytes,
    /// The document's URL, for the challenge's `resource_metadata`.
    url: String,
    /// Its path on this server (RFC 9728 §3.1: the resource's path after the well-known one).
    path: String,
}

impl Metadata {
    fn new(document: ProtectedResourceMetadata) -> Result<Metadata, BuildError> {
        let invalid = || BuildError::InvalidResource(document.resource.clone());
        let url =
            ProtectedResourceMetadata::well_known_url(&document.resource).ok_or_else(invalid)?;
        let path =
            ProtectedResourceMetadata::well_known_path(&document.resource).ok_or_else(invalid)?;
        Ok(Metadata {
            body: Bytes::from(serde_json::to_vec(&document).expect("metadata serializes")),
            document,
            url,
            path,
        })
    }
}

/// How callers are authenticated.
enum Auth {
    Verifier(SharedVerifier),
    /// Local development: every caller is this identity.
    Disabled(Arc<AuthInfo>),
    /// Served over stdio only ([`McpServerBuilder::stdio_only`]): no HTTP caller has an
    /// identity, so the MCP endpoint answers `401` to all of them.
    Refused,
}

impl McpServer {
    /// Starts configuring a server; `name` and `version` go to `serverInfo`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder::new(name.into(), version.into())
    }

    /// The registered tools, in registration order.
    pub fn tools(&self) -> &[ToolDef] {
        self.mcp().registry.tools()
    }

    /// The union of the declared tools' scopes, sorted and without duplicates.
    pub fn scopes_supported(&self) -> &[&'static str] {
        self.mcp().registry.scopes()
    }

    /// The path of the MCP endpoint.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// How many handshake-era sessions this process holds (expired ones included until they
    /// are swept); 0 in stateless mode and when sessions live in Redis.
    pub fn open_sessions(&self) -> usize {
        self.mcp()
            .sessions
            .as_ref()
            .and_then(|s| s.local_len())
            .unwrap_or(0)
    }

    /// The protected-resource metadata document, when a resource is configured.
    pub fn metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.inner.metadata.as_ref().map(|m| &m.document)
    }

    fn mcp(&self) -> &crate::mcp::Dispatcher {
        &self.inner.endpoint.mcp
    }

    /// What the MCP endpoint's handlers share, for the transports that are not HTTP.
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.inner.endpoint
    }

    /// An axum router serving the MCP endpoint; merge it into your app, or serve it as it is.
    /// Prefer [`serve`](crate::serve()) or [`serve_with`](crate::serve_with) to `axum::serve`:
    /// they set `TCP_NODELAY` and the connection-level limits (header-read, body and write
    /// timeouts, a connection cap) that `axum::serve` lacks. Merge rather than nest: the
    /// protected-resource metadata lives at the origin's `/.well-known/`.
    pub fn into_router(self) -> Router {
        let inner = &self.inner;
        let endpoint = &inner.endpoint;
        let route = crate::http::methods(endpoint.clone());
        // Inside authentication: the budget is the verified caller's.
        let route = match &endpoint.mcp.rate_limits {
            Some(limits) if limits.has_request_budget() => {
                route.layer(axum::middleware::from_fn_with_state(
                    endpoint.clone(),
                    crate::http::budget::request_budget,
                ))
            }
            _ => route,
        };
        let route = match &inner.auth {
            Auth::Verifier(verifier) => route.layer(BearerAuthLayer::new(
                verifier.clone(),
                endpoint.challenge.clone(),
            )),
            Auth::Disabled(identity) => route.layer(axum::Extension(identity.clone())),
            Auth::Refused => route,
        };
        // Outermost: Host and Origin are checked before anything else, the token included.
        let route = route.layer(GuardLayer(inner.allowed.clone()));
        let mut router = Router::new()
            .route(&inner.path, route)
            .layer(DefaultBodyLimit::max(endpoint.body_limit));
        if let Some(metadata) = &inner.metadata {
            // Browser-based clients read the metadata cross-origin; it holds nothing secret.
            let cors = tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([http::Method::GET]);
            let body = metadata.body.clone();
            let document = get(move || {
                let body = body.clone();
                async move { json_response(StatusCode::OK, body) }
            })
            .layer(cors);
            let mut paths = vec![metadata.path.clone()];
            let root = "/.well-known/oauth-protected-resource".to_owned();
            if !paths.contains(&root) {
                paths.push(root);
            }
            for path in paths {
                router = router.route(&path, document.clone());
            }
        }
        if inner.health_checks {
            let probes = Probes {
                verifier: match &inner.auth {
                    Auth::Verifier(verifier) => Some(verifier.clone()),
                    Auth::Disabled(_) | Auth::Refused => None,
                },
                sessions: endpoint.mcp.sessions.clone(),
            };
            router = router.merge(crate::health::routes(probes));
        }
        router
    }
}

impl From<McpServer> for Router {
    fn from(server: McpServer) -> Router {
        server.into_router()
    }
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServer")
            .field("tools", &self.tools())
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}
