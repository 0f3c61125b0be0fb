//! MCP protocol behaviour over real HTTP: both eras on one endpoint, sessions, streaming,
//! cancellation, requests for input, transport security and pagination.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::tools::{Counter, Users, confirm, count_slowly, echo, with_logs};
use mcp_auth_test_support::{Client, EventReader, bind, serve_on};
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
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
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
        .resource(format!("http://{addr}/mcp"));
    let server = configure(builder).build().unwrap();
    serve_on(listener, server.clone().into_router());
    Server {
        addr,
        counter,
        server,
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

#[tokio::test]
async fn both_eras_are_served_by_one_endpoint() {
    let s = start(|b| b).await;
    // Handshake era.
    let legacy = Client::new(s.addr, Some("user-1"));
    let (status, _, body) = legacy.call("echo.name", json!({ "name": "ada" })).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({ "content": [{ "type": "text", "text": "ada" }] })
    );

    // 2026-07-28: no initialize, no session; resultType and serverInfo on the result.
    let response = modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "echo.name", "arguments": { "name": "ada" } }),
    )
    .send()
    .await
    .unwrap();
    assert!(response.headers().get("mcp-session-id").is_none());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({
            "content": [{ "type": "text", "text": "ada" }],
            "resultType": "complete",
            "_meta": { "io.modelcontextprotocol/serverInfo": { "name": "proto", "version": "1.0.0" } }
        })
    );

    let (status, body) = json_of(
        modern(s.addr, "user-1", "server/discover", json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(
        result["capabilities"],
        json!({ "tools": { "listChanged": false }, "logging": {} })
    );
    assert_eq!(result["ttlMs"], 300_000);
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "proto"
    );

    let (_, body) = json_of(
        modern(s.addr, "user-1", "tools/list", json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["cacheScope"], "private");
    assert_eq!(body["result"]["ttlMs"], 300_000);
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn modern_requests_must_mirror_their_body_in_headers() {
    let s = start(|b| b).await;
    let call = || {
        modern(
            s.addr,
            "user-1",
            "tools/call",
            json!({ "name": "echo.name", "arguments": { "name": "x" } }),
        )
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, i64, &str)> = vec![
        (
            call().header("mcp-protocol-version", "2025-11-25"),
            400,
            -32020,
            "version header differs from _meta",
        ),
        (
            call().header("mcp-method", "tools/list"),
            400,
            -32020,
            "Mcp-Method differs",
        ),
        (
            call().header("mcp-name", "other"),
            400,
            -32020,
            "Mcp-Name differs",
        ),
        (
            modern(
                s.addr,
                "user-1",
                "tools/call",
                json!({ "name": "echo.name", "arguments": { "name": "x" }, "_meta": {} }),
            ),
            200,
            0,
            "the helper fills _meta",
        ),
    ];
    for (request, status, code, why) in cases {
        let (got, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(got, status, "{why}: {body}");
        if code != 0 {
            assert_eq!(body["error"]["code"], code, "{why}");
            assert_eq!(body["id"], 7, "{why}");
        }
    }

    // Headers replaced wholesale, to test their absence.
    let raw = |headers: &[(&str, &str)], meta: Value, method: &str| {
        let mut request = reqwest::Client::new()
            .post(url(s.addr))
            .bearer_auth("user-1")
            .header("content-type", "application/json")
            .header("accept", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(
            json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": { "name": "echo.name", "arguments": { "name": "x" }, "_meta": meta } })
                .to_string(),
        )
    };
    let meta = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} });
    let (status, body) = json_of(
        raw(
            &[("mcp-method", "tools/call"), ("mcp-name", "echo.name")],
            meta.clone(),
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32020)),
        "missing version header"
    );
    let (status, body) = json_of(
        raw(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-name", "echo.name"),
            ],
            meta.clone(),
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32020)),
        "missing Mcp-Method"
    );
    let (status, body) = json_of(
        raw(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ],
            meta.clone(),
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32020)),
        "missing Mcp-Name"
    );

    // The Base64 sentinel form of Mcp-Name is decoded before the comparison.
    let (status, _) = json_of(
        raw(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNoby5uYW1l?="),
            ],
            meta.clone(),
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "base64 Mcp-Name");

    // Unsupported version: 400 with the supported list.
    let future = json!({ "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {} });
    let (status, body) = json_of(
        raw(
            &[
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo.name"),
            ],
            future,
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32022);
    assert_eq!(body["error"]["data"]["requested"], "2099-01-01");
    assert_eq!(body["error"]["data"]["supported"][0], "2026-07-28");

    // Missing client capabilities: malformed, -32602 with 400.
    let no_caps = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
    let (status, body) = json_of(
        raw(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo.name"),
            ],
            no_caps,
            "tools/call",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32602))
    );

    // Unknown methods, and handshake-only methods, are 404 in this era.
    for method in ["resources/list", "ping", "initialize", "logging/setLevel"] {
        let (status, body) = json_of(
            modern(s.addr, "user-1", method, json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!(-32601)),
            "{method}"
        );
    }
}

