//! [`McpServerBuilder::build`]: the configuration checked and precomputed, in named steps.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::builder::SharedSessions;
use super::{Auth, BuildError, Inner, McpServer, McpServerBuilder, Metadata};
use crate::auth::claims::{canonical_resource, is_secure_url};
use crate::auth::{
    AuthInfo, Challenge, Dpop, DpopPolicy, JwtVerifier, PublicUris, SharedVerifier,
    TokenVerifier as _,
};
use crate::context::unit_state;
use crate::http::Endpoint;
use crate::http::guard::Allowed;
use crate::http::replay::{Mirror, Replays};
#[cfg(feature = "redis")]
use crate::mcp::RedisSpent;
use crate::mcp::{
    Dispatcher, MAX_SPENT, MIN_REQUEST_STATE_KEY_LEN, MemorySpent, OpenStreams, Sealer, SpentStates,
};
use crate::metadata::ProtectedResourceMetadata;
use crate::prompt::{PromptDef, Prompts};
use crate::resource::Resources;
use crate::session::{Limits, MemorySessions, SessionStore};
use crate::tool::schema::is_object_schema;
use crate::tool::{Registry, StateType, ToolDef};

impl McpServerBuilder {
    /// Validates the configuration and precomputes everything requests share.
    pub fn build(mut self) -> Result<McpServer, BuildError> {
        let path = crate::http::endpoint_path(
            self.path.take(),
            self.resource.as_deref(),
            self.proxy_rewrites_path,
        )?;
        let request_state = self.request_state()?;
        check_tools(&self.tools, self.state.as_ref().map(|(_, t)| *t))?;
        // No verifier and no issuer: callers go without a token (`without_auth`, stdio only;
        // anything else fails in `authentication` below), which each tool's
        // `securitySchemes` says.
        let anonymous = self.verifier.is_none() && self.authorization_servers.is_empty();
        let registry = Registry::new(self.tools, anonymous);
        let state_type = self.state.as_ref().map(|(_, t)| *t);
        for resource in &self.resources {
            let completers = resource.completion().into_iter().flat_map(|c| c.states());
            for wanted in resource.state().into_iter().chain(completers) {
                check_state(Some(wanted), state_type, |expected, given| {
                    BuildError::ResourceStateMismatch {
                        resource: resource.name(),
                        expected,
                        given,
                    }
                })?;
            }
        }
        let resources = Resources::new(self.resources)?;
        let prompts = check_prompts(self.prompts, state_type)?;
        let declared = declared_scopes(&registry, &resources, &prompts);
        if let Some(limits) = &self.rate_limits
            && let Some(unknown) = limits
                .tool_names()
                .find(|name| registry.get(name).is_none())
        {
            return Err(BuildError::UnknownRateLimitedTool(unknown.to_owned()));
        }
        check_urls(self.resource.as_deref(), &self.authorization_servers)?;
        let dpop = proof_of_possession(
            self.dpop,
            self.resource.as_deref(),
            &path,
            self.proxy_rewrites_path,
            self.redis_sessions.as_ref(),
        )?;
        let auth = authentication(
            &self.name,
            self.verifier,
            self.without_auth,
            self.stdio_only,
            &self.authorization_servers,
            self.resource.as_deref(),
            &declared,
        )?;
        let advertised = match self.baseline_scopes {
            Some(scopes) => {
                if let Some(bad) = scopes.iter().find(|s| !crate::auth::is_scope_token(s)) {
                    return Err(BuildError::InvalidScope(bad.clone()));
                }
                scopes
            }
            None => declared.iter().map(|s| (*s).to_owned()).collect(),
        };
        let mut challenge = Challenge::new(self.name.clone()).scope(advertised.join(" "));
        if let Some((dpop, _)) = &dpop {
            challenge = challenge.dpop(dpop);
        }
        let (dpop_required, dpop_algs) = match &dpop {
            Some((dpop, _)) => (
                dpop.policy() == DpopPolicy::Require,
                dpop.accepted_algorithms()
                    .iter()
                    .map(|a| a.name())
                    .collect(),
            ),
            None => (false, Vec::new()),
        };
        let metadata = match &self.resource {
            Some(resource) => {
                let metadata = Metadata::new(ProtectedResourceMetadata {
                    resource: resource.clone(),
                    authorization_servers: self.authorization_servers.clone(),
                    scopes_supported: advertised,
                    bearer_methods_supported: vec!["header"],
                    resource_name: self.resource_name,
                    resource_documentation: self.resource_documentation,
                    dpop_bound_access_tokens_required: dpop_required,
                    dpop_signing_alg_values_supported: dpop_algs,
                })?;
                challenge = challenge.resource_metadata(metadata.url.clone());
                Some(metadata)
            }
            None => None,
        };
        let allowed = allowed(
            self.allowed_hosts,
            self.allowed_origins,
            self.any_host,
            self.resource.as_deref(),
        );
        let spent = spent_states(
            self.redis_sessions.as_ref(),
            self.request_state_key.is_some(),
        );
        let mirror = stream_mirror(self.redis_sessions.as_ref());
        let tasks = super::tasks::tasks(self.redis_sessions.as_ref(), self.tasks);
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
        let sessions = sessions.map(Arc::new);
        // With sessions in Redis, the relay delivers into the same registry of calls.
        let calls = sessions
            .as_ref()
            .map_or_else(Arc::default, |store| store.calls());
        let fingerprint = fingerprint(&registry, &resources, &prompts);
        let mut dispatcher = Dispatcher {
            registry,
            resources,
            prompts,
            declared_scopes: declared,
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
            server_info: server_info(self.name, self.version, self.title),
            instructions: self.instructions,
            pages: Vec::new(),
            calls,
            fingerprint,
            rate_limits: self.rate_limits,
            observer: self.observer,
            hub: Arc::new(crate::observe::Hub {
                metrics: self.metrics,
                audit: self.audit,
                audit_arguments: self.audit_arguments.into_iter().collect(),
            }),
            request_state,
            spent,
            streams: OpenStreams::new(self.max_streams_per_principal),
            updates: self.updates.clone(),
            max_subscriptions: self.max_subscriptions,
            tasks,
            exchange: self.exchange,
        };
        dispatcher.paginate();
        if let Some(metrics) = &dispatcher.hub.metrics {
            attach_metrics(metrics, &auth, &dispatcher);
        }
        let local_identity = match &auth {
            Auth::Disabled(identity) => Some(identity.clone()),
            Auth::Verifier(_) | Auth::Refused => None,
        };
        let endpoint = Arc::new(Endpoint {
            mcp: dispatcher,
            body_limit: self.body_limit,
            challenge,
            local_identity,
            replays: stream_replays(
                self.stream_polling,
                self.stateless,
                mirror,
                self.call_timeout,
                self.max_streams_per_principal,
            ),
        });
        crate::updates::attach(&self.updates, &endpoint);
        Ok(McpServer {
            inner: Arc::new(Inner {
                endpoint,
                metadata,
                auth,
                dpop,
                path,
                health_checks: self.health_checks,
                mount_check: Arc::default(),
                allowed: Arc::new(allowed),
            }),
        })
    }

