//! Requests to the endpoint under load: shared, bounded in flight, bounded in waiting, and
//! forgotten when their clients go away.

use super::*;

/// An endpoint that knows the token `good` (alice) and answers after `delay`, and a verifier
/// with the default settings in front of it.
async fn slow_endpoint(delay: Duration) -> (FaultyIntrospection, IntrospectionVerifier) {
    let endpoint = FaultyIntrospection::start(RESOURCE).await;
    endpoint.activate("good", "alice", "x:read");
    endpoint.set_delay(delay);
    let verifier = verifier_for(&endpoint, |b| b);
    (endpoint, verifier)
}

/// A verifier for `endpoint` (no client authentication), its settings tuned by `tune`.
fn verifier_for(
    endpoint: &FaultyIntrospection,
    tune: impl FnOnce(IntrospectionBuilder) -> IntrospectionBuilder,
) -> IntrospectionVerifier {
    tune(IntrospectionVerifier::builder(&endpoint.url, RESOURCE))
        .build()
        .unwrap()
}

#[tokio::test]
async fn concurrent_requests_for_one_token_share_one_introspection() {
    let (endpoint, verifier) = slow_endpoint(Duration::from_millis(200)).await;
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
    let (endpoint, verifier) = slow_endpoint(Duration::from_millis(200)).await;
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
    let verifier = verifier_for(&endpoint, |b| b.max_queued_requests(200));
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
    let verifier = verifier_for(&endpoint, |b| {
        b.max_concurrent_requests(3).max_queued_requests(60)
    });
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
    let verifier = verifier_for(&endpoint, |b| {
        b.max_concurrent_requests(1)
            .max_queued_requests(10)
            .timeout(timeout)
    });
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
    let verifier = verifier_for(&endpoint, |b| b.max_queued_requests(10_000));

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
    // The two requests in flight are held for 3 s, so that the queue stays full while a
    // loaded machine (a CI run) gets through the checks below; the queue's own requests
    // are answered sooner (the delay is read when a request arrives).
    endpoint.set_delay(Duration::from_secs(3));
    let timeout = Duration::from_secs(10);
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .max_concurrent_requests(2)
        .max_queued_requests(3)
        .timeout(timeout)
        .build()
        .unwrap();
    serve_x(listener, &resource, verifier.clone(), |b| b.stateless(true));
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
    // Refused on its first poll: no waiting at all, whatever the machine's load.
    let Some(Err(AuthError::Unavailable(reason))) = verifier.verify("random-6").now_or_never()
    else {
        panic!("expected Unavailable at once");
    };
    assert!(reason.contains("waiting"), "{reason}");
    endpoint.set_delay(Duration::from_millis(300));

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
    let (endpoint, verifier) = slow_endpoint(Duration::from_millis(300)).await;
    verifier.verify("good").await.unwrap();
    let flood: Vec<_> = (0..2_000)
        .map(|i| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    until_hits(&endpoint, 1 + 32).await;
    // `now_or_never` is the proof: a lookup that had to wait would be pending on its first
    // poll (a wall-clock bound would measure the machine's load, not the verifier).
    for _ in 0..1_000 {
        let auth = verifier.verify("good").now_or_never();
        let auth = auth.expect("a cached token never waits").unwrap();
        assert_eq!(auth.subject(), Some("alice"));
        // Let the flood make progress in between.
        tokio::task::yield_now().await;
    }
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
