//! The other paths users take, without I/O, next to the plain call: requests built in memory
//! and sent through the server's axum router (`tower::ServiceExt::oneshot`), behind the bearer
//! layer and a `JwtVerifier` (static keys, cache on), responses drained chunk by chunk, as in
//! `dispatch`.
//!
//! - `paths/plain`: the structured `tools/call` of `dispatch`'s `tools/call/rs256-cached`, the
//!   baseline of this group.
//! - `paths/session`: the same call in a handshake-era session (`Mcp-Session-Id`, the server
//!   stateful), the session opened once in setup.
//! - `paths/progress` and `paths/progress-unrequested`: a tool reporting progress three
//!   times, with a `progressToken` (the answer an SSE stream: three progress events and the
//!   result) and without one (a JSON answer): the difference is what streaming costs.
//! - `paths/resources-read`: `resources/read` of a scoped, templated resource.
//! - `paths/policy`: a call whose policy depends on its arguments (`require(scope = ..,
//!   when = ..)`), with an amount above the limit and the extra scope held.
//! - `paths/dpop`: the plain call with a DPoP-bound token and a fresh ES256 proof, signed in
//!   setup (not measured), each request's own.
//!
//! `cargo bench -p mcp-auth-runtime --bench paths`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::StatusCode;
use mcp_auth_runtime::auth::{Dpop, JwkSet, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use serde_json::{Value, json};

use mcp_auth_test_support::{dpop::DpopKey, issuer};

mod common;

use common::{ISSUER, RESOURCE, answer, exchange, post, runtime, send};

#[derive(Clone, serde::Serialize, schemars::JsonSchema)]
struct Invoice {
    id: String,
    customer: String,
    amount_cents: u64,
    currency: &'static str,
    status: &'static str,
}

fn invoice(id: &str, tenant: &str) -> Invoice {
    Invoice {
        customer: format!("Initech ({tenant})"),
        id: id.to_owned(),
        amount_cents: 125_000,
        currency: "EUR",
        status: "open",
    }
}

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(
    ctx: ToolContext,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    Ok(invoice(&invoice_id, ctx.auth().tenant().unwrap_or("-")))
}

/// The invoices `export_invoices` exports, one progress report each.
const EXPORTED: [&str; 3] = ["INV-2041", "INV-2042", "INV-2043"];

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Export {
    invoices: Vec<Invoice>,
}

/// Export the caller's invoices, reporting progress after each.
#[tool(scope = "invoices:read", read_only)]
async fn export_invoices(ctx: ToolContext) -> Result<Export, ToolError> {
    let tenant = ctx.auth().tenant().unwrap_or("-");
    let mut invoices = Vec::with_capacity(EXPORTED.len());
    for (done, id) in EXPORTED.iter().enumerate() {
        invoices.push(invoice(id, tenant));
        ctx.progress((done + 1) as f64, Some(EXPORTED.len() as f64), None);
    }
    Ok(Export { invoices })
}

/// Refunds above this many cents also need `payments:approve`.
const APPROVAL_LIMIT_CENTS: u64 = 100_000;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Refund {
    invoice_id: String,
    amount_cents: u64,
    approved: bool,
}

/// Check a refund; above the limit it needs `payments:approve`.
#[tool(
    scope = "invoices:write",
    require(
        scope = "payments:approve",
        when = amount_cents > APPROVAL_LIMIT_CENTS
    ),
    read_only
)]
async fn plan_refund(
    _ctx: ToolContext,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
    /// The amount to refund, in cents
    amount_cents: u64,
) -> Result<Refund, ToolError> {
    Ok(Refund {
        invoice_id,
        amount_cents,
        approved: amount_cents > APPROVAL_LIMIT_CENTS,
    })
}

/// One invoice of the caller's tenant, as JSON.
#[resource(
    uri_template = "invoice://{invoice_id}",
    scope = "invoices:read",
    mime_type = "application/json"
)]
async fn invoice_resource(ctx: ToolContext, invoice_id: String) -> Result<Invoice, ToolError> {
    Ok(invoice(&invoice_id, ctx.auth().tenant().unwrap_or("-")))
}

