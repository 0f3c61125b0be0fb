//! The audit trail: every request the MCP endpoint answers reaches the sink once, refusals
//! before the body included, with its reason, principal, target and scopes, and never the
//! token. Real tokens signed by a real issuer's keys, over real HTTP (and stdio).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, ApiKeys, AuthInfo, Dpop};
use mcp_auth_runtime::observe::RefusalReason;
use mcp_auth_runtime::observe::audit::{AuditEvent, AuditOutcome};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_runtime::stdio::identity_from_vars;
use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::fixture::{TempDir, time_left_in_window, within};
use mcp_auth_test_support::issuer::{Issuer, TestKey, Tokens, at, claims, protected_by};
use mcp_auth_test_support::modern::{self, ACCEPTS};
use mcp_auth_test_support::stdio::StdioClient;
use mcp_auth_test_support::tools::{Counter, count_slowly, read_invoice, void_invoice};
use mcp_auth_test_support::{Client, bind_endpoint, serve_with_peers};
use serde_json::{Value, json};

/// The events a sink was told of, in order.
#[derive(Clone, Default)]
struct Trail(Arc<Mutex<Vec<AuditEvent>>>);

impl Trail {
    /// Takes the events recorded so far.
    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The one event recorded since the last take.
    fn one(&self) -> AuditEvent {
        let mut events = self.take();
        assert_eq!(events.len(), 1, "{events:#?}");
        events.remove(0)
    }
}

/// A server of the two tools behind JWTs of a real issuer, auditing into a trail, served with
/// its peers' addresses.
async fn audited(
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> (std::net::SocketAddr, Tokens, Trail) {
    let key = TestKey::es256("es-1");
    let issuer = Issuer::start(&[&key]).await;
    let (listener, tokens, builder) = protected_by(&issuer, &key, "audited").await;
    let trail = Trail::default();
    let sink = trail.clone();
    let builder = builder
        .tools(tools![void_invoice, read_invoice])
        .audit(move |event: &AuditEvent| sink.0.lock().unwrap().push(event.clone()))
        .audit_arguments(["void_invoice"]);
    let server = configure(builder).build().unwrap();
    (
        serve_with_peers(listener, server.into_router()),
        tokens,
        trail,
    )
}

fn refusal_of(event: &AuditEvent) -> Option<RefusalReason> {
    match event.outcome {
        AuditOutcome::Refused { reason } => Some(reason),
        _ => None,
    }
}

/// The event as a sink would write it.
fn text_of(event: &AuditEvent) -> String {
    serde_json::to_string(event).unwrap()
}

/// A call of `read_invoice` with `authorization` as the header (none when `None`).
async fn call_with(
    addr: std::net::SocketAddr,
    authorization: Option<&str>,
    query: &str,
) -> reqwest::Response {
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "read_invoice", "arguments": { "invoice": "A-1" } }
    });
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp{query}"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn each_refusal_before_the_body_is_audited_with_its_reason_and_never_the_token() {
    let (addr, tokens, trail) = audited(|b| b.stateless(true)).await;
    let other_key = TestKey::es256("es-1");
    let unknown_key = TestKey::es256("es-2");
    let token_with = |changes: Value| {
        let mut claims = claims(&tokens.issuer.url, &tokens.resource, "invoices:read");
        mcp_auth_test_support::issuer::patch(&mut claims, &changes);
        tokens.key.sign(&claims)
    };
    let mut id_token_header = tokens.key.header();
    id_token_header.typ = Some("JWT".into());
    let good_claims = claims(&tokens.issuer.url, &tokens.resource, "invoices:read");
    let cases: Vec<(&str, Option<String>, &str, u16, RefusalReason)> = vec![
        ("no token", None, "", 401, RefusalReason::MissingToken),
        (
            "two tokens in one header",
            Some("Bearer a b".into()),
            "",
            400,
            RefusalReason::InvalidRequest,
        ),
        (
            "a token in the query",
            None,
            "?access_token=secret-in-the-url",
            400,
            RefusalReason::InvalidRequest,
        ),
        (
            "not a JWT",
            Some("Bearer not-a-jwt".into()),
            "",
            401,
            RefusalReason::MalformedToken,
        ),
        (
            "expired",
            Some(format!("Bearer {}", token_with(json!({ "exp": at(-600) })))),
            "",
            401,
            RefusalReason::Expired,
        ),
        (
            "not yet valid",
            Some(format!("Bearer {}", token_with(json!({ "nbf": at(600) })))),
            "",
            401,
            RefusalReason::NotYetValid,
        ),
        (
            "another audience",
            Some(format!(
                "Bearer {}",
                token_with(json!({ "aud": "https://other.example/mcp" }))
            )),
            "",
            401,
            RefusalReason::WrongAudience,
        ),
        (
            "another issuer",
            Some(format!(
                "Bearer {}",
                token_with(json!({ "iss": "https://evil.example" }))
            )),
            "",
            401,
            RefusalReason::WrongIssuer,
        ),
        (
            "signed by another key under the issuer's kid",
            Some(format!("Bearer {}", other_key.sign(&good_claims))),
            "",
            401,
            RefusalReason::BadSignature,
        ),
        (
            "a kid the issuer does not publish",
            Some(format!("Bearer {}", unknown_key.sign(&good_claims))),
            "",
            401,
            RefusalReason::UnknownKey,
        ),
        (
            "not typed as an access token",
            Some(format!(
                "Bearer {}",
                tokens.key.sign_with(id_token_header, &good_claims)
            )),
            "",
            401,
            RefusalReason::WrongTokenType,
        ),
    ];
    for (case, authorization, query, status, reason) in cases {
        let response = call_with(addr, authorization.as_deref(), query).await;
        assert_eq!(response.status(), status, "{case}");
        let event = trail.one();
        assert_eq!(refusal_of(&event), Some(reason), "{case}: {event:?}");
        assert!(event.principal.is_none(), "{case}");
        assert!(
            event.method.is_none(),
            "{case}: refused before the body was read"
        );
        assert_eq!(
            event.client_address,
            Some(std::net::Ipv4Addr::LOCALHOST.into()),
            "{case}"
        );
        let text = text_of(&event);
        assert!(text.contains(reason.as_str()), "{case}: {text}");
        if let Some(authorization) = &authorization {
            let token = authorization.trim_start_matches("Bearer ");
            assert!(!text.contains(token), "{case}: the token in {text}");
        }
        assert!(!text.contains("secret-in-the-url"), "{case}: {text}");
    }
}

