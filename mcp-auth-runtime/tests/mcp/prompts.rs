//! Prompts over real HTTP with JWTs signed by a real issuer's key: listing and paging in both
//! eras, gets in both eras and every `Accept`, invalid params, scope refusals before the
//! handler runs, a wrong or missing `Mcp-Name`, filtered lists, the capability, and what the
//! builder refuses.
//!
//! The prompts here are written by hand, their handlers counting before anything else and
//! checking no scope themselves: the server's check is the only one, so a test of a refusal
//! fails if that check goes.

use base64::Engine;
use mcp_auth_runtime::__private::{
    CallContext, CompleteFuture, Completion, CompletionRequest, GetFuture, PromptArgument,
    PromptArguments, PromptDef, PromptMeta, StateType, completion_def, context, prompt_completing,
    prompt_def,
};
use mcp_auth_runtime::{BuildError, GetPromptResult, PromptMessage};
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};

use super::resources::{assert_capability_only_with, legacy, legacy_client, modern_named};
use super::*;

const REMINDER_ARGUMENTS: &[PromptArgument] = &[
    PromptArgument {
        name: "invoice_id",
        description: Some("The invoice."),
        required: true,
    },
    PromptArgument {
        name: "tone",
        description: None,
        required: false,
    },
];

fn meta(
    name: &'static str,
    arguments: &'static [PromptArgument],
    scopes: &'static [&'static str],
) -> PromptMeta {
    PromptMeta {
        name,
        title: None,
        description: Some("test prompt"),
        arguments,
        scopes,
        conditional_scopes: &[],
        state: Some(StateType::of::<Counter>()),
    }
}

/// Counts first, checks nothing: the server's scope check is the only guard.
fn reminder_handler(call: CallContext, arguments: PromptArguments) -> GetFuture {
    Box::pin(async move {
        let ctx = context::<Counter>(call)?;
        ctx.state().0.fetch_add(1, Ordering::SeqCst);
        let id = arguments.get("invoice_id").unwrap_or("?");
        let tone = arguments.get("tone").unwrap_or("polite");
        Ok(GetPromptResult::new(vec![PromptMessage::user(format!(
            "Remind {} of {id}, {tone}.",
            ctx.auth().subject().unwrap_or("-")
        ))]))
    })
}

/// Counts first, checks nothing, as [`reminder_handler`].
fn complete_handler(call: CallContext, request: CompletionRequest) -> CompleteFuture {
    Box::pin(async move {
        let ctx = context::<Counter>(call)?;
        ctx.state().0.fetch_add(1, Ordering::SeqCst);
        Ok(Completion::new(vec![format!("{}-1", request.value())]))
    })
}

fn reminder() -> PromptDef {
    let mut m = meta(
        "payment_reminder",
        REMINDER_ARGUMENTS,
        &["invoices:read", "invoices:remind"],
    );
    m.title = Some("Payment reminder");
    let completion = completion_def(
        vec![("invoice_id", Some(StateType::of::<Counter>()))],
        complete_handler,
    );
    prompt_completing(prompt_def(m, reminder_handler), completion)
}

fn hello() -> PromptDef {
    prompt_def(meta("hello", &[], &[]), reminder_handler)
}

