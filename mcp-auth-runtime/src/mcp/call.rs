//! `tools/call`: scope and budget checks before the tool runs, the channel back to the client
//! for this era, the call itself under its timeout and cancellation, and its result.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_util::future::{AbortHandle, Abortable};
use http::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::events::{CallKind, CallOutcome, Observation};
use super::reply::{Reply, error, forbidden, respond};
use super::request_state::Binding;
use super::round_trip::{input_required, missing_capability};
use super::tasks::{Started, declares_tasks};
use super::{Dispatcher, Era, RequestCtx};
use crate::auth::AuthInfo;
use crate::authorize::{Declared, refusal_result};
use crate::context::CallContext;
use crate::downstream::SubjectToken;
use crate::error::ToolError;
use crate::input::arguments_digest;
use crate::jsonrpc::{ErrorResponse, Request, arguments_map, code};
use crate::observe::trace;
use crate::peer::{Channel, ClientSupport, LogLevel, Peer};
use crate::protocol::meta;
use crate::result::{CallToolResult, Content};
use crate::tool::{Arguments, ToolDef};

/// Records a call's outcome for the `on_call` hook. The first outcome named is the call's: a
/// timeout, say, is not also a failure.
fn report(observation: &mut Option<Observation<'_>>, outcome: CallOutcome) {
    if let Some(observation) = observation.as_mut() {
        observation.outcome.get_or_insert(outcome);
    }
}

/// How a call talks back to its client, and what its `requestState` is bound to.
struct Channelled {
    channel: Channel,
    support: ClientSupport,
    log_level: Option<LogLevel>,
    /// The arguments' digest, computed only when a state is read, or may be written (the
    /// client can answer requests for input).
    arguments_bound: Option<[u8; 32]>,
}

