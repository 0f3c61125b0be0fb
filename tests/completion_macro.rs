//! `#[arg(complete = f)]` on prompt arguments and template variables, over real HTTP with
//! signed tokens in both eras: the caller's own values only, the other arguments given to
//! the completer, at most 100 values, the scopes of what is completed checked before the
//! completer runs, and the `completions` capability only with a completer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::{ACCEPTS, Reply, request};
use mcp_auth_test_support::{Client, serve_on};
use serde_json::{Value, json};

/// Invoices by owner, and how many completions ran.
#[derive(Clone, Default)]
struct Billing {
    completions: Arc<AtomicUsize>,
}

const INVOICES: [(&str, &str); 4] = [
    ("alice", "INV-1"),
    ("alice", "INV-12"),
    ("alice", "X-3"),
    ("bob", "INV-2"),
];

/// The caller's invoice ids starting with what was typed.
async fn invoice_ids(
    ctx: ToolContext<Billing>,
    request: CompletionRequest,
) -> Result<Vec<String>, ToolError> {
    ctx.state().completions.fetch_add(1, Ordering::SeqCst);
    let caller = ctx.auth().subject().unwrap_or_default().to_owned();
    Ok(INVOICES
        .iter()
        .filter(|(owner, id)| *owner == caller && id.starts_with(request.value()))
        .map(|(_, id)| (*id).to_owned())
        .collect())
}

/// Tones, depending on the invoice already chosen.
async fn tones(request: CompletionRequest) -> Result<Completion, ToolError> {
    let firm = request.filled("invoice_id") == Some("INV-1");
    let values = if firm { vec!["firm"] } else { vec!["polite"] };
    Ok(Completion {
        values: values.into_iter().map(str::to_owned).collect(),
        total: Some(1),
        has_more: false,
    })
}

/// 150 values: more than one completion may carry.
async fn many(_request: CompletionRequest) -> Result<Vec<String>, ToolError> {
    Ok((0..150).map(|i| format!("v{i}")).collect())
}

/// Draft a payment reminder.
#[prompt(scope = "invoices:read")]
async fn payment_reminder(
    #[arg(complete = invoice_ids)] invoice_id: String,
    #[arg(complete = tones)] tone: Option<String>,
    #[arg(complete = many)] extra: Option<String>,
    note: Option<String>,
) -> Result<String, ToolError> {
    Ok(format!("{invoice_id} {tone:?} {extra:?} {note:?}"))
}

