//! Scopes that depend on the call: `require(scope = .., when = ..)` on tools, resources and
//! prompts,
//! `may_require` with `ctx.require_scopes(..)` in the body, over real HTTP with signed tokens
//! in both eras and every `Accept` form, and in direct Rust calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{INSUFFICIENT_SCOPE_META_KEY, ToolDef};
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::{self, ACCEPTS, Reply};
use mcp_auth_test_support::{legacy_request, open_session, serve_on};
use serde_json::{Value, json};

/// Counts the calls that reached a body: a refused call must leave it unchanged.
#[derive(Clone, Default)]
struct Payments {
    bodies: Arc<AtomicUsize>,
}

impl Payments {
    fn ran(&self) -> usize {
        self.bodies.load(Ordering::SeqCst)
    }
}

const LIMIT_CENTS: u64 = 100_000;

/// Refund part of an invoice; above 1,000.00 the refund needs an approver's scope.
#[tool(
    scope = "invoices:write",
    require(scope = "payments:approve", when = amount_cents > LIMIT_CENTS),
    destructive
)]
async fn refund_invoice(
    ctx: ToolContext<Payments>,
    invoice_id: String,
    amount_cents: u64,
) -> Result<String, ToolError> {
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(format!("refunded {amount_cents} on {invoice_id}"))
}

/// Export rows; more than 1,000 need `exports:large`, which the body checks, after reporting
/// progress when `progress_first` is set.
#[tool(scope = "invoices:read", may_require = "exports:large")]
async fn export_rows(
    ctx: ToolContext<Payments>,
    rows: u32,
    progress_first: bool,
) -> Result<String, ToolError> {
    if progress_first {
        ctx.progress(1.0, None, Some("counting"));
        // Gives the transport the time to open the stream with it.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if rows > 1000 {
        ctx.require_scopes(&["exports:large"])?;
    }
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{rows} rows"))
}

/// Checks a scope it never declared.
#[tool(scope = "invoices:read")]
async fn undeclared(ctx: ToolContext<Payments>) -> Result<String, ToolError> {
    ctx.require_scopes(&["admin:everything"])?;
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok("done".into())
}

/// One payout; large ones are only for approvers.
#[resource(
    uri_template = "payout://{amount_cents}",
    scope = "payouts:read",
    require(scope = "payments:approve", when = amount_cents > LIMIT_CENTS)
)]
async fn payout(
    ctx: ToolContext<Payments>,
    #[arg(complete = payout_amounts)] amount_cents: u64,
) -> Result<String, ToolError> {
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(format!("payout of {amount_cents}"))
}

/// A note on a refund; one above the limit is for approvers only.
#[prompt(
    scope = "invoices:read",
    require(scope = "payments:approve", when = amount_cents > LIMIT_CENTS)
)]
async fn refund_note(
    ctx: ToolContext<Payments>,
    #[arg(complete = payout_amounts)] amount_cents: u64,
) -> Result<String, ToolError> {
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(format!("Explain the refund of {amount_cents}."))
}

/// The payouts on record, small and large: which ones a caller may read depends on the
/// amount, which the completer cannot know the condition of.
async fn payout_amounts(
    ctx: ToolContext<Payments>,
    _request: CompletionRequest,
) -> Result<Vec<String>, ToolError> {
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(vec!["500".into(), "500000".into()])
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Payout {
    amount_cents: u64,
}

/// Pay out; a large payout needs an approver, and any payout outside tenant `acme` another
/// scope: conditions see an `Args` input's pattern and the context by their names.
#[tool(
    scope = "payouts:write",
    require(scope = "payments:approve", when = payout.amount_cents > LIMIT_CENTS),
    require(scope = "payouts:foreign", when = ctx.auth().tenant() != Some("acme"))
)]
async fn pay_out(
    ctx: ToolContext<Payments>,
    Args(payout): Args<Payout>,
) -> Result<String, ToolError> {
    ctx.state().bodies.fetch_add(1, Ordering::SeqCst);
    Ok(format!("paid {}", payout.amount_cents))
}

