//! Operability: what an operator sees of a running server. Three outputs, each off until
//! configured, each fed by the same points on a request's path:
//!
//! - **traces**: one `tracing` span per MCP request, named and attributed after the
//!   OpenTelemetry semantic conventions for MCP, with child spans for token verification,
//!   the policy decision and the tool body; exported by any `tracing` subscriber, and through
//!   OTLP with the `otlp` feature ([`otlp`]);
//! - **metrics**: [`Metrics`], the conventions' `mcp.server.operation.duration` and
//!   `mcp.server.session.duration` and ours (authentication and authorization decisions,
//!   token cache, key-set fetches, sessions, streams, rate limits), served as Prometheus text
//!   (feature `prometheus`) and through OTLP (feature `otlp`);
//! - **audit**: an [`AuditSink`](audit::AuditSink) told of every request, refusals included,
//!   with [`JsonLinesSink`](audit::JsonLinesSink) as the file sink.
//!
//! None of them ever holds a token, an authorization code or a secret.

pub mod audit;
mod hub;
pub(crate) mod metrics;
mod reason;

pub(crate) use hub::{Early, Ending, ErrorType, Hub, Named, Operation, OperationTarget, trace_id};
#[cfg(feature = "prometheus")]
pub use metrics::serve_metrics;
pub(crate) use metrics::{CacheKind, Count, Fetches, Gauge, Limit, Lookups, Transport};
pub use metrics::{Metrics, MetricsBuilder};
pub use reason::RefusalReason;
