//! What a running tool can say to the client while it works: progress, log messages, and
//! requests for input (elicitation, sampling, roots).
//!
//! In the handshake era (2025-03-26 to 2025-11-25) these travel on the SSE stream of the
//! request being answered, and requests for input are JSON-RPC requests the client answers
//! with a POST. In the 2026-07-28 era notifications still travel on the request's stream, but
//! requests for input end the call with an `InputRequiredResult` and the client retries it
//! with the answers (multi round-trip requests): the tool runs again from the start, and each
//! request for input finds its answer by key (the author's, or one numbered by position),
//! provided that it asks the very question the answer was given to (see
//! `mcp::request_state`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use crate::ask::{InputKind, Question};
use crate::error::ToolError;
use crate::input::{Answer, Answers, InputRequest, question_digest};

/// Severity of a log message (RFC 5424 levels, as MCP uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// Informational messages.
    Info,
    /// Normal but significant events.
    Notice,
    /// Warning conditions.
    Warning,
    /// Error conditions.
    Error,
    /// Critical conditions.
    Critical,
    /// Action must be taken immediately.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    pub(crate) fn parse(value: &Value) -> Option<LogLevel> {
        serde_json::from_value(value.clone()).ok()
    }

    pub(crate) fn as_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(value: u8) -> LogLevel {
        use LogLevel::*;
        [
            Debug, Info, Notice, Warning, Error, Critical, Alert, Emergency,
        ]
        .get(usize::from(value))
        .copied()
        .unwrap_or(Emergency)
    }
}

/// How the client answered an elicitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitAction {
    /// The user submitted the form.
    Accept,
    /// The user explicitly declined.
    Decline,
    /// The user dismissed the request.
    Cancel,
}

/// The client's answer to [`ToolContext::elicit`](crate::ToolContext::elicit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elicitation {
    /// What the user did.
    pub action: ElicitAction,
    /// The submitted values, when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Map<String, Value>>,
}

/// Which protocol era the call belongs to, and what that era allows.
#[derive(Debug, Clone)]
pub(crate) enum Channel {
    /// Handshake era: server-to-client requests travel on the request's SSE stream.
    Legacy {
        pending: Arc<PendingRequests>,
        /// The session, or without one the caller, that may answer.
        scope: String,
    },
    /// 2026-07-28: requests for input are answered by retrying the call; the answers come
    /// from a verified `requestState` and the retry's `inputResponses`.
    Modern {
        answers: Answers,
        /// The retry's `inputResponses` that no question of its state asked: they count only
        /// for questions [answerable in advance](crate::Ask::answerable_in_advance).
        unsolicited: Map<String, Value>,
    },
}

/// The client capabilities that decide whether a tool may ask for input.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientSupport {
    pub(crate) elicitation: bool,
    pub(crate) sampling: bool,
    pub(crate) roots: bool,
}

impl ClientSupport {
    /// Whether the client can answer any request for input.
    pub(crate) fn any(self) -> bool {
        self.elicitation || self.sampling || self.roots
    }

    pub(crate) fn from_capabilities(capabilities: Option<&Value>) -> ClientSupport {
        let has = |name: &str| {
            capabilities
                .and_then(|c| c.get(name))
                .is_some_and(Value::is_object)
        };
        ClientSupport {
            elicitation: has("elicitation"),
            sampling: has("sampling"),
            roots: has("roots"),
        }
    }
}

/// The per-call link from a tool back to its client.
pub(crate) struct Peer {
    /// Serialized JSON-RPC messages for the request's stream; `None` when the client cannot
    /// receive a stream (it accepts `application/json` only).
    outbound: Option<mpsc::UnboundedSender<Bytes>>,
    progress_token: Option<Value>,
    /// The least severe level sent; `None` sends no log messages.
    log_level: Option<LogLevel>,
    support: ClientSupport,
    channel: Channel,
    /// How many requests for input without a key of the author's this run made, which
    /// numbers their keys.
    asked: AtomicU32,
    /// 2026-07-28: the answers given in advance that this run used, carried to the next
    /// round's `requestState` with the others.
    adopted: Mutex<Answers>,
    /// Progress must increase (MCP progress): the last value sent, as f64 bits.
    last_progress: AtomicU64,
    timeout: Duration,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("streaming", &self.outbound.is_some())
            .field("log_level", &self.log_level)
            .finish_non_exhaustive()
    }
}