struct Server {
    addr: SocketAddr,
    tokens: Tokens,
    payments: Payments,
    scopes_supported: Vec<String>,
}

impl Server {
    async fn start() -> Server {
        let (listener, tokens, builder) = protected("authorize").await;
        let addr = listener.local_addr().unwrap();
        let payments = Payments::default();
        let server = builder
            .state(payments.clone())
            .tools(tools![refund_invoice, export_rows, undeclared])
            .resources(resources![payout])
            .prompts(prompts![refund_note])
            .build()
            .unwrap();
        let scopes_supported = server
            .scopes_supported()
            .iter()
            .map(|s| s.to_string())
            .collect();
        serve_on(listener, server.into_router());
        Server {
            addr,
            tokens,
            payments,
            scopes_supported,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn token(&self, scope: &str) -> String {
        self.tokens.of("alice", scope, 60)
    }

    /// `method` with `params`, in `era` (`"legacy"` with a session, or `"modern"`), sent with
    /// `Accept: accept`.
    async fn send(
        &self,
        era: &str,
        token: &str,
        accept: &str,
        method: &str,
        params: Value,
    ) -> Reply {
        let http = reqwest::Client::new();
        let request = if era == "modern" {
            let mut request = modern::request(
                &http,
                &self.url(),
                token,
                accept,
                json!({}),
                7,
                method,
                params.clone(),
            );
            if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                request = request.header("mcp-name", uri);
            }
            request
        } else {
            let session = open_session(&http, &self.url(), token).await;
            legacy_request(
                &http,
                &self.url(),
                token,
                accept,
                &session,
                7,
                method,
                params,
            )
        };
        Reply::of(request).await
    }

    async fn call(
        &self,
        era: &str,
        token: &str,
        accept: &str,
        tool: &str,
        arguments: Value,
    ) -> Reply {
        let params = json!({ "name": tool, "arguments": arguments });
        self.send(era, token, accept, "tools/call", params).await
    }
}

const ERAS: [&str; 2] = ["legacy", "modern"];

fn refund(amount_cents: u64) -> Value {
    json!({ "invoice_id": "INV-1", "amount_cents": amount_cents })
}

#[test]
fn descriptors_publish_the_conditional_scopes_apart_from_the_static_ones() {
    let tools = tools![refund_invoice, export_rows];
    assert_eq!(tools[0].scopes(), ["invoices:write"]);
    assert_eq!(tools[0].conditional_scopes(), ["payments:approve"]);
    assert_eq!(tools[1].conditional_scopes(), ["exports:large"]);
    let resources = resources![payout];
    assert_eq!(resources[0].scopes(), ["payouts:read"]);
    assert_eq!(resources[0].conditional_scopes(), ["payments:approve"]);
}

#[tokio::test]
async fn metadata_and_lists_name_the_conditional_scopes() {
    let server = Server::start().await;
    assert_eq!(
        server.scopes_supported,
        [
            "admin:everything",
            "exports:large",
            "invoices:read",
            "invoices:write",
            "payments:approve",
            "payouts:read"
        ]
        .map(String::from)
        .into_iter()
        .filter(|s| s != "admin:everything")
        .collect::<Vec<_>>(),
        "an undeclared scope is not supported"
    );
    let metadata = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        server.addr
    );
    let metadata = mcp_auth_test_support::get_json(&reqwest::Client::new(), metadata).await;
    assert_eq!(metadata["scopes_supported"], json!(server.scopes_supported));