    /// The sealer of 2026-07-28 `requestState`s, with the configured keys or a random one.
    fn request_state(&self) -> Result<Sealer, BuildError> {
        if let Some(short) = self
            .request_state_key
            .iter()
            .chain(&self.previous_request_state_keys)
            .find(|key| key.len() < MIN_REQUEST_STATE_KEY_LEN)
        {
            return Err(BuildError::RequestStateKeyTooShort(short.len()));
        }
        let previous = &self.previous_request_state_keys;
        Ok(match &self.request_state_key {
            Some(key) => Sealer::new(key, previous, self.request_state_lifetime),
            None => Sealer::random(previous, self.request_state_lifetime),
        })
    }
}

/// The tools against each other and the server's state type: unique names, object schemas,
/// and each `ToolContext<S>` naming the server's state.
fn check_tools(tools: &[ToolDef], state: Option<StateType>) -> Result<(), BuildError> {
    let mut names = HashSet::with_capacity(tools.len());
    for tool in tools {
        if !names.insert(tool.name()) {
            return Err(BuildError::DuplicateTool(tool.name()));
        }
        if !is_object_schema(tool.input_schema()) {
            return Err(BuildError::SchemaNotObject {
                tool: tool.name(),
                which: "input",
            });
        }
        if let Some(reason) = tool.header_error() {
            return Err(BuildError::InvalidHeaderParam {
                tool: tool.name(),
                reason: reason.to_owned(),
            });
        }
        if tool.output_schema().is_some_and(|s| !is_object_schema(s)) {
            return Err(BuildError::SchemaNotObject {
                tool: tool.name(),
                which: "output",
            });
        }
        if let Some(wanted) = tool.state()
            && !state_matches(wanted, state)
        {
            return Err(BuildError::StateMismatch {
                tool: tool.name(),
                expected: wanted.name,
                given: state.map_or("()", |s| s.name),
            });
        }
    }
    Ok(())
}

