//! [`Metrics`]: the server's instruments, exported as Prometheus text (feature `prometheus`)
//! and through an OpenTelemetry meter (feature `opentelemetry`).
//!
//! | instrument | type | labels (Prometheus form) |
//! | --- | --- | --- |
//! | `mcp.server.operation.duration` [`mcp_server_operation_duration_seconds`] | histogram, s | `mcp_method_name`, `gen_ai_tool_name`, `gen_ai_prompt_name`, `gen_ai_operation_name`, `mcp_protocol_version`, `network_transport`, `network_protocol_name`, `error_type`, `rpc_response_status_code` |
//! | `mcp.server.session.duration` [`mcp_server_session_duration_seconds`] | histogram, s | `mcp_protocol_version`, `network_transport`, `network_protocol_name`, `error_type` |
//! | `mcp_auth.decisions` [`mcp_auth_decisions_total`] | counter | `stage`, `outcome`, `reason` |
//! | `mcp_auth.token_cache.lookups` [`mcp_auth_token_cache_lookups_total`] | counter | `cache`, `result` |
//! | `mcp_auth.jwks.fetches` [`mcp_auth_jwks_fetches_total`] | counter | `result` |
//! | `mcp_auth.sessions.open` [`mcp_auth_sessions_open`] | gauge | |
//! | `mcp_auth.streams.open` [`mcp_auth_streams_open`] | gauge | |
//! | `mcp_auth.rate_limit.rejections` [`mcp_auth_rate_limit_rejections_total`] | counter | `limit` |
//!
//! Every label value comes from a bounded set: methods the protocol defines (`_OTHER`
//! otherwise), protocol versions this crate speaks, tools and prompts the server has. No
//! label ever holds a token, a session id, a principal or an argument.

pub(crate) mod labels;
#[cfg(feature = "opentelemetry")]
mod otel;
#[cfg(feature = "prometheus")]
mod prometheus;
mod pulled;
#[cfg(feature = "prometheus")]
mod serve;

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::RefusalReason;

pub(crate) use pulled::{CacheKind, Count, Fetches, Gauge, Limit, Lookups};
#[cfg(feature = "prometheus")]
pub use serve::serve_metrics;

/// The upper bounds of the buckets of `mcp.server.operation.duration`, in seconds. The
/// conventions advise none; these run from 0.1 ms, where a server answering from memory
/// (`tools/list`, `ping`, a call behind a cached token) lands, to 300 s, for tools that call
/// slow systems, in steps of 2 to 3×, so that p50/p95/p99 stay readable at either end.
#[cfg(any(feature = "prometheus", feature = "opentelemetry"))]
pub(crate) const OPERATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The upper bounds of the buckets of `mcp.server.session.duration`, in seconds. The
/// conventions advise none; a session lasts from one exchange (a second) to a working day,
/// ended by its client or by the idle timeout.
#[cfg(any(feature = "prometheus", feature = "opentelemetry"))]
pub(crate) const SESSION_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0,
];

/// The server's metrics. Give it to
/// [`McpServerBuilder::metrics`](crate::McpServerBuilder::metrics); it is cheap to clone,
/// and every clone records into the same instruments.
///
/// With the `prometheus` feature, [`prometheus_text`](Metrics::prometheus_text) renders them
/// and [`router`](Metrics::router) or [`serve_metrics`] serves them; with the
/// `opentelemetry` feature, [`Metrics::builder`]`().meter(meter)` records them on an
/// OpenTelemetry meter as well, for OTLP.
///
/// ```
/// # #[cfg(feature = "prometheus")] {
/// use mcp_auth_runtime::observe::Metrics;
///
/// let metrics = Metrics::new();
/// let text = metrics.prometheus_text();
/// assert!(text.contains("# TYPE mcp_auth_sessions_open gauge"));
/// assert!(text.contains("mcp_auth_sessions_open 0\n"));
/// # }
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    #[cfg(feature = "prometheus")]
    prometheus: prometheus::Instruments,
    #[cfg(feature = "opentelemetry")]
    otel: Option<otel::Instruments>,
    sources: Arc<pulled::Sources>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics recorded for Prometheus (feature `prometheus`); see [`Metrics::builder`] to
    /// record them on an OpenTelemetry meter too.
    pub fn new() -> Self {
        Metrics::builder().build()
    }

    /// A builder, to add an OpenTelemetry meter.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder {
            #[cfg(feature = "opentelemetry")]
            meter: None,
        }
    }
}