    let token = server.token("invoices:read");
    for era in ERAS {
        let list = server
            .send(era, &token, "application/json", "tools/list", json!({}))
            .await;
        let tools = list.body["result"]["tools"].as_array().unwrap().clone();
        let refund = tools
            .iter()
            .find(|t| t["name"] == "refund_invoice")
            .unwrap();
        assert_eq!(
            refund["_meta"],
            json!({
                "securitySchemes": [{ "type": "oauth2", "scopes": ["invoices:write", "payments:approve"] }],
                ToolDef::SCOPES_META_KEY: ["invoices:write"],
                ToolDef::CONDITIONAL_SCOPES_META_KEY: ["payments:approve"],
            }),
            "{era}"
        );
        assert_eq!(
            refund["securitySchemes"],
            refund["_meta"]["securitySchemes"]
        );
        let plain = tools.iter().find(|t| t["name"] == "undeclared").unwrap();
        assert_eq!(
            plain["_meta"],
            json!({
                "securitySchemes": [{ "type": "oauth2", "scopes": ["invoices:read"] }],
                ToolDef::SCOPES_META_KEY: ["invoices:read"],
            })
        );
        let templates = server
            .send(
                era,
                &token,
                "application/json",
                "resources/templates/list",
                json!({}),
            )
            .await;
        assert_eq!(
            templates.body["result"]["resourceTemplates"][0]["_meta"],
            json!({
                ToolDef::SCOPES_META_KEY: ["payouts:read"],
                ToolDef::CONDITIONAL_SCOPES_META_KEY: ["payments:approve"],
            }),
            "{era}"
        );
    }
}

#[tokio::test]
async fn a_refund_above_the_limit_needs_the_approval_scope_in_every_era_and_accept_form() {
    let server = Server::start().await;
    let writer = server.token("invoices:write");
    let approver = server.token("invoices:write payments:approve");
    let nobody = server.token("invoices:read");
    for era in ERAS {
        for accept in ACCEPTS {
            let at = format!("{era}, {accept}");
            let before = server.payments.ran();

            let reply = server
                .call(era, &writer, accept, "refund_invoice", refund(LIMIT_CENTS))
                .await;
            assert_eq!(reply.status, 200, "{at}: {reply:?}");
            assert_eq!(
                reply.body["result"]["content"][0]["text"],
                "refunded 100000 on INV-1"
            );
            assert_eq!(server.payments.ran(), before + 1, "{at}");

            // One refusal names every scope the call needs, and the body does not run.
            let reply = server
                .call(
                    era,
                    &writer,
                    accept,
                    "refund_invoice",
                    refund(LIMIT_CENTS + 1),
                )
                .await;
            reply.assert_insufficient_scope("invoices:write payments:approve");
            assert_eq!(
                reply.body["error"]["data"]["requiredScopes"],
                json!(["invoices:write", "payments:approve"]),
                "{at}"
            );
            let reply = server
                .call(
                    era,
                    &nobody,
                    accept,
                    "refund_invoice",
                    refund(LIMIT_CENTS + 1),
                )
                .await;
            reply.assert_insufficient_scope("invoices:write payments:approve");
            let reply = server
                .call(era, &nobody, accept, "refund_invoice", refund(LIMIT_CENTS))
                .await;
            reply.assert_insufficient_scope("invoices:write");
            assert_eq!(
                server.payments.ran(),
                before + 1,
                "{at}: no refused body ran"
            );

            let reply = server
                .call(
                    era,
                    &approver,
                    accept,
                    "refund_invoice",
                    refund(LIMIT_CENTS + 1),
                )
                .await;
            assert_eq!(reply.status, 200, "{at}: {reply:?}");
            assert_eq!(server.payments.ran(), before + 2, "{at}");
        }
    }
}

#[tokio::test]
async fn arguments_are_parsed_then_authorized_and_a_caller_without_the_static_scopes_learns_nothing()
 {
    let server = Server::start().await;
    let bad = json!({ "invoice_id": "INV-1", "amount_cents": "lots" });
    for era in ERAS {
        let reply = server
            .call(
                era,
                &server.token("invoices:read"),
                "application/json",
                "refund_invoice",
                bad.clone(),
            )
            .await;
        reply.assert_insufficient_scope("invoices:write");
        let reply = server
            .call(
                era,
                &server.token("invoices:write"),
                "application/json",
                "refund_invoice",
                bad.clone(),
            )
            .await;
        assert!(
            reply
                .tool_error()
                .starts_with("invalid arguments: `amount_cents`"),
            "{reply:?}"
        );
    }
    assert_eq!(server.payments.ran(), 0);
}

