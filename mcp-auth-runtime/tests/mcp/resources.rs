//! Resources and resource templates over real HTTP with JWTs signed by a real issuer's key:
//! listing and paging in both eras, reads of text, binary and templated resources, the
//! SEP-2164 not-found error, scope refusals before the handler runs in both eras and every
//! `Accept`, a wrong `Mcp-Name`, another principal's instance, filtered lists, and what the
//! builder refuses.

use mcp_auth_runtime::__private::{
    CallContext, ReadFuture, ReadRequest, ResourceAnnotations, ResourceDef, ResourceMeta,
    ResourceUri, Role, StateType, context, resource_def,
};
use std::sync::Mutex;

use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_runtime::{BuildError, CallKind, CallOutcome, ResourceContents};
use mcp_auth_test_support::fixture::{time_left_in_window, within};
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::ACCEPTS;

use super::*;

fn meta(uri: ResourceUri, name: &'static str, scopes: &'static [&'static str]) -> ResourceMeta {
    ResourceMeta {
        uri,
        name,
        title: None,
        description: Some("test resource"),
        mime_type: None,
        scopes,
        conditional_scopes: &[],
        annotations: ResourceAnnotations::default(),
        state: None,
    }
}

/// Counts the read in the server's [`Counter`].
fn count(call: CallContext) -> Result<ToolContext<Counter>, ToolError> {
    let ctx = context::<Counter>(call)?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(ctx)
}

fn summary_handler(call: CallContext, read: ReadRequest) -> ReadFuture {
    Box::pin(async move {
        count(call)?;
        Ok(vec![
            ResourceContents::text(read.uri(), r#"{"open":2}"#).with_mime_type("application/json"),
        ])
    })
}

fn logo_handler(call: CallContext, read: ReadRequest) -> ReadFuture {
    Box::pin(async move {
        count(call)?;
        Ok(vec![
            ResourceContents::blob(read.uri(), &[0, 159, 146, 150]).with_mime_type("image/png"),
        ])
    })
}

/// `invoice://{invoice_id}`: alice owns INV-1; anyone else is told it does not exist.
fn invoice_handler(call: CallContext, read: ReadRequest) -> ReadFuture {
    Box::pin(async move {
        let ctx = count(call)?;
        let id = read.variable("invoice_id").unwrap_or_default().to_owned();
        if id != "INV-1" || ctx.auth().subject() != Some("alice") {
            return Err(ToolError::NotFound);
        }
        Ok(vec![ResourceContents::text(
            read.uri(),
            format!("invoice {id}"),
        )])
    })
}

fn summary() -> ResourceDef {
    let mut m = meta(
        ResourceUri::Fixed("billing://tenant/summary"),
        "summary",
        &["invoices:read"],
    );
    m.mime_type = Some("application/json");
    m.title = Some("Summary");
    m.annotations = ResourceAnnotations {
        audience: &[Role::User, Role::Assistant],
        priority: Some(0.5),
    };
    m.state = Some(StateType::of::<Counter>());
    resource_def(m, summary_handler)
}

fn logo() -> ResourceDef {
    let mut m = meta(ResourceUri::Fixed("billing://logo"), "logo", &[]);
    m.state = Some(StateType::of::<Counter>());
    resource_def(m, logo_handler)
}

fn invoice() -> ResourceDef {
    let mut m = meta(
        ResourceUri::Template("invoice://{invoice_id}"),
        "invoice",
        &["invoices:read", "invoices:detail"],
    );
    m.state = Some(StateType::of::<Counter>());
    resource_def(m, invoice_handler)
}

async fn start_resources(
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> (SocketAddr, Tokens, Counter) {
    let (listener, tokens, builder) = protected("resources").await;
    let addr = listener.local_addr().unwrap();
    let counter = Counter::default();
    let builder = builder
        .state(counter.clone())
        .resources([summary(), logo(), invoice()]);
    let server = configure(builder).build().unwrap();
    serve_on(listener, server.into_router());
    (addr, tokens, counter)
}

/// A 2026-07-28 request whose `Mcp-Name` is `name`.
pub(super) fn modern_named(
    addr: SocketAddr,
    token: &str,
    accept: &str,
    method: &str,
    params: Value,
    name: Option<&str>,
) -> reqwest::RequestBuilder {
    let request = mcp_auth_test_support::modern::request(
        &reqwest::Client::new(),
        &url(addr),
        token,
        accept,
        json!({}),
        7,
        method,
        params,
    );
    match name {
        Some(name) => request.header("mcp-name", name),
        None => request,
    }
}

async fn modern_read(addr: SocketAddr, token: &str, accept: &str, uri: &str) -> Reply {
    Reply::of(modern_named(
        addr,
        token,
        accept,
        "resources/read",
        json!({ "uri": uri }),
        Some(uri),
    ))
    .await
}

use mcp_auth_test_support::modern::Reply;

/// A handshake-era request in `client`'s session with `accept`.
pub(super) async fn legacy(client: &Client, accept: &str, method: &str, params: Value) -> Reply {
    let session = client.session.lock().unwrap().clone().unwrap();
    let body = json!({ "jsonrpc": "2.0", "id": 3, "method": method, "params": params });
    let request = client
        .http
        .post(&client.url)
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(client.token.as_deref().unwrap())
        .body(body.to_string());
    Reply::of(request).await
}

pub(super) async fn legacy_client(addr: SocketAddr, token: &str) -> Client {
    let client = Client::new(addr, Some(token));
    assert_eq!(client.initialize().await, 200);
    client
}

#[tokio::test]
async fn lists_carry_scopes_annotations_and_caching_hints_in_both_eras() {
    let (addr, tokens, _) = start_resources(|b| b).await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 300);
    let client = legacy_client(addr, &token).await;
    let (_, _, body) = client.request("resources/list", json!({})).await;
    assert_eq!(
        body["result"],
        json!({ "resources": [
            {
                "uri": "billing://tenant/summary", "name": "summary", "title": "Summary",
                "description": "test resource", "mimeType": "application/json",
                "annotations": { "audience": ["user", "assistant"], "priority": 0.5 },
                "_meta": { "mcp-auth/scopes": ["invoices:read"] }
            },
            {
                "uri": "billing://logo", "name": "logo", "description": "test resource",
                "_meta": { "mcp-auth/scopes": [] }
            }
        ] })
    );
    let (_, _, body) = client.request("resources/templates/list", json!({})).await;
    assert_eq!(
        body["result"],
        json!({ "resourceTemplates": [{
            "uriTemplate": "invoice://{invoice_id}", "name": "invoice",
            "description": "test resource",
            "_meta": { "mcp-auth/scopes": ["invoices:read", "invoices:detail"] }
        }] })
    );

    let reply = Reply::of(modern_named(
        addr,
        &token,
        ACCEPTS[0],
        "resources/templates/list",
        json!({}),
        None,
    ))
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let result = &reply.body["result"];
    assert_eq!(result["resourceTemplates"][0]["name"], "invoice");
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["cacheScope"], "private", "an authenticated server");
    assert!(result["ttlMs"].as_u64().is_some());

    // `scopes_supported` is derived from the resources too.
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    let metadata = mcp_auth_test_support::get_json(&reqwest::Client::new(), metadata).await;
    assert_eq!(
        metadata["scopes_supported"],
        json!(["invoices:detail", "invoices:read"])
    );
}

/// The capabilities an `initialize` answers.
pub(super) async fn initialize_capabilities(addr: SocketAddr, token: &str) -> Value {
    let client = Client::without_session(addr, Some(token));
    let (_, _, body) = client
        .request(
            "initialize",
            json!({ "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": { "name": "t", "version": "0" } }),
        )
        .await;
    body["result"]["capabilities"].clone()
}

/// The server at `addr` advertises `capability` as `expected` in both eras; a server without
/// the primitive advertises it in neither and answers its `methods` with method not found.
pub(super) async fn assert_capability_only_with(
    addr: SocketAddr,
    tokens: &Tokens,
    capability: &str,
    expected: Value,
    methods: &[&str],
) {
    let token = tokens.of("alice", "", 300);
    let capabilities = initialize_capabilities(addr, &token).await;
    assert_eq!(capabilities[capability], expected);
    let reply = Reply::of(modern_named(
        addr,
        &token,
        ACCEPTS[0],
        "server/discover",
        json!({}),
        None,
    ))
    .await;
    assert_eq!(reply.body["result"]["capabilities"][capability], expected);

    let (listener, tokens, builder) = protected("without").await;
    let addr = listener.local_addr().unwrap();
    serve_on(listener, builder.build().unwrap().into_router());
    let token = tokens.of("alice", "", 300);
    let capabilities = initialize_capabilities(addr, &token).await;
    assert_eq!(capabilities.get(capability), None);
    let client = legacy_client(addr, &token).await;
    for method in methods {
        let (_, _, body) = client.request(method, json!({ "name": "x" })).await;
        assert_eq!(body["error"]["code"], -32601, "{method}: {body}");
    }
}

#[tokio::test]
async fn the_capability_is_advertised_only_with_resources() {
    let (addr, tokens, _) = start_resources(|b| b).await;
    let expected = json!({ "subscribe": true, "listChanged": false });
    assert_capability_only_with(addr, &tokens, "resources", expected, &["resources/list"]).await;
}

#[tokio::test]
async fn lists_page_with_opaque_cursors() {
    let (addr, tokens, _) = start_resources(|b| b.page_size(1)).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let client = legacy_client(addr, &token).await;
    let (_, _, first) = client.request("resources/list", json!({})).await;
    assert_eq!(first["result"]["resources"][0]["name"], "summary");
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let (_, _, second) = client
        .request("resources/list", json!({ "cursor": cursor }))
        .await;
    assert_eq!(second["result"]["resources"][0]["name"], "logo");
    assert_eq!(second["result"].get("nextCursor"), None);
    let (_, _, bad) = client
        .request("resources/list", json!({ "cursor": "bm9wZQ" }))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
}

#[tokio::test]
async fn a_cursor_pages_only_the_list_that_gave_it() {
    use mcp_auth_test_support::tools::{read_thing, write_thing};
    let (addr, tokens, _) =
        start_resources(|b| b.page_size(1).tools(tools![read_thing, write_thing])).await;
    let token = tokens.of("alice", "invoices:read things:read", 300);
    let client = legacy_client(addr, &token).await;
    let next = |list: &Value| list["result"]["nextCursor"].as_str().unwrap().to_owned();
    let (_, _, tools) = client.request("tools/list", json!({})).await;
    let (_, _, resources) = client.request("resources/list", json!({})).await;
    let (tools_cursor, resources_cursor) = (next(&tools), next(&resources));
    // Each list takes its own cursor to its second page, and refuses the other's.
    for (method, own, other) in [
        ("tools/list", &tools_cursor, &resources_cursor),
        ("resources/list", &resources_cursor, &tools_cursor),
    ] {
        let (_, _, second) = client.request(method, json!({ "cursor": own })).await;
        assert!(second.get("result").is_some(), "{method}: {second}");
        let (_, _, crossed) = client.request(method, json!({ "cursor": other })).await;
        assert_eq!(crossed["error"]["code"], -32602, "{method}: {crossed}");
    }
    for method in ["resources/templates/list", "prompts/list"] {
        let (_, _, crossed) = client
            .request(method, json!({ "cursor": resources_cursor }))
            .await;
        assert!(crossed.get("result").is_none(), "{method}: {crossed}");
    }
}

#[tokio::test]
async fn reads_return_text_blobs_and_template_instances_in_both_eras() {
    let (addr, tokens, _) = start_resources(|b| b).await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 300);
    let client = legacy_client(addr, &token).await;
    let (status, _, body) = client
        .request(
            "resources/read",
            json!({ "uri": "billing://tenant/summary" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({ "contents": [{
            "uri": "billing://tenant/summary", "mimeType": "application/json",
            "text": "{\"open\":2}"
        }] })
    );
    let (_, _, body) = client
        .request("resources/read", json!({ "uri": "billing://logo" }))
        .await;
    assert_eq!(
        body["result"]["contents"][0],
        json!({ "uri": "billing://logo", "mimeType": "image/png", "blob": "AJ+Slg==" })
    );
    let (_, _, body) = client
        .request("resources/read", json!({ "uri": "invoice://INV%2D1" }))
        .await;
    assert_eq!(body["result"]["contents"][0]["text"], "invoice INV-1");

    for accept in ACCEPTS {
        let reply = modern_read(addr, &token, accept, "invoice://INV-1").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let result = &reply.body["result"];
        assert_eq!(result["contents"][0]["text"], "invoice INV-1");
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["cacheScope"], "private");
        assert_eq!(result["ttlMs"], 0);
    }
}

#[tokio::test]
async fn unknown_uris_and_other_principals_instances_are_not_found() {
    let (addr, tokens, _) = start_resources(|b| b).await;
    let scopes = "invoices:read invoices:detail";
    for (subject, uri) in [
        ("alice", "billing://nothing"),
        ("alice", "invoice://INV-2"),
        ("alice", "invoice://a/b"),
        ("bob", "invoice://INV-1"),
    ] {
        let token = tokens.of(subject, scopes, 300);
        let expected = json!({
            "code": -32602, "message": "Resource not found", "data": { "uri": uri }
        });
        let client = legacy_client(addr, &token).await;
        let (status, _, body) = client
            .request("resources/read", json!({ "uri": uri }))
            .await;
        assert_eq!(
            (status, &body["error"]),
            (200, &expected),
            "{subject} {uri}"
        );
        let reply = modern_read(addr, &token, ACCEPTS[0], uri).await;
        assert_eq!(
            (reply.status, &reply.body["error"]),
            (200, &expected),
            "{subject} {uri}"
        );
    }
}

#[tokio::test]
async fn a_read_without_every_scope_is_refused_before_the_handler_runs() {
    let (addr, tokens, reads) = start_resources(|b| b).await;
    // Holds one of the template's two scopes.
    let token = tokens.of("alice", "invoices:read", 300);

    for accept in ACCEPTS {
        let reply = modern_read(addr, &token, accept, "invoice://INV-1").await;
        reply.assert_insufficient_scope("invoices:read invoices:detail");
        assert_eq!(reply.body["error"]["code"], -32003, "{reply:?}");
        let client = legacy_client(addr, &token).await;
        let reply = legacy(
            &client,
            accept,
            "resources/read",
            json!({ "uri": "invoice://INV-1" }),
        )
        .await;
        reply.assert_insufficient_scope("invoices:read invoices:detail");
    }
    // No scope at all: the fixed resource is refused too.
    let reply = modern_read(
        addr,
        &tokens.of("alice", "", 300),
        ACCEPTS[0],
        "billing://tenant/summary",
    )
    .await;
    reply.assert_insufficient_scope("invoices:read");
    assert_eq!(reads.0.load(Ordering::SeqCst), 0, "no handler ran");
    // The same token reads what it holds the scope of.
    let reply = modern_read(addr, &token, ACCEPTS[0], "billing://tenant/summary").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reads.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_mcp_name_header_must_carry_the_uri() {
    let (addr, tokens, _) = start_resources(|b| b).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let params = json!({ "uri": "billing://tenant/summary" });
    for name in [Some("billing://logo"), Some("summary"), None] {
        let reply = Reply::of(modern_named(
            addr,
            &token,
            ACCEPTS[0],
            "resources/read",
            params.clone(),
            name,
        ))
        .await;
        assert_eq!(reply.status, 400, "{name:?}: {reply:?}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Header mismatch"),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn filtered_lists_show_only_what_the_caller_may_read() {
    let (addr, tokens, _) = start_resources(|b| b.filter_tools_by_scope(true)).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let reply = Reply::of(modern_named(
        addr,
        &token,
        ACCEPTS[1],
        "resources/list",
        json!({}),
        None,
    ))
    .await;
    let names: Vec<&str> = reply.body["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["summary", "logo"]);
    assert_eq!(reply.body["result"]["cacheScope"], "private");
    let client = legacy_client(addr, &token).await;
    let (_, _, body) = client.request("resources/templates/list", json!({})).await;
    assert_eq!(body["result"]["resourceTemplates"], json!([]));
    let client = legacy_client(addr, &tokens.of("alice", "", 300)).await;
    let (_, _, body) = client.request("resources/list", json!({})).await;
    assert_eq!(body["result"]["resources"][0]["name"], "logo");
    assert_eq!(body["result"]["resources"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_builder_refuses_uris_served_twice_and_invalid_ones() {
    let build = |defs: Vec<ResourceDef>| {
        McpServer::builder("r", "1")
            .without_auth()
            .resources(defs)
            .build()
            .map(|_| ())
    };
    let fixed =
        |uri: &'static str| resource_def(meta(ResourceUri::Fixed(uri), "f", &[]), summary_handler);
    let template = |uri: &'static str| {
        resource_def(meta(ResourceUri::Template(uri), "t", &[]), summary_handler)
    };
    assert!(build(vec![fixed("a://x"), template("a://{x}/y")]).is_ok());
    let server = McpServer::builder("r", "1")
        .without_auth()
        .state(Counter::default())
        .resources([summary(), invoice()])
        .build()
        .unwrap();
    assert_eq!(server.resources().len(), 2);
    assert_eq!(
        server.scopes_supported(),
        ["invoices:detail", "invoices:read"]
    );
    assert!(matches!(
        build(vec![fixed("a://x"), fixed("a://x")]),
        Err(BuildError::DuplicateResource(uri)) if uri == "a://x"
    ));
    assert!(matches!(
        build(vec![template("a://{id}"), fixed("a://x")]),
        Err(BuildError::OverlappingResources {
            first: "a://{id}",
            second: "a://x"
        })
    ));
    assert!(matches!(
        build(vec![template("a://{id}"), template("a://INV-{n}")]),
        Err(BuildError::OverlappingResources { .. })
    ));
    assert!(matches!(
        build(vec![summary()]),
        Err(BuildError::ResourceStateMismatch {
            resource: "summary",
            ..
        })
    ));
    for bad in [template("a://{+id}"), template("a://x"), fixed("no scheme")] {
        assert!(
            matches!(build(vec![bad]), Err(BuildError::InvalidResourceUri { .. })),
            "invalid"
        );
    }
}

/// Echoes the `name` variable it was handed.
fn name_handler(_call: CallContext, read: ReadRequest) -> ReadFuture {
    Box::pin(async move {
        let name = read.variable("name").unwrap_or_default().to_owned();
        Ok(vec![ResourceContents::text(
            read.uri(),
            format!("name={name}"),
        )])
    })
}

/// A template under a weaker scope is never handed a path: `%2F` (and `?`, `#`, `\`, control
/// characters, `.`, `..`) in a variable's value is not found, so `doc://{name}` under
/// `docs:read` cannot serve `doc://admin/secret`, which needs `docs:admin`, nor a traversal.
#[tokio::test]
async fn an_encoded_slash_never_reaches_a_template_under_a_weaker_scope() {
    let (listener, tokens, builder) = protected("resources").await;
    let addr = listener.local_addr().unwrap();
    let server = builder
        .resources([
            resource_def(
                meta(
                    ResourceUri::Fixed("doc://admin/secret"),
                    "secret",
                    &["docs:admin"],
                ),
                name_handler,
            ),
            resource_def(
                meta(ResourceUri::Template("doc://{name}"), "doc", &["docs:read"]),
                name_handler,
            ),
        ])
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    let token = tokens.of("mallory", "docs:read", 300);
    for accept in ACCEPTS {
        let reply = modern_read(addr, &token, accept, "doc://admin/secret").await;
        assert_eq!(reply.status, 403, "{reply:?}");
        for uri in [
            "doc://admin%2Fsecret",
            "doc://..%2F..%2Fetc%2Fpasswd%00",
            "doc://a%0Ab",
            "doc://%2E%2E",
        ] {
            let reply = modern_read(addr, &token, accept, uri).await;
            assert_eq!(reply.status, 200, "{uri}: {reply:?}");
            assert_eq!(reply.body["error"]["code"], -32602, "{uri}: {reply:?}");
            assert_eq!(reply.body["error"]["data"]["uri"], uri, "{reply:?}");
        }
        let reply = modern_read(addr, &token, accept, "doc://readme").await;
        assert_eq!(reply.body["result"]["contents"][0]["text"], "name=readme");
    }
    // The handshake era resolves through the same matcher: the same refusals.
    let client = legacy_client(addr, &token).await;
    for accept in ACCEPTS {
        let read = |uri: &str| legacy(&client, accept, "resources/read", json!({ "uri": uri }));
        assert_eq!(read("doc://admin/secret").await.status, 403);
        for uri in ["doc://admin%2Fsecret", "doc://..%2F..%2Fetc%2Fpasswd%00"] {
            let reply = read(uri).await;
            assert_eq!(reply.body["error"]["code"], -32602, "{uri}: {reply:?}");
        }
    }
}

/// What the `on_call` hook saw of one event.
type SeenRead = (CallKind, &'static str, Option<String>, String, CallOutcome);

#[tokio::test]
async fn the_call_hook_sees_every_read_of_a_served_uri_and_its_outcome() {
    within(async {
        let seen: Arc<Mutex<Vec<SeenRead>>> = Arc::default();
        let record = seen.clone();
        let hook = move |event: &mcp_auth_runtime::CallEvent<'_>| {
            record.lock().unwrap().push((
                event.kind,
                event.name,
                event.uri.map(str::to_owned),
                event.auth.subject().unwrap_or("").to_owned(),
                event.outcome,
            ));
        };
        let (addr, tokens, _) = start_resources(|b| {
            b.on_call(hook)
                .rate_limits(RateLimits::local().requests(Quota::per_minute(4)))
        })
        .await;
        time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
        let both = tokens.of("alice", "invoices:read invoices:detail", 300);
        let narrow = tokens.of("bob", "invoices:read", 300);
        let accept = ACCEPTS[1];
        assert_eq!(
            modern_read(addr, &both, accept, "invoice://INV-1")
                .await
                .status,
            200
        );
        modern_read(addr, &both, accept, "invoice://INV-2").await; // the handler: not found
        modern_read(addr, &both, accept, "billing://nothing").await; // no resource: no event
        modern_read(addr, &narrow, accept, "invoice://INV-1")
            .await
            .assert_insufficient_scope("invoices:read invoices:detail");
        modern_read(addr, &both, accept, "billing://tenant/summary").await;
        // alice's fifth request of the minute is over her budget.
        let limited = modern_read(addr, &both, accept, "billing://tenant/summary").await;
        assert_eq!(limited.status, 429);

        let seen = seen.lock().unwrap().clone();
        let read = |name, uri: &str, who: &str, outcome| {
            (
                CallKind::ResourceRead,
                name,
                Some(uri.to_owned()),
                who.to_owned(),
                outcome,
            )
        };
        assert_eq!(
            seen,
            [
                read(
                    "invoice",
                    "invoice://INV-1",
                    "alice",
                    CallOutcome::Completed
                ),
                read("invoice", "invoice://INV-2", "alice", CallOutcome::NotFound),
                read("invoice", "invoice://INV-1", "bob", CallOutcome::Forbidden),
                read(
                    "summary",
                    "billing://tenant/summary",
                    "alice",
                    CallOutcome::Completed
                ),
                read(
                    "summary",
                    "billing://tenant/summary",
                    "alice",
                    CallOutcome::RateLimited
                ),
            ]
        );
    })
    .await;
}
