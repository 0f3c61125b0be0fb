//! The stdio transport: the same server, scopes and dispatcher as over HTTP, with the caller's
//! identity from the environment; each test speaks to a server on an in-memory pipe, line by
//! line, as a client speaks to its subprocess.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_auth_runtime::auth::AuthInfo;
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::stdio::identity_from_vars;
use mcp_auth_runtime::{CallOutcome, McpServerBuilder};
use mcp_auth_test_support::fixture::within;
use mcp_auth_test_support::issuer::protected;
use mcp_auth_test_support::stdio::StdioClient;
use mcp_auth_test_support::tools::{
    Counter, confirm, count_slowly, echo, read_thing, with_logs, write_thing,
};
use mcp_auth_test_support::{Client, serve, serve_on};
use serde_json::{Value, json};

/// The shared tools, for `stdio_only` servers unless a builder is given.
fn builder(counter: &Counter) -> McpServerBuilder {
    McpServer::builder("stdio-test", "0")
        .tools(tools![
            count_slowly,
            with_logs,
            confirm,
            echo,
            read_thing,
            write_thing
        ])
        .state(counter.clone())
}

/// A client of a `stdio_only` server of the shared tools, as a caller granted `scopes`.
fn client(counter: &Counter, scopes: &str) -> StdioClient {
    let server = builder(counter).stdio_only().build().unwrap();
    StdioClient::serve(server, alice(scopes))
}

fn alice(scopes: &str) -> AuthInfo {
    identity_from_vars("T", [("T_SUBJECT", "alice"), ("T_SCOPES", scopes)]).unwrap()
}

/// The error of an answer, asserting it refuses for want of `scope`.
fn assert_insufficient(answer: &Value, scope: &str) {
    assert_eq!(answer["error"]["code"], -32003, "{answer}");
    assert_eq!(answer["error"]["data"]["requiredScopes"], json!([scope]));
}

#[tokio::test]
async fn a_missing_scope_is_refused_with_the_error_of_the_http_403() {
    within(async {
        // Over HTTP: the body of the 403 a token with `things:read` gets for `write_thing`.
        let (listener, tokens, http_builder) = protected("stdio-403").await;
        let addr = listener.local_addr().unwrap();
        serve_on(
            listener,
            http_builder
                .tools(tools![read_thing, write_thing])
                .build()
                .unwrap()
                .into_router(),
        );
        let http = Client::new(addr, Some(&tokens.of("alice", "things:read", 300)));
        let (status, _, over_http) = http.call("write_thing", json!({})).await;
        assert_eq!(status, 403);

        let mut stdio = client(&Counter::default(), "things:read");
        stdio.initialize(json!({})).await;
        let read = stdio.call(1, "read_thing", json!({})).await;
        assert_eq!(read["result"]["content"][0]["text"], "read", "{read}");
        let refused = stdio.call(1, "write_thing", json!({})).await;
        assert_insufficient(&refused, "things:write");
        assert_eq!(refused["error"], over_http["error"]);
        assert_eq!(stdio.close().await.unwrap(), ());
    })
    .await;
}

