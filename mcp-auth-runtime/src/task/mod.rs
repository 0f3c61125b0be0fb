//! Tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663): a `tools/call` answered
//! with a handle that the client polls, instead of a result.
//!
//! The records live in a [`TaskStore`](store::TaskStore): in this process, or beside the
//! sessions in Redis so that any replica serves a task another created. Each record names its
//! owner (a digest of the [`Principal`](crate::auth::Principal) that created it), and every
//! task method answers "not found" to anybody else; the protocol side is `mcp/tasks.rs`.

mod clock;
mod memory;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub(crate) use clock::{iso8601, now_ms};
pub(crate) use memory::MemoryTasks;
pub(crate) use record::{Pending, RawArguments, Record, Status, holder_of, owner_of};
#[cfg(feature = "redis")]
pub(crate) use redis::RedisTasks;
pub(crate) use store::{StoreError, TaskStore};

use std::time::Duration;

/// The `_meta` capability key, under `extensions`, that declares the tasks extension.
pub(crate) const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// Whether a tool may run as a task (`#[tool(task = optional)]` or `task = required`).
///
/// A task-capable tool called by a 2026-07-28 client that declares the
/// `io.modelcontextprotocol/tasks` extension runs in the background: the call is answered at
/// once with a task handle (`resultType: "task"`) when the tool has not finished by its first
/// poll, and the client polls `tasks/get` for the result. Without the extension an `Optional`
/// tool runs as any other, and a `Required` one is refused with `-32021` (missing required
/// client capability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSupport {
    /// Never a task: the call is answered with its result (the default).
    #[default]
    Forbidden,
    /// A task when the client declares the extension; a plain call otherwise.
    Optional,
    /// Only as a task: refused to clients that do not declare the extension.
    Required,
}

/// How long tasks are kept and how much of them: see
/// [`McpServerBuilder::task_ttl`](crate::McpServerBuilder::task_ttl) and its siblings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskLimits {
    /// From creation; the record and its result are gone after it.
    pub(crate) ttl: Duration,
    /// The most bytes of a result (serialized) a task keeps; a larger one fails the task.
    pub(crate) max_result_bytes: usize,
    /// What `pollIntervalMs` suggests.
    pub(crate) poll_interval: Duration,
    /// The most live tasks kept (in this process's memory, or in Redis across replicas), and
    /// the most task runs this process holds at once.
    pub(crate) max_tasks: usize,
    /// The most live tasks of one user (issuer, subject and tenant, whatever its client), so
    /// that one caller cannot take every place.
    pub(crate) max_per_principal: usize,
    /// Whether a run goes on past the expiry of the token it acts under (opt-in).
    pub(crate) outlive_tokens: bool,
}

impl TaskLimits {
    /// One hour: long enough for a human to answer a request for input, short enough that
    /// forgotten results do not pile up.
    pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60 * 60);
    /// 1 MiB, the default request body limit: a result larger than any request.
    pub(crate) const DEFAULT_MAX_RESULT_BYTES: usize = 1024 * 1024;
    /// One second.
    pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
    /// 10,000 tasks: with the default result cap a worst case of 10 GiB, so lower one or the
    /// other on small machines.
    pub(crate) const DEFAULT_MAX_TASKS: usize = 10_000;
    /// 100 live tasks per principal.
    pub(crate) const DEFAULT_MAX_PER_PRINCIPAL: usize = 100;
}

impl Default for TaskLimits {
    fn default() -> Self {
        TaskLimits {
            ttl: Self::DEFAULT_TTL,
            max_result_bytes: Self::DEFAULT_MAX_RESULT_BYTES,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            max_tasks: Self::DEFAULT_MAX_TASKS,
            max_per_principal: Self::DEFAULT_MAX_PER_PRINCIPAL,
            outlive_tokens: false,
        }
    }
}
