//! MCP method dispatch, independent of the HTTP transport: a parsed request, the verified
//! caller and what the transport learned about the request in; a [`Reply`] out.
//!
//! Both protocol eras are served here. The handshake era (2025-03-26 to 2025-11-25) answers
//! `initialize`, `ping`, `logging/setLevel`, `tools/list` and `tools/call`; the 2026-07-28 era
//! answers `server/discover`, `tools/list`, `tools/call` and `subscriptions/listen`, adds
//! `resultType` to every result and caching hints to lists, and returns requests for input as
//! an `InputRequiredResult`.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::future::{AbortHandle, Abortable};
use http::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::request_state::{Answer, Answers, Binding, Nonce, Refused, Sealer, arguments_digest};
use super::spent::{NotSpent, SpentStates};
use super::{ErrorResponse, Id, Request, code, question_digest, result_body};
use crate::auth::AuthInfo;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::peer::{Channel, ClientSupport, InputRequest, LogLevel, Peer};
use crate::rate_limit::RateLimits;
use crate::registry::Registry;
use crate::result::{CallToolResult, Content};
use crate::scope::ScopePolicy;
use crate::session::{LocalCalls, Relayed, Session, SessionError, SessionStore};
use crate::streams::{OpenStreams, StreamSlot};

/// Handshake-era protocol versions, newest first.
pub(crate) const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// Protocol versions of the stateless era.
pub(crate) const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// `_meta` keys of the 2026-07-28 era.
pub(crate) mod meta {
    pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub(crate) const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub(crate) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}

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
    pub(crate) era: Era,
    /// Where notifications for this request go, when the client accepts a stream.
    pub(crate) outbound: Option<mpsc::UnboundedSender<Bytes>>,
}

/// What the transport sends back.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON-RPC response (result or error) with this status.
    Json(StatusCode, Bytes),
    /// A `200` result serialized when the server was built (a `tools/list` page), sent without
    /// copying it: `head` is `{"jsonrpc":"2.0","id":<id>,"result":`, `tail` the result and the
    /// closing brace.
    Precomputed { head: Bytes, tail: Bytes },
    /// The caller lacks scopes: `403` with an `insufficient_scope` challenge naming `required`.
    Forbidden { required: Vec<String>, body: Bytes },
    /// The `initialize` result, and the session it opened (stateful mode).
    Initialized {
        body: Bytes,
        session: Option<String>,
    },
    /// `subscriptions/listen`: a stream that opens with this acknowledgement and stays open
    /// until the client closes it or its token expires.
    Listen(Listen),
    /// The client cancelled the call: no response is sent (MCP cancellation).
    Cancelled,
    /// The caller is over a rate limit: `429` with `Retry-After`.
    RateLimited { retry_after: Duration, body: Bytes },
}

/// An accepted `subscriptions/listen`.
#[derive(Debug)]
pub(crate) struct Listen {
    pub(crate) ack: Bytes,
    /// The end of the token that opened the stream.
    pub(crate) expires_at: Option<tokio::time::Instant>,
    /// The caller's slot, given back when the stream ends.
    pub(crate) slot: StreamSlot,
}

/// Everything dispatch needs, shared by all requests of one server.
pub(crate) struct Dispatcher {
    pub(crate) registry: Registry,
    pub(crate) scopes: ScopePolicy,
    pub(crate) state: Arc<dyn std::any::Any + Send + Sync>,
    /// Whether `tools/list` shows each caller only the tools its scopes allow.
    pub(crate) filter_tools: bool,
    /// Legacy sessions; `None` in stateless mode.
    pub(crate) sessions: Option<SessionStore>,
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
    /// Seals and opens the `requestState` of 2026-07-28 round trips.
    pub(crate) request_state: Sealer,
    /// The states already used by a retry.
    pub(crate) spent: SpentStates,
    /// The `subscriptions/listen` streams open in this process, per caller.
    pub(crate) streams: Arc<OpenStreams>,
}

/// The hook [`McpServerBuilder::on_call`](crate::McpServerBuilder::on_call) installs.
pub(crate) type Observer = Arc<dyn Fn(&CallEvent<'_>) + Send + Sync>;

/// One `tools/call` of a known tool, as reported to the
/// [`on_call`](crate::McpServerBuilder::on_call) hook once the call is over: for audit trails
/// and metrics. It never holds the caller's token.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallEvent<'a> {
    /// The tool called.
    pub tool: &'static str,
    /// Who called it.
    pub auth: &'a AuthInfo,
    /// The arguments as sent.
    pub arguments: Option<&'a Map<String, Value>>,
    /// How the call ended.
    pub outcome: CallOutcome,
}

