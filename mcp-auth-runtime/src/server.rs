//! [`McpServer`]: the declared tools, served over MCP Streamable HTTP on axum.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, json};

use crate::auth::claims::{canonical_resource, is_secure_url};
use crate::auth::{
    AuthInfo, BearerAuthLayer, Challenge, JwtConfigError, JwtVerifier, SharedVerifier,
    TokenVerifier,
};
use crate::context::unit_state;
use crate::jsonrpc::{Dispatcher, Outcome};
use crate::metadata::ProtectedResourceMetadata;
use crate::registry::Registry;
use crate::scope::ScopePolicy;
use crate::tool::{StateType, ToolDef};

/// Largest request body accepted by default: 1 MiB, far above any sane tool call.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Why [`McpServerBuilder::build`] refused a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two tools share a name.
    #[error("duplicate tool name `{0}`: tool names must be unique within a server")]
    DuplicateTool(&'static str),
    /// A tool's input or output schema does not describe a JSON object.
    #[error(
        "the {which} schema of tool `{tool}` does not describe an object: MCP requires `\"type\": \"object\"` (wrap the value in a struct)"
    )]
    SchemaNotObject {
        /// The tool.
        tool: &'static str,
        /// `input` or `output`.
        which: &'static str,
    },
    /// A tool's `ToolContext<S>` names another state type than the server's.
    #[error(
        "tool `{tool}` takes `ToolContext<{expected}>` but the server state is `{given}`: pass the state with `.state(..)`"
    )]
    StateMismatch {
        /// The tool.
        tool: &'static str,
        /// The state type the tool expects.
        expected: &'static str,
        /// The state type given to the builder.
        given: &'static str,
    },
    /// No token verifier was configured, and authentication was not explicitly turned off.
    #[error(
        "no token verifier is configured: call `.verifier(..)`, or `.without_auth()` for local development only"
    )]
    NoVerifier,
    /// Authentication is on but no resource URI was configured.
    #[error(
        "no resource URI is configured: call `.resource(\"https://mcp.example.com/mcp\")` with the server's canonical URI, the audience its tokens must name"
    )]
    MissingResource,
    /// The resource URI is not absolute, has a fragment, or is not `https` off loopback.
    #[error(
        "resource `{0}` must be an absolute https URI without fragment (http is allowed on loopback only)"
    )]
    InvalidResource(String),
    /// An authorization server URL is not `https` off loopback.
    #[error("authorization server `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureAuthorizationServer(String),
    /// Several authorization servers but no verifier: which issuer's tokens to accept is
    /// ambiguous.
    #[error(
        "several authorization servers are configured: pass a verifier with `.verifier(..)` that accepts each of them"
    )]
    AmbiguousIssuer,
    /// A baseline scope is not an RFC 6749 scope token.
    #[error("invalid baseline scope `{0}`")]
    InvalidScope(String),
    /// The default JWT verifier refused its configuration.
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    /// The MCP path is not an absolute path.
    #[error("the MCP path `{0}` must start with `/`")]
    InvalidPath(String),
}

/// Configures an [`McpServer`]. Created by [`McpServer::builder`].
#[must_use]
pub struct McpServerBuilder {
    name: String,
    version: String,
    title: Option<String>,
    instructions: Option<String>,
    tools: Vec<ToolDef>,
    state: Option<(Arc<dyn Any + Send + Sync>, StateType)>,
    verifier: Option<SharedVerifier>,
    without_auth: Option<Option<AuthInfo>>,
    scopes: ScopePolicy,
    path: String,
    body_limit: usize,
    resource: Option<String>,
    authorization_servers: Vec<String>,
    baseline_scopes: Option<Vec<String>>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    filter_tools_by_scope: bool,
}

impl McpServerBuilder {
    /// Adds tools, usually from [`tools!`](crate::tools).
    pub fn tools(mut self, tools: impl IntoIterator<Item = ToolDef>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// The state every `ToolContext<S>` gives access to.
    pub fn state<S: Send + Sync + 'static>(mut self, state: S) -> Self {
        self.state = Some((Arc::new(state), StateType::of::<S>()));
        self
    }

