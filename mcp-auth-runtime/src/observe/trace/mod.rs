//! Spans: one SERVER span per MCP request, named and attributed after the OpenTelemetry
//! semantic conventions for MCP (`{mcp.method.name} {target}`, `mcp.method.name`,
//! `gen_ai.tool.name`, `jsonrpc.request.id`, `error.type`, ...), with children for the token
//! check (`mcp_auth.verify_token`), key-set fetches (`mcp_auth.jwks.fetch`), the scope
//! decision (`mcp_auth.authorize`) and the function body (`mcp_auth.tool`).
//!
//! The spans are plain `tracing` spans whose field names are the conventions' attribute names
//! and `tracing-opentelemetry`'s `otel.*` fields, so any subscriber sees them and the
//! OpenTelemetry layer exports them as the conventions describe. Over HTTP the server span is
//! opened by an outer layer of the MCP route ([`http`]), before the Host/Origin guard and the
//! bearer layer, so that refusals and the token check are inside it; its MCP attributes are
//! recorded once the body is parsed. Over stdio the dispatcher opens it.
//!
//! Trace context (feature `opentelemetry`, [`propagate`]): the HTTP `traceparent` header is
//! the parent of the span the outer layer opens. A `traceparent` in `params._meta` is, by the
//! conventions, the MCP server span's parent, with the transport's context as a link; it is
//! read only after authentication (the body of an unauthenticated request is never read), by
//! when the HTTP span has started and has children: the dispatcher then opens the MCP server
//! span under the `_meta` parent, linked to the HTTP span, which keeps the HTTP-level record
//! (method, status, the token check).
//!
//! Nothing here records a token, a code, a secret, a session id (it addresses a session) or
//! the arguments of a call.

pub(crate) mod http;
#[cfg(feature = "opentelemetry")]
pub(crate) mod propagate;

use std::fmt;

use tracing::Span;
use tracing::field::Empty;

use super::metrics::Transport;
use crate::jsonrpc::Request;

impl Transport {
    /// The conventions' `network.transport` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Pipe => "pipe",
        }
    }
}

/// A new server span; every attribute the request may later record is declared here, since a
/// `tracing` span only records the fields it was created with.
pub(crate) fn server_span(transport: Transport) -> Span {
    tracing::info_span!(
        "mcp.server",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        mcp.method.name = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        gen_ai.operation.name = Empty,
        jsonrpc.request.id = Empty,
        mcp.resource.uri = Empty,
        mcp.protocol.version = Empty,
        network.transport = transport.as_str(),
        network.protocol.name = Empty,
        network.protocol.version = Empty,
        client.address = Empty,
        client.port = Empty,
        http.request.method = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        rpc.response.status_code = Empty,
    )
}

/// What a request is about, for the span's name and attributes: the tool, prompt or resource
/// it names, when this server has it (an unknown name is the client's, unbounded).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) tool: Option<&'a str>,
    pub(crate) prompt: Option<&'a str>,
    pub(crate) resource_uri: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// The span's view of what the hub resolved.
    pub(crate) fn of(target: Option<&'a crate::observe::OperationTarget>) -> Self {
        use crate::mcp::CallKind;
        let Some(target) = target else {
            return Target::default();
        };
        Target {
            tool: (target.kind == CallKind::Tool).then_some(target.name),
            prompt: (target.kind == CallKind::PromptGet).then_some(target.name),
            resource_uri: target.uri.as_deref(),
        }
    }
}

/// Records the MCP attributes of `request` on its server span, and names the span
/// `{mcp.method.name} {target}`.
pub(crate) fn record_request(
    span: &Span,
    request: &Request,
    target: Target<'_>,
    protocol_version: Option<&str>,
) {
    if span.is_disabled() {
        return;
    }
    record_method(span, &request.method, target);
    // The id as the request wrote it, a string without its quotes.
    let id = request.id.0.get();
    let id = id
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(id);
    if id != "null" {
        span.record("jsonrpc.request.id", id);
    }
    if let Some(version) = protocol_version {
        span.record("mcp.protocol.version", version);
    }
}

/// Records the method (of a request or a notification) and what it targets.
pub(crate) fn record_method(span: &Span, method: &str, target: Target<'_>) {
    if span.is_disabled() {
        return;
    }
    span.record("mcp.method.name", method);
    let name = match target.tool.or(target.prompt) {
        Some(target) => format!("{method} {target}"),
        None => method.to_owned(),
    };
    span.record("otel.name", name.as_str());
    // `tracing-opentelemetry` reads `otel.name` only before the span starts; over HTTP it
    // has started (as `POST`) by the time the body is read.
    #[cfg(feature = "opentelemetry")]
    propagate::rename(span, name);
    if let Some(tool) = target.tool {
        span.record("gen_ai.tool.name", tool);
        span.record("gen_ai.operation.name", "execute_tool");
    }
    if let Some(prompt) = target.prompt {
        span.record("gen_ai.prompt.name", prompt);
    }
    if let Some(uri) = target.resource_uri {
        span.record("mcp.resource.uri", uri);
    }
}

