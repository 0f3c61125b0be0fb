//! Handshake-era streams the server closes for polling and the client resumes with `GET` and
//! `Last-Event-ID` (SEP-1699, `StreamPolling`): what is replayed, to whom, and for how long;
//! with real tokens signed by a real issuer's key.

use std::time::Duration;

use mcp_auth_runtime::StreamPolling;
use mcp_auth_runtime::auth::{Dpop, JwtVerifier};
use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::issuer::{Issuer, TestKey, claims, patch};

use super::*;

/// Report progress, take longer than the server keeps a stream open, report again, answer.
#[tool(scope = "t:use")]
async fn slow_steps(ctx: ToolContext) -> Result<String, ToolError> {
    ctx.progress(1.0, Some(2.0), Some("first"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    ctx.progress(2.0, Some(2.0), Some("second"));
    Ok("done slowly".into())
}

/// Answer after the server has closed the stream, having sent nothing before.
#[tool(scope = "t:use")]
async fn quiet_then_done() -> String {
    tokio::time::sleep(Duration::from_millis(400)).await;
    "done quietly".into()
}

/// Take longer than the server keeps a stream open, then answer.
#[tool(scope = "t:use")]
async fn chatty() -> String {
    tokio::time::sleep(Duration::from_millis(600)).await;
    "done chatting".into()
}

/// Runs far past the stream deadline, so that its stream slot is held however slowly the
/// test proceeds on a busy machine.
#[tool(scope = "t:use")]
async fn lingering() -> String {
    tokio::time::sleep(Duration::from_secs(20)).await;
    "done lingering".into()
}

const CLOSE_AFTER: Duration = Duration::from_millis(200);

struct Fx {
    addr: SocketAddr,
    issuer: Issuer,
    key: TestKey,
    resource: String,
}

impl Fx {
    async fn start(polling: StreamPolling) -> Fx {
        Fx::start_with(polling, |b| b).await
    }

    async fn start_with(
        polling: StreamPolling,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
    ) -> Fx {
        let key = TestKey::es256("ec-1");
        let issuer = Issuer::start(&[&key]).await;
        let (listener, addr, resource) = bind_endpoint().await;
        let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
            .build()
            .unwrap();
        let builder = McpServer::builder("resumable", "1")
            .tools(tools![slow_steps, quiet_then_done, chatty, lingering])
            .authorization_server(issuer.url.clone())
            .verifier(verifier)
            .resource(resource.clone())
            .stream_polling(polling);
        let server = configure(builder).build().unwrap();
        serve_on(listener, server.into_router());
        Fx {
            addr,
            issuer,
            key,
            resource,
        }
    }

    /// A token of `subject` (client `client-1`) with the scope `t:use`.
    fn token(&self, subject: &str) -> String {
        self.token_with(subject, "t:use")
    }

    /// A token of `subject` (client `client-1`) with `scope` alone.
    fn token_with(&self, subject: &str, scope: &str) -> String {
        let mut claims = claims(&self.issuer.url, &self.resource, scope);
        patch(&mut claims, &json!({ "sub": subject }));
        self.key.sign(&claims)
    }

    /// A client of `subject` with a session open.
    async fn session(&self, subject: &str) -> Client {
        let client = Client::new(self.addr, Some(&self.token(subject)));
        assert_eq!(client.initialize().await, 200);
        client
    }

    /// `GET` with `Last-Event-ID`, the session `session` and `token`, accepting `accept`.
    fn resume(
        &self,
        token: &str,
        session: &str,
        last: &str,
        accept: &str,
    ) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .get(url(self.addr))
            .bearer_auth(token)
            .header("accept", accept)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("last-event-id", last)
    }
}

impl Fx {
    /// `tools/call` of `tool` (no arguments) in `client`'s session, with this `Accept` alone.
    fn call(&self, client: &Client, tool: &str, id: u64, accept: &str) -> reqwest::RequestBuilder {
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": tool, "arguments": {} }
        });
        reqwest::Client::new()
            .post(url(self.addr))
            .bearer_auth(client.token.as_deref().unwrap())
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", session_of(client))
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string())
    }

    /// Resumes `client`'s stream from `last` again and again, as a polling client does, until
    /// the response comes; returns the messages received on the way.
    async fn poll(&self, client: &Client, last: &str) -> Vec<Value> {
        let token = client.token.clone().unwrap();
        let mut last = last.to_owned();
        let mut received = Vec::new();
        for _ in 0..20 {
            let (status, body) =
                body_of(self.resume(&token, &session_of(client), &last, "text/event-stream")).await;
            assert_eq!(status, 200, "{body}");
            let (messages, at) = messages(&body);
            received.extend(messages);
            last = at.unwrap();
            if received.iter().any(|m| m.get("id").is_some()) {
                return received;
            }
        }
        panic!("no response after 20 polls: {received:?}");
    }
}

