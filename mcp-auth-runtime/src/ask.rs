//! Requests for input made several at a time, under keys the author chooses: [`Ask`] names
//! the questions, [`ToolContext::ask`](crate::ToolContext::ask) asks them in one round, and
//! [`Responses`] holds the client's answers, each checked against the shape its method
//! returns (MCP 2026-07-28, `InputRequests` and `InputResponses`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ToolError;
use crate::peer::Elicitation;

/// What a request for input asks the client for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// `elicitation/create`: a form the user fills in.
    Elicitation,
    /// `sampling/createMessage`: a completion of the client's model.
    Sampling,
    /// `roots/list`: the roots (directories, repositories) the client exposes.
    Roots,
}

impl InputKind {
    /// The JSON-RPC method of the request.
    pub fn method(self) -> &'static str {
        match self {
            InputKind::Elicitation => "elicitation/create",
            InputKind::Sampling => "sampling/createMessage",
            InputKind::Roots => "roots/list",
        }
    }

    /// The client capability that lets a server make the request.
    pub fn capability(self) -> &'static str {
        match self {
            InputKind::Elicitation => "elicitation",
            InputKind::Sampling => "sampling",
            InputKind::Roots => "roots",
        }
    }

    /// Whether `answer` has the shape of this request's result (`ElicitResult`,
    /// `CreateMessageResult`, `ListRootsResult`); the error says what is wrong.
    pub(crate) fn check(self, answer: &Value) -> Result<(), String> {
        let object = answer
            .as_object()
            .ok_or_else(|| "an answer must be an object".to_owned())?;
        match self {
            InputKind::Elicitation => serde_json::from_value::<Elicitation>(answer.clone())
                .map(drop)
                .map_err(|e| format!("not an `ElicitResult`: {e}")),
            InputKind::Sampling => {
                let role = object.get("role").and_then(Value::as_str);
                if !matches!(role, Some("user" | "assistant")) {
                    return Err(
                        "not a `CreateMessageResult`: `role` must be `user` or `assistant`".into(),
                    );
                }
                if !object.get("model").is_some_and(Value::is_string) {
                    return Err("not a `CreateMessageResult`: `model` must be a string".into());
                }
                match object.get("content") {
                    Some(Value::Object(_) | Value::Array(_)) => Ok(()),
                    _ => Err("not a `CreateMessageResult`: `content` is missing".into()),
                }
            }
            InputKind::Roots => serde_json::from_value::<RootList>(answer.clone())
                .map(drop)
                .map_err(|e| format!("not a `ListRootsResult`: {e}")),
        }
    }
}

/// One request for input: its key, what it asks and its parameters.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub(crate) key: String,
    pub(crate) kind: InputKind,
    pub(crate) params: Value,
    /// The answer counts even when no `requestState` asked for it (see
    /// [`Ask::answerable_in_advance`]).
    pub(crate) in_advance: bool,
}

/// Several requests for input asked in one round, each under a key the author chooses.
///
/// In the 2026-07-28 era the keys are those of the `InputRequiredResult`'s `inputRequests`
/// and of the client's `inputResponses`; in the handshake era each request travels on the
/// call's stream and the keys only name the answers.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
/// use mcp_auth_runtime::Ask;
/// use serde_json::json;
///
/// /// Greet the user in the client's first root.
/// #[tool(unscoped)]
/// async fn greet(ctx: ToolContext) -> Result<String, ToolError> {
///     let name_form = json!({
///         "type": "object",
///         "properties": { "name": { "type": "string" } },
///         "required": ["name"]
///     });
///     let answers = ctx
///         .ask(
///             Ask::new()
///                 .elicit("user_name", "What is your name?", name_form)
///                 .list_roots("client_roots"),
///         )
///         .await?;
///     let name = answers.elicitation("user_name")?.content.unwrap_or_default();
///     let roots = answers.roots("client_roots")?;
///     Ok(format!("Hello {} in {}", name["name"], roots[0].uri))
/// }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "an `Ask` does nothing until passed to `ToolContext::ask`"]
pub struct Ask {
    pub(crate) questions: Vec<Question>,
}

impl Ask {
    /// No questions yet.
    pub fn new() -> Ask {
        Ask::default()
    }

    /// Asks the user to fill in a form (`elicitation/create`, form mode): `requested_schema`
    /// is a flat JSON Schema object of primitive properties.
    pub fn elicit(
        self,
        key: impl Into<String>,
        message: impl Into<String>,
        requested_schema: Value,
    ) -> Ask {
        let params = json!({
            "mode": "form",
            "message": message.into(),
            "requestedSchema": requested_schema,
        });
        self.with(key, InputKind::Elicitation, params)
    }

    /// Asks the client's model for a completion (`sampling/createMessage`); `params` are the
    /// request's parameters (`messages`, `maxTokens`, ...).
    pub fn sample(self, key: impl Into<String>, params: Value) -> Ask {
        self.with(key, InputKind::Sampling, params)
    }