    /// A human-readable title for `serverInfo`.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Instructions for the model, sent in the `initialize` result.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Verifies every request's bearer token with `verifier`.
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(SharedVerifier(Arc::new(verifier)));
        self
    }

    /// Serves without authentication: every caller holds every declared scope.
    ///
    /// For local development only; the server logs a warning when it is built. Never expose
    /// such a server beyond loopback.
    pub fn without_auth(mut self) -> Self {
        self.without_auth = Some(None);
        self
    }

    /// Serves without authentication: every caller is `identity`, with its scopes and tenant.
    ///
    /// For local development only, like [`without_auth`](Self::without_auth).
    pub fn without_auth_as(mut self, identity: AuthInfo) -> Self {
        self.without_auth = Some(Some(identity));
        self
    }

    /// How granted scopes satisfy required ones (exact matching by default).
    pub fn scope_policy(mut self, policy: ScopePolicy) -> Self {
        self.scopes = policy;
        self
    }

    /// The path of the MCP endpoint (default `/mcp`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The largest request body accepted (default [`DEFAULT_BODY_LIMIT`]); larger ones get `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// This server's canonical URI (RFC 8707, RFC 9728 `resource`), e.g.
    /// `https://billing.example.com/mcp`: the audience every token must name. Required when
    /// authentication is on.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resource = Some(uri.into());
        self
    }

    /// An authorization server (issuer) whose tokens this server accepts, advertised in the
    /// protected-resource metadata. Without an explicit [`verifier`](Self::verifier), one
    /// authorization server and the [`resource`](Self::resource) configure a [`JwtVerifier`]
    /// with its defaults (keys discovered from the issuer's metadata).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes advertised in `scopes_supported` and in the `scope` of the challenge to
    /// requests without a token. Default: the union of the declared tools' scopes.
    ///
    /// Clients request everything advertised (MCP authorization, scope selection), so a
    /// server with powerful tools can advertise a least-privilege baseline here and let
    /// clients step up through `insufficient_scope` challenges.
    pub fn baseline_scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.baseline_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// `resource_name` in the protected-resource metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation` in the protected-resource metadata.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Shows each caller only the tools its scopes allow in `tools/list` (off by default).
    ///
    /// The trade-off: a hidden tool cannot trigger step-up authorization, since the client
    /// never learns it exists or which scope it needs. The list is then computed per request
    /// instead of served precomputed.
    pub fn filter_tools_by_scope(mut self, filter: bool) -> Self {
        self.filter_tools_by_scope = filter;
        self
    }

    /// Validates the configuration and precomputes everything requests share.
    pub fn build(self) -> Result<McpServer, BuildError> {
        if !self.path.starts_with('/') {
            return Err(BuildError::InvalidPath(self.path));
        }
        let registry = Registry::new(self.tools, self.state.as_ref().map(|(_, t)| *t))?;
        if let Some(resource) = &self.resource
            && (canonical_resource(resource).is_none() || !is_secure_url(resource))
        {
            return Err(BuildError::InvalidResource(resource.clone()));
        }
        if let Some(issuer) = self
            .authorization_servers
            .iter()
            .find(|i| !is_secure_url(i))
        {
            return Err(BuildError::InsecureAuthorizationServer(issuer.clone()));
        }
        let auth = match (self.verifier, self.without_auth) {
            (Some(verifier), _) => Auth::Verifier(verifier),
            (None, Some(identity)) => {
                tracing::warn!(
                    "MCP server `{}` runs WITHOUT AUTHENTICATION: every caller is a local user. \
                     Use this for local development only.",
                    self.name
                );
                let identity = identity.unwrap_or_else(|| {
                    AuthInfo::new("local").with_scopes(registry.scopes().iter().copied())
                });
                Auth::Disabled(Arc::new(identity))
            }
            (None, None) => match (self.authorization_servers.as_slice(), &self.resource) {
                ([], _) => return Err(BuildError::NoVerifier),
                ([issuer], Some(resource)) => {
                    let jwt = JwtVerifier::builder(issuer.clone(), resource.clone()).build()?;
                    Auth::Verifier(SharedVerifier(Arc::new(jwt)))
                }
                ([_], None) => return Err(BuildError::MissingResource),
                _ => return Err(BuildError::AmbiguousIssuer),
            },
        };
        if matches!(auth, Auth::Verifier(_)) && self.resource.is_none() {
            return Err(BuildError::MissingResource);
        }
        let advertised: Vec<String> = match self.baseline_scopes {
            Some(scopes) => {
                if let Some(bad) = scopes.iter().find(|s| !crate::scope::is_scope_token(s)) {
                    return Err(BuildError::InvalidScope(bad.clone()));
                }
                scopes
            }
            None => registry.scopes().iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut challenge = Challenge::new(self.name.clone()).scope(advertised.join(" "));
        let metadata = match &self.resource {
            Some(resource) => {
                let url = ProtectedResourceMetadata::well_known_url(resource)
                    .ok_or_else(|| BuildError::InvalidResource(resource.clone()))?;
                challenge = challenge.resource_metadata(url);
                let document = ProtectedResourceMetadata {
                    resource: resource.clone(),
                    authorization_servers: self.authorization_servers.clone(),
                    scopes_supported: advertised.clone(),
                    bearer_methods_supported: vec!["header"],
                    resource_name: self.resource_name.clone(),
                    resource_documentation: self.resource_documentation.clone(),
                };
                let path = ProtectedResourceMetadata::well_known_path(resource)
                    .ok_or_else(|| BuildError::InvalidResource(resource.clone()))?;
                Some(Metadata {
                    body: Bytes::from(serde_json::to_vec(&document).expect("metadata serializes")),
                    document,
                    path,
                })
            }
            None => None,
        };
        let mut server_info = Map::new();
        let mut info = json!({ "name": self.name, "version": self.version });
        if let Some(title) = &self.title {
            info["title"] = title.clone().into();
        }
        server_info.insert(
            "capabilities".into(),
            json!({ "tools": { "listChanged": false } }),
        );
        server_info.insert("serverInfo".into(), info);
        if let Some(instructions) = self.instructions {
            server_info.insert("instructions".into(), instructions.into());
        }
        let dispatcher = Dispatcher {
            registry,
            scopes: self.scopes,
            state: self.state.map_or_else(unit_state, |(state, _)| state),
            server_info,
            filter_tools: self.filter_tools_by_scope,
        };
        Ok(McpServer {
            inner: Arc::new(Inner {
                challenge,
                metadata,
                dispatcher,
                auth,
                path: self.path,
                body_limit: self.body_limit,
            }),
        })
    }
}