#[tokio::test]
async fn a_foreign_origin_is_audited_as_host_or_origin() {
    let (addr, tokens, trail) = audited(|b| b.stateless(true)).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .body(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::HostOrOrigin));
    assert!(event.principal.is_none(), "checked before the token");
    assert!(!text_of(&event).contains(&token));
}

#[tokio::test]
async fn a_call_is_audited_with_its_principal_target_scopes_and_outcome_in_a_session() {
    let (addr, tokens, trail) = audited(|b| b).await;
    let token = tokens.of("alice", "invoices:read invoices:write", 300);
    let client = Client::new(addr, Some(&token));
    assert_eq!(client.initialize().await, 200);
    let opened = trail.one();
    assert_eq!(opened.method.as_deref(), Some("initialize"));
    assert!(matches!(opened.outcome, AuditOutcome::Done));
    assert_eq!(opened.protocol_version.as_deref(), Some("2025-11-25"));

    let (status, _, body) = client
        .call("void_invoice", json!({ "invoice": "A-1" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let session = client.session.lock().unwrap().clone();
    let event = trail.one();
    assert!(matches!(event.outcome, AuditOutcome::Done), "{event:?}");
    assert_eq!(event.method.as_deref(), Some("tools/call"));
    let target = event.target.as_ref().unwrap();
    assert_eq!(
        (target.kind, target.name.as_str()),
        ("tool", "void_invoice")
    );
    assert_eq!(event.scopes, ["invoices:write"]);
    assert_eq!(event.request_id.as_deref(), Some("1"));
    assert_eq!(event.session_id, session);
    assert_eq!(event.protocol_version.as_deref(), Some("2025-11-25"));
    assert!(event.duration_seconds.is_some_and(|d| d >= 0.0));
    let principal = event.principal.as_ref().unwrap();
    assert_eq!(principal.subject.as_deref(), Some("alice"));
    assert_eq!(principal.client_id.as_deref(), Some("client-1"));
    assert_eq!(
        principal.issuer.as_deref(),
        Some(tokens.issuer.url.as_str())
    );
    assert_eq!(principal.api_key_id, None);
    // Named in `audit_arguments`: its arguments are kept.
    assert_eq!(
        event.arguments,
        json!({ "invoice": "A-1" }).as_object().cloned()
    );
    assert!(!text_of(&event).contains(&token));

    // A tool's error result: failed, `tool_error`.
    let (status, _, body) = client
        .call("void_invoice", json!({ "invoice": "paid" }))
        .await;
    assert_eq!((status, &body["result"]["isError"]), (200, &json!(true)));
    let event = trail.one();
    assert!(
        matches!(&event.outcome, AuditOutcome::Failed { error } if error == "tool_error"),
        "{event:?}"
    );

    // Not in `audit_arguments`: no arguments.
    let (status, _, _) = client
        .call("read_invoice", json!({ "invoice": "A-2" }))
        .await;
    assert_eq!(status, 200);
    let event = trail.one();
    assert!(event.arguments.is_none(), "{event:?}");
    assert_eq!(event.scopes, ["invoices:read"]);

    // Accepting a stream too: arguments that do not match the schema, refused by the tool's
    // generated handler with an error result before the function ran.
    let response = client.send_sse_call("read_invoice", 5, json!({})).await;
    let answer = modern::response_of(response.text().await.unwrap());
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    let event = trail.one();
    assert_eq!(event.request_id.as_deref(), Some("5"));
    assert_eq!(refusal_of(&event), Some(RefusalReason::InvalidArguments));

    // An unknown tool: failed with the JSON-RPC error code, no target.
    let (status, _, _) = client.call("no_such_tool", json!({})).await;
    assert_eq!(status, 200);
    let event = trail.one();
    assert!(event.target.is_none());
    assert!(
        matches!(&event.outcome, AuditOutcome::Failed { error } if error == "-32602"),
        "{event:?}"
    );
}

#[tokio::test]
async fn a_missing_scope_is_audited_as_insufficient_scope_with_the_caller() {
    let (addr, tokens, trail) = audited(|b| b.stateless(true)).await;
    let token = tokens.of("bob", "invoices:read", 300);
    let client = Client::without_session(addr, Some(&token));
    let (status, _, _) = client
        .call("void_invoice", json!({ "invoice": "A-1" }))
        .await;
    assert_eq!(status, 403);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::InsufficientScope));
    assert_eq!(
        event.principal.as_ref().unwrap().subject.as_deref(),
        Some("bob")
    );
    assert_eq!(event.scopes, ["invoices:write"]);
    assert_eq!(event.target.as_ref().unwrap().name, "void_invoice");
    assert!(!text_of(&event).contains(&token));
}

#[tokio::test]
async fn modern_requests_are_audited_whatever_they_accept() {
    let (addr, tokens, trail) = audited(|b| b).await;
    let token = tokens.of("carol", "invoices:read", 300);
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/mcp");
    for (id, accept) in (1..).zip(ACCEPTS) {
        let response = modern::request(
            &http,
            &url,
            &token,
            accept,
            json!({}),
            id,
            "tools/call",
            json!({ "name": "read_invoice", "arguments": { "invoice": "A-1" } }),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let answer = modern::response_of(response.text().await.unwrap());
        assert!(answer["result"]["content"].is_array(), "{accept}: {answer}");
        let event = trail.one();
        assert!(matches!(event.outcome, AuditOutcome::Done), "{accept}");
        assert_eq!(event.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(event.request_id, Some(id.to_string()));
        assert!(event.session_id.is_none());
        assert_eq!(event.target.as_ref().unwrap().name, "read_invoice");
    }
}

#[tokio::test]
async fn stdio_requests_are_audited_with_the_local_identity() {
    let trail = Trail::default();
    let sink = trail.clone();
    let server = McpServer::builder("audited-stdio", "0")
        .tools(tools![void_invoice, read_invoice])
        .audit(move |event: &AuditEvent| sink.0.lock().unwrap().push(event.clone()))
        .stdio_only()
        .build()
        .unwrap();
    let identity: AuthInfo =
        identity_from_vars("T", [("T_SUBJECT", "dave"), ("T_SCOPES", "invoices:read")]).unwrap();
    let mut stdio = StdioClient::serve(server, identity);
    stdio.initialize(json!({})).await;
    assert_eq!(trail.one().method.as_deref(), Some("initialize"));
    let answer = stdio
        .call(2, "read_invoice", json!({ "invoice": "A-1" }))
        .await;
    assert!(answer["result"]["content"].is_array(), "{answer}");
    let event = trail.one();
    assert!(matches!(event.outcome, AuditOutcome::Done));
    assert_eq!(
        event.principal.as_ref().unwrap().subject.as_deref(),
        Some("dave")
    );
    assert!(event.client_address.is_none());
    let refused = stdio
        .call(3, "void_invoice", json!({ "invoice": "A-1" }))
        .await;
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    assert_eq!(
        refusal_of(&trail.one()),
        Some(RefusalReason::InsufficientScope)
    );
    stdio.close().await.unwrap();
}

#[tokio::test]
async fn dpop_refusals_are_audited_with_the_verified_caller() {
    let (addr, tokens, trail) = audited(|b| b.stateless(true).dpop(Dpop::accept())).await;
    let client_key = DpopKey::es256();
    let mut bound = claims(&tokens.issuer.url, &tokens.resource, "invoices:read");
    bound["sub"] = "erin".into();
    bound["cnf"] = client_key.cnf();
    let token = tokens.key.sign(&bound);
    let url = format!("http://{addr}/mcp");
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "read_invoice", "arguments": { "invoice": "A-1" } }
    })
    .to_string();
    let post = |url: &str| {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.clone())
    };
    // A bound token sent as a bearer token.
    let response = post(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::WrongScheme));
    assert_eq!(
        event.principal.as_ref().unwrap().subject.as_deref(),
        Some("erin")
    );
    // A proof for another URI.
    let proof = client_key.proof("POST", "http://127.0.0.1:1/mcp", Some(&token));
    let response = post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::DpopProof));
    let text = text_of(&event);
    assert!(!text.contains(&token) && !text.contains(&proof), "{text}");
    // The honest client gets through.
    let response = client_key
        .authorize(post(&url), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(matches!(trail.one().outcome, AuditOutcome::Done));
}

