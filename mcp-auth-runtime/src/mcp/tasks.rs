//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) on the protocol side: a
//! task-capable `tools/call` that has not finished by its first poll becomes a task, run in
//! the background; `tasks/get`, `tasks/update` and `tasks/cancel` serve it to its owner.
//!
//! The trust boundary is the task id: a client presents it with its token on every task
//! method. A task answers only the principal that created it (issuer, subject, client and
//! tenant); anybody else, like an id never issued, gets `-32602` "task not found", so that
//! ids of other callers cannot be told from wrong ones. Reading the task (`tasks/get`) and
//! driving it (`tasks/update`) also need the tool's scopes on the token presented then, as the
//! call itself did; cancelling one's own task needs no scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::{AbortHandle, AbortRegistration};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::events::CallOutcome;
use super::reply::{Reply, error, forbidden, respond};
use super::task_run::{Heard, Ran, Run, settle, spawn_run};
use super::{Dispatcher, Era, RequestCtx};
use crate::auth::AuthInfo;
use crate::authorize::Passed;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::input::Answer;
use crate::jsonrpc::{ErrorResponse, Request, code};
use crate::peer::{Channel, ClientSupport, Peer};
use crate::protocol::meta;
use crate::result::CallToolResult;
use crate::task::{
    EXTENSION, RawArguments, Record, Status, StoreError, TaskLimits, TaskStore, TaskSupport,
    holder_of, now_ms, owner_of,
};
use crate::tool::ToolDef;

/// The tasks of one server: where they are kept, their limits, and the runs of this process
/// that `tasks/cancel` can stop.
#[derive(Debug, Clone)]
pub(crate) struct Tasks {
    pub(crate) store: Arc<TaskStore>,
    pub(crate) limits: TaskLimits,
    running: Arc<Mutex<HashMap<String, AbortHandle>>>,
}

impl Tasks {
    pub(crate) fn new(store: TaskStore, limits: TaskLimits) -> Tasks {
        Tasks {
            store: Arc::new(store),
            limits,
            running: Arc::default(),
        }
    }

    /// A place for a run of task `id` in this process, where `tasks/cancel` finds it; `None`
    /// when a run of the task holds one already, `Full` when the process holds `max_tasks`
    /// runs, whatever the store holds (with Redis the store counts every replica's tasks, not
    /// this process's futures).
    fn place(&self, id: &str) -> Result<Option<AbortRegistration>, StoreError> {
        let mut running = lock(&self.running);
        if running.contains_key(id) {
            return Ok(None);
        }
        let max = self.limits.max_tasks;
        if running.len() >= max {
            tracing::warn!(max, "task refused: this process runs its maximum of tasks");
            return Err(StoreError::Full(max));
        }
        let (abort, registration) = AbortHandle::new_pair();
        running.insert(id.to_owned(), abort);
        Ok(Some(registration))
    }

    /// Gives back the place of task `id`'s run, over or never started.
    pub(super) fn release(&self, id: &str) {
        lock(&self.running).remove(id);
    }
}

/// Bytes of randomness in a task id: 192 bits, 32 base64url characters.
const ID_BYTES: usize = 24;

/// Whether the request's `_meta` declares the tasks extension among the client capabilities.
pub(super) fn declares_tasks(request: &Request) -> bool {
    request
        .meta()
        .and_then(|m| m.get(meta::CLIENT_CAPABILITIES))
        .and_then(|c| c.get("extensions"))
        .and_then(|e| e.get(EXTENSION))
        .is_some_and(Value::is_object)
}

/// The `-32021` error that names the tasks extension as the capability missing.
pub(super) fn missing_extension(request: &Request, status: StatusCode, message: &str) -> Reply {
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::MISSING_CLIENT_CAPABILITY,
        message,
    )
    .with_data(json!({ "requiredCapabilities": { "extensions": { EXTENSION: {} } } }))
    .to_bytes();
    Reply::Json(status, body)
}

/// What a task-capable call became.
pub(super) enum Started {
    /// It finished at its first poll: answered as any call.
    Finished(Result<CallToolResult, ToolError>),
    /// It runs in the background; this is the `CreateTaskResult` (or the error that prevented
    /// it).
    Task(Reply),
}

impl Dispatcher {
    /// Whether a tool of this server may run as a task: the server then declares the
    /// extension (2026-07-28 `server/discover` only; the handshake era has no extensions).
    pub(super) fn runs_tasks(&self) -> bool {
        self.registry
            .tools()
            .iter()
            .any(|tool| tool.task_support() != TaskSupport::Forbidden)
    }