impl fmt::Debug for McpServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServerBuilder")
            .field("name", &self.name)
            .field("tools", &self.tools)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

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
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    dispatcher: Dispatcher,
    auth: Auth,
    challenge: Challenge,
    metadata: Option<Metadata>,
    path: String,
    body_limit: usize,
}

/// The protected-resource metadata document, serialized once.
struct Metadata {
    document: ProtectedResourceMetadata,
    body: Bytes,
    path: String,
}

enum Auth {
    Verifier(SharedVerifier),
    Disabled(Arc<AuthInfo>),
}

impl McpServer {
    /// Starts configuring a server; `name` and `version` go to `serverInfo`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder {
            name: name.into(),
            version: version.into(),
            title: None,
            instructions: None,
            tools: Vec::new(),
            state: None,
            verifier: None,
            without_auth: None,
            scopes: ScopePolicy::default(),
            path: "/mcp".into(),
            body_limit: DEFAULT_BODY_LIMIT,
            resource: None,
            authorization_servers: Vec::new(),
            baseline_scopes: None,
            resource_name: None,
            resource_documentation: None,
            filter_tools_by_scope: false,
        }
    }

    /// The registered tools, in registration order.
    pub fn tools(&self) -> &[ToolDef] {
        self.inner.dispatcher.registry.tools()
    }

    /// The union of the declared tools' scopes, sorted and without duplicates.
    pub fn scopes_supported(&self) -> &[&'static str] {
        self.inner.dispatcher.registry.scopes()
    }

    /// The path of the MCP endpoint.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The protected-resource metadata document, when a resource is configured.
    pub fn metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.inner.metadata.as_ref().map(|m| &m.document)
    }

    /// An axum router serving the MCP endpoint; nest it, merge it, or serve it as it is.
    pub fn into_router(self) -> Router {
        let path = self.inner.path.clone();
        let body_limit = self.inner.body_limit;
        let route = post(handle_post).fallback(method_not_allowed);
        let route = match &self.inner.auth {
            Auth::Verifier(verifier) => route.layer(BearerAuthLayer::new(
                verifier.clone(),
                self.inner.challenge.clone(),
            )),
            Auth::Disabled(_) => route,
        };
        let mut router = Router::new()
            .route(&path, route)
            .layer(DefaultBodyLimit::max(body_limit));
        if let Some(metadata) = &self.inner.metadata {
            // Browser-based clients read the metadata cross-origin; it holds nothing secret.
            let cors = tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([http::Method::GET]);
            let mut paths = vec![metadata.path.clone()];
            let root = "/.well-known/oauth-protected-resource".to_owned();
            if !paths.contains(&root) {
                paths.push(root);
            }
            for path in paths {
                router = router.route(&path, get(serve_metadata).layer(cors.clone()));
            }
        }
        router.with_state(self)
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

async fn serve_metadata(State(server): State<McpServer>) -> Response {
    let body = server
        .inner
        .metadata
        .as_ref()
        .map(|m| m.body.clone())
        .unwrap_or_default();
    json_response(StatusCode::OK, body)
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("POST"))],
    )
        .into_response()
}

