//! [`McpServer`]: the declared tools, served over MCP Streamable HTTP on axum.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::json;

use crate::auth::claims::{canonical_resource, is_secure_url};
use crate::auth::{
    AuthInfo, BearerAuthLayer, Challenge, JwtConfigError, JwtVerifier, SharedVerifier,
    TokenVerifier,
};
use crate::context::unit_state;
use crate::http::guard::{Allowed, serialized_origin};
#[cfg(feature = "redis")]
use crate::jsonrpc::RedisSpent;
use crate::jsonrpc::{
    CallEvent, Dispatcher, MAX_SPENT, MemorySpent, Observer, Sealer, SpentStates,
};
use crate::metadata::ProtectedResourceMetadata;
use crate::rate_limit::RateLimits;
use crate::registry::Registry;
use crate::scope::ScopePolicy;
use crate::session::{Limits, MemorySessions, SessionStore};
use crate::tool::{StateType, ToolDef};

/// Largest request body accepted by default: 1 MiB, far above any sane tool call.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Default of [`McpServerBuilder::max_streams_per_principal`]: 16 open streams per caller.
pub const DEFAULT_MAX_STREAMS_PER_PRINCIPAL: usize = 16;

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
    /// A rate limit names a tool the server does not have (a typo would leave the real tool
    /// without its budget).
    #[error("a rate limit names `{0}`, which is not a tool of this server")]
    UnknownRateLimitedTool(String),
    /// A baseline scope is not an RFC 6749 scope token.
    #[error("invalid baseline scope `{0}`")]
    InvalidScope(String),
    /// The default JWT verifier refused its configuration.
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    /// The MCP path is not an absolute path.
    #[error("the MCP path `{0}` must start with `/`")]
    InvalidPath(String),
    /// The verifier checks tokens for another resource than the server's: tokens would be
    /// checked against one audience while metadata and challenges advertise another.
    #[error(
        "the verifier accepts tokens for `{verifier}` but the server's resource is `{server}`: configure both with the same URI"
    )]
    ResourceMismatch {
        /// The verifier's resource.
        verifier: String,
        /// The server's resource.
        server: String,
    },
    /// A request-state key is shorter than 32 bytes.
    #[error(
        "a request-state key must be at least 32 bytes, got {0}: use 32 random bytes, e.g. from `openssl rand -base64 32`"
    )]
    RequestStateKeyTooShort(usize),
}

/// Where sessions are shared between replicas, if anywhere.
#[cfg(feature = "redis")]
type SharedSessions = crate::RedisSessions;
#[cfg(not(feature = "redis"))]
type SharedSessions = std::convert::Infallible;

