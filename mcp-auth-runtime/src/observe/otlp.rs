//! Traces and metrics exported through OTLP/HTTP (protobuf), in one call: [`Otlp::builder`].
//!
//! Configured as every OpenTelemetry SDK is, by the standard variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/traces` and `/v1/metrics` are appended),
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (full URLs),
//! `OTEL_EXPORTER_OTLP_HEADERS` (and the per-signal `_HEADERS`), `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_*`. An endpoint given
//! to [`OtlpBuilder::endpoint`] (a command-line flag, say) is a base URL like
//! `OTEL_EXPORTER_OTLP_ENDPOINT` and wins over all three endpoint variables. Without any, the
//! exporter sends to `http://localhost:4318`.
//!
//! ```no_run
//! use mcp_auth_runtime::observe::otlp::Otlp;
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let otlp = Otlp::builder()
//!     .service_name("billing")
//!     .endpoint("http://127.0.0.1:4318")
//!     .build()?;
//! tracing_subscriber::registry().with(otlp.layer()).init();
//! let metrics = mcp_auth_runtime::observe::Metrics::new();
//! # let _ = metrics;
//! // ... serve; dropping `otlp` (or `otlp.shutdown()`) sends what is left.
//! # Ok(())
//! # }
//! ```
//!
//! [`Otlp::build`](OtlpBuilder::build) also makes W3C trace context the global propagator, so
//! that `traceparent` in HTTP headers and in `params._meta` joins the caller's trace.
//!
//! What goes out: the spans described in [`crate::observe`] (no token, code, secret, session
//! id or call argument in any of them) and the metrics recorded on [`Otlp::meter`]. Export
//! runs on the SDK's own threads (batch span processor, periodic metric reader) with a
//! blocking HTTP client: the request path never waits on the collector; when the collector is
//! down, spans beyond the batch queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048) are dropped, never
//! requests.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// The instrumentation scope of this crate's spans and metrics.
const SCOPE: &str = "mcp-auth-runtime";

/// Trace and metric exporters over OTLP/HTTP. Spans reach it through [`Otlp::layer`], a
/// `tracing` layer; metrics through [`Otlp::meter`]. Dropping it flushes and shuts both down
/// (blocking up to the export timeout).
pub struct Otlp {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

/// Configures [`Otlp`]: see the [module docs](self) for the variables it honours.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct OtlpBuilder {
    endpoint: Option<String>,
    service_name: Option<Cow<'static, str>>,
}

/// Why the OTLP exporters could not be set up (an invalid endpoint or header, say).
#[derive(Debug, thiserror::Error)]
#[error("OTLP export cannot be set up: {0}")]
pub struct OtlpError(String);

impl Otlp {
    /// Configuration from the `OTEL_*` variables, overridable in code.
    pub fn builder() -> OtlpBuilder {
        OtlpBuilder::default()
    }

    /// The `tracing` layer exporting spans: add it to the subscriber
    /// (`tracing_subscriber::registry().with(otlp.layer())`).
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, Tracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.traces.tracer(SCOPE))
    }

    /// A meter whose instruments are exported: the one to give
    /// [`Metrics`](crate::observe::Metrics) for the server's metrics over OTLP.
    pub fn meter(&self) -> Meter {
        self.metrics.meter(SCOPE)
    }

    /// The meter provider, for the application's own instruments.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.metrics
    }

    /// The tracer provider, for the application's own tracers.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.traces
    }

    /// Exports what is pending, now (blocking until sent or timed out).
    pub fn flush(&self) -> Result<(), OtlpError> {
        let traces = self.traces.force_flush();
        let metrics = self.metrics.force_flush();
        traces.map_err(|e| OtlpError(e.to_string()))?;
        metrics.map_err(|e| OtlpError(e.to_string()))
    }

    /// Exports what is pending and stops both exporters; errors say what could not be sent.
    pub fn shutdown(self) -> Result<(), OtlpError> {
        let traces = self.traces.shutdown();
        let metrics = self.metrics.shutdown();
        traces.map_err(|e| OtlpError(e.to_string()))?;
        metrics.map_err(|e| OtlpError(e.to_string()))
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        // Idempotent: after `shutdown` these report "already shut down", ignored.
        let _ = self.traces.shutdown();
        let _ = self.metrics.shutdown();
    }
}

impl fmt::Debug for Otlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otlp").finish_non_exhaustive()
    }
}

impl OtlpBuilder {
    /// The collector's base URL (`http://127.0.0.1:4318`): spans go to `{url}/v1/traces`,
    /// metrics to `{url}/v1/metrics`. Wins over the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES`
    /// names one (the operator's choice wins); the SDK's `unknown_service` otherwise.
    pub fn service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Builds the exporters and makes W3C trace context the global propagator. Call it
    /// outside an async context or from a multi-threaded runtime: the blocking HTTP client is
    /// made on its own thread.
    pub fn build(self) -> Result<Otlp, OtlpError> {
        let endpoint = self
            .endpoint
            .as_deref()
            .map(|url| url.trim_end_matches('/'));
        let resource = self.resource();

        let mut spans = SpanExporter::builder().with_http();
        if let Some(base) = endpoint {
            spans = spans.with_endpoint(format!("{base}/v1/traces"));
        }
        let spans = spans.build().map_err(|e| OtlpError(e.to_string()))?;
        let traces = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone())
            .build();

        let mut exporter = MetricExporter::builder().with_http();
        if let Some(base) = endpoint {
            exporter = exporter.with_endpoint(format!("{base}/v1/metrics"));
        }
        let exporter = exporter.build().map_err(|e| OtlpError(e.to_string()))?;
        let metrics = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter).build())
            .with_resource(resource)
            .build();

        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Otlp { traces, metrics })
    }

    fn resource(&self) -> Resource {
        let builder = Resource::builder();
        let named_by_operator = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
                v.split(',')
                    .any(|kv| kv.trim().starts_with("service.name="))
            });
        match &self.service_name {
            Some(name) if !named_by_operator => builder.with_service_name(name.clone()),
            _ => builder,
        }
        .build()
    }
}