/// One invoice.
#[resource(uri_template = "invoice://{invoice_id}", scope = ["invoices:read", "invoices:detail"])]
async fn invoice(#[arg(complete = invoice_ids)] invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

async fn serve() -> (std::net::SocketAddr, Tokens, Billing) {
    let (listener, tokens, builder) = protected("completions").await;
    let addr = listener.local_addr().unwrap();
    let billing = Billing::default();
    let server = builder
        .state(billing.clone())
        .prompts(prompts![payment_reminder])
        .resources(resources![invoice])
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    (addr, tokens, billing)
}

fn prompt_ref(argument: &str, value: &str) -> Value {
    json!({
        "ref": { "type": "ref/prompt", "name": "payment_reminder" },
        "argument": { "name": argument, "value": value }
    })
}

fn template_ref(value: &str) -> Value {
    json!({
        "ref": { "type": "ref/resource", "uri": "invoice://{invoice_id}" },
        "argument": { "name": "invoice_id", "value": value }
    })
}

/// `completion/complete` with `params` in both eras and every `Accept`; each reply.
async fn complete_everywhere(
    addr: std::net::SocketAddr,
    token: &str,
    params: &Value,
) -> Vec<Reply> {
    let mut replies = Vec::new();
    let url = format!("http://{addr}/mcp");
    for accept in ACCEPTS {
        let modern = request(
            &reqwest::Client::new(),
            &url,
            token,
            accept,
            json!({}),
            5,
            "completion/complete",
            params.clone(),
        );
        replies.push(Reply::of(modern).await);
        let client = Client::new(addr, Some(token));
        assert_eq!(client.initialize().await, 200);
        let session = client.session.lock().unwrap().clone().unwrap();
        let body =
            json!({ "jsonrpc": "2.0", "id": 3, "method": "completion/complete", "params": params });
        let legacy = client
            .http
            .post(&client.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .bearer_auth(token)
            .body(body.to_string());
        replies.push(Reply::of(legacy).await);
    }
    replies
}

fn values(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{reply:?}");
    serde_json::from_value(reply.body["result"]["completion"]["values"].clone())
        .unwrap_or_else(|_| panic!("{reply:?}"))
}

#[tokio::test]
async fn completers_see_the_caller_and_suggest_only_its_values_in_both_eras() {
    let (addr, tokens, billing) = serve().await;
    let all = "invoices:read invoices:detail";
    let alice = tokens.of("alice", all, 60);
    for reply in complete_everywhere(addr, &alice, &prompt_ref("invoice_id", "INV")).await {
        assert_eq!(values(&reply), ["INV-1", "INV-12"]);
        assert_eq!(reply.body["result"]["completion"]["hasMore"], false);
    }
    for reply in complete_everywhere(addr, &alice, &template_ref("X")).await {
        assert_eq!(values(&reply), ["X-3"]);
    }
    let bob = tokens.of("bob", all, 60);
    for reply in complete_everywhere(addr, &bob, &template_ref("")).await {
        assert_eq!(values(&reply), ["INV-2"], "never another principal's ids");
    }
    assert_eq!(billing.completions.load(Ordering::SeqCst), 18);
    // 2026-07-28 results say they are complete.
    let modern = &complete_everywhere(addr, &alice, &template_ref("")).await[0];
    assert_eq!(modern.body["result"]["resultType"], "complete");
}

#[tokio::test]
async fn the_other_arguments_reach_the_completer_and_values_are_capped() {
    let (addr, tokens, _) = serve().await;
    let token = tokens.of("alice", "invoices:read", 60);
    let mut params = prompt_ref("tone", "");
    params["context"] = json!({ "arguments": { "invoice_id": "INV-1" } });
    for reply in complete_everywhere(addr, &token, &params).await {
        assert_eq!(
            reply.body["result"]["completion"],
            json!({ "values": ["firm"], "total": 1, "hasMore": false })
        );
    }
    for reply in complete_everywhere(addr, &token, &prompt_ref("extra", "")).await {
        let completion = &reply.body["result"]["completion"];
        assert_eq!(values(&reply).len(), 100, "{reply:?}");
        assert_eq!(
            (&completion["total"], &completion["hasMore"]),
            (&json!(150), &json!(true))
        );
    }
    // An argument without a completer: nothing to suggest.
    for reply in complete_everywhere(addr, &token, &prompt_ref("note", "a")).await {
        assert_eq!(values(&reply), [] as [String; 0]);
    }
}

#[tokio::test]
async fn a_completion_without_the_scopes_of_what_it_completes_is_refused_before_it_runs() {
    let (addr, tokens, billing) = serve().await;
    // Holds the prompt's scope, one of the template's two.
    let token = tokens.of("alice", "invoices:read", 60);
    for reply in complete_everywhere(addr, &token, &template_ref("INV")).await {
        reply.assert_insufficient_scope("invoices:read invoices:detail");
        assert_eq!(
            reply.body["error"]["data"]["requiredScopes"],
            json!(["invoices:read", "invoices:detail"])
        );
    }
    let nobody = tokens.of("alice", "", 60);
    for reply in complete_everywhere(addr, &nobody, &prompt_ref("invoice_id", "")).await {
        reply.assert_insufficient_scope("invoices:read");
    }
    assert_eq!(
        billing.completions.load(Ordering::SeqCst),
        0,
        "no completer ran"
    );
}

#[tokio::test]
async fn unknown_references_and_arguments_are_invalid_params() {
    let (addr, tokens, billing) = serve().await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 60);
    for params in [
        json!({ "ref": { "type": "ref/prompt", "name": "nope" }, "argument": { "name": "a", "value": "" } }),
        json!({ "ref": { "type": "ref/resource", "uri": "invoice://INV-1" }, "argument": { "name": "invoice_id", "value": "" } }),
        json!({ "ref": { "type": "ref/other" }, "argument": { "name": "a", "value": "" } }),
        prompt_ref("nope", ""),
        json!({ "ref": { "type": "ref/prompt", "name": "payment_reminder" } }),
    ] {
        for reply in complete_everywhere(addr, &token, &params).await {
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.body["error"]["code"], -32602, "{params}: {reply:?}");
        }
    }
    assert_eq!(billing.completions.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_capability_is_advertised_only_with_a_completer() {
    let (addr, tokens, _) = serve().await;
    let token = tokens.of("alice", "", 60);
    let client = Client::without_session(addr, Some(&token));
    let init = json!({ "protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": { "name": "t", "version": "0" } });
    let (_, _, body) = client.request("initialize", init.clone()).await;
    assert_eq!(body["result"]["capabilities"]["completions"], json!({}));

    /// A prompt without completers.
    #[prompt(unscoped)]
    async fn plain(word: String) -> Result<String, ToolError> {
        Ok(word)
    }
    let (listener, tokens, builder) = protected("no-completions").await;
    let addr = listener.local_addr().unwrap();
    let server = builder.prompts(prompts![plain]).build().unwrap();
    serve_on(listener, server.into_router());
    let client = Client::without_session(addr, Some(&tokens.of("alice", "", 60)));
    let (_, _, body) = client.request("initialize", init).await;
    assert_eq!(body["result"]["capabilities"].get("completions"), None);
    let client = Client::new(addr, Some(&tokens.of("alice", "", 60)));
    let (_, _, body) = client
        .request(
            "completion/complete",
            json!({ "ref": { "type": "ref/prompt", "name": "plain" },
                    "argument": { "name": "word", "value": "" } }),
        )
        .await;
    assert_eq!(body["error"]["code"], -32601, "{body}");
}

#[test]
fn descriptors_say_which_arguments_complete() {
    let prompt = &prompts![payment_reminder][0];
    let completing: Vec<&str> = prompt.completion().unwrap().arguments().collect();
    assert_eq!(completing, ["invoice_id", "tone", "extra"]);
    let template = &resources![invoice][0];
    let completing: Vec<&str> = template.completion().unwrap().arguments().collect();
    assert_eq!(completing, ["invoice_id"]);
}