async fn start_prompts(
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> (SocketAddr, Tokens, Counter) {
    let (listener, tokens, builder) = protected("prompts").await;
    let addr = listener.local_addr().unwrap();
    let counter = Counter::default();
    let builder = builder
        .state(counter.clone())
        .prompts([reminder(), hello()]);
    let server = configure(builder).build().unwrap();
    serve_on(listener, server.into_router());
    (addr, tokens, counter)
}

async fn modern_get(
    addr: SocketAddr,
    token: &str,
    accept: &str,
    name: &str,
    arguments: Value,
) -> Reply {
    Reply::of(modern_named(
        addr,
        token,
        accept,
        "prompts/get",
        json!({ "name": name, "arguments": arguments }),
        None,
    ))
    .await
}

/// `request` with its `Mcp-Name` header (mirrored from `params.name`) replaced by `name`, or
/// removed.
fn mcp_name(request: reqwest::RequestBuilder, name: Option<&str>) -> reqwest::RequestBuilder {
    let (client, request) = request.build_split();
    let mut request = request.unwrap();
    let headers = request.headers_mut();
    headers.remove("mcp-name");
    if let Some(name) = name {
        headers.insert("mcp-name", name.parse().unwrap());
    }
    reqwest::RequestBuilder::from_parts(client, request)
}

const ALL: &str = "invoices:read invoices:remind";

#[tokio::test]
async fn lists_carry_arguments_scopes_and_caching_hints_in_both_eras() {
    let (addr, tokens, _) = start_prompts(|b| b).await;
    let token = tokens.of("alice", ALL, 300);
    let client = legacy_client(addr, &token).await;
    let (_, _, body) = client.request("prompts/list", json!({})).await;
    assert_eq!(
        body["result"],
        json!({ "prompts": [
            {
                "name": "payment_reminder", "title": "Payment reminder",
                "description": "test prompt",
                "arguments": [
                    { "name": "invoice_id", "description": "The invoice.", "required": true },
                    { "name": "tone", "required": false }
                ],
                "_meta": { "mcp-auth/scopes": ["invoices:read", "invoices:remind"] }
            },
            {
                "name": "hello", "description": "test prompt", "arguments": [],
                "_meta": { "mcp-auth/scopes": [] }
            }
        ] })
    );
    for accept in ACCEPTS {
        let reply = Reply::of(modern_named(
            addr,
            &token,
            accept,
            "prompts/list",
            json!({}),
            None,
        ))
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let result = &reply.body["result"];
        assert_eq!(result["prompts"][1]["name"], "hello");
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["cacheScope"], "private", "an authenticated server");
        assert!(result["ttlMs"].as_u64().is_some());
    }
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
    let metadata = mcp_auth_test_support::get_json(&reqwest::Client::new(), metadata).await;
    assert_eq!(
        metadata["scopes_supported"],
        json!(["invoices:read", "invoices:remind"])
    );
}

#[tokio::test]
async fn the_capability_is_advertised_only_with_prompts() {
    let (addr, tokens, _) = start_prompts(|b| b).await;
    let methods = ["prompts/list", "prompts/get"];
    let expected = json!({ "listChanged": false });
    assert_capability_only_with(addr, &tokens, "prompts", expected, &methods).await;
}

#[tokio::test]
async fn lists_page_with_opaque_cursors() {
    let (addr, tokens, _) = start_prompts(|b| b.page_size(1)).await;
    let client = legacy_client(addr, &tokens.of("alice", "", 300)).await;
    let (_, _, first) = client.request("prompts/list", json!({})).await;
    assert_eq!(first["result"]["prompts"][0]["name"], "payment_reminder");
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let (_, _, second) = client
        .request("prompts/list", json!({ "cursor": cursor }))
        .await;
    assert_eq!(second["result"]["prompts"][0]["name"], "hello");
    assert_eq!(second["result"].get("nextCursor"), None);
    let (_, _, bad) = client
        .request("prompts/list", json!({ "cursor": "bm9wZQ" }))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
}

