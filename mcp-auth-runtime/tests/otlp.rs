//! Traces and metrics over OTLP/HTTP, received by a real OTLP decoder: the Python receiver of
//! `tests/observability/otlp_receiver.py` (PyPI `opentelemetry-proto`, the official protobuf
//! definitions), on loopback. Spans of both eras, their names, kinds, attributes and links,
//! the `traceparent` of the HTTP headers and of `params._meta`, refusals, and no token
//! anywhere in what is exported. Its own binary: the subscriber is process-wide.
//!
//! The receiver runs in `OTLP_RECEIVER_PYTHON` (a Python with `opentelemetry-proto`) or, when
//! unset, in `tests/observability/.venv`, made from the hashed requirements if missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::observe::Metrics;
use mcp_auth_runtime::observe::audit::AuditEvent;
use mcp_auth_runtime::observe::otlp::Otlp;
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::stdio::identity_from_vars;
use mcp_auth_test_support::fixture::TempDir;
use mcp_auth_test_support::issuer::{Issuer, TestKey, at, claims};
use mcp_auth_test_support::modern;
use mcp_auth_test_support::stdio::StdioClient;
use mcp_auth_test_support::tools::{read_thing, write_thing};
use mcp_auth_test_support::{Client, bind_endpoint, serve_on};
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

/// Fails, as a tool: its result has `isError: true`.
#[tool(scope = "things:read")]
async fn fail_thing() -> Result<String, ToolError> {
    Err(ToolError::new("no such thing"))
}

const HEADER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const HEADER_PARENT: &str = "b7ad6b7169203331";
const META_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const META_PARENT: &str = "00f067aa0ba902b7";
const OTHER_TRACE: &str = "11112222333344445555666677778888";
const GUARD_TRACE: &str = "a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3";
const BAD_META_TRACE: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const STDIO_TRACE: &str = "99990000aaaabbbbccccddddeeeeffff";

fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("OTLP_RECEIVER_PYTHON") {
        return python.into();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/observability");
    let python = dir.join(".venv/bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join(".venv"))
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--require-hashes", "--no-deps", "-r"])
            .arg(dir.join("otlp-requirements.txt"))
            .status()
            .expect("pip runs");
        assert!(installed.success(), "installing opentelemetry-proto failed");
    }
    python
}

fn start_receiver(scratch: &TempDir) -> Receiver {
    let out = scratch.path().join("otlp.jsonl");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/observability/otlp_receiver.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the receiver starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the receiver prints its port");
    Receiver { child, port, out }
}

fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn spans_named<'a>(records: &'a [Value], name: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["signal"] == "span" && r["name"] == name)
        .collect()
}

fn children_of<'a>(records: &'a [Value], parent: &Value) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| {
            r["signal"] == "span"
                && r["trace_id"] == parent["trace_id"]
                && r["parent_span_id"] == parent["span_id"]
        })
        .collect()
}