/// How a `tools/call` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The tool returned a result.
    Completed,
    /// The tool returned a failure (a result with `isError: true`).
    Failed,
    /// The arguments did not match the tool's input schema; the tool did not run.
    InvalidArguments,
    /// The caller lacks a required scope (`403`); the tool body did not run.
    Forbidden,
    /// The caller is over its rate limit for the tool (`429`); the tool did not run.
    RateLimited,
    /// The client cancelled the call, or closed its stream.
    Cancelled,
    /// The tool overran the call timeout.
    TimedOut,
    /// 2026-07-28: the tool asked the client for input; the client will call again.
    InputRequired,
    /// 2026-07-28: the retry of a call that asked for input was refused before the tool ran:
    /// its `requestState` was altered, sealed for another caller, tool or arguments, expired,
    /// or already used by an earlier retry, or its `inputResponses` answer a question that
    /// was not asked; or (`503`) the record of used states could not take it (Redis
    /// unreachable, or this process's record full).
    InvalidRequestState,
    /// The tool needed a client capability the client lacks.
    MissingClientCapability,
}

/// Reports a call to the observer exactly once: with its outcome, or as cancelled when the
/// call is dropped before it ends (the client went away).
struct Observation<'a> {
    observer: &'a Observer,
    tool: &'static str,
    auth: Arc<AuthInfo>,
    arguments: Option<Map<String, Value>>,
    outcome: Option<CallOutcome>,
}