async fn handle_post(State(server): State<McpServer>, request: Request) -> Response {
    let auth = match &server.inner.auth {
        Auth::Disabled(local) => local.clone(),
        Auth::Verifier(_) => match crate::auth::auth_of(&request) {
            Some(auth) => auth,
            // Unreachable behind the bearer layer; fail closed all the same.
            None => return StatusCode::UNAUTHORIZED.into_response(),
        },
    };
    if let Some(response) = check_headers(request.headers()) {
        return response;
    }
    let body = match axum::body::to_bytes(request.into_body(), server.inner.body_limit).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    match server.inner.dispatcher.handle(&body, auth).await {
        Outcome::Response(body) => json_response(StatusCode::OK, body),
        Outcome::BadRequest(body) => json_response(StatusCode::BAD_REQUEST, body),
        Outcome::Accepted => StatusCode::ACCEPTED.into_response(),
        Outcome::Forbidden { required, body } => {
            let required: Vec<&str> = required.iter().map(String::as_str).collect();
            let mut response = json_response(StatusCode::FORBIDDEN, body);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                server.inner.challenge.insufficient_scope(&required),
            );
            response
        }
    }
}

/// Streamable HTTP: the body must be JSON, and the client must accept a JSON answer.
fn check_headers(headers: &HeaderMap) -> Option<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Some(
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            )
                .into_response(),
        );
    }
    let accepts_json = headers.get_all(header::ACCEPT).iter().next().is_none()
        || headers.get_all(header::ACCEPT).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',').any(|media| {
                    let media = media.split(';').next().unwrap_or("").trim();
                    media.eq_ignore_ascii_case("application/json")
                        || media == "*/*"
                        || media.eq_ignore_ascii_case("application/*")
                })
            })
        });
    if !accepts_json {
        return Some(
            (
                StatusCode::NOT_ACCEPTABLE,
                "Accept must allow application/json",
            )
                .into_response(),
        );
    }
    None
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
