//! Tool parameters mirrored in `Mcp-Param-*` headers (SEP-2243) over real HTTP: what
//! `tools/list` publishes, calls whose headers agree with the body, every way of making them
//! differ refused with `400` and `HeaderMismatch` before the tool runs, in both eras; and the
//! per-tool `securitySchemes` (SEP-1488) of `tools/list`, in both eras.

use super::*;

/// Run a query in a region.
#[tool(scope = "t:use")]
async fn run_query(
    ctx: ToolContext<Counter>,
    /// Where the query runs.
    #[arg(header = "Region")]
    region: String,
    /// How many rows.
    #[arg(header = "Count")]
    count: Option<i64>,
    #[arg(header = "Dry")] dry: Option<bool>,
    query: String,
) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{query} in {region} ({count:?}, {dry:?})"))
}

/// An `Args<T>` input whose field is mirrored through schemars: checked as a macro one is.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct TenantInput {
    #[schemars(extend("x-mcp-header" = "Tenant"))]
    tenant: String,
}

/// Act for a tenant.
#[tool(scope = "t:use", may_require = "t:admin")]
async fn for_tenant(
    ctx: ToolContext<Counter>,
    Args(input): Args<TenantInput>,
) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(input.tenant)
}

/// Mirrors a field below a `$ref`, which clients cannot see.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Hidden {
    inner: Inner,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Inner {
    #[schemars(extend("x-mcp-header" = "Inner"))]
    value: String,
}

/// Unreachable header.
#[tool(unscoped)]
async fn hidden_header(Args(input): Args<Hidden>) -> String {
    input.inner.value
}

async fn started() -> Server {
    start(|b| b.tools(tools![run_query, for_tenant])).await
}

fn run_query_call(addr: SocketAddr, arguments: Value) -> reqwest::RequestBuilder {
    modern(
        addr,
        "user-1",
        "tools/call",
        json!({ "name": "run_query", "arguments": arguments }),
    )
}

/// The expected `tools/list` entry of `run_query`.
fn run_query_entry() -> Value {
    json!({
        "name": "run_query",
        "description": "Run a query in a region.",
        "inputSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "region": { "type": "string", "description": "Where the query runs.", "x-mcp-header": "Region" },
                "count": { "type": "integer", "format": "int64", "description": "How many rows.", "x-mcp-header": "Count" },
                "dry": { "type": "boolean", "x-mcp-header": "Dry" },
                "query": { "type": "string" }
            },
            "required": ["region", "query"],
            "additionalProperties": false
        },
        "securitySchemes": [{ "type": "oauth2", "scopes": ["t:use"] }],
        "_meta": {
            "securitySchemes": [{ "type": "oauth2", "scopes": ["t:use"] }],
            "mcp-auth/scopes": ["t:use"]
        }
    })
}

#[tokio::test]
async fn tools_list_publishes_headers_and_security_schemes_in_both_eras() {
    let s = started().await;
    let legacy = s.session("user-1").await;
    let (status, _, body) = legacy.request("tools/list", json!({})).await;
    assert_eq!(status, 200);
    let (status, modern_body) = send_json(modern(s.addr, "user-1", "tools/list", json!({}))).await;
    assert_eq!(status, 200);
    for body in [body, modern_body] {
        let tools = body["result"]["tools"].as_array().unwrap().clone();
        let find = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap().clone();
        assert_eq!(find("run_query"), run_query_entry());
        let tenant = find("for_tenant");
        assert_eq!(
            tenant["inputSchema"]["properties"]["tenant"]["x-mcp-header"],
            "Tenant"
        );
        // The conditional scopes follow the static ones: a client signing in once for the
        // tool asks for every scope a call of it may need.
        let schemes = json!([{ "type": "oauth2", "scopes": ["t:use", "t:admin"] }]);
        assert_eq!(tenant["securitySchemes"], schemes);
        assert_eq!(tenant["_meta"]["securitySchemes"], schemes);
        // An unscoped tool still needs a token on a server with a verifier.
        let echo = find("echo.name");
        assert_eq!(echo["securitySchemes"], json!([{ "type": "oauth2" }]));
        assert_eq!(
            echo["_meta"]["securitySchemes"],
            json!([{ "type": "oauth2" }])
        );
    }
}