impl Drop for Observation<'_> {
    fn drop(&mut self) {
        (self.observer)(&CallEvent {
            tool: self.tool,
            auth: &self.auth,
            arguments: self.arguments.as_ref(),
            outcome: self.outcome.unwrap_or(CallOutcome::Cancelled),
        });
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

fn capabilities() -> Value {
    json!({ "tools": { "listChanged": false }, "logging": {} })
}

impl Dispatcher {
    /// Precomputes the `tools/list` pages of both eras.
    pub(crate) fn paginate(&mut self) {
        let entries: Vec<&RawValue> = self.registry.entries().collect();
        let tail = |page: Box<RawValue>| Bytes::from(format!("{}}}", page.get()));
        self.pages = self
            .pages_of(&entries)
            .into_iter()
            .map(|(legacy, modern)| (tail(legacy), tail(modern)))
            .collect();
    }

    fn pages_of(&self, entries: &[&RawValue]) -> Vec<(Box<RawValue>, Box<RawValue>)> {
        let chunks: Vec<&[&RawValue]> = if entries.is_empty() {
            vec![&[]]
        } else {
            entries.chunks(self.page_size.max(1)).collect()
        };
        let count = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| {
                let next = (index + 1 < count).then(|| self.cursor(index + 1));
                (
                    self.list_page(chunk, next.as_deref(), false),
                    self.list_page(chunk, next.as_deref(), true),
                )
            })
            .collect()
    }

    fn list_page(&self, entries: &[&RawValue], next: Option<&str>, modern: bool) -> Box<RawValue> {
        let mut json = String::from("{\"tools\":[");
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(entry.get());
        }
        json.push(']');
        if let Some(next) = next {
            json.push_str(",\"nextCursor\":");
            json.push_str(&Value::from(next).to_string());
        }
        if modern {
            let extras = json!({
                "resultType": "complete",
                "ttlMs": self.list_ttl.as_millis() as u64,
                "cacheScope": self.cache_scope,
                "_meta": { meta::SERVER_INFO: self.server_info },
            });
            for (key, value) in extras.as_object().expect("an object") {
                json.push_str(&format!(",{}:{}", Value::from(key.as_str()), value));
            }
        }
        json.push('}');
        RawValue::from_string(json).expect("pages are JSON")
    }

    /// An opaque cursor for page `index` of this tool set.
    fn cursor(&self, index: usize) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{:016x}.{index}", self.fingerprint))
    }

    fn page_of_cursor(&self, cursor: &str) -> Option<usize> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (fingerprint, index) = raw.split_once('.')?;
        if fingerprint != format!("{:016x}", self.fingerprint) {
            return None;
        }
        index.parse().ok()
    }

    /// Reports to the `on_call` hook a `tools/call` of a tool of this server that was refused
    /// before it reached dispatch (`body` is the request as sent), such as one over the
    /// caller's request budget.
    pub(crate) fn report_refused(&self, body: &[u8], auth: &AuthInfo, outcome: CallOutcome) {
        let Some(observer) = &self.observer else {
            return;
        };
        let Ok(super::Message::Request(request)) = super::parse(body) else {
            return;
        };
        let params = request.params.as_ref();
        let tool = params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .and_then(|name| self.registry.get(name));
        if let Some(tool) = tool.filter(|_| request.method == "tools/call") {
            observer(&CallEvent {
                tool: tool.name(),
                auth,
                arguments: params
                    .and_then(|p| p.get("arguments"))
                    .and_then(Value::as_object),
                outcome,
            });
        }
    }

    /// Handles one request.
    pub(crate) async fn request(&self, request: Request, ctx: RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        match (request.method.as_str(), modern) {
            ("initialize", false) => self.initialize(&request, &ctx).await,
            ("ping", false) => respond(&request, &json!({})),
            ("logging/setLevel", false) => self.set_level(&request, &ctx).await,
            ("server/discover", true) => self.discover(&request),
            ("subscriptions/listen", true) => self.listen(&request, &ctx),
            ("tools/list", _) => self.list_tools(&request, &ctx),
            ("tools/call", _) => self.call_tool(request, ctx).await,
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
        if method != "notifications/cancelled" {
            tracing::debug!(%method, "notification");
            return;
        }
        let Some(id) = params.and_then(|p| p.get("requestId")) else {
            return;
        };
        let id = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.deliver(Relayed::Cancel {
            scope: scope.to_owned(),
            id,
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

    async fn initialize(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let params = request.params.as_ref();
        let Some(requested) = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
        else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `protocolVersion` is required",
            );
        };
        // Lifecycle §version negotiation: echo a supported version, otherwise offer the latest.
        let version = LEGACY_VERSIONS
            .iter()
            .copied()
            .find(|v| *v == requested)
            .unwrap_or(LEGACY_VERSIONS[0]);
        let support = ClientSupport::from_capabilities(params.and_then(|p| p.get("capabilities")));
        let session = match &self.sessions {
            Some(store) => match store.create(&ctx.auth, version, support).await {
                Ok(session) => Some(session.id.clone()),
                Err(err) => {
                    tracing::warn!("cannot open a session: {err}");
                    let message = match err {
                        SessionError::Full(_) => "too many sessions",
                        _ => "sessions are unavailable",
                    };
                    return error(
                        request,
                        StatusCode::SERVICE_UNAVAILABLE,
                        code::INTERNAL_ERROR,
                        message,
                    );
                }
            },
            None => None,
        };
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": capabilities(),
            "serverInfo": self.server_info,
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = instructions.clone().into();
        }
        match respond(request, &result) {
            Reply::Json(_, body) => Reply::Initialized { body, session },
            other => other,
        }
    }

    async fn set_level(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let level = request
            .params
            .as_ref()
            .and_then(|p| p.get("level"))
            .and_then(LogLevel::parse);
        let Some(level) = level else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: unknown log level",
            );
        };
        if let (
            Era::Legacy {
                session: Some(session),
            },
            Some(store),
        ) = (&ctx.era, &self.sessions)
        {
            match store.set_log_level(&session.id, &ctx.auth, level).await {
                Ok(()) => {}
                Err(SessionError::NotFound) => {
                    // Ended by another request since this one started.
                    return error(
                        request,
                        StatusCode::NOT_FOUND,
                        code::INVALID_REQUEST,
                        "unknown or expired session",
                    );
                }
                Err(err) => {
                    tracing::warn!("cannot set the log level: {err}");
                    return error(
                        request,
                        StatusCode::SERVICE_UNAVAILABLE,
                        code::INTERNAL_ERROR,
                        "sessions are unavailable",
                    );
                }
            }
        }
        respond(request, &json!({}))
    }

    fn discover(&self, request: &Request) -> Reply {
        let mut supported: Vec<&str> = MODERN_VERSIONS.to_vec();
        supported.extend(LEGACY_VERSIONS);
        let mut result = json!({
            "supportedVersions": supported,
            "capabilities": capabilities(),
            "serverInfo": self.server_info,
            "ttlMs": self.list_ttl.as_millis() as u64,
            "cacheScope": self.cache_scope,
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = instructions.clone().into();
        }
        respond(request, &self.modern(result))
    }

    /// A server whose tools never change supports no subscriptions: the acknowledgement
    /// names none, and the stream stays open until the client closes it or its token expires.
    /// A caller holding its maximum of streams gets `429` instead (see [`crate::streams`]).
    fn listen(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let Some(slot) = self.streams.open(ctx.auth.principal().key()) else {
            tracing::info!(
                subject = ctx.auth.subject(),
                client_id = ctx.auth.client_id(),
                "too many open streams; subscriptions/listen refused"
            );
            return error(
                request,
                StatusCode::TOO_MANY_REQUESTS,
                code::RATE_LIMITED,
                "too many open streams: close one before opening another",
            );
        };
        let ack = json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {
                "_meta": { meta::SUBSCRIPTION_ID: serde_json::from_str::<Value>(request.id.0.get()).unwrap_or(Value::Null) },
                "notifications": {},
            },
        });
        Reply::Listen(Listen {
            ack: Bytes::from(ack.to_string()),
            expires_at: crate::streams::deadline_of(&ctx.auth),
            slot,
        })
    }

    fn list_tools(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        let page = match request.params.as_ref().and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => 0,
            Some(Value::String(cursor)) => match self.page_of_cursor(cursor) {
                Some(page) => page,
                None => {
                    return error(
                        request,
                        StatusCode::OK,
                        code::INVALID_PARAMS,
                        "invalid params: invalid cursor",
                    );
                }
            },
            Some(_) => {
                return error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `cursor` must be a string",
                );
            }
        };
        if self.filter_tools {
            let entries: Vec<&RawValue> = self
                .registry
                .tools()
                .iter()
                .zip(self.registry.entries())
                .filter(|(tool, _)| self.scopes.missing(&ctx.auth, tool.scopes()).is_empty())
                .map(|(_, entry)| entry)
                .collect();
            let pages = self.pages_of(&entries);
            return match pages.get(page) {
                Some((legacy, current)) => Reply::Json(
                    StatusCode::OK,
                    result_body(&request.id, if modern { current } else { legacy }),
                ),
                None => error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: invalid cursor",
                ),
            };
        }
        match self.pages.get(page) {
            Some((legacy, current)) => Reply::Precomputed {
                head: response_head(&request.id, 0).into(),
                tail: if modern { current } else { legacy }.clone(),
            },
            None => error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: invalid cursor",
            ),
        }
    }

    async fn call_tool(&self, mut request: Request, ctx: RequestCtx) -> Reply {
        let modern = matches!(ctx.era, Era::Modern { .. });
        // `progressToken` lives in `params._meta`: read it before the params are taken apart.
        let progress_token = request.meta().and_then(|m| m.get("progressToken")).cloned();
        let mut params = request.params.take().unwrap_or_default();
        let Some(Value::String(name)) = params.remove("name") else {
            return error(
                &request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `name` must be a string",
            );
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(arguments)) => Some(arguments),
            Some(_) => {
                return error(
                    &request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `arguments` must be an object",
                );
            }
        };
        let Some(tool) = self.registry.get(&name) else {
            return error(
                &request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                format!("unknown tool: {name}"),
            );
        };
        let auth = ctx.auth.clone();
        let mut observation = self.observer.as_ref().map(|observer| Observation {
            observer,
            tool: tool.name(),
            auth: auth.clone(),
            arguments: arguments.clone(),
            outcome: None,
        });
        // The first outcome named is the call's: a timeout, say, is not also a failure.
        let mut report = |outcome: CallOutcome| {
            if let Some(observation) = observation.as_mut() {
                observation.outcome.get_or_insert(outcome);
            }
        };
        // Decided before the tool runs, so that the client can step up; the generated handler
        // and the tool body check again.
        if let Err(err) = self.scopes.require(&auth, tool.scopes()) {
            report(CallOutcome::Forbidden);
            return forbidden(&request, tool.name(), &auth, err);
        }
        if let Some(limits) = &self.rate_limits
            && let Err(limited) = limits
                .check_tool(&auth.principal().key(), tool.name())
                .await
        {
            report(CallOutcome::RateLimited);
            tracing::info!(
                tool = tool.name(),
                subject = auth.subject(),
                "tool rate limit reached"
            );
            let body = ErrorResponse::new(
                Some(request.id.clone()),
                code::RATE_LIMITED,
                "rate limit exceeded",
            )
            .with_data(json!({ "retryAfterMs": limited.retry_after.as_millis() as u64 }))
            .to_bytes();
            return Reply::RateLimited {
                retry_after: limited.retry_after,
                body,
            };
        }

        // What this call's `requestState` is bound to. The arguments' digest is computed only
        // when a state is read, or may be written (the client can answer requests for input).
        let principal = auth.principal().key();
        let mut arguments_bound = None;
        let (channel, support, log_level) = match &ctx.era {
            Era::Modern { support, log_level } => {
                if params.contains_key("requestState") || support.elicitation || support.sampling {
                    arguments_bound = Some(arguments_digest(arguments.as_ref()));
                }
                let binding = arguments_bound.map(|arguments| Binding {
                    principal: &principal,
                    tool: tool.name(),
                    arguments,
                });
                let (answers, spend) =
                    match collect_answers(&params, &self.request_state, binding.as_ref()) {
                        Ok(collected) => collected,
                        Err(message) => {
                            report(CallOutcome::InvalidRequestState);
                            tracing::info!(
                                tool = tool.name(),
                                subject = auth.subject(),
                                "retry of a call refused: {message}"
                            );
                            return error(&request, StatusCode::OK, code::INVALID_PARAMS, message);
                        }
                    };
                // Spent once the retry is known to be well-formed (a malformed one leaves its
                // state usable) and before the tool runs: whatever the tool then does, the
                // state confirms nothing else.
                if let Some((nonce, expires_ms)) = spend
                    && let Err(not_spent) = self.spent.spend(nonce, expires_ms).await
                {
                    report(CallOutcome::InvalidRequestState);
                    tracing::info!(
                        tool = tool.name(),
                        subject = auth.subject(),
                        "retry of a call refused: {not_spent}"
                    );
                    return match not_spent {
                        NotSpent::Replayed => error(
                            &request,
                            StatusCode::OK,
                            code::INVALID_PARAMS,
                            "invalid params: `requestState` has already been used: call the \
                             tool again without it",
                        ),
                        NotSpent::Full(_) | NotSpent::Unavailable(_) => error(
                            &request,
                            StatusCode::SERVICE_UNAVAILABLE,
                            code::INTERNAL_ERROR,
                            "the retry cannot be checked now; retry shortly",
                        ),
                    };
                }
                (Channel::Modern { answers }, *support, *log_level)
            }
            Era::Legacy { session } => {
                let (scope, support, level) = match session {
                    Some(session) => (session.id.clone(), session.support, session.log_level),
                    // Without a session no client answer can reach a call (the transport
                    // drops responses without one).
                    None => (
                        auth.principal().key(),
                        ClientSupport::default(),
                        LogLevel::Debug,
                    ),
                };
                let pending = self.calls.pending.clone();
                (Channel::Legacy { pending, scope }, support, Some(level))
            }
        };
        let peer = Peer::new(
            ctx.outbound,
            progress_token,
            log_level,
            support,
            channel,
            self.call_timeout,
        );
        let call = CallContext::new(
            auth.clone(),
            self.state.clone(),
            self.scopes.clone(),
            Arc::new(peer),
            Some(tool.name()),
        );

        // Most calls are over at their first poll, so they run once before anything is set
        // up for a call that waits: the cancellation registry, the abort handle, the timer.
        // A handshake-era call that waits can then be cancelled by `notifications/cancelled`
        // (one that arrives earlier finds nothing to cancel, as one that arrived before the
        // call started always did); a 2026-07-28 call is cancelled by closing its stream,
        // which drops this future.
        let mut run = (tool.handler())(call, arguments);
        let first = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await;
        let outcome = match first {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                let (abort, registration) = AbortHandle::new_pair();
                let scope = match &ctx.era {
                    Era::Legacy {
                        session: Some(session),
                    } => Some(session.id.clone()),
                    Era::Legacy { session: None } => Some(auth.principal().key()),
                    Era::Modern { .. } => None,
                };
                let _tracked = scope.map(|scope| self.calls.track(scope, request.id.key(), abort));
                let run = Abortable::new(run, registration);
                match tokio::time::timeout(self.call_timeout, run).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_aborted)) => {
                        tracing::info!(tool = tool.name(), "call cancelled by the client");
                        report(CallOutcome::Cancelled);
                        return Reply::Cancelled;
                    }
                    Err(_elapsed) => {
                        tracing::warn!(tool = tool.name(), timeout = ?self.call_timeout, "tool timed out");
                        report(CallOutcome::TimedOut);
                        Err(ToolError::new(format!(
                            "the tool did not finish within {} s",
                            self.call_timeout.as_secs()
                        )))
                    }
                }
            }
        };
        let result = match outcome {
            Ok(result) => {
                report(if result.is_error {
                    CallOutcome::Failed
                } else {
                    CallOutcome::Completed
                });
                result
            }
            Err(err @ ToolError::InsufficientScope { .. }) => {
                report(CallOutcome::Forbidden);
                return forbidden(&request, tool.name(), &auth, err);
            }
            Err(ToolError::Internal(cause)) => {
                report(CallOutcome::Failed);
                tracing::error!(tool = tool.name(), error = %cause, "tool failed");
                CallToolResult::error("internal error")
            }
            Err(ToolError::InputRequired(input)) if modern => {
                report(CallOutcome::InputRequired);
                let binding = Binding {
                    principal: &principal,
                    tool: tool.name(),
                    // Always set: only a client that can answer is asked. Were it not, the
                    // state would be bound to no arguments, and refused on retry.
                    arguments: arguments_bound.unwrap_or_default(),
                };
                let result = input_required(*input, &self.request_state, &binding);
                return respond(&request, &self.modern(result));
            }
            Err(ToolError::MissingClientCapability(capability)) if modern => {
                report(CallOutcome::MissingClientCapability);
                let body = ErrorResponse::new(
                    Some(request.id.clone()),
                    code::MISSING_CLIENT_CAPABILITY,
                    format!("the tool needs the client capability `{capability}`"),
                )
                .with_data(json!({ "requiredCapabilities": { capability: {} } }))
                .to_bytes();
                return Reply::Json(StatusCode::BAD_REQUEST, body);
            }
            Err(err) => {
                report(match err {
                    ToolError::InvalidArguments(_) => CallOutcome::InvalidArguments,
                    ToolError::MissingClientCapability(_) => CallOutcome::MissingClientCapability,
                    _ => CallOutcome::Failed,
                });
                CallToolResult::error(err.to_string())
            }
        };
        tracing::debug!(
            tool = tool.name(),
            subject = auth.subject(),
            client_id = auth.client_id(),
            is_error = result.is_error,
            "tool called"
        );
        if modern {
            respond(&request, &ModernCallResult::new(&result, &self.server_info))
        } else {
            respond(&request, &result)
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

/// The answers of a retried 2026-07-28 call: those of earlier rounds, from its sealed
/// `requestState`, and this round's `inputResponses`, each of which must answer a question the
/// state says was asked; with the state's nonce and expiry, to spend, when it carried one.
/// `binding` is `None` when the client can answer no request for input and sent no state.
fn collect_answers(
    params: &Map<String, Value>,
    sealer: &Sealer,
    binding: Option<&Binding<'_>>,
) -> Result<(Answers, Option<(Nonce, u64)>), String> {
    let responses = match params.get("inputResponses") {
        None | Some(Value::Null) => None,
        Some(Value::Object(responses)) => Some(responses).filter(|r| !r.is_empty()),
        Some(_) => return Err("invalid params: `inputResponses` must be an object".into()),
    };
    let state = match (params.get("requestState"), binding) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(sealed)), Some(binding)) => Some(
            sealer
                .open(binding, sealed)
                .map_err(|refused| match refused {
                    Refused::Invalid => {
                        "invalid params: `requestState` was not issued by this server for this call"
                    }
                    Refused::Expired => {
                        "invalid params: `requestState` has expired: call the tool again without it"
                    }
                })?,
        ),
        (Some(_), _) => return Err("invalid params: `requestState` must be a string".into()),
    };
    let Some(state) = state else {
        // Answers the server never asked for: a client cannot skip a confirmation by
        // answering it in advance.
        return match responses {
            None => Ok((Answers::new(), None)),
            Some(_) => Err(
                "invalid params: `inputResponses` without the `requestState` of the \
                            result that asked for them"
                    .into(),
            ),
        };
    };
    let mut answers = state.answers;
    for (key, value) in responses.into_iter().flatten() {
        let Some(question) = state.asked.get(key) else {
            return Err(
                "invalid params: `inputResponses` answers a question that was not asked".into(),
            );
        };
        answers.insert(
            key.clone(),
            Answer {
                question: question.clone(),
                value: value.clone(),
            },
        );
    }
    Ok((answers, Some((state.nonce, state.expires_ms))))
}

