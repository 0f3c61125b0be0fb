//! (e) The ceiling: one bare axum route that checks the token as [`crate::jwt`] does, reads the
//! same `tools/call` and answers the same JSON, with no MCP framework at all.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::billing::{Invoice, Store};
use crate::jwt::Checker;

struct App {
    checker: Checker,
    store: Store,
}

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    method: &'a str,
    params: Params,
}

#[derive(Deserialize)]
struct Params {
    name: String,
    arguments: Arguments,
}

#[derive(Deserialize)]
struct Arguments {
    invoice_id: String,
}

#[derive(Serialize)]
struct Reply<'a> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: ToolResult<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolResult<'a> {
    content: [Text; 1],
    structured_content: &'a Invoice,
}

#[derive(Serialize)]
struct Text {
    r#type: &'static str,
    text: String,
}

async fn call(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(claims) = app.checker.check(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(call) = serde_json::from_slice::<Call<'_>>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if call.method != "tools/call" || call.params.name != "lookup_invoice" {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !claims.has_scope("invoices:read") {
        return StatusCode::FORBIDDEN.into_response();
    }
    let tenant = claims.tenant.as_deref().unwrap_or("");
    let Some(invoice) = app.store.get(tenant, &call.params.arguments.invoice_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let reply = Reply {
        jsonrpc: "2.0",
        id: call.id,
        result: ToolResult {
            content: [Text {
                r#type: "text",
                text: serde_json::to_string(&invoice).expect("invoices serialize"),
            }],
            structured_content: &invoice,
        },
    };
    let body = serde_json::to_vec(&reply).expect("replies serialize");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    jwks_url: String,
    issuer: String,
    resource: String,
) -> anyhow::Result<()> {
    let app = Arc::new(App {
        checker: Checker::fetch(&jwks_url, &issuer, &resource).await?,
        store: Store::seeded(),
    });
    let router = axum::Router::new()
        .route("/mcp", axum::routing::post(call))
        .with_state(app);
    crate::serve_nodelay(listener, router).await
}
