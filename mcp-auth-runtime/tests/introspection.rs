//! `IntrospectionVerifier` against an in-test RFC 7662 endpoint over real HTTP: client
//! authentication, the response rules, the cache, failing closed, and an MCP server using it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use futures_util::FutureExt;
use http::{HeaderMap, StatusCode, header};
use mcp_auth_runtime::auth::{
    ClientAuth, IntrospectionBuilder, IntrospectionConfigError, IntrospectionVerifier, ScopeClaim,
};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{AuthError, TokenVerifier};
use mcp_auth_test_support::issuer::{Fault, FaultyIntrospection};
use mcp_auth_test_support::logs::Logs;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
/// A client id and secret with characters that RFC 6749 §2.3.1 form-encoding must protect.
const CLIENT_ID: &str = "mcp:server";
const SECRET: &str = "s3cr:t/+ é-hunter2";

/// What the test endpoint answers for a token.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(StatusCode),
    Garbage,
    /// Sleeps for 2 s, then answers an active token.
    Slow,
}

#[derive(Clone)]
struct Endpoint {
    auth: ClientAuth,
    table: Arc<HashMap<String, Reply>>,
    hits: Arc<AtomicUsize>,
}

/// A running RFC 7662 endpoint.
struct TestAs {
    url: String,
    auth: ClientAuth,
    hits: Arc<AtomicUsize>,
}

impl TestAs {
    /// Serves `table` on a loopback port; unknown tokens are inactive.
    async fn start(
        auth: ClientAuth,
        table: impl IntoIterator<Item = (&'static str, Reply)>,
    ) -> TestAs {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Endpoint {
            auth,
            table: Arc::new(table.into_iter().map(|(t, r)| (t.to_owned(), r)).collect()),
            hits: hits.clone(),
        };
        let router = axum::Router::new()
            .route("/introspect", post(introspect))
            .with_state(state);
        let addr = mcp_auth_test_support::serve(router).await;
        TestAs {
            url: format!("http://{addr}/introspect"),
            auth,
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A verifier for this endpoint with the right credentials.
    fn verifier(&self) -> IntrospectionBuilder {
        IntrospectionVerifier::builder(&self.url, RESOURCE)
            .client_credentials(CLIENT_ID, SECRET, self.auth)
    }
}

/// The endpoint: checks the request and the client authentication, then answers from the table.
async fn introspect(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: String,
) -> Response {
    endpoint.hits.fetch_add(1, Ordering::SeqCst);
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if get(header::CONTENT_TYPE) != Some("application/x-www-form-urlencoded")
        || get(header::ACCEPT) != Some("application/json")
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("token_type_hint") != Some("access_token") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let basic = get(header::AUTHORIZATION).map(basic_credentials);
    let posted = (field("client_id"), field("client_secret"));
    // RFC 6749 §2.3: exactly one authentication method per request.
    let authenticated = match endpoint.auth {
        ClientAuth::Basic => {
            posted == (None, None) && basic == Some(Some((CLIENT_ID.to_owned(), SECRET.to_owned())))
        }
        _ => basic.is_none() && posted == (Some(CLIENT_ID), Some(SECRET)),
    };
    if !authenticated {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let Some(token) = field("token") else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match endpoint.table.get(token) {
        None => axum::Json(json!({ "active": false })).into_response(),
        Some(Reply::Json(value)) => axum::Json(value.clone()).into_response(),
        Some(Reply::Status(status)) => (*status, "oops").into_response(),
        Some(Reply::Garbage) => (
            [(header::CONTENT_TYPE, "application/json")],
            "<html>hello</html>",
        )
            .into_response(),
        Some(Reply::Slow) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            axum::Json(active(json!({}))).into_response()
        }
    }
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(s.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An active response for RESOURCE, with `changes` merged in (`null` removes a member).
fn active(changes: Value) -> Value {
    let mut response = json!({
        "active": true,
        "sub": "alice",
        "client_id": "billing-app",
        "scope": "x:read invoices:read",
        "aud": RESOURCE,
        "iss": ISSUER,
        "exp": now() + 3600,
        "iat": now(),
        "tenant": "acme",
        "token_type": "Bearer",
    });
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            response.as_object_mut().unwrap().remove(name);
        } else {
            response[name] = value.clone();
        }
    }
    response
}

fn is_invalid(result: Result<AuthInfo, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(_)))
}

fn is_unavailable(result: Result<AuthInfo, AuthError>) -> bool {
    matches!(result, Err(AuthError::Unavailable(_)))
}

#[tokio::test]
async fn active_token_becomes_auth_info() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [("tok-alice", Reply::Json(active(json!({}))))],
    )
    .await;
    let verifier = endpoint
        .verifier()
        .issuer(ISSUER)
        .tenant_claim("tenant")
        .build()
        .unwrap();
    let auth = verifier.verify("tok-alice").await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.client_id(), Some("billing-app"));
    assert_eq!(auth.scopes(), ["x:read", "invoices:read"]);
    assert_eq!(auth.tenant(), Some("acme"));
    assert_eq!(auth.issuer(), Some(ISSUER));
    assert_eq!(auth.audience(), [RESOURCE]);
    assert!(auth.expires_at().unwrap() > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(auth.claims()["token_type"], "Bearer");
    assert_eq!(endpoint.hits(), 1);
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_body() {
    let endpoint = TestAs::start(ClientAuth::Post, [("tok", Reply::Json(active(json!({}))))]).await;
    let auth = endpoint
        .verifier()
        .build()
        .unwrap()
        .verify("tok")
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some("alice"));

    // The endpoint accepts one method only, so a mismatch is a misconfiguration: 503.
    let basic = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .client_credentials(CLIENT_ID, SECRET, ClientAuth::Basic)
        .build()
        .unwrap();
    assert!(is_unavailable(basic.verify("tok").await));
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn scp_arrays_map_to_scopes() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [(
            "tok",
            Reply::Json(active(json!({ "scp": ["x:read", "x:write"] }))),
        )],
    )
    .await;
    let verifier = endpoint
        .verifier()
        .scope_claim(ScopeClaim::Scp)
        .build()
        .unwrap();
    assert_eq!(
        verifier.verify("tok").await.unwrap().scopes(),
        ["x:read", "x:write"]
    );
}

