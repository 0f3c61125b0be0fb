//! Requests for input under the author's keys (`ToolContext::ask`): several in one round,
//! `roots/list`, several rounds, a prompt that asks, the client capability each needs, the
//! shape of each answer, and answers given in advance. Over real HTTP with JWTs signed by keys
//! generated here, in both eras and each `Accept` a 2026-07-28 client may send.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Ask, InputKind};
use mcp_auth_test_support::issuer::{Issuer, TestKey, Tokens, protected_by};
use mcp_auth_test_support::modern::{request, response_of};
use mcp_auth_test_support::tools::Counter;
use mcp_auth_test_support::{Client, EventReader};
use serde_json::{Value, json};

fn name_form() -> Value {
    json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] })
}

fn topic_form() -> Value {
    json!({ "type": "object", "properties": { "topic": { "type": "string" } } })
}

/// A name, a greeting and the client's roots, in one round.
#[tool(scope = "t:use")]
async fn profile(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let answers = ctx
        .ask(
            Ask::new()
                .elicit("user_name", "Your name?", name_form())
                .sample(
                    "greeting",
                    json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": "greet" } }], "maxTokens": 5 }),
                )
                .list_roots("client_roots"),
        )
        .await?;
    let name = answers
        .elicitation("user_name")?
        .content
        .unwrap_or_default();
    let greeting = answers.sampling("greeting")?;
    let roots = answers.roots("client_roots")?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{} {} in {}",
        greeting["content"]["text"].as_str().unwrap_or_default(),
        name["name"].as_str().unwrap_or_default(),
        roots
            .iter()
            .map(|r| r.uri.as_str())
            .collect::<Vec<_>>()
            .join(",")
    ))
}

/// A name, then a colour.
#[tool(scope = "t:use")]
async fn wizard(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let first = ctx
        .ask(Ask::new().elicit("step1", "Name?", name_form()))
        .await?;
    let color = json!({ "type": "object", "properties": { "color": { "type": "string" } } });
    let second = ctx
        .ask(Ask::new().elicit("step2", "Colour?", color))
        .await?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{} likes {}",
        first.elicitation("step1")?.content.unwrap_or_default()["name"],
        second.elicitation("step2")?.content.unwrap_or_default()["color"]
    ))
}

/// Greets by a name the client may give up front.
#[tool(scope = "t:use")]
async fn greet(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let ask = Ask::new()
        .elicit("user_name", "Your name?", name_form())
        .answerable_in_advance();
    let answer = ctx.ask(ask).await?.elicitation("user_name")?;
    Ok(format!(
        "Hello {}",
        answer.content.unwrap_or_default()["name"]
    ))
}

/// Asks what the client can answer, and says what it asked.
#[tool(scope = "t:use")]
async fn polite(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let mut ask = Ask::new();
    if ctx.client_supports(InputKind::Elicitation) {
        ask = ask.elicit("user_name", "Your name?", name_form());
    }
    if ctx.client_supports(InputKind::Roots) {
        ask = ask.list_roots("client_roots");
    }
    let answers = ctx.ask(ask).await?;
    Ok(format!(
        "{} answers",
        answers.get("user_name").iter().count() + answers.get("client_roots").iter().count()
    ))
}

/// A briefing on the topic the user picks.
#[tool(scope = "t:use")]
async fn briefing(ctx: ToolContext<Counter>) -> Result<String, ToolError> {
    let answer = ctx
        .ask(Ask::new().elicit("topic", "Topic?", topic_form()))
        .await?;
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "tool briefing on {}",
        answer.elicitation("topic")?.content.unwrap_or_default()["topic"]
    ))
}

mod prompts {
    use super::*;

    /// A briefing on the topic the user picks, as a prompt of the tool's name.
    #[prompt(scope = "t:use", name = "briefing")]
    pub(super) async fn briefing_prompt(
        ctx: ToolContext<Counter>,
        /// Who reads it
        audience: String,
    ) -> Result<String, ToolError> {
        let answer = ctx
            .ask(Ask::new().elicit("topic", "Topic?", topic_form()))
            .await?;
        Ok(format!(
            "Brief {} on {}",
            audience,
            answer.elicitation("topic")?.content.unwrap_or_default()["topic"]
        ))
    }
}

