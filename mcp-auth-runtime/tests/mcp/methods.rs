//! The MCP endpoint over real HTTP: JSON-RPC dispatch, scope enforcement, transport errors.
//!
//! Tokens here come from an in-test `TokenVerifier` that maps fixed strings to callers, to
//! isolate dispatch; JWT and introspection verifiers are tested in their own files.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{BuildError, McpServerBuilder};
use mcp_auth_test_support::{Client, bind_endpoint, serve, serve_on};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext<Calls>, invoice_id: String) -> Result<Invoice, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    if invoice_id == "INV-404" {
        return Err(ToolError::new("invoice INV-404 not found"));
    }
    if invoice_id == "INV-500" {
        return Err(ToolError::internal("database password=hunter2 rejected"));
    }
    Ok(Invoice {
        id: invoice_id,
        total_cents: 1200,
    })
}

/// Refund an invoice.
#[tool(scope = ["invoices:write", "payments:write"], destructive)]
async fn refund_invoice(
    ctx: ToolContext<Calls>,
    invoice_id: String,
    amount_cents: u64,
) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("refunded {amount_cents} on {invoice_id}"))
}

/// Say hello.
#[tool(unscoped, title = "Hello")]
async fn hello(name: Option<String>) -> String {
    format!("hello {}", name.as_deref().unwrap_or("world"))
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Invoice {
    id: String,
    total_cents: u64,
}

/// Maps fixed test tokens to callers.
struct TestTokens(HashMap<&'static str, AuthInfo>);

impl TokenVerifier for TestTokens {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.0
            .get(token)
            .cloned()
            .ok_or_else(|| AuthError::InvalidToken("unknown test token".into()))
    }
}

fn verifier() -> TestTokens {
    TestTokens(HashMap::from([
        (
            "reader",
            AuthInfo::new("alice").with_scopes(["invoices:read"]),
        ),
        (
            "writer",
            AuthInfo::new("bob").with_scopes(["invoices:read", "invoices:write"]),
        ),
        (
            "refunder",
            AuthInfo::new("carol").with_scopes(["invoices:write", "payments:write"]),
        ),
    ]))
}

async fn start() -> (std::net::SocketAddr, Calls) {
    let calls = Calls::default();
    let (listener, _, resource) = bind_endpoint().await;
    let server = McpServer::builder("billing", "1.2.3")
        .tools(tools![lookup_invoice, refund_invoice, hello])
        .state(calls.clone())
        .verifier(verifier())
        .resource(resource)
        .build()
        .unwrap();
    (serve_on(listener, server.into_router()), calls)
}

/// A fresh server and a client holding `user`'s token.
async fn started_as(user: &str) -> (Client, Calls) {
    let (addr, calls) = start().await;
    (Client::new(addr, Some(user)), calls)
}

/// Sends `method` with `params`: the answer must be a JSON-RPC invalid-params error.
async fn assert_invalid_params(client: &Client, method: &str, params: Value) {
    let (_, _, body) = client.request(method, params.clone()).await;
    assert_eq!(body["error"]["code"], -32602, "{method} {params}: {body}");
}

#[tokio::test]
async fn initialize_negotiates_the_protocol_version() {
    let (client, _) = started_as("reader").await;
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let (status, _, body) = client
            .request(
                "initialize",
                json!({
                    "protocolVersion": asked,
                    "capabilities": {},
                    "clientInfo": { "name": "test", "version": "0" }
                }),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "protocolVersion": answered,
                    "capabilities": { "tools": { "listChanged": false }, "logging": {} },
                    "serverInfo": { "name": "billing", "version": "1.2.3" }
                }
            })
        );
    }
    let (status, _, body) = client.request("initialize", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602);
}