#[tokio::test]
async fn a_server_without_authentication_declares_every_tool_noauth() {
    let (listener, addr, resource) = bind_endpoint().await;
    let server = McpServer::builder("open", "1")
        .tools(tools![run_query, echo])
        .state(Counter::default())
        .resource(resource)
        .without_auth()
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    let (status, body) = send_json(modern(addr, "anyone", "tools/list", json!({}))).await;
    assert_eq!(status, 200);
    for tool in body["result"]["tools"].as_array().unwrap() {
        assert_eq!(
            tool["securitySchemes"],
            json!([{ "type": "noauth" }]),
            "{tool}"
        );
        assert_eq!(
            tool["_meta"]["securitySchemes"],
            json!([{ "type": "noauth" }]),
            "{tool}"
        );
    }
}

#[tokio::test]
async fn headers_that_agree_with_the_body_let_the_call_through() {
    let s = started().await;
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (
            vec![("Mcp-Param-Region", "us-west1")],
            json!({ "region": "us-west1", "query": "q" }),
        ),
        // Header names are case-insensitive.
        (
            vec![("mcp-param-region", "us-west1"), ("MCP-PARAM-COUNT", "42")],
            json!({ "region": "us-west1", "query": "q", "count": 42 }),
        ),
        (
            vec![
                ("Mcp-Param-Region", "=?base64?5pel5pys6Kqe?="),
                ("Mcp-Param-Dry", "true"),
            ],
            json!({ "region": "日本語", "query": "q", "dry": true }),
        ),
        (
            vec![("Mcp-Param-Region", "=?base64?IHVzLXdlc3QxIA==?=")],
            json!({ "region": " us-west1 ", "query": "q", "count": null }),
        ),
    ];
    for (headers, arguments) in cases {
        let mut request = run_query_call(s.addr, arguments.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let (status, body) = send_json(request).await;
        assert_eq!(status, 200, "{arguments}: {body}");
        assert!(body["result"]["content"].is_array(), "{arguments}: {body}");
    }
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn every_way_of_making_header_and_body_differ_is_refused_before_the_tool_runs() {
    let s = started().await;
    let body = json!({ "region": "us-west1", "query": "q" });
    // (why, header name and raw value pairs, the call's arguments)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, Value);
    let cases: Vec<Case<'_>> = vec![
        (
            "another value",
            vec![("Mcp-Param-Region", b"eu-west1")],
            body.clone(),
        ),
        (
            "another case",
            vec![("Mcp-Param-Region", b"US-WEST1")],
            body.clone(),
        ),
        ("header missing", vec![], body.clone()),
        (
            "the header twice",
            vec![
                ("Mcp-Param-Region", b"us-west1"),
                ("mcp-param-region", b"us-west1"),
            ],
            body.clone(),
        ),
        (
            "a header the tool does not declare",
            vec![("Mcp-Param-Region", b"us-west1"), ("Mcp-Param-Zone", b"a")],
            body.clone(),
        ),
        (
            // Some proxies read `_` as `-`: a look-alike name is not the declared header.
            "a look-alike header name",
            vec![
                ("Mcp-Param-Region", b"us-west1"),
                ("Mcp-Param_Region", b"eu-west1"),
            ],
            body.clone(),
        ),
        (
            "Base64 without padding",
            vec![("Mcp-Param-Region", b"=?base64?dXMtd2VzdDE?=")],
            body.clone(),
        ),
        (
            "Base64 outside its alphabet",
            vec![("Mcp-Param-Region", b"=?base64?dXMt!!!d2VzdDE=?=")],
            body.clone(),
        ),
        (
            "raw non-ASCII bytes",
            vec![("Mcp-Param-Region", "us-w\u{e9}st1".as_bytes())],
            json!({ "region": "us-w\u{e9}st1", "query": "q" }),
        ),
        (
            // HTTP strips the spaces around a field value: a client must Base64-encode them.
            "spaces the header cannot carry",
            vec![("Mcp-Param-Region", b" us-west1 ")],
            json!({ "region": " us-west1 ", "query": "q" }),
        ),
        (
            "a header without a body value",
            vec![("Mcp-Param-Region", b"us-west1"), ("Mcp-Param-Count", b"1")],
            body.clone(),
        ),
        (
            "a header for a null body value",
            vec![
                ("Mcp-Param-Region", b"us-west1"),
                ("Mcp-Param-Dry", b"false"),
            ],
            json!({ "region": "us-west1", "query": "q", "dry": null }),
        ),
        (
            "an integer in another form",
            vec![
                ("Mcp-Param-Region", b"us-west1"),
                ("Mcp-Param-Count", b"42.0"),
            ],
            json!({ "region": "us-west1", "query": "q", "count": 42 }),
        ),
        (
            "a boolean in another case",
            vec![
                ("Mcp-Param-Region", b"us-west1"),
                ("Mcp-Param-Dry", b"TRUE"),
            ],
            json!({ "region": "us-west1", "query": "q", "dry": true }),
        ),
    ];
    for (why, headers, arguments) in cases {
        let mut request = run_query_call(s.addr, arguments);
        for (name, value) in headers {
            request = request.header(
                name,
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let (status, body) = send_json(request).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["error"]["code"], -32020, "{why}: {body}");
        assert_eq!(body["id"], 7, "{why}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Header mismatch: "),
            "{why}: {body}"
        );
    }
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 0, "no refused call ran");
}

