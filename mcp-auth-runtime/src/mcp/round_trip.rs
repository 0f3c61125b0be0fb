//! 2026-07-28 round trips: the answers a retried request brings, and the
//! `InputRequiredResult` that asks for more. Shared by every request that may ask for input
//! (`tools/call`, `prompts/get`).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::events::{CallOutcome, Observation, observed};
use super::reply::{Reply, error};
use super::request_state::{Answer, Binding, Nonce, Refused, Sealer, now_ms};
use super::spent::NotSpent;
use super::{Dispatcher, Era, RequestCtx};
use crate::auth::AuthInfo;
use crate::authorize::Declared;
use crate::context::CallContext;
use crate::input::{Answers, InputRequest, Question, question_digest};
use crate::jsonrpc::{ErrorResponse, Request, code};
use crate::peer::{Channel, ClientSupport, LogLevel, Peer};
use crate::session::Session;

/// What a retry brings: the answers to questions its state asked, the responses no question
/// of its state asked, and the state's nonce and expiry, to spend, when it carried one, with
/// the instant the state was found unexpired at (it is spent at that same instant).
#[derive(Debug, Default)]
pub(super) struct Collected {
    pub(super) answers: Answers,
    pub(super) unsolicited: Map<String, Value>,
    pub(super) spend: Option<(Nonce, u64, u64)>,
}

/// The answers of a retried 2026-07-28 request: those of earlier rounds, from its sealed
/// `requestState`, and this round's `inputResponses` to the questions the state says were
/// asked. Responses to anything else are kept apart (MCP 2026-07-28, MRTR §error handling:
/// the server ignores what it does not recognize), and count only for a question answerable
/// in advance. `binding` is `None` when the client can answer no request for input and sent
/// no state.
pub(super) fn collect_answers(
    params: &Map<String, Value>,
    sealer: &Sealer,
    binding: Option<&Binding<'_>>,
) -> Result<Collected, String> {
    let responses = match params.get("inputResponses") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(responses)) => responses.clone(),
        Some(_) => return Err("invalid params: `inputResponses` must be an object".into()),
    };
    // Every value of `InputResponses` is a result object, recognized or not: anything else is
    // a protocol error (MRTR §error handling).
    if let Some((key, _)) = responses.iter().find(|(_, value)| !value.is_object()) {
        return Err(format!(
            "invalid params: `inputResponses.{key}` must be an object (an `ElicitResult`, \
             `CreateMessageResult` or `ListRootsResult`)"
        ));
    }
    let now = now_ms();
    let state = match (params.get("requestState"), binding) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(sealed)), Some(binding)) => Some(
            sealer
                .open(binding, sealed, now)
                .map_err(|refused| match refused {
                    Refused::Invalid => {
                        "invalid params: `requestState` was not issued by this server for this \
                         request"
                    }
                    Refused::Expired => {
                        "invalid params: `requestState` has expired: send the request again \
                         without it"
                    }
                })?,
        ),
        (Some(_), _) => return Err("invalid params: `requestState` must be a string".into()),
    };
    let Some(state) = state else {
        // No question was asked: every response is unsolicited, and a client cannot skip a
        // confirmation by answering it in advance.
        return Ok(Collected {
            unsolicited: responses,
            ..Collected::default()
        });
    };
    let mut answers = state.answers;
    let mut unsolicited = Map::new();
    for (key, value) in responses {
        match state.asked.get(&key) {
            Some(question) => {
                answers.insert(
                    key,
                    Answer {
                        question: question.clone(),
                        value,
                    },
                );
            }
            None => {
                unsolicited.insert(key, value);
            }
        }
    }
    Ok(Collected {
        answers,
        unsolicited,
        spend: Some((state.nonce, state.expires_ms, now)),
    })
}

/// The `InputRequiredResult` for a round of requests for input, with a `requestState` sealed
/// for this request that carries the answers given so far and the questions asked now.
pub(super) fn input_required(input: InputRequest, sealer: &Sealer, binding: &Binding<'_>) -> Value {
    let InputRequest {
        questions,
        answered,
    } = input;
    let asked: BTreeMap<String, String> = questions
        .iter()
        .map(|q| (q.key.clone(), question_digest(q.kind.method(), &q.params)))
        .collect();
    let state = sealer.seal(binding, answered, asked);
    json!({
        "resultType": "input_required",
        "inputRequests": input_requests(questions),
        "requestState": state,
    })
}

/// The `InputRequests` map of a round: each question's request (`method`, `params`) under
/// its key.
pub(super) fn input_requests(questions: Vec<Question>) -> Map<String, Value> {
    questions
        .into_iter()
        .map(|q| {
            let request = json!({ "method": q.kind.method(), "params": q.params });
            (q.key, request)
        })
        .collect()
}

