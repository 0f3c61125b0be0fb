//! [`McpServerBuilder`]: a server's configuration, one setter per setting; `build.rs` checks
//! and precomputes it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AuthInfo, SharedVerifier, TokenVerifier};
use crate::http::guard::serialized_origin;
use crate::mcp::{CallEvent, DEFAULT_REQUEST_STATE_LIFETIME, Observer};
use crate::prompt::PromptDef;
use crate::rate_limit::RateLimits;
use crate::resource::ResourceDef;
use crate::scope::ScopePolicy;
use crate::tool::{StateType, ToolDef};

/// Where sessions are shared between replicas, if anywhere.
#[cfg(feature = "redis")]
pub(super) type SharedSessions = crate::session::RedisSessions;
#[cfg(not(feature = "redis"))]
pub(super) type SharedSessions = std::convert::Infallible;

/// Configures an [`McpServer`](super::McpServer). Created by
/// [`McpServer::builder`](super::McpServer::builder).
#[must_use]
pub struct McpServerBuilder {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) title: Option<String>,
    pub(super) instructions: Option<String>,
    pub(super) tools: Vec<ToolDef>,
    pub(super) resources: Vec<ResourceDef>,
    pub(super) prompts: Vec<PromptDef>,
    pub(super) state: Option<(Arc<dyn Any + Send + Sync>, StateType)>,
    pub(super) verifier: Option<SharedVerifier>,
    pub(super) without_auth: Option<Option<AuthInfo>>,
    pub(super) stdio_only: bool,
    pub(super) scopes: ScopePolicy,
    pub(super) path: Option<String>,
    pub(super) proxy_rewrites_path: bool,
    pub(super) body_limit: usize,
    pub(super) resource: Option<String>,
    pub(super) authorization_servers: Vec<String>,
    pub(super) baseline_scopes: Option<Vec<String>>,
    pub(super) resource_name: Option<String>,
    pub(super) resource_documentation: Option<String>,
    pub(super) filter_tools_by_scope: bool,
    pub(super) stateless: bool,
    pub(super) session_idle_timeout: Duration,
    pub(super) max_sessions: usize,
    pub(super) max_sessions_per_principal: usize,
    pub(super) max_streams_per_principal: usize,
    pub(super) redis_sessions: Option<SharedSessions>,
    pub(super) health_checks: bool,
    pub(super) call_timeout: Duration,
    pub(super) page_size: usize,
    pub(super) list_ttl: Duration,
    pub(super) allowed_hosts: Vec<String>,
    pub(super) allowed_origins: Vec<String>,
    pub(super) any_host: bool,
    pub(super) rate_limits: Option<RateLimits>,
    pub(super) observer: Option<Observer>,
    pub(super) metrics: Option<crate::observe::Metrics>,
    pub(super) audit: Option<Arc<dyn crate::observe::audit::AuditSink>>,
    pub(super) audit_arguments: Vec<String>,
    pub(super) dpop: crate::auth::Dpop,
    pub(super) exchange: Option<crate::downstream::TokenExchange>,
    pub(super) request_state_key: Option<Vec<u8>>,
    pub(super) previous_request_state_keys: Vec<Vec<u8>>,
    pub(super) request_state_lifetime: Duration,
    pub(super) max_subscriptions: usize,
    pub(super) updates: Arc<crate::updates::Hub>,
    pub(super) stream_polling: Option<crate::StreamPolling>,
    pub(super) tasks: crate::task::TaskLimits,
}

impl McpServerBuilder {
    /// Largest request body accepted by default: 1 MiB, far above any sane tool call.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

    /// Default of [`max_streams_per_principal`](Self::max_streams_per_principal): 16 open
    /// streams per caller.
    pub const DEFAULT_MAX_STREAMS_PER_PRINCIPAL: usize = 16;

    /// Default of [`max_subscriptions`](Self::max_subscriptions): 100 resources per session
    /// or `subscriptions/listen` stream.
    pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 100;

