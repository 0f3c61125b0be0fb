//! The authorization server misbehaves: its key set is slow, down, garbage, empty, or rotates
//! under load; its introspection endpoint is slow, down or flapping. The server must fail
//! closed (`503`, never a wrong accept), bound every request by the configured timeout, and
//! recover by itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::auth::{IntrospectionVerifier, JwtVerifier, JwtVerifierBuilder};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{
    Document, ENDLESS_BYTES, Fault, FaultyIntrospection, Issuer, TestKey, claims,
};
use mcp_auth_test_support::{bind, bind_endpoint, serve_stateless, serve_stateless_on};
use serde_json::json;

#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext<Runs>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(ctx.auth().subject().unwrap_or("-").to_owned())
}

/// A server in front of `verifier`, whose audience `resource` is its own URL.
struct Server {
    addr: SocketAddr,
    runs: Runs,
    http: reqwest::Client,
}

impl Server {
    async fn start<V: TokenVerifier>(verifier: impl FnOnce(&str) -> V) -> Server {
        let runs = Runs::default();
        let builder = McpServer::builder("invoices", "1.0.0")
            .tools(tools![lookup_invoice])
            .state(runs.clone());
        let addr = serve_stateless(builder, verifier).await;
        Server {
            addr,
            runs,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
        }
    }

    fn resource(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn runs(&self) -> usize {
        self.runs.0.load(Ordering::SeqCst)
    }

    /// `tools/call lookup_invoice` with `token`: the status, how long it took, and the body.
    fn call(
        &self,
        token: &str,
    ) -> impl Future<Output = (u16, Duration, serde_json::Value)> + Send + 'static {
        let request = self
            .http
            .post(format!("http://{}/mcp", self.addr))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": { "name": "lookup_invoice", "arguments": {} } })
                .to_string(),
            );
        async move {
            let started = Instant::now();
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body = response.json().await.unwrap_or(serde_json::Value::Null);
            if status == 503 {
                assert_eq!(retry_after.unwrap(), "5", "a 503 says when to retry");
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            (status, started.elapsed(), body)
        }
    }

    /// `n` concurrent calls with `token`.
    async fn burst(&self, token: &str, n: usize) -> Vec<(u16, Duration)> {
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(self.call(token))).collect();
        let mut out = Vec::new();
        for task in tasks {
            let (status, took, _) = task.await.unwrap();
            out.push((status, took));
        }
        out
    }
}

/// A JWT server keyed by `issuer`, its verifier configured by `configure`.
async fn jwt_server(
    issuer: &Issuer,
    configure: impl FnOnce(JwtVerifierBuilder) -> JwtVerifierBuilder,
) -> Server {
    let url = issuer.url.clone();
    Server::start(move |resource| {
        configure(JwtVerifier::builder(url, resource))
            .build()
            .unwrap()
    })
    .await
}

/// An issuer with one ES256 key, down from the start: nothing has been fetched from it yet.
async fn an_issuer_that_is_down() -> (TestKey, Issuer) {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    issuer.set_down(true);
    (key, issuer)
}

fn token(key: &TestKey, issuer: &Issuer, server: &Server) -> String {
    key.sign(&claims(&issuer.url, &server.resource(), "invoices:read"))
}

const TIMEOUT: Duration = Duration::from_millis(250);
/// Scheduling slack on a loaded two-core machine, on top of the timeout.
const MARGIN: Duration = Duration::from_millis(900);

#[tokio::test]
async fn a_slow_key_set_bounds_every_concurrent_request_by_the_timeout() {
    let key = TestKey::es256("k");
    // The refetch interval is shorter than the timeout: waiters must not queue one slow
    // fetch each behind one another.
    for interval in [Duration::from_secs(30), Duration::from_millis(50)] {
        let issuer = Issuer::start(&[&key]).await;
        issuer.set_delay(Duration::from_secs(3));
        let server = jwt_server(&issuer, |b| b.timeout(TIMEOUT).refetch_interval(interval)).await;
        let good = token(&key, &issuer, &server);
        let results = server.burst(&good, 24).await;
        for (status, took) in &results {
            assert_eq!(*status, 503, "interval {interval:?}: {results:?}");
            assert!(
                *took < TIMEOUT + MARGIN,
                "interval {interval:?}: a request took {took:?}: {results:?}"
            );
        }
        assert_eq!(server.runs(), 0);

        // The issuer is fast again: the next fetch, one interval later at most, succeeds.
        issuer.set_delay(Duration::ZERO);
        if interval < Duration::from_secs(1) {
            tokio::time::sleep(interval + Duration::from_millis(50)).await;
            let (status, _, body) = server.call(&good).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(server.runs(), 1);
        }
    }
}

