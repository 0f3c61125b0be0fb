//! Resource subscriptions over real HTTP with JWTs signed by a real issuer's key: in the
//! handshake era (`resources/subscribe` in a session, updates on its `GET` stream) and in
//! 2026-07-28 (`resourceSubscriptions` on `subscriptions/listen`): delivery, unsubscribe,
//! scope refusals before anything is recorded in every `Accept`, unknown URIs and another
//! tenant's, the cap, another principal's session, and a stream whose token lost the scope.
//!
//! "Nothing arrives" is shown without waiting: the test then publishes a sentinel the stream
//! did subscribe to, and the sentinel must be the next event.

use mcp_auth_runtime::McpServer;
use mcp_auth_test_support::EventReader;
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};

use super::resources::initialize_capabilities;
use super::*;

const SUMMARY: &str = "billing://tenant/summary";
const LOGO: &str = "billing://logo";

/// Counts and totals.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
async fn summary() -> Result<String, ToolError> {
    Ok(r#"{"open":2}"#.into())
}

/// The brand logo.
#[resource(uri = "billing://logo", unscoped, mime_type = "image/png")]
async fn logo() -> Result<Vec<u8>, ToolError> {
    Ok(vec![0x89, b'P'])
}

/// An invoice: alice owns INV-1; anyone else is told it does not exist.
#[resource(uri_template = "invoice://{id}", scope = ["invoices:read", "invoices:detail"])]
async fn invoice(ctx: ToolContext, id: String) -> Result<String, ToolError> {
    if id != "INV-1" || ctx.auth().subject() != Some("alice") {
        return Err(ToolError::NotFound);
    }
    Ok(format!("invoice {id}"))
}

async fn start_subs(
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> (SocketAddr, Tokens, McpServer) {
    let (listener, tokens, builder) = protected("subscriptions").await;
    let addr = listener.local_addr().unwrap();
    let builder = builder.resources(resources![summary, logo, invoice]);
    let server = configure(builder).build().unwrap();
    serve_on(listener, server.clone().into_router());
    (addr, tokens, server)
}

/// A handshake-era session of `token`.
async fn session(addr: SocketAddr, token: &str) -> Client {
    let client = Client::new(addr, Some(token));
    assert_eq!(client.initialize().await, 200);
    client
}

fn session_id(client: &Client) -> String {
    client.session.lock().unwrap().clone().unwrap()
}

/// `method` with `uri` in `client`'s session, accepting `accept`, as `token`.
async fn in_session(client: &Client, token: &str, accept: &str, method: &str, uri: &str) -> Reply {
    let body = json!({ "jsonrpc": "2.0", "id": 3, "method": method, "params": { "uri": uri } });
    Reply::of(
        client
            .http
            .post(&client.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", session_id(client))
            .header("mcp-protocol-version", "2025-11-25")
            .bearer_auth(token)
            .body(body.to_string()),
    )
    .await
}

async fn subscribe(client: &Client, uri: &str) -> Reply {
    let token = client.token.clone().unwrap();
    in_session(client, &token, ACCEPTS[1], "resources/subscribe", uri).await
}

/// The session's standalone stream, opened with `token`.
async fn get_stream(client: &Client, token: &str) -> reqwest::Response {
    client
        .http
        .get(&client.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session_id(client))
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn open_stream(client: &Client, token: &str) -> EventReader {
    let response = get_stream(client, token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    EventReader::new(response)
}

fn updated(uri: &str) -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": { "uri": uri } })
}

#[tokio::test]
async fn a_session_receives_the_updates_it_subscribed_to_until_it_unsubscribes() {
    let (addr, tokens, server) = start_subs(|b| b).await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 300);
    let alice = session(addr, &token).await;
    let mut events = open_stream(&alice, &token).await;

    let capabilities = initialize_capabilities(addr, &token).await;
    assert_eq!(
        capabilities["resources"],
        json!({ "subscribe": true, "listChanged": false })
    );

    let reply = subscribe(&alice, SUMMARY).await;
    assert_eq!(
        (reply.status, &reply.body["result"]),
        (200, &json!({})),
        "{reply:?}"
    );
    assert_eq!(subscribe(&alice, "invoice://INV-1").await.status, 200);

    // Not subscribed to the logo: the summary's update is the first to arrive.
    server.notify_resource_updated(LOGO);
    server.notify_resource_updated(SUMMARY);
    assert_eq!(events.next_soon().await, updated(SUMMARY));
    server
        .notifier()
        .resource_updated_with_title("invoice://INV-1", "Invoice INV-1");
    let note = events.next_soon().await;
    assert_eq!(
        note["params"],
        json!({ "uri": "invoice://INV-1", "title": "Invoice INV-1" })
    );

    // Unsubscribed (and unsubscribing from a URI never subscribed to is harmless).
    let reply = in_session(&alice, &token, ACCEPTS[1], "resources/unsubscribe", SUMMARY).await;
    assert_eq!((reply.status, &reply.body["result"]), (200, &json!({})));
    let reply = in_session(
        &alice,
        &token,
        ACCEPTS[1],
        "resources/unsubscribe",
        "nope://x",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    server.notify_resource_updated(SUMMARY);
    server.notify_resource_updated("invoice://INV-1");
    assert_eq!(events.next_soon().await, updated("invoice://INV-1"));

    // One stream per session; and the stream ends with the session.
    assert_eq!(get_stream(&alice, &token).await.status(), 409);
    let deleted = alice
        .http
        .delete(&alice.url)
        .header("mcp-session-id", session_id(&alice))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
    assert_eq!(ended.expect("the stream ends"), None);
}

#[tokio::test]
async fn subscribing_without_the_read_scopes_is_refused_before_anything_is_recorded() {
    let (addr, tokens, server) = start_subs(|b| b).await;
    let weak = tokens.of("alice", "invoices:read", 300);
    let strong = tokens.of("alice", "invoices:read invoices:detail", 300);
    let none = tokens.of("alice", "", 300);
    let alice = session(addr, &strong).await;
    for accept in ACCEPTS {
        let reply = in_session(&alice, &none, accept, "resources/subscribe", SUMMARY).await;
        reply.assert_insufficient_scope("invoices:read");
        assert_eq!(
            reply.body["error"]["data"]["requiredScopes"],
            json!(["invoices:read"])
        );
        // Every scope the URI needs, not only the missing one.
        let reply = in_session(
            &alice,
            &weak,
            accept,
            "resources/subscribe",
            "invoice://INV-1",
        )
        .await;
        reply.assert_insufficient_scope("invoices:read invoices:detail");
    }
    // Nothing was recorded: with a token that could read both, only the sentinel arrives.
    let mut events = open_stream(&alice, &strong).await;
    assert_eq!(subscribe(&alice, LOGO).await.status, 200);
    server.notify_resource_updated(SUMMARY);
    server.notify_resource_updated("invoice://INV-1");
    server.notify_resource_updated(LOGO);
    assert_eq!(events.next_soon().await, updated(LOGO));
}

#[tokio::test]
async fn unknown_uris_and_another_tenants_resource_are_not_found() {
    let (addr, tokens, _server) = start_subs(|b| b).await;
    let token = tokens.of("bob", "invoices:read invoices:detail", 300);
    let bob = session(addr, &token).await;
    for uri in ["nope://x", "invoice://INV-1"] {
        let reply = subscribe(&bob, uri).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["error"]["code"], -32602, "{reply:?}");
        assert_eq!(reply.body["error"]["message"], "Resource not found");
        assert_eq!(reply.body["error"]["data"]["uri"], uri);
    }
    let reply = subscribe(&bob, "").await;
    assert_eq!(reply.body["error"]["code"], -32602);
    let body = json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {} });
    let (_, _, body) = {
        let (status, session, text) = bob.send_raw(body.to_string()).await;
        (
            status,
            session,
            serde_json::from_str::<Value>(&text).unwrap(),
        )
    };
    assert_eq!(body["error"]["code"], -32602, "no uri");
}

#[tokio::test]
async fn a_session_holds_at_most_the_configured_number_of_subscriptions() {
    let (addr, tokens, _server) = start_subs(|b| b.max_subscriptions(2)).await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 300);
    let alice = session(addr, &token).await;
    assert_eq!(subscribe(&alice, SUMMARY).await.status, 200);
    assert_eq!(subscribe(&alice, LOGO).await.body["result"], json!({}));
    assert_eq!(
        subscribe(&alice, LOGO).await.body["result"],
        json!({}),
        "again"
    );
    let reply = subscribe(&alice, "invoice://INV-1").await;
    assert_eq!(reply.body["error"]["code"], -32602, "{reply:?}");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many subscriptions")
    );
    let reply = in_session(&alice, &token, ACCEPTS[1], "resources/unsubscribe", LOGO).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        subscribe(&alice, "invoice://INV-1").await.body["result"],
        json!({})
    );
}

