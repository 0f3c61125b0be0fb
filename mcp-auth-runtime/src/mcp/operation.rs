//! [`Dispatcher::reported`]: one request dispatched and, when metrics or audit are on,
//! reported to the server's [`Hub`](crate::observe::Hub) once answered (or dropped).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value};

use super::{CallKind, CallOutcome, Dispatcher, Era, Reply, RequestCtx};
use crate::auth::AuthInfo;
use crate::jsonrpc::{Id, Request};
use crate::observe::{
    Early, Ending, ErrorType, Hub, Named, Operation, OperationTarget, RefusalReason,
};
use crate::protocol::meta;

impl Dispatcher {
    /// Handles one request. With metrics or audit on, it is timed and its outcome reported:
    /// the call's [`CallOutcome`] (through `ctx.outcome`), else the reply's JSON-RPC error.
    /// A request whose future is dropped before it is answered (the client went away) is
    /// reported as cancelled.
    pub(super) async fn reported(&self, request: Request, mut ctx: RequestCtx) -> Reply {
        if !self.hub.is_on() {
            return self.dispatch(request, ctx).await;
        }
        let slot = Arc::new(OnceLock::new());
        ctx.outcome = Some(slot.clone());
        // Metrics need only what is known statically; the audit trail takes copies.
        let audit = self.hub.audit.is_some();
        let label = crate::observe::metrics::labels::method(&request.method);
        let mut flight = InFlight {
            hub: &self.hub,
            started: Instant::now(),
            target: self.target_of(&request),
            arguments: None,
            method: match label {
                "_OTHER" if audit => Cow::Owned(request.method.clone()),
                label => Cow::Borrowed(label),
            },
            id: audit.then(|| request.id.clone()),
            caller: ctx.auth.clone(),
            session: match &ctx.era {
                Era::Legacy {
                    session: Some(session),
                } => Some((audit.then(|| session.id.clone()), session.version)),
                _ => None,
            },
            declared: declared_version(&request),
            transport: ctx.transport,
            peer: ctx.peer,
            slot,
            answered: false,
        };
        if let Some(target) = &flight.target
            && matches!(target.kind, CallKind::Tool | CallKind::PromptGet)
            && self.hub.keeps_arguments(target.name)
        {
            flight.arguments = arguments_of(&request);
        }
        let reply = self.dispatch(request, ctx).await;
        flight.answered(&reply);
        reply
    }

    /// A request the request budget refused, with its body if it could be read: reported to
    /// the hub naming what it asked, and to the `on_call` hook.
    pub(crate) fn report_budget_refusal(
        &self,
        body: Option<&[u8]>,
        early: Early<'_>,
        auth: &AuthInfo,
    ) {
        if self.hub.is_on() {
            let request = body.and_then(|body| match crate::jsonrpc::parse(body) {
                Ok(crate::jsonrpc::Message::Request(request)) => Some(request),
                _ => None,
            });
            let target = request.as_ref().and_then(|r| self.target_of(r));
            let arguments = request.as_ref().and_then(arguments_of);
            let named = request.as_ref().map(|request| Named {
                method: &request.method,
                request_id: request.id.0.get(),
                target: target.as_ref(),
                arguments: arguments.as_ref(),
            });
            self.hub.early_named(early, named);
        }
        if let Some(body) = body {
            self.report_refused(body, auth, CallOutcome::RateLimited);
        }
    }

    /// The tool, prompt or resource of this server that `request` names, if any.
    pub(crate) fn target_of(&self, request: &Request) -> Option<OperationTarget> {
        let params = request.params.as_ref();
        let field = |name: &str| params.and_then(|p| p.get(name)).and_then(Value::as_str);
        match request.method.as_str() {
            "tools/call" => field("name")
                .and_then(|name| self.registry.get(name))
                .map(|tool| OperationTarget {
                    kind: CallKind::Tool,
                    name: tool.name(),
                    uri: None,
                    scopes: tool.scopes(),
                }),
            "prompts/get" => field("name")
                .and_then(|name| self.prompts.get(name))
                .map(|prompt| OperationTarget {
                    kind: CallKind::PromptGet,
                    name: prompt.name(),
                    uri: None,
                    scopes: prompt.scopes(),
                }),
            "resources/read" => field("uri").and_then(|uri| {
                self.resources
                    .resolve(uri)
                    .map(|(resource, _)| OperationTarget {
                        kind: CallKind::ResourceRead,
                        name: resource.name(),
                        uri: Some(uri.to_owned()),
                        scopes: resource.scopes(),
                    })
            }),
            _ => None,
        }
    }
}