/// Where the spent `requestState`s are recorded: beside the sessions in Redis when there is
/// one, so that every replica refuses a state any of them spent; in this process otherwise.
fn spent_states(redis: Option<&SharedSessions>, shared_key: bool) -> SpentStates {
    #[cfg(feature = "redis")]
    if let Some(redis) = redis {
        return SpentStates::Redis(RedisSpent::new(redis.connection(), redis.prefix()));
    }
    #[cfg(not(feature = "redis"))]
    if let Some(never) = redis {
        match *never {}
    }
    if shared_key {
        tracing::warn!(
            "request states are sealed with a configured key but spent states are recorded in \
             this process only: replicas sharing the key each accept a state once; configure \
             `redis_sessions` to share the record"
        );
    }
    SpentStates::Memory(MemorySpent::new(MAX_SPENT))
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
    stateless: bool,
    session_idle_timeout: Duration,
    max_sessions: usize,
    max_sessions_per_principal: usize,
    max_streams_per_principal: usize,
    redis_sessions: Option<SharedSessions>,
    health_checks: bool,
    call_timeout: Duration,
    page_size: usize,
    list_ttl: Duration,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    any_host: bool,
    rate_limits: Option<RateLimits>,
    observer: Option<Observer>,
    request_state_key: Option<Vec<u8>>,
    previous_request_state_keys: Vec<Vec<u8>>,
    request_state_lifetime: Duration,
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

    /// Serves the handshake era without sessions (no `Mcp-Session-Id` is issued or required),
    /// so that any replica behind a load balancer can answer any request. Off by default.
    /// The 2026-07-28 era is always stateless.
    ///
    /// Without sessions the server does not know a handshake-era client's capabilities, so
    /// tools cannot ask such clients for input, and `logging/setLevel` has no lasting effect.
    pub fn stateless(mut self, stateless: bool) -> Self {
        self.stateless = stateless;
        self
    }

    /// Keeps handshake-era sessions in Redis, shared by every replica that is given the same
    /// Redis (feature `redis`): see [`RedisSessions`](crate::RedisSessions). Without it,
    /// sessions live in this process, and a load balancer in front of several replicas must
    /// send each session's requests to the replica that opened it.
    #[cfg(feature = "redis")]
    pub fn redis_sessions(mut self, sessions: crate::RedisSessions) -> Self {
        self.redis_sessions = Some(sessions);
        self
    }

    /// Serves `GET /healthz` (liveness) and `GET /readyz` (readiness: the token verifier and
    /// the session store) on the router, without authentication; on by default. See
    /// [`health`](crate::health).
    pub fn health_checks(mut self, enabled: bool) -> Self {
        self.health_checks = enabled;
        self
    }

    /// How long an unused session lives (default 30 minutes).
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }

    /// The most sessions open at once (default 10,000); beyond it `initialize` gets `503`
    /// until sessions expire. Each principal holds at most 64; its least recently used
    /// session is ended to make room.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// The most `subscriptions/listen` streams one caller (the issuer, subject and client of
    /// its token) may hold open at once in this process (default
    /// [`DEFAULT_MAX_STREAMS_PER_PRINCIPAL`]); one more is refused with `429` before any
    /// stream opens.
    pub fn max_streams_per_principal(mut self, max: usize) -> Self {
        self.max_streams_per_principal = max.max(1);
        self
    }

    /// The longest a tool may run (default 5 minutes); a call that takes longer is abandoned
    /// and answered with a tool error.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Tools per `tools/list` page (default 100).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// `ttlMs` of 2026-07-28 list results (default 5 minutes).
    pub fn list_ttl(mut self, ttl: Duration) -> Self {
        self.list_ttl = ttl;
        self
    }

    /// Also answers requests for `host` (`billing.example.com` or `billing.example.com:8443`).
    /// Loopback names and the [`resource`](Self::resource)'s host are always allowed; any
    /// other `Host` gets `403` (DNS-rebinding protection).
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Answers requests for any `Host`, e.g. behind a proxy that checks it already.
    pub fn allow_any_host(mut self) -> Self {
        self.any_host = true;
        self
    }

    /// Also trusts browser requests from `origin` (`https://app.example.com`). Loopback
    /// origins and the resource's origin are always trusted; a request with any other
    /// `Origin` gets `403`.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(serialized_origin(&origin.into()));
        self
    }

    /// Rate limits per verified caller: `429` with `Retry-After` beyond them. None by default.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// Calls `hook` once for every `tools/call` of a declared tool when it is over, whatever
    /// its outcome, including calls refused before the tool ran (`403`, `429`, bad arguments)
    /// and calls cancelled by the client: the place for an audit trail or metrics.
    ///
    /// The hook runs on the request's task: keep it quick, or hand the event to a channel.
    pub fn on_call(mut self, hook: impl Fn(&CallEvent<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(hook));
        self
    }

    /// The key that seals the `requestState` of 2026-07-28 round trips (HMAC-SHA256): at
    /// least 32 random bytes, kept secret.
    ///
    /// A tool that asks for input (an elicitation, a sampling request) ends a 2026-07-28 call
    /// with an `InputRequiredResult`, and the client calls again with the answers and the
    /// `requestState` it was given. The state is sealed for the caller, the tool, the call's
    /// arguments and the questions asked, and expires (see
    /// [`request_state_lifetime`](Self::request_state_lifetime)), so that no client can answer
    /// in advance, replay an answer onto another call or forge one; such retries get JSON-RPC
    /// `-32602`.
    ///
    /// Each state confirms one retry: the retry that uses it spends it before the tool runs,
    /// and any later request carrying it (a replay of a confirmed refund, say) gets `-32602`
    /// too; a client whose retry did not complete calls the tool again without a state. With
    /// `redis_sessions(..)` (feature `redis`) spent states are recorded in that Redis, so
    /// that a state spent on one replica is refused by all (while Redis is unreachable,
    /// retries get `503`); otherwise in this process, up to 100,000 unexpired states at once
    /// (beyond that, retries get `503` until some expire). **Replicas that share this key
    /// without sharing Redis each accept a state once**, and a restarted process forgets what
    /// it recorded: give replicas Redis when a repeated confirmation would matter. A server
    /// built with this key and without Redis logs a warning saying so.
    ///
    /// By default each process draws a random key at start: **replicas behind one load
    /// balancer must share this key**, or a retry that reaches another replica is refused, as
    /// is every call in flight across a restart. To rotate it, deploy the new key here and the
    /// old one with [`previous_request_state_key`](Self::previous_request_state_key) until
    /// the lifetime has passed.
    pub fn request_state_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.request_state_key = Some(key.into());
        self
    }

    /// A former [`request_state_key`](Self::request_state_key): states it sealed are still
    /// accepted, new ones are sealed with the current key. Repeat for several.
    pub fn previous_request_state_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.previous_request_state_keys.push(key.into());
        self
    }

    /// How long a `requestState` is accepted after it was issued; 10 minutes by default.
    pub fn request_state_lifetime(mut self, lifetime: Duration) -> Self {
        self.request_state_lifetime = lifetime;
        self
    }

    /// Validates the configuration and precomputes everything requests share.
    pub fn build(self) -> Result<McpServer, BuildError> {
        if !self.path.starts_with('/') {
            return Err(BuildError::InvalidPath(self.path));
        }
        if let Some(short) = self
            .request_state_key
            .iter()
            .chain(&self.previous_request_state_keys)
            .find(|key| key.len() < crate::jsonrpc::MIN_REQUEST_STATE_KEY_LEN)
        {
            return Err(BuildError::RequestStateKeyTooShort(short.len()));
        }
        let request_state = match &self.request_state_key {
            Some(key) => Sealer::new(
                key,
                &self.previous_request_state_keys,
                self.request_state_lifetime,
            ),
            None => Sealer::random(
                &self.previous_request_state_keys,
                self.request_state_lifetime,
            ),
        };
        let registry = Registry::new(self.tools, self.state.as_ref().map(|(_, t)| *t))?;
        let unknown = self.rate_limits.as_ref().and_then(|limits| {
            limits
                .tool_names()
                .find(|name| registry.get(name).is_none())
        });
        if let Some(unknown) = unknown {
            return Err(BuildError::UnknownRateLimitedTool(unknown.to_owned()));
        }
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
        if let Auth::Verifier(verifier) = &auth {
            let Some(resource) = &self.resource else {
                return Err(BuildError::MissingResource);
            };
            if let Some(theirs) = verifier.resource()
                && canonical_resource(theirs) != canonical_resource(resource)
            {
                return Err(BuildError::ResourceMismatch {
                    verifier: theirs.to_owned(),
                    server: resource.clone(),
                });
            }
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
        let mut server_info = json!({ "name": self.name, "version": self.version });
        if let Some(title) = &self.title {
            server_info["title"] = title.clone().into();
        }
        let mut allowed = Allowed {
            hosts: self.allowed_hosts,
            origins: self.allowed_origins,
            any_host: self.any_host,
        };
        if let Some(url) = self
            .resource
            .as_deref()
            .and_then(|r| url::Url::parse(r).ok())
        {
            if let Some(host) = url.host_str() {
                allowed.hosts.push(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                });
            }
            allowed.origins.push(url.origin().ascii_serialization());
        }
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            for tool in registry.tools() {
                tool.name().hash(&mut hasher);
            }
            hasher.finish()
        };
        let spent = spent_states(
            self.redis_sessions.as_ref(),
            self.request_state_key.is_some(),
        );
        let sessions = (!self.stateless).then(|| {
            let limits = Limits {
                idle_timeout: self.session_idle_timeout,
                max_sessions: self.max_sessions,
                max_per_principal: self.max_sessions_per_principal,
            };
            match self.redis_sessions {
                #[cfg(feature = "redis")]
                Some(redis) => SessionStore::Redis(redis, limits),
                #[cfg(not(feature = "redis"))]
                Some(never) => match never {},
                None => SessionStore::Memory(MemorySessions::new(limits)),
            }
        });
        // With sessions in Redis, the relay delivers into the same registry of calls.
        let calls = sessions
            .as_ref()
            .map_or_else(Arc::default, SessionStore::calls);
        let mut dispatcher = Dispatcher {
            registry,
            scopes: self.scopes,
            state: self.state.map_or_else(unit_state, |(state, _)| state),
            filter_tools: self.filter_tools_by_scope,
            sessions,
            call_timeout: self.call_timeout,
            page_size: self.page_size,
            list_ttl: self.list_ttl,
            cache_scope: if self.filter_tools_by_scope || matches!(auth, Auth::Verifier(_)) {
                "private"
            } else {
                "public"
            },
            server_info,
            instructions: self.instructions,
            pages: Vec::new(),
            calls,
            fingerprint,
            rate_limits: self.rate_limits,
            observer: self.observer,
            request_state,
            spent,
            streams: crate::streams::OpenStreams::new(self.max_streams_per_principal),
        };
        dispatcher.paginate();
        Ok(McpServer {
            inner: Arc::new(Inner {
                challenge,
                metadata,
                dispatcher,
                auth,
                path: self.path,
                body_limit: self.body_limit,
                health_checks: self.health_checks,
                allowed: Arc::new(allowed),
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
    allowed: Arc<Allowed>,
    dispatcher: Dispatcher,
    auth: Auth,
    challenge: Challenge,
    metadata: Option<Metadata>,
    path: String,
    body_limit: usize,
    health_checks: bool,
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
            stateless: false,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_sessions_per_principal: 64,
            max_streams_per_principal: DEFAULT_MAX_STREAMS_PER_PRINCIPAL,
            redis_sessions: None,
            health_checks: true,
            call_timeout: Duration::from_secs(300),
            page_size: 100,
            list_ttl: Duration::from_secs(300),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            any_host: false,
            rate_limits: None,
            observer: None,
            request_state_key: None,
            previous_request_state_keys: Vec::new(),
            request_state_lifetime: crate::jsonrpc::DEFAULT_REQUEST_STATE_LIFETIME,
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

    /// How many handshake-era sessions this process holds (expired ones included until they
    /// are swept); 0 in stateless mode and when sessions live in Redis.
    pub fn open_sessions(&self) -> usize {
        self.inner
            .dispatcher
            .sessions
            .as_ref()
            .and_then(|s| s.local_len())
            .unwrap_or(0)
    }

    /// The protected-resource metadata document, when a resource is configured.
    pub fn metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.inner.metadata.as_ref().map(|m| &m.document)
    }

    pub(crate) fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    pub(crate) fn challenge(&self) -> &Challenge {
        &self.inner.challenge
    }

    /// Every caller's identity when authentication is off.
    pub(crate) fn local_identity(&self) -> Option<Arc<AuthInfo>> {
        match &self.inner.auth {
            Auth::Disabled(local) => Some(local.clone()),
            Auth::Verifier(_) => None,
        }
    }

    /// Serves the router on `listener` with `config`'s connection-level limits until
    /// `shutdown` completes: see [`serve_with`](crate::serve_with).
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        config: crate::ServeConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::serve::serve_with(listener, self.into_router(), config, shutdown).await
    }

    /// Serves the router on `listener` until `shutdown` completes, with the default
    /// connection-level limits ([`ServeConfig`](crate::ServeConfig)), `TCP_NODELAY` on every
    /// connection (without it, small SSE writes wait for the peer's delayed ACK, about 40 ms
    /// each) and a graceful shutdown that lets in-flight calls finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(listener, self.into_router(), shutdown).await
    }

    /// An axum router serving the MCP endpoint; merge it into your app, or serve it as it is.
    /// Prefer [`serve`](crate::serve()) or [`serve_with`](crate::serve_with) to `axum::serve`:
    /// they set `TCP_NODELAY` and the connection-level limits (header-read, body and write
    /// timeouts, a connection cap) that `axum::serve` lacks. Merge rather than nest: the
    /// protected-resource metadata lives at the origin's `/.well-known/`.
    pub fn into_router(self) -> Router {
        let path = self.inner.path.clone();
        let body_limit = self.inner.body_limit;
        let route = post(crate::transport::post)
            .get(crate::transport::get)
            .delete(crate::transport::delete)
            .fallback(crate::transport::method_not_allowed);
        // Inside authentication: the budget is the verified caller's.
        let route = match &self.inner.dispatcher.rate_limits {
            Some(limits) if limits.has_request_budget() => {
                route.layer(axum::middleware::from_fn_with_state(
                    self.clone(),
                    crate::rate_limit::mcp_request_budget,
                ))
            }
            _ => route,
        };
        let route = match &self.inner.auth {
            Auth::Verifier(verifier) => route.layer(BearerAuthLayer::new(
                verifier.clone(),
                self.inner.challenge.clone(),
            )),
            Auth::Disabled(identity) => route.layer(axum::Extension(identity.clone())),
        };
        // Outermost: Host and Origin are checked before anything else, the token included.
        let route = route.layer(crate::http::guard::GuardLayer(self.inner.allowed.clone()));
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
        if self.inner.health_checks {
            router = router
                .route(crate::health::LIVENESS_PATH, get(crate::health::live))
                .route(crate::health::READINESS_PATH, get(crate::health::ready));
        }
        router.with_state(self)
    }

    /// Whether the token verifier can check tokens now (always, without authentication).
    pub(crate) async fn verifier_readiness(&self) -> crate::auth::Readiness {
        match &self.inner.auth {
            Auth::Verifier(verifier) => verifier.ready().await,
            Auth::Disabled(_) => crate::auth::Readiness::Ready,
        }
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
    crate::transport::json_response(StatusCode::OK, body)
}

/// Serves `router` (an [`McpServer`]'s, possibly merged with routes of your own) on
/// `listener` until `shutdown` completes, as [`McpServer::serve`] does: with the default
/// [`ServeConfig`](crate::ServeConfig) limits (header-read, body and write timeouts, a
/// connection cap), `TCP_NODELAY` on every connection, and a graceful shutdown that lets in-flight calls
/// finish. [`serve_with`](crate::serve_with) takes other limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serve::serve_with(listener, router, crate::ServeConfig::default(), shutdown).await
}