const ACCEPTS: &[&str] = &[
    "application/json, text/event-stream",
    "application/json",
    "text/event-stream",
];

const ALL: &str = r#"{ "elicitation": {}, "sampling": {}, "roots": {} }"#;

struct Fx {
    tokens: Tokens,
    addr: SocketAddr,
    counter: Counter,
    http: reqwest::Client,
}

impl Fx {
    async fn start() -> Fx {
        let key = TestKey::es256("ec-1");
        let issuer = Issuer::start(&[&key]).await;
        let (listener, tokens, builder) = protected_by(&issuer, &key, "asking").await;
        let addr = listener.local_addr().unwrap();
        let counter = Counter::default();
        let server = builder
            .tools(tools![profile, wizard, greet, polite, briefing])
            .prompts(mcp_auth_runtime::prompts![prompts::briefing_prompt])
            .state(counter.clone())
            .build()
            .unwrap();
        mcp_auth_test_support::serve_on(listener, server.into_router());
        Fx {
            tokens,
            addr,
            counter,
            http: mcp_auth_test_support::fixture::http(),
        }
    }

    fn runs(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    /// A 2026-07-28 `method` by `subject` of a client declaring `capabilities`.
    async fn send(
        &self,
        subject: &str,
        accept: &str,
        capabilities: &str,
        method: &str,
        params: Value,
    ) -> (u16, Value) {
        let token = self.tokens.of(subject, "t:use", 300);
        let capabilities: Value = serde_json::from_str(capabilities).unwrap();
        let url = format!("http://{}/mcp", self.addr);
        let response = request(
            &self.http,
            &url,
            &token,
            accept,
            capabilities,
            7,
            method,
            params,
        )
        .send()
        .await
        .unwrap();
        let status = response.status().as_u16();
        (status, response_of(response.text().await.unwrap()))
    }

    async fn call(&self, accept: &str, tool: &str, params: Value) -> (u16, Value) {
        let mut params = params;
        params["name"] = tool.into();
        self.send("user-1", accept, ALL, "tools/call", params).await
    }
}

/// The `inputRequests` of an `InputRequiredResult`: key → method; and its state.
#[track_caller]
fn asked(body: &Value) -> (Vec<(String, String)>, String) {
    let result = &body["result"];
    assert_eq!(result["resultType"], "input_required", "{body}");
    let requests = result["inputRequests"].as_object().unwrap();
    let asked = requests
        .iter()
        .map(|(key, r)| (key.clone(), r["method"].as_str().unwrap().to_owned()))
        .collect();
    (asked, result["requestState"].as_str().unwrap().to_owned())
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, m)| ((*k).to_owned(), (*m).to_owned()))
        .collect()
}

fn name_answer(name: &str) -> Value {
    json!({ "action": "accept", "content": { "name": name } })
}

fn sampled(text: &str) -> Value {
    json!({ "role": "assistant", "content": { "type": "text", "text": text }, "model": "m" })
}

fn roots() -> Value {
    json!({ "roots": [{ "uri": "file:///work", "name": "Work" }] })
}

#[track_caller]
fn assert_invalid(accept: &str, (status, body): &(u16, Value), why: &str) {
    assert_eq!(body["error"]["code"], -32602, "{accept}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(why), "{accept}: {message}");
    if accept != "text/event-stream" {
        assert_eq!(*status, 200, "{accept}: {body}");
    }
}

#[tokio::test]
async fn several_requests_for_input_travel_in_one_round_under_the_authors_keys() {
    let fx = Fx::start().await;
    for accept in ACCEPTS {
        let (_, body) = fx.call(accept, "profile", json!({})).await;
        let (keys, state) = asked(&body);
        assert_eq!(
            keys,
            pairs(&[
                ("client_roots", "roots/list"),
                ("greeting", "sampling/createMessage"),
                ("user_name", "elicitation/create"),
            ])
        );
        assert_eq!(
            body["result"]["inputRequests"]["client_roots"]["params"],
            json!({})
        );
        let responses = json!({ "user_name": name_answer("Ada"), "greeting": sampled("Hi"), "client_roots": roots() });
        let retry = json!({ "inputResponses": responses, "requestState": state });
        let (status, body) = fx.call(accept, "profile", retry).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["content"][0]["text"], "Hi Ada in file:///work",
            "{body}"
        );
    }
    assert_eq!(fx.runs(), ACCEPTS.len());
}

