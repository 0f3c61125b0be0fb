//! What the [`on_call`](crate::McpServerBuilder::on_call) hook sees of each `tools/call`,
//! `resources/read` and `prompts/get`.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::Dispatcher;
use crate::auth::AuthInfo;
use crate::jsonrpc::{Message, parse};

/// The hook [`McpServerBuilder::on_call`](crate::McpServerBuilder::on_call) installs.
pub(crate) type Observer = Arc<dyn Fn(&CallEvent<'_>) + Send + Sync>;

/// Where a request's call outcome goes for metrics and the audit trail: set once, when the
/// call's [`Observation`] ends; read by the dispatcher when the request is answered.
pub(crate) type OutcomeSlot = Arc<OnceLock<CallOutcome>>;

/// One `tools/call` of a known tool, `resources/read` of a URI a resource serves or
/// `prompts/get` of a known prompt, as reported to the
/// [`on_call`](crate::McpServerBuilder::on_call) hook once it is over: for audit trails and
/// metrics. It never holds the caller's token.
///
/// A request naming no tool, resource or prompt is not reported: it reached nothing.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallEvent<'a> {
    /// What was called: a tool, a resource read or a prompt get.
    pub kind: CallKind,
    /// The name of the tool or prompt, or of the resource serving the URI read.
    pub name: &'static str,
    /// The URI read, for [`CallKind::ResourceRead`].
    pub uri: Option<&'a str>,
    /// Who called it.
    pub auth: &'a AuthInfo,
    /// The arguments of a tool call or a prompt get, as sent.
    pub arguments: Option<&'a Map<String, Value>>,
    /// How the call ended.
    pub outcome: CallOutcome,
}

/// What a [`CallEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallKind {
    /// A `tools/call`.
    Tool,
    /// A `resources/read`.
    ResourceRead,
    /// A `prompts/get`.
    PromptGet,
}

/// Sets the outcome `observation` will report, if there is a hook.
pub(super) fn observed(observation: &mut Option<Observation<'_>>, outcome: CallOutcome) {
    if let Some(observation) = observation.as_mut() {
        observation.outcome = Some(outcome);
    }
}

/// How a `tools/call`, `resources/read` or `prompts/get` ended.
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
    /// 2026-07-28: the retry of a call that asked for input was refused, before the tool ran
    /// or at the answer it read: its `requestState` was altered, sealed for another caller, tool or arguments, expired,
    /// or already used by an earlier retry, or an answer in its `inputResponses` is not of
    /// the result type of the request it answers (answers to questions not asked are
    /// ignored); or (`503`) the record of used states could not take it (Redis unreachable,
    /// or this process's record full).
    InvalidRequestState,
    /// The tool needed a client capability the client lacks.
    MissingClientCapability,
    /// The resource's or prompt's function answered that what was asked for does not exist
    /// ([`ToolError::NotFound`](crate::ToolError::NotFound)): the client got the same answer
    /// as for a URI no resource serves.
    NotFound,
    /// 2026-07-28, tasks extension: the tool had not finished at once and runs on as a task;
    /// the client polls `tasks/get` for its result. Each run of the task is reported again
    /// when it ends, with that run's outcome.
    TaskCreated,
}

/// Reports a call to the observer and to the request's outcome slot exactly once: with its
/// outcome, or as cancelled when the call is dropped before it ends (the client went away).
pub(super) struct Observation<'a> {
    pub(super) observer: Option<&'a Observer>,
    pub(super) slot: Option<OutcomeSlot>,
    pub(super) kind: CallKind,
    pub(super) name: &'static str,
    pub(super) uri: Option<String>,
    pub(super) auth: Arc<AuthInfo>,
    pub(super) arguments: Option<Map<String, Value>>,
    pub(super) outcome: Option<CallOutcome>,
}

impl Drop for Observation<'_> {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(CallOutcome::Cancelled);
        if let Some(slot) = &self.slot {
            let _ = slot.set(outcome);
        }
        if let Some(observer) = self.observer {
            observer(&CallEvent {
                kind: self.kind,
                name: self.name,
                uri: self.uri.as_deref(),
                auth: &self.auth,
                arguments: self.arguments.as_ref(),
                outcome,
            });
        }
    }
}

impl Dispatcher {
    /// Reports to the `on_call` hook a `tools/call` of a tool of this server, or a
    /// `resources/read` of a URI one of its resources serves, that was refused before it
    /// reached dispatch (`body` is the request as sent), such as one over the caller's request
    /// budget.
    pub(crate) fn report_refused(&self, body: &[u8], auth: &AuthInfo, outcome: CallOutcome) {
        let Some(observer) = &self.observer else {
            return;
        };
        let Ok(Message::Request(request)) = parse(body) else {
            return;
        };
        // What the request reached, if anything: a request naming nothing is not reported.
        let Some(target) = self.target_of(&request) else {
            return;
        };
        let arguments = match target.kind {
            CallKind::ResourceRead => None,
            CallKind::Tool | CallKind::PromptGet => super::operation::arguments_of(&request),
        };
        observer(&CallEvent {
            kind: target.kind,
            name: target.name,
            uri: target.uri.as_deref(),
            auth,
            arguments: arguments.as_ref(),
            outcome,
        });
    }
}