#[tokio::test]
async fn an_issuer_that_is_down_fails_closed_and_recovers_by_itself() {
    let (key, issuer) = an_issuer_that_is_down().await;
    let interval = Duration::from_millis(400);
    let server = jwt_server(&issuer, |b| b.timeout(TIMEOUT).refetch_interval(interval)).await;
    let good = token(&key, &issuer, &server);
    let started = Instant::now();
    for (status, _) in server.burst(&good, 20).await {
        assert_eq!(status, 503);
    }
    for _ in 0..5 {
        assert_eq!(server.call(&good).await.0, 503);
    }
    // Discovery is tried at most once per interval, however many requests come.
    let tries = issuer.metadata_hits();
    let allowed = 2 * (1 + (started.elapsed().as_millis() / interval.as_millis()) as usize);
    assert!(tries <= allowed, "{tries} metadata fetches");
    assert_eq!(server.runs(), 0);

    issuer.set_down(false);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let (status, _, body) = server.call(&good).await;
    assert_eq!(status, 200, "recovered without a restart: {body}");

    // Down again once the keys are known: the cached keys keep verifying, a token of a key
    // never seen is refused (401, not 503), and nothing is ever let through unverified.
    issuer.set_down(true);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    for (status, _) in server.burst(&good, 10).await {
        assert_eq!(status, 200, "known keys outlive an outage");
    }
    let stranger = token(&TestKey::es256("new"), &issuer, &server);
    assert_eq!(server.call(&stranger).await.0, 401);
    assert_eq!(server.runs(), 11);
}

#[tokio::test]
async fn garbage_empty_unusable_or_huge_key_sets_fail_closed() {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let interval = Duration::from_millis(150);
    let server = jwt_server(&issuer, |b| b.timeout(TIMEOUT).refetch_interval(interval)).await;
    let good = token(&key, &issuer, &server);
    let next_fetch = || tokio::time::sleep(interval + Duration::from_millis(50));

    issuer.set_garbage(true);
    assert_eq!(server.call(&good).await.0, 503, "not JSON");
    issuer.set_garbage(false);

    issuer.set_keys(&[]);
    next_fetch().await;
    assert_eq!(server.call(&good).await.0, 503, "an empty key set");

    // Keys that can never verify a token: a symmetric key (an HMAC secret in a public key
    // set), an encryption key, and the right key marked for encryption.
    let mut encryption = key.jwk.clone();
    encryption.common.public_key_use = Some(PublicKeyUse::Encryption);
    let oct: Jwk = serde_json::from_value(json!({
        "kty": "oct", "kid": "k", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"
    }))
    .unwrap();
    issuer.set_keys(&[encryption, oct]);
    next_fetch().await;
    assert_eq!(server.call(&good).await.0, 503, "no usable key");

    // A key set over the 256 KiB bound is refused whole.
    let huge: Vec<Jwk> = (0..2_000)
        .map(|i| key.with_kid(&format!("k-{i:04}")).jwk)
        .chain([key.jwk.clone()])
        .collect();
    issuer.set_keys(&huge);
    next_fetch().await;
    assert_eq!(server.call(&good).await.0, 503, "a huge key set");
    assert_eq!(server.runs(), 0);

    issuer.set_keys(std::slice::from_ref(&key.jwk));
    next_fetch().await;
    assert_eq!(server.call(&good).await.0, 200, "recovered");

    // Garbage after a good fetch: the keys already known keep working.
    issuer.set_garbage(true);
    next_fetch().await;
    let stranger = token(&TestKey::es256("other"), &issuer, &server);
    assert_eq!(
        server.call(&stranger).await.0,
        401,
        "triggers a failed refetch"
    );
    assert_eq!(server.call(&good).await.0, 200);
    assert_eq!(server.runs(), 2);
}

