//! What a running tool can say to the client while it works: progress, log messages, and
//! requests for input (elicitation, sampling).
//!
//! In the handshake era (2025-03-26 to 2025-11-25) these travel on the SSE stream of the
//! request being answered, and requests for input are JSON-RPC requests the client answers
//! with a POST. In the 2026-07-28 era notifications still travel on the request's stream, but
//! requests for input end the call with an `InputRequiredResult` and the client retries it
//! with the answers (multi round-trip requests): the tool runs again from the start, and each
//! `elicit`/`sample` call finds its answer by position, provided that it asks the very question
//! the answer was given to (see `jsonrpc::request_state`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use crate::error::ToolError;
use crate::input::{Answers, InputRequest, question_digest};

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
    Modern { answers: Answers },
}

/// The client capabilities that decide whether a tool may ask for input.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientSupport {
    pub(crate) elicitation: bool,
    pub(crate) sampling: bool,
}

impl ClientSupport {
    pub(crate) fn from_capabilities(capabilities: Option<&Value>) -> ClientSupport {
        let has = |name: &str| {
            capabilities
                .and_then(|c| c.get(name))
                .is_some_and(Value::is_object)
        };
        ClientSupport {
            elicitation: has("elicitation"),
            sampling: has("sampling"),
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
    /// How many requests for input this run made, which keys their answers.
    asked: AtomicU32,
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

    /// Asks the client for input: `elicitation/create` or `sampling/createMessage`.
    pub(crate) async fn ask(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<Value, ToolError> {
        let supported = match method {
            "elicitation/create" => self.support.elicitation,
            _ => self.support.sampling,
        };
        if !supported {
            return Err(ToolError::MissingClientCapability(
                if method == "elicitation/create" {
                    "elicitation"
                } else {
                    "sampling"
                },
            ));
        }
        let seq = self.asked.fetch_add(1, Ordering::Relaxed);
        match &self.channel {
            Channel::Modern { answers } => {
                let key = format!("{}-{seq}", method.split('/').next().unwrap_or("input"));
                let question = question_digest(method, &params);
                match answers.get(&key) {
                    Some(answer) if answer.question == question => Ok(answer.value.clone()),
                    // Unanswered, or answered when the question was another one (the run
                    // took another path): ask this question.
                    _ => {
                        let mut answered = answers.clone();
                        answered.remove(&key);
                        Err(ToolError::InputRequired(Box::new(InputRequest {
                            key,
                            method,
                            params,
                            answered,
                        })))
                    }
                }
            }
            Channel::Legacy { pending, scope } => {
                let Some(outbound) = &self.outbound else {
                    return Err(ToolError::new(format!(
                        "`{method}` needs a client that accepts `text/event-stream` responses"
                    )));
                };
                let (id, answer) = pending.register(scope);
                let _forget = PendingGuard { pending, id: &id };
                let request =
                    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
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
