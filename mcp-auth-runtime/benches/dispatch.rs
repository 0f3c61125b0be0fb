//! The MCP endpoint without I/O: requests built in memory and sent through the server's axum
//! router (`tower::ServiceExt::oneshot`), responses drained chunk by chunk.
//!
//! - `tools/call/trivial` and `tools/call/structured`: parse, Host/Origin guard, lookup, scope
//!   check, argument deserialization, the handler, result serialization; authentication off.
//! - `tools/call/rs256-cold` and `tools/call/rs256-cached`: the structured call behind the
//!   bearer layer and a `JwtVerifier` (static keys) with its cache off and on.
//! - `tools/list/<n>`: the first page of a server with `n` tools, served from bytes
//!   precomputed at build: its cost must not grow with `n`.
//!
//! - `subscriber/<level>`: the trivial call again under a `tracing` fmt subscriber writing to
//!   nowhere at `warn`, at `info` (billing's default), at `debug`: what the request's spans cost
//!   an application that logs (`tools/call/trivial` is the cost without a subscriber).
//!
//! `cargo bench -p mcp-auth-runtime --bench dispatch`

use std::hint::black_box;

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use mcp_auth_runtime::__private::{Arguments, BoxFuture, CallContext, ToolMeta, tool_def};
use mcp_auth_runtime::auth::{JwkSet, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Annotations, ToolDef};
use serde_json::{Value, json};

use mcp_auth_test_support::issuer;

mod common;

use common::{ISSUER, RESOURCE, answer, post, runtime, send};

/// Echo a text.
#[tool(unscoped)]
async fn echo(
    /// The text to echo.
    text: String,
) -> String {
    text
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Invoice {
    id: String,
    customer: String,
    amount_cents: u64,
    currency: &'static str,
    status: &'static str,
}

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(
    ctx: ToolContext,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    let tenant = ctx.auth().tenant().unwrap_or("-");
    Ok(Invoice {
        customer: format!("Initech ({tenant})"),
        id: invoice_id,
        amount_cents: 125_000,
        currency: "EUR",
        status: "open",
    })
}

fn caller() -> AuthInfo {
    AuthInfo::new("alice")
        .with_scopes(["invoices:read"])
        .with_tenant("acme")
}

/// A `POST /mcp` of `body`, with `Bearer <token>` when there is one: the header is formatted
/// for each request, as a client holding only the token would.
fn call(body: &'static str, token: Option<&str>) -> Request<Body> {
    match token {
        Some(token) => post(body, &[("authorization", &format!("Bearer {token}"))]),
        None => post(body, &[]),
    }
}

const ECHO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const LOOKUP: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup_invoice","arguments":{"invoice_id":"INV-2041"}}}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// A stateless server with `tools` and authentication off: every call is `caller()`'s.
fn unauthenticated(tools: Vec<ToolDef>) -> axum::Router {
    McpServer::builder("bench", "1.0.0")
        .tools(tools)
        .without_auth_as(caller())
        .stateless(true)
        .build()
        .unwrap()
        .into_router()
}

fn tools_call(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("tools/call");
    let router = unauthenticated(tools![echo, lookup_invoice]);
    let echoed = runtime.block_on(answer(&router, call(ECHO, None)));
    assert_eq!(echoed["result"]["content"][0]["text"], "hello");
    let found = runtime.block_on(answer(&router, call(LOOKUP, None)));
    assert_eq!(found["result"]["structuredContent"]["id"], "INV-2041");
    group.bench_function("trivial", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, call(black_box(ECHO), None)))
    });
    group.bench_function("structured", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, call(black_box(LOOKUP), None)))
    });

    let key = issuer::TestKey::rsa("rs");
    let token = key.sign(&issuer::claims(ISSUER, RESOURCE, "invoices:read"));
    for (mode, capacity) in [("rs256-cold", 0), ("rs256-cached", 1024)] {
        let verifier = JwtVerifier::builder(ISSUER, RESOURCE)
            .static_keys(JwkSet::from_value(json!({ "keys": [key.jwk] })).unwrap())
            .tenant_claim("tenant")
            .cache_capacity(capacity)
            .build()
            .unwrap();
        let router = McpServer::builder("bench", "1.0.0")
            .tools(tools![echo, lookup_invoice])
            .resource(RESOURCE)
            .verifier(verifier)
            .stateless(true)
            .build()
            .unwrap()
            .into_router();
        let found = runtime.block_on(answer(&router, call(LOOKUP, Some(&token))));
        assert_eq!(
            found["result"]["structuredContent"]["customer"],
            "Initech (acme)"
        );
        group.bench_function(mode, |b| {
            b.to_async(&runtime)
                .iter(|| send(&router, call(black_box(LOOKUP), Some(&token))))
        });
    }
    group.finish();
}

fn input_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "invoice_id": { "type": "string", "description": "The invoice id, e.g. INV-2041" },
            "reason": { "type": ["string", "null"], "description": "Why, for the audit trail" }
        },
        "required": ["invoice_id"],
        "additionalProperties": false
    })
}

fn handler(_: CallContext, _: Arguments) -> BoxFuture {
    Box::pin(async { Ok(CallToolResult::text("ok")) })
}

/// `n` distinct tools of realistic size (about 500 bytes each in `tools/list`).
fn many_tools(n: usize) -> Vec<ToolDef> {
    (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("invoice_tool_{i}").into_boxed_str());
            tool_def(
                ToolMeta {
                    name,
                    title: Some("An invoice tool"),
                    description: "Does one thing to one invoice of the caller's tenant, and \
                                  records who did it in the audit trail.",
                    scopes: &["invoices:write"],
                    conditional_scopes: &[],
                    annotations: Annotations {
                        destructive: Some(true),
                        ..Annotations::default()
                    },
                    input_schema,
                    output_schema: None,
                    state: None,
                    task: Default::default(),
                },
                handler,
            )
        })
        .collect()
}

fn tools_list(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("tools/list");
    for n in [10, 100, 1000] {
        let router = unauthenticated(many_tools(n));
        let page = runtime.block_on(answer(&router, call(LIST, None)));
        assert_eq!(
            page["result"]["tools"].as_array().unwrap().len(),
            n.min(100),
            "the default page holds 100 tools"
        );
        group.bench_function(n.to_string(), |b| {
            b.to_async(&runtime)
                .iter(|| send(&router, call(black_box(LIST), None)))
        });
    }
    group.finish();
}

fn subscriber(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("subscriber");
    let router = unauthenticated(tools![echo, lookup_invoice]);
    for level in [
        tracing::Level::WARN,
        tracing::Level::INFO,
        tracing::Level::DEBUG,
    ] {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(level.as_str().to_lowercase(), |b| {
                b.to_async(&runtime)
                    .iter(|| send(&router, call(black_box(ECHO), None)))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, tools_call, tools_list, subscriber);
criterion_main!(benches);
