//! A task's run in the background: its tool's future under the task's time to live and
//! cancellation, what the `on_call` hook hears of it, and its outcome recorded in the task.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{AbortRegistration, Abortable};
use serde_json::{Map, Value, json};

use super::events::{CallEvent, CallKind, CallOutcome, Observer};
use super::tasks::Tasks;
use crate::auth::AuthInfo;
use crate::authorize::Passed;
use crate::error::ToolError;
use crate::input::{InputRequest, question_digest};
use crate::jsonrpc::code;
use crate::observe::Hub;
use crate::result::CallToolResult;
use crate::task::{Pending, Record, Status, StoreError, TaskStore};
use crate::tool::BoxFuture;

/// How often a run checks whether its task was cancelled through another replica.
const CANCEL_POLL: Duration = Duration::from_secs(1);

/// One run of a task's tool, ready to be spawned.
pub(super) struct Run {
    /// The tool's future, polled once already for a task's first run.
    pub(super) future: BoxFuture,
    /// Where `tasks/cancel` in this process stops it.
    pub(super) registration: AbortRegistration,
    /// The scopes its checks pass, recorded with its outcome.
    pub(super) passed: Passed,
    /// The `on_call` hook, if the server has one.
    pub(super) heard: Option<Heard>,
    /// When the token the run acts under expires: the run is stopped then (`None`: never,
    /// for a token without `exp` or a server that lets tasks outlive tokens).
    pub(super) token_expires: Option<tokio::time::Instant>,
}

/// What the `on_call` hook and the audit sink hear of a task's run: the call as that run
/// makes it, under the token that started it (the creating call's, or the `tasks/update`'s
/// that resumed it).
pub(super) struct Heard {
    pub(super) observer: Option<Observer>,
    /// The server's hub, when it has an audit sink: the request that started the run was
    /// answered (`resultType: task`) before the run ended, so its event could not say how.
    pub(super) hub: Option<Arc<Hub>>,
    pub(super) name: &'static str,
    pub(super) scopes: &'static [&'static str],
    pub(super) auth: Arc<AuthInfo>,
    pub(super) arguments: Option<Map<String, Value>>,
}

impl Heard {
    /// Tells the `on_call` hook of `outcome`.
    pub(super) fn report(&self, outcome: CallOutcome) {
        if let Some(observer) = &self.observer {
            observer(&CallEvent {
                kind: CallKind::Tool,
                name: self.name,
                uri: None,
                auth: &self.auth,
                arguments: self.arguments.as_ref(),
                outcome,
            });
        }
    }

    /// The run ended with `outcome`: the hook hears of it, and the audit sink records it.
    fn ran(&self, outcome: CallOutcome) {
        self.report(outcome);
        if let Some(hub) = &self.hub {
            hub.task_run(
                self.name,
                self.scopes,
                &self.auth,
                outcome,
                self.arguments.as_ref(),
            );
        }
    }
}