fn session_of(client: &Client) -> String {
    client.session.lock().unwrap().clone().unwrap()
}

/// The messages of SSE events (the priming ones left out), with the last event id.
fn messages(body: &str) -> (Vec<Value>, Option<String>) {
    let (events, _) = sse_events(body);
    let last = events.iter().rev().find_map(|(id, _)| id.clone());
    let messages = events
        .iter()
        .filter(|(_, data)| !data.is_empty())
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    (messages, last)
}

/// Sends `request`; its status.
async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

/// Sends `request` and reads the whole body, which the server must end within five seconds.
async fn body_of(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the server ends the stream")
        .unwrap();
    (status, body)
}

#[tokio::test]
async fn a_slow_call_is_closed_after_priming_and_resumed_with_every_later_event() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER).retry(Duration::from_millis(50))).await;
    let alice = fx.session("alice").await;
    let response = alice
        .send_sse_call("slow_steps", 3, json!({ "progressToken": "p" }))
        .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    // Closed before the result (which only a resumption brings), however busy the machine.
    assert!(
        !body.contains("done slowly"),
        "closed before the result: {body}"
    );
    let (events, retry) = sse_events(&body);
    assert!(retry, "a retry field before the server closes");
    assert_eq!(events[0].1, "", "the priming event comes first");
    let (first, last) = messages(&body);
    assert_eq!(first.len(), 1, "only the first progress: {body}");
    assert_eq!(first[0]["params"]["message"], "first");
    let last = last.unwrap();

    // The client polls (the server closes each resumed stream after `CLOSE_AFTER` too) until
    // the result comes, with every later event on the way, each once.
    let rest = fx.poll(&alice, &last).await;
    assert_eq!(
        rest.len(),
        2,
        "the second progress, then the result: {rest:?}"
    );
    assert_eq!(rest[0]["params"]["message"], "second");
    assert_eq!(rest[1]["id"], 3);
    assert_eq!(rest[1]["result"]["content"][0]["text"], "done slowly");
    // The stream is kept a while: resuming from the start replays it all, once more, with
    // every form of `Accept` that allows a stream.
    for accept in ["application/json, text/event-stream", "*/*", "text/*"] {
        let (status, body) = body_of(fx.resume(
            &alice.token.clone().unwrap(),
            &session_of(&alice),
            &events[0].0.clone().unwrap(),
            accept,
        ))
        .await;
        assert_eq!(status, 200, "{accept}");
        let (all, _) = messages(&body);
        assert_eq!(all.len(), 3, "{accept}: {body}");
    }
    assert_eq!(
        status_of(fx.resume(
            &alice.token.clone().unwrap(),
            &session_of(&alice),
            &last,
            "application/json"
        ))
        .await,
        406
    );
}

#[tokio::test]
async fn a_call_that_sends_nothing_is_answered_on_the_resumed_stream() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER)).await;
    let alice = fx.session("alice").await;
    // `Accept: text/event-stream` alone, as well as both.
    for (id, accept) in [
        (1, "text/event-stream"),
        (2, "application/json, text/event-stream"),
    ] {
        let (status, body) = body_of(fx.call(&alice, "quiet_then_done", id, accept)).await;
        assert_eq!(status, 200);
        // The stream ended before the answer, which comes only on the resumed one (a time
        // bound here would fail on a busy machine, and adds nothing to this).
        let (none, last) = messages(&body);
        assert!(none.is_empty(), "{accept}: {body}");
        let result = fx.poll(&alice, &last.unwrap()).await;
        assert_eq!(result.len(), 1, "{result:?}");
        assert_eq!(result[0]["id"], id);
        assert_eq!(result[0]["result"]["content"][0]["text"], "done quietly");
    }
    // A client that accepts only JSON waits for its answer as before.
    let (status, _, body) = alice.call("quiet_then_done", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "done quietly");
}

