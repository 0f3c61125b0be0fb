//! `--metrics-addr`: the Prometheus text on a listener of its own, counting what the server
//! did with real tokens; nothing of it on the MCP port and nothing else on its port; off
//! without the flag.

mod common;

use clap::Parser as _;
use common::TestServer;
use mcp_auth_test_support::fixture::{TempDir, http, within};
use mcp_auth_test_support::issuer::FaultyIntrospection;
use mcp_auth_test_support::modern::ACCEPTS;
use serde_json::json;

/// The value of the sample of `text` named `name` whose labels include every one of `labels`
/// (`key="value"`), if there is exactly one.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = text.lines().filter_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let set = rest.strip_suffix('}')?;
        let matches = metric == name
            && labels
                .iter()
                .all(|label| set.split(',').any(|have| have == *label));
        matches.then(|| value.parse().ok())?
    });
    let value = found.next()?;
    found.next().is_none().then_some(value)
}

/// `GET /metrics` on the MCP port, without a token and with `token`, is refused and shows
/// no metric.
async fn assert_no_metrics_on_the_mcp_port(s: &TestServer, token: &str) {
    for token in [None, Some(token)] {
        let mut request = s.http.get(s.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_client_error(), "{status} {body}");
        assert!(!body.contains("mcp_server_operation_duration"), "{body}");
    }
}