#[tokio::test]
async fn a_spent_request_budget_is_audited_as_rate_limited() {
    let (addr, tokens, trail) = audited(|b| {
        b.stateless(true)
            .rate_limits(RateLimits::local().requests(Quota::per_minute(1)))
    })
    .await;
    time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
    let token = tokens.of("frank", "invoices:read", 300);
    let client = Client::without_session(addr, Some(&token));
    let read = json!({ "invoice": "A-1" });
    assert_eq!(client.call("read_invoice", read.clone()).await.0, 200);
    assert!(matches!(trail.one().outcome, AuditOutcome::Done));
    assert_eq!(client.call("read_invoice", read).await.0, 429);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::RateLimited));
    assert_eq!(
        event.principal.as_ref().unwrap().subject.as_deref(),
        Some("frank")
    );
    // The body is read for the audit: the event names the call the budget refused.
    assert_eq!(event.method.as_deref(), Some("tools/call"));
    assert_eq!(
        event.target.as_ref().map(|t| (t.kind, t.name.as_str())),
        Some(("tool", "read_invoice"))
    );
    assert_eq!(event.scopes, ["invoices:read"]);
    assert!(event.request_id.is_some(), "{event:?}");
}

#[tokio::test]
async fn an_issuer_never_reached_is_audited_as_unavailable() {
    let (addr, tokens, trail) = audited(|b| b.stateless(true)).await;
    tokens.issuer.set_down(true);
    let token = tokens.of("gina", "invoices:read", 300);
    let response = call_with(addr, Some(&format!("Bearer {token}")), "").await;
    assert_eq!(response.status(), 503);
    assert_eq!(refusal_of(&trail.one()), Some(RefusalReason::Unavailable));
}