/// Whether a handler's `ToolContext<S>` can be given the server's state: `S` is that state,
/// or `()`.
fn state_matches(wanted: StateType, given: Option<StateType>) -> bool {
    given.is_some_and(|given| (given.id)() == (wanted.id)())
        || (wanted.id)() == std::any::TypeId::of::<()>()
}

/// The prompts against each other (unique names) and the server's state type.
fn check_prompts(prompts: Vec<PromptDef>, state: Option<StateType>) -> Result<Prompts, BuildError> {
    for prompt in &prompts {
        // Completers get the same context, so they are checked as the prompt is.
        let completers = prompt.completion().into_iter().flat_map(|c| c.states());
        for wanted in prompt.state().into_iter().chain(completers) {
            check_state(Some(wanted), state, |expected, given| {
                BuildError::PromptStateMismatch {
                    prompt: prompt.name(),
                    expected,
                    given,
                }
            })?;
        }
    }
    Prompts::new(prompts)
}

/// A handler's `ToolContext<S>` (`wanted`) against the server's state; `mismatch` builds the
/// refusal from the two type names.
fn check_state(
    wanted: Option<StateType>,
    given: Option<StateType>,
    mismatch: impl FnOnce(&'static str, &'static str) -> BuildError,
) -> Result<(), BuildError> {
    match wanted {
        Some(wanted) if !state_matches(wanted, given) => {
            Err(mismatch(wanted.name, given.map_or("()", |s| s.name)))
        }
        _ => Ok(()),
    }
}

/// The union of every tool's, resource's and prompt's scopes, sorted: what
/// `scopes_supported` advertises by default and a local identity holds.
fn declared_scopes(
    registry: &Registry,
    resources: &Resources,
    prompts: &Prompts,
) -> Vec<&'static str> {
    crate::scope::union(
        registry
            .scopes()
            .iter()
            .chain(resources.scopes())
            .chain(prompts.scopes())
            .copied(),
    )
}

/// The resource must be an absolute `https` URI (http on loopback), and so must every
/// authorization server.
fn check_urls(resource: Option<&str>, issuers: &[String]) -> Result<(), BuildError> {
    if let Some(resource) = resource
        && (canonical_resource(resource).is_none() || !is_secure_url(resource))
    {
        return Err(BuildError::InvalidResource(resource.to_owned()));
    }
    if let Some(issuer) = issuers.iter().find(|i| !is_secure_url(i)) {
        return Err(BuildError::InsecureAuthorizationServer(issuer.clone()));
    }
    Ok(())
}

/// How callers are authenticated: the configured verifier, no authentication when that was
/// asked for explicitly, or a [`JwtVerifier`] for the one authorization server; and a
/// verifier's resource must be the server's.
fn authentication(
    name: &str,
    verifier: Option<SharedVerifier>,
    without_auth: Option<Option<AuthInfo>>,
    stdio_only: bool,
    issuers: &[String],
    resource: Option<&str>,
    declared: &[&'static str],
) -> Result<Auth, BuildError> {
    let verifier = match (verifier, without_auth) {
        (Some(verifier), _) => verifier,
        (None, Some(identity)) => {
            super::visible_warning!(
                "MCP server `{name}` runs WITHOUT AUTHENTICATION: every caller is a local user. \
                 Use this for local development only."
            );
            let identity = identity
                .unwrap_or_else(|| AuthInfo::new("local").with_scopes(declared.iter().copied()));
            return Ok(Auth::Disabled(Arc::new(identity)));
        }
        (None, None) => match (issuers, resource) {
            ([], _) if stdio_only => return Ok(Auth::Refused),
            ([], _) => return Err(BuildError::NoVerifier),
            ([issuer], Some(resource)) => {
                let jwt = JwtVerifier::builder(issuer.clone(), resource.to_owned()).build()?;
                SharedVerifier(Arc::new(jwt))
            }
            ([_], None) => return Err(BuildError::MissingResource),
            _ => return Err(BuildError::AmbiguousIssuer),
        },
    };
    let Some(resource) = resource else {
        return Err(BuildError::MissingResource);
    };
    if let Some(theirs) = verifier.resource()
        && canonical_resource(theirs) != canonical_resource(resource)
    {
        return Err(BuildError::ResourceMismatch {
            verifier: theirs.to_owned(),
            server: resource.to_owned(),
        });
    }
    Ok(Auth::Verifier(verifier))
}

/// The server's DPoP configuration, checked, and where clients address it: `None` when DPoP
/// is off. A proof names the URI the client addressed, so DPoP needs the resource: requests
/// are addressed at its origin, and the MCP endpoint at the resource itself when a proxy
/// rewrites its path. With sessions in Redis, the record of spent proofs is shared there too,
/// so that a proof replayed to another replica is refused.
fn proof_of_possession(
    dpop: Dpop,
    resource: Option<&str>,
    path: &str,
    proxy_rewrites_path: bool,
    redis: Option<&SharedSessions>,
) -> Result<Option<(Dpop, PublicUris)>, BuildError> {
    if dpop.policy() == DpopPolicy::Off {
        return Ok(None);
    }
    let resource = resource.ok_or(BuildError::DpopWithoutResource)?;
    let invalid = || BuildError::InvalidResource(resource.to_owned());
    let url = url::Url::parse(resource).map_err(|_| invalid())?;
    let mut uris = PublicUris::new(&url.origin().ascii_serialization()).map_err(|_| invalid())?;
    if proxy_rewrites_path {
        uris = uris.rewriting(
            path,
            &format!("{}{}", url.origin().ascii_serialization(), url.path()),
        );
    }
    crate::auth::check_dpop(&dpop)?;
    #[cfg(feature = "redis")]
    if let Some(redis) = redis {
        return Ok(Some((dpop.with_redis_replay(redis), uris)));
    }
    #[cfg(not(feature = "redis"))]
    if let Some(never) = redis {
        match *never {}
    }
    Ok(Some((dpop, uris)))
}

/// The hosts and origins the guard lets through: those configured, and the resource's own.
fn allowed(
    mut hosts: Vec<String>,
    mut origins: Vec<String>,
    any_host: bool,
    resource: Option<&str>,
) -> Allowed {
    if let Some(url) = resource.and_then(|r| url::Url::parse(r).ok()) {
        if let Some(host) = url.host_str() {
            hosts.push(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            });
        }
        origins.push(url.origin().ascii_serialization());
    }
    Allowed {
        hosts,
        origins,
        any_host,
    }
}