impl Peer {
    pub(crate) fn new(
        outbound: Option<mpsc::UnboundedSender<Bytes>>,
        progress_token: Option<Value>,
        log_level: Option<LogLevel>,
        support: ClientSupport,
        channel: Channel,
        timeout: Duration,
    ) -> Peer {
        Peer {
            outbound,
            progress_token,
            log_level,
            support,
            channel,
            asked: AtomicU32::new(0),
            adopted: Mutex::new(Answers::new()),
            last_progress: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            timeout,
        }
    }

    /// A peer that sends nothing: for direct calls of tool functions.
    pub(crate) fn detached() -> Peer {
        Peer::new(
            None,
            None,
            None,
            ClientSupport::default(),
            Channel::Modern {
                answers: Answers::new(),
                unsolicited: Map::new(),
            },
            Duration::from_secs(60),
        )
    }

    pub(crate) fn progress_token(&self) -> Option<&Value> {
        self.progress_token.as_ref()
    }

    fn send(&self, message: &Value) -> bool {
        match &self.outbound {
            Some(tx) => tx
                .unbounded_send(Bytes::from(serde_json::to_vec(message).unwrap_or_default()))
                .is_ok(),
            None => false,
        }
    }

    pub(crate) fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else {
            return;
        };
        let last = f64::from_bits(self.last_progress.load(Ordering::Relaxed));
        // NaN, or no increase: MCP requires progress to increase.
        if progress.partial_cmp(&last) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        self.last_progress
            .store(progress.to_bits(), Ordering::Relaxed);
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(total) = total {
            params["total"] = total.into();
        }
        if let Some(message) = message {
            params["message"] = message.into();
        }
        self.send(
            &json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": params }),
        );
    }

    pub(crate) fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) {
        if self.log_level.is_none_or(|min| level < min) {
            return;
        }
        let mut params = json!({ "level": level, "data": data });
        if let Some(logger) = logger {
            params["logger"] = logger.into();
        }
        self.send(
            &json!({ "jsonrpc": "2.0", "method": "notifications/message", "params": params }),
        );
    }

    /// Whether the client declared the capability that `kind` needs.
    pub(crate) fn supports(&self, kind: InputKind) -> bool {
        match kind {
            InputKind::Elicitation => self.support.elicitation,
            InputKind::Sampling => self.support.sampling,
            InputKind::Roots => self.support.roots,
        }
    }

    /// A key for a request for input whose author named none: `elicitation-0`,
    /// `sampling-1`, ..., numbered in the order the run asks them.
    pub(crate) fn next_key(&self, kind: InputKind) -> String {
        let seq = self.asked.fetch_add(1, Ordering::Relaxed);
        format!("{}-{seq}", kind.capability())
    }

    /// Asks the client the `questions` of one round; their answers by key, each of the shape
    /// its request returns.
    ///
    /// Every question needs its client capability, whether or not it was answered already: a
    /// client that stops declaring one cannot be held to an answer it gave under it.
    pub(crate) async fn ask(
        &self,
        questions: Vec<Question>,
    ) -> Result<BTreeMap<String, Value>, ToolError> {
        if let Some(question) = questions.iter().find(|q| !self.supports(q.kind)) {
            return Err(ToolError::MissingClientCapability(
                question.kind.capability(),
            ));
        }
        let answers = match &self.channel {
            Channel::Modern {
                answers,
                unsolicited,
            } => self.answered(answers, unsolicited, questions)?,
            Channel::Legacy { pending, scope } => {
                let asked = questions.iter().map(|question| {
                    self.request(pending, scope, question.kind.method(), &question.params)
                });
                let answers = futures_util::future::join_all(asked).await;
                let mut answered = BTreeMap::new();
                for (question, answer) in questions.into_iter().zip(answers) {
                    answered.insert(question.key, (question.kind, answer?));
                }
                answered
            }
        };
        answers
            .into_iter()
            .map(|(key, (kind, answer))| match kind.check(&answer) {
                Ok(()) => Ok((key, answer)),
                Err(why) => Err(ToolError::InvalidInputResponse(format!(
                    "the answer to `{key}` is malformed: {why}"
                ))),
            })
            .collect()
    }

    /// 2026-07-28: the answers the retry brought to `questions`, or the round that asks those
    /// it did not answer (`ToolError::InputRequired`).
    fn answered(
        &self,
        answers: &Answers,
        unsolicited: &Map<String, Value>,
        questions: Vec<Question>,
    ) -> Result<BTreeMap<String, (InputKind, Value)>, ToolError> {
        let mut adopted = self.adopted.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        for question in questions {
            let digest = question_digest(question.kind.method(), &question.params);
            // An answer counts for the very question it answers: asked otherwise (the run took
            // another path), the question is asked again.
            let known = |answers: &Answers| {
                answers
                    .get(&question.key)
                    .filter(|answer| answer.question == digest)
                    .map(|answer| answer.value.clone())
            };
            let answer = known(answers).or_else(|| known(&adopted)).or_else(|| {
                let value = unsolicited
                    .get(&question.key)
                    .filter(|_| question.in_advance)?
                    .clone();
                adopted.insert(
                    question.key.clone(),
                    Answer {
                        question: digest,
                        value: value.clone(),
                    },
                );
                Some(value)
            });
            match answer {
                Some(value) => {
                    found.insert(question.key, (question.kind, value));
                }
                None => missing.push(question),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut answered = answers.clone();
        answered.extend(adopted.iter().map(|(k, v)| (k.clone(), v.clone())));
        for question in &missing {
            answered.remove(&question.key);
        }
        Err(ToolError::InputRequired(Box::new(InputRequest {
            questions: missing,
            answered,
        })))
    }

    /// Handshake era: sends one request for input on the call's stream and waits for the
    /// client's answer.
    async fn request(
        &self,
        pending: &PendingRequests,
        scope: &str,
        method: &'static str,
        params: &Value,
    ) -> Result<Value, ToolError> {
        let Some(outbound) = &self.outbound else {
            return Err(ToolError::new(format!(
                "`{method}` needs a client that accepts `text/event-stream` responses"
            )));
        };
        let (id, answer) = pending.register(scope);
        let _forget = PendingGuard { pending, id: &id };
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        if outbound
            .unbounded_send(Bytes::from(
                serde_json::to_vec(&request).unwrap_or_default(),
            ))
            .is_err()
        {
            return Err(ToolError::new("the client's stream is closed"));
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(error))) => Err(ToolError::new(format!(
                "the client refused `{method}`: {}",
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
            ))),
            Ok(Err(_)) => Err(ToolError::new("the client's stream is closed")),
            Err(_) => Err(ToolError::new(format!(
                "the client did not answer `{method}` in time"
            ))),
        }
    }
}