#[tokio::test]
async fn a_stream_is_resumed_only_by_its_session_and_principal() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER)).await;
    let alice = fx.session("alice").await;
    let alice_elsewhere = Client::new(fx.addr, alice.token.as_deref());
    alice_elsewhere.initialize().await;
    let mallory = fx.session("mallory").await;
    let (_, body) = body_of(alice.sse_call("quiet_then_done", 9, json!({}))).await;
    let (_, last) = messages(&body);
    let last = last.unwrap();
    let (stream, _) = last.rsplit_once('-').unwrap();
    assert!(stream.len() >= 16, "96 random bits: {stream}");
    let mallory_token = mallory.token.clone().unwrap();
    let alice_token = alice.token.clone().unwrap();

    // Alice's session with Mallory's token: refused as any request of that session is.
    assert_eq!(
        status_of(fx.resume(
            &mallory_token,
            &session_of(&alice),
            &last,
            "text/event-stream"
        ))
        .await,
        404
    );
    // Alice's event id in Mallory's session, in another session of Alice's, or forged.
    let forged = format!("{}-0", "A".repeat(stream.len()));
    for (attack, token, session, id) in [
        (
            "mallory's session",
            &mallory_token,
            session_of(&mallory),
            last.clone(),
        ),
        (
            "alice's other session",
            &alice_token,
            session_of(&alice_elsewhere),
            last.clone(),
        ),
        (
            "a forged stream id",
            &alice_token,
            session_of(&alice),
            forged,
        ),
        (
            "a malformed id",
            &alice_token,
            session_of(&alice),
            "0".into(),
        ),
    ] {
        let (status, body) = body_of(fx.resume(token, &session, &id, "text/event-stream")).await;
        assert_eq!(status, 400, "{attack}");
        assert!(!body.contains("done quietly"), "{attack} replayed: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
            -32600
        );
    }
    // None of that consumed anything: Alice resumes and gets her answer.
    let answer = fx.poll(&alice, &last).await;
    assert_eq!(answer[0]["result"]["content"][0]["text"], "done quietly");

    // Once her session ends, its streams are gone too.
    let ended = reqwest::Client::new()
        .delete(url(fx.addr))
        .bearer_auth(&alice_token)
        .header("mcp-session-id", session_of(&alice))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(
        status_of(fx.resume(
            &alice_token,
            &session_of(&alice),
            &last,
            "text/event-stream"
        ))
        .await,
        404,
        "the session is gone"
    );
}