#[tokio::test]
async fn inactive_tokens_are_invalid_and_remembered_briefly() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("inactive", Reply::Json(json!({ "active": false }))),
            (
                "string-true",
                Reply::Json(active(json!({ "active": "true" }))),
            ),
            ("no-active", Reply::Json(active(json!({ "active": null })))),
        ],
    )
    .await;
    let verifier = endpoint
        .verifier()
        .negative_cache_ttl(Duration::from_millis(500))
        .build()
        .unwrap();
    for token in ["inactive", "string-true", "no-active", "unknown"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    assert_eq!(endpoint.hits(), 4);
    assert!(is_invalid(verifier.verify("inactive").await));
    assert_eq!(endpoint.hits(), 4, "remembered");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(is_invalid(verifier.verify("inactive").await));
    assert_eq!(endpoint.hits(), 5, "asked again after the TTL");

    let forgetful = endpoint
        .verifier()
        .negative_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(is_invalid(forgetful.verify("inactive").await));
    }
    assert_eq!(endpoint.hits(), 7, "a zero TTL remembers nothing");
}

#[tokio::test]
async fn a_refusal_is_not_remembered_past_the_tokens_nbf() {
    let nbf = now() + 2;
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [("early", Reply::Json(active(json!({ "nbf": nbf }))))],
    )
    .await;
    let verifier = endpoint
        .verifier()
        .leeway(Duration::ZERO)
        .negative_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(is_invalid(verifier.verify("early").await), "not yet valid");
    assert!(is_invalid(verifier.verify("early").await));
    assert_eq!(endpoint.hits(), 1, "remembered until nbf");
    let nbf = UNIX_EPOCH + Duration::from_secs(nbf);
    let wait = nbf.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    assert_eq!(
        verifier.verify("early").await.unwrap().subject(),
        Some("alice")
    );
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn audience_must_name_this_resource() {
    // RESOURCE in another spelling of the same canonical form.
    const OURS: &str = "HTTPS://MCP.example.com:443/mcp/";
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "other",
                Reply::Json(active(json!({ "aud": "https://other.example.com/mcp" }))),
            ),
            ("none", Reply::Json(active(json!({ "aud": null })))),
            ("empty", Reply::Json(active(json!({ "aud": [] })))),
            (
                "prefix",
                Reply::Json(active(json!({ "aud": "https://mcp.example.com/mcp2" }))),
            ),
            ("number", Reply::Json(active(json!({ "aud": 7 })))),
            (
                "array",
                Reply::Json(active(
                    json!({ "aud": ["https://other.example.com", OURS] }),
                )),
            ),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["other", "none", "empty", "prefix", "number"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    let auth = verifier.verify("array").await.unwrap();
    assert_eq!(auth.audience().len(), 2);
}

