//! W3C trace context in, through the configured OpenTelemetry propagator
//! (`opentelemetry::global::set_text_map_propagator`; [`otlp`](crate::observe::otlp) installs
//! `TraceContextPropagator`): from the HTTP headers and from `params._meta`, whose
//! `traceparent`, `tracestate` and `baggage` keys the MCP conventions write unprefixed.

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use serde_json::{Map, Value};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Sets the parent of `span` (not yet entered) from the request's headers; the remote
/// context, when there was a valid one.
pub(crate) fn parent_from_headers(span: &Span, headers: &HeaderMap) -> Option<SpanContext> {
    let cx = extract(&Headers(headers));
    let remote = cx.span().span_context().clone();
    if !remote.is_valid() {
        return None;
    }
    // Fails only without an OpenTelemetry layer, when there is nothing to join.
    let _ = span.set_parent(cx);
    Some(remote)
}

/// The remote context a request's `params._meta` carries, if valid.
pub(crate) fn from_meta(meta: &Map<String, Value>) -> Option<SpanContext> {
    if !meta.contains_key("traceparent") {
        return None;
    }
    let cx = extract(&Meta(meta));
    let remote = cx.span().span_context().clone();
    remote.is_valid().then_some(remote)
}

/// The context `carrier` holds, over an empty one: `extract` alone falls back to the current
/// context (the HTTP request's span, inside the dispatcher) when the carrier holds none.
fn extract(carrier: &dyn Extractor) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), carrier)
    })
}

/// Makes `span` (not yet entered) a child of `parent`, linked to `transport`'s span.
pub(crate) fn adopt(span: &Span, parent: SpanContext, transport: Option<&Span>) {
    let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    if let Some(transport) = transport {
        let linked = transport.context().span().span_context().clone();
        span.add_link(linked);
    }
}

/// Renames `span`'s OpenTelemetry span, started or not.
pub(crate) fn rename(span: &Span, name: String) {
    span.context().span().update_name(name);
}

/// The current span's trace id, if it belongs to an OpenTelemetry trace.
pub(crate) fn current_trace_id() -> Option<String> {
    let cx = Span::current().context();
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id().to_string())
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct Meta<'a>(&'a Map<String, Value>);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