#[tokio::test]
async fn initialized_notification_and_client_responses_are_accepted() {
    let (client, _) = started_as("reader").await;
    let (status, _, body) = client
        .send_raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    assert_eq!((status, body.as_str()), (202, ""));
    let (status, _, _) = client
        .send_raw(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#)
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn ping_answers_an_empty_result() {
    let (client, _) = started_as("reader").await;
    let (status, _, body) = client.request("ping", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "jsonrpc": "2.0", "id": 1, "result": {} }));
}

#[tokio::test]
async fn tools_list_shows_schemas_annotations_and_scopes() {
    let (client, _) = started_as("reader").await;
    let (status, _, body) = client.request("tools/list", json!({})).await;
    assert_eq!(status, 200);
    let tools = body["result"]["tools"].as_array().unwrap();
    let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lookup_invoice", "refund_invoice", "hello"]);
    assert_eq!(
        tools[0],
        json!({
            "name": "lookup_invoice",
            "description": "Look up an invoice.",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": { "invoice_id": { "type": "string" } },
                "required": ["invoice_id"],
                "additionalProperties": false
            },
            "outputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "total_cents": { "type": "integer", "format": "uint64", "minimum": 0 }
                },
                "required": ["id", "total_cents"]
            },
            "annotations": { "readOnlyHint": true },
            "securitySchemes": [{ "type": "oauth2", "scopes": ["invoices:read"] }],
            "_meta": {
                "securitySchemes": [{ "type": "oauth2", "scopes": ["invoices:read"] }],
                "mcp-auth/scopes": ["invoices:read"]
            }
        })
    );
    assert_eq!(tools[1]["annotations"], json!({ "destructiveHint": true }));
    assert_eq!(
        tools[1]["_meta"]["mcp-auth/scopes"],
        json!(["invoices:write", "payments:write"])
    );
    assert_eq!(tools[2]["title"], "Hello");
    assert_eq!(tools[2]["annotations"], json!({ "title": "Hello" }));
    assert_eq!(tools[2]["_meta"]["mcp-auth/scopes"], json!([]));
    assert_eq!(tools[2]["securitySchemes"], json!([{ "type": "oauth2" }]));
}

#[tokio::test]
async fn tools_list_rejects_a_cursor_it_never_issued() {
    let (client, _) = started_as("reader").await;
    assert_invalid_params(&client, "tools/list", json!({ "cursor": "abc" })).await;
}

#[tokio::test]
async fn structured_tool_returns_structured_content_and_the_same_json_as_text() {
    let (client, calls) = started_as("reader").await;
    let (status, _, body) = client
        .call("lookup_invoice", json!({ "invoice_id": "INV-1" }))
        .await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(
        result["structuredContent"],
        json!({ "id": "INV-1", "total_cents": 1200 })
    );
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        result["structuredContent"]
    );
    assert_eq!(result["content"][0]["type"], "text");
    assert!(result.get("isError").is_none());
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn text_tool_returns_text_content() {
    let (client, _) = started_as("reader").await;
    let (_, _, body) = client.call("hello", json!({ "name": "ada" })).await;
    assert_eq!(
        body["result"],
        json!({ "content": [{ "type": "text", "text": "hello ada" }] })
    );
    // `arguments` may be omitted when every parameter is optional.
    let (_, _, body) = client
        .request("tools/call", json!({ "name": "hello" }))
        .await;
    assert_eq!(body["result"]["content"][0]["text"], "hello world");
}

