//! Replies as HTTP responses: what the client accepts, JSON bodies, statuses and the headers
//! that go with them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Endpoint;
use super::sse::listen_stream;
use crate::auth::Scheme;
use crate::jsonrpc::error_for;
use crate::mcp::Reply;
use crate::rate_limit::too_many_requests;

/// What the client's `Accept` header allows.
#[derive(Clone, Copy)]
pub(super) struct Accepts {
    pub(super) json: bool,
    pub(super) sse: bool,
}

pub(super) fn accepts(headers: &HeaderMap) -> Accepts {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Accepts {
            json: true,
            sse: false,
        };
    }
    let mut accepts = Accepts {
        json: false,
        sse: false,
    };
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for media in value.split(',') {
            let media = media.split(';').next().unwrap_or("").trim();
            // The media types of interest differ in length: one comparison each.
            let expected = match media.len() {
                16 => "application/json",
                13 => "application/*",
                17 => "text/event-stream",
                6 => "text/*",
                3 => "*/*",
                _ => continue,
            };
            if !media.eq_ignore_ascii_case(expected) {
                continue;
            }
            match media.len() {
                16 | 13 => accepts.json = true,
                17 | 6 => accepts.sse = true,
                _ => {
                    accepts.json = true;
                    accepts.sse = true;
                }
            }
        }
    }
    accepts
}

/// A `200` JSON response of two buffers, sent as they are: a precomputed result after the
/// head that names the request's id ([`Reply::Precomputed`]).
fn json_parts(head: Bytes, tail: Bytes) -> Response {
    let mut response = Response::new(Body::new(Parts {
        head: Some(head),
        tail: Some(tail),
    }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body of two buffers of known length: sent with `Content-Length`, in one vectored write,
/// without copying either.
struct Parts {
    head: Option<Bytes>,
    tail: Option<Bytes>,
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.head.take().or_else(|| this.tail.take());
        Poll::Ready(next.map(|data| Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = |part: &Option<Bytes>| part.as_ref().map_or(0, |b| b.len() as u64);
        http_body::SizeHint::with_exact(len(&self.head) + len(&self.tail))
    }
}

/// A JSON body with this status.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON-RPC error response with this status.
pub(super) fn rpc_error(
    status: StatusCode,
    id: Option<crate::jsonrpc::Id>,
    code: i32,
    message: impl Into<String>,
) -> Response {
    json_response(status, error_for(id, code, message))
}

/// `reply` as an HTTP response; a `403` challenges in the `scheme` the token came in.
pub(super) fn render(endpoint: &Endpoint, reply: Reply, scheme: Scheme) -> Response {
    match reply {
        Reply::Json(status, body) => json_response(status, body),
        Reply::Precomputed { head, tail } => json_parts(head, tail),
        Reply::Initialized { body, .. } => json_response(StatusCode::OK, body),
        Reply::Forbidden { required, body, .. } => {
            let required: Vec<&str> = required.iter().map(String::as_str).collect();
            let mut response = json_response(StatusCode::FORBIDDEN, body);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                endpoint.challenge.insufficient_scope_in(scheme, &required),
            );
            response
        }
        Reply::Listen(ack) => listen_stream(ack),
        Reply::RateLimited { retry_after, body } => too_many_requests(retry_after, body),
        // The client no longer waits for an answer; the HTTP exchange still needs an end.
        Reply::Cancelled => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Whether `reply` refuses the request (`4xx`, `5xx`): it is answered with its own status and
/// headers, never inside a `200` event stream.
pub(super) fn is_refusal(reply: &Reply) -> bool {
    match reply {
        Reply::Forbidden { .. } | Reply::RateLimited { .. } => true,
        Reply::Json(status, _) => !status.is_success(),
        Reply::Precomputed { .. }
        | Reply::Initialized { .. }
        | Reply::Listen(_)
        | Reply::Cancelled => false,
    }
}

/// `GET` and other methods on the MCP endpoint: this server sends nothing outside the
/// stream of a request, and the 2026-07-28 era has no `GET`.
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("POST, DELETE"))],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_are_read_per_media_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let a = accepts(&headers);
        assert!(a.json && a.sse);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let a = accepts(&headers);
        assert!(!a.json && a.sse);
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let a = accepts(&headers);
        assert!(!a.json && !a.sse);
        let a = accepts(&HeaderMap::new());
        assert!(a.json && !a.sse);
    }
}
