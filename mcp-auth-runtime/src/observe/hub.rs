//! [`Hub`]: where the points on a request's path report, and what fans the reports out to
//! the metrics and the audit sink.
//!
//! SKELETON: to be written (issue 19).

use std::collections::HashSet;
use std::sync::Arc;

use super::Metrics;
use super::audit::AuditSink;

/// What a server reports to; built once by `McpServerBuilder::build`.
#[derive(Default)]
pub(crate) struct Hub {
    pub(crate) metrics: Option<Metrics>,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
    /// The tools whose arguments audit events carry.
    pub(crate) audit_arguments: HashSet<String>,
}

/// A request refused before the MCP handler read it (bearer layer, request budget, guard).
pub(crate) struct Early {}

/// One JSON-RPC request the dispatcher answered.
pub(crate) struct Operation {}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("metrics", &self.metrics)
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}