    pub(super) fn new(name: String, version: String) -> Self {
        McpServerBuilder {
            name,
            version,
            title: None,
            instructions: None,
            tools: Vec::new(),
            resources: Vec::new(),
            prompts: Vec::new(),
            state: None,
            verifier: None,
            without_auth: None,
            stdio_only: false,
            scopes: ScopePolicy::default(),
            path: None,
            proxy_rewrites_path: false,
            body_limit: Self::DEFAULT_BODY_LIMIT,
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
            max_streams_per_principal: Self::DEFAULT_MAX_STREAMS_PER_PRINCIPAL,
            max_subscriptions: Self::DEFAULT_MAX_SUBSCRIPTIONS,
            updates: Arc::default(),
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
            metrics: None,
            audit: None,
            audit_arguments: Vec::new(),
            dpop: crate::auth::Dpop::off(),
            exchange: None,
            request_state_key: None,
            previous_request_state_keys: Vec::new(),
            request_state_lifetime: DEFAULT_REQUEST_STATE_LIFETIME,
            stream_polling: None,
            tasks: crate::task::TaskLimits::default(),
        }
    }

    /// Adds tools, usually from [`tools!`](crate::tools).
    pub fn tools(mut self, tools: impl IntoIterator<Item = ToolDef>) -> Self {
        self.tools.extend(tools);
        self
    }

    /// Adds resources and resource templates. The server answers `resources/list`,
    /// `resources/templates/list` and `resources/read`, and advertises the `resources`
    /// capability, only when it has at least one.
    ///
    /// Each URI is served by one resource, under its scopes: `build` refuses two resources
    /// with the same URI, two templates that match a common URI, and a fixed URI that a
    /// template matches
    /// ([`BuildError::OverlappingResources`](crate::BuildError::OverlappingResources)).
    pub fn resources(mut self, resources: impl IntoIterator<Item = ResourceDef>) -> Self {
        self.resources.extend(resources);
        self
    }