#[tokio::test]
async fn api_keys_are_audited_by_key_id_and_guessing_as_too_many_failures() {
    time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
    let dir = TempDir::new("audit-api-keys");
    let file = ApiKeyFile::new(dir.path().join("api-keys.json"));
    let (key, record) = ApiKeyRecord::generate("bot", ["invoices:read"]);
    let id = record.id.clone();
    file.add(record).unwrap();
    let keys = ApiKeys::from_file(file.path())
        .unwrap()
        .failure_limit(Quota::per_minute(2));
    let (listener, addr, resource) = bind_endpoint().await;
    let trail = Trail::default();
    let sink = trail.clone();
    let server = McpServer::builder("audited-keys", "0")
        .tools(tools![void_invoice, read_invoice])
        .resource(resource)
        .verifier(keys)
        .stateless(true)
        .audit(move |event: &AuditEvent| sink.0.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();
    serve_with_peers(listener, server);
    let read = json!({ "invoice": "A-1" });
    let good = Client::without_session(addr, Some(key.secret()));
    assert_eq!(good.call("read_invoice", read.clone()).await.0, 200);
    let event = trail.one();
    let principal = event.principal.as_ref().unwrap();
    assert_eq!(principal.api_key_id.as_deref(), Some(id.as_str()));
    assert_eq!(principal.issuer, None);
    assert!(!text_of(&event).contains(key.secret()));

    let guess = format!("{}{}", &key.secret()[..key.secret().len() - 4], "AAAA");
    let guesser = Client::without_session(addr, Some(&guess));
    for _ in 0..2 {
        assert_eq!(guesser.call("read_invoice", read.clone()).await.0, 401);
        assert_eq!(refusal_of(&trail.one()), Some(RefusalReason::UnknownKey));
    }
    assert_eq!(guesser.call("read_invoice", read).await.0, 429);
    let event = trail.one();
    assert_eq!(refusal_of(&event), Some(RefusalReason::TooManyFailures));
    assert!(!text_of(&event).contains(&guess));
}

#[tokio::test]
async fn a_call_whose_client_goes_away_is_audited_as_cancelled() {
    let (addr, tokens, trail) = audited(|b| {
        b.tools(tools![count_slowly])
            .state(Counter::default())
            .stateless(true)
    })
    .await;
    let token = tokens.of("hana", "t:use", 300);
    // The tool reports progress first, so the answer becomes a stream.
    let mut response = modern::request(
        &reqwest::Client::new(),
        &format!("http://{addr}/mcp"),
        &token,
        "text/event-stream",
        json!({}),
        9,
        "tools/call",
        json!({ "name": "count_slowly", "arguments": {}, "_meta": { "progressToken": "p" } }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.chunk().await.unwrap().unwrap();
    drop(response);
    let event = within(async {
        loop {
            if let Some(event) = trail.0.lock().unwrap().pop() {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        matches!(&event.outcome, AuditOutcome::Failed { error } if error == "cancelled"),
        "{event:?}"
    );
    assert_eq!(event.target.as_ref().unwrap().name, "count_slowly");
    assert_eq!(event.request_id.as_deref(), Some("9"));
}

#[path = "task_fixture/mod.rs"]
mod task_fixture;

/// A call that runs on as a task is answered (`resultType: task`) before its body ends: the
/// answer is not the call's outcome. A run its body refuses (`purge` needs `t:admin`, which
/// the caller lacks) must reach the audit trail as refused, once, with its reason.
#[tokio::test]
async fn a_task_run_refused_by_its_body_is_audited_as_refused() {
    let trail = Trail::default();
    let sink = trail.clone();
    let fx = task_fixture::Fx::start(move |b| {
        b.audit(move |event: &AuditEvent| sink.0.lock().unwrap().push(event.clone()))
    })
    .await;
    let plain = fx.token("ann");
    let id = fx.create(&plain, "purge", json!({})).await;
    fx.settled(&plain, &id).await;
    let events = trail.take();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.target.as_ref().is_some_and(|t| t.name == "purge"))
        .filter(|e| refusal_of(e) == Some(RefusalReason::InsufficientScope))
        .collect();
    assert_eq!(refused.len(), 1, "{events:#?}");
}