#[tokio::test]
async fn issuer_must_match_exactly_when_configured() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("right", Reply::Json(active(json!({})))),
            (
                "wrong",
                Reply::Json(active(json!({ "iss": "https://evil.example.com" }))),
            ),
            (
                "slash",
                Reply::Json(active(json!({ "iss": "https://auth.example.com/" }))),
            ),
            ("missing", Reply::Json(active(json!({ "iss": null })))),
        ],
    )
    .await;
    let pinned = endpoint.verifier().issuer(ISSUER).build().unwrap();
    assert!(pinned.verify("right").await.is_ok());
    for token in ["wrong", "slash", "missing"] {
        assert!(is_invalid(pinned.verify(token).await), "{token}");
    }
    let unpinned = endpoint.verifier().build().unwrap();
    assert!(unpinned.verify("wrong").await.is_ok());
    assert!(unpinned.verify("missing").await.is_ok());
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_invalid() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "expired",
                Reply::Json(active(json!({ "exp": now() - 3600 }))),
            ),
            (
                "just-expired",
                Reply::Json(active(json!({ "exp": now() - 10 }))),
            ),
            (
                "future",
                Reply::Json(active(json!({ "nbf": now() + 3600 }))),
            ),
            (
                "exp-string",
                Reply::Json(active(json!({ "exp": "tomorrow" }))),
            ),
            ("exp-huge", Reply::Json(active(json!({ "exp": u64::MAX })))),
            ("no-exp", Reply::Json(active(json!({ "exp": null })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["expired", "future", "exp-string", "exp-huge"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    // Within the default 60 s leeway.
    assert!(verifier.verify("just-expired").await.is_ok());
    assert!(verifier.verify("no-exp").await.is_ok());
    let strict = endpoint.verifier().leeway(Duration::ZERO).build().unwrap();
    assert!(is_invalid(strict.verify("just-expired").await));
}

#[tokio::test]
async fn sender_constrained_and_ill_typed_responses_are_invalid() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "dpop",
                Reply::Json(active(
                    json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }),
                )),
            ),
            (
                "scope-array",
                Reply::Json(active(json!({ "scope": ["x:read"] }))),
            ),
            ("sub-number", Reply::Json(active(json!({ "sub": 42 })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["dpop", "scope-array", "sub-number"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
}

/// `n` concurrent `verify(token)` calls, each on a task of its own.
async fn burst(
    verifier: &IntrospectionVerifier,
    token: &str,
    n: usize,
) -> Vec<Result<AuthInfo, AuthError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.to_owned());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn concurrent_requests_for_one_token_share_one_introspection() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good", "alice", "x:read");
    endpoint.set_delay(Duration::from_millis(200));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .build()
        .unwrap();
    for result in burst(&verifier, "random-0c1d", 100).await {
        assert!(is_invalid(result));
    }
    assert_eq!(
        endpoint.hits(),
        1,
        "100 concurrent requests, one introspection"
    );
    for result in burst(&verifier, "random-0c1d", 100).await {
        assert!(is_invalid(result));
    }
    assert_eq!(endpoint.hits(), 1, "the refusal is remembered");
    for result in burst(&verifier, "good", 100).await {
        assert_eq!(result.unwrap().subject(), Some("alice"));
    }
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn endpoint_failures_are_shared_but_never_remembered() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good", "alice", "x:read");
    endpoint.set_delay(Duration::from_millis(200));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .build()
        .unwrap();
    // Not `Fault::RefuseClient`: its `error!` line is asserted by a test running in parallel,
    // and `tracing` can miss a callsite that two threads reach first at the same time.
    for fault in [Fault::Down, Fault::Garbage] {
        endpoint.set_fault(fault);
        for token in ["good", "random-5e2a"] {
            let hits = endpoint.hits();
            for result in burst(&verifier, token, 50).await {
                assert!(is_unavailable(result), "{fault:?} {token}");
            }
            assert_eq!(endpoint.hits(), hits + 1, "{fault:?} {token}: shared");
            assert!(is_unavailable(verifier.verify(token).await));
            assert_eq!(endpoint.hits(), hits + 2, "{fault:?} {token}: remembered");
        }
    }
    endpoint.set_fault(Fault::None);
    assert!(verifier.verify("good").await.is_ok());
    assert!(is_invalid(verifier.verify("random-5e2a").await));
}

#[tokio::test]
async fn introspection_requests_in_flight_are_bounded() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good", "alice", "x:read");
    endpoint.set_delay(Duration::from_millis(25));
    // Room in the wait queue for the whole flood: this test is about requests in flight (the
    // queue's bound has a test of its own).
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .max_queued_requests(200)
        .build()
        .unwrap();
    let spawn = |token: String| {
        let verifier = verifier.clone();
        tokio::spawn(async move { verifier.verify(&token).await })
    };
    let mut tasks = Vec::new();
    let mut good = None;
    for i in 0..200 {
        tasks.push(spawn(format!("random-{i}")));
        if i == 100 {
            good = Some(spawn("good".to_owned()));
        }
    }
    for task in tasks {
        assert!(is_invalid(task.await.unwrap()));
    }
    let good = good.unwrap().await.unwrap();
    assert_eq!(
        good.unwrap().subject(),
        Some("alice"),
        "served amid the flood"
    );
    assert_eq!(endpoint.hits(), 201, "one introspection per distinct token");
    let max = endpoint.max_in_flight();
    assert!(
        max <= 32,
        "{max} introspection requests at once (default bound: 32)"
    );

    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.set_delay(Duration::from_millis(10));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .max_concurrent_requests(3)
        .max_queued_requests(60)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    for task in tasks {
        assert!(is_invalid(task.await.unwrap()));
    }
    assert_eq!(endpoint.hits(), 60);
    let max = endpoint.max_in_flight();
    assert!(max <= 3, "{max} introspection requests at once (bound: 3)");
}