/// One request of the rotation test: when it started, which key signed it, its status.
#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Duration,
    end: Duration,
    new_key: bool,
    status: u16,
}

#[tokio::test]
async fn keys_rotate_under_load_without_a_wrong_answer() {
    let old = TestKey::es256("old");
    let new = TestKey::ed25519("new");
    let issuer = Issuer::start(&[&old]).await;
    let interval = Duration::from_millis(200);
    let max_age = Duration::from_millis(1500);
    let server = Arc::new(
        jwt_server(&issuer, |b| {
            b.timeout(TIMEOUT)
                .refetch_interval(interval)
                .max_key_age(max_age)
        })
        .await,
    );
    let old_token = token(&old, &issuer, &server);
    let new_token = token(&new, &issuer, &server);
    assert_eq!(server.call(&old_token).await.0, 200, "warm up");

    let epoch = Instant::now();
    let publish = Duration::from_millis(600);
    let retire = Duration::from_millis(2200);
    let (down_from, down_to) = (Duration::from_millis(4200), Duration::from_millis(4800));
    let end = Duration::from_millis(5600);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let server = server.clone();
            let tokens = [old_token.clone(), new_token.clone()];
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut i = w;
                while epoch.elapsed() < end {
                    let new_key = i % 2 == 1;
                    i += 1;
                    let start = epoch.elapsed();
                    let (status, _, _) = server.call(&tokens[usize::from(new_key)]).await;
                    samples.push(Sample {
                        start,
                        end: epoch.elapsed(),
                        new_key,
                        status,
                    });
                }
                samples
            })
        })
        .collect();

    tokio::time::sleep_until((epoch + publish).into()).await;
    issuer.set_keys(&[old.jwk.clone(), new.jwk.clone()]);
    tokio::time::sleep_until((epoch + retire).into()).await;
    issuer.set_keys(std::slice::from_ref(&new.jwk));
    tokio::time::sleep_until((epoch + down_from).into()).await;
    issuer.set_down(true);
    tokio::time::sleep_until((epoch + down_to).into()).await;
    issuer.set_down(false);

    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    samples.sort_by_key(|s| s.start);
    assert!(samples.len() > 200, "{} requests", samples.len());
    let settle = interval + MARGIN;
    for s in &samples {
        assert!(matches!(s.status, 200 | 401), "no 5xx while up: {s:?}");
        if s.new_key {
            if s.end < publish {
                assert_eq!(s.status, 401, "the new key before it was published: {s:?}");
            }
            if s.start > publish + settle {
                assert_eq!(s.status, 200, "the new key after one refetch: {s:?}");
            }
        } else {
            if s.end < retire {
                assert_eq!(s.status, 200, "the old key while published: {s:?}");
            }
            if s.start > retire + max_age + settle {
                assert_eq!(s.status, 401, "the old key after it is gone: {s:?}");
            }
        }
    }
    // Once an old-key request was refused, none started after that is accepted again.
    let first_refusal = samples
        .iter()
        .filter(|s| !s.new_key && s.status == 401)
        .map(|s| s.end)
        .min()
        .expect("the retired key was refused at some point");
    assert!(first_refusal >= retire, "{first_refusal:?}");
    for s in samples
        .iter()
        .filter(|s| !s.new_key && s.start > first_refusal)
    {
        assert_eq!(s.status, 401, "the retired key came back: {s:?}");
    }
    // Misses were bounded by the refetch interval, not by the request rate.
    let fetches = issuer.jwks_hits();
    let bound = 2 + (end.as_millis() / interval.as_millis()) as usize;
    assert!(fetches <= bound, "{fetches} key set fetches");
    let accepted = samples.iter().filter(|s| s.status == 200).count();
    assert_eq!(server.runs(), accepted + 1, "every 200 ran the tool once");
}