    /// Whether this call runs as a task: `Ok(true)` for a task-capable tool called by a
    /// 2026-07-28 client that declares the extension, `Err` with the `-32021` refusal for a
    /// task-only tool called without it.
    pub(super) fn task_mode(
        &self,
        request: &Request,
        era: &Era,
        tool: &ToolDef,
        declared: bool,
    ) -> Result<bool, Reply> {
        let modern = matches!(era, Era::Modern { .. });
        match tool.task_support() {
            TaskSupport::Forbidden => Ok(false),
            _ if modern && declared => Ok(true),
            TaskSupport::Optional => Ok(false),
            TaskSupport::Required => Err(missing_extension(
                request,
                if modern {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                },
                "Missing required client capability: the tool runs only as a task",
            )),
        }
    }

    /// Polls the call once; if it has not finished, stores it as a task and runs the rest in
    /// the background. The record is stored before the `CreateTaskResult` is sent, so a
    /// `tasks/get` right after finds it on any replica.
    pub(super) async fn start_task(
        &self,
        request: &Request,
        tool: &ToolDef,
        call: CallContext,
        arguments: crate::tool::Arguments,
        capabilities: Value,
    ) -> Started {
        let auth = call.auth.clone();
        let passed = Passed::default();
        let call = call.recording(passed.clone());
        let mut run = (tool.handler())(call, arguments.clone());
        if let Some(outcome) = (&mut run).now_or_never() {
            return Started::Finished(outcome);
        }
        // The guard has run by now: the conditional scopes whose `when` held are recorded.
        let mut scopes = passed.scopes();
        scopes.extend(tool.scopes().iter().map(|s| (*s).to_owned()));
        let now = now_ms();
        let limits = self.tasks.limits;
        let id = crate::random::token(ID_BYTES);
        // Refused before it is stored: the run is dropped, and no record is left behind.
        let registration = match self.tasks.place(&id) {
            Ok(Some(registration)) => registration,
            Ok(None) => return Started::Task(unavailable(request, &StoreError::Collision)),
            Err(err) => return Started::Task(unavailable(request, &err)),
        };
        let record = Record {
            id,
            owner: owner_of(&auth.principal()),
            holder: holder_of(&auth.principal()),
            tool: tool.name().to_owned(),
            scopes,
            // As written: the runs after a round of input read what this one read.
            arguments: arguments.map(RawArguments),
            capabilities,
            status: Status::Working,
            status_message: None,
            created_ms: now,
            updated_ms: now,
            ttl_ms: limits.ttl.as_millis() as u64,
            poll_interval_ms: (limits.poll_interval.as_millis() as u64).max(1),
            result: None,
            error: None,
            pending: Default::default(),
            answers: Default::default(),
            issued: Default::default(),
            version: 0,
        };
        if let Err(err) = self.tasks.store.insert(&record).await {
            self.tasks.release(&record.id);
            return Started::Task(unavailable(request, &err));
        }
        tracing::info!(tool = tool.name(), subject = auth.subject(), "task created");
        let run = Run {
            future: run,
            registration,
            passed,
            heard: self.heard(tool, &auth, &record),
            token_expires: self.token_expires(&auth),
        };
        spawn_run(self.tasks.clone(), record.id.clone(), run);
        Started::Task(respond(request, &self.modern(record.created())))
    }