#[tokio::test]
async fn gets_render_the_messages_in_both_eras_and_every_accept() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    let token = tokens.of("alice", ALL, 300);
    let arguments = json!({ "invoice_id": "INV-1", "tone": "firm" });
    let expected = json!({ "description": "test prompt", "messages": [
        { "role": "user", "content": { "type": "text", "text": "Remind alice of INV-1, firm." } }
    ] });
    for accept in ACCEPTS {
        let client = legacy_client(addr, &token).await;
        let params = json!({ "name": "payment_reminder", "arguments": arguments });
        let reply = legacy(&client, accept, "prompts/get", params).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["result"], expected, "{accept}");

        let reply = modern_get(addr, &token, accept, "payment_reminder", arguments.clone()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let result = &reply.body["result"];
        assert_eq!(result["messages"], expected["messages"], "{accept}");
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["cacheScope"], "private");
        assert_eq!(result["ttlMs"], 0);
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn unknown_prompts_and_bad_arguments_are_invalid_params() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    let token = tokens.of("alice", ALL, 300);
    let reply = modern_get(addr, &token, ACCEPTS[0], "nope", json!({})).await;
    assert_eq!(
        (reply.status, &reply.body["error"]),
        (
            200,
            &json!({ "code": -32602, "message": "Unknown prompt: nope", "data": { "name": "nope" } })
        )
    );
    let client = legacy_client(addr, &token).await;
    let (_, _, body) = client
        .request("prompts/get", json!({ "name": "nope" }))
        .await;
    assert_eq!(body["error"]["code"], -32602);
    let (_, _, body) = client.request("prompts/get", json!({})).await;
    assert_eq!(body["error"]["code"], -32602);
    for arguments in [
        json!({ "invoice_id": 7 }),
        json!({ "invoice_id": "INV-1", "other": "x" }),
        json!(["INV-1"]),
    ] {
        let reply = modern_get(addr, &token, ACCEPTS[1], "payment_reminder", arguments).await;
        assert_eq!(reply.body["error"]["code"], -32602, "{reply:?}");
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "no handler ran");
}