/// An introspection-backed server, its caches turned off unless `cache` says otherwise.
async fn introspection_server(cache: Duration) -> (Server, FaultyIntrospection) {
    // The endpoint needs the resource, which is the server's own URL: bind the server's
    // listener first, then start the endpoint.
    let (listener, _, resource) = bind_endpoint().await;
    let introspection = FaultyIntrospection::start(&resource).await;
    let verifier = IntrospectionVerifier::builder(&introspection.url, &resource)
        .client_credentials("rs", "rs-secret", Default::default())
        .timeout(TIMEOUT)
        .cache_max_ttl(cache)
        .negative_cache_ttl(cache)
        .build()
        .unwrap();
    let runs = Runs::default();
    let builder = McpServer::builder("invoices", "1.0.0")
        .tools(tools![lookup_invoice])
        .state(runs.clone());
    let addr = serve_stateless_on(listener, resource, builder, verifier);
    let server = Server {
        addr,
        runs,
        http: reqwest::Client::new(),
    };
    introspection.activate("good", "alice", "invoices:read");
    (server, introspection)
}

#[tokio::test]
async fn a_slow_introspection_endpoint_bounds_every_request() {
    let (server, endpoint) = introspection_server(Duration::ZERO).await;
    endpoint.set_delay(Duration::from_secs(3));
    let results = server.burst("good", 24).await;
    for (status, took) in &results {
        assert_eq!(*status, 503, "{results:?}");
        assert!(*took < TIMEOUT + MARGIN, "{results:?}");
    }
    endpoint.set_delay(Duration::ZERO);
    assert_eq!(server.call("good").await.0, 200, "no failure is remembered");
    assert_eq!(server.runs(), 1);
}

#[tokio::test]
async fn a_down_or_garbled_introspection_endpoint_fails_closed() {
    let (server, endpoint) = introspection_server(Duration::ZERO).await;
    for fault in [Fault::Down, Fault::Garbage] {
        endpoint.set_fault(fault);
        for token in ["good", "bad"] {
            assert_eq!(server.call(token).await.0, 503, "{fault:?} {token}");
        }
    }
    endpoint.set_fault(Fault::None);
    assert_eq!(server.call("good").await.0, 200);
    assert_eq!(server.call("bad").await.0, 401);

    // Nothing listens any more: connection refused.
    let gone = {
        let listener = bind().await;
        listener.local_addr().unwrap()
    };
    let refused = Server::start(|resource| {
        IntrospectionVerifier::builder(format!("http://{gone}/introspect"), resource)
            .timeout(TIMEOUT)
            .build()
            .unwrap()
    })
    .await;
    let (status, took, _) = refused.call("good").await;
    assert_eq!(status, 503);
    assert!(took < TIMEOUT + MARGIN, "{took:?}");
    assert_eq!(server.runs() + refused.runs(), 1);
}

#[tokio::test]
async fn a_flapping_introspection_endpoint_never_causes_a_wrong_accept() {
    // Without a cache every request asks the endpoint once, so its n-th answer is known:
    // odd-numbered answers are 500.
    let (server, endpoint) = introspection_server(Duration::ZERO).await;
    endpoint.set_fault(Fault::Flapping);
    let mut seen = std::collections::HashMap::new();
    for i in 0..60 {
        let token = if i % 3 == 0 { "bad" } else { "good" };
        let hit = endpoint.hits();
        let (status, _, body) = server.call(token).await;
        assert_eq!(endpoint.hits(), hit + 1);
        let expected = match (hit % 2 == 1, token) {
            (true, _) => 503,
            (false, "good") => 200,
            (false, _) => 401,
        };
        assert_eq!(
            status, expected,
            "request {i} ({token}, answer {hit}): {body}"
        );
        if status == 200 {
            assert_eq!(body["result"]["content"][0]["text"], "alice");
        }
        *seen.entry(status).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(server.runs(), seen[&200]);

    // Concurrently, with the cache on: every answer is a correct 200, a 401 for the bad
    // token, or a 503; the bad token is never accepted.
    let (server, endpoint) = introspection_server(Duration::from_secs(60)).await;
    endpoint.set_fault(Fault::Flapping);
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let token = if i % 2 == 0 { "bad" } else { "good" };
            let call = server.call(token);
            tokio::spawn(async move { (token, call.await) })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let (token, (status, _, body)) = task.await.unwrap();
        match (token, status) {
            ("good", 200) => {
                assert_eq!(body["result"]["content"][0]["text"], "alice");
                accepted += 1;
            }
            ("good", 503) | ("bad", 401 | 503) => {}
            other => panic!("wrong answer {other:?}: {body}"),
        }
    }
    assert_eq!(server.runs(), accepted);
}