    /// Asks for the client's roots (`roots/list`).
    pub fn list_roots(self, key: impl Into<String>) -> Ask {
        self.with(key, InputKind::Roots, json!({}))
    }

    /// Lets the client answer the questions asked so far without the `requestState` of a
    /// round that asked them, e.g. on its first call.
    ///
    /// By default an answer counts only when it comes with the sealed state of the round that
    /// asked that very question, so that a client cannot skip a confirmation by answering it
    /// in advance. Opt in only for questions whose answer grants nothing the client could not
    /// send as an argument (a name, a preference): the answer is then as trustworthy as an
    /// argument, and checked only for its shape.
    pub fn answerable_in_advance(mut self) -> Ask {
        for question in &mut self.questions {
            question.in_advance = true;
        }
        self
    }

    /// The questions, or why they cannot be asked: a key used twice is a bug of the tool.
    pub(crate) fn into_questions(self) -> Result<Vec<Question>, ToolError> {
        let mut seen = std::collections::BTreeSet::new();
        for question in &self.questions {
            if !seen.insert(question.key.as_str()) {
                return Err(ToolError::internal(format!(
                    "the request for input `{}` is asked twice in one round",
                    question.key
                )));
            }
        }
        Ok(self.questions)
    }

    fn with(mut self, key: impl Into<String>, kind: InputKind, params: Value) -> Ask {
        self.questions.push(Question {
            key: key.into(),
            kind,
            params,
            in_advance: false,
        });
        self
    }
}

/// The client's answers to an [`Ask`], by key; each has the shape of its request's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Responses {
    pub(crate) answers: BTreeMap<String, Value>,
}

impl Responses {
    /// The answer to `key` as the client sent it, if `key` was asked.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.answers.get(key)
    }

    /// The answer to the elicitation `key`.
    pub fn elicitation(&self, key: &str) -> Result<Elicitation, ToolError> {
        self.typed(key)
    }

    /// The answer to the sampling request `key`: the client's `CreateMessageResult`.
    pub fn sampling(&self, key: &str) -> Result<Value, ToolError> {
        self.answers.get(key).cloned().ok_or_else(|| not_asked(key))
    }

    /// The answer to the `roots/list` request `key`.
    pub fn roots(&self, key: &str) -> Result<Vec<Root>, ToolError> {
        self.typed::<RootList>(key).map(|list| list.roots)
    }

    fn typed<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<T, ToolError> {
        let answer = self.answers.get(key).ok_or_else(|| not_asked(key))?;
        serde_json::from_value(answer.clone()).map_err(|e| {
            ToolError::internal(format!(
                "the answer to `{key}` is not of the kind read: {e}"
            ))
        })
    }
}

fn not_asked(key: &str) -> ToolError {
    ToolError::internal(format!("no request for input `{key}` was asked"))
}

/// A root the client exposes (`roots/list`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Root {
    /// The root's URI, e.g. `file:///home/user/project`.
    pub uri: String,
    /// A human-readable name, if the client gave one.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct RootList {
    roots: Vec<Root>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_against_their_request() {
        let good = [
            (
                InputKind::Elicitation,
                json!({ "action": "accept", "content": { "a": 1 } }),
            ),
            (InputKind::Elicitation, json!({ "action": "decline" })),
            (
                InputKind::Sampling,
                json!({ "role": "assistant", "content": { "type": "text", "text": "hi" }, "model": "m" }),
            ),
            (
                InputKind::Roots,
                json!({ "roots": [{ "uri": "file:///r", "name": "R" }] }),
            ),
            (InputKind::Roots, json!({ "roots": [] })),
        ];
        for (kind, answer) in good {
            assert_eq!(kind.check(&answer), Ok(()), "{kind:?} {answer}");
        }
        let bad = [
            (InputKind::Elicitation, json!(12345)),
            (InputKind::Elicitation, json!({ "action": "maybe" })),
            (InputKind::Elicitation, json!({ "content": {} })),
            (
                InputKind::Sampling,
                json!({ "role": "assistant", "model": "m" }),
            ),
            (
                InputKind::Sampling,
                json!({ "role": "robot", "content": {}, "model": "m" }),
            ),
            (InputKind::Roots, json!({ "roots": [{ "name": "no uri" }] })),
            (InputKind::Roots, json!({})),
        ];
        for (kind, answer) in bad {
            assert!(kind.check(&answer).is_err(), "{kind:?} {answer}");
        }
    }

    #[test]
    fn a_key_asked_twice_in_one_round_is_a_bug() {
        let ask = Ask::new().list_roots("k").sample("k", json!({}));
        assert!(matches!(ask.into_questions(), Err(ToolError::Internal(_))));
    }
}