/// Server-to-client requests awaiting the client's answer (handshake era), by request id,
/// each with the session (or caller) it was sent to: an answer counts only from there.
#[derive(Debug, Default)]
pub(crate) struct PendingRequests {
    waiting: Mutex<HashMap<String, Waiting>>,
}

type Waiting = (String, oneshot::Sender<Result<Value, Value>>);

/// Answers an abandoned request never finds a waiter.
struct PendingGuard<'a> {
    pending: &'a PendingRequests,
    id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.lock().remove(self.id);
    }
}

impl PendingRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh, unguessable request id and the receiver of its answer from `scope`.
    fn register(&self, scope: &str) -> (String, oneshot::Receiver<Result<Value, Value>>) {
        let id = format!("mcp-auth-{}", crate::random::token(12));
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id.clone(), (scope.to_owned(), tx));
        (id, rx)
    }

    /// Delivers the client's answer; `false` if no call of `scope` waits for `id`.
    pub(crate) fn answer(&self, scope: &str, id: &str, answer: Result<Value, Value>) -> bool {
        let mut waiting = self.lock();
        if waiting.get(id).is_none_or(|(owner, _)| owner != scope) {
            return false;
        }
        match waiting.remove(id) {
            Some((_, tx)) => tx.send(answer).is_ok(),
            None => false,
        }
    }
}