#[tokio::test]
async fn metrics_addr_serves_what_the_server_did_apart_from_the_mcp_endpoint() {
    within(async {
        let s = TestServer::start_with(&["--metrics-addr", "127.0.0.1:0"]).await;
        let metrics = s.metrics.expect("--metrics-addr serves the metrics");
        assert_ne!(metrics, s.addr);
        let token = s.token("alice", Some("acme"), &["invoices:read"]);
        let invoice = json!({ "invoice_id": "INV-2041" });
        for _ in 0..2 {
            s.ok(&token, "lookup_invoice", invoice.clone()).await;
        }
        s.ok(&token, "list_invoices", json!({})).await;
        let refused = s.call(&token, "void_invoice", invoice).await;
        assert_eq!(refused.status, 403, "{refused:?}");
        let missing = s
            .http
            .post(&s.resource)
            .header("content-type", "application/json")
            .header("accept", ACCEPTS[0])
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 401);

        let response = s
            .http
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let count = "mcp_server_operation_duration_seconds_count";
        let call = r#"mcp_method_name="tools/call""#;
        for (tool, calls) in [("lookup_invoice", 2.0), ("list_invoices", 1.0)] {
            let tool = format!(r#"gen_ai_tool_name="{tool}""#);
            assert_eq!(sample(&text, count, &[call, &tool]), Some(calls), "{text}");
        }
        let decisions = "mcp_auth_decisions_total";
        for reason in ["insufficient_scope", "missing_token"] {
            let reason = format!(r#"reason="{reason}""#);
            let refused = [r#"outcome="refused""#, reason.as_str()];
            assert_eq!(sample(&text, decisions, &refused), Some(1.0), "{text}");
        }
        assert!(!text.contains(&token), "the token is in the metrics");

        // The MCP port does not serve the metrics, with a token or without; the metrics port
        // serves nothing else.
        assert_no_metrics_on_the_mcp_port(&s, &token).await;
        let mcp_on_metrics = s
            .http
            .post(format!("http://{metrics}/mcp"))
            .bearer_auth(&token)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(mcp_on_metrics.status(), 404);
    })
    .await
}

#[tokio::test]
async fn without_metrics_addr_no_metrics_are_served() {
    within(async {
        let s = TestServer::start().await;
        assert_eq!(s.metrics, None);
        let token = s.token("alice", Some("acme"), &["invoices:read"]);
        assert_no_metrics_on_the_mcp_port(&s, &token).await;
    })
    .await
}

#[test]
fn samples_are_found_by_name_and_labels() {
    let text = "# TYPE x counter\n\
                x_total{a=\"1\",b=\"2\"} 3\n\
                x_total{a=\"1\",b=\"3\"} 4\n\
                y 5\n";
    assert_eq!(sample(text, "x_total", &["b=\"2\""]), Some(3.0));
    assert_eq!(
        sample(text, "x_total", &["a=\"1\""]),
        None,
        "two samples match"
    );
    assert_eq!(sample(text, "x_total", &["b=\"9\""]), None);
    assert_eq!(sample(text, "y", &[]), Some(5.0));
}

/// The `jwt` verified-token cache's lookups with `result`, 0 when the series is absent.
fn jwt_lookups(text: &str, result: &str) -> f64 {
    let result = format!(r#"result="{result}""#);
    let name = "mcp_auth_token_cache_lookups_total";
    sample(text, name, &[r#"cache="jwt""#, &result]).unwrap_or(0.0)
}

#[tokio::test]
async fn token_cache_capacity_zero_checks_every_request_from_scratch() {
    within(async {
        for (options, misses, hits) in [
            // The first call and the refused token miss; the second and third calls hit.
            (&[][..], 2.0, 2.0),
            (&["--token-cache-capacity", "0"][..], 0.0, 0.0),
            (&["--token-cache-capacity", "1"][..], 2.0, 2.0),
        ] {
            let mut args = vec!["--metrics-addr", "127.0.0.1:0"];
            args.extend_from_slice(options);
            let s = TestServer::start_with(&args).await;
            let metrics = s.metrics.expect("--metrics-addr serves the metrics");
            let token = s.token("alice", Some("acme"), &["invoices:read"]);
            let invoice = json!({ "invoice_id": "INV-2041" });
            for _ in 0..3 {
                s.ok(&token, "lookup_invoice", invoice.clone()).await;
            }
            // A token for another audience (the payments API) is refused, cache or not.
            let foreign = s.payments_token(&[]);
            let refused = s.call(&foreign, "lookup_invoice", invoice).await;
            assert_eq!(refused.status, 401, "{options:?}: {refused:?}");
            let text = s
                .http
                .get(format!("http://{metrics}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(jwt_lookups(&text, "miss"), misses, "{options:?}: {text}");
            assert_eq!(jwt_lookups(&text, "hit"), hits, "{options:?}: {text}");
        }
    })
    .await
}

/// The same flag with an RFC 7662 endpoint: by default a token is introspected once, then
/// served from the cache; with `0` every request asks the endpoint again.
#[tokio::test]
async fn token_cache_capacity_zero_introspects_every_request() {
    within(async {
        for (options, introspections) in [
            (&[][..], 1),
            (&["--token-cache-capacity", "0"][..], 3),
            (&["--token-cache-capacity", "1"][..], 1),
        ] {
            // The endpoint issues tokens for the server's URI, so the port comes first.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let resource = format!("http://127.0.0.1:{port}/mcp");
            let endpoint = FaultyIntrospection::start(&resource).await;
            let token = "opaque-token-of-alice";
            endpoint.activate_with(token, "alice", "invoices:read", json!({ "tenant": "acme" }));
            let dir = TempDir::new("billing-introspection");
            let port = port.to_string();
            let mut args = vec!["billing", "--port", &port, "--data-dir", dir.str()];
            args.extend_from_slice(&["--introspection-url", &endpoint.url]);
            args.extend_from_slice(options);
            let billing::Command::Serve(args) = billing::Cli::parse_from(args).into_command()
            else {
                unreachable!("serve is the default command")
            };
            let server = billing::Server::bind(&args).await.unwrap();
            assert_eq!(server.resource(), resource);
            let serving = tokio::spawn(server.serve(std::future::pending()));
            let client = http();
            let invoice = json!({ "invoice_id": "INV-2041" });
            for _ in 0..3 {
                let reply =
                    common::call(&client, &resource, token, "lookup_invoice", invoice.clone())
                        .await;
                assert_eq!(reply.structured()["id"], "INV-2041", "{options:?}");
            }
            assert_eq!(endpoint.hits(), introspections, "{options:?}");
            // An unknown token is refused, cache or not.
            let refused = common::call(
                &client,
                &resource,
                "opaque-unknown",
                "lookup_invoice",
                invoice,
            )
            .await;
            assert_eq!(refused.status, 401, "{options:?}: {refused:?}");
            serving.abort();
        }
    })
    .await
}
