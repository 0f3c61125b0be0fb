//! What the cache and single flight save, counted at the issuer's token endpoint; and that
//! a cached token never serves past the caller's own token.

use super::*;

/// How many calls the measurement makes: `EXCHANGE_CALLS`, by default 200 (1,000 take three
/// minutes in a debug build on a busy machine).
fn calls() -> usize {
    std::env::var("EXCHANGE_CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(200)
}

/// Exchanges for `calls` calls by `users` callers taking turns, with the cache on or off.
async fn exchanges_for(calls: usize, cache_capacity: usize, users: usize) -> usize {
    let fx = Fixture::with(Setup {
        cache_capacity,
        ..Setup::default()
    })
    .await;
    let tokens: Vec<String> = (0..users)
        .map(|n| {
            let subject = if n % 2 == 0 { "alice" } else { "bob" };
            // Distinct tokens: each a caller of its own.
            fx.user_token(
                subject,
                &["invoices:refund", "payments:write"],
                Duration::from_secs(600 + n as u64),
            )
        })
        .collect();
    for call in 0..calls {
        let (status, response) = fx.refund(&tokens[call % users]).await;
        assert_eq!(status, 200);
        structured(&response);
    }
    fx.token_requests()
}

/// The figure of the note: `EXCHANGE_CALLS=1000 cargo test -p mcp-auth-runtime
/// --all-features --test downstream the_cache_saves -- --nocapture`.
#[tokio::test]
async fn the_cache_saves_all_but_one_exchange_per_caller() {
    let calls = calls();
    let capacity = mcp_auth_runtime::downstream::DEFAULT_CACHE_CAPACITY;
    let on = exchanges_for(calls, capacity, 1).await;
    let on_ten = exchanges_for(calls, capacity, 10).await;
    let off = exchanges_for(calls, 0, 1).await;
    eprintln!(
        "exchange requests at the token endpoint per {calls} tool calls: cache on, 1 caller: \
         {on}; cache on, 10 callers: {on_ten}; cache off: {off}"
    );
    assert_eq!(on, 1);
    assert_eq!(on_ten, 10);
    assert_eq!(off, calls);
}

#[tokio::test]
async fn concurrent_calls_with_one_token_share_one_exchange() {
    let fx = Arc::new(Fixture::start().await);
    let token = fx.alice();
    let calls = (0..50).map(|_| {
        let fx = fx.clone();
        let token = token.clone();
        tokio::spawn(async move { fx.refund(&token).await })
    });
    for call in futures_util::future::join_all(calls).await {
        let (status, response) = call.unwrap();
        assert_eq!(status, 200);
        assert_eq!(structured(&response)["payments"]["sub"], "alice");
    }
    assert_eq!(fx.token_requests(), 1);
}

#[tokio::test]
async fn a_token_exchanged_for_a_token_about_to_expire_is_not_reused() {
    let fx = Fixture::start().await;
    // Expires within the refresh margin (30 s): whatever it is exchanged for cannot be kept.
    let short = fx.user_token(
        "alice",
        &["invoices:refund", "payments:write"],
        Duration::from_secs(20),
    );
    for _ in 0..3 {
        let (status, response) = fx.refund(&short).await;
        assert_eq!(status, 200);
        structured(&response);
    }
    assert_eq!(fx.token_requests(), 3);
    // Each caller and each scope set has its own entry.
    let (alice, bob) = (
        fx.alice(),
        fx.user_token(
            "bob",
            &["invoices:refund", "payments:write"],
            Duration::from_secs(600),
        ),
    );
    for token in [&alice, &bob, &alice, &bob] {
        let (status, _) = fx.refund(token).await;
        assert_eq!(status, 200);
    }
    assert_eq!(fx.token_requests(), 5);
}
