//! Traces and metrics exported through OTLP/HTTP (protobuf), in one call: [`Otlp::builder`].
//!
//! Configured as every OpenTelemetry SDK is, by the standard variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/traces` and `/v1/metrics` are appended),
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (full URLs),
//! `OTEL_EXPORTER_OTLP_HEADERS` (and the per-signal `_HEADERS`), `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_*`.
//!
//! Sampling: without `OTEL_TRACES_SAMPLER`, every request is traced (`always_on`), whatever
//! the sampled flag of the caller's `traceparent` says: the SDK's own default,
//! `parentbased_always_on`, would let any client, unauthenticated ones included, keep its
//! requests out of the traces with a `-00` flag. Behind a gateway that samples for you,
//! `OTEL_TRACES_SAMPLER=parentbased_always_on` (or `parentbased_traceidratio`) follows its
//! decision. The caller's trace id is kept either way (that is what joining its trace means):
//! the `trace_id` of an audit event is the caller's word, not an identity. An endpoint given
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
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, LevelFilter};
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
    ///
    /// It exports spans and events at `INFO` and above (this crate's spans are `INFO`):
    /// `DEBUG` and `TRACE` callsites stay disabled, so that the per-request debug events of
    /// this crate and its dependencies neither cost a formatted span event on every request
    /// nor reach the collector. It leaves out `tracing-opentelemetry`'s thread and busy/idle
    /// time attributes (not in the conventions; the thread name costs an allocation per span
    /// and the timings two clock reads per poll). For other choices, build a layer on
    /// [`Otlp::tracer_provider`].
    pub fn layer<S>(&self) -> Filtered<OpenTelemetryLayer<S, Tracer>, LevelFilter, S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let layer: OpenTelemetryLayer<S, Tracer> =
            tracing_opentelemetry::layer().with_tracer(self.traces.tracer(SCOPE));
        layer
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(LevelFilter::INFO)
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
        check_endpoints(self.endpoint.as_deref())?;
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
        let mut traces = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone());
        if !operator_samples() {
            // The SDK's default, `parentbased_always_on`, lets the `traceparent` of any caller
            // (unauthenticated ones included) decide: `-00` and its request, a refusal or a
            // token guessed, is not traced. The operator's `OTEL_TRACES_SAMPLER` decides
            // instead, when set.
            traces = traces.with_sampler(Sampler::AlwaysOn);
        }
        let traces = traces.build();

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
}

/// The endpoint variables, in the order the exporter reads them.
const ENDPOINT_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Refuses an endpoint (given, else from the variables) that is not an absolute `http` or
/// `https` URL with a host: the exporter would otherwise take it and fail at every export,
/// or say why with the URL, password included, in its error. Errors name the variable or
/// the argument, never the value.
fn check_endpoints(given: Option<&str>) -> Result<(), OtlpError> {
    let valid = |url: &str| {
        url::Url::parse(url).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.port_or_known_default().is_some()
        })
    };
    if let Some(url) = given {
        return valid(url)
            .then_some(())
            .ok_or_else(|| OtlpError("the endpoint is not an http(s) URL with a host".to_owned()));
    }
    for var in ENDPOINT_VARS {
        if let Ok(url) = std::env::var(var)
            && !url.is_empty()
            && !valid(&url)
        {
            return Err(OtlpError(format!(
                "{var} is not an http(s) URL with a host"
            )));
        }
    }
    Ok(())
}

/// Whether `OTEL_TRACES_SAMPLER` chooses the sampler.
fn operator_samples() -> bool {
    std::env::var("OTEL_TRACES_SAMPLER").is_ok_and(|v| !v.trim().is_empty())
}

impl OtlpBuilder {
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
