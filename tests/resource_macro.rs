//! What `#[resource]` generates: descriptors, the contents of each result type, template
//! variables bound and parsed, and the scope guard inside the function; then the same
//! resources read over real HTTP with signed tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::resource::ResourceUri;
use mcp_auth_test_support::issuer::protected;
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use mcp_auth_test_support::{Client, serve_on};
use serde_json::{Value, json};

/// Counts the reads that reached a function body.
#[derive(Clone, Default)]
struct Billing {
    reads: Arc<AtomicUsize>,
}

#[derive(serde::Serialize)]
struct Invoice {
    id: u32,
    owner: String,
}

/// Counts and totals by status.
///
/// Only the first paragraph is the description.
#[resource(
    uri = "billing://tenant/summary",
    scope = "invoices:read",
    mime_type = "application/json",
    title = "Summary",
    audience = ["user"],
    priority = 0.8
)]
async fn summary(ctx: ToolContext<Billing>) -> Result<String, ToolError> {
    ctx.state().reads.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        r#"{{"caller":"{}"}}"#,
        ctx.auth().subject().unwrap_or("-")
    ))
}

/// One invoice, as JSON; only its owner sees it.
#[resource(uri_template = "invoice://{id}", scope = ["invoices:read", "invoices:detail"])]
async fn invoice(ctx: ToolContext<Billing>, id: u32) -> Result<Invoice, ToolError> {
    ctx.state().reads.fetch_add(1, Ordering::SeqCst);
    if ctx.auth().subject() != Some("alice") {
        return Err(ToolError::NotFound);
    }
    Ok(Invoice {
        id,
        owner: "alice".into(),
    })
}

/// The logo.
#[resource(
    uri = "billing://logo",
    unscoped,
    mime_type = "image/png",
    name = "brand_logo"
)]
async fn logo() -> Result<Vec<u8>, ToolError> {
    Ok(vec![0x89, b'P', b'N', b'G'])
}

/// Both halves of a statement.
#[resource(uri_template = "statement://{year}/{month}", unscoped)]
async fn statement(year: String, month: String) -> Result<Vec<ResourceContents>, ToolError> {
    Ok(vec![
        ResourceContents::text(format!("statement://{year}/{month}"), "lines"),
        ResourceContents::text(format!("statement://{year}/{month}#totals"), "totals"),
    ])
}

/// An export, which also needs a scope the body checks itself.
#[resource(
    uri = "billing://export",
    scope = "invoices:read",
    may_require = "invoices:export"
)]
async fn export(ctx: ToolContext<Billing>) -> Result<String, ToolError> {
    ctx.require_scopes(&["invoices:export"])?;
    ctx.state().reads.fetch_add(1, Ordering::SeqCst);
    Ok("csv".into())
}

#[test]
fn descriptors_carry_what_the_attribute_and_doc_comment_say() {
    let defs = resources![summary, invoice, logo, statement];
    let names: Vec<&str> = defs.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["summary", "invoice", "brand_logo", "statement"]);
    assert_eq!(
        defs[0].uri(),
        ResourceUri::Fixed("billing://tenant/summary")
    );
    assert_eq!(defs[1].uri(), ResourceUri::Template("invoice://{id}"));
    assert_eq!(defs[1].scopes(), ["invoices:read", "invoices:detail"]);
    assert_eq!(defs[2].scopes(), [] as [&str; 0]);
    assert_eq!(defs[0].mime_type(), Some("application/json"));
}

#[tokio::test]
async fn the_guard_refuses_a_direct_call_without_the_scopes() {
    let nobody = ToolContext::new(Billing::default(), AuthInfo::new("alice"));
    assert!(matches!(
        summary(nobody.clone()).await,
        Err(ToolError::InsufficientScope { required, .. }) if required == ["invoices:read"]
    ));
    assert_eq!(nobody.state().reads.load(Ordering::SeqCst), 0);
    let reader = ToolContext::new(
        Billing::default(),
        AuthInfo::new("alice").with_scopes(["invoices:read"]),
    );
    assert!(summary(reader.clone()).await.is_ok());
    assert!(matches!(
        invoice(reader, 7).await,
        Err(ToolError::InsufficientScope { required, .. })
            if required == ["invoices:read", "invoices:detail"]
    ));
}