/// Builds [`Metrics`]; from [`Metrics::builder`].
#[derive(Debug)]
#[must_use]
pub struct MetricsBuilder {
    #[cfg(feature = "opentelemetry")]
    meter: Option<opentelemetry::metrics::Meter>,
}

impl MetricsBuilder {
    /// Records every instrument on `meter` as well (feature `opentelemetry`): push
    /// instruments as they happen, pulled ones as observable instruments read when the
    /// meter's reader collects. The meter provider's exporter (OTLP) sends them.
    #[cfg(feature = "opentelemetry")]
    pub fn meter(mut self, meter: opentelemetry::metrics::Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The metrics.
    pub fn build(self) -> Metrics {
        let sources = Arc::new(pulled::Sources::default());
        Metrics {
            inner: Arc::new(Inner {
                #[cfg(feature = "prometheus")]
                prometheus: prometheus::Instruments::new(&sources),
                #[cfg(feature = "opentelemetry")]
                otel: self
                    .meter
                    .map(|meter| otel::Instruments::new(&meter, &sources)),
                sources,
            }),
        }
    }
}

/// How a request reached the server: the conventions' `network.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Streamable HTTP: `tcp`.
    Tcp,
    /// stdio: `pipe`.
    Pipe,
}

/// One JSON-RPC request answered, for `mcp.server.operation.duration`.
#[derive(Debug)]
pub(crate) struct OperationRecord<'a> {
    /// `mcp.method.name`.
    pub(crate) method: &'a str,
    /// `gen_ai.tool.name` for `tools/call` of a tool this server has.
    pub(crate) tool: Option<&'a str>,
    /// `gen_ai.prompt.name` for `prompts/get` of a prompt this server has.
    pub(crate) prompt: Option<&'a str>,
    /// `mcp.protocol.version`.
    pub(crate) protocol_version: Option<&'a str>,
    /// `network.transport`.
    pub(crate) transport: Transport,
    /// `error.type`: `tool_error`, the JSON-RPC error code, `cancelled`, `timeout`; `None`
    /// when the request succeeded.
    pub(crate) error_type: Option<&'a str>,
    /// `rpc.response.status_code`: the JSON-RPC error code, if any.
    pub(crate) rpc_status: Option<i32>,
    pub(crate) duration: Duration,
}

/// An authentication or authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A credential was accepted.
    Authenticated,
    /// A request reached a tool, resource or prompt with every scope it needs.
    Authorized,
    /// Refused, and why; the reason tells the stage (`InsufficientScope` is authorization).
    Refused(RefusalReason),
}

impl Metrics {
    /// Records a request's duration (`mcp.server.operation.duration`).
    pub(crate) fn record_operation(&self, record: &OperationRecord<'_>) {
        if !self.records() {
            return;
        }
        let seconds = record.duration.as_secs_f64();
        let labels = OperationLabels::of(record);
        #[cfg(feature = "opentelemetry")]
        if let Some(otel) = &self.inner.otel {
            otel.operation(seconds, &labels);
        }
        #[cfg(feature = "prometheus")]
        self.inner.prometheus.operation(seconds, labels);
        #[cfg(not(feature = "prometheus"))]
        let _ = (seconds, labels);
    }

    /// Records an authentication or authorization decision.
    pub(crate) fn record_decision(&self, decision: Decision) {
        #[cfg(feature = "prometheus")]
        self.inner.prometheus.decision(decision);
        #[cfg(feature = "opentelemetry")]
        if let Some(otel) = &self.inner.otel {
            otel.decision(decision);
        }
        #[cfg(not(any(feature = "prometheus", feature = "opentelemetry")))]
        let _ = decision;
    }

