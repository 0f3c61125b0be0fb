//! Metrics over real HTTP with real tokens: known traffic gives exact counts in the
//! Prometheus text, the text is valid (checked by `promtool`), it holds no token, and it is
//! served apart from the MCP route.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, ApiKeys};
use mcp_auth_runtime::observe::{Metrics, serve_metrics};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_test_support::fixture::{TempDir, http, time_left_in_window, within};
use mcp_auth_test_support::issuer::{Issuer, TestKey, Tokens, protected, protected_by};
use mcp_auth_test_support::tools::{read_thing, void_invoice, write_thing};
use mcp_auth_test_support::{Client, serve_on};

/// A server with metrics, protected by real JWTs, and its metrics on a listener of their own.
struct Served {
    mcp: SocketAddr,
    metrics_url: String,
    /// Absent for a server behind API keys.
    tokens: Option<Tokens>,
    metrics: Metrics,
}

async fn start(configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder) -> Served {
    serve(protected("metrics").await, configure).await
}

/// Serves what [`protected`] or [`protected_by`] set up, with metrics, and its metrics on a
/// listener of their own.
async fn serve(
    (listener, tokens, builder): (tokio::net::TcpListener, Tokens, McpServerBuilder),
    configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
) -> Served {
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
    Served {
        mcp,
        metrics_url: serve_metrics_on_loopback(&metrics).await,
        tokens: Some(tokens),
        metrics,
    }
}

/// Serves `metrics` on a loopback listener of their own; returns their URL.
async fn serve_metrics_on_loopback(metrics: &Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(serve_metrics(
        listener,
        metrics.clone(),
        std::future::pending(),
    ));
    url
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

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels_part, value) = match rest.strip_prefix('{') {
                Some(rest) => rest.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            labels
                .iter()
                .all(|(key, value)| labels_part.contains(&format!("{key}=\"{value}\"")))
                .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
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
        time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
        let token = s
            .tokens
            .as_ref()
            .unwrap()
            .of("alice", "things:read things:write", 300);
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
        let token = s.tokens.as_ref().unwrap().of("bob", "things:read", 300);
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
        let ended = "mcp_server_session_duration_seconds_count{mcp_protocol_version=\"2025-11-25\",network_transport=\"tcp\",network_protocol_name=\"http\"}";
        assert_eq!(sample(&text, ended), 1.0);
    })
    .await;
}