#[tokio::test]
async fn another_principal_gets_nothing_of_a_session() {
    let (addr, tokens, server) = start_subs(|b| b).await;
    let alice_token = tokens.of("alice", "invoices:read", 300);
    let mallory_token = tokens.of("mallory", "invoices:read", 300);
    let alice = session(addr, &alice_token).await;
    assert_eq!(subscribe(&alice, SUMMARY).await.status, 200);
    // Alice's session id with Mallory's token: no such session, for the stream and the
    // subscription alike.
    assert_eq!(get_stream(&alice, &mallory_token).await.status(), 404);
    let reply = in_session(
        &alice,
        &mallory_token,
        ACCEPTS[1],
        "resources/subscribe",
        LOGO,
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    let reply = in_session(
        &alice,
        &mallory_token,
        ACCEPTS[1],
        "resources/unsubscribe",
        SUMMARY,
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");

    // Mallory's own session, subscribed to the logo only, learns nothing of the summary.
    let mallory = session(addr, &mallory_token).await;
    let mut events = open_stream(&mallory, &mallory_token).await;
    assert_eq!(subscribe(&mallory, LOGO).await.status, 200);
    let mut alice_events = open_stream(&alice, &alice_token).await;
    server.notify_resource_updated(SUMMARY);
    server.notify_resource_updated(LOGO);
    assert_eq!(events.next_soon().await, updated(LOGO));
    assert_eq!(alice_events.next_soon().await, updated(SUMMARY));
}

#[tokio::test]
async fn a_stream_whose_token_cannot_read_the_uri_receives_no_update() {
    let (addr, tokens, server) = start_subs(|b| b).await;
    let strong = tokens.of("alice", "invoices:read", 300);
    let weak = tokens.of("alice", "", 300);
    let alice = session(addr, &strong).await;
    assert_eq!(subscribe(&alice, SUMMARY).await.status, 200);
    assert_eq!(subscribe(&alice, LOGO).await.status, 200);
    // The same principal, later, with a token that lost `invoices:read`.
    let mut events = open_stream(&alice, &weak).await;
    server.notify_resource_updated(SUMMARY);
    server.notify_resource_updated(LOGO);
    assert_eq!(events.next_soon().await, updated(LOGO));
}

#[tokio::test]
async fn get_is_refused_where_there_is_nothing_to_stream() {
    let (addr, tokens, _server) = start_subs(|b| b).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let http = reqwest::Client::new();
    let get = |headers: &[(&str, &str)]| {
        let mut request = http
            .get(url(addr))
            .bearer_auth(&token)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    assert_eq!(get(&[]).await.unwrap().status(), 400, "no session");
    assert_eq!(
        get(&[("mcp-session-id", "nope")]).await.unwrap().status(),
        404
    );
    let modern = [("mcp-protocol-version", "2026-07-28")];
    assert_eq!(get(&modern).await.unwrap().status(), 405);
    let unauthenticated = http.get(url(addr)).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // A stateless server has no session to stream to.
    let (addr, tokens, _server) = start_subs(|b| b.stateless(true)).await;
    let token = tokens.of("alice", "invoices:read", 300);
    let response = reqwest::Client::new()
        .get(url(addr))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let capabilities = initialize_capabilities(addr, &token).await;
    assert_eq!(
        capabilities["resources"]["subscribe"], false,
        "no session to subscribe in"
    );
    let client = Client::without_session(addr, Some(&token));
    let reply = subscribe(&client_with_session_header(&client), SUMMARY).await;
    assert_eq!(reply.body["error"]["code"], -32601, "{reply:?}");
}

/// `client`, sending a made-up session id (a stateless server ignores it).
fn client_with_session_header(client: &Client) -> Client {
    let other = Client::without_session("127.0.0.1:1".parse().unwrap(), client.token.as_deref());
    *other.session.lock().unwrap() = Some("none".into());
    Client {
        url: client.url.clone(),
        ..other
    }
}

/// A 2026-07-28 `subscriptions/listen` for `uris` as `token`.
fn listen(addr: SocketAddr, token: &str, accept: &str, uris: Value) -> reqwest::RequestBuilder {
    mcp_auth_test_support::modern::request(
        &reqwest::Client::new(),
        &url(addr),
        token,
        accept,
        json!({}),
        7,
        "subscriptions/listen",
        json!({ "notifications": { "resourceSubscriptions": uris } }),
    )
}

#[tokio::test]
async fn a_listen_stream_receives_the_updates_of_its_resource_subscriptions() {
    let (addr, tokens, server) = start_subs(|b| b).await;
    let token = tokens.of("alice", "invoices:read invoices:detail", 300);
    let response = listen(
        addr,
        &token,
        ACCEPTS[0],
        json!([SUMMARY, "invoice://INV-1", SUMMARY]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = EventReader::new(response);
    let ack = events.next_soon().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["notifications"],
        json!({ "resourceSubscriptions": ["billing://tenant/summary", "invoice://INV-1"] })
    );
    server.notify_resource_updated(LOGO);
    server.notify_resource_updated("invoice://INV-1");
    let note = events.next_soon().await;
    assert_eq!(note["method"], "notifications/resources/updated");
    assert_eq!(
        note["params"],
        json!({ "uri": "invoice://INV-1", "_meta": { "io.modelcontextprotocol/subscriptionId": 7 } })
    );

    // Resource subscriptions are a 2026-07-28 matter there: the handshake-era methods are not.
    let reply = Reply::of(mcp_auth_test_support::modern::request(
        &reqwest::Client::new(),
        &url(addr),
        &token,
        ACCEPTS[1],
        json!({}),
        8,
        "resources/subscribe",
        json!({ "uri": SUMMARY }),
    ))
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
}

#[tokio::test]
async fn listen_refuses_before_the_stream_opens() {
    let (addr, tokens, _server) = start_subs(|b| b.max_subscriptions(3)).await;
    let none = tokens.of("alice", "", 300);
    let bob = tokens.of("bob", "invoices:read invoices:detail", 300);
    for accept in ACCEPTS {
        // One 403 naming every scope of every URI asked for.
        let reply = Reply::of(listen(
            addr,
            &none,
            accept,
            json!([LOGO, SUMMARY, "invoice://INV-1"]),
        ))
        .await;
        reply.assert_insufficient_scope("invoices:read invoices:detail");
        let reply = Reply::of(listen(addr, &bob, accept, json!(["invoice://INV-1"]))).await;
        assert_eq!(
            reply.body["error"]["code"], -32602,
            "another tenant's: {reply:?}"
        );
        assert_eq!(reply.body["error"]["data"]["uri"], "invoice://INV-1");
        let reply = Reply::of(listen(addr, &bob, accept, json!(["nope://x"]))).await;
        assert_eq!(reply.body["error"]["message"], "Resource not found");
        let reply = Reply::of(listen(
            addr,
            &bob,
            accept,
            json!([LOGO, SUMMARY, "a://b", "a://c"]),
        ))
        .await;
        assert_eq!(
            reply.body["error"]["code"], -32602,
            "over the cap: {reply:?}"
        );
        let reply = Reply::of(listen(addr, &bob, accept, json!("billing://logo"))).await;
        assert_eq!(
            reply.body["error"]["code"], -32602,
            "not an array: {reply:?}"
        );
    }
}

#[tokio::test]
async fn an_update_published_in_a_tenant_reaches_that_tenants_subscribers_only() {
    let (listener, tokens, builder) = protected("tenant-updates").await;
    let addr = listener.local_addr().unwrap();
    let verifier =
        mcp_auth_runtime::auth::JwtVerifier::builder(tokens.issuer.url.clone(), &tokens.resource)
            .tenant_claim("tenant")
            .build()
            .unwrap();
    let server = builder
        .verifier(verifier)
        .resources(resources![summary, logo, invoice])
        .build()
        .unwrap();
    serve_on(listener, server.clone().into_router());

    let mut streams = Vec::new();
    for (who, tenant) in [("ann", "acme"), ("gus", "globex")] {
        let token = tokens.of_tenant(who, tenant, "invoices:read");
        let client = session(addr, &token).await;
        for uri in [LOGO, SUMMARY] {
            assert_eq!(subscribe(&client, uri).await.status, 200);
        }
        streams.push(open_stream(&client, &token).await);
    }
    // The same URI, an acme resource: only acme's subscriber hears of it. The sentinel, for
    // everyone, shows that nothing else arrived before it.
    server.notifier().resource_updated_in_tenant(LOGO, "acme");
    server.notify_resource_updated(SUMMARY);
    let (acme, globex) = streams.split_at_mut(1);
    assert_eq!(acme[0].next_soon().await, updated(LOGO));
    assert_eq!(acme[0].next_soon().await, updated(SUMMARY));
    assert_eq!(globex[0].next_soon().await, updated(SUMMARY));
}

/// How many times `counted` ran.
static COUNTED_READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A report whose every read is counted.
#[resource(uri_template = "report://{n}", scope = "invoices:read")]
async fn counted(n: String) -> Result<String, ToolError> {
    COUNTED_READS.fetch_add(1, Ordering::SeqCst);
    Ok(n)
}

#[tokio::test]
async fn listen_past_the_stream_cap_is_refused_before_any_read_runs() {
    let (listener, tokens, builder) = protected("listen-cap").await;
    let addr = listener.local_addr().unwrap();
    let server = builder
        .resources(resources![counted])
        .max_streams_per_principal(1)
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    let token = tokens.of("alice", "invoices:read", 300);
    let open = listen(addr, &token, ACCEPTS[0], json!(["report://0"]))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let mut events = EventReader::new(open);
    assert_eq!(
        events.next_soon().await["method"],
        "notifications/subscriptions/acknowledged"
    );
    // The caller holds its one stream: every further listen is refused, and refusing it
    // must not cost a read per URI asked for first.
    let before = COUNTED_READS.load(Ordering::SeqCst);
    let uris: Vec<String> = (0..50).map(|n| format!("report://{n}")).collect();
    for accept in ACCEPTS {
        let reply = Reply::of(listen(addr, &token, accept, json!(uris))).await;
        assert_eq!(reply.status, 429, "{reply:?}");
    }
    assert_eq!(COUNTED_READS.load(Ordering::SeqCst), before, "reads ran");
    // The scope check still comes first: no scope, no stream slot taken, `403` (not `429`).
    let none = tokens.of("alice", "", 300);
    let reply = Reply::of(listen(addr, &none, ACCEPTS[0], json!(uris))).await;
    reply.assert_insufficient_scope("invoices:read");
}

/// A document; the secret ones need `docs:secret` as well.
#[resource(
    uri_template = "doc://{id}",
    scope = "docs:read",
    require(scope = "docs:secret", when = id.starts_with("secret"))
)]
async fn doc(_ctx: ToolContext, id: String) -> Result<String, ToolError> {
    Ok(id)
}

#[tokio::test]
async fn a_stream_whose_token_lacks_a_conditional_scope_the_subscription_needed_receives_nothing() {
    let (listener, tokens, builder) = protected("conditional-updates").await;
    let addr = listener.local_addr().unwrap();
    let server = builder.resources(resources![doc]).build().unwrap();
    serve_on(listener, server.clone().into_router());
    let broad = tokens.of("alice", "docs:read docs:secret", 300);
    let narrow = tokens.of("alice", "docs:read", 300);
    let alice = session(addr, &broad).await;
    // The narrower token of the same principal cannot read, nor subscribe to, a secret one.
    let reply = in_session(
        &alice,
        &narrow,
        ACCEPTS[1],
        "resources/read",
        "doc://secret-1",
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    let reply = in_session(
        &alice,
        &broad,
        ACCEPTS[1],
        "resources/subscribe",
        "doc://secret-1",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = in_session(
        &alice,
        &narrow,
        ACCEPTS[1],
        "resources/subscribe",
        "doc://plain-1",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // The session's stream, opened with the narrower token: the secret document's update,
    // subscribed to with `docs:secret`, does not reach it; the plain one's does.
    let mut events = open_stream(&alice, &narrow).await;
    server.notify_resource_updated("doc://secret-1");
    server.notify_resource_updated("doc://plain-1");
    assert_eq!(events.next_soon().await, updated("doc://plain-1"));
    drop(events);

    // Opened with the token that subscribed, it does.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut events = open_stream(&alice, &broad).await;
    server.notify_resource_updated("doc://secret-1");
    assert_eq!(events.next_soon().await, updated("doc://secret-1"));
}