/// A server with the resources above, its address, its tokens and its state.
async fn serve() -> (
    std::net::SocketAddr,
    mcp_auth_test_support::issuer::Tokens,
    Billing,
) {
    let (listener, tokens, builder) = protected("resource-macro").await;
    let addr = listener.local_addr().unwrap();
    let billing = Billing::default();
    let server = builder
        .state(billing.clone())
        .resources(resources![summary, invoice, logo, statement, export])
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    (addr, tokens, billing)
}

async fn read(client: &Client, uri: &str) -> Value {
    let (status, _, body) = client
        .request("resources/read", json!({ "uri": uri }))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn every_result_type_becomes_its_contents() {
    let (addr, tokens, _) = serve().await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 60);
    let client = Client::new(addr, Some(&token));
    assert_eq!(
        read(&client, "billing://tenant/summary").await["result"]["contents"],
        json!([{ "uri": "billing://tenant/summary", "mimeType": "application/json",
                 "text": "{\"caller\":\"alice\"}" }])
    );
    assert_eq!(
        read(&client, "invoice://42").await["result"]["contents"],
        json!([{ "uri": "invoice://42", "mimeType": "application/json",
                 "text": "{\"id\":42,\"owner\":\"alice\"}" }])
    );
    assert_eq!(
        read(&client, "billing://logo").await["result"]["contents"],
        json!([{ "uri": "billing://logo", "mimeType": "image/png", "blob": "iVBORw==" }])
    );
    let contents = &read(&client, "statement://2026/11").await["result"]["contents"];
    assert_eq!(contents[1]["uri"], "statement://2026/11#totals");

    let (_, _, body) = client.request("resources/list", json!({})).await;
    assert_eq!(
        body["result"]["resources"][0],
        json!({
            "uri": "billing://tenant/summary", "name": "summary", "title": "Summary",
            "description": "Counts and totals by status.", "mimeType": "application/json",
            "annotations": { "audience": ["user"], "priority": 0.8 },
            "_meta": { "mcp-auth/scopes": ["invoices:read"] }
        })
    );
}

#[tokio::test]
async fn a_variable_that_does_not_parse_and_another_principal_get_not_found() {
    let (addr, tokens, _) = serve().await;
    let scopes = "invoices:read invoices:detail";
    for (subject, uri) in [("alice", "invoice://INV-7"), ("bob", "invoice://42")] {
        let client = Client::new(addr, Some(&tokens.of(subject, scopes, 60)));
        let body = read(&client, uri).await;
        assert_eq!(
            body["error"],
            json!({ "code": -32602, "message": "Resource not found", "data": { "uri": uri } }),
            "{subject} {uri}"
        );
    }
}

#[tokio::test]
async fn a_read_without_the_scopes_is_refused_before_the_body_in_both_eras() {
    let (addr, tokens, billing) = serve().await;
    let token = tokens.of("alice", "invoices:read", 60);
    let client = Client::new(addr, Some(&token));
    let (status, challenge, _) = client
        .request("resources/read", json!({ "uri": "invoice://42" }))
        .await;
    assert_eq!(status, 403);
    assert!(
        challenge
            .unwrap()
            .contains(r#"scope="invoices:read invoices:detail""#)
    );
    for accept in ACCEPTS {
        let request = mcp_auth_test_support::modern::request(
            &reqwest::Client::new(),
            &format!("http://{addr}/mcp"),
            &token,
            accept,
            json!({}),
            1,
            "resources/read",
            json!({ "uri": "invoice://42" }),
        )
        .header("mcp-name", "invoice://42");
        Reply::of(request)
            .await
            .assert_insufficient_scope("invoices:read invoices:detail");
    }
    assert_eq!(billing.reads.load(Ordering::SeqCst), 0, "no body ran");
}

#[tokio::test]
async fn a_refusal_from_the_body_is_a_403_too() {
    let (addr, tokens, billing) = serve().await;
    let client = Client::new(addr, Some(&tokens.of("alice", "invoices:read", 60)));
    let (status, challenge, _) = client
        .request("resources/read", json!({ "uri": "billing://export" }))
        .await;
    assert_eq!(status, 403);
    assert!(
        challenge
            .unwrap()
            .contains(r#"scope="invoices:read invoices:export""#)
    );
    assert_eq!(billing.reads.load(Ordering::SeqCst), 0);
    let scopes = "invoices:read invoices:export";
    let client = Client::new(addr, Some(&tokens.of("alice", scopes, 60)));
    let body = read(&client, "billing://export").await;
    assert_eq!(body["result"]["contents"][0]["text"], "csv");
}
