//! (f) The floor: one axum route that reads the request body and answers a fixed reply, with
//! no authentication and no JSON parsing or writing. What is left is what no server can avoid:
//! accepting the connection, parsing HTTP/1.1, routing one path and writing the answer. The
//! other servers' CPU per request, divided by this one's, is what they add to that.

use axum::body::Bytes;
use http::{HeaderValue, header};

/// The answer `ceiling` writes for the harness's call, fixed: the correctness check reads the
/// invoice from it like from every other server.
const REPLY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"id\":\"INV-2041\",\"customer\":\"Initech\",\"amount_cents\":125000,\"currency\":\"EUR\",\"status\":\"open\"}"}],"structuredContent":{"id":"INV-2041","customer":"Initech","amount_cents":125000,"currency":"EUR","status":"open"}}}"#;

/// Takes the body (so that the request is read as every other server reads it) and ignores it.
async fn call(_body: Bytes) -> ([(header::HeaderName, HeaderValue); 1], &'static str) {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        REPLY,
    )
}

/// Serves the fixed reply on `POST /mcp`.
pub async fn serve(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let router = axum::Router::new().route("/mcp", axum::routing::post(call));
    crate::serve_nodelay(listener, router).await
}