#[tokio::test]
async fn the_text_holds_no_token_and_the_mcp_route_does_not_serve_it() {
    within(async {
        let s = start(|b| b).await;
        let token = s.tokens.as_ref().unwrap().of("carol", "things:read", 300);
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

#[tokio::test]
async fn a_key_set_that_cannot_be_fetched_is_counted_as_a_failed_fetch() {
    within(async {
        let key = TestKey::es256("es-1");
        let issuer = Issuer::start(&[&key]).await;
        issuer.set_down(true);
        let s = serve(protected_by(&issuer, &key, "metrics").await, |b| b).await;
        let token = s.tokens.as_ref().unwrap().of("dave", "things:read", 300);
        let client = Client::without_session(s.mcp, Some(&token));
        assert_eq!(client.initialize().await, 503);

        let text = scrape(&s.metrics_url).await;
        promtool_accepts(&text);
        assert_eq!(
            sample(&text, "mcp_auth_jwks_fetches_total{result=\"error\"}"),
            1.0
        );
        assert_eq!(
            sample(&text, "mcp_auth_jwks_fetches_total{result=\"ok\"}"),
            0.0
        );
        // A token never verified was never remembered: one miss, no hit.
        let lookups = "mcp_auth_token_cache_lookups_total{cache=\"jwt\"";
        assert_eq!(sample(&text, &format!("{lookups},result=\"miss\"}}")), 1.0);
        assert_eq!(sample(&text, &format!("{lookups},result=\"hit\"}}")), 0.0);
    })
    .await;
}

#[tokio::test]
async fn requests_refused_for_their_peers_failures_are_counted() {
    within(async {
        // The failures below must fall into one window of the per-minute quota.
        time_left_in_window(Duration::from_secs(60), Duration::from_secs(15)).await;
        let dir = TempDir::new("metrics-api-keys");
        let file = ApiKeyFile::new(dir.path().join("api-keys.json"));
        let (key, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        file.add(record).unwrap();
        let keys = ApiKeys::from_file(file.path())
            .unwrap()
            .failure_limit(Quota::per_minute(2));
        let (listener, addr, _) = mcp_auth_test_support::bind_endpoint().await;
        let metrics = Metrics::new();
        let server = McpServer::builder("things", "1")
            .tools(tools![read_thing])
            .resource(format!("http://{addr}/mcp"))
            .verifier(keys)
            .metrics(metrics.clone())
            .build()
            .unwrap();
        mcp_auth_test_support::serve_with_peers(listener, server);
        let metrics_url = serve_metrics_on_loopback(&metrics).await;
        // The same key id with another secret of the same length.
        let good = key.secret();
        let last = if good.ends_with('A') { "B" } else { "A" };
        let wrong = format!("{}{last}", &good[..good.len() - 1]);
        let attempt = || Client::without_session(addr, Some(&wrong));
        assert_eq!(attempt().initialize().await, 401);
        assert_eq!(attempt().initialize().await, 401);
        assert_eq!(attempt().initialize().await, 429);
        assert_eq!(attempt().initialize().await, 429);

        let text = scrape(&metrics_url).await;
        promtool_accepts(&text);
        let rejections = "mcp_auth_rate_limit_rejections_total";
        assert_eq!(
            sample(&text, &format!("{rejections}{{limit=\"failures\"}}")),
            2.0
        );
        assert_eq!(
            sample(&text, &format!("{rejections}{{limit=\"tool\"}}")),
            0.0
        );
        assert!(!text.contains(good) && !text.contains(&wrong));
    })
    .await;
}

#[tokio::test]
async fn known_traffic_gives_exact_operation_and_decision_counts() {
    within(async {
        let s = start(|b| b).await;
        let tokens = s.tokens.clone().unwrap();
        let reader = tokens.of("erin", "things:read", 300);
        let client = Client::new(s.mcp, Some(&reader));
        for _ in 0..3 {
            assert_eq!(
                client.call("read_thing", serde_json::json!({})).await.0,
                200
            );
        }
        // Authenticated, but without `things:write`.
        let (status, _, body) = client.call("write_thing", serde_json::json!({})).await;
        assert!(
            status == 403 || body.get("error").is_some(),
            "{status} {body}"
        );
        // Refused before the MCP handler: no token, an expired one, one for another server.
        assert_eq!(Client::new(s.mcp, None).initialize().await, 401);
        let expired = tokens.of("erin", "things:read", -3600);
        assert_eq!(Client::new(s.mcp, Some(&expired)).initialize().await, 401);
        let mut elsewhere = mcp_auth_test_support::issuer::claims(
            &tokens.issuer.url,
            "http://127.0.0.1:1/mcp",
            "things:read",
        );
        elsewhere["sub"] = "erin".into();
        let elsewhere = tokens.key.sign(&elsewhere);
        assert_eq!(Client::new(s.mcp, Some(&elsewhere)).initialize().await, 401);

        let text = scrape(&s.metrics_url).await;
        promtool_accepts(&text);
        let operations = "mcp_server_operation_duration_seconds_count";
        let calls = |tool| {
            [
                ("mcp_method_name", "tools/call"),
                ("gen_ai_tool_name", tool),
            ]
        };
        assert_eq!(sum(&text, operations, &calls("read_thing")), 3.0);
        assert_eq!(sum(&text, operations, &calls("write_thing")), 1.0);
        assert_eq!(
            sum(&text, operations, &[("mcp_method_name", "initialize")]),
            1.0
        );
        assert_eq!(
            sum(&text, operations, &[("mcp_method_name", "tools/call")]),
            4.0
        );
        let decisions = "mcp_auth_decisions_total";
        let refused = |reason| [("outcome", "refused"), ("reason", reason)];
        for (reason, count) in [
            ("missing_token", 1.0),
            ("expired", 1.0),
            ("wrong_audience", 1.0),
            ("insufficient_scope", 1.0),
        ] {
            assert_eq!(sum(&text, decisions, &refused(reason)), count, "{reason}");
        }
        assert_eq!(sum(&text, decisions, &[("outcome", "refused")]), 4.0);
        // initialize, notifications/initialized and four calls came with a good token.
        assert_eq!(
            sum(
                &text,
                decisions,
                &[("stage", "authentication"), ("outcome", "allowed")]
            ),
            6.0
        );
        assert_eq!(
            sum(
                &text,
                decisions,
                &[("stage", "authorization"), ("outcome", "allowed")]
            ),
            3.0
        );
    })
    .await;
}

#[tokio::test]
async fn failed_operations_are_labelled_with_their_error_type() {
    within(async {
        let s = start(|b| b.tools(tools![void_invoice]).stateless(true)).await;
        let tokens = s.tokens.clone().unwrap();
        let writer = Client::without_session(s.mcp, Some(&tokens.of("w", "invoices:write", 300)));
        let void = |invoice: &str| serde_json::json!({ "invoice": invoice });
        assert_eq!(writer.call("void_invoice", void("A-1")).await.0, 200);
        // The tool's own error: a result with `isError: true`.
        let (_, _, failed) = writer.call("void_invoice", void("paid")).await;
        assert_eq!(failed["result"]["isError"], true, "{failed}");
        // A JSON-RPC error: no such tool.
        assert_eq!(
            writer.call("no_such_tool", serde_json::json!({})).await.0,
            200
        );
        // Refused for a scope: `-32003`, answered with a 403.
        assert_eq!(
            writer.call("read_thing", serde_json::json!({})).await.0,
            403
        );
        assert_eq!(
            writer.request("tools/list", serde_json::json!({})).await.0,
            200
        );

        let text = s.metrics.prometheus_text();
        let operations = "mcp_server_operation_duration_seconds_count";
        let calls =
            |error: &'static str| [("mcp_method_name", "tools/call"), ("error_type", error)];
        assert_eq!(sum(&text, operations, &calls("tool_error")), 1.0, "{text}");
        assert_eq!(sum(&text, operations, &calls("-32602")), 1.0, "{text}");
        assert_eq!(sum(&text, operations, &calls("-32003")), 1.0, "{text}");
        assert_eq!(
            sum(&text, operations, &[("mcp_method_name", "tools/call")]),
            4.0,
            "{text}"
        );
        // The served call and the list carry no `error_type`.
        let served = text
            .lines()
            .filter(|line| line.starts_with(operations) && !line.contains("error_type"))
            .count();
        assert_eq!(served, 2, "{text}");
    })
    .await;
}
