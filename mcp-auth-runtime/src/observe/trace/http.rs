//! The server span of a request on the MCP route: opened by the outermost layer, before the
//! Host/Origin guard and the bearer layer, and found again by the dispatcher once the body
//! is parsed.

use std::cell::Cell;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use tracing::{Instrument, Span};

use super::{Transport, record_error, server_span};
use crate::jsonrpc::Request as RpcRequest;
use crate::observe::RefusalReason;

/// The HTTP request being served, for the dispatcher running inside it.
struct Current {
    span: Span,
    /// Whether the dispatcher took the request: its outcome is then recorded from the
    /// JSON-RPC reply, not from the HTTP status.
    dispatched: Cell<bool>,
    /// Why the request was refused before the dispatcher, when it was.
    refused: Cell<Option<RefusalReason>>,
    /// The context of the `traceparent` header, when there was one.
    #[cfg(feature = "opentelemetry")]
    remote: Option<opentelemetry::trace::SpanContext>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The outer layer of the MCP route: opens the request's server span, joins it to the
/// `traceparent` header's trace, and records the HTTP status and, for a request refused
/// before the dispatcher, `error.type` (the [`RefusalReason`] the bearer layer, the request
/// budget or the guard gave, else the status code).
///
/// A plain service rather than a `from_fn` middleware: with no subscriber that takes the span
/// (no tracing configured), a request goes straight to the inner service, with no clone of it
/// and no boxed future.
#[derive(Clone, Copy, Default)]
pub(crate) struct TracedLayer;

impl<S> tower::Layer<S> for TracedLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// The service of [`TracedLayer`].
#[derive(Clone)]
pub(crate) struct Traced<S> {
    inner: S,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for Traced<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<S::Future, BoxedResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        let span = server_span(Transport::Tcp);
        if span.is_disabled() {
            return Either::Left(self.inner.call(request));
        }
        // The service that was made ready is the one called; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Box::pin(
            async move { Ok(traced(span, request, inner).await) },
        ))
    }
}

async fn traced<S>(span: Span, request: Request, mut inner: S) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let method = method(request.method());
    span.record("otel.name", method);
    span.record("http.request.method", method);
    span.record("network.protocol.name", "http");
    span.record("network.protocol.version", version(request.version()));
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
    {
        span.record("client.address", tracing::field::display(peer.ip()));
        span.record("client.port", i64::from(peer.port()));
    }
    #[cfg(feature = "opentelemetry")]
    let remote = super::propagate::parent_from_headers(&span, request.headers());
    let current = Current {
        span: span.clone(),
        dispatched: Cell::new(false),
        refused: Cell::new(None),
        #[cfg(feature = "opentelemetry")]
        remote,
    };
    let (response, dispatched, refused) = CURRENT
        .scope(current, async move {
            // Called in the scope: the guard and the bearer layer report refusals from `call`.
            let response = match inner.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (dispatched, refused) =
                CURRENT.with(|current| (current.dispatched.get(), current.refused.get()));
            (response, dispatched, refused)
        })
        .instrument(span.clone())
        .await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.as_u16() >= 400 && !dispatched {
        match refused {
            Some(reason) => record_error(&span, reason.as_str()),
            None => record_error(&span, status.as_str()),
        }
    }
    response
}

/// The request's method, or `_OTHER` (as the HTTP conventions write it) for one HTTP does not
/// define: a client may send any token of any length, before any check.
fn method(method: &http::Method) -> &'static str {
    const KNOWN: &[&str] = &[
        "GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .iter()
        .find(|known| **known == method.as_str())
        .copied()
        .unwrap_or("_OTHER")
}

fn version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Tells the request's span why the request is refused before the dispatcher (bearer layer,
/// request budget, Host/Origin guard): its `error.type`.
pub(crate) fn refused(reason: RefusalReason) {
    let _ = CURRENT.try_with(|current| current.refused.set(Some(reason)));
}

/// The span a JSON-RPC request (or notification) is served in: the HTTP request's, or, for a
/// request whose `params._meta` carries another trace context (feature `opentelemetry`), a
/// new server span under that context linked to the HTTP one; over stdio, a new server span.
pub(crate) fn request_span(request: Option<&RpcRequest>) -> Span {
    let http = CURRENT
        .try_with(|current| {
            current.dispatched.set(true);
            #[cfg(feature = "opentelemetry")]
            let remote = current.remote.clone();
            #[cfg(not(feature = "opentelemetry"))]
            let remote = ();
            (current.span.clone(), remote)
        })
        .ok();
    #[cfg(feature = "opentelemetry")]
    if let Some(meta) = request.and_then(RpcRequest::meta)
        && let Some(parent) = super::propagate::from_meta(meta)
    {
        match &http {
            // The same context in both places: one span.
            Some((span, Some(remote))) if *remote == parent => return span.clone(),
            Some((span, _)) => {
                let own = server_span(Transport::Tcp);
                super::propagate::adopt(&own, parent, Some(span));
                return own;
            }
            None => {
                let own = server_span(Transport::Pipe);
                super::propagate::adopt(&own, parent, None);
                return own;
            }
        }
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = request;
    match http {
        Some((span, _)) => span,
        None => server_span(Transport::Pipe),
    }
}