#[tokio::test]
async fn waiting_for_a_request_slot_is_bounded_by_the_timeout() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.set_delay(Duration::from_millis(150));
    let timeout = Duration::from_millis(400);
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .max_concurrent_requests(1)
        .max_queued_requests(10)
        .timeout(timeout)
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    let (mut refused, mut unavailable) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Err(AuthError::InvalidToken(_)) => refused += 1,
            Err(AuthError::Unavailable(reason)) => {
                assert!(reason.contains("already in flight"), "{reason}");
                unavailable += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // One request at a time, 150 ms each: those still waiting after 400 ms give up.
    assert!(refused >= 2 && unavailable >= 4, "{refused} {unavailable}");
    assert!(started.elapsed() < 2 * timeout + Duration::from_millis(900));
    assert!(endpoint.max_in_flight() <= 1);
}

/// Tasks alive on this test's runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A random token of 16 KiB, the longest the bearer layer takes. (Hashing one takes
/// most of a millisecond in a debug build: floods of tasks use short tokens.)
fn big_token(i: usize) -> String {
    let token = format!("random-{i:05}-{:f<16371}", "");
    assert_eq!(token.len(), 16 * 1024);
    token
}

/// Waits, for at most 5 s, until `endpoint` has seen `hits` requests.
async fn until_hits(endpoint: &FaultyIntrospection, hits: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while endpoint.hits() < hits {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{} hits, expected {hits}", endpoint.hits());
}

/// A token still waiting for a request slot is forgotten when its last client goes away: a
/// flood of random 16 KiB tokens whose clients hang up at once leaves no task holding a token,
/// no introspection request to come, and no queue in front of the next legitimate token. Both
/// shapes of hanging up: at once (the verification is polled once, then dropped), and after
/// waiting in the queue for a while (its task is aborted).
#[tokio::test]
async fn tokens_whose_clients_went_away_are_never_introspected() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good-1", "alice", "x:read");
    endpoint.activate("good-2", "bob", "x:read");
    endpoint.set_delay(Duration::from_millis(300));
    // Room in the wait queue for the whole flood: what is tested here is that abandoned tokens
    // leave it, not that it is bounded.
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .max_queued_requests(10_000)
        .build()
        .unwrap();

    // Hang up at once.
    let baseline = alive_tasks();
    for i in 0..2_000 {
        let pending = verifier.verify(&big_token(i)).now_or_never();
        assert!(pending.is_none(), "the endpoint takes 300 ms to answer");
    }
    let alive = alive_tasks() - baseline;
    assert!(
        alive <= 32,
        "{alive} tasks alive after 2,000 abandoned tokens (32 requests in flight at most)"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let hits = endpoint.hits();
    assert!(
        hits <= 32,
        "{hits} introspection requests for 2,000 abandoned tokens"
    );
    let good = tokio::time::timeout(Duration::from_secs(2), verifier.verify("good-1")).await;
    assert_eq!(
        good.expect("no queue left").unwrap().subject(),
        Some("alice")
    );

    // Wait in the queue, then hang up.
    let (hits, baseline) = (endpoint.hits(), alive_tasks());
    let tasks: Vec<_> = (0..2_000)
        .map(|i| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    until_hits(&endpoint, hits + 32).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        assert!(task.await.unwrap_err().is_cancelled());
    }
    let alive = alive_tasks().saturating_sub(baseline);
    assert!(
        alive <= 32,
        "{alive} tasks alive after 2,000 abandoned tokens (32 requests in flight at most)"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let asked = endpoint.hits() - hits;
    assert!(
        asked <= 32,
        "{asked} introspection requests for 2,000 abandoned tokens"
    );
    let good = tokio::time::timeout(Duration::from_secs(2), verifier.verify("good-2")).await;
    assert_eq!(good.expect("no queue left").unwrap().subject(), Some("bob"));
    assert!(endpoint.max_in_flight() <= 32);
}

/// Beyond [`max_queued_requests`](IntrospectionBuilder::max_queued_requests) tokens waiting
/// for a request slot, a new token is refused at once with `503`, not after the `timeout`; a
/// token already waiting is joined, not refused; and once the queue drains, new tokens wait
/// again.
#[tokio::test]
async fn beyond_the_wait_queue_a_new_token_fails_fast_with_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.set_delay(Duration::from_millis(300));
    let timeout = Duration::from_secs(5);
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .max_concurrent_requests(2)
        .max_queued_requests(3)
        .timeout(timeout)
        .build()
        .unwrap();
    let server = McpServer::builder("x-server", "1.0.0")
        .tools(tools![read_x])
        .resource(&resource)
        .verifier(verifier.clone())
        .stateless(true)
        .build()
        .unwrap();
    let router = server.into_router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let call = |token: &str| {
        let client = mcp_auth_test_support::Client::without_session(addr, Some(token));
        tokio::spawn(async move { client.call("read_x", json!({})).await })
    };

    // Two requests in flight, three waiting.
    let waiting: Vec<_> = (0..5).map(|i| call(&format!("random-{i}"))).collect();
    until_hits(&endpoint, 2).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    let started = Instant::now();
    let (status, _, body) = call("random-5").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        elapsed < Duration::from_secs(1),
        "refused after {elapsed:?}"
    );
    let started = Instant::now();
    let Err(AuthError::Unavailable(reason)) = verifier.verify("random-6").await else {
        panic!("expected Unavailable");
    };
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(reason.contains("waiting"), "{reason}");

    // A token already in the queue is joined.
    let joined = call("random-4");
    for task in waiting.into_iter().chain([joined]) {
        assert_eq!(task.await.unwrap().0, 401);
    }
    assert_eq!(endpoint.hits(), 5, "one introspection per waiting token");

    // The queue drained: tokens wait again.
    let after: Vec<_> = (7..12).map(|i| call(&format!("random-{i}"))).collect();
    for task in after {
        assert_eq!(task.await.unwrap().0, 401);
    }
    assert_eq!(endpoint.hits(), 10);
}