#[tokio::test]
async fn kept_events_are_bounded_and_forgotten_after_a_while() {
    let polling = StreamPolling::after(CLOSE_AFTER)
        .max_events(2)
        .keep_for(Duration::from_secs(1));
    let fx = Fx::start(polling).await;
    let alice = fx.session("alice").await;
    let token = alice.token.clone().unwrap();
    let (_, body) = body_of(alice.sse_call("slow_steps", 4, json!({ "progressToken": "p" }))).await;
    let (events, _) = sse_events(&body);
    let priming = events[0].0.clone().unwrap();
    // Wait for the result: three events were sent after the priming one, two are kept.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, body) =
        body_of(fx.resume(&token, &session_of(&alice), &priming, "text/event-stream")).await;
    let (kept, _) = messages(&body);
    assert_eq!(kept.len(), 2, "{body}");
    assert_eq!(
        kept[0]["params"]["message"], "second",
        "the oldest went first"
    );
    assert_eq!(kept[1]["result"]["content"][0]["text"], "done slowly");
    // `keep_for` after the result, the stream is forgotten.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) =
        body_of(fx.resume(&token, &session_of(&alice), &priming, "text/event-stream")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_detached_call_holds_a_stream_slot_of_its_caller() {
    let fx = Fx::start_with(StreamPolling::after(CLOSE_AFTER), |b| {
        b.max_streams_per_principal(1)
    })
    .await;
    let alice = fx.session("alice").await;
    let started = Instant::now();
    let (_, first) = body_of(alice.sse_call("chatty", 1, json!({}))).await;
    assert!(
        !first.contains("done chatting"),
        "the first call is detached"
    );
    // Alice holds no slot for a second detached call: it is answered as without polling, in
    // JSON since it sent nothing first.
    let second = alice.send_sse_call("chatty", 2, json!({})).await;
    assert_eq!(second.headers()["content-type"], "application/json");
    let second = second.text().await.unwrap();
    assert!(second.contains("done chatting"), "{second}");
    assert!(started.elapsed() >= Duration::from_millis(600));
    // Once the first call is over (it was by the end of the second), its slot is free again.
    let (_, third) = body_of(alice.sse_call("chatty", 3, json!({}))).await;
    assert!(!third.contains("done chatting"), "{third}");
}

#[tokio::test]
async fn a_client_that_leaves_a_resumed_stream_cancels_its_call() {
    let s = start(|b| b.stream_polling(StreamPolling::after(CLOSE_AFTER))).await;
    let client = s.session("user-1").await;
    let (_, body) =
        body_of(client.sse_call("count_slowly", 1, json!({ "progressToken": 1 }))).await;
    let (_, last) = messages(&body);
    // The call went on after the server closed the stream.
    let before = s.counter.0.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        s.counter.0.load(Ordering::SeqCst) > before,
        "the call runs on"
    );
    let resumed = reqwest::Client::new()
        .get(url(s.addr))
        .bearer_auth("user-1")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session_of(&client))
        .header("last-event-id", last.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    drop(resumed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.counter
        .assert_stays(Duration::from_millis(200), "the call was cancelled")
        .await;
}

/// Report progress and answer a few milliseconds later.
#[tool(scope = "t:use")]
async fn quick_progress(ctx: ToolContext) -> Result<String, ToolError> {
    ctx.progress(1.0, Some(1.0), Some("only"));
    // Any await after the notification: a database query, an HTTP request.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok("quick".into())
}

/// REVIEW: one principal fills the process-wide table of kept streams (1024), and every
/// other caller loses polling for `keep_for` (5 minutes by default). A call that sends
/// anything before its response is detached at once, fast or not, and its stream kept
/// `keep_for` after the response; nothing counts kept streams per principal. Here Mallory's
/// calls each end within milliseconds, well inside `close_after`.
#[tokio::test]
async fn one_principal_cannot_take_every_kept_stream() {
    use std::sync::Arc;

    let fx = Arc::new(
        Fx::start_with(StreamPolling::after(CLOSE_AFTER), |b| {
            b.tools(tools![quick_progress])
        })
        .await,
    );
    let mallory = Arc::new(fx.session("mallory").await);
    let mut workers = Vec::new();
    for worker in 0..8u64 {
        let (fx, mallory) = (fx.clone(), mallory.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..130 {
                let id = worker * 1000 + i;
                let call = json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": { "name": "quick_progress", "arguments": {},
                                "_meta": { "progressToken": id } }
                });
                let request = fx
                    .call(&mallory, "quick_progress", id, "text/event-stream")
                    .body(call.to_string());
                let (status, body) = body_of(request).await;
                assert_eq!(status, 200);
                assert!(body.contains("quick"), "{body}");
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }

    // Alice has every slot of her own free, yet her slow call is no longer closed for polling.
    let alice = fx.session("alice").await;
    let (status, body) = body_of(fx.call(&alice, "quiet_then_done", 1, "text/event-stream")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("done quietly"),
        "Alice's stream was not closed for polling after Mallory's 1040 quick calls: {body}"
    );
}

/// REVIEW: a token of the same principal that no longer carries the scope the call needed
/// (`t:use`) still collects the call's events and result by resuming.
#[tokio::test]
async fn a_resumption_needs_the_scopes_of_the_call() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER)).await;
    let alice = fx.session("alice").await;
    let (_, body) = body_of(alice.sse_call("quiet_then_done", 9, json!({}))).await;
    let (_, last) = messages(&body);
    let last = last.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Alice's consent for `t:use` was withdrawn: her new token has another scope only.
    let narrower = fx.token_with("alice", "t:other");
    let (status, body) =
        body_of(fx.resume(&narrower, &session_of(&alice), &last, "text/event-stream")).await;
    assert!(
        !body.contains("done quietly"),
        "the result of a `t:use` call replayed to a token without `t:use` ({status}): {body}"
    );
}