/// The arguments of a call (a tool's, kept as written, or a prompt's), as sent.
pub(super) fn arguments_of(request: &Request) -> Option<Map<String, Value>> {
    if request.arguments.is_some() {
        return request.arguments_map();
    }
    request
        .params
        .as_ref()?
        .get("arguments")?
        .as_object()
        .cloned()
}

/// The protocol version a 2026-07-28 request declares in `_meta`.
fn declared_version(request: &Request) -> Option<&'static str> {
    let version = request.meta()?.get(meta::PROTOCOL_VERSION)?.as_str()?;
    crate::protocol::MODERN_VERSIONS
        .iter()
        .find(|known| **known == version)
        .copied()
}

/// A request being answered: what its report needs, captured before dispatch took the
/// request. Reports on drop if it was never answered.
struct InFlight<'a> {
    hub: &'a Hub,
    started: Instant,
    target: Option<OperationTarget>,
    arguments: Option<Map<String, Value>>,
    /// The method's label, or the method itself when it is not MCP's and audit is on.
    method: Cow<'static, str>,
    /// The request id, for the audit trail.
    id: Option<Id>,
    caller: Arc<AuthInfo>,
    /// The handshake-era session (its id for the audit trail) and its negotiated version.
    session: Option<(Option<String>, &'static str)>,
    /// The version a 2026-07-28 request declares.
    declared: Option<&'static str>,
    transport: crate::observe::Transport,
    peer: Option<std::net::IpAddr>,
    slot: Arc<OnceLock<CallOutcome>>,
    answered: bool,
}

impl InFlight<'_> {
    fn answered(&mut self, reply: &Reply) {
        self.answered = true;
        let (ending, rpc_status) = ending(reply, self.slot.get().copied());
        let (required, version) = match reply {
            Reply::Forbidden { required, .. } => (Some(required.as_slice()), None),
            Reply::Initialized { version, .. } => (None, Some(*version)),
            _ => (None, None),
        };
        self.report(ending, rpc_status, required, version);
    }

    fn report(
        &mut self,
        ending: Ending,
        rpc_status: Option<i32>,
        required: Option<&[String]>,
        version: Option<&'static str>,
    ) {
        self.hub.operation(Operation {
            method: &self.method,
            target: self.target.as_ref(),
            request_id: self.id.as_ref().map(|id| id.0.get()),
            caller: &self.caller,
            protocol_version: version
                .or(self.declared)
                .or(self.session.as_ref().map(|(_, version)| *version)),
            session_id: self.session.as_ref().and_then(|(id, _)| id.as_deref()),
            transport: self.transport,
            peer: self.peer,
            duration: self.started.elapsed(),
            ending,
            required,
            rpc_status,
            arguments: self.arguments.take(),
            trace_id: crate::observe::trace_id(),
        });
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.report(Ending::Failed(ErrorType::Cancelled), None, None, None);
        }
    }
}

/// How a request ended, and the JSON-RPC error code of its reply: the call's own outcome
/// first (a tool's error result is a `200` result), else the reply.
fn ending(reply: &Reply, call: Option<CallOutcome>) -> (Ending, Option<i32>) {
    let code = match reply {
        Reply::Json(_, body) => crate::jsonrpc::error_code_of(body),
        Reply::Forbidden { .. } => Some(crate::jsonrpc::code::INSUFFICIENT_SCOPE),
        Reply::RateLimited { .. } => Some(crate::jsonrpc::code::RATE_LIMITED),
        _ => None,
    };
    let ending = match (reply, call) {
        (Reply::Forbidden { .. }, _) | (_, Some(CallOutcome::Forbidden)) => {
            Ending::Refused(RefusalReason::InsufficientScope)
        }
        (Reply::RateLimited { .. }, _) | (_, Some(CallOutcome::RateLimited)) => {
            Ending::Refused(RefusalReason::RateLimited)
        }
        // Refused before the function ran, though answered as a tool's error result (or a
        // JSON-RPC error): the audit trail must not record them as served.
        (_, Some(CallOutcome::InvalidArguments)) => {
            Ending::Refused(RefusalReason::InvalidArguments)
        }
        (_, Some(CallOutcome::InvalidRequestState)) => {
            Ending::Refused(RefusalReason::InvalidRequestState)
        }
        (Reply::Cancelled, _) | (_, Some(CallOutcome::Cancelled)) => {
            Ending::Failed(ErrorType::Cancelled)
        }
        (_, Some(CallOutcome::TimedOut)) => Ending::Failed(ErrorType::Timeout),
        (_, Some(CallOutcome::Failed)) => Ending::Failed(ErrorType::ToolError),
        _ => match code {
            Some(code) => Ending::Failed(ErrorType::Code(code)),
            None => Ending::Done,
        },
    };
    (ending, code)
}
