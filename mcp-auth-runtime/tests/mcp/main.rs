//! The MCP endpoint over real HTTP, one module per behaviour: JSON-RPC dispatch (`methods`),
//! both eras on one endpoint (`eras`), sessions, streams and cancellation (`streams`),
//! streams closed for polling and resumed (`resumption`), requests for input
//! (`elicitation`, `round_trips`, several at once: `asking`), tasks (`tasks`), refusals in
//! every era and encoding (`refusals`), resources, prompts and subscriptions (`resources`,
//! `prompts`, `subscriptions`), rate limits and call hooks
//! (`limits_and_hooks`), what is refused before authentication (`transport_security`), and
//! attacks with forged tokens and hostile requests (`adversarial`).
//!
//! This file holds the protocol fixture: a server with the tools of
//! `mcp_auth_test_support::tools` and a few of its own, behind the `Users` verifier.

mod adversarial;
mod asking;
mod elicitation;
mod eras;
mod limits_and_hooks;
mod methods;
mod param_headers;
mod prompts;
mod refusals;
mod resources;
mod resumption;
mod round_trips;
mod sessions;
mod streams;
mod subscriptions;
mod tasks;
mod transport_security;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::patch;
use mcp_auth_test_support::tools::{Counter, Users, confirm, count_slowly, echo, with_logs};
use mcp_auth_test_support::{Client, bind_endpoint, serve_on};
use serde_json::{Value, json};

/// Report progress three times, then answer.
#[tool(scope = "t:use")]
async fn with_progress(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    for step in 1..=3 {
        ctx.progress(f64::from(step), Some(3.0), Some(&format!("step {step}")));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(format!(
        "token {}",
        ctx.progress_token()
            .map(Value::to_string)
            .unwrap_or_default()
    ))
}

/// Ask the client's model.
#[tool(scope = "t:use")]
async fn ask_model(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let result = ctx
        .sample(json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": "hi" } }], "maxTokens": 5 }))
        .await?;
    Ok(result["content"]["text"].as_str().unwrap_or("").to_owned())
}

/// Sleep for a second.
#[tool(scope = "t:use")]
async fn sleepy(_ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok("awake".into())
}

struct Server {
    addr: SocketAddr,
    counter: Counter,
    server: McpServer,
}

async fn start(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Server {
    let (listener, addr, resource) = bind_endpoint().await;
    let counter = Counter::default();
    let builder = McpServer::builder("proto", "1.0.0")
        .tools(tools![
            count_slowly,
            with_progress,
            with_logs,
            confirm,
            ask_model,
            sleepy,
            echo
        ])
        .state(counter.clone())
        .verifier(Users)
        .resource(resource);
    let server = configure(builder).build().unwrap();
    serve_on(listener, server.clone().into_router());
    Server {
        addr,
        counter,
        server,
    }
}

impl Server {
    /// A client of `user` with a session open.
    async fn session(&self, user: &str) -> Client {
        let client = Client::new(self.addr, Some(user));
        client.initialize().await;
        client
    }
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}

/// A 2026-07-28 request with the headers that must mirror it, from a client that can answer
/// elicitations.
fn modern(addr: SocketAddr, token: &str, method: &str, params: Value) -> reqwest::RequestBuilder {
    mcp_auth_test_support::modern::request(
        &reqwest::Client::new(),
        &url(addr),
        token,
        "application/json, text/event-stream",
        json!({ "elicitation": {} }),
        7,
        method,
        params,
    )
}

/// A 2026-07-28 `tools/call` of `tool` (JSON-RPC id `id`) by `user-1` from a client that
/// declares no capabilities, with `meta` added to `_meta`; the headers as [`modern`] sets them.
fn modern_bare_call(addr: SocketAddr, tool: &str, id: u64, meta: Value) -> reqwest::RequestBuilder {
    let mut all_meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    patch(&mut all_meta, &meta);
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "_meta": all_meta }
    });
    modern(addr, "user-1", "tools/call", json!({ "name": tool })).body(body.to_string())
}

/// A server of the tools `configure` adds, behind `Users`, for tests that serve it themselves
/// (with `mcp_auth_runtime::serve`, as applications do).
fn unserved(
    name: &str,
    resource: String,
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> McpServer {
    let builder = McpServer::builder(name, "1")
        .state(Counter::default())
        .verifier(Users)
        .resource(resource);
    configure(builder).build().unwrap()
}

/// Sends `request`; returns the status and the body (JSON, or the text as a JSON string).
async fn send_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    json_of(request.send().await.unwrap()).await
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The events of a finished SSE body: (id, data) pairs, and whether a `retry` field came.
fn sse_events(body: &str) -> (Vec<(Option<String>, String)>, bool) {
    let mut events = Vec::new();
    let mut retry = false;
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut id = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            } else if line.starts_with("retry:") {
                retry = true;
            }
        }
        events.push((id, data));
    }
    (events, retry)
}

async fn futures_join<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