const LOOKUP: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup_invoice","arguments":{"invoice_id":"INV-2041"}}}"#;
const PROGRESS: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"export_invoices","arguments":{},"_meta":{"progressToken":"p-1"}}}"#;
const NO_PROGRESS: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"export_invoices","arguments":{}}}"#;
const READ: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"invoice://INV-2041"}}"#;
const POLICY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"plan_refund","arguments":{"invoice_id":"INV-2041","amount_cents":120000}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The JSON of each event of an SSE stream after its priming event (an id, empty data), in
/// order.
fn events(stream: &str) -> Vec<Value> {
    let data: Vec<String> = stream
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(data[0], "", "a priming event first: {stream}");
    data[1..]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The server of every path: the bearer layer with a cached RS256 verifier over `key`.
fn server(key: &issuer::TestKey, stateless: bool, dpop: Dpop) -> axum::Router {
    let verifier = JwtVerifier::builder(ISSUER, RESOURCE)
        .static_keys(JwkSet::from_value(json!({ "keys": [key.jwk] })).unwrap())
        .tenant_claim("tenant")
        .build()
        .unwrap();
    McpServer::builder("bench", "1.0.0")
        .tools(tools![lookup_invoice, export_invoices, plan_refund])
        .resources(resources![invoice_resource])
        .resource(RESOURCE)
        .verifier(verifier)
        .stateless(stateless)
        .dpop(dpop)
        .build()
        .unwrap()
        .into_router()
}

/// Opens a handshake-era session with `token`; returns its id.
async fn open_session(router: &axum::Router, authorization: &str) -> String {
    let (status, headers, text) = exchange(
        router,
        post(INITIALIZE, &[("authorization", authorization)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    let (status, _, text) = exchange(
        router,
        post(
            INITIALIZED,
            &[
                ("authorization", authorization),
                ("mcp-session-id", &session),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    session
}

fn paths(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("paths");
    let key = issuer::TestKey::rsa("rs");
    let token = key.sign(&issuer::claims(
        ISSUER,
        RESOURCE,
        "invoices:read invoices:write",
    ));
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let router = server(&key, true, Dpop::off());

    let found = runtime.block_on(answer(&router, post(LOOKUP, &auth)));
    assert_eq!(
        found["result"]["structuredContent"]["customer"],
        "Initech (acme)"
    );
    group.bench_function("plain", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, post(black_box(LOOKUP), &auth)))
    });

    let stateful = server(&key, false, Dpop::off());
    let session = runtime.block_on(open_session(&stateful, &bearer));
    let in_session = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let found = runtime.block_on(answer(&stateful, post(LOOKUP, &in_session)));
    assert_eq!(found["result"]["structuredContent"]["id"], "INV-2041");
    let (status, _, _) = runtime.block_on(exchange(&stateful, post(LOOKUP, &auth)));
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a call outside its session"
    );
    group.bench_function("session", |b| {
        b.to_async(&runtime)
            .iter(|| send(&stateful, post(black_box(LOOKUP), &in_session)))
    });

    let (status, headers, stream) = runtime.block_on(exchange(&router, post(PROGRESS, &auth)));
    assert_eq!(status, StatusCode::OK, "{stream}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = events(&stream);
    assert_eq!(
        events.len(),
        4,
        "three progress events and the result: {stream}"
    );
    for (n, event) in events[..3].iter().enumerate() {
        assert_eq!(event["method"], "notifications/progress");
        assert_eq!(event["params"]["progressToken"], "p-1");
        assert_eq!(event["params"]["progress"], (n + 1) as f64);
    }
    assert_eq!(
        events[3]["result"]["structuredContent"]["invoices"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let json = runtime.block_on(answer(&router, post(NO_PROGRESS, &auth)));
    assert_eq!(
        json["result"]["structuredContent"]["invoices"][2]["id"],
        "INV-2043"
    );
    group.bench_function("progress", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, post(black_box(PROGRESS), &auth)))
    });
    group.bench_function("progress-unrequested", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, post(black_box(NO_PROGRESS), &auth)))
    });

    let read = runtime.block_on(answer(&router, post(READ, &auth)));
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["uri"], "invoice://INV-2041");
    let read: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(read["id"], "INV-2041");
    group.bench_function("resources-read", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, post(black_box(READ), &auth)))
    });

    let approver = format!(
        "Bearer {}",
        key.sign(&issuer::claims(
            ISSUER,
            RESOURCE,
            "invoices:read invoices:write payments:approve",
        ))
    );
    let approving = [("authorization", approver.as_str())];
    let (status, _, _) = runtime.block_on(exchange(&router, post(POLICY, &auth)));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "above the limit without approval"
    );
    let refund = runtime.block_on(answer(&router, post(POLICY, &approving)));
    assert_eq!(refund["result"]["structuredContent"]["approved"], true);
    group.bench_function("policy", |b| {
        b.to_async(&runtime)
            .iter(|| send(&router, post(black_box(POLICY), &approving)))
    });

    dpop(&mut group, &runtime, &key);
    group.finish();
}

/// Clients taking turns, so that no key comes near the replay record's share per key.
const DPOP_CLIENTS: usize = 8;

fn dpop(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    key: &issuer::TestKey,
) {
    let router = server(key, true, Dpop::accept());
    let clients: Vec<(DpopKey, String)> = (0..DPOP_CLIENTS)
        .map(|_| {
            let client = DpopKey::es256();
            let mut claims = issuer::claims(ISSUER, RESOURCE, "invoices:read");
            claims["cnf"] = client.cnf();
            let token = key.sign(&claims);
            (client, token)
        })
        .collect();
    let request = |n: usize| {
        let (client, token) = &clients[n % DPOP_CLIENTS];
        let proof = client.proof("POST", RESOURCE, Some(token));
        let authorization = format!("DPoP {token}");
        post(
            LOOKUP,
            &[("authorization", &authorization), ("dpop", &proof)],
        )
    };
    let found = runtime.block_on(answer(&router, request(0)));
    assert_eq!(found["result"]["structuredContent"]["id"], "INV-2041");
    let mut n = 1;
    group.bench_function("dpop", |b| {
        b.to_async(runtime).iter_batched(
            || {
                n += 1;
                request(n)
            },
            |request| send(&router, request),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, paths);
criterion_main!(benches);
