//! The instruments over an OpenTelemetry [`Meter`], in the conventions' names and units.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::pulled::{Limit, Snapshot, Sources};
use super::{Decision, OperationLabels, SessionEnd, labels};

/// The push instruments; the pulled ones live in the meter as callbacks.
pub(super) struct Instruments {
    operations: Histogram<f64>,
    sessions: Histogram<f64>,
    decisions: Counter<u64>,
}

impl Instruments {
    pub(super) fn new(meter: &Meter, sources: &Arc<Sources>) -> Instruments {
        let operations = meter
            .f64_histogram("mcp.server.operation.duration")
            .with_description("MCP request or notification duration as observed on the receiver from the time it was received until the result or ack is sent")
            .with_unit("s")
            .with_boundaries(super::OPERATION_BUCKETS.to_vec())
            .build();
        let sessions = meter
            .f64_histogram("mcp.server.session.duration")
            .with_description("The duration of the MCP session as observed on the MCP server")
            .with_unit("s")
            .with_boundaries(super::SESSION_BUCKETS.to_vec())
            .build();
        let decisions = meter
            .u64_counter("mcp_auth.decisions")
            .with_description(
                "Authentication and authorization decisions, by stage, outcome and refusal reason",
            )
            .build();
        observe_pulled(meter, sources);
        Instruments {
            operations,
            sessions,
            decisions,
        }
    }

    pub(super) fn operation(&self, seconds: f64, labels: &OperationLabels) {
        let mut attributes = Vec::with_capacity(8);
        attributes.push(KeyValue::new("mcp.method.name", labels.method));
        if let Some(tool) = &labels.tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_string()));
        }
        if let Some(prompt) = &labels.prompt {
            attributes.push(KeyValue::new("gen_ai.prompt.name", prompt.to_string()));
        }
        if let Some(operation) = labels.operation {
            attributes.push(KeyValue::new("gen_ai.operation.name", operation));
        }
        if let Some(version) = labels.protocol_version {
            attributes.push(KeyValue::new("mcp.protocol.version", version));
        }
        attributes.push(KeyValue::new("network.transport", labels.transport));
        if let Some(protocol) = labels.protocol {
            attributes.push(KeyValue::new("network.protocol.name", protocol));
        }
        if let Some(error) = &labels.error_type {
            attributes.push(KeyValue::new("error.type", error.clone()));
        }
        if let Some(code) = labels.rpc_status {
            // The conventions type `rpc.response.status_code` as a string.
            attributes.push(KeyValue::new("rpc.response.status_code", code.to_string()));
        }
        self.operations.record(seconds, &attributes);
    }

    pub(super) fn decision(&self, decision: Decision) {
        let (outcome, reason) = match decision {
            Decision::Authenticated | Decision::Authorized => ("allowed", ""),
            Decision::Refused(reason) => ("refused", reason.as_str()),
        };
        self.decisions.add(
            1,
            &[
                KeyValue::new("stage", labels::stage(decision)),
                KeyValue::new("outcome", outcome),
                KeyValue::new("reason", reason),
            ],
        );
    }

    pub(super) fn session_end(&self, end: &SessionEnd) {
        let mut attributes = vec![KeyValue::new("network.transport", end.transport)];
        if let Some(protocol) = end.protocol {
            attributes.push(KeyValue::new("network.protocol.name", protocol));
        }
        if let Some(version) = end.protocol_version {
            attributes.push(KeyValue::new("mcp.protocol.version", version));
        }
        if let Some(error) = &end.error_type {
            attributes.push(KeyValue::new("error.type", error.clone()));
        }
        self.sessions.record(end.seconds, &attributes);
    }
}

/// Registers the pulled instruments as observable ones; the meter keeps their callbacks,
/// which read `sources` when its reader collects.
fn observe_pulled(meter: &Meter, sources: &Arc<Sources>) {
    let read = sources.clone();
    meter
        .u64_observable_counter("mcp_auth.token_cache.lookups")
        .with_description("Lookups of the verified-token and introspection caches")
        .with_callback(move |observer| {
            let lookups = read.snapshot().lookups;
            for (cache, row) in ["jwt", "introspection"].into_iter().zip(lookups) {
                for (result, value) in ["hit", "miss"].into_iter().zip(row) {
                    observer.observe(
                        value,
                        &[
                            KeyValue::new("cache", cache),
                            KeyValue::new("result", result),
                        ],
                    );
                }
            }
        })
        .build();
    let read = sources.clone();
    meter
        .u64_observable_counter("mcp_auth.jwks.fetches")
        .with_description("Fetches of the issuer's key set, by result")
        .with_callback(move |observer| {
            let fetches = read.snapshot().fetches;
            observer.observe(fetches[0], &[KeyValue::new("result", "ok")]);
            observer.observe(fetches[1], &[KeyValue::new("result", "error")]);
        })
        .build();
    let read = sources.clone();
    meter
        .u64_observable_counter("mcp_auth.rate_limit.rejections")
        .with_description("Requests refused by a limit")
        .with_callback(move |observer| {
            let rejections = read.snapshot().rejections;
            for (limit, value) in Limit::ALL.iter().zip(rejections) {
                observer.observe(value, &[KeyValue::new("limit", limit.as_str())]);
            }
        })
        .build();
    open(
        meter,
        sources,
        "mcp_auth.sessions.open",
        "Handshake-era sessions this process holds open",
        |snapshot| snapshot.sessions,
    );
    open(
        meter,
        sources,
        "mcp_auth.streams.open",
        "Long-lived streams this process holds open",
        |snapshot| snapshot.streams,
    );
}

