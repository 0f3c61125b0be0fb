//! The instruments over `prometheus-client`, and their text.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::pulled::{Limit, Snapshot, Sources};
use super::{Decision, Metrics, OperationLabels, SessionEnd, labels};

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and the families the request path records into.
pub(super) struct Instruments {
    registry: Registry,
    operations: Histograms<OperationLabels>,
    sessions: Histograms<SessionLabels>,
    decisions: Family<DecisionLabels, Counter>,
    /// The series of `Authenticated` and `Authorized`, which nearly every request records:
    /// held, so that recording them looks nothing up.
    allowed: [Counter; 2],
}

impl Instruments {
    pub(super) fn new(sources: &Arc<Sources>) -> Instruments {
        let mut registry = Registry::default();
        let operations: Histograms<OperationLabels> = Family::new_with_constructor(|| {
            Histogram::new(super::OPERATION_BUCKETS.iter().copied())
        });
        registry.register_with_unit(
            "mcp_server_operation_duration",
            "MCP request or notification duration as observed on the receiver from the time it was received until the result or ack is sent",
            Unit::Seconds,
            operations.clone(),
        );
        let sessions: Histograms<SessionLabels> =
            Family::new_with_constructor(|| Histogram::new(super::SESSION_BUCKETS.iter().copied()));
        registry.register_with_unit(
            "mcp_server_session_duration",
            "The duration of the MCP session as observed on the MCP server",
            Unit::Seconds,
            sessions.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "mcp_auth_decisions",
            "Authentication and authorization decisions, by stage, outcome and refusal reason",
            decisions.clone(),
        );
        registry.register_collector(Box::new(Pulled(sources.clone())));
        let allowed = [Decision::Authenticated, Decision::Authorized]
            .map(|decision| decisions.get_or_create_owned(&DecisionLabels::of(decision)));
        Instruments {
            registry,
            operations,
            sessions,
            decisions,
            allowed,
        }
    }

    pub(super) fn operation(&self, seconds: f64, labels: OperationLabels) {
        // `get` first: the common case finds the series under the read lock without
        // the write lock `get_or_create` may take.
        if let Some(histogram) = self.operations.get(&labels) {
            histogram.observe(seconds);
            return;
        }
        self.operations.get_or_create(&labels).observe(seconds);
    }

    pub(super) fn decision(&self, decision: Decision) {
        match decision {
            Decision::Authenticated => self.allowed[0].inc(),
            Decision::Authorized => self.allowed[1].inc(),
            Decision::Refused(_) => self
                .decisions
                .get_or_create(&DecisionLabels::of(decision))
                .inc(),
        };
    }

    pub(super) fn session_end(&self, end: &SessionEnd) {
        let labels = SessionLabels {
            protocol_version: end.protocol_version,
            transport: end.transport,
            protocol: end.protocol,
            error_type: end.error_type.clone(),
        };
        self.sessions.get_or_create(&labels).observe(end.seconds);
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format (version 0.0.4), as `GET /metrics` serves
    /// them: what [`router`](Metrics::router) and [`serve_metrics`](super::serve_metrics)
    /// answer (feature `prometheus`).
    pub fn prometheus_text(&self) -> String {
        let mut text = String::with_capacity(4096);
        // Writing into a `String` cannot fail, nor can the encoders of our own label sets.
        let _ = prometheus_client::encoding::prometheus_text::encode(
            &mut text,
            &self.inner.prometheus.registry,
        );
        text
    }
}

/// A label written only when it has a value, as the conventions leave an attribute unset.
fn label<V: prometheus_client::encoding::EncodeLabelValue>(
    encoder: &mut LabelSetEncoder<'_>,
    key: &'static str,
    value: Option<V>,
) -> Result<(), std::fmt::Error> {
    match value {
        Some(value) => (key, value).encode(encoder.encode_label()),
        None => Ok(()),
    }
}

impl EncodeLabelSet for OperationLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        label(encoder, "mcp_method_name", Some(self.method))?;
        label(encoder, "gen_ai_tool_name", self.tool.as_deref())?;
        label(encoder, "gen_ai_prompt_name", self.prompt.as_deref())?;
        label(encoder, "gen_ai_operation_name", self.operation)?;
        label(encoder, "mcp_protocol_version", self.protocol_version)?;
        label(encoder, "network_transport", Some(self.transport))?;
        label(encoder, "network_protocol_name", self.protocol)?;
        label(encoder, "error_type", self.error_type.as_deref())?;
        label(encoder, "rpc_response_status_code", self.rpc_status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionLabels {
    protocol_version: Option<&'static str>,
    transport: &'static str,
    protocol: Option<&'static str>,
    error_type: Option<Cow<'static, str>>,
}

impl EncodeLabelSet for SessionLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        label(encoder, "mcp_protocol_version", self.protocol_version)?;
        label(encoder, "network_transport", Some(self.transport))?;
        label(encoder, "network_protocol_name", self.protocol)?;
        label(encoder, "error_type", self.error_type.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionLabels {
    stage: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

impl DecisionLabels {
    fn of(decision: Decision) -> DecisionLabels {
        let (outcome, reason) = match decision {
            Decision::Authenticated | Decision::Authorized => ("allowed", ""),
            Decision::Refused(reason) => ("refused", reason.as_str()),
        };
        DecisionLabels {
            stage: labels::stage(decision),
            outcome,
            reason,
        }
    }
}

impl EncodeLabelSet for DecisionLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        label(encoder, "stage", Some(self.stage))?;
        label(encoder, "outcome", Some(self.outcome))?;
        label(encoder, "reason", Some(self.reason))
    }
}

/// The pulled instruments, read at each scrape.
#[derive(Debug)]
struct Pulled(Arc<Sources>);

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

impl Collector for Pulled {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Snapshot {
            lookups,
            fetches,
            rejections,
            sessions,
            streams,
        } = self.0.snapshot();
        let caches = ["jwt", "introspection"];
        let results = ["hit", "miss"];
        let mut lookup_series = Vec::with_capacity(4);
        for (cache, row) in caches.iter().zip(lookups) {
            for (result, value) in results.iter().zip(row) {
                lookup_series.push(([("cache", *cache), ("result", *result)], value));
            }
        }
        counters(
            &mut encoder,
            "mcp_auth_token_cache_lookups",
            "Lookups of the verified-token and introspection caches, by cache and result",
            &lookup_series,
        )?;
        counters(
            &mut encoder,
            "mcp_auth_jwks_fetches",
            "Fetches of the issuer's key set, by result",
            &[
                ([("result", "ok")], fetches[0]),
                ([("result", "error")], fetches[1]),
            ],
        )?;
        let rejection_series: Vec<_> = Limit::ALL
            .iter()
            .zip(rejections)
            .map(|(limit, value)| ([("limit", limit.as_str())], value))
            .collect();
        counters(
            &mut encoder,
            "mcp_auth_rate_limit_rejections",
            "Requests refused by a limit: request budget, tool rate limit, failed-credential limit",
            &rejection_series,
        )?;
        gauge(
            &mut encoder,
            "mcp_auth_sessions_open",
            "Handshake-era sessions this process holds open",
            sessions,
        )?;
        gauge(
            &mut encoder,
            "mcp_auth_streams_open",
            "Long-lived streams (subscriptions/listen) this process holds open",
            streams,
        )
    }
}

fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(L, u64)],
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(0u64);
    let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    for (labels, value) in series {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}