    /// Adds prompts, usually from [`prompts!`](crate::prompts). The server answers
    /// `prompts/list` and `prompts/get`, and advertises the `prompts` capability, only when it
    /// has at least one; `build` refuses two prompts of one name
    /// ([`BuildError::DuplicatePrompt`](crate::BuildError::DuplicatePrompt)).
    pub fn prompts(mut self, prompts: impl IntoIterator<Item = PromptDef>) -> Self {
        self.prompts.extend(prompts);
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
    /// For local development only; the server logs a warning when it is built, also on stderr
    /// when no tracing subscriber is installed. Never expose such a server beyond loopback.
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

    /// Builds a server for the stdio transport only ([`stdio::serve`](crate::stdio::serve)),
    /// where the caller's identity comes from the environment: `build()` then needs no token
    /// verifier or authorization server, and the HTTP router, if served all the same, refuses
    /// every request with `401`. With a verifier (or [`without_auth`](Self::without_auth))
    /// configured as well, HTTP is served as that configuration says.
    pub fn stdio_only(mut self) -> Self {
        self.stdio_only = true;
        self
    }

    /// How granted scopes satisfy required ones (exact matching by default).
    pub fn scope_policy(mut self, policy: ScopePolicy) -> Self {
        self.scopes = policy;
        self
    }

    /// The path of the MCP endpoint. Default: the [`resource`](Self::resource)'s path, or
    /// `/mcp` when the resource has none (or no resource is configured).
    ///
    /// Clients connect to the resource's URL, so [`build`](Self::build) refuses a path that
    /// the resource's path is neither equal to nor a prefix of (`/api/mcp` against `/mcp`),
    /// unless [`proxy_rewrites_path`](Self::proxy_rewrites_path) says a proxy maps one onto
    /// the other.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Declares that a reverse proxy in front of this server rewrites the path clients use
    /// (the [`resource`](Self::resource)'s) into the endpoint's [`path`](Self::path), e.g.
    /// `https://example.com/api/mcp` forwarded as `/mcp`: [`build`](Self::build) then
    /// accepts a path that differs from the resource's.
    ///
    /// The protected-resource metadata is still served at
    /// `/.well-known/oauth-protected-resource` followed by the *resource's* path (RFC 9728
    /// §3.1), the URL every challenge advertises: the proxy must forward that path unchanged.
    pub fn proxy_rewrites_path(mut self) -> Self {
        self.proxy_rewrites_path = true;
        self
    }

    /// The largest request body accepted (default [`DEFAULT_BODY_LIMIT`](Self::DEFAULT_BODY_LIMIT)); larger ones get `413`.
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
    /// authorization server and the [`resource`](Self::resource) configure a [`JwtVerifier`](crate::auth::JwtVerifier)
    /// with its defaults (keys discovered from the issuer's metadata).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes advertised in `scopes_supported` and in the `scope` of the challenge to
    /// requests without a token. Default: the union of the declared tools' and resources'
    /// scopes.
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

    /// Shows each caller only the tools its scopes allow in `tools/list`, and only the
    /// resources and templates it may read in `resources/list` and
    /// `resources/templates/list` (off by default). 2026-07-28 lists then say
    /// `cacheScope: "private"`.
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
    /// Redis (feature `redis`): see [`RedisSessions`](crate::session::RedisSessions). Without it,
    /// sessions live in this process, and a load balancer in front of several replicas must
    /// send each session's requests to the replica that opened it.
    #[cfg(feature = "redis")]
    pub fn redis_sessions(mut self, sessions: crate::session::RedisSessions) -> Self {
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
    /// [`DEFAULT_MAX_STREAMS_PER_PRINCIPAL`](Self::DEFAULT_MAX_STREAMS_PER_PRINCIPAL)); one more is refused with `429` before any
    /// stream opens.
    pub fn max_streams_per_principal(mut self, max: usize) -> Self {
        self.max_streams_per_principal = max.max(1);
        self
    }

    /// The most resources one handshake-era session, or one `subscriptions/listen` stream, may
    /// subscribe to (default [`DEFAULT_MAX_SUBSCRIPTIONS`](Self::DEFAULT_MAX_SUBSCRIPTIONS)):
    /// one more is refused with an error and nothing is recorded. With the per-principal
    /// bounds on sessions and streams, this bounds what subscriptions cost.
    pub fn max_subscriptions(mut self, max: usize) -> Self {
        self.max_subscriptions = max.max(1);
        self
    }

    /// The handle that publishes resource updates to the clients subscribed to them; take it
    /// before [`build`](Self::build) to give it to tools through the server's state (see
    /// [`Notifier`](crate::Notifier)). Updates published before the server is built are
    /// dropped.
    pub fn notifier(&self) -> crate::Notifier {
        crate::Notifier::new(self.updates.clone())
    }

    /// The longest a tool may run (default 5 minutes); a call that takes longer is abandoned
    /// and answered with a tool error.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Closes handshake-era request streams whose response is slow and lets the client resume
    /// them with `GET` and `Last-Event-ID` (SEP-1699): see [`StreamPolling`](crate::StreamPolling).
    /// Off by default; needs sessions (ignored by a [`stateless`](Self::stateless) server).
    pub fn stream_polling(mut self, polling: crate::StreamPolling) -> Self {
        self.stream_polling = Some(polling);
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

    /// Calls `hook` once for every `tools/call` of a declared tool, every `resources/read`
    /// of a URI a declared resource serves and every `prompts/get` of a declared prompt when
    /// it is over, whatever its outcome, including
    /// calls refused before the function ran (`403`, `429`, bad arguments) and calls cancelled
    /// by the client: the place for an audit trail or metrics. [`CallEvent::kind`] says which.
    ///
    /// The hook runs on the request's task: keep it quick, or hand the event to a channel.
    pub fn on_call(mut self, hook: impl Fn(&CallEvent<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(hook));
        self
    }

    /// Records this server's metrics in `metrics` (see [`Metrics`](crate::observe::Metrics)
    /// and the README's "Observability"): request durations by method and tool,
    /// authentication and authorization decisions by outcome and reason, the token cache,
    /// key-set fetches, sessions and streams. Off without it.
    pub fn metrics(mut self, metrics: crate::observe::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Tells `sink` of every request the MCP endpoint answers, refusals before the body
    /// included (see [`observe::audit`](crate::observe::audit)). Events never hold the token;
    /// they hold a tool's arguments only for the tools named in
    /// [`audit_arguments`](Self::audit_arguments).
    pub fn audit(mut self, sink: impl crate::observe::audit::AuditSink) -> Self {
        self.audit = Some(Arc::new(sink));
        self
    }

    /// Audit events of calls of these tools (and gets of these prompts) carry their
    /// arguments, as sent. Arguments may hold personal data: name only the tools and prompts
    /// whose arguments the trail must keep.
    pub fn audit_arguments<I, T>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.audit_arguments
            .extend(tools.into_iter().map(Into::into));
        self
    }

    /// The key that seals the `requestState` of 2026-07-28 round trips (HMAC-SHA256): at
    /// least 32 random bytes, kept secret.
    ///
    /// A tool or prompt that asks for input (an elicitation, a sampling request, the client's
    /// roots) ends a 2026-07-28 request with an `InputRequiredResult`, and the client sends it
    /// again with the answers and the `requestState` it was given. The state is sealed for the
    /// caller, the method (`tools/call`, `prompts/get`), the tool or prompt, the request's
    /// arguments and the questions asked, and expires (see
    /// [`request_state_lifetime`](Self::request_state_lifetime)), so that no client can replay
    /// an answer onto another call, another caller or a prompt of the tool's name, or forge
    /// one; such retries get JSON-RPC `-32602`. Answers to questions no state asked are
    /// ignored (the question is asked again), unless the tool made them
    /// [answerable in advance](crate::Ask::answerable_in_advance).
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

    /// Lets tools call downstream APIs as the caller:
    /// [`ToolContext::downstream_token`](crate::ToolContext::downstream_token) exchanges the
    /// request's access token with `exchange` (RFC 8693). Without it, that call fails with
    /// [`ExchangeError::NotConfigured`](crate::downstream::ExchangeError::NotConfigured).
    pub fn token_exchange(mut self, exchange: crate::downstream::TokenExchange) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// Proof of possession (RFC 9449): whether DPoP-bound tokens are accepted or required,
    /// with which proof algorithms, `iat` window and nonces; see [`Dpop`](crate::auth::Dpop)
    /// and the guide in [`auth`](crate::auth#proof-of-possession-dpop-bound-tokens). Bearer
    /// tokens only by default ([`Dpop::off`](crate::auth::Dpop::off)).
    ///
    /// Proofs name the URI the client addressed, so DPoP needs the
    /// [`resource`](Self::resource); [`build`](Self::build) refuses it without one, and
    /// refuses HMAC or no proof algorithms and nonce keys shorter than 32 bytes. The MCP
    /// endpoint, [`bearer_auth`](super::McpServer::bearer_auth) and
    /// [`require_scopes`](super::McpServer::require_scopes) apply it, the protected-resource
    /// metadata advertises it, and with [`redis_sessions`](Self::redis_sessions) the record of
    /// used proofs is shared by every replica.
    pub fn dpop(mut self, dpop: crate::auth::Dpop) -> Self {
        self.dpop = dpop;
        self
    }

    /// How long a `requestState` is accepted after it was issued; 10 minutes by default.
    pub fn request_state_lifetime(mut self, lifetime: Duration) -> Self {
        self.request_state_lifetime = lifetime;
        self
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
