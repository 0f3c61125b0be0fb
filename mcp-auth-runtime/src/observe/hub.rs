//! [`Hub`]: where the points on a request's path report, and what fans the reports out to
//! the metrics and the audit sink.
//!
//! Two kinds of report reach it: an [`Early`] refusal (the Host/Origin guard, the bearer
//! layer, the request budget: before the MCP handler read the request) and an [`Operation`]
//! (one JSON-RPC request the dispatcher answered, on either transport). Each becomes at most
//! one `Metrics::record_*` call per instrument and one [`AuditEvent`]. A server without
//! metrics and audit skips all of it: the call sites ask [`Hub::is_on`] first, so that
//! nothing is captured or allocated for it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::RefusalReason;
use super::audit::{AuditEvent, AuditOutcome, AuditSink, Principal, Target};
use super::metrics::{Decision, Metrics, OperationRecord, Transport};
use crate::auth::AuthInfo;
use crate::mcp::{CallKind, CallOutcome};

/// What a server reports to; built once by `McpServerBuilder::build`.
#[derive(Default)]
pub(crate) struct Hub {
    pub(crate) metrics: Option<Metrics>,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
    /// The tools whose arguments audit events carry.
    pub(crate) audit_arguments: HashSet<String>,
}

/// A request refused before the MCP handler read it (bearer layer, request budget, guard).
#[derive(Debug)]
pub(crate) struct Early<'a> {
    pub(crate) reason: RefusalReason,
    /// The TCP peer, when the server knows it.
    pub(crate) peer: Option<IpAddr>,
    /// The verified caller, when the refusal came after its credential was accepted (a
    /// DPoP proof refused, a request budget spent).
    pub(crate) caller: Option<&'a AuthInfo>,
    /// The request's trace, when traces are on.
    pub(crate) trace_id: Option<String>,
}

/// What a request refused early asked, when its body was read: see [`Hub::early_named`].
#[derive(Debug)]
pub(crate) struct Named<'a> {
    pub(crate) method: &'a str,
    /// The request id, as JSON text.
    pub(crate) request_id: &'a str,
    pub(crate) target: Option<&'a OperationTarget>,
    /// The arguments as sent; kept for the tools named in `audit_arguments` only.
    pub(crate) arguments: Option<&'a Map<String, Value>>,
}

/// What an [`Operation`] named: a tool, a resource read or a prompt this server has.
#[derive(Debug, Clone)]
pub(crate) struct OperationTarget {
    pub(crate) kind: CallKind,
    pub(crate) name: &'static str,
    /// The URI read, for a resource.
    pub(crate) uri: Option<String>,
    /// The scopes the target declares.
    pub(crate) scopes: &'static [&'static str],
}

/// How an [`Operation`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Served.
    Done,
    /// Refused before any function of the application ran: `403`, `429`.
    Refused(RefusalReason),
    /// Failed: the `error.type` of the conventions.
    Failed(ErrorType),
}

/// The `error.type` of a failed operation (OpenTelemetry conventions for MCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// A tool's result with `isError: true`.
    ToolError,
    /// The client cancelled the request or went away.
    Cancelled,
    /// The call overran its timeout.
    Timeout,
    /// A JSON-RPC error response with this code.
    Code(i32),
}

impl ErrorType {
    /// The value as text; `buffer` holds a code's digits, so that nothing is allocated.
    fn as_str(self, buffer: &mut [u8; 12]) -> &str {
        match self {
            ErrorType::ToolError => "tool_error",
            ErrorType::Cancelled => "cancelled",
            ErrorType::Timeout => "timeout",
            ErrorType::Code(code) => {
                use std::io::Write;
                let mut cursor = std::io::Cursor::new(&mut buffer[..]);
                // An i32 has at most 11 characters: the write cannot fail.
                let _ = write!(cursor, "{code}");
                let len = cursor.position() as usize;
                std::str::from_utf8(&buffer[..len]).unwrap_or("error")
            }
        }
    }
}

