//! Operability: what an operator sees of a running server. Three outputs, each off until
//! configured, each fed by the same points on a request's path:
//!
//! - **traces**: one `tracing` span per MCP request, named and attributed after the
//!   OpenTelemetry semantic conventions for MCP, with child spans for token verification,
//!   the policy decision and the tool body; exported by any `tracing` subscriber, and through
//!   OTLP with the `otlp` feature ([`otlp`]);
//! - **metrics**: [`Metrics`], the conventions' `mcp.server.operation.duration` and
//!   `mcp.server.session.duration` and ours (authentication and authorization decisions,
//!   token cache, key-set fetches, sessions, streams, rate limits), served as Prometheus text
//!   (feature `prometheus`) and through OTLP (feature `otlp`);
//! - **audit**: an [`AuditSink`](audit::AuditSink) told of every request, refusals included,
//!   with [`JsonLinesSink`](audit::JsonLinesSink) as the file sink.
//!
//! None of them ever holds a token, an authorization code or a secret.
//!
//! # Traces
//!
//! Each request on the MCP route gets a span of kind SERVER named `{mcp.method.name} {target}`
//! (`tools/call void_invoice`, `prompts/get summary`, `tools/list`; a request refused before
//! its body is read keeps the HTTP method, `POST`), with the conventions' attributes
//! `mcp.method.name`, `gen_ai.tool.name`, `gen_ai.prompt.name`, `gen_ai.operation.name`
//! (`execute_tool`), `jsonrpc.request.id`, `mcp.resource.uri`, `mcp.protocol.version`,
//! `network.transport` (`tcp`, `pipe` for stdio), `network.protocol.name`,
//! `network.protocol.version`, `client.address`, `client.port`, `http.request.method`,
//! `http.response.status_code`, and, when it fails, `error.type` (the JSON-RPC error code,
//! `tool_error` for `isError: true`, `cancelled`, or the HTTP status of a refusal) with
//! `rpc.response.status_code` and status ERROR. `mcp.session.id` is left out: a session id
//! addresses a session. Its children: `mcp_auth.verify_token` (`mcp_auth.token_cache.hit`),
//! `mcp_auth.jwks.fetch`, `mcp_auth.authorize` (`mcp_auth.decision` `allowed`|`refused`,
//! `mcp_auth.required_scopes`) and `mcp_auth.tool` (the function body of a tool, resource or
//! prompt: `mcp_auth.target.kind`, `mcp_auth.target.name`). All are `tracing` spans at level
//! INFO with target `mcp_auth_runtime::observe::trace` (filter them there).
//!
//! With the `opentelemetry` feature the server span joins the caller's trace through the
//! global propagator: the `traceparent` header is the parent of the HTTP request's span; a
//! `traceparent` in `params._meta` is, as the conventions say, the parent of the MCP server
//! span, which is then a span of its own linked to the HTTP one (the HTTP span has started,
//! the token check in it, before the body is read: an unauthenticated body is never read).

pub mod audit;
mod hub;
pub(crate) mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
mod reason;
pub(crate) mod trace;

pub(crate) use hub::{Early, Ending, ErrorType, Hub, Named, Operation, OperationTarget, trace_id};
#[cfg(feature = "prometheus")]
pub use metrics::serve_metrics;
pub(crate) use metrics::{CacheKind, Count, Fetches, Gauge, Limit, Lookups, Transport};
pub use metrics::{Metrics, MetricsBuilder};
pub use reason::RefusalReason;