#[tokio::test]
async fn with_no_scopes_configured_only_unscoped_tools_run_and_are_listed() {
    within(async {
        let counter = Counter::default();
        let server = builder(&counter)
            .stdio_only()
            .filter_tools_by_scope(true)
            .build()
            .unwrap();
        // The environment names the user and grants nothing.
        let identity = identity_from_vars("T", [("T_SUBJECT", "alice")]).unwrap();
        let mut stdio = StdioClient::serve(server, identity);
        stdio.initialize(json!({})).await;
        let listed = stdio.request(1, "tools/list", json!({})).await;
        assert_eq!(
            listed["result"]["tools"],
            json!([listed["result"]["tools"][0]])
        );
        assert_eq!(listed["result"]["tools"][0]["name"], "echo.name");
        let echoed = stdio.call(2, "echo.name", json!({ "name": "hi" })).await;
        assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");
        for (id, tool, scope) in [
            (3, "read_thing", "things:read"),
            (4, "count_slowly", "t:use"),
        ] {
            assert_insufficient(&stdio.call(id, tool, json!({})).await, scope);
        }
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn malformed_lines_get_their_json_rpc_error_and_change_nothing() {
    within(async {
        let mut stdio = client(&Counter::default(), "things:read");
        stdio.initialize(json!({})).await;
        let cases: &[(&str, i64, Value)] = &[
            ("{", -32700, Value::Null),
            ("not json at all", -32700, Value::Null),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                -32600,
                Value::Null,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, -32600, json!(1)),
            (
                r#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#,
                -32600,
                json!(5),
            ),
            (
                r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":[1]}"#,
                -32602,
                json!(6),
            ),
        ];
        for (line, code, id) in cases {
            stdio.send_raw(format!("{line}\n").as_bytes()).await;
            let answer = stdio.recv().await;
            assert_eq!(answer["error"]["code"], *code, "{line}: {answer}");
            assert_eq!(answer["id"], *id, "{line}: {answer}");
        }
        // Blank lines are skipped; the session is as it was.
        stdio.send_raw(b"\n  \r\n").await;
        let read = stdio.call(7, "read_thing", json!({})).await;
        assert_eq!(read["result"]["content"][0]["text"], "read", "{read}");
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_line_longer_than_the_body_limit_is_refused_and_the_next_served() {
    within(async {
        let server = builder(&Counter::default())
            .stdio_only()
            .body_limit(1024)
            .build()
            .unwrap();
        let mut stdio = StdioClient::serve(server, alice(""));
        stdio.initialize(json!({})).await;
        let long = "x".repeat(4096);
        stdio
            .send(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": { "name": "echo.name", "arguments": { "name": long } } }))
            .await;
        let refused = stdio.recv().await;
        assert_eq!(refused["error"]["code"], -32600, "{refused}");
        assert_eq!(refused["id"], Value::Null);
        let echoed = stdio.call(2, "echo.name", json!({ "name": "short" })).await;
        assert_eq!(echoed["result"]["content"][0]["text"], "short", "{echoed}");
        stdio.close().await.unwrap();
    })
    .await;
}

/// `count_slowly` as request `id`, with a progress token; returns once it has started (its
/// first progress notification is read).
async fn start_counting(stdio: &mut StdioClient, id: u64) {
    stdio
        .send(&json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": { "name": "count_slowly", "arguments": {},
                                   "_meta": { "progressToken": "p" } } }))
        .await;
    let progress = stdio.recv().await;
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    assert_eq!(progress["params"]["progressToken"], "p");
}

/// A server of the shared tools whose `on_call` outcomes are recorded.
fn observed(counter: &Counter) -> (StdioClient, Arc<Mutex<Vec<CallOutcome>>>) {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = outcomes.clone();
    let server = builder(counter)
        .stdio_only()
        .on_call(move |event| seen.lock().unwrap().push(event.outcome))
        .build()
        .unwrap();
    (StdioClient::serve(server, alice("t:use")), outcomes)
}

#[tokio::test]
async fn the_end_of_the_input_cancels_running_calls_and_ends_the_server_cleanly() {
    within(async {
        let counter = Counter::default();
        let (mut stdio, outcomes) = observed(&counter);
        stdio.initialize(json!({})).await;
        start_counting(&mut stdio, 1).await;
        assert_eq!(stdio.close().await.unwrap(), ());
        counter
            .assert_stays(Duration::from_millis(100), "the call ended with the input")
            .await;
        assert_eq!(*outcomes.lock().unwrap(), [CallOutcome::Cancelled]);
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_call_stops_and_is_never_answered() {
    within(async {
        let counter = Counter::default();
        let (mut stdio, outcomes) = observed(&counter);
        stdio.initialize(json!({})).await;
        start_counting(&mut stdio, 1).await;
        stdio
            .send(
                &json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
                           "params": { "requestId": 1, "reason": "changed my mind" } }),
            )
            .await;
        stdio.assert_silent(Duration::from_millis(200)).await;
        counter
            .assert_stays(Duration::from_millis(100), "the cancelled call stopped")
            .await;
        assert_eq!(*outcomes.lock().unwrap(), [CallOutcome::Cancelled]);
        let echoed = stdio
            .call(2, "echo.name", json!({ "name": "still here" }))
            .await;
        assert_eq!(echoed["result"]["content"][0]["text"], "still here");
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_tool_asks_the_client_for_input_on_the_same_lines() {
    within(async {
        let counter = Counter::default();
        let mut stdio = client(&counter, "t:use");
        stdio.initialize(json!({ "elicitation": {} })).await;
        stdio
            .send(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": { "name": "confirm", "arguments": {} } }))
            .await;
        let asked = stdio.recv().await;
        assert_eq!(asked["method"], "elicitation/create", "{asked}");
        assert_eq!(asked["params"]["message"], "Really?");
        stdio
            .send(&json!({ "jsonrpc": "2.0", "id": asked["id"],
                           "result": { "action": "accept", "content": { "confirm": true } } }))
            .await;
        let answer = stdio.recv().await;
        assert_eq!(answer["id"], 1);
        assert_eq!(
            answer["result"]["content"][0]["text"], r#"Accept {"confirm":true}"#,
            "{answer}"
        );
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn log_messages_of_a_call_follow_the_level_the_client_set() {
    within(async {
        let mut stdio = client(&Counter::default(), "t:use");
        stdio.initialize(json!({})).await;
        let set = stdio
            .request(1, "logging/setLevel", json!({ "level": "warning" }))
            .await;
        assert_eq!(set["result"], json!({}), "{set}");
        stdio
            .send(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                           "params": { "name": "with_logs", "arguments": {} } }))
            .await;
        let mut levels = Vec::new();
        let result = loop {
            let message = stdio.recv().await;
            match message["method"].as_str() {
                Some("notifications/message") => levels.push(message["params"]["level"].clone()),
                _ => break message,
            }
        };
        assert_eq!(levels, ["warning", "error"]);
        assert_eq!(result["result"]["content"][0]["text"], "logged", "{result}");
        let unknown = stdio
            .request(3, "logging/setLevel", json!({ "level": "loud" }))
            .await;
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
        stdio.close().await.unwrap();
    })
    .await;
}

/// `_meta` of a 2026-07-28 request.
fn modern_meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

#[tokio::test]
async fn the_2026_07_28_era_needs_no_handshake_and_checks_the_same_scopes() {
    within(async {
        let mut stdio = client(&Counter::default(), "things:read");
        let discovered = stdio
            .request(1, "server/discover", json!({ "_meta": modern_meta("2026-07-28") }))
            .await;
        assert!(
            discovered["result"]["supportedVersions"]
                .as_array()
                .unwrap()
                .contains(&json!("2026-07-28")),
            "{discovered}"
        );
        let call = |id: u64, tool: &str| {
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": { "name": tool, "arguments": {}, "_meta": modern_meta("2026-07-28") } })
        };
        stdio.send(&call(2, "read_thing")).await;
        let read = stdio.recv().await;
        assert_eq!(read["result"]["resultType"], "complete", "{read}");
        assert_eq!(read["result"]["content"][0]["text"], "read");
        stdio.send(&call(3, "write_thing")).await;
        assert_insufficient(&stdio.recv().await, "things:write");
        let unsupported = stdio
            .request(4, "tools/list", json!({ "_meta": modern_meta("2099-01-01") }))
            .await;
        assert_eq!(unsupported["error"]["code"], -32022, "{unsupported}");
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn handshake_era_requests_wait_for_initialize_except_ping() {
    within(async {
        let mut stdio = client(&Counter::default(), "things:read");
        let early = stdio.call(1, "read_thing", json!({})).await;
        assert_eq!(early["error"]["code"], -32600, "{early}");
        let ping = stdio.request(2, "ping", json!({})).await;
        assert_eq!(ping["result"], json!({}), "{ping}");
        stdio.initialize(json!({})).await;
        let read = stdio.call(3, "read_thing", json!({})).await;
        assert_eq!(read["result"]["content"][0]["text"], "read", "{read}");
        stdio.close().await.unwrap();
    })
    .await;
}

/// Panic.
#[tool(unscoped)]
async fn panics() -> String {
    panic!("a bug in a tool")
}

#[tokio::test]
async fn a_tool_that_panics_is_answered_with_an_internal_error() {
    within(async {
        let server = McpServer::builder("stdio-test", "0")
            .tools(tools![panics])
            .stdio_only()
            .build()
            .unwrap();
        let mut stdio = StdioClient::serve(server, alice(""));
        stdio.initialize(json!({})).await;
        let answer = stdio.call(1, "panics", json!({})).await;
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
        stdio.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_stdio_only_server_refuses_every_http_request() {
    within(async {
        let server = builder(&Counter::default()).stdio_only().build().unwrap();
        let addr = serve(server.into_router()).await;
        let client = Client::without_session(addr, Some("anything"));
        let (status, _, _) = client.call("echo.name", json!({ "name": "x" })).await;
        assert_eq!(status, 401);
        // Without `stdio_only`, a server with no verifier is still refused at build.
        assert!(builder(&Counter::default()).build().is_err());
    })
    .await;
}

/// The notes of the stdio user, one per id.
#[resource(
    uri_template = "note://{id}",
    scope = "notes:read",
    mime_type = "text/plain"
)]
async fn note(id: u32) -> Result<String, ToolError> {
    match id {
        1 => Ok("buy milk".to_owned()),
        _ => Err(ToolError::NotFound),
    }
}

#[tokio::test]
async fn resources_are_read_with_the_same_scopes_in_both_eras() {
    within(async {
        let serve_with = |scopes: &str| {
            let server = McpServer::builder("stdio-resources", "0")
                .resources(resources![note])
                .stdio_only()
                .build()
                .unwrap();
            StdioClient::serve(server, alice(scopes))
        };
        let mut stdio = serve_with("notes:read");
        stdio.initialize(json!({})).await;
        let read = stdio
            .request(1, "resources/read", json!({ "uri": "note://1" }))
            .await;
        assert_eq!(read["result"]["contents"][0]["text"], "buy milk", "{read}");
        let missing = stdio
            .request(2, "resources/read", json!({ "uri": "note://2" }))
            .await;
        assert_eq!(missing["error"]["code"], -32602, "{missing}");
        assert_eq!(missing["error"]["data"]["uri"], "note://2");
        let modern = stdio
            .request(
                3,
                "resources/read",
                json!({ "uri": "note://1", "_meta": modern_meta("2026-07-28") }),
            )
            .await;
        assert_eq!(modern["result"]["resultType"], "complete", "{modern}");
        assert_eq!(modern["result"]["contents"][0]["text"], "buy milk");
        stdio.close().await.unwrap();

        let mut refused = serve_with("notes:write");
        refused.initialize(json!({})).await;
        for (id, params) in [
            (1, json!({ "uri": "note://1" })),
            (
                2,
                json!({ "uri": "note://1", "_meta": modern_meta("2026-07-28") }),
            ),
        ] {
            let answer = refused.request(id, "resources/read", params).await;
            assert_insufficient(&answer, "notes:read");
        }
        refused.close().await.unwrap();
    })
    .await;
}
