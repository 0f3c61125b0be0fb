//! [`McpServer`]: the declared tools, served over MCP Streamable HTTP on axum; configured by
//! [`McpServerBuilder`] ([`builder`]), refused with a [`BuildError`] ([`error`]).

mod build;
mod builder;
mod error;
mod merge;
mod tasks;
mod visible;

pub use builder::McpServerBuilder;
pub use error::BuildError;
pub use merge::RouteConflict;
pub(crate) use visible::{to_stderr_without_subscriber, visible_error, visible_warning};

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get};
use http::StatusCode;
use tower::ServiceBuilder;
use tower::layer::util::Identity;
use tower::util::Either;

use crate::auth::{
    AuthInfo, BearerAuthLayer, Dpop, PublicUris, RequireScopes, SharedVerifier, TokenVerifier,
};
use crate::health::Probes;
use crate::http::guard::{Allowed, GuardLayer};
use crate::http::{Endpoint, MountCheck, json_response};
use crate::metadata::ProtectedResourceMetadata;
use crate::prompt::PromptDef;
use crate::resource::ResourceDef;
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
    /// DPoP, when on, and where clients address this server.
    dpop: Option<(Dpop, PublicUris)>,
    metadata: Option<Metadata>,
    path: String,
    health_checks: bool,
    /// Whether a nested mount was reported already.
    mount_check: Arc<MountCheck>,
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

    /// The registered resources and resource templates, in registration order.
    pub fn resources(&self) -> &[ResourceDef] {
        self.mcp().resources.defs()
    }

    /// The registered prompts, in registration order.
    pub fn prompts(&self) -> &[PromptDef] {
        self.mcp().prompts.defs()
    }

    /// The union of the declared tools', resources' and prompts' scopes, sorted and without duplicates.
    pub fn scopes_supported(&self) -> &[&'static str] {
        &self.mcp().declared_scopes
    }

    /// The handle that publishes resource updates to the clients subscribed to them (see
    /// [`Notifier`](crate::Notifier)); the same one
    /// [`McpServerBuilder::notifier`](crate::McpServerBuilder::notifier) gave.
    pub fn notifier(&self) -> crate::Notifier {
        crate::Notifier::new(self.mcp().updates.clone())
    }

    /// Tells the clients subscribed to `uri` that the resource changed; short for
    /// `self.notifier().resource_updated(uri)`.
    pub fn notify_resource_updated(&self, uri: &str) {
        self.notifier().resource_updated(uri);
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

    /// An axum router serving the MCP endpoint, its protected-resource metadata and (unless
    /// turned off) the health probes; serve it as it is, or merge it into your app, preferably
    /// with [`merge_into`](Self::merge_into), which names the option to turn off when one of
    /// your routes collides with ours. Prefer [`serve`](crate::serve()) or
    /// [`serve_with`](crate::serve_with) to `axum::serve`: they set `TCP_NODELAY` and the
    /// connection-level limits (header-read, body and write timeouts, a connection cap) that
    /// `axum::serve` lacks.
    ///
    /// Merge rather than nest: the metadata lives at the origin's `/.well-known/` (RFC 9728
    /// §3.1), which a nested router cannot serve. A nested router refuses every request with
    /// `500` and logs how to mount it; see "Mounting in an existing application" in
    /// [`McpServer`]'s docs.
    pub fn into_router(self) -> Router {
        self.routes()
            .into_iter()
            .fold(Router::new(), |router, ours| {
                router.route(&ours.path, ours.route)
            })
    }

    /// Merges this server's routes into `app`, refusing with a [`RouteConflict`] that names
    /// the option to turn ours off when `app` already serves one of their paths (your own
    /// `/healthz`, say) instead of axum's `Overlapping method route` panic.
    ///
    /// axum reports an overlap only by panicking, so each of our routes is added to `app`
    /// under [`catch_unwind`](std::panic::catch_unwind) (`app` is consumed either way): the
    /// panic hook still prints axum's message before this returns the error, and under
    /// `panic = "abort"` the process stops there, with axum's message.
    ///
    /// What axum lets through is not caught: a route of yours on the same path for other
    /// methods only (ours then answers the methods it serves), a wildcard or parameter route
    /// that also matches one of our paths (ours wins there, since static segments win), or a
    /// `fallback`. Keep `/.well-known/` and the MCP path to the server.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use mcp_auth_runtime::prelude::*;
    ///
    /// /// Say hello.
    /// #[tool(unscoped)]
    /// async fn hello() -> &'static str { "hello" }
    ///
    /// let server = || McpServer::builder("demo", "1.0.0").tools(tools![hello]).without_auth();
    /// let app = || Router::new().route("/healthz", get(|| async { "mine" }));
    ///
    /// let err = server().build().unwrap().merge_into(app()).unwrap_err();
    /// assert!(err.to_string().contains(".health_checks(false)"));
    ///
    /// let merged = server().health_checks(false).build().unwrap().merge_into(app());
    /// assert!(merged.is_ok());
    /// ```
    pub fn merge_into(self, app: Router) -> Result<Router, RouteConflict> {
        self.routes().into_iter().try_fold(app, merge::add_route)
    }

    /// A [`RequireScopes`] layer for routes of your own: it answers a caller without all of
    /// `scopes` exactly as the MCP endpoint does (`403` with this server's
    /// `insufficient_scope` challenge and metadata URL), and honours its
    /// [`scope_policy`](McpServerBuilder::scope_policy). Put it inside
    /// [`bearer_auth`](Self::bearer_auth); see [`RequireScopes`].
    ///
    /// # Panics
    ///
    /// If a scope is not an RFC 6749 scope token (`"a b"`, `""`), as axum panics on an
    /// invalid route: the mistake is in the code and shows at start-up.
    pub fn require_scopes<I, T>(&self, scopes: I) -> RequireScopes
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        RequireScopes::new(self.inner.endpoint.challenge.clone(), scopes)
            .policy(self.mcp().scopes.clone())
    }

    /// A [`BearerAuthLayer`] with this server's verifier and challenge, for routes of your
    /// own; `None` when the server has no verifier: it runs
    /// [`without_auth`](McpServerBuilder::without_auth) or
    /// [`stdio_only`](McpServerBuilder::stdio_only).
    ///
    /// With [`dpop`](McpServerBuilder::dpop), the layer accepts or requires DPoP-bound tokens
    /// as the MCP endpoint does, with proofs for the resource's origin followed by the
    /// request's path (behind a proxy that rewrites paths, set your routes' public URI with
    /// [`BearerAuthLayer::dpop`]).
    ///
    /// Like the MCP endpoint's, the layer reports what it decides to the server's
    /// [`metrics`](McpServerBuilder::metrics) and [`audit`](McpServerBuilder::audit) sink:
    /// each refusal (an audit event without method) and each accepted credential.
    pub fn bearer_auth(&self) -> Option<BearerAuthLayer<impl TokenVerifier + use<>>> {
        match &self.inner.auth {
            Auth::Verifier(verifier) => Some(self.bearer_layer(verifier)),
            Auth::Disabled(_) | Auth::Refused => None,
        }
    }

    /// The bearer layer of `verifier` with this server's challenge and DPoP configuration.
    fn bearer_layer(&self, verifier: &SharedVerifier) -> BearerAuthLayer<SharedVerifier> {
        let layer = BearerAuthLayer::new(verifier.clone(), self.inner.endpoint.challenge.clone())
            .reporting_to(self.mcp().hub.clone());
        match &self.inner.dpop {
            Some((dpop, uris)) => layer
                .with_dpop(dpop.clone(), uris.clone())
                .expect("the DPoP configuration was checked by `build`"),
            None => layer,
        }
    }

    /// Every route this server serves, each with its own layers, and whose it is.
    fn routes(&self) -> Vec<merge::OurRoute> {
        let inner = &self.inner;
        let endpoint = &inner.endpoint;
        // The endpoint's layers are one stack, boxed once by `MethodRouter::layer`: each layer
        // applied to the route on its own would box it again, and axum clones every box per
        // request. Innermost, inside authentication: the budget is the verified caller's.
        let budget = match &endpoint.mcp.rate_limits {
            Some(limits) if limits.has_request_budget() => {
                Some(axum::middleware::from_fn_with_state(
                    endpoint.clone(),
                    crate::http::budget::request_budget,
                ))
            }
            _ => None,
        };
        let auth = match &inner.auth {
            Auth::Verifier(verifier) => Either::Left(self.bearer_layer(verifier)),
            Auth::Disabled(identity) => {
                Either::Right(Either::Left(axum::Extension(identity.clone())))
            }
            Auth::Refused => Either::Right(Either::Right(Identity::new())),
        };
        let hub = Some(endpoint.mcp.hub.clone()).filter(|hub| hub.is_on());
        // Every route of ours refuses to serve under a prefix (`Router::nest`).
        let check = crate::http::RefuseNestedLayer(inner.mount_check.clone());
        let stack = ServiceBuilder::new()
            .layer(check.clone())
            // Around the rest: the request's server span, so that refusals are in it.
            .layer(crate::observe::trace::http::TracedLayer)
            .layer(DefaultBodyLimit::max(endpoint.body_limit))
            // Host and Origin are checked before anything else, the token included.
            .layer(GuardLayer(inner.allowed.clone(), hub))
            .layer(auth)
            .option_layer(budget);
        let route: MethodRouter = crate::http::methods(endpoint.clone()).layer(stack);
        let mut routes = vec![merge::OurRoute::new(
            inner.path.clone(),
            route,
            merge::Owner::Endpoint,
        )];
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
            let root = "/.well-known/oauth-protected-resource";
            routes.push(merge::OurRoute::new(
                metadata.path.clone(),
                document.clone(),
                merge::Owner::Metadata,
            ));
            if metadata.path != root {
                routes.push(merge::OurRoute::new(
                    root.to_owned(),
                    document,
                    merge::Owner::Metadata,
                ));
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
            for (path, route) in crate::health::routes(probes) {
                routes.push(merge::OurRoute::new(
                    path.to_owned(),
                    route,
                    merge::Owner::Health,
                ));
            }
        }
        // The endpoint (the first route) has the check in its stack.
        for ours in routes.iter_mut().skip(1) {
            ours.route = std::mem::take(&mut ours.route).layer(check.clone());
        }
        routes
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
