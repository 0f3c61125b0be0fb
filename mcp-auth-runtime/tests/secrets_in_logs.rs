//! Secrets hygiene: a run through every authentication outcome, with every log line at TRACE
//! captured, must never log a token. Its own test binary, so that the process-wide subscriber
//! sees every thread.

use std::time::Duration;

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Issuer, TestKey, at, claims};
use mcp_auth_test_support::logs::Logs;
use mcp_auth_test_support::tools::{read_thing, write_thing};
use mcp_auth_test_support::{Client, bind_endpoint, serve_on};
use serde_json::json;

#[tokio::test]
async fn no_token_ever_reaches_the_logs() {
    let logs = Logs::capture_global();

    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let (listener, addr, resource) = bind_endpoint().await;
    let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
        .refetch_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let server = McpServer::builder("things", "1")
        .tools(tools![read_thing, write_thing])
        .resource(resource.clone())
        .verifier(verifier)
        .build()
        .unwrap();
    serve_on(listener, server.into_router());
    let claims = |scope: &str| claims(&issuer.url, &resource, scope);
    let status = |token: String, tool: &'static str| async move {
        Client::new(addr, Some(&token))
            .call(tool, json!({}))
            .await
            .0
    };

    let good = key.sign(&claims("things:read"));
    let mut expired = claims("things:read");
    expired["exp"] = at(-3600).into();
    let expired = key.sign(&expired);
    let foreign = TestKey::es256("k").sign(&claims("things:read"));
    let unknown_kid = TestKey::es256("unknown").sign(&claims("things:read"));
    let garbage = "not-a-jwt-but-a-secret-value".to_owned();
    assert_eq!(status(good.clone(), "read_thing").await, 200);
    assert_eq!(status(expired.clone(), "read_thing").await, 401);
    assert_eq!(status(foreign.clone(), "read_thing").await, 401);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(status(unknown_kid.clone(), "read_thing").await, 401);
    assert_eq!(status(garbage.clone(), "read_thing").await, 401);
    assert_eq!(status(good.clone(), "write_thing").await, 403);
    // The issuer goes down: the refetch fails and is logged, still without the token.
    issuer.set_down(true);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let other_kid = TestKey::es256("other").sign(&claims("things:read"));
    assert_eq!(status(other_kid.clone(), "read_thing").await, 401);
    let tokens = [
        good.clone(),
        expired,
        foreign,
        unknown_kid,
        garbage,
        other_kid,
    ];
    let in_query = reqwest::Client::new()
        .post(format!("http://{addr}/mcp?access_token={good}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 400);

    let logs = logs.text();
    assert!(
        logs.contains("bearer token rejected"),
        "the rejections are logged:\n{logs}"
    );
    assert!(logs.contains("insufficient scope"), "{logs}");
    assert!(
        logs.contains("cannot fetch the issuer's signing keys"),
        "{logs}"
    );
    assert!(logs.contains("malformed bearer authorization"), "{logs}");
    for token in &tokens {
        // Neither the whole token nor its signature part may appear.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(token.as_str()), "a token was logged");
        assert!(!logs.contains(signature), "a token signature was logged");
    }
}
