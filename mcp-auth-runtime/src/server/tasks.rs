//! The builder's settings for tasks (the `io.modelcontextprotocol/tasks` extension), and
//! where the server keeps them.

use std::time::Duration;

use super::McpServerBuilder;
use super::builder::SharedSessions;
use crate::mcp::Tasks;
use crate::task::{MemoryTasks, TaskLimits, TaskStore};

impl McpServerBuilder {
    /// How long a task, and its result, is kept from its creation; one hour by default. The
    /// client sees it as `ttlMs`; after it `tasks/get` answers "task not found", and a tool
    /// still running is stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_auth_runtime::McpServer;
    ///
    /// let builder = McpServer::builder("reports", "1.0.0").task_ttl(Duration::from_secs(600));
    /// # let _ = builder;
    /// ```
    pub fn task_ttl(mut self, ttl: Duration) -> Self {
        self.tasks.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The largest result a task keeps, in bytes of JSON; 1 MiB by default. A tool whose
    /// result is larger ends its task `failed`, with an error that says so: the result is
    /// dropped, never stored.
    pub fn task_max_result_bytes(mut self, bytes: usize) -> Self {
        self.tasks.max_result_bytes = bytes;
        self
    }

    /// The polling interval tasks suggest (`pollIntervalMs`); one second by default.
    pub fn task_poll_interval(mut self, interval: Duration) -> Self {
        self.tasks.poll_interval = interval;
        self
    }

    /// The most live tasks kept, in this process or, with Redis, by all replicas together;
    /// also the most task runs this process holds at once. 10,000 by default. A task-capable
    /// call beyond either is refused with `503` until some expire or finish.
    pub fn max_tasks(mut self, max: usize) -> Self {
        self.tasks.max_tasks = max;
        self
    }

    /// Lets a task's run go on past the expiry of the token it acts under (the creating
    /// call's, or the `tasks/update`'s that resumed it), up to the task's time to live.
    ///
    /// By default a run is stopped when that token expires, and its task fails with an error
    /// that says so: the caller's authority ends with its token, and so does the work done
    /// with it (a revoked user's export does not run on for the task's hour). Opt in when
    /// tools take longer than your tokens live, and the access the token granted may outlast
    /// it; reading the result still needs a live token with the call's scopes.
    ///
    /// ```
    /// use mcp_auth_runtime::McpServer;
    ///
    /// let builder = McpServer::builder("exports", "1.0.0").tasks_outlive_tokens();
    /// # let _ = builder;
    /// ```
    pub fn tasks_outlive_tokens(mut self) -> Self {
        self.tasks.outlive_tokens = true;
        self
    }

    /// The most live (unexpired) tasks of one user, with or without Redis; 100 by default. A
    /// task-capable call beyond it is refused with `429` until one of the caller's tasks
    /// expires: one caller cannot fill the store for everyone. A user is counted by issuer,
    /// subject and tenant, whatever its OAuth client, so that registering clients (dynamic
    /// client registration) does not multiply the allowance.
    pub fn max_tasks_per_principal(mut self, max: usize) -> Self {
        self.tasks.max_per_principal = max;
        self
    }
}

/// Where tasks are kept: beside the sessions in Redis when there is one, so that any replica
/// serves a task another created; in this process otherwise.
pub(super) fn tasks(redis: Option<&SharedSessions>, limits: TaskLimits) -> Tasks {
    #[cfg(feature = "redis")]
    if let Some(redis) = redis {
        let store = crate::task::RedisTasks::new(
            redis.connection(),
            redis.prefix(),
            limits.max_tasks,
            limits.max_per_principal,
        );
        return Tasks::new(TaskStore::Redis(store), limits);
    }
    #[cfg(not(feature = "redis"))]
    if let Some(never) = redis {
        match *never {}
    }
    let memory = MemoryTasks::new(limits.max_tasks, limits.max_per_principal);
    Tasks::new(TaskStore::Memory(memory), limits)
}