#[tokio::test]
async fn a_partial_answer_asks_again_for_the_rest_and_keeps_what_was_answered() {
    let fx = Fx::start().await;
    let (_, body) = fx.call(ACCEPTS[0], "profile", json!({})).await;
    let (_, state) = asked(&body);
    let retry =
        json!({ "inputResponses": { "user_name": name_answer("Ada") }, "requestState": state });
    let (_, body) = fx.call(ACCEPTS[0], "profile", retry).await;
    let (keys, second) = asked(&body);
    assert_eq!(
        keys,
        pairs(&[
            ("client_roots", "roots/list"),
            ("greeting", "sampling/createMessage")
        ])
    );
    assert_eq!(fx.runs(), 0);
    let responses = json!({ "greeting": sampled("Hello"), "client_roots": roots() });
    let retry = json!({ "inputResponses": responses, "requestState": second });
    let (_, body) = fx.call(ACCEPTS[0], "profile", retry).await;
    assert_eq!(
        body["result"]["content"][0]["text"], "Hello Ada in file:///work",
        "{body}"
    );
    assert_eq!(fx.runs(), 1);
}

#[tokio::test]
async fn rounds_follow_one_another_each_with_a_state_of_its_own() {
    let fx = Fx::start().await;
    for accept in ACCEPTS {
        let (_, body) = fx.call(accept, "wizard", json!({})).await;
        let (keys, first) = asked(&body);
        assert_eq!(keys, pairs(&[("step1", "elicitation/create")]));
        let retry =
            json!({ "inputResponses": { "step1": name_answer("Ada") }, "requestState": first });
        let (_, body) = fx.call(accept, "wizard", retry.clone()).await;
        let (keys, second) = asked(&body);
        assert_eq!(keys, pairs(&[("step2", "elicitation/create")]));
        assert_ne!(first, second);
        // The first round's state was spent by the retry that used it.
        let replayed = fx.call(accept, "wizard", retry).await;
        assert_invalid(accept, &replayed, "already been used");
        let answer = json!({ "action": "accept", "content": { "color": "blue" } });
        let retry = json!({ "inputResponses": { "step2": answer }, "requestState": second });
        let (_, body) = fx.call(accept, "wizard", retry).await;
        assert_eq!(
            body["result"]["content"][0]["text"], "\"Ada\" likes \"blue\"",
            "{body}"
        );
    }
    assert_eq!(fx.runs(), ACCEPTS.len());
}

#[tokio::test]
async fn a_malformed_answer_is_invalid_params() {
    let fx = Fx::start().await;
    for accept in ACCEPTS {
        for (responses, why) in [
            (
                json!({ "user_name": 12345 }),
                "`inputResponses.user_name` must be an object",
            ),
            (
                json!({ "anything": "text" }),
                "`inputResponses.anything` must be an object",
            ),
            (
                json!({ "user_name": { "action": "maybe" } }),
                "`user_name` is malformed",
            ),
            (
                json!({ "greeting": { "role": "assistant" } }),
                "`greeting` is malformed",
            ),
            (
                json!({ "client_roots": { "roots": [{ "name": "no uri" }] } }),
                "`client_roots` is malformed",
            ),
        ] {
            let (_, body) = fx.call(accept, "profile", json!({})).await;
            let (_, state) = asked(&body);
            let mut all = json!({ "user_name": name_answer("Ada"), "greeting": sampled("Hi"), "client_roots": roots() });
            for (key, value) in responses.as_object().unwrap() {
                all[key] = value.clone();
            }
            let retry = json!({ "inputResponses": all, "requestState": state });
            let refused = fx.call(accept, "profile", retry).await;
            assert_invalid(accept, &refused, why);
        }
        let refused = fx
            .call(accept, "profile", json!({ "inputResponses": [1] }))
            .await;
        assert_invalid(accept, &refused, "`inputResponses` must be an object");
    }
    assert_eq!(fx.runs(), 0);
}