/// One JSON-RPC request the dispatcher answered.
#[derive(Debug)]
pub(crate) struct Operation<'a> {
    /// The method's metric label, or (audit on) the method as sent when it is not MCP's.
    pub(crate) method: &'a str,
    pub(crate) target: Option<&'a OperationTarget>,
    /// The request id, as JSON text (taken when audit is on).
    pub(crate) request_id: Option<&'a str>,
    pub(crate) caller: &'a AuthInfo,
    pub(crate) protocol_version: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) transport: Transport,
    pub(crate) peer: Option<IpAddr>,
    pub(crate) duration: Duration,
    pub(crate) ending: Ending,
    /// The scopes a `403` named (conditional ones included); otherwise the target's.
    pub(crate) required: Option<&'a [String]>,
    /// The JSON-RPC error code of the response, if it was an error.
    pub(crate) rpc_status: Option<i32>,
    /// The tool's arguments, taken only for tools named in `audit_arguments`.
    pub(crate) arguments: Option<Map<String, Value>>,
    pub(crate) trace_id: Option<String>,
}

/// The W3C trace id of the current request's span, when traces are on: what audit events
/// carry as `trace_id`. (Without OpenTelemetry there is no trace id to give.)
pub(crate) fn trace_id() -> Option<String> {
    super::trace::current_trace_id()
}

impl Hub {
    /// Whether anything listens; when not, the request path reports nothing.
    pub(crate) fn is_on(&self) -> bool {
        self.metrics.is_some() || self.audit.is_some()
    }

    /// Whether audit events carry the arguments of calls of `tool`.
    pub(crate) fn keeps_arguments(&self, tool: &str) -> bool {
        self.audit.is_some() && self.audit_arguments.contains(tool)
    }

    /// A credential was accepted.
    pub(crate) fn authenticated(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.record_decision(Decision::Authenticated);
        }
    }

    /// A request refused before the MCP handler.
    pub(crate) fn early(&self, early: Early<'_>) {
        self.early_named(early, None);
    }

    /// A request refused before the MCP handler, whose body was read all the same: its event
    /// names what the request asked (the request budget reads a refused body for the audit).
    pub(crate) fn early_named(&self, early: Early<'_>, named: Option<Named<'_>>) {
        if let Some(metrics) = &self.metrics {
            metrics.record_decision(Decision::Refused(early.reason));
        }
        let Some(sink) = &self.audit else {
            return;
        };
        let mut event = AuditEvent {
            time: SystemTime::now(),
            principal: early.caller.map(Principal::of),
            method: None,
            target: None,
            outcome: AuditOutcome::Refused {
                reason: early.reason,
            },
            scopes: Vec::new(),
            request_id: None,
            trace_id: early.trace_id,
            session_id: None,
            protocol_version: None,
            client_address: early.peer,
            duration_seconds: None,
            arguments: None,
        };
        if let Some(named) = named {
            event.method = Some(named.method.to_owned());
            event.request_id = Some(named.request_id.to_owned());
            if let Some(target) = named.target {
                event.target = Some(audit_target(target));
                event.scopes = target.scopes.iter().map(|s| (*s).to_owned()).collect();
                if self.audit_arguments.contains(target.name) {
                    event.arguments = named.arguments.cloned();
                }
            }
        }
        sink.record(&event);
    }

    /// A request the dispatcher answered.
    pub(crate) fn operation(&self, operation: Operation<'_>) {
        if let Some(metrics) = &self.metrics {
            let mut buffer = [0; 12];
            let error_type = match operation.ending {
                Ending::Done => None,
                // Answered as a tool's error result (`isError: true`).
                Ending::Refused(RefusalReason::InvalidArguments)
                    if operation.rpc_status.is_none() =>
                {
                    Some(ErrorType::ToolError)
                }
                Ending::Refused(_) => operation.rpc_status.map(ErrorType::Code),
                Ending::Failed(error) => Some(error),
            };
            let target = operation.target;
            metrics.record_operation(&OperationRecord {
                method: operation.method,
                tool: target.filter(|t| t.kind == CallKind::Tool).map(|t| t.name),
                prompt: target
                    .filter(|t| t.kind == CallKind::PromptGet)
                    .map(|t| t.name),
                protocol_version: operation.protocol_version,
                transport: operation.transport,
                error_type: error_type.map(|error| error.as_str(&mut buffer)),
                rpc_status: operation.rpc_status,
                duration: operation.duration,
            });
            match operation.ending {
                // Not decisions of the policy: the caller's scopes were granted.
                Ending::Refused(RefusalReason::InvalidArguments)
                | Ending::Refused(RefusalReason::InvalidRequestState)
                    if target.is_some() =>
                {
                    metrics.record_decision(Decision::Authorized)
                }
                Ending::Refused(reason) => metrics.record_decision(Decision::Refused(reason)),
                // Reaching a target means its scopes were granted.
                _ if target.is_some() => metrics.record_decision(Decision::Authorized),
                _ => {}
            }
        }
        let Some(sink) = &self.audit else {
            return;
        };
        let outcome = match operation.ending {
            Ending::Done => AuditOutcome::Done,
            Ending::Refused(reason) => AuditOutcome::Refused { reason },
            Ending::Failed(error) => AuditOutcome::Failed {
                error: error.as_str(&mut [0; 12]).to_owned(),
            },
        };
        let scopes = match (operation.required, operation.target) {
            (Some(required), _) => required.to_vec(),
            (None, Some(target)) => target.scopes.iter().map(|s| (*s).to_owned()).collect(),
            (None, None) => Vec::new(),
        };
        sink.record(&AuditEvent {
            time: SystemTime::now(),
            principal: Some(Principal::of(operation.caller)),
            method: Some(operation.method.to_owned()),
            target: operation.target.map(audit_target),
            outcome,
            scopes,
            request_id: operation.request_id.map(str::to_owned),
            trace_id: operation.trace_id,
            session_id: operation.session_id.map(str::to_owned),
            protocol_version: operation.protocol_version.map(str::to_owned),
            client_address: operation.peer,
            duration_seconds: Some(operation.duration.as_secs_f64()),
            arguments: operation.arguments,
        });
    }
}