/// An up-down counter of things open now (Prometheus: a gauge), read from `sources`.
fn open(
    meter: &Meter,
    sources: &Arc<Sources>,
    name: &'static str,
    description: &'static str,
    read: fn(&Snapshot) -> u64,
) {
    let sources = sources.clone();
    meter
        .i64_observable_up_down_counter(name)
        .with_description(description)
        .with_callback(move |observer| {
            let value = read(&sources.snapshot());
            observer.observe(i64::try_from(value).unwrap_or(i64::MAX), &[]);
        })
        .build();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use super::super::{Decision, Metrics, OperationRecord, RefusalReason, Transport};
    use crate::observe::CacheKind;

    /// The attributes of a data point, as `key=value` sorted.
    fn attributes<'a>(kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> Vec<String> {
        let mut kvs: Vec<String> = kvs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        kvs.sort();
        kvs
    }

    fn find<'a>(exported: &'a [ResourceMetrics], name: &str) -> &'a AggregatedMetrics {
        exported
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .filter(|metric| metric.name() == name)
            .last()
            .unwrap_or_else(|| panic!("{name} was not exported"))
            .data()
    }

    #[test]
    fn the_meter_gets_the_conventions_names_units_and_attributes() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let metrics = Metrics::builder().meter(provider.meter("mcp-auth")).build();
        metrics.record_operation(&OperationRecord {
            method: "tools/call",
            tool: Some("void_invoice"),
            prompt: None,
            protocol_version: Some("2025-11-25"),
            transport: Transport::Tcp,
            error_type: Some("tool_error"),
            rpc_status: None,
            duration: Duration::from_millis(7),
        });
        metrics.record_decision(Decision::Refused(RefusalReason::Expired));
        let lookups = std::sync::Arc::default();
        metrics.attach_cache(CacheKind::Jwt, &lookups);
        lookups.record(true);
        lookups.record(true);
        lookups.record(false);
        provider.force_flush().unwrap();
        let exported = exporter.get_finished_metrics().unwrap();

        let AggregatedMetrics::F64(MetricData::Histogram(operations)) =
            find(&exported, "mcp.server.operation.duration")
        else {
            panic!("mcp.server.operation.duration is not an f64 histogram");
        };
        let point = operations.data_points().next().unwrap();
        assert_eq!(point.count(), 1);
        assert_eq!(
            attributes(point.attributes()),
            [
                "error.type=tool_error",
                "gen_ai.operation.name=execute_tool",
                "gen_ai.tool.name=void_invoice",
                "mcp.method.name=tools/call",
                "mcp.protocol.version=2025-11-25",
                "network.protocol.name=http",
                "network.transport=tcp",
            ]
        );
        assert_eq!(
            point.bounds().collect::<Vec<_>>(),
            super::super::OPERATION_BUCKETS
        );

        let AggregatedMetrics::U64(MetricData::Sum(decisions)) =
            find(&exported, "mcp_auth.decisions")
        else {
            panic!("mcp_auth.decisions is not a u64 sum");
        };
        let point = decisions.data_points().next().unwrap();
        assert_eq!(point.value(), 1);
        assert_eq!(
            attributes(point.attributes()),
            ["outcome=refused", "reason=expired", "stage=authentication"]
        );

        let AggregatedMetrics::U64(MetricData::Sum(lookups)) =
            find(&exported, "mcp_auth.token_cache.lookups")
        else {
            panic!("mcp_auth.token_cache.lookups is not a u64 sum");
        };
        let jwt: Vec<(Vec<String>, u64)> = lookups
            .data_points()
            .map(|point| (attributes(point.attributes()), point.value()))
            .filter(|(attributes, _)| attributes[0] == "cache=jwt")
            .collect();
        assert_eq!(
            jwt.iter().map(|(_, value)| *value).sum::<u64>(),
            3,
            "{jwt:?}"
        );
        assert!(jwt.contains(&(vec!["cache=jwt".into(), "result=hit".into()], 2)));
        for name in [
            "mcp_auth.jwks.fetches",
            "mcp_auth.rate_limit.rejections",
            "mcp_auth.sessions.open",
            "mcp_auth.streams.open",
        ] {
            find(&exported, name);
        }
    }
}