#[tokio::test]
async fn a_direct_rust_call_is_refused_as_a_call_through_the_server_is() {
    let payments = Payments::default();
    let writer = AuthInfo::new("alice").with_scopes(["invoices:write"]);
    let ctx = ToolContext::new(payments.clone(), writer);
    let err = refund_invoice(ctx.clone(), "INV-1".into(), LIMIT_CENTS + 1)
        .await
        .unwrap_err();
    let ToolError::InsufficientScope { required, missing } = err else {
        panic!("expected a scope refusal, got {err:?}")
    };
    assert_eq!(required, ["invoices:write", "payments:approve"]);
    assert_eq!(missing, ["payments:approve"]);
    assert_eq!(payments.ran(), 0);
    assert!(
        refund_invoice(ctx.clone(), "INV-1".into(), LIMIT_CENTS)
            .await
            .is_ok()
    );
    assert!(matches!(
        payout(ctx, LIMIT_CENTS + 1).await,
        Err(ToolError::InsufficientScope { required, .. })
            if required == ["payouts:read", "payments:approve"]
    ));
    assert_eq!(payments.ran(), 1);
}

#[tokio::test]
async fn conditions_over_an_args_input_and_the_context_name_every_scope_that_applies() {
    let cases: [(&str, u64, &[&str]); 4] = [
        ("acme", LIMIT_CENTS, &[]),
        (
            "acme",
            LIMIT_CENTS + 1,
            &["payouts:write", "payments:approve"],
        ),
        ("globex", LIMIT_CENTS, &["payouts:write", "payouts:foreign"]),
        (
            "globex",
            LIMIT_CENTS + 1,
            &["payouts:write", "payments:approve", "payouts:foreign"],
        ),
    ];
    for (tenant, amount_cents, refused) in cases {
        let payments = Payments::default();
        let auth = AuthInfo::new("alice")
            .with_scopes(["payouts:write"])
            .with_tenant(tenant);
        let ctx = ToolContext::new(payments.clone(), auth);
        let outcome = pay_out(ctx, Args(Payout { amount_cents })).await;
        match outcome {
            Ok(_) => assert!(refused.is_empty(), "{tenant} {amount_cents}"),
            Err(ToolError::InsufficientScope { required, .. }) => {
                assert_eq!(required, refused, "{tenant} {amount_cents}");
                assert_eq!(payments.ran(), 0);
            }
            Err(err) => panic!("{err:?}"),
        }
    }
    assert_eq!(
        tools![pay_out][0].conditional_scopes(),
        ["payments:approve", "payouts:foreign"]
    );
}

#[tokio::test]
async fn a_refusal_from_the_body_is_a_403_while_nothing_was_sent() {
    let server = Server::start().await;
    let reader = server.token("invoices:read");
    let args = json!({ "rows": 5000, "progress_first": false });
    for era in ERAS {
        for accept in ACCEPTS {
            let reply = server
                .call(era, &reader, accept, "export_rows", args.clone())
                .await;
            // The static scopes are named too, so that one step-up keeps them.
            reply.assert_insufficient_scope("invoices:read exports:large");
        }
    }
    assert_eq!(server.payments.ran(), 0);
    let both = server.token("invoices:read exports:large");
    let reply = server
        .call("modern", &both, ACCEPTS[0], "export_rows", args)
        .await;
    assert_eq!(reply.body["result"]["content"][0]["text"], "5000 rows");
}

/// `tools/call` of `export_rows` with a `progressToken`, so that its progress is sent.
fn with_progress(rows: u32) -> Value {
    json!({
        "name": "export_rows",
        "arguments": { "rows": rows, "progress_first": true },
        "_meta": { "progressToken": "p-1" },
    })
}

