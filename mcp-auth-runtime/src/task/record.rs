//! One task as stored, and as the wire shows it (`CreateTaskResult`, `DetailedTask`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::iso8601;
use crate::auth::Principal;
use crate::input::Answers;

/// A task's status (SEP-2663 §Task Status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    /// Completed, failed or cancelled: nothing changes it any more.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

/// A request for input the task waits on, under the key the client answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The key the tool's run asked under (`elicitation-0`), which its answer is filed under.
    pub(crate) run_key: String,
    /// The question's digest, so that a run taking another path is asked again.
    pub(crate) question: String,
    /// `{"method": .., "params": ..}` as `inputRequests` shows it.
    pub(crate) request: Value,
}

/// One task. The owner is a digest of the creating principal's key: the store never holds a
/// subject or a token in clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) owner: String,
    /// Whose allowance of live tasks the task takes a place of: a digest of the owner
    /// without its OAuth client (see [`holder_of`]).
    pub(crate) holder: String,
    pub(crate) tool: String,
    /// The scopes calling the tool needed: its static scopes and every scope a check of its
    /// runs passed (the conditional ones whose `when` held, those its body required). Reading
    /// or driving the task needs them all.
    pub(crate) scopes: BTreeSet<String>,
    /// The call's arguments as the client wrote them, for the runs after a round of input.
    pub(crate) arguments: Option<RawArguments>,
    /// The client capabilities declared when it created the task: what the runs after a
    /// round of input may ask for.
    pub(crate) capabilities: Value,
    pub(crate) status: Status,
    pub(crate) status_message: Option<String>,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    pub(crate) ttl_ms: u64,
    pub(crate) poll_interval_ms: u64,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<Value>,
    /// Outstanding requests for input, by the key the client sees.
    pub(crate) pending: BTreeMap<String, Pending>,
    /// The answers gathered so far, by run key, as a retried 2026-07-28 call carries them.
    pub(crate) answers: Answers,
    /// Every key the task has shown the client: a key names one request over a task's life
    /// (SEP-2663), so a run that asks under a key used before gets it suffixed.
    pub(crate) issued: BTreeSet<String>,
    /// Bumped by every change: a change applies only to the version it was computed from.
    pub(crate) version: u64,
}

/// A call's `arguments` as the client wrote them, which a task keeps as written, not as a
/// `Value`: the first run read this text, and a run after a round of input must read the same.
/// A `Value` written out and read again is not always the value it was (serde_json's default
/// float parsing does not read its own output back exactly), so an amount confirmed in one
/// run could be another in the next. Stored as the JSON object it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct RawArguments(pub(crate) Box<serde_json::value::RawValue>);

impl PartialEq for RawArguments {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The owner digest of a principal: SHA-256 of its injective key, hex.
pub(crate) fn owner_of(principal: &Principal<'_>) -> String {
    Sha256::digest(principal.key().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of whom a principal's tasks are counted against: its issuer, subject and
/// tenant, without the OAuth client, so that a user who registers clients one after another
/// (dynamic client registration) has one allowance, not one per client. A principal without a
/// subject (a client acting for itself) is its client.
pub(crate) fn holder_of(principal: &Principal<'_>) -> String {
    let holder = Principal {
        client: principal
            .subject
            .is_none()
            .then_some(principal.client)
            .flatten(),
        ..*principal
    };
    owner_of(&holder)
}

impl Record {
    /// When the record is gone, in ms since the epoch.
    pub(crate) fn expires_ms(&self) -> u64 {
        self.created_ms.saturating_add(self.ttl_ms)
    }

    /// The members every task shape has.
    fn base(&self) -> Map<String, Value> {
        let mut task = Map::new();
        task.insert("taskId".into(), self.id.clone().into());
        task.insert(
            "status".into(),
            serde_json::to_value(self.status).unwrap_or(Value::Null),
        );
        if let Some(message) = &self.status_message {
            task.insert("statusMessage".into(), message.clone().into());
        }
        task.insert("createdAt".into(), iso8601(self.created_ms).into());
        task.insert("lastUpdatedAt".into(), iso8601(self.updated_ms).into());
        task.insert("ttlMs".into(), self.ttl_ms.into());
        task.insert("pollIntervalMs".into(), self.poll_interval_ms.into());
        task
    }

    /// The `CreateTaskResult`: the task, flat, `resultType: "task"`, without its payload.
    pub(crate) fn created(&self) -> Value {
        let mut task = self.base();
        task.insert("resultType".into(), "task".into());
        Value::Object(task)
    }

    /// The `DetailedTask` of `tasks/get`: the payload of its status inlined.
    pub(crate) fn detailed(&self) -> Value {
        let mut task = self.base();
        match self.status {
            Status::Completed => {
                task.insert("result".into(), self.result.clone().unwrap_or_default());
            }
            Status::Failed => {
                task.insert("error".into(), self.error.clone().unwrap_or_default());
            }
            Status::InputRequired => {
                let requests: Map<String, Value> = self
                    .pending
                    .iter()
                    .map(|(key, pending)| (key.clone(), pending.request.clone()))
                    .collect();
                task.insert("inputRequests".into(), Value::Object(requests));
            }
            Status::Working | Status::Cancelled => {}
        }
        Value::Object(task)
    }
}
