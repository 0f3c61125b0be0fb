//! [`Metrics`]: the server's instruments, exported as Prometheus text and through OTLP.
//!
//! SKELETON: to be written (issue 19).

/// The server's metrics. Give it to
/// [`McpServerBuilder::metrics`](crate::McpServerBuilder::metrics); it is cheap to clone,
/// and every clone records into the same instruments.
#[derive(Debug, Clone, Default)]
pub struct Metrics {}

impl Metrics {
    /// Metrics recorded for Prometheus (feature `prometheus`) and, with a meter, for OTLP.
    pub fn new() -> Self {
        Metrics {}
    }
}
