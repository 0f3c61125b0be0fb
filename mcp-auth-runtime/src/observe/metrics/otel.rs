//! The instruments over an OpenTelemetry [`Meter`], in the conventions' names and units.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::pulled::{Limit, Sources};
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
    let read = sources.clone();
    meter
        .i64_observable_up_down_counter("mcp_auth.sessions.open")
        .with_description("Handshake-era sessions this process holds open")
        .with_callback(move |observer| {
            observer.observe(
                i64::try_from(read.snapshot().sessions).unwrap_or(i64::MAX),
                &[],
            );
        })
        .build();
    let read = sources.clone();
    meter
        .i64_observable_up_down_counter("mcp_auth.streams.open")
        .with_description("Long-lived streams this process holds open")
        .with_callback(move |observer| {
            observer.observe(
                i64::try_from(read.snapshot().streams).unwrap_or(i64::MAX),
                &[],
            );
        })
        .build();
}
