//! What the [`on_call`](crate::McpServerBuilder::on_call) hook sees of each `tools/call`.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Dispatcher;
use crate::auth::AuthInfo;
use crate::jsonrpc::{Message, parse};

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
pub(super) struct Observation<'a> {
    pub(super) observer: &'a Observer,
    pub(super) tool: &'static str,
    pub(super) auth: Arc<AuthInfo>,
    pub(super) arguments: Option<Map<String, Value>>,
    pub(super) outcome: Option<CallOutcome>,
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

impl Dispatcher {
    /// Reports to the `on_call` hook a `tools/call` of a tool of this server that was refused
    /// before it reached dispatch (`body` is the request as sent), such as one over the
    /// caller's request budget.
    pub(crate) fn report_refused(&self, body: &[u8], auth: &AuthInfo, outcome: CallOutcome) {
        let Some(observer) = &self.observer else {
            return;
        };
        let Ok(Message::Request(request)) = parse(body) else {
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
}
