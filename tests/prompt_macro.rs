//! What `#[prompt]` generates: descriptors (arguments, descriptions, `required`), every
//! result type, arguments parsed with `FromStr`, and the scope guard inside the function;
//! then the same prompts got over real HTTP with signed tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::prompt::PromptArgument;
use mcp_auth_runtime::resource::Role;
use mcp_auth_test_support::issuer::protected;
use mcp_auth_test_support::{Client, serve_on};
use serde_json::{Value, json};

/// Counts the prompts that reached a function body.
#[derive(Clone, Default)]
struct Billing {
    renders: Arc<AtomicUsize>,
}

/// Draft a payment reminder.
///
/// Only the first paragraph is the description.
#[prompt(scope = "invoices:read", title = "Payment reminder")]
async fn payment_reminder(
    ctx: ToolContext<Billing>,
    /// The invoice to remind of.
    #[arg(name = "invoiceId")]
    invoice_id: String,
    /// Days overdue.
    days: Option<u32>,
) -> Result<Vec<PromptMessage>, ToolError> {
    ctx.state().renders.fetch_add(1, Ordering::SeqCst);
    Ok(vec![
        PromptMessage::user(format!(
            "Remind {} of invoice {invoice_id}, {} days overdue.",
            ctx.auth().subject().unwrap_or("-"),
            days.unwrap_or(0)
        )),
        PromptMessage::assistant("Drafting."),
    ])
}

/// Say hello.
#[prompt(unscoped, name = "hello")]
async fn greeting() -> Result<String, ToolError> {
    Ok("Hello!".into())
}

/// Review an invoice with its scan.
#[prompt(scope = ["invoices:read", "invoices:review"])]
async fn review(ctx: ToolContext<Billing>, r#type: String) -> Result<GetPromptResult, ToolError> {
    ctx.state().renders.fetch_add(1, Ordering::SeqCst);
    Ok(GetPromptResult::new(vec![
        PromptMessage::user_content(Content::image("iVBORw==", "image/png")),
        PromptMessage::user_resource(
            ResourceContents::text("invoice://1", "{}").with_mime_type("application/json"),
        ),
        PromptMessage::user(format!("Review this {type} invoice.")),
    ])
    .with_description("A review"))
}

/// One message, from the assistant.
#[prompt(unscoped)]
async fn one(word: Option<String>) -> Result<PromptMessage, ToolError> {
    Ok(PromptMessage::assistant(word.unwrap_or_default()))
}

#[test]
fn descriptors_carry_what_the_attribute_and_doc_comments_say() {
    let defs = prompts![payment_reminder, greeting, review, one];
    let names: Vec<&str> = defs.iter().map(|d| d.name()).collect();
    assert_eq!(names, ["payment_reminder", "hello", "review", "one"]);
    assert_eq!(
        defs[0].arguments(),
        [
            PromptArgument {
                name: "invoiceId",
                description: Some("The invoice to remind of."),
                required: true
            },
            PromptArgument {
                name: "days",
                description: Some("Days overdue."),
                required: false
            },
        ]
    );
    assert_eq!(defs[0].description(), Some("Draft a payment reminder."));
    assert_eq!(defs[0].scopes(), ["invoices:read"]);
    assert_eq!(defs[1].arguments(), []);
    assert_eq!(defs[1].scopes(), [] as [&str; 0]);
    assert_eq!(
        defs[2].arguments()[0].name,
        "type",
        "`r#` is not part of the name"
    );
}

#[tokio::test]
async fn the_guard_refuses_a_direct_call_without_the_scopes() {
    let nobody = ToolContext::new(Billing::default(), AuthInfo::new("alice"));
    assert!(matches!(
        payment_reminder(nobody.clone(), "INV-1".into(), None).await,
        Err(ToolError::InsufficientScope { required, .. }) if required == ["invoices:read"]
    ));
    let reader = ToolContext::new(
        Billing::default(),
        AuthInfo::new("alice").with_scopes(["invoices:read"]),
    );
    assert!(matches!(
        review(reader.clone(), "x".into()).await,
        Err(ToolError::InsufficientScope { required, .. })
            if required == ["invoices:read", "invoices:review"]
    ));
    assert_eq!(nobody.state().renders.load(Ordering::SeqCst), 0);
    assert_eq!(reader.state().renders.load(Ordering::SeqCst), 0);
    let messages = payment_reminder(reader, "INV-1".into(), Some(3))
        .await
        .unwrap();
    assert_eq!(messages[1].role, Role::Assistant);
}