#[tokio::test]
async fn answers_without_a_state_count_only_where_the_tool_allows_it() {
    let fx = Fx::start().await;
    let responses = json!({
        "user_name": name_answer("Ada"),
        "unknown_extra_key": { "action": "accept", "content": { "foo": "bar" } },
    });
    for accept in ACCEPTS {
        // Bound by default: answered in advance, the questions are asked.
        let (_, body) = fx
            .call(accept, "profile", json!({ "inputResponses": responses }))
            .await;
        let (keys, _) = asked(&body);
        assert_eq!(keys.len(), 3);
        // `answerable_in_advance`: the answer counts, the unknown key is ignored.
        let (_, body) = fx
            .call(accept, "greet", json!({ "inputResponses": responses }))
            .await;
        assert_eq!(
            body["result"]["content"][0]["text"], "Hello \"Ada\"",
            "{body}"
        );
        // Ignored when it answers nothing asked.
        let wrong = json!({ "inputResponses": { "wrong_key": name_answer("Eve") } });
        let (_, body) = fx.call(accept, "greet", wrong).await;
        assert_eq!(
            asked(&body).0,
            pairs(&[("user_name", "elicitation/create")])
        );
        // Still checked for its shape.
        let malformed = json!({ "inputResponses": { "user_name": { "content": {} } } });
        let refused = fx.call(accept, "greet", malformed).await;
        assert_invalid(accept, &refused, "`user_name` is malformed");
    }
    assert_eq!(fx.runs(), 0);
}

#[tokio::test]
async fn each_request_for_input_needs_its_client_capability() {
    let fx = Fx::start().await;
    for accept in ACCEPTS {
        for (capabilities, missing) in [
            (r#"{ "elicitation": {}, "roots": {} }"#, "sampling"),
            (r#"{ "elicitation": {}, "sampling": {} }"#, "roots"),
            (r#"{ "sampling": {}, "roots": {} }"#, "elicitation"),
        ] {
            let (status, body) = fx
                .send(
                    "user-1",
                    accept,
                    capabilities,
                    "tools/call",
                    json!({ "name": "profile" }),
                )
                .await;
            assert_eq!(body["error"]["code"], -32021, "{accept}: {body}");
            if *accept != "text/event-stream" {
                assert_eq!(status, 400, "{accept}: {body}");
            }
            assert_eq!(
                body["error"]["data"]["requiredCapabilities"],
                json!({ missing: {} })
            );
        }
        // A tool that asks only what the client declared.
        let (_, body) = fx
            .send(
                "user-1",
                accept,
                r#"{ "roots": {} }"#,
                "tools/call",
                json!({ "name": "polite" }),
            )
            .await;
        assert_eq!(asked(&body).0, pairs(&[("client_roots", "roots/list")]));
        let (_, body) = fx
            .send(
                "user-1",
                accept,
                r#"{ "sampling": {} }"#,
                "tools/call",
                json!({ "name": "polite" }),
            )
            .await;
        assert_eq!(body["result"]["content"][0]["text"], "0 answers", "{body}");
    }
    assert_eq!(fx.runs(), 0);
}

#[tokio::test]
async fn a_prompt_asks_for_input_under_a_state_bound_to_the_prompt() {
    let fx = Fx::start().await;
    let get = |params: Value| {
        let mut params = params;
        params["name"] = "briefing".into();
        params
    };
    let args = json!({ "audience": "board" });
    let topic = json!({ "topic": { "action": "accept", "content": { "topic": "cash" } } });
    for accept in ACCEPTS {
        let (_, body) = fx
            .send(
                "user-1",
                accept,
                ALL,
                "prompts/get",
                get(json!({ "arguments": args })),
            )
            .await;
        let (keys, state) = asked(&body);
        assert_eq!(keys, pairs(&[("topic", "elicitation/create")]));
        let retry = json!({ "arguments": args, "inputResponses": topic, "requestState": state });
        // Not valid for the tool of the same name asking the same question, for another
        // caller, or for other arguments: each refused before anything runs, the state
        // unspent.
        let refused = fx.call(accept, "briefing", retry.clone()).await;
        assert_invalid(
            accept,
            &refused,
            "not issued by this server for this request",
        );
        let refused = fx
            .send("user-2", accept, ALL, "prompts/get", get(retry.clone()))
            .await;
        assert_invalid(
            accept,
            &refused,
            "not issued by this server for this request",
        );
        let mut other = retry.clone();
        other["arguments"]["audience"] = "press".into();
        let refused = fx
            .send("user-1", accept, ALL, "prompts/get", get(other))
            .await;
        assert_invalid(
            accept,
            &refused,
            "not issued by this server for this request",
        );
        let (status, body) = fx
            .send("user-1", accept, ALL, "prompts/get", get(retry.clone()))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["resultType"], "complete");
        assert_eq!(
            body["result"]["messages"][0]["content"]["text"], "Brief board on \"cash\"",
            "{body}"
        );
        let replayed = fx
            .send("user-1", accept, ALL, "prompts/get", get(retry))
            .await;
        assert_invalid(accept, &replayed, "already been used");
        // A client that cannot answer: -32021, as from a tool.
        let (status, body) = fx
            .send(
                "user-1",
                accept,
                "{}",
                "prompts/get",
                get(json!({ "arguments": args })),
            )
            .await;
        assert_eq!(body["error"]["code"], -32021, "{body}");
        if *accept != "text/event-stream" {
            assert_eq!(status, 400, "{body}");
        }
    }
    assert_eq!(fx.runs(), 0);
}

/// A handshake-era session of `user-1` whose client declared every kind of input.
async fn legacy_session(fx: &Fx) -> Client {
    let client = Client::without_session(fx.addr, Some(&fx.tokens.of("user-1", "t:use", 300)));
    let init = json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": serde_json::from_str::<Value>(ALL).unwrap(),
        "clientInfo": { "name": "t", "version": "0" }
    } });
    let response = client.post_json(&init).await;
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    *client.session.lock().unwrap() = Some(session);
    client
}

