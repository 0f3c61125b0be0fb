//! Running a handler that has no channel to the client (a resource read, a prompt): under
//! the call timeout, its errors answered as JSON-RPC errors, a scope refusal as `403`, and its
//! outcome reported to the `on_call` hook.

use std::future::Future;
use std::sync::Arc;

use http::StatusCode;

use serde_json::{Map, Value};

use super::Dispatcher;
use super::events::{CallKind, CallOutcome, Observation, OutcomeSlot};
use super::reply::{Reply, error, forbidden, respond};
use super::request_state::Binding;
use super::round_trip::{input_required, missing_capability};
use crate::auth::AuthInfo;
use crate::context::CallContext;
use crate::downstream::SubjectToken;
use crate::error::ToolError;
use crate::jsonrpc::{Request, code};
use crate::peer::Peer;

impl Dispatcher {
    /// The context of a handler without a channel to the client: no progress, logs or
    /// requests for input.
    pub(super) fn detached_context(
        &self,
        auth: &Arc<AuthInfo>,
        subject: Option<SubjectToken>,
    ) -> CallContext {
        CallContext::new(
            auth.clone(),
            self.state.clone(),
            self.scopes.clone(),
            Arc::new(Peer::detached()),
            None,
        )
        .exchanging(self.exchange.clone(), subject)
    }

    /// What the `on_call` hook and the request's outcome `slot` will be told of this call,
    /// read or get, if there is a hook or a slot: it is reported when the observation is
    /// dropped, as cancelled unless an outcome was set. The arguments are kept for the hook
    /// alone.
    pub(super) fn observe(
        &self,
        kind: CallKind,
        name: &'static str,
        uri: Option<&str>,
        arguments: impl FnOnce() -> Option<Map<String, Value>>,
        auth: &Arc<AuthInfo>,
        slot: Option<&OutcomeSlot>,
    ) -> Option<Observation<'_>> {
        let observer = self.observer.as_ref();
        if observer.is_none() && slot.is_none() {
            return None;
        }
        Some(Observation {
            observer,
            slot: slot.cloned(),
            kind,
            name,
            uri: observer.and(uri).map(str::to_owned),
            auth: auth.clone(),
            arguments: observer.and_then(|_| arguments()),
            outcome: None,
        })
    }

    /// Runs `handler` (of the resource or prompt `name`) to its value, or the reply that
    /// answers its failure; `not_found` answers `ToolError::NotFound`. The outcome goes to
    /// `observation`.
    pub(super) async fn run_detached<T>(
        &self,
        request: &Request,
        name: &str,
        auth: &AuthInfo,
        observation: &mut Option<Observation<'_>>,
        handler: impl Future<Output = Result<T, ToolError>>,
        not_found: impl FnOnce() -> Reply,
    ) -> Result<T, Reply> {
        self.run_asking(request, name, auth, observation, handler, not_found, None)
            .await
    }

    /// [`run_detached`](Self::run_detached) for a handler that may ask for input: in the
    /// 2026-07-28 era (`round_trip` is the binding of the state it would seal) a request for
    /// input is answered with an `InputRequiredResult`, a missing client capability with
    /// `-32021`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_asking<T>(
        &self,
        request: &Request,
        name: &str,
        auth: &AuthInfo,
        observation: &mut Option<Observation<'_>>,
        handler: impl Future<Output = Result<T, ToolError>>,
        not_found: impl FnOnce() -> Reply,
        round_trip: Option<&Binding<'_>>,
    ) -> Result<T, Reply> {
        let mut report = |outcome| {
            if let Some(observation) = observation.as_mut() {
                observation.outcome = Some(outcome);
            }
        };
        let outcome = match tokio::time::timeout(self.call_timeout, handler).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                report(CallOutcome::TimedOut);
                tracing::warn!(name, timeout = ?self.call_timeout, "handler timed out");
                return Err(error(
                    request,
                    StatusCode::OK,
                    code::INTERNAL_ERROR,
                    "the request did not finish in time",
                ));
            }
        };
        report(match &outcome {
            Ok(_) => CallOutcome::Completed,
            Err(ToolError::InsufficientScope { .. }) => CallOutcome::Forbidden,
            Err(ToolError::NotFound) => CallOutcome::NotFound,
            Err(ToolError::InvalidArguments(_)) => CallOutcome::InvalidArguments,
            Err(ToolError::InputRequired(_)) if round_trip.is_some() => CallOutcome::InputRequired,
            Err(ToolError::MissingClientCapability(_)) => CallOutcome::MissingClientCapability,
            Err(ToolError::InvalidInputResponse(_)) => CallOutcome::InvalidRequestState,
            Err(_) => CallOutcome::Failed,
        });
        outcome.map_err(|err| match err {
            ToolError::InputRequired(input) if let Some(binding) = round_trip => {
                let result = input_required(*input, &self.request_state, binding);
                respond(request, &self.modern(result))
            }
            ToolError::MissingClientCapability(capability) if round_trip.is_some() => {
                missing_capability(request, capability)
            }
            ToolError::InvalidInputResponse(message) => error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                format!("invalid params: {message}"),
            ),
            err @ ToolError::InsufficientScope { .. } => forbidden(request, name, auth, err),
            ToolError::NotFound => not_found(),
            ToolError::InvalidArguments(message) => {
                error(request, StatusCode::OK, code::INVALID_PARAMS, message)
            }
            ToolError::Internal(cause) => {
                tracing::error!(name, error = %cause, "handler failed");
                error(
                    request,
                    StatusCode::OK,
                    code::INTERNAL_ERROR,
                    "internal error",
                )
            }
            err => error(
                request,
                StatusCode::OK,
                code::INTERNAL_ERROR,
                err.to_string(),
            ),
        })
    }
}
