//! Metrics over real HTTP with real tokens: known traffic gives exact counts in the
//! Prometheus text, the text is valid (checked by `promtool`), it holds no token, and it is
//! served apart from the MCP route.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::observe::{Metrics, serve_metrics};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_test_support::fixture::{http, within};
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::tools::{read_thing, write_thing};
use mcp_auth_test_support::{Client, serve_on};

/// A server with metrics, protected by real JWTs, and its metrics on a listener of their own.
struct Served {
    mcp: SocketAddr,
    metrics_url: String,
    tokens: Tokens,
    metrics: Metrics,
}

async fn start(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Served {
    let (listener, tokens, builder) = protected("metrics").await;
    let mcp = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let server = configure(
        builder
            .tools(tools![read_thing, write_thing])
            .metrics(metrics.clone()),
    )
    .build()
    .unwrap();
    serve_on(listener, server.into_router());
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr().unwrap());
    tokio::spawn(serve_metrics(
        metrics_listener,
        metrics.clone(),
        std::future::pending(),
    ));
    Served {
        mcp,
        metrics_url,
        tokens,
        metrics,
    }
}

/// The scraped text, after checking the answer's headers.
async fn scrape(url: &str) -> String {
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the one sample named `series` exactly (name and labels as written).
fn sample(text: &str, series: &str) -> f64 {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "one sample {series} in:\n{text}");
    values[0]
}

/// `promtool check metrics` on `text`: the Prometheus project's own parser and linter.
fn promtool_accepts(text: &str) {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`) must be installed for this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool refused the text:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn known_traffic_gives_exact_pulled_counts_in_valid_text() {
    within(async {
        let s =
            start(|b| b.rate_limits(RateLimits::local().tool("write_thing", Quota::per_minute(1))))
                .await;
        mcp_auth_test_support::fixture::time_left_in_window(
            Duration::from_secs(60),
            Duration::from_secs(20),
        )
        .await;
        let token = s.tokens.of("alice", "things:read things:write", 300);
        let client = Client::new(s.mcp, Some(&token));
        // initialize (a miss, then the first hit), notifications/initialized, three calls.
        assert_eq!(
            client.call("read_thing", serde_json::json!({})).await.0,
            200
        );
        assert_eq!(
            client.call("read_thing", serde_json::json!({})).await.0,
            200
        );
        assert_eq!(
            client.call("write_thing", serde_json::json!({})).await.0,
            200
        );
        // Over the tool's budget: refused by its rate limit.
        let (status, _, refused) = client.call("write_thing", serde_json::json!({})).await;
        assert!(
            status == 429 || refused.get("error").is_some(),
            "{status} {refused}"
        );

        let text = scrape(&s.metrics_url).await;
        promtool_accepts(&text);
        // Six requests with one token (initialize, notifications/initialized, four calls).
        // The first finds no key set yet, so its result is not remembered under any key-set
        // generation: the second misses too, and the four after it hit.
        let lookups = "mcp_auth_token_cache_lookups_total";
        assert_eq!(
            sample(
                &text,
                &format!("{lookups}{{cache=\"jwt\",result=\"miss\"}}")
            ),
            2.0
        );
        assert_eq!(
            sample(&text, &format!("{lookups}{{cache=\"jwt\",result=\"hit\"}}")),
            4.0
        );
        assert_eq!(
            sample(&text, "mcp_auth_jwks_fetches_total{result=\"ok\"}"),
            1.0
        );
        assert_eq!(
            sample(&text, "mcp_auth_jwks_fetches_total{result=\"error\"}"),
            0.0
        );
        let rejections = "mcp_auth_rate_limit_rejections_total";
        assert_eq!(
            sample(&text, &format!("{rejections}{{limit=\"tool\"}}")),
            1.0
        );
        assert_eq!(
            sample(&text, &format!("{rejections}{{limit=\"request_budget\"}}")),
            0.0
        );
        assert_eq!(sample(&text, "mcp_auth_sessions_open"), 1.0);
        assert_eq!(sample(&text, "mcp_auth_streams_open"), 0.0);
        // What the route serves is what the metrics render.
        assert_eq!(text, s.metrics.prometheus_text());
    })
    .await;
}

#[tokio::test]
async fn a_session_ended_by_its_client_is_counted_with_its_duration() {
    within(async {
        let s = start(|b| b).await;
        let token = s.tokens.of("bob", "things:read", 300);
        let client = Client::new(s.mcp, Some(&token));
        assert_eq!(client.initialize().await, 200);
        let session = client.session.lock().unwrap().clone().unwrap();
        let text = scrape(&s.metrics_url).await;
        assert_eq!(sample(&text, "mcp_auth_sessions_open"), 1.0);

        let deleted = http()
            .delete(format!("http://{}/mcp", s.mcp))
            .bearer_auth(&token)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let text = scrape(&s.metrics_url).await;
        promtool_accepts(&text);
        assert_eq!(sample(&text, "mcp_auth_sessions_open"), 0.0);
        let ended = "mcp_server_session_duration_seconds_count{mcp_protocol_version=\"2025-11-25\",network_transport=\"tcp\"}";
        assert_eq!(sample(&text, ended), 1.0);
    })
    .await;
}

#[tokio::test]
async fn the_text_holds_no_token_and_the_mcp_route_does_not_serve_it() {
    within(async {
        let s = start(|b| b).await;
        let token = s.tokens.of("carol", "things:read", 300);
        let forged = format!("{token}x");
        let client = Client::new(s.mcp, Some(&token));
        assert_eq!(
            client.call("read_thing", serde_json::json!({})).await.0,
            200
        );
        let refused = Client::new(s.mcp, Some(&forged));
        assert_eq!(refused.initialize().await, 401);

        let text = scrape(&s.metrics_url).await;
        for secret in [token.as_str(), forged.as_str(), "carol"] {
            assert!(!text.contains(secret), "{secret} in:\n{text}");
        }
        for part in token.split('.') {
            assert!(!text.contains(part), "a part of the token in:\n{text}");
        }
        // The MCP listener has no metrics route: without a token it challenges, with one it
        // knows no such path.
        let on_mcp = format!("http://{}/metrics", s.mcp);
        let anonymous = http().get(&on_mcp).send().await.unwrap();
        assert_ne!(anonymous.status(), 200);
        let authorized = http()
            .get(&on_mcp)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(authorized.status(), 404);
        // The metrics listener serves only GET on its one path.
        let posted = http().post(&s.metrics_url).send().await.unwrap();
        assert_eq!(posted.status(), 405);
        let elsewhere = s.metrics_url.replace("/metrics", "/mcp");
        assert_eq!(http().get(elsewhere).send().await.unwrap().status(), 404);
    })
    .await;
}
