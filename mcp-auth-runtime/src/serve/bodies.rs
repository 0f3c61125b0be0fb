//! Response and request bodies with an end of their own: streams that end when the server
//! drains, and request bodies cut at their deadline.

use crate::http::EndsAtShutdown;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::watch;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(super) fn ending_at_shutdown(
    response: Response,
    mut drained: watch::Receiver<bool>,
) -> Response {
    if response.extensions().get::<EndsAtShutdown>().is_none() {
        return response;
    }
    response.map(|inner| {
        Body::new(UntilDrained {
            inner,
            drained: Box::pin(async move {
                let _ = drained.wait_for(|draining| *draining).await;
            }),
        })
    })
}

/// A body that ends when the server starts draining.
struct UntilDrained {
    inner: Body,
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl HttpBody for UntilDrained {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.drained.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }
}

/// A request body that fails once its deadline passes, however its bytes trickle in.
pub(super) struct DeadlineBody {
    pub(super) inner: Incoming,
    pub(super) deadline: tokio::time::Instant,
    /// Armed at the first wait only: a body that is already there costs no timer.
    pub(super) timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set when the deadline passed, for the response.
    pub(super) timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body did not arrive within [`ServeConfig::request_body_timeout`].
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// `408` for a body that did not arrive in time; the connection closes, since the rest of the
/// body may still be on its way.
pub(super) fn body_timed_out() -> Response {
    let mut response = Response::new(Body::from("the request body did not arrive in time"));
    *response.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}