#[tokio::test]
async fn legacy_sessions_follow_the_transport_rules() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    assert_eq!(client.initialize().await, 200);
    let session = client.session.lock().unwrap().clone().unwrap();
    assert_eq!(session.len(), 43);
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));

    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }).to_string();
    let bare = || {
        reqwest::Client::new()
            .post(url(s.addr))
            .bearer_auth("user-1")
            .header("content-type", "application/json")
            .body(ping.clone())
    };
    assert_eq!(bare().send().await.unwrap().status(), 400, "no session id");
    assert_eq!(
        bare()
            .header("mcp-session-id", "nope")
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "unknown session"
    );
    assert_eq!(
        bare()
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "absent version header: 2025-03-26 assumed"
    );
    assert_eq!(
        bare()
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-03-26")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, body) = json_of(
        bare()
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "1999-01-01")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32022)),
        "unsupported version header"
    );

    // DELETE ends the session; it is then unknown.
    let delete = |id: &str| {
        reqwest::Client::new()
            .delete(url(s.addr))
            .bearer_auth("user-1")
            .header("mcp-session-id", id)
            .send()
    };
    assert_eq!(delete(&session).await.unwrap().status(), 204);
    assert_eq!(
        bare()
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(delete(&session).await.unwrap().status(), 404);
    let no_id = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(no_id.status(), 400);
    let get = reqwest::Client::new()
        .get(url(s.addr))
        .bearer_auth("user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    // A 2026-07-28 client has no session to end.
    let modern_delete = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-1")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-session-id", "anything")
        .send()
        .await
        .unwrap();
    assert_eq!(modern_delete.status(), 405);
}

#[tokio::test]
async fn a_session_presented_with_another_callers_token_is_refused() {
    let s = start(|b| b).await;
    let alice = Client::new(s.addr, Some("user-alice"));
    alice.initialize().await;
    let session = alice.session.lock().unwrap().clone().unwrap();
    let mallory = Client::without_session(s.addr, Some("user-mallory"));
    *mallory.session.lock().unwrap() = Some(session.clone());
    let (status, _, _) = mallory.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 404);
    let ended = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-mallory")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404, "mallory cannot end alice's session");
    let (status, _, _) = alice.call("echo.name", json!({ "name": "x" })).await;
    assert_eq!(status, 200, "alice's session still works");
    // A session never replaces the token.
    let anonymous = Client::without_session(s.addr, None);
    *anonymous.session.lock().unwrap() = Some(session);
    assert_eq!(
        anonymous.call("echo.name", json!({ "name": "x" })).await.0,
        401
    );
}