#[tokio::test]
async fn missing_scope_is_403_with_insufficient_scope_and_the_tool_never_runs() {
    let (addr, calls) = start().await;
    let refund_as = async |user: &str| {
        let args = json!({ "invoice_id": "INV-1", "amount_cents": 5 });
        Client::new(addr, Some(user))
            .call("refund_invoice", args)
            .await
    };
    let (status, challenge, body) = refund_as("writer").await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.unwrap(),
        format!(
            "Bearer realm=\"billing\", resource_metadata=\"http://{addr}/.well-known/oauth-protected-resource/mcp\", \
             error=\"insufficient_scope\", scope=\"invoices:write payments:write\", \
             error_description=\"the request requires higher privileges than provided by the access token\""
        )
    );
    assert_eq!(body["error"]["code"], -32003);
    assert_eq!(
        body["error"]["data"]["requiredScopes"],
        json!(["invoices:write", "payments:write"])
    );
    assert_eq!(body["id"], 1);
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);

    let (status, _, body) = refund_as("refunder").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "refunded 5 on INV-1");
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_arguments_are_a_tool_error_naming_the_argument() {
    let (client, calls) = started_as("refunder").await;
    let (status, _, body) = client
        .call(
            "refund_invoice",
            json!({ "invoice_id": "INV-1", "amount_cents": "five" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true);
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("invalid arguments: `amount_cents`: invalid type: string \"five\""),
        "{text}"
    );

    let (_, _, body) = client
        .call("refund_invoice", json!({ "invoice_id": "INV-1" }))
        .await;
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text, "invalid arguments: missing field `amount_cents`");

    let (_, _, body) = client
        .call(
            "refund_invoice",
            json!({ "invoice_id": "INV-1", "amount_cents": 1, "extra": 1 }),
        )
        .await;
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("invalid arguments: `extra`: unknown field `extra`"),
        "{text}"
    );
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);

    let array_arguments = json!({ "name": "refund_invoice", "arguments": [1] });
    assert_invalid_params(&client, "tools/call", array_arguments).await;
}

#[tokio::test]
async fn tool_failures_reach_the_model_but_internal_causes_do_not() {
    let (client, _) = started_as("reader").await;
    // What the model reads for a failure the tool names, and for one it keeps to itself.
    let answers = [
        ("INV-404", "invoice INV-404 not found"),
        ("INV-500", "internal error"),
    ];
    for (invoice_id, text) in answers {
        let (_, _, body) = client
            .call("lookup_invoice", json!({ "invoice_id": invoice_id }))
            .await;
        assert_eq!(
            body["result"],
            json!({ "content": [{ "type": "text", "text": text }], "isError": true })
        );
    }
}

