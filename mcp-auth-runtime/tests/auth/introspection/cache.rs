//! The cache of accepted tokens and its lifetimes.

use super::*;

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
    let endpoint = TestAs::active_token("a", json!({})).await;
    let verifier = endpoint.verifier_with(|b| b.cache_max_ttl(Duration::from_millis(300)));
    verifier.verify("a").await.unwrap();
    verifier.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    verifier.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 2);

    let uncached = endpoint.verifier_with(|b| b.cache_max_ttl(Duration::ZERO));
    uncached.verify("a").await.unwrap();
    uncached.verify("a").await.unwrap();
    assert_eq!(endpoint.hits(), 4);
}

#[tokio::test]
async fn cached_results_never_outlive_exp() {
    let exp = now() + 2;
    let endpoint = TestAs::active_token("short", json!({ "exp": exp })).await;
    let verifier = endpoint.verifier_with(|b| {
        b.cache_max_ttl(Duration::from_secs(60))
            .leeway(Duration::ZERO)
    });
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