impl Hub {
    /// A task's run of `tool` ended with `outcome`, after the request that started it was
    /// answered: an audit event of its own (the metrics timed that request already).
    pub(crate) fn task_run(
        &self,
        tool: &'static str,
        scopes: &'static [&'static str],
        caller: &AuthInfo,
        outcome: CallOutcome,
        arguments: Option<&Map<String, Value>>,
    ) {
        let Some(sink) = &self.audit else {
            return;
        };
        let failed = |error: &str| AuditOutcome::Failed {
            error: error.to_owned(),
        };
        let outcome = match outcome {
            CallOutcome::Completed => AuditOutcome::Done,
            CallOutcome::Forbidden => AuditOutcome::Refused {
                reason: RefusalReason::InsufficientScope,
            },
            CallOutcome::RateLimited => AuditOutcome::Refused {
                reason: RefusalReason::RateLimited,
            },
            CallOutcome::InvalidArguments => AuditOutcome::Refused {
                reason: RefusalReason::InvalidArguments,
            },
            CallOutcome::InvalidRequestState => AuditOutcome::Refused {
                reason: RefusalReason::InvalidRequestState,
            },
            CallOutcome::Cancelled => failed("cancelled"),
            CallOutcome::TimedOut => failed("timeout"),
            CallOutcome::InputRequired => failed("input_required"),
            _ => failed("tool_error"),
        };
        let mut event = AuditEvent::new(outcome);
        event.principal = Some(Principal::of(caller));
        event.method = Some("tools/call".to_owned());
        event.target = Some(Target::tool(tool));
        event.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        if self.audit_arguments.contains(tool) {
            event.arguments = arguments.cloned();
        }
        sink.record(&event);
    }
}

/// An [`OperationTarget`] as audit events name it.
fn audit_target(target: &OperationTarget) -> Target {
    Target {
        kind: match target.kind {
            CallKind::Tool => "tool",
            CallKind::ResourceRead => "resource",
            CallKind::PromptGet => "prompt",
        },
        name: target.name.to_owned(),
        uri: target.uri.clone(),
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("metrics", &self.metrics)
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_read_as_the_conventions_write_them() {
        let mut buffer = [0; 12];
        assert_eq!(ErrorType::ToolError.as_str(&mut buffer), "tool_error");
        assert_eq!(ErrorType::Code(-32602).as_str(&mut buffer), "-32602");
        assert_eq!(ErrorType::Code(i32::MIN).as_str(&mut buffer), "-2147483648");
    }
}