#[tokio::test]
async fn ten_thousand_sessions_stay_bounded_and_expire() {
    let s = start(|b| {
        b.max_sessions(2_000)
            .session_idle_timeout(Duration::from_millis(300))
    })
    .await;
    let http = reqwest::Client::new();
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }
    })
    .to_string();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for batch in 0..100 {
        let requests = (0..100).map(|i| {
            http.post(url(s.addr))
                .bearer_auth(format!("user-{}", (batch * 100 + i) % 500))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for response in futures_join(requests).await {
            *statuses
                .entry(response.unwrap().status().as_u16())
                .or_default() += 1;
        }
        assert!(
            s.server.open_sessions() <= 2_000,
            "{} sessions",
            s.server.open_sessions()
        );
    }
    assert_eq!(statuses.values().sum::<usize>(), 10_000);
    assert!(statuses[&200] >= 2_000, "{statuses:?}");
    // 500 principals × 64 sessions each would exceed the global bound: the rest wait (503).
    assert_eq!(
        statuses.keys().filter(|k| **k != 200 && **k != 503).count(),
        0,
        "{statuses:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = Client::new(s.addr, Some("user-1"));
    assert_eq!(fresh.initialize().await, 200, "expired sessions made room");
    assert_eq!(s.server.open_sessions(), 1);
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

#[tokio::test]
async fn progress_events_arrive_in_order_before_the_result() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    client.initialize().await;
    let response = client
        .sse_call("with_progress", 5, json!({ "progressToken": "p-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let (events, retry) = sse_events(&response.text().await.unwrap());
    assert!(retry, "the priming event sets a retry interval");
    assert_eq!(events[0].1, "", "the first event primes: an id and no data");
    assert!(events[0].0.is_some());
    let messages: Vec<Value> = events[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let progress: Vec<f64> = messages[..3]
        .iter()
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0]);
    assert!(
        messages[..3]
            .iter()
            .all(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "p-1")
    );
    assert_eq!(messages[0]["params"]["message"], "step 1");
    assert_eq!(messages[3]["id"], 5);
    assert_eq!(messages[3]["result"]["content"][0]["text"], "token \"p-1\"");
    assert_eq!(messages.len(), 4);
    let ids: Vec<_> = events.iter().map(|(id, _)| id.clone().unwrap()).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "event ids are unique");

    // Without a progress token, or without SSE in Accept, the answer is plain JSON.
    let response = client
        .sse_call("with_progress", 6, json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let (_, _, body) = client
        .request(
            "tools/call",
            json!({ "name": "with_progress", "_meta": { "progressToken": 1 } }),
        )
        .await;
    assert_eq!(body["result"]["content"][0]["text"], "token 1");
}

#[tokio::test]
async fn log_messages_respect_the_requested_level() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    client.initialize().await;
    let (_, _, body) = client
        .request("logging/setLevel", json!({ "level": "warning" }))
        .await;
    assert_eq!(body["result"], json!({}));
    let response = client
        .sse_call("with_logs", 2, json!({}))
        .send()
        .await
        .unwrap();
    let (events, _) = sse_events(&response.text().await.unwrap());
    let levels: Vec<Value> = events[1..]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["level"].clone())
        .collect();
    assert_eq!(levels, [json!("warning"), json!("error")]);
    let (_, _, body) = client
        .request("logging/setLevel", json!({ "level": "loud" }))
        .await;
    assert_eq!(body["error"]["code"], -32602);

    // 2026-07-28: no log messages unless the request asks for them.
    let (events, _) = sse_events(
        &modern(
            s.addr,
            "user-1",
            "tools/call",
            json!({ "name": "with_logs" }),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn notifications_cancelled_stops_a_running_tool() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    client.initialize().await;
    let response = client
        .sse_call("count_slowly", 41, json!({ "progressToken": "c" }))
        .send()
        .await
        .unwrap();
    let reader = tokio::spawn(async move { response.text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.counter.0.load(Ordering::SeqCst) > 0);
    let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 41, "reason": "user" } });
    let (status, _, _) = client.send_raw(cancel.to_string()).await;
    assert_eq!(status, 202);
    let body = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .unwrap()
        .unwrap();
    let after_cancel = s.counter.0.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.counter.0.load(Ordering::SeqCst),
        after_cancel,
        "the tool kept running"
    );
    assert!(after_cancel < 100);
    assert!(
        !body.contains("\"result\""),
        "no response for a cancelled request: {body}"
    );
}

#[tokio::test]
async fn closing_a_modern_stream_cancels_the_call() {
    let s = start(|b| b).await;
    let mut request = modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "count_slowly" }),
    );
    // The tool reports progress first, so the answer becomes a stream.
    request = request.body(
        json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": { "name": "count_slowly", "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "progressToken": "p"
            } }
        })
        .to_string(),
    );
    let mut response = request.send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    assert!(
        !String::from_utf8_lossy(&first).starts_with("id:"),
        "no event ids in this era"
    );
    drop(response);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_close = s.counter.0.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.counter.0.load(Ordering::SeqCst),
        after_close,
        "the tool kept running"
    );
}

