//! MCP method semantics, independent of HTTP: a parsed request, the verified caller and what
//! the transport learned about the request in; a [`Reply`] out.
//!
//! Both protocol eras are served here. The handshake era (2025-03-26 to 2025-11-25) answers
//! `initialize`, `ping`, `logging/setLevel`, `tools/list` and `tools/call`; the 2026-07-28 era
//! answers `server/discover`, `tools/list`, `tools/call` and `subscriptions/listen`; both answer the resource methods
//! when the server has resources, adds
//! `resultType` to every result and caching hints to lists, and returns requests for input as
//! an `InputRequiredResult`.
//!
//! One file per concern: [`era`] (what a 2026-07-28 request declares in `_meta`),
//! [`lifecycle`] (`initialize`, `logging/setLevel`, `server/discover`), [`list`]
//! (`tools/list` pages and cursors), [`call`] (`tools/call`), [`resources`], [`round_trip`],
//! [`request_state`] and [`spent`] (the 2026-07-28 input round trips), [`listen`] and
//! [`streams`] (`subscriptions/listen`), [`subscribe`] (resource subscriptions, both eras), [`events`] (what the `on_call` hook sees), [`reply`]
//! (what goes back to the transport).

mod call;
mod completion;
mod detached;
mod era;
mod events;
mod lifecycle;
mod list;
mod listen;
mod operation;
mod prompts;
mod reply;
mod request_state;
mod resources;
mod round_trip;
mod spent;
mod streams;
mod subscribe;
mod task_listen;
mod task_run;
mod tasks;

pub(crate) use era::{declares_version, log_level, modern_era, unsupported_version};
pub use events::{CallEvent, CallKind, CallOutcome};
pub(crate) use events::{Observer, OutcomeSlot};
pub(crate) use reply::{Listen, Reply};
pub(crate) use request_state::{
    DEFAULT_LIFETIME as DEFAULT_REQUEST_STATE_LIFETIME, MIN_KEY_LEN as MIN_REQUEST_STATE_KEY_LEN,
    Sealer,
};
#[cfg(feature = "redis")]
pub(crate) use spent::RedisSpent;
pub(crate) use spent::{ExpiringKeys, MAX_SPENT, MemorySpent, NotSpent, SpentStates};
pub(crate) use streams::{OpenStreams, StreamSlot, deadline_of};
pub(crate) use tasks::Tasks;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::auth::AuthInfo;
use crate::downstream::{SubjectToken, TokenExchange};
use crate::jsonrpc::{Request, code, request_id_key};
use crate::observe::trace;
use crate::peer::{ClientSupport, LogLevel};
use crate::prompt::Prompts;
use crate::protocol::meta;
use crate::rate_limit::RateLimits;
use crate::resource::Resources;
use crate::scope::ScopePolicy;
use crate::session::{LocalCalls, Relayed, Session, SessionStore};
use crate::tool::Registry;
use reply::{error, respond};

/// Which era a request belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Era {
    /// Handshake era; `session` is the caller's session in stateful mode.
    Legacy { session: Option<Arc<Session>> },
    /// 2026-07-28: capabilities and log level come with the request.
    Modern {
        support: ClientSupport,
        log_level: Option<LogLevel>,
    },
}

/// What the transport knows about one request.
pub(crate) struct RequestCtx {
    pub(crate) auth: Arc<AuthInfo>,
    /// The request's access token, for token exchange alone: `None` without one (stdio, no
    /// authentication, an API key).
    pub(crate) subject: Option<SubjectToken>,
    pub(crate) era: Era,
    /// Where notifications for this request go, when the client accepts a stream.
    pub(crate) outbound: Option<mpsc::UnboundedSender<Bytes>>,
    /// How the request came: `network.transport` of metrics.
    pub(crate) transport: crate::observe::Transport,
    /// The TCP peer, when the server knows it: `client_address` of audit events.
    pub(crate) peer: Option<std::net::IpAddr>,
    /// Where the call's outcome goes, when metrics or audit are on (set by
    /// [`Dispatcher::request`]).
    pub(crate) outcome: Option<OutcomeSlot>,
}

