//! Hostile issuer metadata, and floods of random opaque tokens against the introspection
//! endpoint.

use super::*;
use mcp_auth_test_support::bind_endpoint;

/// The issuer's metadata is a document from the network: the `jwks_uri` it advertises gets
/// the rules a configured URL gets (`https`, or `http` on a loopback host; no userinfo; no
/// fragment), and a redirect is not followed. Nothing is fetched from a refused URL, the
/// reason is logged, and calls fail closed with `503`.
#[tokio::test]
async fn hostile_issuer_metadata_never_steers_the_key_fetch() {
    use mcp_auth_runtime::auth::TokenVerifier as _;
    let (logs, _guard) = mcp_auth_test_support::logs::Logs::capture();
    let fx = Fx::start().await;
    let port = fx.issuer.addr.port();
    let cases = [
        // `0.0.0.0` reaches this machine on Linux, but it is no loopback host: elsewhere
        // plain http to such a host crosses the network.
        (
            format!("http://0.0.0.0:{port}/jwks"),
            "plain http is allowed on loopback hosts only",
        ),
        (
            format!("http://keys:hunter2@127.0.0.1:{port}/jwks"),
            "userinfo",
        ),
        (format!("http://keys@127.0.0.1:{port}/jwks"), "userinfo"),
        (format!("http://:hunter2@127.0.0.1:{port}/jwks"), "userinfo"),
        (format!("http://127.0.0.1:{port}/jwks#k"), "fragment"),
        (format!("http://127.0.0.1:{port}/jwks#"), "fragment"),
        (format!("ftp://127.0.0.1:{port}/jwks"), "not an https URL"),
        ("/jwks".to_owned(), "not an absolute URL"),
        // A 307 to the issuer's real key set: not followed.
        (
            format!("http://127.0.0.1:{port}/moved"),
            "redirects are not followed",
        ),
    ];
    let token = fx.good();
    for (jwks_uri, why) in cases {
        fx.issuer.set_jwks_uri(Some(jwks_uri.clone()));
        // A verifier of its own for each case: a refused discovery is retried only after the
        // refetch interval.
        let verifier = JwtVerifier::builder(fx.issuer.url.clone(), fx.resource.clone())
            .build()
            .unwrap();
        let before = fx.issuer.jwks_hits();
        let result = verifier.warm_up().await;
        let Err(mcp_auth_runtime::auth::AuthError::Unavailable(reason)) = result else {
            panic!("{jwks_uri}: keys fetched: {result:?}");
        };
        assert!(reason.contains(why), "{jwks_uri}: {reason}");
        assert!(!reason.contains("hunter2"), "{jwks_uri}: {reason}");
        assert!(
            matches!(
                verifier.verify(&token).await,
                Err(mcp_auth_runtime::auth::AuthError::Unavailable(_))
            ),
            "{jwks_uri}"
        );
        assert_eq!(fx.issuer.jwks_hits(), before, "{jwks_uri}: keys fetched");
    }

    // A configured JWKS URL gets the same rules, checked when the verifier is built.
    fx.issuer.set_jwks_uri(None);
    for jwks_url in [
        format!("http://k:hunter2@127.0.0.1:{port}/jwks"),
        format!("http://:hunter2@127.0.0.1:{port}/jwks"),
        format!("http://@127.0.0.1:{port}/jwks"),
        format!("http://127.0.0.1:{port}/jwks#k"),
    ] {
        let result = JwtVerifier::builder(fx.issuer.url.clone(), fx.resource.clone())
            .jwks_url(jwks_url.clone())
            .build();
        let Err(error @ mcp_auth_runtime::auth::JwtConfigError::InsecureJwksUrl(_)) = result else {
            panic!("{jwks_url}: accepted");
        };
        assert!(
            !error.to_string().contains("hunter2"),
            "{jwks_url}: {error}"
        );
    }
    assert_eq!(fx.issuer.jwks_hits(), 0, "keys fetched");

    // Through the server: the first call discovers the hostile metadata and fails closed.
    fx.issuer
        .set_jwks_uri(Some(format!("http://k:hunter2@127.0.0.1:{port}/jwks")));
    let body = fx
        .refused("hostile jwks_uri", fx.void(&token), 503, Challenge::Absent)
        .await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(fx.issuer.jwks_hits(), 0, "keys fetched");
    let logs = logs.text();
    assert!(
        logs.contains("ERROR") && logs.contains("jwks_uri") && logs.contains("userinfo"),
        "{logs}"
    );
    assert!(!logs.contains("hunter2"), "{logs}");
}

