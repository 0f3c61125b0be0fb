//! Rate limits per verified caller and the `on_call` hook, over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_runtime::{CallOutcome, McpServerBuilder};
use mcp_auth_test_support::fixture::time_left_in_window;
use mcp_auth_test_support::{Client, bind_endpoint, retry_after, serve_on};
use serde_json::json;

/// Name the tool being run.
#[tool(scope = "t:use")]
async fn whoami(ctx: ToolContext) -> Result<String, ToolError> {
    Ok(ctx.tool_name().unwrap_or("?").to_owned())
}

/// Void something.
#[tool(scope = "t:use", destructive)]
async fn void_it(id: u32) -> Result<String, ToolError> {
    if id == 0 {
        return Err(ToolError::new("nothing to void"));
    }
    Ok(format!("voided {id}"))
}

/// Sleep long.
#[tool(scope = "t:use")]
async fn slow() -> String {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "done".into()
}

/// Needs another scope.
#[tool(scope = "t:admin")]
async fn admin() -> String {
    "admin".into()
}

struct Users;

impl TokenVerifier for Users {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        match token.strip_prefix("user-") {
            Some(name) => Ok(AuthInfo::new(name)
                .with_client_id("c")
                .with_scopes(["t:use"])),
            None => Err(AuthError::InvalidToken("unknown".into())),
        }
    }
}

async fn start(
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> std::net::SocketAddr {
    let (listener, _, resource) = bind_endpoint().await;
    let builder = McpServer::builder("limits", "1")
        .tools(tools![whoami, void_it, slow, admin])
        .verifier(Users)
        .resource(resource)
        .stateless(true);
    serve_on(listener, configure(builder).build().unwrap().into_router())
}

#[tokio::test]
async fn callers_over_their_request_budget_get_429_with_retry_after() {
    let addr = start(|b| b.rate_limits(RateLimits::local().requests(Quota::per_minute(3)))).await;
    minute_left().await;
    let alice = Client::without_session(addr, Some("user-alice"));
    for _ in 0..3 {
        assert_eq!(alice.call("whoami", json!({})).await.0, 200);
    }
    let response = alice
        .post_json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .await;
    assert_eq!(response.status(), 429);
    let retry = retry_after(&response);
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32005);
    // Another caller has a budget of its own.
    let bob = Client::without_session(addr, Some("user-bob"));
    assert_eq!(bob.call("whoami", json!({})).await.0, 200);
    // Unauthenticated requests are refused before they count.
    assert_eq!(
        Client::without_session(addr, None)
            .call("whoami", json!({}))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_tool_budget_limits_that_tool_only() {
    let addr =
        start(|b| b.rate_limits(RateLimits::local().tool("void_it", Quota::per_minute(2)))).await;
    minute_left().await;
    let alice = Client::without_session(addr, Some("user-alice"));
    assert_eq!(alice.call("void_it", json!({ "id": 1 })).await.0, 200);
    assert_eq!(alice.call("void_it", json!({ "id": 2 })).await.0, 200);
    let (status, _, body) = alice.call("void_it", json!({ "id": 3 })).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], -32005);
    assert!(body["error"]["data"]["retryAfterMs"].as_u64().unwrap() <= 60_000);
    assert_eq!(
        alice.call("whoami", json!({})).await.0,
        200,
        "other tools are not limited"
    );
}

/// Makes sure the calls that follow fall in one per-minute rate-limit window.
async fn minute_left() {
    time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
}

/// What a call hook saw of a call: the tool, the subject, the arguments and the outcome.
type Seen = Vec<(&'static str, String, Option<serde_json::Value>, CallOutcome)>;

/// A call hook that records what it sees, and the record.
fn recorder() -> (
    Arc<Mutex<Seen>>,
    impl Fn(&mcp_auth_runtime::CallEvent<'_>) + Send + Sync + 'static,
) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let record = seen.clone();
    let hook = move |event: &mcp_auth_runtime::CallEvent<'_>| {
        record.lock().unwrap().push((
            event.name,
            event.auth.subject().unwrap_or("").to_owned(),
            event
                .arguments
                .map(|a| serde_json::Value::Object(a.clone())),
            event.outcome,
        ));
    };
    (seen, hook)
}