/// `-32021` with HTTP `400` (MCP 2026-07-28, `MissingRequiredClientCapabilityError`): the
/// request needs a client capability the client did not declare.
pub(super) fn missing_capability(request: &Request, capability: &str) -> Reply {
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::MISSING_CLIENT_CAPABILITY,
        format!("the request needs the client capability `{capability}`"),
    )
    .with_data(json!({ "requiredCapabilities": { capability: {} } }))
    .to_bytes();
    Reply::Json(StatusCode::BAD_REQUEST, body)
}

impl Dispatcher {
    /// The answers a 2026-07-28 retry of `request` brings, its state opened for `binding` and
    /// spent; or the reply that refuses the retry (logged, naming `name` and the caller).
    pub(super) async fn retry_answers(
        &self,
        request: &Request,
        params: &Map<String, Value>,
        binding: Option<&Binding<'_>>,
        name: &str,
        auth: &AuthInfo,
    ) -> Result<(Answers, Map<String, Value>), Reply> {
        let refused = |why: &dyn std::fmt::Display| {
            tracing::info!(name, subject = auth.subject(), "retry refused: {why}");
        };
        let collected = match collect_answers(params, &self.request_state, binding) {
            Ok(collected) => collected,
            Err(message) => {
                refused(&message);
                return Err(error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    message,
                ));
            }
        };
        // Spent once the retry is known to be well-formed (a malformed one leaves its state
        // usable) and before the handler runs: whatever it then does, the state confirms
        // nothing else.
        if let Some((nonce, expires_ms, opened_at)) = collected.spend
            && let Err(not_spent) = self.spent.spend(nonce, expires_ms, opened_at).await
        {
            refused(&not_spent);
            return Err(match not_spent {
                NotSpent::Replayed => error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `requestState` has already been used: send the request \
                     again without it",
                ),
                NotSpent::Full(_) | NotSpent::Unavailable(_) => error(
                    request,
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::INTERNAL_ERROR,
                    "the retry cannot be checked now; retry shortly",
                ),
            });
        }
        Ok((collected.answers, collected.unsolicited))
    }
}

impl Dispatcher {
    /// The context of a request other than `tools/call` whose handler may ask for input
    /// (`prompts/get`, `resources/read`), and in 2026-07-28 what its `requestState` is bound
    /// to: the caller, `method`, the name `declared` and the digest of the request's
    /// `arguments`. A refused retry is reported to `observation`.
    ///
    /// In 2026-07-28 the handler finds the answers its retry brings (the state opened and
    /// spent here, or the reply refusing the retry); in the handshake era its requests travel
    /// on the request's stream. No progress: only a tool call has a `progressToken`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn asking_context<'a>(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        method: &'a str,
        declared: Declared,
        principal: &'a str,
        arguments: [u8; 32],
        observation: &mut Option<Observation<'_>>,
    ) -> Result<(CallContext, Option<Binding<'a>>), Reply> {
        let name = declared.name;
        let (channel, support, log_level, binding) = match &ctx.era {
            Era::Modern { support, log_level } => {
                let binding = Binding {
                    principal,
                    method,
                    tool: name,
                    arguments,
                };
                let params = request.params.clone().unwrap_or_default();
                let (answers, unsolicited) = self
                    .retry_answers(request, &params, Some(&binding), name, &ctx.auth)
                    .await
                    .inspect_err(|_| observed(observation, CallOutcome::InvalidRequestState))?;
                let channel = Channel::Modern {
                    answers,
                    unsolicited,
                };
                (channel, *support, *log_level, Some(binding))
            }
            Era::Legacy { session } => {
                let (channel, support, level) = self.legacy_channel(session.as_deref(), &ctx.auth);
                (channel, support, level, None)
            }
        };
        let peer = Peer::new(
            ctx.outbound.clone(),
            None,
            log_level,
            support,
            channel,
            self.call_timeout,
        );
        let call = CallContext::new(
            ctx.auth.clone(),
            self.state.clone(),
            self.scopes.clone(),
            Arc::new(peer),
            None,
        )
        .exchanging(self.exchange.clone(), ctx.subject.clone())
        .declaring(declared);
        Ok((call, binding))
    }

    /// The handshake era's way back to the client: the session's pending requests, or
    /// without a session none (the transport drops responses without one).
    pub(super) fn legacy_channel(
        &self,
        session: Option<&Session>,
        auth: &AuthInfo,
    ) -> (Channel, ClientSupport, Option<LogLevel>) {
        let (scope, support, level) = match session {
            Some(session) => (session.id.clone(), session.support, session.log_level),
            None => (
                auth.principal_key().to_owned(),
                ClientSupport::default(),
                LogLevel::Debug,
            ),
        };
        let pending = self.calls.pending.clone();
        (Channel::Legacy { pending, scope }, support, Some(level))
    }
}