    /// `tasks/get`, `tasks/update` and `tasks/cancel`; `None` for another method.
    pub(super) async fn task_method(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        if !matches!(ctx.era, Era::Modern { .. }) {
            // The extension is not defined under the handshake era (SEP-2663).
            let message = format!("method not found: {}", request.method);
            return error(request, StatusCode::OK, code::METHOD_NOT_FOUND, message);
        }
        if !declares_tasks(request) {
            return missing_extension(
                request,
                StatusCode::BAD_REQUEST,
                "Missing required client capability: declare the tasks extension",
            );
        }
        let Some(id) = request
            .params
            .as_ref()
            .and_then(|p| p.get("taskId"))
            .and_then(Value::as_str)
        else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `taskId` must be a string",
            );
        };
        let record = match self.owned_task(id, &ctx.auth).await {
            Ok(Some(record)) => record,
            Ok(None) => return not_found(request),
            Err(err) => return unavailable(request, &err),
        };
        let tool = self.registry.get(&record.tool);
        if request.method != "tasks/cancel" {
            // Reading the result, or driving the run on, needs what calling the tool needed:
            // a token whose scopes were cut since gets the step-up challenge.
            let Some(tool) = tool else {
                return not_found(request);
            };
            if let Err(err) = self.may_see(tool, &record, &ctx.auth) {
                return forbidden(request, tool.name(), &ctx.auth, err);
            }
        }
        match request.method.as_str() {
            "tasks/get" => respond(request, &self.modern(record.detailed())),
            "tasks/cancel" => self.cancel_task(request, record).await,
            _ => match tool {
                Some(tool) => self.update_task(request, ctx, tool, record).await,
                None => not_found(request),
            },
        }
    }

    /// The live task `id` if `auth` is its owner: `None` for an unknown id, an expired task,
    /// and another principal's task alike.
    pub(super) async fn owned_task(
        &self,
        id: &str,
        auth: &AuthInfo,
    ) -> Result<Option<Record>, StoreError> {
        // Ids are ours: anything else is not looked up.
        if id.len() != ID_BYTES * 4 / 3
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let owner = owner_of(&auth.principal());
        Ok(self
            .tasks
            .store
            .get(id)
            .await?
            .filter(|record| record.owner == owner))
    }

    /// Whether `auth` may see what `record`, a task of `tool`, holds (its result, error or
    /// requests for input): only with the scopes calling the tool needed, as `tasks/get`,
    /// `tasks/update` and a `subscriptions/listen` following the task require.
    pub(super) fn may_see(
        &self,
        tool: &ToolDef,
        record: &Record,
        auth: &AuthInfo,
    ) -> Result<(), ToolError> {
        let mut required: Vec<&str> = tool.scopes().to_vec();
        for scope in &record.scopes {
            if !required.contains(&scope.as_str()) {
                required.push(scope);
            }
        }
        self.scopes.require(auth, &required)
    }

    /// `tasks/cancel`: a task not yet over becomes `cancelled`, and its run here stops; the
    /// same empty acknowledgement for a task already over (SEP-2663).
    async fn cancel_task(&self, request: &Request, record: Record) -> Reply {
        let cancelled = self
            .tasks
            .store
            .update(&record.id, |record| {
                if record.status.is_terminal() {
                    return false;
                }
                record.status = Status::Cancelled;
                record.status_message = Some("cancelled by the client".into());
                record.pending.clear();
                true
            })
            .await;
        if let Err(err) = cancelled {
            return unavailable(request, &err);
        }
        if let Some(run) = lock(&self.tasks.running).remove(&record.id) {
            run.abort();
        }
        respond(request, &self.modern(json!({})))
    }

    /// `tasks/update`: files the answers to outstanding requests for input (others are
    /// ignored, SEP-2663); once none is outstanding the tool runs again, here, with every
    /// answer so far, under the token of this request.
    async fn update_task(
        &self,
        request: &Request,
        ctx: &RequestCtx,
        tool: &ToolDef,
        record: Record,
    ) -> Reply {
        let responses = match request
            .params
            .as_ref()
            .and_then(|p| p.get("inputResponses"))
        {
            Some(Value::Object(responses)) => responses.clone(),
            _ => {
                return error(
                    request,
                    StatusCode::OK,
                    code::INVALID_PARAMS,
                    "invalid params: `inputResponses` must be an object",
                );
            }
        };
        // Answers that would resume the run make it a call again: it counts against the
        // caller's rate limit for the tool, checked before they are filed so that a refusal
        // (`429`) leaves the task waiting for them.
        let resumes = record.status == Status::InputRequired
            && record.pending.keys().all(|key| responses.contains_key(key));
        if resumes && let Err(limited) = self.rate_limit(request, tool, &ctx.auth).await {
            if let Some(heard) = self.heard(tool, &ctx.auth, &record) {
                heard.report(CallOutcome::RateLimited);
            }
            return limited;
        }
        // A run resumed here takes a place among this process's runs, taken before the
        // answers are filed so that a refusal leaves the task waiting for them too.
        let registration = if record.status == Status::InputRequired {
            match self.tasks.place(&record.id) {
                Ok(registration) => registration,
                Err(err) => return unavailable(request, &err),
            }
        } else {
            None
        };
        let mut resumed = false;
        let updated = self
            .tasks
            .store
            .update(&record.id, |record| {
                resumed = false;
                if record.status != Status::InputRequired {
                    return false;
                }
                let mut changed = false;
                for (key, value) in &responses {
                    if let Some(pending) = record.pending.remove(key) {
                        record.answers.insert(
                            pending.run_key,
                            Answer {
                                question: pending.question,
                                value: value.clone(),
                            },
                        );
                        changed = true;
                    }
                }
                if changed && record.pending.is_empty() {
                    record.status = Status::Working;
                    record.status_message = None;
                    resumed = true;
                }
                changed
            })
            .await;
        let record = match updated {
            Ok(Some(record)) if resumed => record,
            other => {
                if registration.is_some() {
                    self.tasks.release(&record.id);
                }
                return match other {
                    Ok(Some(_)) => respond(request, &self.modern(json!({}))),
                    Ok(None) => not_found(request),
                    Err(err) => unavailable(request, &err),
                };
            }
        };
        match registration {
            Some(registration) => self.resume(tool, ctx, &record, registration),
            // Resumed by answers that arrived with a record changed since it was read: its
            // place is taken now.
            None => match self.tasks.place(&record.id) {
                Ok(Some(registration)) => self.resume(tool, ctx, &record, registration),
                // A run of the task holds the place already: that run settles the task.
                Ok(None) => {}
                Err(err) => {
                    settle(
                        &self.tasks,
                        &record.id,
                        Ran::Refused(err),
                        &Passed::default(),
                    )
                    .await;
                }
            },
        }
        respond(request, &self.modern(json!({})))
    }

    /// Runs the tool of a task again with the answers gathered so far, as a retried
    /// 2026-07-28 call runs.
    fn resume(
        &self,
        tool: &ToolDef,
        ctx: &RequestCtx,
        record: &Record,
        registration: AbortRegistration,
    ) {
        let peer = Peer::new(
            None,
            None,
            None,
            ClientSupport::from_capabilities(Some(&record.capabilities)),
            Channel::Modern {
                answers: record.answers.clone(),
                // `tasks/update` answers only what the task asked.
                unsolicited: Map::new(),
            },
            self.call_timeout,
        );
        let passed = Passed::default();
        let call = self
            .call_context(tool, ctx.auth.clone(), ctx.subject.clone(), peer)
            .recording(passed.clone());
        let run = Run {
            future: (tool.handler())(call, record.arguments.clone().map(|raw| raw.0)),
            registration,
            passed,
            heard: self.heard(tool, &ctx.auth, record),
            token_expires: self.token_expires(&ctx.auth),
        };
        spawn_run(self.tasks.clone(), record.id.clone(), run);
    }

    /// When a run under `auth` is stopped for its token's expiry, unless the server lets tasks
    /// outlive tokens.
    fn token_expires(&self, auth: &AuthInfo) -> Option<tokio::time::Instant> {
        if self.tasks.limits.outlive_tokens {
            return None;
        }
        super::deadline_of(auth)
    }

    /// What the `on_call` hook will hear of a run of `tool` for `record` under `auth`.
    fn heard(&self, tool: &ToolDef, auth: &Arc<AuthInfo>, record: &Record) -> Option<Heard> {
        let hub = Some(self.hub.clone()).filter(|hub| hub.audit.is_some());
        if self.observer.is_none() && hub.is_none() {
            return None;
        }
        Some(Heard {
            observer: self.observer.clone(),
            hub,
            name: tool.name(),
            scopes: tool.scopes(),
            auth: auth.clone(),
            arguments: crate::jsonrpc::arguments_map(record.arguments.as_ref().map(|raw| &*raw.0)),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(request: &Request) -> Reply {
    error(
        request,
        StatusCode::OK,
        code::INVALID_PARAMS,
        "Failed to retrieve task: Task not found",
    )
}

pub(super) fn unavailable(request: &Request, err: &StoreError) -> Reply {
    if let StoreError::PrincipalFull(max) = err {
        tracing::info!(
            max,
            "task refused: the caller has its maximum of live tasks"
        );
        return error(
            request,
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            format!("too many live tasks: {max} at most; wait until one expires"),
        );
    }
    tracing::error!(error = %err, "task refused");
    error(
        request,
        StatusCode::SERVICE_UNAVAILABLE,
        code::INTERNAL_ERROR,
        "tasks are unavailable now; retry shortly",
    )
}