impl Dispatcher {
    /// `tools/call`, in steps: the tool and its arguments, [`admit`](Self::admit) (scopes and
    /// budget), [`channel`](Self::channel) (the way back to the client, the answers of a
    /// retried call), [`run`](Self::run), [`finish`](Self::finish) (the result as the era
    /// sends it).
    pub(super) async fn call_tool(&self, mut request: Request, ctx: RequestCtx) -> Reply {
        // `progressToken` lives in `params._meta`: read it before the params are taken apart.
        let progress_token = request.meta().and_then(|m| m.get("progressToken")).cloned();
        // So are the client capabilities a task keeps for its later runs.
        let task_capabilities = declares_tasks(&request).then(|| {
            request
                .meta()
                .and_then(|m| m.get(meta::CLIENT_CAPABILITIES))
                .cloned()
                .unwrap_or_default()
        });
        let mut params = request.params.take().unwrap_or_default();
        let Some(Value::String(name)) = params.remove("name") else {
            return error(
                &request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `name` must be a string",
            );
        };
        // Kept as written (`jsonrpc::parse` checked their member names): the tool deserializes
        // them into its own type, and only the paths that read them as a map build one.
        let arguments = match request.arguments.take() {
            Some(raw) if raw.get() == "null" => None,
            Some(raw) if !raw.get().starts_with('{') => {
                return error(
                    &request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `arguments` must be an object",
                );
            }
            arguments => arguments,
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
        let mut observation = self.observe(
            CallKind::Tool,
            tool.name(),
            None,
            || arguments_map(arguments.as_deref()),
            &auth,
            ctx.outcome.as_ref(),
        );
        let observation = &mut observation;
        if let Err(refused) = self.admit(&request, tool, &auth, observation).await {
            return refused;
        }
        let principal = auth.principal_key();
        let channelled = match self
            .channel(
                &request,
                &ctx.era,
                &params,
                tool,
                &auth,
                principal,
                arguments.as_deref(),
                observation,
            )
            .await
        {
            Ok(channelled) => channelled,
            Err(refused) => return refused,
        };
        let task = match self.task_mode(&request, &ctx.era, tool, task_capabilities.is_some()) {
            Ok(task) => task,
            Err(refused) => return refused,
        };
        let peer = Peer::new(
            // A task outlives the request: what it sends has nowhere to go.
            if task { None } else { ctx.outbound },
            progress_token,
            channelled.log_level,
            channelled.support,
            channelled.channel,
            self.call_timeout,
        );
        let call = self.call_context(tool, auth.clone(), ctx.subject, peer);
        let outcome = if task {
            let capabilities = task_capabilities.unwrap_or_default();
            match self
                .start_task(&request, tool, call, arguments, capabilities)
                .await
            {
                Started::Finished(outcome) => Some(outcome),
                Started::Task(reply) => {
                    report(observation, CallOutcome::TaskCreated);
                    return reply;
                }
            }
        } else {
            self.run(
                tool,
                call,
                arguments,
                &ctx.era,
                &request,
                &auth,
                observation,
            )
            .await
        };
        let Some(outcome) = outcome else {
            report(observation, CallOutcome::Cancelled);
            return Reply::Cancelled;
        };
        let modern = matches!(ctx.era, Era::Modern { .. });
        self.finish(
            &request,
            tool,
            &auth,
            principal,
            channelled.arguments_bound,
            modern,
            outcome,
            observation,
        )
    }

    /// The context a run of `tool` gets: the caller (and its access token, for token
    /// exchange), the server's state and scope policy, the way back to the client, and the
    /// scopes the tool declares (its own checks are held to them).
    pub(super) fn call_context(
        &self,
        tool: &ToolDef,
        auth: Arc<AuthInfo>,
        subject: Option<SubjectToken>,
        peer: Peer,
    ) -> CallContext {
        CallContext::new(
            auth,
            self.state.clone(),
            self.scopes.clone(),
            Arc::new(peer),
            Some(tool.name()),
        )
        .exchanging(self.exchange.clone(), subject)
        .declaring(Declared {
            name: tool.name(),
            scopes: tool.scopes(),
            conditional: tool.conditional_scopes(),
        })
    }

    /// Whether the caller may call `tool` now: its scopes, decided before the tool runs so
    /// that the client can step up (the generated handler and the tool body check again),
    /// and the tool's rate limit.
    ///
    /// A tool with conditional scopes is not refused here: which scopes it needs depends on
    /// its arguments, and the guard inside the function, which parses them, refuses once,
    /// naming the static scopes and every conditional one that applies.
    async fn admit(
        &self,
        request: &Request,
        tool: &ToolDef,
        auth: &AuthInfo,
        observation: &mut Option<Observation<'_>>,
    ) -> Result<(), Reply> {
        if tool.conditional_scopes().is_empty()
            && let Err(err) =
                trace::authorize(tool.scopes(), || self.scopes.require(auth, tool.scopes()))
        {
            report(observation, CallOutcome::Forbidden);
            return Err(forbidden(request, tool.name(), auth, err));
        }
        let limited = self.rate_limit(request, tool, auth).await;
        if limited.is_err() {
            report(observation, CallOutcome::RateLimited);
        }
        limited
    }

    /// The `429` refusal of a call of `tool` over the caller's rate limit for it; a run of a
    /// task that `tasks/update` resumes counts as a call.
    pub(super) async fn rate_limit(
        &self,
        request: &Request,
        tool: &ToolDef,
        auth: &AuthInfo,
    ) -> Result<(), Reply> {
        if let Some(limits) = &self.rate_limits
            && let Err(limited) = limits.check_tool(auth.principal_key(), tool.name()).await
        {
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
            return Err(Reply::RateLimited {
                retry_after: limited.retry_after,
                body,
            });
        }
        Ok(())
    }

    /// The way back to the client for this era: in 2026-07-28 the answers a retried call
    /// brings (its `requestState` opened and spent), in the handshake era the session's
    /// pending requests.
    #[allow(clippy::too_many_arguments)]
    async fn channel(
        &self,
        request: &Request,
        era: &Era,
        params: &Map<String, Value>,
        tool: &ToolDef,
        auth: &AuthInfo,
        principal: &str,
        arguments: Option<&RawValue>,
        observation: &mut Option<Observation<'_>>,
    ) -> Result<Channelled, Reply> {
        let mut arguments_bound = None;
        let (channel, support, log_level) = match era {
            Era::Modern { support, log_level } => {
                if params.contains_key("requestState") || support.any() {
                    arguments_bound = Some(arguments_digest(arguments_map(arguments).as_ref()));
                }
                let binding = arguments_bound.map(|arguments| Binding {
                    principal,
                    method: "tools/call",
                    tool: tool.name(),
                    arguments,
                });
                let (answers, unsolicited) = match self
                    .retry_answers(request, params, binding.as_ref(), tool.name(), auth)
                    .await
                {
                    Ok(collected) => collected,
                    Err(refused) => {
                        report(observation, CallOutcome::InvalidRequestState);
                        return Err(refused);
                    }
                };
                (
                    Channel::Modern {
                        answers,
                        unsolicited,
                    },
                    *support,
                    *log_level,
                )
            }
            Era::Legacy { session } => self.legacy_channel(session.as_deref(), auth),
        };
        Ok(Channelled {
            channel,
            support,
            log_level,
            arguments_bound,
        })
    }

    /// Runs the call under its timeout; `None` when the client cancelled it.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        tool: &ToolDef,
        call: CallContext,
        arguments: Arguments,
        era: &Era,
        request: &Request,
        auth: &AuthInfo,
        observation: &mut Option<Observation<'_>>,
    ) -> Option<Result<CallToolResult, ToolError>> {
        // Most calls are over at their first poll, so they run once before anything is set
        // up for a call that waits: the cancellation registry, the abort handle, the timer.
        // A handshake-era call that waits can then be cancelled by `notifications/cancelled`
        // (one that arrives earlier finds nothing to cancel, as one that arrived before the
        // call started always did); a 2026-07-28 call is cancelled by closing its stream,
        // which drops this future.
        // The handler's future is boxed, so the instrumented one is `Unpin`.
        let mut run =
            (tool.handler())(call, arguments).instrument(trace::body_span("tool", tool.name()));
        let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut run).poll(cx))).await;
        let outcome = match first {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                let (abort, registration) = AbortHandle::new_pair();
                let scope = match era {
                    Era::Legacy {
                        session: Some(session),
                    } => Some(session.id.clone()),
                    Era::Legacy { session: None } => Some(auth.principal_key().to_owned()),
                    Era::Modern { .. } => None,
                };
                let _tracked = scope.map(|scope| self.calls.track(scope, request.id.key(), abort));
                let run = Abortable::new(run, registration);
                match tokio::time::timeout(self.call_timeout, run).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_aborted)) => {
                        tracing::info!(tool = tool.name(), "call cancelled by the client");
                        return None;
                    }
                    Err(_elapsed) => {
                        tracing::warn!(tool = tool.name(), timeout = ?self.call_timeout, "tool timed out");
                        report(observation, CallOutcome::TimedOut);
                        Err(ToolError::new(format!(
                            "the tool did not finish within {} s",
                            self.call_timeout.as_secs()
                        )))
                    }
                }
            }
        };
        Some(outcome)
    }

    /// The call's outcome as the era sends it, reported to the `on_call` hook.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        request: &Request,
        tool: &ToolDef,
        auth: &AuthInfo,
        principal: &str,
        arguments_bound: Option<[u8; 32]>,
        modern: bool,
        outcome: Result<CallToolResult, ToolError>,
        observation: &mut Option<Observation<'_>>,
    ) -> Reply {
        let result = match outcome {
            Ok(result) => {
                report(
                    observation,
                    if result.is_error {
                        CallOutcome::Failed
                    } else {
                        CallOutcome::Completed
                    },
                );
                result
            }
            Err(err @ ToolError::InsufficientScope { .. }) => {
                report(observation, CallOutcome::Forbidden);
                // Sent instead of the `403` if the response stream has started by now.
                let streamed = match &err {
                    ToolError::InsufficientScope { required, missing } => {
                        let result = refusal_result(required, missing);
                        if modern {
                            respond(request, &ModernCallResult::new(&result, &self.server_info))
                        } else {
                            respond(request, &result)
                        }
                    }
                    _ => unreachable!("matched above"),
                };
                return forbidden(request, tool.name(), auth, err).streamed_as(streamed);
            }
            Err(ToolError::Internal(cause)) => {
                report(observation, CallOutcome::Failed);
                tracing::error!(tool = tool.name(), error = %cause, "tool failed");
                CallToolResult::error("internal error")
            }
            Err(ToolError::InputRequired(input)) if modern => {
                report(observation, CallOutcome::InputRequired);
                let binding = Binding {
                    principal,
                    method: "tools/call",
                    tool: tool.name(),
                    // Always set: only a client that can answer is asked. Were it not, the
                    // state would be bound to no arguments, and refused on retry.
                    arguments: arguments_bound.unwrap_or_default(),
                };
                let result = input_required(*input, &self.request_state, &binding);
                return respond(request, &self.modern(result));
            }
            Err(ToolError::MissingClientCapability(capability)) if modern => {
                report(observation, CallOutcome::MissingClientCapability);
                return missing_capability(request, capability);
            }
            Err(ToolError::InvalidInputResponse(message)) if modern => {
                report(observation, CallOutcome::InvalidRequestState);
                return error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    format!("invalid params: {message}"),
                );
            }
            Err(err) => {
                report(
                    observation,
                    match err {
                        ToolError::InvalidArguments(_) => CallOutcome::InvalidArguments,
                        ToolError::MissingClientCapability(_) => {
                            CallOutcome::MissingClientCapability
                        }
                        _ => CallOutcome::Failed,
                    },
                );
                CallToolResult::error(err.to_string())
            }
        };
        if result.is_error {
            trace::record_tool_error();
        }
        tracing::debug!(
            tool = tool.name(),
            subject = auth.subject(),
            client_id = auth.client_id(),
            is_error = result.is_error,
            "tool called"
        );
        if modern {
            respond(request, &ModernCallResult::new(&result, &self.server_info))
        } else {
            respond(request, &result)
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
    structured_content: Option<&'a RawValue>,
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
            structured_content: structured_content.as_deref(),
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
