//! What the benchmarks that drive the MCP endpoint without I/O (`dispatch`, `paths`) share:
//! the issuer and resource their tokens name, the request a 2025-11-25 client sends, and the
//! ways of sending it through the server's axum router (`tower::ServiceExt::oneshot`).
//!
//! Each benchmark includes this file with `mod common;`; a folder with `mod.rs` keeps cargo
//! from taking it for a benchmark of its own.

use axum::body::Body;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The issuer of the benchmarks' tokens.
pub(crate) const ISSUER: &str = "https://auth.example.com";
/// The protected resource: the audience of the benchmarks' tokens.
pub(crate) const RESOURCE: &str = "https://billing.example.com/mcp";

/// A `POST /mcp` of `body` with `headers`, as a 2025-11-25 client sends it.
pub(crate) fn post(body: &'static str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body)).unwrap()
}

/// Sends one request; returns the number of body bytes, read chunk by chunk, as a client
/// reading the stream would.
pub(crate) async fn send(router: &axum::Router, request: Request<Body>) -> usize {
    let response = router.clone().oneshot(request).await.unwrap();
    debug_assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        len += chunk.unwrap().len();
    }
    len
}

/// Sends one request outside the measurement; its status, headers and body text.
pub(crate) async fn exchange(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// The answer to `request`, which must be `200` with a JSON body: checked once, outside the
/// measurement.
pub(crate) async fn answer(router: &axum::Router, request: Request<Body>) -> Value {
    let (status, _, text) = exchange(router, request).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The runtime every benchmark runs on: one thread, as `oneshot` needs no more.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