/// `serverInfo`: `{"name":..,"version":..,"title"?:..}`.
fn server_info(name: String, version: String, title: Option<String>) -> Value {
    let mut info = json!({ "name": name, "version": version });
    if let Some(title) = title {
        info["title"] = title.into();
    }
    info
}

/// Changes with the tool and resource sets, so that list cursors of another deployment are
/// refused.
fn fingerprint(registry: &Registry, resources: &Resources, prompts: &Prompts) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for tool in registry.tools() {
        tool.name().hash(&mut hasher);
    }
    // Tools alone hash as before, so that tool cursors survive adding no resources.
    for resource in resources.defs() {
        format!("{:?}", resource.uri()).hash(&mut hasher);
    }
    for prompt in prompts.defs() {
        ("prompt", prompt.name()).hash(&mut hasher);
    }
    hasher.finish()
}

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
        super::visible_warning!(
            "request states are sealed with a configured key but spent states are recorded in \
             this process only: replicas sharing the key each accept a state once; configure \
             `redis_sessions` to share the record"
        );
    }
    SpentStates::Memory(MemorySpent::new(MAX_SPENT))
}

/// Where request streams closed for polling are kept: only when polling is asked for and the
/// handshake era has sessions, which a resumption is checked against.
fn stream_replays(
    polling: Option<crate::StreamPolling>,
    stateless: bool,
    mirror: Mirror,
    call_timeout: std::time::Duration,
    max_per_principal: usize,
) -> Option<crate::http::replay::Replays> {
    polling
        .filter(|_| !stateless)
        .map(|polling| Replays::new(polling, mirror, call_timeout, max_per_principal))
}

/// With sessions in Redis, request streams are copied there too, so that a client may resume
/// one through any replica.
fn stream_mirror(sessions: Option<&SharedSessions>) -> Mirror {
    #[cfg(feature = "redis")]
    return Mirror {
        redis: sessions.map(crate::session::kept_streams::RedisStreams::new),
    };
    #[cfg(not(feature = "redis"))]
    {
        let _ = sessions;
        Mirror::default()
    }
}

/// Attaches what the server's parts count (the verifier's caches and fetches, the sessions,
/// the streams, the rate limits) to its metrics, which read them at each scrape.
fn attach_metrics(metrics: &crate::observe::Metrics, auth: &Auth, dispatcher: &Dispatcher) {
    if let Auth::Verifier(verifier) = auth {
        verifier.attach_metrics(metrics);
    }
    if let Some(sessions) = &dispatcher.sessions {
        sessions.attach_metrics(metrics);
    }
    let streams: Arc<dyn crate::observe::Gauge> = dispatcher.streams.clone();
    metrics.attach_streams(Arc::downgrade(&streams));
    if let Some(limits) = &dispatcher.rate_limits {
        limits.attach(metrics);
    }
}