#[tokio::test]
async fn unknown_tool_and_unknown_method_are_json_rpc_errors() {
    let (client, _) = started_as("reader").await;
    let (status, _, body) = client.call("no_such_tool", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602);
    assert_eq!(body["error"]["message"], "unknown tool: no_such_tool");
    let (status, _, body) = client.request("resources/list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32601);
    assert_invalid_params(&client, "tools/call", json!({ "name": 5 })).await;
}

#[tokio::test]
async fn malformed_json_rpc_is_400_and_changes_nothing() {
    let (client, calls) = started_as("refunder").await;
    // The id is echoed when it could be read, and `null` otherwise (JSON-RPC 2.0 §5).
    for (body, code, id) in [
        ("{not json", -32700, Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            -32600,
            json!(1),
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
            -32600,
            Value::Null,
        ),
        (r#""just a string""#, -32600, Value::Null),
    ] {
        let (status, _, text) = client.send_raw(body).await;
        assert_eq!(status, 400, "{body}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["error"]["code"], code, "{body}");
        assert_eq!(value["id"], id, "{body}");
    }
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_before_any_method() {
    let (addr, _) = start().await;
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    for method in ["initialize", "tools/list", "tools/call", "ping"] {
        let (status, challenge, _) = Client::new(addr, None).request(method, json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(
            challenge.unwrap(),
            format!(
                "Bearer realm=\"billing\", resource_metadata=\"{metadata}\", \
                 scope=\"invoices:read invoices:write payments:write\""
            )
        );
        let (status, challenge, _) = Client::new(addr, Some("forged"))
            .request(method, json!({}))
            .await;
        assert_eq!(status, 401);
        assert_eq!(
            challenge.unwrap(),
            format!(
                "Bearer realm=\"billing\", resource_metadata=\"{metadata}\", error=\"invalid_token\", \
                 error_description=\"the access token is invalid or expired\""
            )
        );
    }
}

#[tokio::test]
async fn transport_errors_have_their_own_status() {
    let (client, _) = started_as("reader").await;
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    // A body the server cannot read, and an answer the client cannot read.
    for (headers, status) in [
        (&[("content-type", "text/plain")][..], 415),
        (
            &[
                ("content-type", "application/json"),
                ("accept", "text/html"),
            ],
            406,
        ),
    ] {
        let mut request = client.http.post(&client.url).bearer_auth("reader");
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(ping).send().await.unwrap();
        assert_eq!(response.status(), status, "{headers:?}");
    }

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, _, _) = client.send_raw(huge).await;
    assert_eq!(status, 413);

    let response = client
        .http
        .get(&client.url)
        .bearer_auth("reader")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST, DELETE");
}

#[test]
fn building_checks_the_configuration() {
    let base = || McpServer::builder("x", "1").tools(tools![hello]);
    // What is wrong, the builder, whether its error is the expected one.
    type Case = (String, McpServerBuilder, fn(&BuildError) -> bool);
    let mut cases: Vec<Case> = vec![
        (
            "a tool twice".into(),
            McpServer::builder("x", "1")
                .tools(tools![hello, hello])
                .without_auth(),
            |e| matches!(e, BuildError::DuplicateTool("hello")),
        ),
        ("no verifier".into(), base(), |e| {
            matches!(e, BuildError::NoVerifier)
        }),
        ("no resource".into(), base().verifier(verifier()), |e| {
            matches!(e, BuildError::MissingResource)
        }),
        (
            "an http authorization server".into(),
            base()
                .resource("https://mcp.example.com/mcp")
                .authorization_server("http://auth.example.com"),
            |e| matches!(e, BuildError::InsecureAuthorizationServer(_)),
        ),
        (
            "an authorization server without a resource".into(),
            base().authorization_server("https://auth.example.com"),
            |e| matches!(e, BuildError::MissingResource),
        ),
        (
            "a relative path".into(),
            base().path("mcp").without_auth(),
            |e| matches!(e, BuildError::InvalidPath(_)),
        ),
    ];
    for resource in [
        "http://mcp.example.com/mcp",
        "https://mcp.example.com/mcp#x",
        "/mcp",
        "mcp.example.com",
    ] {
        cases.push((
            resource.to_owned(),
            base().verifier(verifier()).resource(resource),
            |e| matches!(e, BuildError::InvalidResource(_)),
        ));
    }
    for (what, builder, expected) in cases {
        let err = builder.build().unwrap_err();
        assert!(expected(&err), "{what}: {err}");
    }

    let err = McpServer::builder("x", "1")
        .tools(tools![lookup_invoice])
        .without_auth()
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tool `lookup_invoice` takes `ToolContext<mcp::methods::Calls>` but the server state is `()`: pass the state with `.state(..)`"
    );

    // One authorization server and a resource are enough: a JWT verifier with discovery.
    let server = base()
        .resource("https://mcp.example.com/mcp")
        .authorization_server("https://auth.example.com")
        .build()
        .unwrap();
    assert_eq!(
        server.metadata().unwrap().authorization_servers,
        ["https://auth.example.com"]
    );
}

#[tokio::test]
async fn without_auth_every_caller_holds_every_declared_scope() {
    let server = McpServer::builder("local", "0")
        .tools(tools![refund_invoice, hello])
        .state(Calls::default())
        .without_auth()
        .build()
        .unwrap();
    assert_eq!(
        server.scopes_supported(),
        ["invoices:write", "payments:write"]
    );
    let addr = serve(server.into_router()).await;
    let (status, _, body) = Client::new(addr, None)
        .call(
            "refund_invoice",
            json!({ "invoice_id": "INV-1", "amount_cents": 5 }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "refunded 5 on INV-1");
}