#[tokio::test]
async fn a_get_without_every_scope_is_refused_before_the_handler_runs() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    // Holds one of the prompt's two scopes.
    let token = tokens.of("alice", "invoices:read", 300);
    let arguments = json!({ "invoice_id": "INV-1" });
    for accept in ACCEPTS {
        let reply = modern_get(addr, &token, accept, "payment_reminder", arguments.clone()).await;
        reply.assert_insufficient_scope(ALL);
        assert_eq!(reply.body["error"]["code"], -32003, "{reply:?}");
        assert_eq!(
            reply.body["error"]["data"]["requiredScopes"],
            json!(["invoices:read", "invoices:remind"])
        );
        let client = legacy_client(addr, &token).await;
        let params = json!({ "name": "payment_reminder", "arguments": arguments });
        let reply = legacy(&client, accept, "prompts/get", params).await;
        reply.assert_insufficient_scope(ALL);
    }
    // Refused before the arguments are looked at: bad ones tell the caller nothing more.
    let reply = modern_get(addr, &token, ACCEPTS[0], "payment_reminder", json!(7)).await;
    reply.assert_insufficient_scope(ALL);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "no handler ran");
    // The unscoped prompt is got with no scope at all.
    let reply = modern_get(
        addr,
        &tokens.of("alice", "", 300),
        ACCEPTS[0],
        "hello",
        json!({}),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_mcp_name_header_must_carry_the_prompt_name() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    let token = tokens.of("alice", ALL, 300);
    let params = json!({ "name": "hello" });
    for name in [Some("payment_reminder"), Some("Hello"), None] {
        let request = modern_named(
            addr,
            &token,
            ACCEPTS[0],
            "prompts/get",
            params.clone(),
            None,
        );
        let reply = Reply::of(mcp_name(request, name)).await;
        assert_eq!(reply.status, 400, "{name:?}: {reply:?}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Header mismatch"),
            "{reply:?}"
        );
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    // The header as the body says it: rendered.
    let request = modern_named(addr, &token, ACCEPTS[0], "prompts/get", params, None);
    let reply = Reply::of(mcp_name(request, Some("hello"))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn filtered_lists_show_only_what_the_caller_may_get() {
    let (addr, tokens, _) = start_prompts(|b| b.filter_tools_by_scope(true)).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let reply = Reply::of(modern_named(
        addr,
        &token,
        ACCEPTS[1],
        "prompts/list",
        json!({}),
        None,
    ))
    .await;
    assert_eq!(reply.body["result"]["prompts"].as_array().unwrap().len(), 1);
    assert_eq!(reply.body["result"]["prompts"][0]["name"], "hello");
    assert_eq!(reply.body["result"]["cacheScope"], "private");
    let client = legacy_client(addr, &tokens.of("alice", ALL, 300)).await;
    let (_, _, body) = client.request("prompts/list", json!({})).await;
    assert_eq!(body["result"]["prompts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_builder_refuses_two_prompts_of_one_name_and_another_state() {
    let build = |defs: Vec<PromptDef>| {
        McpServer::builder("p", "1")
            .without_auth()
            .state(Counter::default())
            .prompts(defs)
            .build()
            .map(|server| server.prompts().len())
    };
    assert_eq!(build(vec![reminder(), hello()]).unwrap(), 2);
    assert!(matches!(
        build(vec![hello(), hello()]),
        Err(BuildError::DuplicatePrompt("hello"))
    ));
    let result = McpServer::builder("p", "1")
        .without_auth()
        .prompts([hello()])
        .build();
    assert!(matches!(
        result,
        Err(BuildError::PromptStateMismatch {
            prompt: "hello",
            ..
        })
    ));
}

#[tokio::test]
async fn the_call_hook_sees_every_get_of_a_declared_prompt_and_its_outcome() {
    use std::sync::Mutex;

    use mcp_auth_runtime::{CallKind, CallOutcome};

    type Seen = (CallKind, &'static str, Option<Value>, String, CallOutcome);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let hook = move |event: &mcp_auth_runtime::CallEvent<'_>| {
        record.lock().unwrap().push((
            event.kind,
            event.name,
            event.arguments.map(|a| Value::Object(a.clone())),
            event.auth.subject().unwrap_or("").to_owned(),
            event.outcome,
        ));
    };
    let (addr, tokens, _) = start_prompts(|b| b.on_call(hook)).await;
    let all = tokens.of("alice", ALL, 300);
    let narrow = tokens.of("bob", "invoices:read", 300);
    let accept = ACCEPTS[1];
    let args = json!({ "invoice_id": "INV-1" });
    assert_eq!(
        modern_get(addr, &all, accept, "payment_reminder", args.clone())
            .await
            .status,
        200
    );
    modern_get(addr, &narrow, accept, "payment_reminder", args.clone())
        .await
        .assert_insufficient_scope(ALL);
    let unknown = json!({ "invoice_id": "INV-1", "bogus": "x" }); // not an argument it takes
    modern_get(addr, &all, accept, "payment_reminder", unknown.clone()).await;
    modern_get(addr, &all, accept, "no_such_prompt", json!({})).await; // not reported

    let seen = seen.lock().unwrap().clone();
    let get = |arguments: &Value, who: &str, outcome| {
        (
            CallKind::PromptGet,
            "payment_reminder",
            Some(arguments.clone()),
            who.to_owned(),
            outcome,
        )
    };
    assert_eq!(
        seen,
        [
            get(&args, "alice", CallOutcome::Completed),
            get(&args, "bob", CallOutcome::Forbidden),
            get(&unknown, "alice", CallOutcome::InvalidArguments),
        ]
    );
}

/// What an attacker tries on `prompts/get`, in both eras: a name differing by case, a Unicode
/// look-alike, spacing or nothing reaches no prompt; the `Mcp-Name` header counts once, plain
/// or Base64-encoded; many arguments that are not strings, or no object at all, from a caller
/// without the scopes are refused for scope before anything looks at them; a cursor cannot be
/// forged. No handler runs for any of them.
#[tokio::test]
async fn look_alike_names_repeated_headers_and_oversized_arguments_reach_nothing() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    let none = tokens.of("eve", "", 300);
    let all = tokens.of("alice", ALL, 300);
    let get = |name: &str, header: &str| {
        let request = modern_named(
            addr,
            &all,
            ACCEPTS[0],
            "prompts/get",
            json!({ "name": name }),
            None,
        );
        Reply::of(mcp_name(request, Some(header)))
    };
    let client = legacy_client(addr, &all).await;
    for name in [
        "Payment_reminder",
        "payment_reminder\u{200b}",
        "\u{ff50}ayment_reminder",
        "payment_reminder ",
        "",
    ] {
        let reply = get(name, &format!("=?base64?{}?=", base64_encode(name))).await;
        assert_eq!(reply.body["error"]["code"], -32602, "{name:?}: {reply:?}");
        assert_eq!(reply.body["error"]["data"]["name"], name);
        let params = json!({ "name": name, "arguments": { "invoice_id": "INV-1" } });
        let reply = legacy(&client, ACCEPTS[0], "prompts/get", params).await;
        assert_eq!(reply.body["error"]["code"], -32602, "{name:?}: {reply:?}");
    }
    assert_eq!(get("hello", "=?base64?aGVsbG8=?=").await.status, 200);
    let request = modern_named(
        addr,
        &all,
        ACCEPTS[0],
        "prompts/get",
        json!({ "name": "hello" }),
        None,
    );
    let twice = mcp_name(request, Some("hello")).header("mcp-name", "hello");
    assert_eq!(Reply::of(twice).await.status, 400);
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        1,
        "only the encoded name rendered"
    );

    let many: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| (format!("k{i}"), json!({ "deep": [i] })))
        .collect();
    let client = legacy_client(addr, &none).await;
    for accept in ACCEPTS {
        modern_get(
            addr,
            &none,
            accept,
            "payment_reminder",
            Value::Object(many.clone()),
        )
        .await
        .assert_insufficient_scope(ALL);
        let params = json!({ "name": "payment_reminder", "arguments": 5 });
        legacy(&client, accept, "prompts/get", params)
            .await
            .assert_insufficient_scope(ALL);
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "no handler ran");

    for forged in [
        "0000000000000000.prompts.1",
        "x.prompts.18446744073709551615",
    ] {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        let request = modern_named(
            addr,
            &all,
            ACCEPTS[0],
            "prompts/list",
            json!({ "cursor": cursor }),
            None,
        );
        let reply = Reply::of(request).await;
        assert_eq!(
            reply.body["error"]["message"],
            "invalid params: invalid cursor"
        );
    }
}

fn base64_encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The server's check is the only guard of the hand-written completer: without the prompt's
/// scopes, `403` in both eras and every `Accept`, and the completer never runs.
#[tokio::test]
async fn a_completion_without_the_prompts_scopes_is_refused_before_the_completer_runs() {
    let (addr, tokens, counter) = start_prompts(|b| b).await;
    let params = json!({
        "ref": { "type": "ref/prompt", "name": "payment_reminder" },
        "argument": { "name": "invoice_id", "value": "INV" }
    });
    let token = tokens.of("alice", "invoices:read", 300);
    for accept in ACCEPTS {
        let request = modern_named(
            addr,
            &token,
            accept,
            "completion/complete",
            params.clone(),
            None,
        );
        Reply::of(request).await.assert_insufficient_scope(ALL);
        let client = legacy_client(addr, &token).await;
        let reply = legacy(&client, accept, "completion/complete", params.clone()).await;
        reply.assert_insufficient_scope(ALL);
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "no completer ran");
    let token = tokens.of("alice", ALL, 300);
    let request = modern_named(
        addr,
        &token,
        ACCEPTS[0],
        "completion/complete",
        params,
        None,
    );
    let reply = Reply::of(request).await;
    assert_eq!(
        reply.body["result"]["completion"]["values"],
        json!(["INV-1"]),
        "{reply:?}"
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}
