//! The verified-token cache of `JwtVerifier`: what it remembers, and that it never accepts a
//! token a cold check would refuse. Tokens are signed with keys generated here; keys are
//! served by an issuer on loopback.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_runtime::auth::TokenVerifier;
use mcp_auth_runtime::auth::{JwtVerifier, JwtVerifierBuilder};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Issuer, TestKey, at, claims};
use mcp_auth_test_support::{Client, bind, serve_on};
use serde_json::json;

const RESOURCE: &str = "https://things.example.com/mcp";

/// A verifier for `RESOURCE` with the issuer's keys fetched: results are remembered only under
/// a key set that was fetched before the check began.
async fn verifier(
    issuer: &Issuer,
    configure: impl FnOnce(JwtVerifierBuilder) -> JwtVerifierBuilder,
) -> JwtVerifier {
    let verifier = configure(
        JwtVerifier::builder(issuer.url.clone(), RESOURCE)
            .refetch_interval(Duration::from_millis(100)),
    )
    .build()
    .unwrap();
    verifier.warm_up().await.unwrap();
    verifier
}

#[tokio::test]
async fn a_verified_token_is_remembered_unless_the_cache_is_off() {
    let key = TestKey::rsa("k1");
    let issuer = Issuer::start(&[&key]).await;
    let token = key.sign(&claims(&issuer.url, RESOURCE, "things:read"));

    let cached = verifier(&issuer, |b| b).await;
    let first = cached.verify_shared(&token).await.unwrap();
    let second = cached.verify_shared(&token).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second call is served from the cache"
    );
    assert_eq!(cached.verify(&token).await.unwrap(), *first);

    let uncached = verifier(&issuer, |b| b.cache_capacity(0)).await;
    let first = uncached.verify_shared(&token).await.unwrap();
    let second = uncached.verify_shared(&token).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &second),
        "every call is checked from scratch"
    );
    assert_eq!(first, second);
}

#[tokio::test]
async fn failures_are_not_remembered() {
    let key = TestKey::rsa("k1");
    let issuer = Issuer::start(&[&key]).await;
    let verifier = verifier(&issuer, |b| b).await;
    let mut claims = claims(&issuer.url, RESOURCE, "things:read");
    claims["nbf"] = at(600).into();
    let early = key.sign(&claims);
    for _ in 0..2 {
        assert!(verifier.verify_shared(&early).await.is_err());
    }
}

/// Reads a thing.
#[tool(unscoped)]
async fn read_thing() -> &'static str {
    "a thing"
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_its_exp_passes() {
    let key = TestKey::es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let listener = bind().await;
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let jwt = JwtVerifier::builder(issuer.url.clone(), resource.clone())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let server = McpServer::builder("things", "1.0.0")
        .tools(tools![read_thing])
        .resource(resource.clone())
        .authorization_server(issuer.url.clone())
        .verifier(jwt)
        .stateless(true)
        .build()
        .unwrap();
    let addr = serve_on(listener, server.into_router());

    let mut short = claims(&issuer.url, &resource, "");
    short["exp"] = at(1).into();
    let token = key.sign(&short);
    let client = Client::without_session(addr, Some(&token));
    for _ in 0..3 {
        let (status, _, body) = client.call("read_thing", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, challenge, _) = client.call("read_thing", json!({})).await;
    assert_eq!(status, 401, "served from the cache past `exp`");
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn a_key_removed_at_the_issuer_ends_its_remembered_tokens() {
    let old = TestKey::rsa("old");
    let new = TestKey::ed25519("new");
    let issuer = Issuer::start(&[&old]).await;
    let verifier = verifier(&issuer, |b| b).await;
    let old_token = old.sign(&claims(&issuer.url, RESOURCE, "things:read"));
    let new_token = new.sign(&claims(&issuer.url, RESOURCE, "things:read"));
    assert!(verifier.verify_shared(&old_token).await.is_ok());
    assert!(
        verifier.verify_shared(&old_token).await.is_ok(),
        "remembered"
    );

    // The issuer rotates: the old key is gone. The first token of the new key makes the
    // verifier fetch the new key set, which must end the old key's remembered tokens.
    issuer.set_keys(std::slice::from_ref(&new.jwk));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(verifier.verify_shared(&new_token).await.is_ok());
    assert!(
        verifier.verify_shared(&old_token).await.is_err(),
        "a token of a removed key was served from the cache"
    );
}

#[tokio::test]
async fn a_key_set_past_its_maximum_age_serves_no_remembered_token() {
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    let issuer = Issuer::start(&[&old]).await;
    let verifier = verifier(&issuer, |b| b.max_key_age(Duration::from_millis(300))).await;
    let token = old.sign(&claims(&issuer.url, RESOURCE, "things:read"));
    assert!(verifier.verify_shared(&token).await.is_ok());
    assert!(verifier.verify_shared(&token).await.is_ok(), "remembered");
    let fetches = issuer.jwks_hits();

    // No other token arrives; the key set only ages. Once it is stale, the token is checked
    // again, which refetches the key set and finds its key gone.
    issuer.set_keys(std::slice::from_ref(&new.jwk));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(verifier.verify_shared(&token).await.is_err());
    assert_eq!(issuer.jwks_hits(), fetches + 1);
}