#[tokio::test]
async fn an_args_input_mirrored_through_schemars_is_checked_too() {
    let s = started().await;
    let call = |tenant: &str| {
        modern(
            s.addr,
            "user-1",
            "tools/call",
            json!({ "name": "for_tenant", "arguments": { "tenant": "acme" } }),
        )
        .header("Mcp-Param-Tenant", tenant)
    };
    let (status, body) = send_json(call("acme")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send_json(call("other")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32020))
    );
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_handshake_era_call_is_checked_on_the_headers_it_sends() {
    let s = started().await;
    let client = s.session("user-1").await;
    // Handshake-era clients mirror nothing: no header is no mismatch.
    let (status, _, body) = client
        .call("run_query", json!({ "region": "us-west1", "query": "q" }))
        .await;
    assert_eq!(status, 200, "{body}");
    for (name, value) in [("Mcp-Param-Region", "eu-west1"), ("Mcp-Param-Zone", "x")] {
        let response = client
            .post()
            .header(name, value)
            .body(
                json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                    "params": { "name": "run_query", "arguments": { "region": "us-west1", "query": "q" } } })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"]["code"], -32020, "{name}: {body}");
    }
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 1);
}

#[test]
fn a_header_clients_cannot_see_is_refused_when_the_server_is_built() {
    let err = McpServer::builder("x", "1")
        .tools(tools![hidden_header])
        .without_auth()
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("tool `hidden_header`: `x-mcp-header` on property `inner.value`")
            || message.contains("through `properties` alone"),
        "{message}"
    );
}

/// A query in a region, which older clients called a zone: serde takes either name, the
/// schema (and so the header check) knows only `region`. (`#[serde(alias)]` on a plain
/// parameter with `#[arg(header)]` does not compile; an `Args<T>` type can hide one.)
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ZonedInput {
    #[schemars(extend("x-mcp-header" = "Region"))]
    #[serde(alias = "zone")]
    region: String,
    query: String,
}

/// Run a query in a region.
#[tool(scope = "t:use")]
async fn zoned_query(
    ctx: ToolContext<Counter>,
    Args(input): Args<ZonedInput>,
) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{} in {}", input.query, input.region))
}

#[tokio::test]
async fn a_mirrored_parameter_reached_under_another_name_still_needs_its_header() {
    let s = start(|b| b.tools(tools![zoned_query])).await;
    // The tool acts in `eu-west1`; a gateway reading `Mcp-Param-Region` sees no region at all.
    let request = modern(
        s.addr,
        "user-1",
        "tools/call",
        json!({ "name": "zoned_query", "arguments": { "zone": "eu-west1", "query": "q" } }),
    );
    let (status, body) = send_json(request).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32020, "{body}");
    assert_eq!(s.counter.0.load(Ordering::SeqCst), 0);
}
