//! 2026-07-28 round trips cannot be forged: `requestState` is sealed for the caller, the tool,
//! the arguments and the questions asked, and expires; `inputResponses` answer only questions
//! the server asked. Over real HTTP, with JWTs signed by keys generated here, in each `Accept`
//! variant; every refused retry is `-32602` and runs no tool body to its end.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{BuildError, CallOutcome, McpServerBuilder};
use mcp_auth_test_support::issuer::{Issuer, TestKey, Tokens, protected_by};
use mcp_auth_test_support::tools::{Counter, confirm};
use serde_json::{Value, json};

/// Refund `amount` of `invoice`, once the user confirms.
#[tool(scope = "t:use", destructive)]
async fn refund(
    ctx: ToolContext<Counter>,
    invoice: String,
    amount: i64,
) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": { "confirm": { "type": "boolean" } },
        "required": ["confirm"]
    });
    let answer = ctx
        .elicit(format!("Refund {amount} of {invoice}?"), schema)
        .await?;
    if answer.content.and_then(|c| c.get("confirm").cloned()) != Some(Value::Bool(true)) {
        return Err(ToolError::new("not confirmed"));
    }
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("refunded {amount} of {invoice}"))
}

/// Pay `amount` (any 128-bit amount the type allows), once the user confirms.
#[tool(scope = "t:use", destructive)]
async fn pay(ctx: ToolContext<Counter>, amount: u128) -> Result<String, ToolError> {
    let schema = json!({ "type": "object", "properties": { "confirm": { "type": "boolean" } } });
    ctx.elicit("Confirm the payment?", schema).await?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("paid {amount}"))
}

/// Ask twice, then count.
#[tool(scope = "t:use")]
async fn twice(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let schema = json!({ "type": "object", "properties": { "ok": { "type": "boolean" } } });
    let first = ctx.elicit("First?", schema.clone()).await?;
    let second = ctx.elicit("Second?", schema).await?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{:?} {:?}", first.action, second.action))
}

/// Every `Accept` a 2026-07-28 client may send with a call.
const ACCEPTS: &[&str] = &[
    "application/json, text/event-stream",
    "application/json",
    "text/event-stream",
];

const YES: &str = r#"{ "action": "accept", "content": { "confirm": true } }"#;

fn yes() -> Value {
    serde_json::from_str(YES).unwrap()
}

/// A server for the tools above, behind a JWT verifier of `issuer`.
struct Fx {
    tokens: Tokens,
    addr: SocketAddr,
    counter: Counter,
    http: reqwest::Client,
}