fn child<'a>(records: &'a [Value], parent: &Value, name: &str) -> &'a Value {
    children_of(records, parent)
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} under {parent}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_receiver() {
    let scratch = TempDir::new("otlp");
    let receiver = start_receiver(&scratch);
    let otlp = Otlp::builder()
        .service_name("otlp-test")
        .endpoint(format!("http://127.0.0.1:{}", receiver.port))
        .build()
        .unwrap();
    tracing_subscriber::registry()
        .with(otlp.layer())
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .init();

    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let (listener, addr, resource) = bind_endpoint().await;
    let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
        .build()
        .unwrap();
    let audited = Arc::new(Mutex::new(Vec::<AuditEvent>::new()));
    let sink = audited.clone();
    let server = McpServer::builder("things", "1")
        .tools(tools![read_thing, write_thing, fail_thing])
        .resource(resource.clone())
        .verifier(verifier)
        .audit(move |event: &AuditEvent| sink.lock().unwrap().push(event.clone()))
        .metrics(Metrics::builder().meter(otlp.meter()).build())
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    let good = key.sign(&claims(&issuer.url, &resource, "things:read"));
    let mut expired = claims(&issuer.url, &resource, "things:read");
    expired["exp"] = at(-3600).into();
    let expired = key.sign(&expired);

    // Handshake era, the trace context in the HTTP header.
    let client = Client::new(addr, Some(&good));
    assert_eq!(client.initialize().await, 200);
    let call = |tool: &str, id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": {}}})
        .to_string()
    };
    let sent = client
        .post()
        .header("traceparent", traceparent(HEADER_TRACE, HEADER_PARENT))
        .body(call("read_thing", 41))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let (status, _, _) = client.call("fail_thing", json!({})).await;
    assert_eq!(status, 200);
    let (status, _, _) = client.call("write_thing", json!({})).await;
    assert_eq!(status, 403);
    let refused = Client::new(addr, Some(&expired))
        .post()
        .body(call("read_thing", 1))
        .send();
    assert_eq!(refused.await.unwrap().status(), 401);
    let foreign = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("host", "evil.example")
        .header("traceparent", traceparent(GUARD_TRACE, HEADER_PARENT))
        .body(call("read_thing", 2))
        .send();
    assert_eq!(foreign.await.unwrap().status(), 403);

    // 2026-07-28, the trace context in `params._meta` and another in the header.
    let http = reqwest::Client::new();
    let params = json!({"name": "read_thing", "arguments": {},
        "_meta": {"traceparent": traceparent(META_TRACE, META_PARENT)}});
    let url = format!("http://{addr}/mcp");
    let sent = modern::request(
        &http,
        &url,
        &good,
        "application/json",
        json!({}),
        42,
        "tools/call",
        params,
    )
    .header("traceparent", traceparent(OTHER_TRACE, HEADER_PARENT))
    .send()
    .await
    .unwrap();
    assert_eq!(sent.status(), 200);
    // A `traceparent` in `_meta` that is not one is ignored: the header's trace holds the call.
    let params = json!({"name": "read_thing", "arguments": {},
        "_meta": {"traceparent": "00-not-a-trace-01", "tracestate": 7}});
    let sent = modern::request(
        &http,
        &url,
        &good,
        "application/json",
        json!({}),
        43,
        "tools/call",
        params,
    )
    .header("traceparent", traceparent(BAD_META_TRACE, HEADER_PARENT))
    .send()
    .await
    .unwrap();
    assert_eq!(sent.status(), 200);

    // stdio: the trace context comes in `params._meta` alone.
    let identity =
        identity_from_vars("T", [("T_SUBJECT", "alice"), ("T_SCOPES", "things:read")]).unwrap();
    let stdio_server = McpServer::builder("things", "1")
        .tools(tools![read_thing])
        .stdio_only()
        .build()
        .unwrap();
    let mut stdio = StdioClient::serve(stdio_server, identity);
    stdio.initialize(json!({})).await;
    let params = json!({"name": "read_thing", "arguments": {},
        "_meta": {"traceparent": traceparent(STDIO_TRACE, META_PARENT)}});
    let answer = stdio.request(7, "tools/call", params).await;
    assert!(answer.get("result").is_some(), "{answer}");
    stdio.close().await.unwrap();

    tokio::task::spawn_blocking(move || otlp.shutdown())
        .await
        .unwrap()
        .unwrap();
    let records = received(&receiver.out);

    // The header's trace: the server span is its child, named after the tool.
    let calls = spans_named(&records, "tools/call read_thing");
    let legacy = calls
        .iter()
        .find(|s| s["trace_id"] == HEADER_TRACE)
        .unwrap_or_else(|| panic!("no server span in the header's trace: {records:#?}"));
    assert_eq!(legacy["parent_span_id"], HEADER_PARENT);
    assert_eq!(legacy["kind"], "SPAN_KIND_SERVER");
    assert_eq!(legacy["scope"], "mcp-auth-runtime");
    assert_eq!(legacy["resource"]["service.name"], "otlp-test");
    let attributes = &legacy["attributes"];
    assert_eq!(attributes["mcp.method.name"], "tools/call");
    assert_eq!(attributes["gen_ai.tool.name"], "read_thing");
    assert_eq!(attributes["gen_ai.operation.name"], "execute_tool");
    assert_eq!(attributes["jsonrpc.request.id"], "41");
    assert_eq!(attributes["mcp.protocol.version"], "2025-11-25");
    assert_eq!(attributes["network.transport"], "tcp");
    assert_eq!(attributes["http.response.status_code"], 200);
    assert!(attributes.get("error.type").is_none(), "{legacy}");
    let verify = child(&records, legacy, "mcp_auth.verify_token");
    assert!(
        verify["attributes"]["mcp_auth.token_cache.hit"].is_boolean(),
        "{verify}"
    );
    let authorize = child(&records, legacy, "mcp_auth.authorize");
    assert_eq!(authorize["attributes"]["mcp_auth.decision"], "allowed");
    assert_eq!(
        authorize["attributes"]["mcp_auth.required_scopes"],
        "things:read"
    );
    let body = child(&records, legacy, "mcp_auth.tool");
    assert_eq!(body["attributes"]["mcp_auth.target.name"], "read_thing");

    // `isError: true` is a `tool_error`; a scope refusal is its JSON-RPC code.
    let failed = spans_named(&records, "tools/call fail_thing");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attributes"]["error.type"], "tool_error");
    assert_eq!(failed[0]["status"], 2, "ERROR");
    let forbidden = spans_named(&records, "tools/call write_thing");
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0]["attributes"]["error.type"], "-32003");
    let decision = child(&records, forbidden[0], "mcp_auth.authorize");
    assert_eq!(decision["attributes"]["mcp_auth.decision"], "refused");

    // A token refused by the bearer layer: a server span with `error.type`, the check in it.
    let refusals: Vec<_> = spans_named(&records, "POST")
        .into_iter()
        .filter(|s| s["attributes"]["http.response.status_code"] == 401)
        .collect();
    assert_eq!(refusals.len(), 1, "{records:#?}");
    assert_eq!(refusals[0]["kind"], "SPAN_KIND_SERVER");
    assert_eq!(refusals[0]["attributes"]["error.type"], "expired");
    assert_eq!(refusals[0]["status"], 2, "ERROR");
    child(&records, refusals[0], "mcp_auth.verify_token");

    // The Host/Origin guard refuses before the token is read: the span says why.
    let guarded = records
        .iter()
        .find(|s| s["trace_id"] == GUARD_TRACE)
        .expect("a span for the refused Host");
    assert_eq!(guarded["attributes"]["error.type"], "host_or_origin");
    assert_eq!(guarded["attributes"]["http.response.status_code"], 403);
    assert!(children_of(&records, guarded).is_empty());

    // Audit events carry the trace id of their request's server span.
    let audited = audited.lock().unwrap();
    let legacy_event = audited
        .iter()
        .find(|e| e.request_id.as_deref() == Some("41"))
        .expect("an audit event for request 41");
    assert_eq!(legacy_event.trace_id.as_deref(), Some(HEADER_TRACE));
    let modern_event = audited
        .iter()
        .find(|e| e.request_id.as_deref() == Some("42"))
        .expect("an audit event for request 42");
    assert_eq!(modern_event.trace_id.as_deref(), Some(META_TRACE));
    let guard_event = audited
        .iter()
        .find(|e| e.trace_id.as_deref() == Some(GUARD_TRACE))
        .expect("an audit event for the refused Host");
    assert!(guard_event.method.is_none());

    // `params._meta` is the MCP span's parent; the HTTP span (the header's) is linked.
    let modern = calls
        .iter()
        .find(|s| s["trace_id"] == META_TRACE)
        .expect("a server span in the _meta trace");
    assert_eq!(modern["parent_span_id"], META_PARENT);
    assert_eq!(modern["attributes"]["mcp.protocol.version"], "2026-07-28");
    assert_eq!(modern["attributes"]["jsonrpc.request.id"], "42");
    let links = modern["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{modern}");
    assert_eq!(links[0]["trace_id"], OTHER_TRACE);
    let transport = records
        .iter()
        .find(|r| r["span_id"] == links[0]["span_id"])
        .expect("the linked HTTP span is exported");
    assert_eq!(transport["parent_span_id"], HEADER_PARENT);
    child(&records, transport, "mcp_auth.verify_token");
    child(&records, modern, "mcp_auth.tool");

    let unparented = calls
        .iter()
        .find(|s| s["trace_id"] == BAD_META_TRACE)
        .expect("the call in the header's trace");
    assert_eq!(unparented["parent_span_id"], HEADER_PARENT);
    assert_eq!(unparented["attributes"]["jsonrpc.request.id"], "43");
    assert!(unparented["links"].as_array().unwrap().is_empty());

    // stdio: a pipe, the `_meta` parent, no transport span to link.
    let piped = calls
        .iter()
        .find(|s| s["trace_id"] == STDIO_TRACE)
        .expect("a server span in the stdio trace");
    assert_eq!(piped["parent_span_id"], META_PARENT);
    assert_eq!(piped["kind"], "SPAN_KIND_SERVER");
    assert_eq!(piped["attributes"]["network.transport"], "pipe");
    assert_eq!(piped["attributes"]["mcp.protocol.version"], "2025-11-25");
    assert!(piped["links"].as_array().unwrap().is_empty());
    child(&records, piped, "mcp_auth.authorize");
    child(&records, piped, "mcp_auth.tool");
    let initialize = spans_named(&records, "initialize");
    assert!(
        initialize
            .iter()
            .any(|s| s["attributes"]["network.transport"] == "pipe"),
        "{initialize:#?}"
    );

    // The server's metrics, recorded on the exported meter, arrive by name.
    let metric = |name: &str| {
        records
            .iter()
            .find(|r| r["signal"] == "metric" && r["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name} in {records:#?}"))
    };
    let duration = metric("mcp.server.operation.duration");
    assert_eq!(duration["unit"], "s");
    assert_eq!(duration["type"], "histogram");
    assert_eq!(duration["scope"], "mcp-auth-runtime");
    assert_eq!(duration["resource"]["service.name"], "otlp-test");
    assert_eq!(metric("mcp_auth.decisions")["type"], "sum");
    assert_eq!(metric("mcp_auth.token_cache.lookups")["type"], "sum");

    // No token in anything exported, decoded or raw.
    let raw = std::fs::read(receiver.out.with_extension("jsonl.raw")).unwrap();
    let decoded = std::fs::read_to_string(&receiver.out).unwrap();
    for token in [&good, &expired] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!decoded.contains(signature), "a token in the spans");
        assert!(
            !raw.windows(signature.len())
                .any(|w| w == signature.as_bytes()),
            "a token in the export"
        );
    }
}