/// Records that the request failed with `error_type` (the conventions' `error.type`: a
/// JSON-RPC error code, `tool_error`, `cancelled`, a refusal reason); the span's status
/// becomes ERROR.
pub(crate) fn record_error(span: &Span, error_type: &str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "error");
}

/// Records a JSON-RPC error code: `error.type` and `rpc.response.status_code`.
pub(crate) fn record_rpc_error(span: &Span, code: i64) {
    if span.is_disabled() {
        return;
    }
    let code = code.to_string();
    span.record("rpc.response.status_code", code.as_str());
    record_error(span, &code);
}

/// The token check of a request: `mcp_auth.token_cache.hit` is recorded by the cache.
pub(crate) fn verify_token_span() -> Span {
    tracing::info_span!("mcp_auth.verify_token", mcp_auth.token_cache.hit = Empty)
}

/// Records on the current span (the token check's) whether the token was found in the cache
/// of verified tokens.
pub(crate) fn record_cache_hit(hit: bool) {
    let span = Span::current();
    if !span.is_disabled() {
        span.record("mcp_auth.token_cache.hit", hit);
    }
}

/// A fetch of the issuer's key set (discovery included).
pub(crate) fn jwks_fetch_span() -> Span {
    tracing::info_span!("mcp_auth.jwks.fetch", error.type = Empty, otel.status_code = Empty)
}

/// The scope decision for a tool, resource or prompt that requires `scopes`.
pub(crate) fn authorize_span(scopes: &[&str]) -> Span {
    tracing::info_span!(
        "mcp_auth.authorize",
        mcp_auth.required_scopes = %Spaced(scopes),
        mcp_auth.decision = Empty,
    )
}

/// Runs the scope decision `decide` for something that requires `scopes` in an
/// [`authorize_span`], and records it.
pub(crate) fn authorize<E>(
    scopes: &[&str],
    decide: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    let span = authorize_span(scopes);
    let decided = span.in_scope(decide);
    record_decision(&span, decided.is_ok());
    decided
}

/// Records the decision on an [`authorize_span`].
pub(crate) fn record_decision(span: &Span, allowed: bool) {
    span.record(
        "mcp_auth.decision",
        if allowed { "allowed" } else { "refused" },
    );
}

/// What a tool, resource or prompt runs: its function body.
pub(crate) fn body_span(kind: &'static str, name: &str) -> Span {
    tracing::info_span!(
        "mcp_auth.tool",
        mcp_auth.target.kind = kind,
        mcp_auth.target.name = name
    )
}

/// Scopes shown space-separated, as OAuth writes them, without allocating a string.
struct Spaced<'a>(&'a [&'a str]);

impl fmt::Display for Spaced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// The trace id of the current span, as 32 lowercase hex digits; `None` without an
/// OpenTelemetry layer (or without the `opentelemetry` feature). For audit events.
pub(crate) fn current_trace_id() -> Option<String> {
    #[cfg(feature = "opentelemetry")]
    {
        propagate::current_trace_id()
    }
    #[cfg(not(feature = "opentelemetry"))]
    {
        None
    }
}

/// Records a reply's outcome: the JSON-RPC error code of an error, `cancelled` for a call
/// the client cancelled. (`tool_error` is recorded where the call's result is made.)
pub(crate) fn record_reply(span: &Span, reply: &crate::mcp::Reply) {
    use crate::jsonrpc::code;
    use crate::mcp::Reply;
    if span.is_disabled() {
        return;
    }
    let error = match reply {
        Reply::Json(_, body) => crate::jsonrpc::error_code_of(body),
        Reply::Forbidden { .. } => Some(code::INSUFFICIENT_SCOPE),
        Reply::RateLimited { .. } => Some(code::RATE_LIMITED),
        Reply::Cancelled => {
            record_error(span, "cancelled");
            None
        }
        Reply::Precomputed { .. } | Reply::Initialized { .. } | Reply::Listen(_) => None,
    };
    if let Some(code) = error {
        record_rpc_error(span, i64::from(code));
    }
}

/// Records `tool_error` on the current span: a call answered with `isError: true`.
pub(crate) fn record_tool_error() {
    let span = Span::current();
    if !span.is_disabled() {
        record_error(&span, "tool_error");
    }
}