#[tokio::test]
async fn a_refusal_from_the_body_after_progress_is_a_tool_error_naming_the_scopes() {
    let server = Server::start().await;
    let reader = server.token("invoices:read");
    for era in ERAS {
        // A client that accepts a stream gets the progress, then the refusal as a result.
        for accept in [ACCEPTS[0], ACCEPTS[2]] {
            let at = format!("{era}, {accept}");
            let reply = server
                .send(era, &reader, accept, "tools/call", with_progress(5000))
                .await;
            assert_eq!(reply.status, 200, "{at}: {reply:?}");
            assert_eq!(reply.www_authenticate, None, "{at}");
            let result = &reply.body["result"];
            assert_eq!(result["isError"], true, "{at}: {reply:?}");
            let text = result["content"][0]["text"].as_str().unwrap();
            assert!(
                text.contains("`invoices:read exports:large`")
                    && text.contains("lacks `exports:large`"),
                "{at}: {text}"
            );
            assert_eq!(
                result["_meta"][INSUFFICIENT_SCOPE_META_KEY],
                json!({
                    "requiredScopes": ["invoices:read", "exports:large"],
                    "missingScopes": ["exports:large"],
                }),
                "{at}"
            );
        }
        // A client that accepts only JSON was sent nothing: the refusal is a `403`.
        let reply = server
            .send(era, &reader, ACCEPTS[1], "tools/call", with_progress(5000))
            .await;
        reply.assert_insufficient_scope("invoices:read exports:large");
    }
    assert_eq!(server.payments.ran(), 0);
}

#[tokio::test]
async fn a_scope_the_body_checks_without_declaring_it_fails_the_call() {
    let server = Server::start().await;
    let token = server.token("invoices:read admin:everything");
    for era in ERAS {
        let reply = server
            .call(era, &token, "application/json", "undeclared", json!({}))
            .await;
        assert_eq!(reply.tool_error(), "internal error", "{era}");
    }
    assert_eq!(server.payments.ran(), 0);
}

#[tokio::test]
async fn a_large_payout_needs_the_approval_scope_in_both_eras() {
    let server = Server::start().await;
    let reader = server.token("payouts:read");
    let approver = server.token("payouts:read payments:approve");
    let nobody = server.token("invoices:read");
    let read = |amount: &str| json!({ "uri": format!("payout://{amount}") });
    for era in ERAS {
        for accept in ACCEPTS {
            let at = format!("{era}, {accept}");
            let reply = server
                .send(era, &reader, accept, "resources/read", read("500"))
                .await;
            assert_eq!(
                reply.body["result"]["contents"][0]["text"], "payout of 500",
                "{at}: {reply:?}"
            );
            server
                .send(era, &reader, accept, "resources/read", read("500000"))
                .await
                .assert_insufficient_scope("payouts:read payments:approve");
            server
                .send(era, &nobody, accept, "resources/read", read("500000"))
                .await
                .assert_insufficient_scope("payouts:read payments:approve");
            // A variable that does not parse: refused for the static scopes first.
            server
                .send(era, &nobody, accept, "resources/read", read("lots"))
                .await
                .assert_insufficient_scope("payouts:read");
            let reply = server
                .send(era, &reader, accept, "resources/read", read("lots"))
                .await;
            assert_eq!(reply.body["error"]["code"], -32602, "{at}: {reply:?}");
            let reply = server
                .send(era, &approver, accept, "resources/read", read("500000"))
                .await;
            assert_eq!(
                reply.body["result"]["contents"][0]["text"], "payout of 500000",
                "{at}"
            );
        }
    }
    assert_eq!(server.payments.ran(), 2 * ACCEPTS.len() * 2);
}