/// A token in the cache never waits: during a flood of random tokens that takes every request
/// slot and fills the wait queue, verifying it completes on its first poll, every time.
#[tokio::test]
async fn cached_tokens_never_wait_behind_a_flood() {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good", "alice", "x:read");
    endpoint.set_delay(Duration::from_millis(300));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .build()
        .unwrap();
    verifier.verify("good").await.unwrap();
    let flood: Vec<_> = (0..2_000)
        .map(|i| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    until_hits(&endpoint, 1 + 32).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..1_000 {
        let started = Instant::now();
        let auth = verifier.verify("good").now_or_never();
        slowest = slowest.max(started.elapsed());
        let auth = auth.expect("a cached token never waits").unwrap();
        assert_eq!(auth.subject(), Some("alice"));
        // Let the flood make progress in between.
        tokio::task::yield_now().await;
    }
    assert!(slowest < Duration::from_millis(20), "{slowest:?}");
    let (mut refused, mut unavailable) = (0, 0);
    for task in flood {
        match task.await.unwrap() {
            Err(AuthError::InvalidToken(_)) => refused += 1,
            Err(AuthError::Unavailable(_)) => unavailable += 1,
            other => panic!("{other:?}"),
        }
    }
    // 32 in flight and 4 x 32 waiting (the defaults); the rest refused at once.
    assert!(
        refused <= 32 + 128 && unavailable >= 2_000 - 160,
        "{refused} {unavailable}"
    );
    assert_eq!(endpoint.hits(), 1 + refused);
}

#[tokio::test]
async fn accepted_tokens_are_served_from_the_cache() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("a", Reply::Json(active(json!({})))),
            ("b", Reply::Json(active(json!({ "sub": "bob" })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    let first = verifier.verify("a").await.unwrap();
    let clone = verifier.clone();
    assert_eq!(clone.verify("a").await.unwrap(), first);
    assert_eq!(endpoint.hits(), 1);
    assert_eq!(verifier.verify("b").await.unwrap().subject(), Some("bob"));
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn cached_results_expire_after_the_max_ttl() {
    let endpoint = TestAs::start(ClientAuth::Basic, [("a", Reply::Json(active(json!({}))))]).await;
    let verifier = endpoint
        .verifier()
        .cache_max_ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    verifier.verify("a").await.unwrap();
    verifier.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    verifier.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 2);

    let uncached = endpoint
        .verifier()
        .cache_max_ttl(Duration::ZERO)
        .build()
        .unwrap();
    uncached.verify("a").await.unwrap();
    uncached.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 4);
}

#[tokio::test]
async fn cached_results_never_outlive_exp() {
    let exp = now() + 2;
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [("short", Reply::Json(active(json!({ "exp": exp }))))],
    )
    .await;
    let verifier = endpoint
        .verifier()
        .cache_max_ttl(Duration::from_secs(60))
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    verifier.verify("short").await.unwrap();
    verifier.verify("short").await.unwrap();
    assert_eq!(endpoint.hits(), 1);
    let exp = UNIX_EPOCH + Duration::from_secs(exp);
    let wait = exp.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    // Not from the cache: asked again, and now expired.
    assert!(is_invalid(verifier.verify("short").await));
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn endpoint_errors_are_unavailable() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR)),
            ("400", Reply::Status(StatusCode::BAD_REQUEST)),
            ("302", Reply::Status(StatusCode::FOUND)),
            ("garbage", Reply::Garbage),
            ("array", Reply::Json(json!([{ "active": true }]))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["500", "400", "302", "garbage", "array"] {
        assert!(is_unavailable(verifier.verify(token).await), "{token}");
    }
    assert_eq!(endpoint.hits(), 5);
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let verifier = IntrospectionVerifier::builder(format!("http://{addr}/introspect"), RESOURCE)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let Err(AuthError::Unavailable(reason)) = verifier.verify("tok").await else {
        panic!("expected Unavailable");
    };
    assert!(
        reason.starts_with("introspection request failed: "),
        "{reason}"
    );
}