/// The `InputRequiredResult` for a tool's request for input, with a `requestState` sealed for
/// this call that carries the answers given so far and the question asked now.
fn input_required(input: InputRequest, sealer: &Sealer, binding: &Binding<'_>) -> Value {
    let InputRequest {
        key,
        method,
        params,
        answered,
    } = input;
    let asked = BTreeMap::from([(key.clone(), question_digest(method, &params))]);
    let state = sealer.seal(binding, answered, asked);
    json!({
        "resultType": "input_required",
        "inputRequests": { key: { "method": method, "params": params } },
        "requestState": state,
    })
}

/// The start of a response to `id`: `{"jsonrpc":"2.0","id":<id>,"result":`, with room for
/// `more` bytes. The id is echoed as the client wrote it (JSON, checked when it was parsed).
pub(crate) fn response_head(id: &Id, more: usize) -> Vec<u8> {
    const OPEN: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
    const RESULT: &[u8] = br#","result":"#;
    let id = id.0.get().as_bytes();
    let mut head = Vec::with_capacity(OPEN.len() + id.len() + RESULT.len() + more);
    head.extend_from_slice(OPEN);
    head.extend_from_slice(id);
    head.extend_from_slice(RESULT);
    head
}

/// A `200` response carrying `result`, serialized once, straight into the body.
fn respond(request: &Request, result: &impl serde::Serialize) -> Reply {
    let mut body = response_head(&request.id, 256);
    match serde_json::to_writer(&mut body, result) {
        Ok(()) => {
            body.push(b'}');
            Reply::Json(StatusCode::OK, body.into())
        }
        Err(err) => {
            tracing::error!(error = %err, "result does not serialize");
            error(
                request,
                StatusCode::OK,
                code::INTERNAL_ERROR,
                "internal error",
            )
        }
    }
}

