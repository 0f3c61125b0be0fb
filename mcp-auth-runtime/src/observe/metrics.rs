//! [`Metrics`]: the server's instruments, exported as Prometheus text and through OTLP.
//!
//! SKELETON: to be written (issue 19). The crate-private `record_*` methods are the contract
//! the hub and the request path build against.

use std::time::Duration;

use super::RefusalReason;

/// The server's metrics. Give it to
/// [`McpServerBuilder::metrics`](crate::McpServerBuilder::metrics); it is cheap to clone,
/// and every clone records into the same instruments.
#[derive(Debug, Clone, Default)]
pub struct Metrics {}

impl Metrics {
    /// Metrics recorded for Prometheus (feature `prometheus`) and, with a meter, for OTLP.
    pub fn new() -> Self {
        Metrics {}
    }
}

/// How a request reached the server: the conventions' `network.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Streamable HTTP: `tcp`.
    Tcp,
    /// stdio: `pipe`.
    Pipe,
}

/// One JSON-RPC request answered, for `mcp.server.operation.duration`.
#[derive(Debug)]
pub(crate) struct OperationRecord<'a> {
    /// `mcp.method.name`.
    pub(crate) method: &'a str,
    /// `gen_ai.tool.name` for `tools/call` of a tool this server has.
    pub(crate) tool: Option<&'a str>,
    /// `gen_ai.prompt.name` for `prompts/get` of a prompt this server has.
    pub(crate) prompt: Option<&'a str>,
    /// `mcp.protocol.version`.
    pub(crate) protocol_version: Option<&'a str>,
    /// `network.transport`.
    pub(crate) transport: Transport,
    /// `error.type`: `tool_error`, the JSON-RPC error code, `cancelled`, `timeout`; `None`
    /// when the request succeeded.
    pub(crate) error_type: Option<&'a str>,
    /// `rpc.response.status_code`: the JSON-RPC error code, if any.
    pub(crate) rpc_status: Option<i32>,
    pub(crate) duration: Duration,
}

/// An authentication or authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A credential was accepted.
    Authenticated,
    /// A request reached a tool, resource or prompt with every scope it needs.
    Authorized,
    /// Refused, and why; the reason tells the stage (`InsufficientScope` is authorization).
    Refused(RefusalReason),
}

impl Metrics {
    /// Records a request's duration (`mcp.server.operation.duration`).
    pub(crate) fn record_operation(&self, _record: &OperationRecord<'_>) {}

    /// Records an authentication or authorization decision.
    pub(crate) fn record_decision(&self, _decision: Decision) {}

    /// Records the end of a handshake-era session (`mcp.server.session.duration`).
    pub(crate) fn record_session_end(
        &self,
        _duration: Duration,
        _protocol_version: Option<&str>,
        _error_type: Option<&str>,
    ) {
    }
}