/// REVIEW (holds): the bearer token is verified again at each resumption: an expired token of
/// the same principal, or one for another resource, replays nothing.
#[tokio::test]
async fn a_resumption_with_an_expired_or_foreign_token_replays_nothing() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER)).await;
    let alice = fx.session("alice").await;
    let (_, body) = body_of(alice.sse_call("quiet_then_done", 9, json!({}))).await;
    let (_, last) = messages(&body);
    let last = last.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut expired = claims(&fx.issuer.url, &fx.resource, "t:use");
    patch(
        &mut expired,
        &json!({ "sub": "alice", "exp": 1_000_000, "iat": 999_000 }),
    );
    let mut foreign = claims(&fx.issuer.url, "http://127.0.0.1:1/other", "t:use");
    patch(&mut foreign, &json!({ "sub": "alice" }));
    for (what, claims) in [("expired", expired), ("another audience", foreign)] {
        let token = fx.key.sign(&claims);
        let (status, body) =
            body_of(fx.resume(&token, &session_of(&alice), &last, "text/event-stream")).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.contains("done quietly"), "{what}: {body}");
    }
    // Odd ids replay nothing either: a negative, overflowing, signed or non-ASCII counter.
    let (stream, _) = last.rsplit_once('-').unwrap();
    let token = alice.token.clone().unwrap();
    for odd in [
        format!("{stream}--1"),
        format!("{stream}-18446744073709551616"),
        format!("{stream}-0x0"),
        format!("{stream} -0"),
        format!("{stream}-\u{0661}"),
        format!("{stream}\u{00e9}-0"),
        format!("{}-0", "A".repeat(8000)),
    ] {
        let (status, body) =
            body_of(fx.resume(&token, &session_of(&alice), &odd, "text/event-stream")).await;
        assert!(!body.contains("done quietly"), "{odd}: {status} {body}");
    }
}

/// A resumption holds a stream slot of its caller while it is open: with every slot taken by
/// running calls, it is refused with `429` and `Retry-After` before anything is replayed.
#[tokio::test]
async fn a_resumption_needs_a_free_stream_slot() {
    let fx = Fx::start_with(StreamPolling::after(CLOSE_AFTER), |b| {
        b.max_streams_per_principal(2)
    })
    .await;
    let alice = fx.session("alice").await;
    // Both calls are detached at the deadline, and hold Alice's two slots while they run (20 s:
    // a call that ended, as a 600 ms one could on a loaded machine, would free its slot).
    let (first, second) = tokio::join!(
        body_of(fx.call(&alice, "lingering", 1, "text/event-stream")),
        body_of(fx.call(&alice, "lingering", 2, "text/event-stream")),
    );
    assert!(!first.1.contains("done lingering") && !second.1.contains("done lingering"));
    let (_, last) = messages(&first.1);
    let response = fx
        .resume(
            &alice.token.clone().unwrap(),
            &session_of(&alice),
            &last.unwrap(),
            "text/event-stream",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
}

/// A resumption whose token lacks a scope of the call is `403` with the challenge that names
/// it, so that the client can step up; nothing is replayed.
#[tokio::test]
async fn a_resumption_without_the_calls_scope_is_403_with_insufficient_scope() {
    let fx = Fx::start(StreamPolling::after(CLOSE_AFTER)).await;
    let alice = fx.session("alice").await;
    let (_, body) = body_of(alice.sse_call("chatty", 4, json!({}))).await;
    let (_, last) = messages(&body);
    let narrower = fx.token_with("alice", "t:other");
    let response = fx
        .resume(
            &narrower,
            &session_of(&alice),
            &last.unwrap(),
            "text/event-stream",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("t:use"),
        "{challenge}"
    );
    assert!(!response.text().await.unwrap().contains("done chatting"));
}

/// The same refusal to a DPoP-bound token comes in the scheme the token came in: the client
/// steps up with DPoP, not Bearer (RFC 9449 §7.1).
#[tokio::test]
async fn a_dpop_resumption_without_the_calls_scope_is_403_in_the_dpop_scheme() {
    let fx = Fx::start_with(StreamPolling::after(CLOSE_AFTER), |b| {
        b.dpop(Dpop::accept())
    })
    .await;
    let alice = fx.session("alice").await;
    let (_, body) = body_of(alice.sse_call("chatty", 4, json!({}))).await;
    let (_, last) = messages(&body);
    let key = DpopKey::es256();
    let mut claims = claims(&fx.issuer.url, &fx.resource, "t:other");
    patch(&mut claims, &json!({ "sub": "alice", "cnf": key.cnf() }));
    let narrower = fx.key.sign(&claims);
    let response = reqwest::Client::new()
        .get(url(fx.addr))
        .header("authorization", format!("DPoP {narrower}"))
        .header("dpop", key.proof("GET", &fx.resource, Some(&narrower)))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session_of(&alice))
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", last.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenges: Vec<&str> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(
        challenges[0].starts_with("DPoP ")
            && challenges[0].contains("error=\"insufficient_scope\"")
            && challenges[0].contains("scope=\"t:use\""),
        "{challenges:?}"
    );
    assert!(!response.text().await.unwrap().contains("done chatting"));
}