/// Answers each request for input `events` brings as `answer` says, until the response.
async fn answer_all(
    client: &Client,
    events: &mut EventReader,
    mut answer: impl FnMut(&str) -> Value,
) -> Value {
    loop {
        let message = events.next().await.unwrap();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            return message;
        };
        let reply = json!({ "jsonrpc": "2.0", "id": message["id"], "result": answer(method) });
        let (status, _, _) = client.send_raw(reply.to_string()).await;
        assert_eq!(status, 202);
    }
}

#[tokio::test]
async fn handshake_era_requests_for_input_go_out_together_on_the_stream() {
    let fx = Fx::start().await;
    let client = legacy_session(&fx).await;
    let mut events = client.stream("profile", 3, json!({})).await;
    let mut methods = Vec::new();
    let response = answer_all(&client, &mut events, |method| {
        methods.push(method.to_owned());
        match method {
            "elicitation/create" => name_answer("Ada"),
            "sampling/createMessage" => sampled("Hey"),
            _ => roots(),
        }
    })
    .await;
    methods.sort();
    assert_eq!(
        methods,
        ["elicitation/create", "roots/list", "sampling/createMessage"]
    );
    assert_eq!(
        response["result"]["content"][0]["text"], "Hey Ada in file:///work",
        "{response}"
    );
    // A malformed answer fails the call.
    let mut events = client.stream("profile", 4, json!({})).await;
    let response = answer_all(&client, &mut events, |_| json!({ "nonsense": true })).await;
    assert_eq!(response["result"]["isError"], true, "{response}");
    assert_eq!(fx.runs(), 1);

    // A prompt asks on its own stream.
    let body = json!({ "jsonrpc": "2.0", "id": 5, "method": "prompts/get", "params": { "name": "briefing", "arguments": { "audience": "staff" } } });
    let response = client
        .post()
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let mut events = EventReader::new(response);
    let topic = json!({ "action": "accept", "content": { "topic": "risk" } });
    let response = answer_all(&client, &mut events, |_| topic.clone()).await;
    assert_eq!(
        response["result"]["messages"][0]["content"]["text"], "Brief staff on \"risk\"",
        "{response}"
    );
}
