//! 2026-07-28 round trips: the answers a retried call brings, and the `InputRequiredResult`
//! that asks for more.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::request_state::{Answer, Binding, Nonce, Refused, Sealer};
use crate::input::{Answers, InputRequest, question_digest};

/// The answers of a retried 2026-07-28 call: those of earlier rounds, from its sealed
/// `requestState`, and this round's `inputResponses`, each of which must answer a question the
/// state says was asked; with the state's nonce and expiry, to spend, when it carried one.
/// `binding` is `None` when the client can answer no request for input and sent no state.
pub(super) fn collect_answers(
    params: &Map<String, Value>,
    sealer: &Sealer,
    binding: Option<&Binding<'_>>,
) -> Result<(Answers, Option<(Nonce, u64)>), String> {
    let responses = match params.get("inputResponses") {
        None | Some(Value::Null) => None,
        Some(Value::Object(responses)) => Some(responses).filter(|r| !r.is_empty()),
        Some(_) => return Err("invalid params: `inputResponses` must be an object".into()),
    };
    let state = match (params.get("requestState"), binding) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(sealed)), Some(binding)) => Some(
            sealer
                .open(binding, sealed)
                .map_err(|refused| match refused {
                    Refused::Invalid => {
                        "invalid params: `requestState` was not issued by this server for this call"
                    }
                    Refused::Expired => {
                        "invalid params: `requestState` has expired: call the tool again without it"
                    }
                })?,
        ),
        (Some(_), _) => return Err("invalid params: `requestState` must be a string".into()),
    };
    let Some(state) = state else {
        // Answers the server never asked for: a client cannot skip a confirmation by
        // answering it in advance.
        return match responses {
            None => Ok((Answers::new(), None)),
            Some(_) => Err(
                "invalid params: `inputResponses` without the `requestState` of the \
                            result that asked for them"
                    .into(),
            ),
        };
    };
    let mut answers = state.answers;
    for (key, value) in responses.into_iter().flatten() {
        let Some(question) = state.asked.get(key) else {
            return Err(
                "invalid params: `inputResponses` answers a question that was not asked".into(),
            );
        };
        answers.insert(
            key.clone(),
            Answer {
                question: question.clone(),
                value: value.clone(),
            },
        );
    }
    Ok((answers, Some((state.nonce, state.expires_ms))))
}

/// The `InputRequiredResult` for a tool's request for input, with a `requestState` sealed for
/// this call that carries the answers given so far and the question asked now.
pub(super) fn input_required(input: InputRequest, sealer: &Sealer, binding: &Binding<'_>) -> Value {
    let InputRequest {
        key,
        method,
        params,
        answered,
    } = input;
    let asked = BTreeMap::from([(key.clone(), question_digest(method, &params))]);
    let state = sealer.seal(binding, answered, asked);
    json!({
        "resultType": "input_required",
        "inputRequests": { key: { "method": method, "params": params } },
        "requestState": state,
    })
}