#[tokio::test]
async fn a_tool_that_overruns_the_call_timeout_is_abandoned() {
    let s = start(|b| b.call_timeout(Duration::from_millis(100))).await;
    let client = Client::new(s.addr, Some("user-1"));
    let started = Instant::now();
    let (status, _, body) = client.call("sleepy", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true);
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not finish")
    );
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn legacy_elicitation_and_sampling_travel_on_the_calls_stream() {
    let s = start(|b| b).await;
    let client = Client::new(s.addr, Some("user-1"));
    client.initialize().await;
    let response = client
        .sse_call("confirm", 3, json!({}))
        .send()
        .await
        .unwrap();
    let mut events = EventReader::new(response);
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "Really?");
    assert_eq!(request["params"]["mode"], "form");
    assert_eq!(
        s.counter.0.load(Ordering::SeqCst),
        0,
        "nothing happens before the answer"
    );
    let answer = json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "action": "accept", "content": { "confirm": true } } });
    let (status, _, _) = client.send_raw(answer.to_string()).await;
    assert_eq!(status, 202);
    let result = events.next().await.unwrap();
    assert_eq!(result["id"], 3);
    assert_eq!(
        result["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);

    let response = client
        .sse_call("ask_model", 4, json!({}))
        .send()
        .await
        .unwrap();
    let mut events = EventReader::new(response);
    let request = events.next().await.unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let answer = json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "role": "assistant", "content": { "type": "text", "text": "hello" }, "model": "m" } });
    client.send_raw(answer.to_string()).await;
    assert_eq!(
        events.next().await.unwrap()["result"]["content"][0]["text"],
        "hello"
    );

    // A client that did not declare elicitation gets a tool error, not a request.
    let plain = Client::without_session(s.addr, Some("user-2"));
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } } });
    let response = reqwest::Client::new()
        .post(url(s.addr))
        .bearer_auth("user-2")
        .header("content-type", "application/json")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    *plain.session.lock().unwrap() = Some(
        response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    let (_, _, body) = plain.call("confirm", json!({})).await;
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["content"][0]["text"],
        "the client does not support elicitation"
    );
}

#[tokio::test]
async fn modern_elicitation_is_a_round_trip_of_retries() {
    let s = start(|b| b).await;
    let (status, body) = json_of(
        modern(s.addr, "user-1", "tools/call", json!({ "name": "confirm" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["resultType"], "input_required");
    let request = &result["inputRequests"]["elicitation-0"];
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "Really?");
    assert!(request.get("id").is_none() && request.get("jsonrpc").is_none());
    let state = result["requestState"].as_str().unwrap().to_owned();
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 0);

    let retry = json!({
        "name": "confirm",
        "inputResponses": { "elicitation-0": { "action": "accept", "content": { "confirm": true } } },
        "requestState": state,
    });
    let (status, body) = json_of(
        modern(s.addr, "user-1", "tools/call", retry)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "Accept {\"confirm\":true}"
    );
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);

    // A client without the capability: -32021 with the capability it lacks.
    let mut request = modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "ask_model" }),
    );
    request = request.body(
        json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": { "name": "ask_model", "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        } } })
        .to_string(),
    );
    let (status, body) = json_of(request.send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32021);
    assert_eq!(
        body["error"]["data"]["requiredCapabilities"],
        json!({ "sampling": {} })
    );
}

#[tokio::test]
async fn dns_rebinding_is_refused_by_host_and_origin() {
    let s = start(|b| b.allowed_origin("https://app.example.com")).await;
    let send = |host: Option<&str>, origin: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(url(s.addr))
            .header("content-type", "application/json")
            .body(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } } }).to_string());
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let port = s.addr.port();
    // Refused before authentication: no token is needed to be turned away.
    assert_eq!(send(Some("evil.example.com"), None).await, 403);
    assert_eq!(
        send(Some(&format!("evil.example.com:{port}")), None).await,
        403
    );
    assert_eq!(send(None, Some("http://evil.example.com")).await, 403);
    assert_eq!(send(None, Some("null")).await, 403);
    // Allowed hosts and origins reach authentication (401 without a token).
    assert_eq!(send(Some(&format!("localhost:{port}")), None).await, 401);
    assert_eq!(send(Some(&format!("127.0.0.1:{port}")), None).await, 401);
    assert_eq!(send(None, Some("http://localhost:6274")).await, 401);
    assert_eq!(send(None, Some("https://app.example.com")).await, 401);
    assert_eq!(
        send(None, Some(&format!("http://127.0.0.1:{port}"))).await,
        401
    );
}