/// `GET /readyz` of `server`: the status and the verifier's check.
async fn readiness(server: &Server) -> (u16, String) {
    let response = server
        .http
        .get(format!("http://{}/readyz", server.addr))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["checks"]["token_verifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn readiness_follows_the_key_set_without_hammering_the_issuer() {
    let (key, issuer) = an_issuer_that_is_down().await;
    let interval = Duration::from_millis(300);
    let server = jwt_server(&issuer, |b| {
        b.timeout(TIMEOUT)
            .refetch_interval(interval)
            .max_key_age(Duration::from_millis(600))
    })
    .await;

    // Never fetched: nothing can be verified, the replica is not ready.
    assert_eq!(readiness(&server).await, (503, "unavailable".into()));
    // Probes in a tight loop fetch at most once per refetch interval.
    let before = issuer.jwks_hits() + issuer.metadata_hits();
    for _ in 0..50 {
        assert_eq!(readiness(&server).await.0, 503);
    }
    let fetches = issuer.jwks_hits() + issuer.metadata_hits() - before;
    assert!(fetches <= 2, "50 probes made {fetches} fetches");

    // The issuer is back: ready once the interval has passed.
    issuer.set_down(false);
    tokio::time::sleep(interval).await;
    assert_eq!(readiness(&server).await, (200, "ready".into()));
    let (status, _, _) = server.call(&token(&key, &issuer, &server)).await;
    assert_eq!(status, 200);

    // Down again with keys in hand: still serving with them (200), reported as degraded
    // once they are stale.
    issuer.set_down(true);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(readiness(&server).await, (200, "degraded".into()));
    let (status, _, _) = server.call(&token(&key, &issuer, &server)).await;
    assert_eq!(
        status, 200,
        "stale keys still verify while the issuer is down"
    );
}

/// Metadata, key sets and introspection responses are read under their bound (256 KiB) while
/// they stream: an endless chunked body (no `Content-Length`) is abandoned once past the
/// bound, long before the authorization server could send it all, and the request fails
/// closed. The timeouts are generous, so that only the size bound can stop the reading.
#[tokio::test]
async fn endless_documents_are_cut_off_at_the_bound_while_streaming() {
    // The bound, plus what socket buffers and the HTTP stacks hold on each side.
    const READ_AT_MOST: usize = 16 << 20;
    const { assert!(ENDLESS_BYTES > 2 * READ_AT_MOST) };
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    let key = TestKey::es256("k");
    for document in [Document::Metadata, Document::Jwks] {
        let issuer = Issuer::start(&[&key]).await;
        issuer.set_endless(document, true);
        let server = jwt_server(&issuer, |b| b.timeout(Duration::from_secs(30))).await;
        let (status, took, _) = server.call(&token(&key, &issuer, &server)).await;
        assert_eq!(status, 503, "{document:?}");
        settle().await;
        let served = issuer.endless_bytes();
        assert!(
            served < READ_AT_MOST,
            "{document:?}: {served} bytes produced, in {took:?}"
        );
        assert_eq!(server.runs(), 0);
    }

    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.set_fault(Fault::Endless);
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let result = verifier.verify("tok").await;
    let Err(AuthError::Unavailable(reason)) = result else {
        panic!("{result:?}");
    };
    assert_eq!(reason, "introspection response too large");
    settle().await;
    let served = endpoint.endless_bytes();
    assert!(
        served < READ_AT_MOST,
        "introspection: {served} bytes produced"
    );
}