/// Random opaque tokens cannot turn the server into a flood of requests to the authorization
/// server: introspection requests in flight are bounded, concurrent requests with one token
/// share one introspection, and refusals are remembered for a while. A legitimate token sent
/// in the middle of the flood is still served.
#[tokio::test]
async fn random_opaque_tokens_cannot_flood_the_introspection_endpoint() {
    let (listener, addr, resource) = bind_endpoint().await;
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.activate("legit-7d41", "alice", ALL);
    endpoint.set_delay(Duration::from_millis(20));
    // The default bound on requests in flight (32), and room in the wait queue for the whole
    // flood so that every token is asked about (by default, the tokens beyond 4 x 32 waiting
    // fail at once: see the next test); refusals remembered long enough for the second round
    // to find them on a loaded machine (the default is 5 s).
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .max_queued_requests(500)
        .negative_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let runs = Runs::default();
    let server = invoices(&resource, &runs)
        .verifier(verifier)
        .stateless(true)
        .build()
        .unwrap();
    mcp_auth_test_support::serve_on(listener, server.into_router());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let call = |token: &str| {
        let request = http
            .post(format!("http://{addr}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .body(call_body("lookup_invoice", "INV-1"));
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    };
    let random: Vec<String> = (0..500).map(|i| format!("random-{i:03}-f00d")).collect();

    let mut flood = Vec::new();
    let mut legit = None;
    for (i, token) in random.iter().enumerate() {
        flood.push(call(token));
        if i == 250 {
            legit = Some(call("legit-7d41"));
        }
    }
    for task in flood {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(
        legit.unwrap().await.unwrap(),
        200,
        "legitimate amid the flood"
    );
    assert_eq!(endpoint.hits(), 501, "one introspection per distinct token");
    let max = endpoint.max_in_flight();
    assert!(max <= 32, "{max} introspection requests at once");

    // The same tokens again, all at once: the refusals are remembered.
    let again: Vec<_> = random.iter().map(|token| call(token)).collect();
    for task in again {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(endpoint.hits(), 501, "refusals are remembered");

    // One new token 100 times at once: one introspection.
    let same: Vec<_> = (0..100).map(|_| call("random-once-b00c")).collect();
    for task in same {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(
        endpoint.hits(),
        502,
        "concurrent requests share one introspection"
    );
    assert_eq!(
        runs.0.load(Ordering::SeqCst),
        1,
        "only the legitimate call ran"
    );
}

/// Random opaque tokens whose clients hang up leave nothing behind, with the default
/// settings: 500 requests with random 16 KiB tokens, each on a socket closed 50 ms after the
/// request is written (time for the token to start waiting for an introspection slot), leave
/// no token waiting once their clients are gone: after the flood, the endpoint sees at most
/// one more round of requests (32, the default bound in flight), not one per token, and the
/// next token finds no queue. Meanwhile a token already accepted keeps getting `200` without
/// waiting in that queue.
/// (A socket closed right after its request costs nothing: the server drops the request
/// before it reaches the verifier.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tokens_whose_clients_hang_up_leave_nothing_behind() {
    let (listener, addr, resource) = bind_endpoint().await;
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.activate("legit-1-5c2e", "alice", ALL);
    endpoint.activate("legit-2-9a7b", "bob", ALL);
    endpoint.set_delay(Duration::from_millis(500));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .build()
        .unwrap();
    let server = invoices(&resource, &Runs::default())
        .verifier(verifier)
        .stateless(true)
        .build()
        .unwrap();
    mcp_auth_test_support::serve_on(listener, server.into_router());
    let http = reqwest::Client::new();
    let call = |token: &str| {
        http.post(format!("http://{addr}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .bearer_auth(token)
            .body(call_body("lookup_invoice", "INV-1"))
            .send()
    };
    assert_eq!(call("legit-1-5c2e").await.unwrap().status(), 200);
    assert_eq!(endpoint.hits(), 1);

    let flood = tokio::spawn(async move {
        let body = call_body("lookup_invoice", "INV-1");
        for batch in 0..2 {
            let sockets: Vec<_> = (0..250)
                .map(|i| {
                    // The longest token the bearer layer takes: 16 KiB.
                    let token = format!("random-{batch:02}{i:03}-{:f<16371}", "");
                    let request = format!(
                        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                         Content-Type: application/json\r\nAccept: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    tokio::spawn(async move {
                        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                        tcp.write_all(request.as_bytes()).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        // Hang up: the socket closes when dropped.
                    })
                })
                .collect();
            for socket in sockets {
                socket.await.unwrap();
            }
        }
    });
    // A call stuck behind the flood's tokens would wait for their introspection rounds: 500
    // tokens, 32 at a time, 500 ms each, about 8 s. Half of that tells such a queue from a
    // machine that is merely busy (a loaded 2-core CI runner answers in up to ~1.5 s here).
    let queued = Duration::from_secs(4);
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while !flood.is_finished() {
        let started = Instant::now();
        assert_eq!(call("legit-1-5c2e").await.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flood.await.unwrap();
    assert!(served > 0);
    assert!(
        slowest < queued,
        "a cached token answered in {slowest:?} during the flood: it waited in the queue"
    );
    // Three rounds of answers later (a queue left behind would have sent 3 x 32 requests):
    // at most one round, for clients whose hang-up the server had not yet seen at the end.
    let at_end = endpoint.hits();
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let after = endpoint.hits() - at_end;
    assert!(
        after <= 32,
        "{after} introspection requests after the flood ended ({at_end} during it)"
    );
    assert!(endpoint.max_in_flight() <= 32);
    let started = Instant::now();
    assert_eq!(call("legit-2-9a7b").await.unwrap().status(), 200);
    assert!(
        started.elapsed() < queued,
        "a queue was left behind: {:?}",
        started.elapsed()
    );
}