#[tokio::test]
async fn tools_list_pages_with_opaque_cursors() {
    let s = start(|b| b.page_size(3)).await;
    let client = Client::new(s.addr, Some("user-1"));
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let (_, _, body) = client.request("tools/list", params).await;
        pages += 1;
        for tool in body["result"]["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        match body["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        [
            "count_slowly",
            "with_progress",
            "with_logs",
            "confirm",
            "ask_model",
            "sleepy",
            "echo.name"
        ]
    );
    for bad in [
        json!("garbage"),
        json!(""),
        json!(5),
        json!("ZmZmZmZmZmZmZmZmZmZmLjE"),
    ] {
        let (_, _, body) = client.request("tools/list", json!({ "cursor": bad })).await;
        assert_eq!(body["error"]["code"], -32602, "{bad}");
    }
}

#[tokio::test]
async fn stateless_mode_issues_no_sessions() {
    let s = start(|b| b.stateless(true)).await;
    let client = Client::without_session(s.addr, Some("user-1"));
    let init = client.initialize().await;
    assert_eq!(init, 200);
    assert!(client.session.lock().unwrap().is_none());
    let (status, _, body) = client.call("echo.name", json!({ "name": "z" })).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "z");
    let delete = reqwest::Client::new()
        .delete(url(s.addr))
        .bearer_auth("user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
}

#[tokio::test]
async fn subscriptions_listen_acknowledges_and_stays_open() {
    let s = start(|b| b).await;
    let mut response = modern(
        s.addr,
        "user-1",
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true } }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let ack: Value = serde_json::from_str(first.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"], json!({}));
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        7
    );
    let next = tokio::time::timeout(Duration::from_millis(200), response.chunk()).await;
    assert!(next.is_err(), "the stream stays open");
}

#[tokio::test]
async fn sse_round_trips_do_not_wait_for_delayed_acks() {
    // With TCP_NODELAY off, each small SSE write waits for the peer's delayed ACK (~40 ms):
    // 50 streamed calls would take two seconds or more. Served with `McpServer::serve`, they
    // take a few milliseconds each.
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let server = McpServer::builder("latency", "1")
        .tools(tools![with_progress])
        .state(Counter::default())
        .verifier(Users)
        .resource(format!("http://{addr}/mcp"))
        .build()
        .unwrap();
    tokio::spawn(server.serve(listener, std::future::pending()));
    let client = Client::new(addr, Some("user-1"));
    client.initialize().await;
    let started = Instant::now();
    for i in 0..50 {
        let response = client
            .sse_call("with_progress", i, json!({ "progressToken": i }))
            .send()
            .await
            .unwrap();
        let (events, _) = sse_events(&response.text().await.unwrap());
        assert_eq!(events.len(), 5);
    }
    let elapsed = started.elapsed();
    // Each call sleeps 15 ms in the tool itself.
    assert!(
        elapsed < Duration::from_millis(50 * 15 + 1500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn requests_without_the_scope_get_step_up_in_both_eras() {
    let s = start(|b| b).await;
    let (status, _, _) = Client::new(s.addr, Some("reader"))
        .call("echo.name", json!({ "name": "ok" }))
        .await;
    assert_eq!(status, 200, "unscoped tools need only a valid token");
    let (status, challenge, _) = Client::new(s.addr, Some("reader"))
        .call("sleepy", json!({}))
        .await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"t:use\""));
    let response = modern(s.addr, "reader", "tools/call", json!({ "name": "sleepy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let s = start(|b| b).await;
    let response = reqwest::Client::new()
        .post(url(s.addr))
        .header("content-type", "application/json")
        .header("x-padding", "p".repeat(40 * 1024))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_calls_finish() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let server = McpServer::builder("shutdown", "1")
        .tools(tools![sleepy])
        .state(Counter::default())
        .verifier(Users)
        .resource(format!("http://{addr}/mcp"))
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let client = Arc::new(Client::new(addr, Some("user-1")));
    client.initialize().await;
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.call("sleepy", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "awake");
    tokio::time::timeout(Duration::from_secs(2), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reqwest::Client::new().post(url(addr)).send().await.is_err(),
        "the server stopped"
    );
}
