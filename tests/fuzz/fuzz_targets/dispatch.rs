//! Whole requests through a real `McpServer` router (transport, era detection, header
//! mirroring, sessions, dispatch, tools), in process, without sockets.
//!
//! The first input byte chooses the server (stateful or stateless), the `Accept` header, the
//! era headers and whether the open session's id is sent; the rest is the body. The headers
//! of the 2026-07-28 era are copied from the body when it parses, so that mutations of valid
//! envelopes (see `seeds/dispatch`) get past the mirroring checks into dispatch.
//!
//! Properties: no panic and no `5xx` other than `503`; JSON answers are JSON; the tool that
//! needs a scope the caller lacks never runs.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use http::{Request, header};
use libfuzzer_sys::fuzz_target;
use mcp_auth_runtime::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Echo a text.
#[tool(unscoped)]
async fn echo(text: String, times: Option<u8>) -> String {
    text.repeat(usize::from(times.unwrap_or(1) % 4))
}

/// Add two numbers, reporting progress and a log message.
#[tool(scope = "calc:use", read_only)]
async fn add(ctx: ToolContext, a: i64, b: i64) -> Result<String, ToolError> {
    ctx.progress(1.0, Some(2.0), Some("adding"));
    ctx.log(mcp_auth_runtime::LogLevel::Info, json!({ "a": a, "b": b }));
    Ok(a.wrapping_add(b).to_string())
}

/// Ask the user first.
#[tool(scope = "calc:use")]
async fn confirm(ctx: ToolContext, question: Option<String>) -> Result<String, ToolError> {
    let schema = json!({ "type": "object", "properties": { "ok": { "type": "boolean" } } });
    let answer = ctx
        .elicit(question.as_deref().unwrap_or("sure?"), schema)
        .await?;
    Ok(format!("{:?}", answer.action))
}

/// Needs a scope the fuzzing caller never holds.
#[tool(scope = "admin:write", destructive)]
async fn wipe(_ctx: ToolContext) -> Result<String, ToolError> {
    panic!("a tool ran without its scope")
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    stateless: Router,
    stateful: Router,
    session: String,
}

fn server(stateless: bool) -> Router {
    McpServer::builder("fuzz", "0.0.0")
        .tools(tools![echo, add, confirm, wipe])
        .without_auth_as(AuthInfo::new("fuzzer").with_scopes(["calc:use"]))
        .stateless(stateless)
        .call_timeout(Duration::from_secs(1))
        .page_size(2)
        .build()
        .expect("a valid server")
        .into_router()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stateful = server(false);
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": { "name": "fuzz", "version": "0" } }
        });
        let response = runtime.block_on(
            stateful.clone().oneshot(
                Request::post("/mcp")
                    .header(header::HOST, "localhost")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(axum::body::Body::from(initialize.to_string()))
                    .unwrap(),
            ),
        );
        let session = response.unwrap().headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        Fixture {
            runtime,
            stateless: server(true),
            stateful,
            session,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let mut request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json");
    request = match flags & 3 {
        0 => request.header(header::ACCEPT, "application/json"),
        1 => request.header(header::ACCEPT, "text/event-stream"),
        2 => request.header(header::ACCEPT, "application/json, text/event-stream"),
        _ => request,
    };
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if flags & 4 != 0 {
        request = request.header("mcp-protocol-version", "2026-07-28");
        let method = parsed.as_ref().and_then(|v| v["method"].as_str());
        if let Some(method) = method.filter(|m| http::HeaderValue::from_str(m).is_ok()) {
            request = request.header("mcp-method", method);
        }
        let name = parsed.as_ref().and_then(|v| v["params"]["name"].as_str());
        if let Some(name) = name.filter(|n| http::HeaderValue::from_str(n).is_ok()) {
            request = request.header("mcp-name", name);
        }
    } else if flags & 32 != 0 {
        request = request.header("mcp-protocol-version", "2025-11-25");
    }
    let stateful = flags & 16 != 0;
    if stateful && flags & 8 != 0 {
        request = request.header("mcp-session-id", &fixture.session);
    }
    let router = if stateful {
        fixture.stateful.clone()
    } else {
        fixture.stateless.clone()
    };
    let request = request.body(axum::body::Body::from(body.to_vec())).unwrap();
    fixture.runtime.block_on(async move {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        assert!(
            !status.is_server_error() || status.as_u16() == 503,
            "status {status}"
        );
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == "application/json");
        if json {
            let body = axum::body::to_bytes(response.into_body(), 16 << 20)
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&body).expect("JSON answers are JSON");
        }
        // A stream (progress, `subscriptions/listen`) is dropped unread, as a client that
        // goes away would.
    });
});