/// Runs a task's tool to its end in the background, then records the outcome. The run stops
/// early when the task is cancelled (here, through the abort handle; on another replica,
/// seen in the store) or expires.
pub(super) fn spawn_run(tasks: Tasks, id: String, run: Run) {
    let Run {
        future,
        registration,
        passed,
        heard,
        token_expires,
    } = run;
    tokio::spawn(async move {
        let ttl = tasks.limits.ttl;
        let run = Abortable::new(AssertUnwindSafe(future).catch_unwind(), registration);
        let watch = watch_cancel(&tasks.store, &id);
        let token_expiry = async {
            match token_expires {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(ttl, run) => match outcome {
                Ok(Ok(Ok(outcome))) => Some(Ran::Returned(outcome)),
                Ok(Ok(Err(_panic))) => Some(Ran::Panicked),
                Ok(Err(_aborted)) => None,
                Err(_elapsed) => Some(Ran::Expired),
            },
            () = watch => None,
            // The caller's authority ends with its token: so does the work done with it.
            () = token_expiry => Some(Ran::TokenExpired),
        };
        tasks.release(&id);
        if let Some(heard) = &heard {
            heard.ran(
                outcome
                    .as_ref()
                    .map_or(CallOutcome::Cancelled, Ran::outcome),
            );
        }
        if let Some(outcome) = outcome {
            settle(&tasks, &id, outcome, &passed).await;
        }
    });
}

/// Resolves once the task is over or gone in the store (cancelled through another replica).
async fn watch_cancel(store: &TaskStore, id: &str) {
    loop {
        tokio::time::sleep(CANCEL_POLL).await;
        match store.get(id).await {
            Ok(Some(record)) if !record.status.is_terminal() => {}
            Ok(_) => return,
            // Unreachable store: keep running; the outcome is recorded if it comes back.
            Err(_) => {}
        }
    }
}

/// How a task's run ended.
pub(super) enum Ran {
    Returned(Result<CallToolResult, ToolError>),
    Panicked,
    Expired,
    /// The token the run acted under expired before it finished.
    TokenExpired,
    /// The run could not start (no place for it).
    Refused(StoreError),
}

impl Ran {
    /// What the `on_call` hook hears of it: what it would hear of a call that ended so.
    fn outcome(&self) -> CallOutcome {
        match self {
            Ran::Returned(Ok(result)) if result.is_error => CallOutcome::Failed,
            Ran::Returned(Ok(_)) => CallOutcome::Completed,
            Ran::Returned(Err(err)) => match err {
                ToolError::InputRequired(_) => CallOutcome::InputRequired,
                ToolError::InsufficientScope { .. } => CallOutcome::Forbidden,
                ToolError::InvalidInputResponse(_) => CallOutcome::InvalidRequestState,
                ToolError::MissingClientCapability(_) => CallOutcome::MissingClientCapability,
                ToolError::InvalidArguments(_) => CallOutcome::InvalidArguments,
                _ => CallOutcome::Failed,
            },
            Ran::Expired | Ran::TokenExpired => CallOutcome::TimedOut,
            Ran::Panicked | Ran::Refused(_) => CallOutcome::Failed,
        }
    }
}

/// Records a run's outcome, and the scopes its checks passed (reading the outcome needs
/// them), unless the task was cancelled meanwhile.
pub(super) async fn settle(tasks: &Tasks, id: &str, outcome: Ran, passed: &Passed) {
    let limits = tasks.limits;
    let change = Change::of(outcome, limits.max_result_bytes);
    let passed = passed.scopes();
    let settled = tasks
        .store
        .update(id, |record| {
            if record.status != Status::Working {
                return false;
            }
            record.scopes.extend(passed.iter().cloned());
            change.apply(record);
            true
        })
        .await;
    if let Err(err) = settled {
        tracing::error!(error = %err, "a task's outcome could not be recorded");
    }
}

/// What a run's outcome does to its task.
enum Change {
    Completed(Value),
    Failed { error: Value, message: String },
    Input(InputRequest),
}

impl Change {
    fn of(outcome: Ran, max_result_bytes: usize) -> Change {
        let result = match outcome {
            Ran::Panicked => {
                tracing::error!("a task's tool panicked");
                return Change::failed(code::INTERNAL_ERROR, "internal error: the tool failed");
            }
            Ran::Refused(err) => {
                return Change::failed(
                    code::INTERNAL_ERROR,
                    &format!("the task could not run on: {err}"),
                );
            }
            Ran::TokenExpired => {
                return Change::failed(
                    code::INTERNAL_ERROR,
                    "the caller's token expired before the tool finished; call again with a \
                     fresh token",
                );
            }
            Ran::Expired => {
                return Change::failed(
                    code::INTERNAL_ERROR,
                    "the tool did not finish within the task's time to live",
                );
            }
            Ran::Returned(Ok(result)) => result,
            Ran::Returned(Err(ToolError::InputRequired(input))) => return Change::Input(*input),
            Ran::Returned(Err(ToolError::InvalidInputResponse(message))) => {
                return Change::failed(code::INVALID_PARAMS, &format!("invalid params: {message}"));
            }
            Ran::Returned(Err(ToolError::MissingClientCapability(capability))) => {
                return Change::Failed {
                    error: json!({
                        "code": code::MISSING_CLIENT_CAPABILITY,
                        "message": format!("the tool needs the client capability `{capability}`"),
                        "data": { "requiredCapabilities": { capability: {} } },
                    }),
                    message: format!("the client lacks the capability `{capability}`"),
                };
            }
            // The `403` of a call, as the task's error: the client steps up and calls again.
            Ran::Returned(Err(ToolError::InsufficientScope { required, missing })) => {
                return Change::Failed {
                    error: json!({
                        "code": code::INSUFFICIENT_SCOPE,
                        "message": "insufficient scope",
                        "data": { "requiredScopes": required, "missingScopes": missing },
                    }),
                    message: format!(
                        "insufficient scope: the call needs `{}`; call again with a token that has it",
                        missing.join(" ")
                    ),
                };
            }
            Ran::Returned(Err(ToolError::Internal(cause))) => {
                tracing::error!(error = %cause, "a task's tool failed");
                CallToolResult::error("internal error")
            }
            Ran::Returned(Err(err)) => CallToolResult::error(err.to_string()),
        };
        let value = serde_json::to_value(&result).unwrap_or_default();
        // The serialized size, counted without keeping a second copy.
        let mut counter = Counter(0);
        let _ = serde_json::to_writer(&mut counter, &value);
        if counter.0 > max_result_bytes {
            tracing::warn!(
                bytes = counter.0,
                max = max_result_bytes,
                "a task's result is over the size kept"
            );
            return Change::failed(
                code::INTERNAL_ERROR,
                &format!(
                    "the tool's result ({} bytes) is larger than the {max_result_bytes} bytes a \
                     task keeps",
                    counter.0
                ),
            );
        }
        Change::Completed(value)
    }

    fn failed(code: i32, message: &str) -> Change {
        Change::Failed {
            error: json!({ "code": code, "message": message }),
            message: message.to_owned(),
        }
    }

    fn apply(&self, record: &mut Record) {
        match self {
            Change::Completed(result) => {
                record.status = Status::Completed;
                record.result = Some(result.clone());
            }
            Change::Failed { error, message } => {
                record.status = Status::Failed;
                record.status_message = Some(message.clone());
                record.error = Some(error.clone());
            }
            Change::Input(input) => {
                record.pending.clear();
                for question in &input.questions {
                    // The author's key, unless this task surfaced it before: then suffixed,
                    // as a key names one request over a task's life (SEP-2663).
                    let mut key = question.key.clone();
                    let mut n = 0;
                    while !record.issued.insert(key.clone()) {
                        n += 1;
                        key = format!("{}.{n}", question.key);
                    }
                    let method = question.kind.method();
                    record.pending.insert(
                        key,
                        Pending {
                            run_key: question.key.clone(),
                            question: question_digest(method, &question.params),
                            request: json!({ "method": method, "params": question.params }),
                        },
                    );
                }
                record.answers = input.answered.clone();
                record.status = Status::InputRequired;
                record.status_message = Some("waiting for the client's input".into());
            }
        }
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