async fn serve() -> (
    std::net::SocketAddr,
    mcp_auth_test_support::issuer::Tokens,
    Billing,
) {
    let (listener, tokens, builder) = protected("prompt-macro").await;
    let addr = listener.local_addr().unwrap();
    let billing = Billing::default();
    let server = builder
        .state(billing.clone())
        .prompts(prompts![payment_reminder, greeting, review, one])
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    (addr, tokens, billing)
}

async fn get(client: &Client, name: &str, arguments: Value) -> (u16, Value) {
    let (status, _, body) = client
        .request(
            "prompts/get",
            json!({ "name": name, "arguments": arguments }),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn every_result_type_becomes_its_messages_over_http() {
    let (addr, tokens, _) = serve().await;
    let token = tokens.of("alice", "invoices:read invoices:review", 60);
    let client = Client::new(addr, Some(&token));
    let (status, body) = get(&client, "hello", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({ "description": "Say hello.", "messages": [
            { "role": "user", "content": { "type": "text", "text": "Hello!" } }
        ] })
    );
    let (_, body) = get(&client, "review", json!({ "type": "overdue" })).await;
    assert_eq!(
        body["result"],
        json!({ "description": "A review", "messages": [
            { "role": "user", "content": { "type": "image", "data": "iVBORw==", "mimeType": "image/png" } },
            { "role": "user", "content": { "type": "resource", "resource": {
                "uri": "invoice://1", "mimeType": "application/json", "text": "{}" } } },
            { "role": "user", "content": { "type": "text", "text": "Review this overdue invoice." } }
        ] })
    );
    let (_, body) = get(&client, "one", json!({ "word": "ok" })).await;
    assert_eq!(body["result"]["messages"][0]["role"], "assistant");
    let (_, body) = get(&client, "one", Value::Null).await;
    assert_eq!(body["result"]["messages"][0]["content"]["text"], "");

    let (_, _, body) = client.request("prompts/list", json!({})).await;
    assert_eq!(
        body["result"]["prompts"][0],
        json!({
            "name": "payment_reminder", "title": "Payment reminder",
            "description": "Draft a payment reminder.",
            "arguments": [
                { "name": "invoiceId", "description": "The invoice to remind of.", "required": true },
                { "name": "days", "description": "Days overdue.", "required": false }
            ],
            "_meta": { "mcp-auth/scopes": ["invoices:read"] }
        })
    );
}

#[tokio::test]
async fn a_get_without_the_scopes_is_refused_before_the_body() {
    let (addr, tokens, billing) = serve().await;
    let client = Client::new(addr, Some(&tokens.of("alice", "invoices:read", 60)));
    let (status, body) = get(&client, "review", json!({ "type": "x" })).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["data"]["requiredScopes"],
        json!(["invoices:read", "invoices:review"])
    );
    assert_eq!(billing.renders.load(Ordering::SeqCst), 0);
    let (status, body) = get(&client, "payment_reminder", json!({ "invoiceId": "7" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(billing.renders.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn arguments_are_parsed_and_checked_after_the_scopes() {
    let (addr, tokens, billing) = serve().await;
    let client = Client::new(addr, Some(&tokens.of("alice", "invoices:read", 60)));
    let (_, body) = get(
        &client,
        "payment_reminder",
        json!({ "invoiceId": "INV-1", "days": "4" }),
    )
    .await;
    assert_eq!(
        body["result"]["messages"][0]["content"]["text"],
        "Remind alice of invoice INV-1, 4 days overdue."
    );
    for (arguments, says) in [
        (
            json!({ "days": "4" }),
            "missing required argument `invoiceId`",
        ),
        (json!({ "invoiceId": "I", "days": "many" }), "`days`"),
        (
            json!({ "invoiceId": "I", "days": 4 }),
            "`days` must be a string",
        ),
        (
            json!({ "invoiceId": "I", "extra": "x" }),
            "no argument `extra`",
        ),
    ] {
        let (status, body) = get(&client, "payment_reminder", arguments.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["error"]["code"], -32602, "{arguments}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{arguments}: {message}");
    }
    assert_eq!(billing.renders.load(Ordering::SeqCst), 1);
    // Scopes first: a caller without them learns nothing about the arguments.
    let nobody = Client::new(addr, Some(&tokens.of("alice", "", 60)));
    let (status, _) = get(&nobody, "payment_reminder", json!({ "extra": 1 })).await;
    assert_eq!(status, 403);
}