#[tokio::test]
async fn slow_endpoint_times_out_as_unavailable() {
    let endpoint = TestAs::start(ClientAuth::Basic, [("slow", Reply::Slow)]).await;
    let verifier = endpoint
        .verifier()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let Err(AuthError::Unavailable(reason)) = verifier.verify("slow").await else {
        panic!("expected Unavailable");
    };
    assert_eq!(reason, "introspection request timed out after 200ms");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rejected_client_credentials_are_unavailable() {
    let endpoint =
        TestAs::start(ClientAuth::Basic, [("tok", Reply::Json(active(json!({}))))]).await;
    for verifier in [
        IntrospectionVerifier::builder(&endpoint.url, RESOURCE).client_credentials(
            CLIENT_ID,
            "wrong",
            ClientAuth::Basic,
        ),
        IntrospectionVerifier::builder(&endpoint.url, RESOURCE),
    ] {
        let result = verifier.build().unwrap().verify("tok").await;
        let Err(AuthError::Unavailable(reason)) = result else {
            panic!("expected Unavailable, got {result:?}");
        };
        assert!(reason.contains("401"), "{reason}");
    }
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn debug_output_never_shows_the_secret_or_a_token() {
    let token = "tok-4f9c2a7e1d";
    let endpoint =
        TestAs::start(ClientAuth::Basic, [(token, Reply::Json(active(json!({}))))]).await;
    let builder = endpoint.verifier();
    let shown = format!("{builder:?}");
    let verifier = builder.build().unwrap();
    verifier.verify(token).await.unwrap();
    let error = verifier.verify("tok-unknown-77").await.unwrap_err();
    for shown in [
        shown,
        format!("{verifier:?}"),
        format!("{verifier:#?}"),
        format!("{error:?} {error}"),
    ] {
        assert!(
            shown.contains(CLIENT_ID) || shown.contains("invalid"),
            "{shown}"
        );
        for secret in [SECRET, "hunter2", token, "tok-unknown-77"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[tokio::test]
async fn misconfigurations_are_logged_without_secrets_or_tokens() {
    let (logs, _guard) = Logs::capture();

    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [(
            "tok-no-aud-5e1f",
            Reply::Json(active(json!({ "aud": null }))),
        )],
    )
    .await;
    let wrong_secret = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .client_credentials(CLIENT_ID, "wrong-secret-9d2c", ClientAuth::Basic)
        .build()
        .unwrap();
    assert!(is_unavailable(wrong_secret.verify("tok-a-7b3e").await));
    let verifier = endpoint.verifier().build().unwrap();
    assert!(is_invalid(verifier.verify("tok-no-aud-5e1f").await));

    let logs = logs.text();
    assert!(
        logs.contains("ERROR")
            && logs.contains("refused this resource server's client credentials"),
        "{logs}"
    );
    assert!(
        logs.contains("introspection response has no `aud`"),
        "{logs}"
    );
    for secret in [
        "wrong-secret-9d2c",
        SECRET,
        "hunter2",
        "tok-a-7b3e",
        "tok-no-aud-5e1f",
    ] {
        assert!(!logs.contains(secret), "{secret} in\n{logs}");
    }
}

#[test]
fn build_refuses_insecure_endpoints_and_bad_resources() {
    let build =
        |endpoint: &str, resource: &str| IntrospectionVerifier::builder(endpoint, resource).build();
    assert!(matches!(
        build("http://auth.example.com/introspect", RESOURCE),
        Err(IntrospectionConfigError::InsecureEndpoint(_))
    ));
    assert!(matches!(
        build("not a url", RESOURCE),
        Err(IntrospectionConfigError::InsecureEndpoint(_))
    ));
    assert!(matches!(
        build("https://id:secret@auth.example.com/introspect", RESOURCE),
        Err(IntrospectionConfigError::CredentialsInUrl)
    ));
    assert!(matches!(
        build("https://auth.example.com/introspect#x", RESOURCE),
        Err(IntrospectionConfigError::FragmentInUrl(_))
    ));
    assert!(matches!(
        IntrospectionVerifier::builder("https://auth.example.com/introspect", RESOURCE)
            .max_concurrent_requests(0)
            .build(),
        Err(IntrospectionConfigError::NoConcurrentRequests)
    ));
    for resource in ["mcp.example.com", "https://mcp.example.com/mcp#x", ""] {
        assert!(
            matches!(
                build("https://auth.example.com/introspect", resource),
                Err(IntrospectionConfigError::InvalidResource(_))
            ),
            "{resource}"
        );
    }
    for endpoint in [
        "https://auth.example.com/introspect",
        "http://127.0.0.1:8080/introspect",
        "http://localhost/introspect",
    ] {
        let verifier = build(endpoint, "HTTPS://MCP.example.com:443/mcp/").unwrap();
        assert_eq!(verifier.resource(), RESOURCE);
    }
}

/// Read x.
#[tool(scope = "x:read", read_only)]
async fn read_x(ctx: ToolContext) -> Result<String, ToolError> {
    Ok(format!("x for {}", ctx.auth().subject().unwrap_or("?")))
}

#[tokio::test]
async fn mcp_server_checks_introspected_tokens_and_their_scopes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let reply = |changes: Value| {
        let mut response = active(changes);
        response["aud"] = json!(resource);
        Reply::Json(response)
    };
    let endpoint = TestAs::start(
        ClientAuth::Post,
        [
            ("reader", reply(json!({}))),
            (
                "stranger",
                reply(json!({ "sub": "bob", "scope": "y:read" })),
            ),
            ("inactive", Reply::Json(json!({ "active": false }))),
        ],
    )
    .await;
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .client_credentials(CLIENT_ID, SECRET, ClientAuth::Post)
        .issuer(ISSUER)
        .build()
        .unwrap();
    let server = McpServer::builder("x-server", "1.0.0")
        .tools(tools![read_x])
        .resource(&resource)
        .verifier(verifier)
        .build()
        .unwrap();
    let router = server.into_router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let (status, _, body) = mcp_auth_test_support::Client::new(addr, Some("reader"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "x for alice");

    let (status, challenge, _) = mcp_auth_test_support::Client::new(addr, Some("stranger"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 403);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"x:read\""), "{challenge}");

    let (status, challenge, _) = mcp_auth_test_support::Client::new(addr, Some("inactive"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