#[tokio::test]
async fn every_call_is_reported_once_with_its_outcome() {
    let (seen, hook) = recorder();
    let addr = start(move |b| {
        b.on_call(hook)
            .call_timeout(Duration::from_millis(100))
            .rate_limits(RateLimits::local().tool("whoami", Quota::per_minute(1)))
    })
    .await;
    minute_left().await;
    let alice = Client::without_session(addr, Some("user-alice"));
    let (_, _, body) = alice.call("whoami", json!({})).await;
    assert_eq!(
        body["result"]["content"][0]["text"], "whoami",
        "ctx.tool_name()"
    );
    alice.call("whoami", json!({})).await;
    alice.call("void_it", json!({ "id": 0 })).await;
    alice.call("void_it", json!({ "id": "x" })).await;
    alice.call("admin", json!({})).await;
    alice.call("slow", json!({})).await;
    alice.call("no_such_tool", json!({})).await;
    let seen = seen.lock().unwrap().clone();
    let outcomes: Vec<_> = seen
        .iter()
        .map(|(tool, _, _, outcome)| (*tool, *outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("whoami", CallOutcome::Completed),
            ("whoami", CallOutcome::RateLimited),
            ("void_it", CallOutcome::Failed),
            ("void_it", CallOutcome::InvalidArguments),
            ("admin", CallOutcome::Forbidden),
            ("slow", CallOutcome::TimedOut),
        ]
    );
    assert!(seen.iter().all(|(_, subject, _, _)| subject == "alice"));
    assert_eq!(seen[2].2, Some(json!({ "id": 0 })));
}

#[tokio::test]
async fn a_call_over_the_request_budget_is_reported_as_rate_limited() {
    let (seen, hook) = recorder();
    let addr = start(move |b| {
        b.on_call(hook)
            .rate_limits(RateLimits::local().requests(Quota::per_minute(1)))
    })
    .await;
    minute_left().await;
    let alice = Client::without_session(addr, Some("user-alice"));
    assert_eq!(alice.call("whoami", json!({})).await.0, 200);
    // Refused by the request budget, before dispatch: reported all the same.
    assert_eq!(alice.call("void_it", json!({ "id": 5 })).await.0, 429);
    // Not calls of a tool of this server: nothing to report.
    assert_eq!(alice.call("no_such_tool", json!({})).await.0, 429);
    assert_eq!(alice.request("tools/list", json!({})).await.0, 429);
    let alice = "alice".to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (
                "whoami",
                alice.clone(),
                Some(json!({})),
                CallOutcome::Completed
            ),
            (
                "void_it",
                alice,
                Some(json!({ "id": 5 })),
                CallOutcome::RateLimited
            ),
        ]
    );
}

#[test]
fn a_budget_for_a_tool_the_server_lacks_is_a_build_error() {
    let error = McpServer::builder("limits", "1.0.0")
        .tools(tools![whoami, void_it])
        .without_auth()
        .rate_limits(RateLimits::local().tool("void_id", Quota::per_minute(2)))
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, mcp_auth_runtime::BuildError::UnknownRateLimitedTool(name) if name == "void_id"),
        "{error}"
    );
}

#[tokio::test]
async fn the_rate_limit_layer_guards_routes_of_your_own() {
    use mcp_auth_runtime::auth::{BearerAuthLayer, Challenge};
    use mcp_auth_runtime::rate_limit::RateLimitLayer;

    let app = axum::Router::new()
        .route("/export", axum::routing::get(|| async { "exported" }))
        .layer(RateLimitLayer::new(
            RateLimits::local().requests(Quota::per_minute(2)),
        ))
        .layer(BearerAuthLayer::new(Users, Challenge::new("test")));
    let addr = mcp_auth_test_support::serve(app).await;
    minute_left().await;
    let http = reqwest::Client::new();
    let get = |token: &'static str| {
        http.get(format!("http://{addr}/export"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get("user-alice").await.unwrap().status(), 200);
    assert_eq!(get("user-alice").await.unwrap().status(), 200);
    let limited = get("user-alice").await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after = retry_after(&limited);
    assert!((1..=60).contains(&retry_after));
    // Budgets are per verified caller; a bad token never reaches the layer.
    assert_eq!(get("user-bob").await.unwrap().status(), 200);
    assert_eq!(get("nobody").await.unwrap().status(), 401);
}