    /// Records the end of a handshake-era session (`mcp.server.session.duration`).
    pub(crate) fn record_session_end(
        &self,
        duration: Duration,
        protocol_version: Option<&str>,
        error_type: Option<&str>,
    ) {
        if !self.records() {
            return;
        }
        let end = SessionEnd {
            seconds: duration.as_secs_f64(),
            protocol_version: labels::protocol_version(protocol_version),
            transport: "tcp",
            protocol: Some("http"),
            error_type: error_type.map(labels::error_type),
        };
        #[cfg(feature = "prometheus")]
        self.inner.prometheus.session_end(&end);
        #[cfg(feature = "opentelemetry")]
        if let Some(otel) = &self.inner.otel {
            otel.session_end(&end);
        }
        #[cfg(not(feature = "prometheus"))]
        let _ = end;
    }

    /// Whether anything reads what is recorded: the Prometheus registry, or a meter. Without
    /// either, recording computes no labels.
    fn records(&self) -> bool {
        #[cfg(feature = "opentelemetry")]
        let meter = self.inner.otel.is_some();
        #[cfg(not(feature = "opentelemetry"))]
        let meter = false;
        cfg!(feature = "prometheus") || meter
    }

    /// Counts the lookups of a token cache from now on.
    pub(crate) fn attach_cache(&self, kind: CacheKind, lookups: &Arc<Lookups>) {
        self.inner.sources.cache(kind, lookups);
    }

    /// Counts the key-set fetches of a verifier from now on.
    pub(crate) fn attach_fetches(&self, fetches: &Arc<Fetches>) {
        self.inner.sources.fetches(fetches);
    }

    /// Counts the rejections of a limit from now on.
    pub(crate) fn attach_rejections(&self, limit: Limit, count: &Arc<Count>) {
        self.inner.sources.rejections(limit, count);
    }

    /// Adds a store's open sessions to `mcp_auth.sessions.open` while it lives.
    pub(crate) fn attach_sessions(&self, gauge: Weak<dyn Gauge>) {
        self.inner.sources.sessions(gauge);
    }

    /// Adds a server's open streams to `mcp_auth.streams.open` while it lives.
    pub(crate) fn attach_streams(&self, gauge: Weak<dyn Gauge>) {
        self.inner.sources.streams(gauge);
    }
}

/// A request's labels, bounded: computed once per record for every exporter.
#[cfg_attr(
    not(any(feature = "prometheus", feature = "opentelemetry")),
    allow(dead_code, reason = "read by the exporters, and no exporter is built")
)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct OperationLabels {
    method: &'static str,
    tool: Option<Box<str>>,
    prompt: Option<Box<str>>,
    /// `gen_ai.operation.name`: `execute_tool` for a tool call, unset otherwise.
    operation: Option<&'static str>,
    protocol_version: Option<&'static str>,
    transport: &'static str,
    /// `network.protocol.name`: `http` over Streamable HTTP, unset on stdio.
    protocol: Option<&'static str>,
    error_type: Option<std::borrow::Cow<'static, str>>,
    rpc_status: Option<i32>,
}

impl OperationLabels {
    fn of(record: &OperationRecord<'_>) -> OperationLabels {
        let method = labels::method(record.method);
        OperationLabels {
            method,
            tool: record.tool.map(Box::from),
            prompt: record.prompt.map(Box::from),
            operation: (method == "tools/call").then_some("execute_tool"),
            protocol_version: labels::protocol_version(record.protocol_version),
            transport: labels::transport(record.transport),
            protocol: labels::protocol(record.transport),
            error_type: record.error_type.map(labels::error_type),
            rpc_status: record.rpc_status,
        }
    }
}

/// A session's end, its labels bounded.
#[cfg_attr(
    not(any(feature = "prometheus", feature = "opentelemetry")),
    allow(dead_code, reason = "read by the exporters, and no exporter is built")
)]
#[derive(Debug)]
struct SessionEnd {
    seconds: f64,
    protocol_version: Option<&'static str>,
    transport: &'static str,
    protocol: Option<&'static str>,
    error_type: Option<std::borrow::Cow<'static, str>>,
}