/// Everything dispatch needs, shared by all requests of one server.
pub(crate) struct Dispatcher {
    pub(crate) registry: Registry,
    pub(crate) resources: Resources,
    pub(crate) prompts: Prompts,
    /// Every tool's and resource's scopes, sorted, each once.
    pub(crate) declared_scopes: Vec<&'static str>,
    pub(crate) scopes: ScopePolicy,
    pub(crate) state: Arc<dyn std::any::Any + Send + Sync>,
    /// Whether `tools/list` and the resource lists show each caller only what its scopes
    /// allow.
    pub(crate) filter_tools: bool,
    /// Legacy sessions; `None` in stateless mode.
    pub(crate) sessions: Option<Arc<SessionStore>>,
    pub(crate) call_timeout: Duration,
    pub(crate) page_size: usize,
    pub(crate) list_ttl: Duration,
    /// `private` when the list depends on the caller or the server is authenticated.
    pub(crate) cache_scope: &'static str,
    /// `{"name":..,"version":..,"title"?:..}`.
    pub(crate) server_info: Value,
    pub(crate) instructions: Option<String>,
    /// Precomputed `tools/list` pages, each followed by the closing brace of the response:
    /// (handshake era, 2026-07-28 era).
    pub(crate) pages: Vec<(Bytes, Bytes)>,
    /// The handshake-era calls running here that a client may answer or cancel.
    pub(crate) calls: Arc<LocalCalls>,
    /// Changes with the tool set, so that cursors of another deployment are refused.
    pub(crate) fingerprint: u64,
    pub(crate) rate_limits: Option<RateLimits>,
    pub(crate) observer: Option<Observer>,
    /// Where metrics and audit events go.
    pub(crate) hub: Arc<crate::observe::Hub>,
    /// Seals and opens the `requestState` of 2026-07-28 round trips.
    pub(crate) request_state: Sealer,
    /// The states already used by a retry.
    pub(crate) spent: SpentStates,
    /// The `subscriptions/listen` streams open in this process, per caller.
    pub(crate) streams: Arc<OpenStreams>,
    /// The streams of this process that carry resource updates.
    pub(crate) updates: Arc<crate::updates::Hub>,
    /// The most resources a session or a listen stream may subscribe to.
    pub(crate) max_subscriptions: usize,
    /// Tool calls running as tasks (the tasks extension).
    pub(crate) tasks: Tasks,
    /// Exchanges the caller's token for downstream APIs' (`ToolContext::downstream_token`).
    pub(crate) exchange: Option<TokenExchange>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Handles one request in its server span (see [`crate::observe`]), reported to the hub
    /// inside it ([`reported`](Self::reported)).
    pub(crate) async fn request(&self, request: Request, ctx: RequestCtx) -> Reply {
        let span = trace::http::request_span(Some(&request));
        if !span.is_disabled() {
            let target = self.target_of(&request);
            let version = match &ctx.era {
                Era::Legacy { session } => session.as_ref().map(|s| s.version),
                Era::Modern { .. } => request
                    .meta()
                    .and_then(|m| m.get(meta::PROTOCOL_VERSION))
                    .and_then(Value::as_str),
            };
            trace::record_request(&span, &request, trace::Target::of(target.as_ref()), version);
        }
        let reply = self.reported(request, ctx).instrument(span.clone()).await;
        trace::record_reply(&span, &reply);
        reply
    }

    /// Handles one request (see [`request`](Self::request), which traces and reports it).
    async fn dispatch(&self, request: Request, ctx: RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        match (request.method.as_str(), modern) {
            ("initialize", false) => self.initialize(&request),
            ("ping", false) => respond(&request, &json!({})),
            ("logging/setLevel", false) => self.set_level(&request, &ctx).await,
            ("server/discover", true) => self.discover(&request),
            ("subscriptions/listen", true) => self.listen(&request, &ctx).await,
            ("tools/list", _) => self.list_tools(&request, &ctx),
            ("tools/call", _) => self.call_tool(request, ctx).await,
            ("tasks/get" | "tasks/update" | "tasks/cancel", _) => {
                self.task_method(&request, &ctx).await
            }
            ("resources/list", _) if !self.resources.is_empty() => {
                self.list_resources(&request, &ctx, false)
            }
            ("resources/templates/list", _) if !self.resources.is_empty() => {
                self.list_resources(&request, &ctx, true)
            }
            ("resources/read", _) if !self.resources.is_empty() => {
                self.read_resource(&request, &ctx).await
            }
            ("completion/complete", _) if self.completes() => self.complete(&request, &ctx).await,
            ("prompts/list", _) if !self.prompts.is_empty() => self.list_prompts(&request, &ctx),
            ("prompts/get", _) if !self.prompts.is_empty() => self.get_prompt(&request, &ctx).await,
            ("resources/subscribe", false) if !self.resources.is_empty() => {
                self.subscribe(&request, &ctx).await
            }
            ("resources/unsubscribe", false) if !self.resources.is_empty() => {
                self.unsubscribe(&request, &ctx).await
            }
            (method, _) => {
                let status = if modern {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::OK
                };
                let message = format!("method not found: {method}");
                error(&request, status, code::METHOD_NOT_FOUND, message)
            }
        }
    }

    /// Handles a notification; `notifications/cancelled` aborts the matching call, here or,
    /// with sessions in Redis, in the replica running it.
    pub(crate) async fn notification(
        &self,
        method: &str,
        params: Option<&Map<String, Value>>,
        scope: &str,
    ) {
        trace::record_method(
            &trace::http::request_span(None),
            method,
            trace::Target::default(),
        );
        if method != "notifications/cancelled" {
            tracing::debug!(%method, "notification");
            return;
        }
        let Some(id) = params.and_then(|p| p.get("requestId")) else {
            return;
        };
        self.deliver(Relayed::Cancel {
            scope: scope.to_owned(),
            id: request_id_key(id),
        })
        .await;
    }

    /// Delivers a client's answer to a request for input of a call of session `scope`.
    pub(crate) async fn answer(&self, scope: &str, id: String, answer: Result<Value, Value>) {
        let (result, error) = match answer {
            Ok(result) => (Some(result), None),
            Err(error) => (None, Some(error)),
        };
        self.deliver(Relayed::Answer {
            scope: scope.to_owned(),
            id,
            result,
            error,
        })
        .await;
    }

    /// Applies what a client said about a call running here or, with sessions in Redis,
    /// relays it to the replica running it.
    async fn deliver(&self, message: Relayed) {
        match &self.sessions {
            Some(store) => store.deliver(&self.calls, message).await,
            None => {
                self.calls.deliver(&message);
            }
        }
    }

    /// A 2026-07-28 result: `resultType` (unless the result sets it) and
    /// `_meta["io.modelcontextprotocol/serverInfo"]`.
    fn modern(&self, mut result: Value) -> Value {
        if let Value::Object(map) = &mut result {
            map.entry("resultType").or_insert_with(|| "complete".into());
            let meta = map.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(meta::SERVER_INFO.into(), self.server_info.clone());
            }
        }
        result
    }
}