/// A `tools/call` result as the 2026-07-28 era sends it, serialized in one pass: the result's
/// members, `resultType`, and `_meta` with the server's identity.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ModernCallResult<'a> {
    content: &'a [Content],
    #[serde(skip_serializing_if = "Option::is_none")]
    structured_content: Option<&'a Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_error: bool,
    result_type: &'static str,
    #[serde(rename = "_meta")]
    meta: WithServerInfo<'a>,
}

impl<'a> ModernCallResult<'a> {
    fn new(result: &'a CallToolResult, server_info: &'a Value) -> Self {
        // Exhaustive, so that a new member of `CallToolResult` cannot be forgotten here.
        let CallToolResult {
            content,
            structured_content,
            is_error,
            meta,
        } = result;
        ModernCallResult {
            content,
            structured_content: structured_content.as_ref(),
            is_error: *is_error,
            result_type: "complete",
            meta: WithServerInfo {
                meta: meta.as_ref(),
                server_info,
            },
        }
    }
}

/// A result's `_meta` with `io.modelcontextprotocol/serverInfo` set.
struct WithServerInfo<'a> {
    meta: Option<&'a Map<String, Value>>,
    server_info: &'a Value,
}

impl serde::Serialize for WithServerInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.meta.into_iter().flatten() {
            if key != meta::SERVER_INFO {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry(meta::SERVER_INFO, self.server_info)?;
        map.end()
    }
}

pub(crate) fn error(
    request: &Request,
    status: StatusCode,
    code: i32,
    message: impl Into<String>,
) -> Reply {
    Reply::Json(
        status,
        ErrorResponse::new(Some(request.id.clone()), code, message).to_bytes(),
    )
}

/// An error response to a request whose id is known, for the transport's own checks.
pub(crate) fn error_for(id: Option<Id>, code: i32, message: impl Into<String>) -> Bytes {
    ErrorResponse::new(id, code, message).to_bytes()
}

fn forbidden(request: &Request, tool: &str, auth: &AuthInfo, err: ToolError) -> Reply {
    let ToolError::InsufficientScope { required, missing } = err else {
        unreachable!("only scope errors are forbidden")
    };
    tracing::info!(
        tool,
        subject = auth.subject(),
        client_id = auth.client_id(),
        missing = %missing.join(" "),
        "insufficient scope"
    );
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INSUFFICIENT_SCOPE,
        "insufficient scope",
    )
    .with_data(json!({ "requiredScopes": required }))
    .to_bytes();
    Reply::Forbidden { required, body }
}