#[tokio::test]
async fn a_prompt_above_the_limit_needs_the_approval_scope_in_both_eras() {
    let server = Server::start().await;
    let reader = server.token("invoices:read");
    let approver = server.token("invoices:read payments:approve");
    let nobody = server.token("payouts:read");
    let get =
        |amount: &str| json!({ "name": "refund_note", "arguments": { "amount_cents": amount } });
    let text = |reply: &Reply| reply.body["result"]["messages"][0]["content"]["text"].clone();
    for era in ERAS {
        for accept in ACCEPTS {
            let at = format!("{era}, {accept}");
            let reply = server
                .send(era, &reader, accept, "prompts/get", get("500"))
                .await;
            assert_eq!(
                text(&reply),
                "Explain the refund of 500.",
                "{at}: {reply:?}"
            );
            for token in [&reader, &nobody] {
                server
                    .send(era, token, accept, "prompts/get", get("500000"))
                    .await
                    .assert_insufficient_scope("invoices:read payments:approve");
            }
            // An argument that does not parse: refused for the static scopes first.
            server
                .send(era, &nobody, accept, "prompts/get", get("lots"))
                .await
                .assert_insufficient_scope("invoices:read");
            let reply = server
                .send(era, &reader, accept, "prompts/get", get("lots"))
                .await;
            assert_eq!(reply.body["error"]["code"], -32602, "{at}: {reply:?}");
            let reply = server
                .send(era, &approver, accept, "prompts/get", get("500000"))
                .await;
            assert_eq!(text(&reply), "Explain the refund of 500000.", "{at}");
        }
    }
    assert_eq!(server.payments.ran(), 2 * ACCEPTS.len() * 2);

    let list = server
        .send("modern", &reader, ACCEPTS[1], "prompts/list", json!({}))
        .await;
    assert_eq!(
        list.body["result"]["prompts"][0]["_meta"],
        json!({
            ToolDef::SCOPES_META_KEY: ["invoices:read"],
            ToolDef::CONDITIONAL_SCOPES_META_KEY: ["payments:approve"],
        })
    );

    // A direct Rust call is refused the same way.
    let payments = Payments::default();
    let ctx = ToolContext::new(
        payments.clone(),
        AuthInfo::new("alice").with_scopes(["invoices:read"]),
    );
    let refused = refund_note(ctx, 500_000).await;
    assert!(
        matches!(&refused, Err(ToolError::InsufficientScope { required, .. })
            if required == &["invoices:read", "payments:approve"]),
        "{refused:?}"
    );
    assert_eq!(payments.ran(), 0);
}

#[tokio::test]
async fn a_template_with_conditional_scopes_completes_only_for_a_caller_holding_them_all() {
    let server = Server::start().await;
    let reader = server.token("payouts:read");
    let approver = server.token("payouts:read payments:approve");
    let complete = json!({
        "ref": { "type": "ref/resource", "uri": "payout://{amount_cents}" },
        "argument": { "name": "amount_cents", "value": "5" },
    });
    for era in ERAS {
        for accept in ACCEPTS {
            let at = format!("{era}, {accept}");
            let before = server.payments.ran();
            // The completer would name payouts only an approver may read.
            let reply = server
                .send(
                    era,
                    &reader,
                    accept,
                    "completion/complete",
                    complete.clone(),
                )
                .await;
            reply.assert_insufficient_scope("payouts:read payments:approve");
            assert_eq!(
                server.payments.ran(),
                before,
                "{at}: the completer did not run"
            );
            let reply = server
                .send(
                    era,
                    &approver,
                    accept,
                    "completion/complete",
                    complete.clone(),
                )
                .await;
            assert_eq!(reply.status, 200, "{at}: {reply:?}");
            assert_eq!(
                reply.body["result"]["completion"]["values"],
                json!(["500", "500000"]),
                "{at}"
            );
        }
    }
}

#[tokio::test]
async fn a_prompt_with_conditional_scopes_completes_only_for_a_caller_holding_them_all() {
    let server = Server::start().await;
    let reader = server.token("invoices:read");
    let approver = server.token("invoices:read payments:approve");
    let complete = json!({
        "ref": { "type": "ref/prompt", "name": "refund_note" },
        "argument": { "name": "amount_cents", "value": "5" },
    });
    for era in ERAS {
        for accept in ACCEPTS {
            let at = format!("{era}, {accept}");
            let before = server.payments.ran();
            let method = "completion/complete";
            let reply = server
                .send(era, &reader, accept, method, complete.clone())
                .await;
            reply.assert_insufficient_scope("invoices:read payments:approve");
            assert_eq!(server.payments.ran(), before, "{at}: the completer ran");
            let reply = server
                .send(era, &approver, accept, method, complete.clone())
                .await;
            assert_eq!(
                reply.body["result"]["completion"]["values"],
                json!(["500", "500000"]),
                "{at}: {reply:?}"
            );
        }
    }
}