impl Fx {
    async fn start(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Fx {
        let key = TestKey::es256("ec-1");
        let issuer = Issuer::start(&[&key]).await;
        Fx::start_with(&issuer, &key, configure).await
    }

    /// Another server (a replica) of the same issuer.
    async fn replica(&self, configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Fx {
        Fx::start_with(&self.tokens.issuer, &self.tokens.key, configure).await
    }

    async fn start_with(
        issuer: &Issuer,
        key: &TestKey,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
    ) -> Fx {
        let (listener, tokens, builder) = protected_by(issuer, key, "round-trips").await;
        let addr = listener.local_addr().unwrap();
        let counter = Counter::default();
        let builder = builder
            .tools(tools![refund, twice, confirm, pay])
            .state(counter.clone());
        let server = configure(builder).build().unwrap();
        mcp_auth_test_support::serve_on(listener, server.into_router());
        Fx {
            tokens,
            addr,
            counter,
            http: mcp_auth_test_support::fixture::http(),
        }
    }

    /// A token of `subject` for this server.
    fn token(&self, subject: &str) -> String {
        self.tokens.of(subject, "t:use", 300)
    }

    fn runs(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    /// `tools/call` of `tool` by `subject` with `params` (arguments, answers, state), as a
    /// client that can answer elicitations and accepts `accept`.
    async fn call(&self, subject: &str, accept: &str, tool: &str, params: Value) -> (u16, Value) {
        mcp_auth_test_support::modern_call(
            &self.http,
            self.addr,
            &self.token(subject),
            accept,
            tool,
            params,
        )
        .await
    }

    /// The retry of `tool` by `user-1` accepting `accept`: `responses` to its questions, with the
    /// sealed `state`.
    async fn answer(
        &self,
        accept: &str,
        tool: &str,
        responses: Value,
        state: &str,
    ) -> (u16, Value) {
        let params = json!({ "inputResponses": responses, "requestState": state });
        self.call("user-1", accept, tool, params).await
    }

    /// The first round of `tool`: its question key and sealed state.
    async fn ask(&self, subject: &str, tool: &str, arguments: Value) -> (String, String) {
        let (status, body) = self
            .call(subject, ACCEPTS[0], tool, json!({ "arguments": arguments }))
            .await;
        assert_eq!(status, 200, "{body}");
        let result = &body["result"];
        assert_eq!(result["resultType"], "input_required", "{body}");
        let key = result["inputRequests"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        (key, result["requestState"].as_str().unwrap().to_owned())
    }
}

/// Asserts a refused retry: JSON-RPC `-32602` whose message contains `why`. The status is
/// `200`, as for every invalid-params error of dispatch (it is not asserted for a stream-only
/// client, whose transport is another concern).
#[track_caller]
fn assert_refused(accept: &str, (status, body): &(u16, Value), why: &str) {
    assert_eq!(body["error"]["code"], -32602, "{accept}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(why), "{accept}: {message}");
    if accept != "text/event-stream" {
        assert_eq!(*status, 200, "{accept}: {body}");
    }
}

#[tokio::test]
async fn a_confirmed_round_trip_runs_the_tool_once() {
    let fx = Fx::start(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    for accept in ACCEPTS {
        let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
        assert_eq!(key, "elicitation-0");
        // Members in another order are the same arguments.
        let reordered: Value = serde_json::from_str(r#"{"amount":10,"invoice":"INV-1"}"#).unwrap();
        let before = fx.runs();
        let (status, body) = fx
            .call(
                "user-1",
                accept,
                "refund",
                json!({ "arguments": reordered, "inputResponses": { key: yes() }, "requestState": state }),
            )
            .await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert_eq!(
            body["result"]["content"][0]["text"], "refunded 10 of INV-1",
            "{accept}: {body}"
        );
        assert_eq!(fx.runs(), before + 1);
    }
}

#[tokio::test]
async fn a_request_state_is_spent_by_the_retry_that_uses_it() {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = outcomes.clone();
    let fx = Fx::start(move |b| {
        b.on_call(move |event| {
            if event.name == "refund" {
                seen.lock().unwrap().push(event.outcome);
            }
        })
    })
    .await;
    let args = json!({ "invoice": "INV-1", "amount": 100 });
    for accept in ACCEPTS {
        let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
        let retry = confirmed(&args, &key, &state);
        let before = fx.runs();
        let (status, body) = fx.call("user-1", accept, "refund", retry.clone()).await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert_eq!(
            body["result"]["content"][0]["text"], "refunded 100 of INV-1",
            "{accept}: {body}"
        );
        outcomes.lock().unwrap().clear();
        // The same request again, byte for byte: refused, and the tool body does not run.
        let replayed = fx.call("user-1", accept, "refund", retry).await;
        assert_refused(accept, &replayed, "already been used");
        // The same state with another answer is spent all the same.
        let declined = fx
            .call(
                "user-1",
                accept,
                "refund",
                json!({ "arguments": args, "inputResponses": { &key: { "action": "decline" } }, "requestState": state }),
            )
            .await;
        assert_refused(accept, &declined, "already been used");
        assert_eq!(fx.runs(), before + 1, "{accept}");
        assert_eq!(
            *outcomes.lock().unwrap(),
            [CallOutcome::InvalidRequestState; 2],
            "{accept}"
        );
    }
}

#[tokio::test]
async fn concurrent_retries_with_one_state_run_the_tool_once() {
    let fx = Fx::start(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 100 });
    let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
    let retry = confirmed(&args, &key, &state);
    let replies = futures_util::future::join_all((0..8).map(|i| {
        fx.call(
            "user-1",
            ACCEPTS[i % ACCEPTS.len()],
            "refund",
            retry.clone(),
        )
    }))
    .await;
    let refunded = replies
        .iter()
        .filter(|(_, body)| body["result"]["content"][0]["text"] == "refunded 100 of INV-1")
        .count();
    let refused = replies
        .iter()
        .filter(|(_, body)| body["error"]["code"] == -32602)
        .count();
    assert_eq!((refunded, refused), (1, 7), "{replies:?}");
    assert_eq!(fx.runs(), 1);
}

#[tokio::test]
async fn answers_sent_before_any_question_count_for_nothing() {
    let fx = Fx::start(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    // The unsealed state of old: base64 of the answers.
    let forged = URL_SAFE_NO_PAD.encode(format!(r#"{{"elicitation-0":{YES}}}"#));
    for accept in ACCEPTS {
        // A client that skips the confirmation by answering it in advance is asked it
        // (MRTR §error handling: what the server did not ask for is ignored).
        let params = json!({ "arguments": args, "inputResponses": { "elicitation-0": yes() } });
        let (status, body) = fx.call("user-1", accept, "refund", params).await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert_eq!(
            body["result"]["resultType"], "input_required",
            "{accept}: {body}"
        );
        assert!(body["result"]["inputRequests"]["elicitation-0"].is_object());
        let params = json!({ "arguments": args, "requestState": forged });
        let refused = fx.call("user-1", accept, "refund", params).await;
        assert_refused(accept, &refused, "not issued by this server");
    }
    assert_eq!(fx.runs(), 0);
}

#[tokio::test]
async fn a_tampered_request_state_is_refused() {
    let fx = Fx::start(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
    let parts: Vec<&str> = state.split('.').collect();
    assert_eq!(parts.len(), 3, "{state}");
    // One byte changed in each part: the version, the state and its tag.
    let mut tampered = Vec::new();
    for part in 0..3 {
        let mut changed: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
        let bytes = flip_middle(&changed[part]);
        changed[part] = bytes;
        tampered.push(changed.join("."));
    }
    // A state whose content changed, re-encoded correctly: answers smuggled in, the expiry
    // pushed back.
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["ans"]["elicitation-0"] = json!({ "q": payload["ask"]["elicitation-0"], "a": yes() });
    tampered.push(format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    ));
    tampered.push(format!("{state}."));
    tampered.push(parts[..2].join("."));
    // What the suite's `input-required-result-tampered-state` sends.
    tampered.push(format!("{state}-TAMPERED"));
    // The tag of another state of the same call.
    let (_, other) = fx.ask("user-1", "refund", args.clone()).await;
    let other_tag = other.rsplit('.').next().unwrap();
    tampered.push(format!("{}.{}.{other_tag}", parts[0], parts[1]));
    for accept in ACCEPTS {
        for state in &tampered {
            let refused = fx
                .call("user-1", accept, "refund", confirmed(&args, &key, state))
                .await;
            assert_refused(accept, &refused, "`requestState`");
        }
    }
    assert_eq!(fx.runs(), 0);
}

/// The retry of a call with `args`: "yes" to the question `key`, with the sealed `state`.
fn confirmed(args: &Value, key: &str, state: &str) -> Value {
    json!({ "arguments": args, "inputResponses": { key: yes() }, "requestState": state })
}

/// `text` with its middle character replaced by another base64url character.
fn flip_middle(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_confirmation_cannot_be_replayed_onto_another_call() {
    let fx = Fx::start(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
    let retry = |arguments: Value| json!({ "arguments": arguments, "inputResponses": { &key: yes() }, "requestState": state });
    for accept in ACCEPTS {
        for (subject, tool, arguments) in [
            // Another caller.
            ("user-2", "refund", args.clone()),
            // Another invoice, another amount, an extra member.
            (
                "user-1",
                "refund",
                json!({ "invoice": "INV-2", "amount": 10 }),
            ),
            (
                "user-1",
                "refund",
                json!({ "invoice": "INV-1", "amount": 1000 }),
            ),
            (
                "user-1",
                "refund",
                json!({ "invoice": "INV-1", "amount": 10, "note": "x" }),
            ),
            // Another tool asking the same kind of question.
            ("user-1", "confirm", json!({})),
        ] {
            let refused = fx.call(subject, accept, tool, retry(arguments)).await;
            assert_refused(
                accept,
                &refused,
                "not issued by this server for this request",
            );
        }
    }
    assert_eq!(fx.runs(), 0);
    // The state still works for its own call: the refusals above changed nothing.
    let (_, body) = fx.call("user-1", ACCEPTS[0], "refund", retry(args)).await;
    assert_eq!(body["result"]["content"][0]["text"], "refunded 10 of INV-1");
}

/// The body of a 2026-07-28 `tools/call` of `pay` whose `amount` is the JSON number `amount`
/// as written (a `Value` would round it), with `params` beside it.
fn pay_body(amount: &str, params: Value) -> String {
    let mut params = params;
    params["name"] = "pay".into();
    params["arguments"] = json!({ "amount": "AMOUNT" });
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": { "elicitation": {} }
    });
    json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params })
        .to_string()
        .replace(r#""AMOUNT""#, amount)
}

impl Fx {
    /// Sends `body` as a 2026-07-28 call of `pay` by `user-1`, accepting `accept`.
    async fn pay(&self, accept: &str, body: String) -> (u16, Value) {
        let url = format!("http://{}/mcp", self.addr);
        let token = self.token("user-1");
        mcp_auth_test_support::modern::raw_call(&self.http, &url, &token, accept, "pay", body).await
    }
}

/// Asserts the refusal of a message whose arguments hold an integer beyond 64 bits: like every
/// message refused as it is parsed, before any dispatch, it is a `400`.
#[track_caller]
fn assert_wide_refused(accept: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 400, "{accept}: {body}");
    assert_eq!(body["error"]["code"], -32602, "{accept}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("beyond the 64-bit range"),
        "{accept}: {message}"
    );
}

/// A tool may take a 128-bit integer, which it reads exactly from the JSON; the `requestState`
/// digest, the audit trail, `on_call` and the `Mcp-Param-*` checks read arguments as
/// `serde_json` values, where an integer beyond 64 bits is a rounded float. A confirmation of
/// 2^64 would then count for 2^64 + 1: such integers are refused before anything runs.
#[tokio::test]
async fn integers_beyond_64_bits_are_refused_before_any_question_is_asked() {
    let fx = Fx::start(|b| b).await;
    for accept in ACCEPTS {
        for amount in [
            "18446744073709551616",
            "18446744073709551617",
            "-9223372036854775809",
            "100000000000000000000000000000000000000",
            "-18446744073709551616",
        ] {
            let refused = fx.pay(accept, pay_body(amount, json!({}))).await;
            assert_wide_refused(accept, &refused);
        }
        // The last 64-bit integers, and floats of any size, are arguments as usual.
        for (amount, asked) in [("18446744073709551615", true), ("0", true), ("1e30", false)] {
            let (status, body) = fx.pay(accept, pay_body(amount, json!({}))).await;
            assert_eq!(status, 200, "{accept} {amount}: {body}");
            if asked {
                assert_eq!(
                    body["result"]["resultType"], "input_required",
                    "{amount}: {body}"
                );
            } else {
                // A u128 is not a float: the tool's own argument error, not a protocol one.
                assert_eq!(body["result"]["isError"], true, "{amount}: {body}");
            }
        }
    }
    // Nested and in arrays too; strings that look like numbers are strings.
    let nested = pay_body("18446744073709551615", json!({})).replace(
        r#""amount":"#,
        r#""x":{"y":[1,[2,36893488147419103232]]},"amount":"#,
    );
    let refused = fx.pay(ACCEPTS[0], nested).await;
    assert_wide_refused(ACCEPTS[0], &refused);
    // The handshake era reads the same message the same way.
    let url = format!("http://{}/mcp", fx.addr);
    let token = fx.token("user-1");
    let session = mcp_auth_test_support::open_session(&fx.http, &url, &token).await;
    for accept in ACCEPTS {
        let body = r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"pay","arguments":{"amount":18446744073709551616}}}"#;
        let response = fx
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", *accept)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = mcp_auth_test_support::modern::response_of(response.text().await.unwrap());
        assert_wide_refused(accept, &(status, body));
    }
    assert_eq!(fx.runs(), 0);
}

#[tokio::test]
async fn an_answer_to_a_question_not_asked_counts_for_nothing() {
    let fx = Fx::start(|b| b).await;
    let ok = json!({ "action": "accept", "content": { "ok": true } });
    for accept in ACCEPTS {
        for responses in [
            // The next question, answered before it is asked.
            json!({ "elicitation-0": ok, "elicitation-1": ok }),
            json!({ "elicitation-0": ok, "sampling-0": { "role": "assistant" } }),
        ] {
            let (first, state) = fx.ask("user-1", "twice", json!({})).await;
            assert_eq!(first, "elicitation-0");
            let (_, body) = fx.answer(accept, "twice", responses, &state).await;
            let result = &body["result"];
            assert_eq!(result["resultType"], "input_required", "{accept}: {body}");
            let asked: Vec<&String> = result["inputRequests"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            assert_eq!(asked, ["elicitation-1"], "{accept}: {body}");
        }
        // No answer to the question asked: it is asked again.
        let (_, state) = fx.ask("user-1", "twice", json!({})).await;
        let (_, body) = fx
            .answer(accept, "twice", json!({ "elicitation-1": ok }), &state)
            .await;
        assert!(
            body["result"]["inputRequests"]["elicitation-0"].is_object(),
            "{body}"
        );
    }
    assert_eq!(fx.runs(), 0);
    // Answered one at a time, each with the state of the round that asked it.
    let (_, state) = fx.ask("user-1", "twice", json!({})).await;
    let (_, body) = fx
        .answer(ACCEPTS[0], "twice", json!({ "elicitation-0": ok }), &state)
        .await;
    let second = body["result"]["requestState"].as_str().unwrap();
    // The first question answered again with the second round's state changes nothing.
    let (_, body) = fx
        .answer(
            ACCEPTS[0],
            "twice",
            json!({ "elicitation-0": { "action": "decline" }, "elicitation-1": ok }),
            second,
        )
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"], "Accept Accept",
        "{body}"
    );
    assert_eq!(fx.runs(), 1);
}

#[tokio::test]
async fn an_expired_request_state_is_refused() {
    let fx = Fx::start(|b| b.request_state_lifetime(Duration::from_millis(300))).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for accept in ACCEPTS {
        let refused = fx
            .call("user-1", accept, "refund", confirmed(&args, &key, &state))
            .await;
        assert_refused(accept, &refused, "expired");
    }
    assert_eq!(fx.runs(), 0);
}

const OLD_KEY: [u8; 32] = [1; 32];
const NEW_KEY: [u8; 32] = [2; 32];

#[tokio::test]
async fn replicas_sharing_a_key_accept_each_others_states() {
    let a = Fx::start(|b| b.request_state_key(OLD_KEY)).await;
    let b = a.replica(|b| b.request_state_key(OLD_KEY)).await;
    // With the default key, drawn by each process, a replica cannot open another's states.
    let own_key = a.replica(|b| b).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    let (key, state) = a.ask("user-1", "refund", args.clone()).await;
    let retry = confirmed(&args, &key, &state);
    let refused = own_key
        .call("user-1", ACCEPTS[0], "refund", retry.clone())
        .await;
    assert_refused(ACCEPTS[0], &refused, "not issued by this server");
    let (status, body) = b.call("user-1", ACCEPTS[0], "refund", retry).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "refunded 10 of INV-1");
    assert_eq!((a.runs(), b.runs(), own_key.runs()), (0, 1, 0));
}

#[tokio::test]
async fn a_rotated_key_opens_states_while_it_is_listed_as_previous() {
    let old = Fx::start(|b| b.request_state_key(OLD_KEY)).await;
    let rotated = old
        .replica(|b| {
            b.request_state_key(NEW_KEY)
                .previous_request_state_key(OLD_KEY)
        })
        .await;
    let retired = old.replica(|b| b.request_state_key(NEW_KEY)).await;
    let args = json!({ "invoice": "INV-1", "amount": 10 });
    let (key, state) = old.ask("user-1", "refund", args.clone()).await;
    let retry = confirmed(&args, &key, &state);

    let (_, body) = rotated
        .call("user-1", ACCEPTS[0], "refund", retry.clone())
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"], "refunded 10 of INV-1",
        "{body}"
    );
    let refused = retired.call("user-1", ACCEPTS[0], "refund", retry).await;
    assert_refused(ACCEPTS[0], &refused, "not issued by this server");
    assert_eq!(retired.runs(), 0);

    // States sealed after the rotation use the new key: the retired server opens them.
    let (key, state) = rotated.ask("user-1", "refund", args.clone()).await;
    let (_, body) = retired
        .call(
            "user-1",
            ACCEPTS[0],
            "refund",
            confirmed(&args, &key, &state),
        )
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"], "refunded 10 of INV-1",
        "{body}"
    );
}

#[test]
fn a_request_state_key_shorter_than_32_bytes_is_a_build_error() {
    let build = |configure: fn(McpServerBuilder) -> McpServerBuilder| {
        configure(
            McpServer::builder("keys", "1.0.0")
                .tools(tools![twice])
                .state(Counter::default())
                .without_auth(),
        )
        .build()
    };
    for short in [
        (|b: McpServerBuilder| b.request_state_key([0; 31])) as fn(_) -> _,
        |b: McpServerBuilder| {
            b.request_state_key(NEW_KEY)
                .previous_request_state_key(*b"short")
        },
    ] {
        let error = build(short).unwrap_err();
        assert!(
            matches!(error, BuildError::RequestStateKeyTooShort(_)),
            "{error}"
        );
        assert!(error.to_string().contains("at least 32 bytes"), "{error}");
    }
    assert!(build(|b| b.request_state_key(NEW_KEY)).is_ok());
}

/// The expiry, in ms since the Unix epoch, that a sealed state shows its carrier.
fn expiry_of(state: &str) -> u64 {
    let payload = state.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    payload["exp"].as_u64().unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_state_stays_spent_up_to_its_last_millisecond() {
    // The state is opened (its expiry checked) before the retry's `inputResponses` are sorted,
    // and spent after: a retry with many answers to nothing is opened before the expiry and
    // spent after it, when the in-memory record of the first retry has just been dropped.
    let fx = Arc::new(Fx::start(|b| b.request_state_lifetime(Duration::from_millis(1500))).await);
    let args = json!({ "invoice": "INV-1", "amount": 500 });
    let mut confirmed_refunds = 0;
    for _ in 0..8 {
        let (key, state) = fx.ask("user-1", "refund", args.clone()).await;
        let (status, body) = fx
            .call(
                "user-1",
                ACCEPTS[1],
                "refund",
                confirmed(&args, &key, &state),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        confirmed_refunds += 1;
        let mut responses = serde_json::Map::new();
        responses.insert(key.clone(), yes());
        for n in 0..30_000 {
            responses.insert(format!("p{n}"), json!({}));
        }
        let replay = Arc::new(
            json!({ "arguments": args, "inputResponses": responses, "requestState": state }),
        );
        let expires = expiry_of(&state);
        // Two clients, each sending the captured retry again as soon as it is refused, until
        // the state has expired.
        let mut clients = Vec::new();
        for offset in [0, 120] {
            let (fx, replay) = (fx.clone(), replay.clone());
            clients.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(
                    (expires - 900 + offset).saturating_sub(now_ms()),
                ))
                .await;
                while now_ms() <= expires + 20 {
                    let (_, body) = fx
                        .call("user-1", ACCEPTS[1], "refund", (*replay).clone())
                        .await;
                    assert!(body.get("error").is_some(), "a replay was accepted: {body}");
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
    }
    assert_eq!(fx.runs(), confirmed_refunds, "a confirmed refund ran again");
}