#[cfg(all(test, feature = "prometheus"))]
mod tests {
    use super::*;

    fn call<'a>(tool: &'a str, error_type: Option<&'a str>, millis: u64) -> OperationRecord<'a> {
        OperationRecord {
            method: "tools/call",
            tool: Some(tool),
            prompt: None,
            protocol_version: Some("2026-07-28"),
            transport: Transport::Tcp,
            error_type,
            rpc_status: None,
            duration: Duration::from_millis(millis),
        }
    }

    #[test]
    fn operations_are_counted_by_method_tool_and_error() {
        let metrics = Metrics::new();
        metrics.record_operation(&call("void_invoice", None, 3));
        metrics.record_operation(&call("void_invoice", None, 40));
        metrics.record_operation(&call("void_invoice", Some("tool_error"), 1));
        metrics.record_operation(&OperationRecord {
            method: "made/up",
            tool: None,
            prompt: None,
            protocol_version: Some("1999-01-01"),
            transport: Transport::Pipe,
            error_type: Some("-32601"),
            rpc_status: Some(-32601),
            duration: Duration::from_micros(100),
        });
        let text = metrics.prometheus_text();
        let ok = r#"mcp_method_name="tools/call",gen_ai_tool_name="void_invoice",gen_ai_operation_name="execute_tool",mcp_protocol_version="2026-07-28",network_transport="tcp",network_protocol_name="http""#;
        assert!(
            text.contains(&format!(
                "mcp_server_operation_duration_seconds_count{{{ok}}} 2\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "mcp_server_operation_duration_seconds_bucket{{{ok},le=\"0.005\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "mcp_server_operation_duration_seconds_bucket{{{ok},le=\"0.05\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "mcp_server_operation_duration_seconds_count{{{ok},error_type=\"tool_error\"}} 1\n"
        )));
        // An unknown method and version do not become label values.
        assert!(text.contains(
            "mcp_server_operation_duration_seconds_count{mcp_method_name=\"_OTHER\",network_transport=\"pipe\",error_type=\"-32601\",rpc_response_status_code=\"-32601\"} 1\n"
        ), "{text}");
        assert!(!text.contains("made/up") && !text.contains("1999-01-01"));
    }

    #[test]
    fn decisions_are_counted_by_stage_outcome_and_reason() {
        let metrics = Metrics::new();
        metrics.record_decision(Decision::Authenticated);
        metrics.record_decision(Decision::Authenticated);
        metrics.record_decision(Decision::Authorized);
        metrics.record_decision(Decision::Refused(RefusalReason::Expired));
        metrics.record_decision(Decision::Refused(RefusalReason::InsufficientScope));
        metrics.record_decision(Decision::Refused(RefusalReason::InsufficientScope));
        let text = metrics.prometheus_text();
        for line in [
            "mcp_auth_decisions_total{stage=\"authentication\",outcome=\"allowed\",reason=\"\"} 2\n",
            "mcp_auth_decisions_total{stage=\"authorization\",outcome=\"allowed\",reason=\"\"} 1\n",
            "mcp_auth_decisions_total{stage=\"authentication\",outcome=\"refused\",reason=\"expired\"} 1\n",
            "mcp_auth_decisions_total{stage=\"authorization\",outcome=\"refused\",reason=\"insufficient_scope\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn session_ends_are_counted_by_version() {
        let metrics = Metrics::new();
        metrics.record_session_end(Duration::from_secs(90), Some("2025-11-25"), None);
        let text = metrics.prometheus_text();
        let labels = r#"mcp_protocol_version="2025-11-25",network_transport="tcp",network_protocol_name="http""#;
        assert!(
            text.contains(&format!(
                "mcp_server_session_duration_seconds_bucket{{{labels},le=\"60\"}} 0\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "mcp_server_session_duration_seconds_bucket{{{labels},le=\"120\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "mcp_server_session_duration_seconds_sum{{{labels}}} 90.0\n"
        )));
    }
}
