//! What the request path reports to the metrics: every authentication and authorization
//! decision by stage, outcome and reason, and every answered request in
//! `mcp.server.operation.duration` by method, tool and `error.type`. Known traffic with real
//! tokens over real HTTP, then the exact counts in the Prometheus text.

use mcp_auth_runtime::observe::Metrics;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{at, claims, protected};
use mcp_auth_test_support::tools::{read_invoice, void_invoice};
use mcp_auth_test_support::{Client, serve_on};
use serde_json::json;

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn count(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let labelled = rest.is_empty() || rest.starts_with('{');
            let all = labels
                .iter()
                .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")));
            (labelled && all).then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

#[tokio::test]
async fn known_traffic_gives_exact_decisions_and_operations() {
    let (listener, tokens, builder) = protected("decisions").await;
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let server = builder
        .tools(tools![void_invoice, read_invoice])
        .metrics(metrics.clone())
        .stateless(true)
        .build()
        .unwrap();
    serve_on(listener, server.into_router());

    // Refused before the body: no token, an expired one.
    assert_eq!(
        Client::without_session(addr, None)
            .call("read_invoice", json!({ "invoice": "A" }))
            .await
            .0,
        401
    );
    let mut expired = claims(&tokens.issuer.url, &tokens.resource, "invoices:read");
    expired["exp"] = at(-600).into();
    let expired = tokens.key.sign(&expired);
    let stale = Client::without_session(addr, Some(&expired));
    assert_eq!(
        stale
            .call("read_invoice", json!({ "invoice": "A" }))
            .await
            .0,
        401
    );
    // A reader: one read, one refused void, one unknown tool, one list.
    let reader = Client::without_session(addr, Some(&tokens.of("r", "invoices:read", 300)));
    assert_eq!(
        reader
            .call("read_invoice", json!({ "invoice": "A" }))
            .await
            .0,
        200
    );
    assert_eq!(
        reader
            .call("void_invoice", json!({ "invoice": "A" }))
            .await
            .0,
        403
    );
    assert_eq!(reader.call("no_such_tool", json!({})).await.0, 200);
    assert_eq!(reader.request("tools/list", json!({})).await.0, 200);
    // A writer: a void, and a void that ends in the tool's error.
    let writer = Client::without_session(addr, Some(&tokens.of("w", "invoices:write", 300)));
    assert_eq!(
        writer
            .call("void_invoice", json!({ "invoice": "A" }))
            .await
            .0,
        200
    );
    let (status, _, body) = writer
        .call("void_invoice", json!({ "invoice": "paid" }))
        .await;
    assert_eq!((status, &body["result"]["isError"]), (200, &json!(true)));

    let text = metrics.prometheus_text();
    let decisions = "mcp_auth_decisions_total";
    let decided = |stage, outcome, reason| {
        count(
            &text,
            decisions,
            &[("stage", stage), ("outcome", outcome), ("reason", reason)],
        )
    };
    assert_eq!(
        decided("authentication", "refused", "missing_token"),
        1.0,
        "{text}"
    );
    assert_eq!(
        decided("authentication", "refused", "expired"),
        1.0,
        "{text}"
    );
    // Six requests came with a good token.
    assert_eq!(decided("authentication", "allowed", ""), 6.0, "{text}");
    assert_eq!(
        decided("authorization", "refused", "insufficient_scope"),
        1.0,
        "{text}"
    );
    // The read and the two voids reached their tools.
    assert_eq!(decided("authorization", "allowed", ""), 3.0, "{text}");
    assert_eq!(count(&text, decisions, &[]), 12.0, "{text}");

    let operations = "mcp_server_operation_duration_seconds_count";
    let calls = |labels: &[(&str, &str)]| {
        let mut all = vec![("mcp_method_name", "tools/call")];
        all.extend_from_slice(labels);
        count(&text, operations, &all)
    };
    assert_eq!(calls(&[]), 5.0, "{text}");
    assert_eq!(
        calls(&[("gen_ai_tool_name", "read_invoice")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        calls(&[("gen_ai_tool_name", "void_invoice")]),
        3.0,
        "{text}"
    );
    assert_eq!(calls(&[("error_type", "tool_error")]), 1.0, "{text}");
    assert_eq!(calls(&[("error_type", "-32602")]), 1.0, "{text}");
    assert_eq!(calls(&[("error_type", "-32003")]), 1.0, "{text}");
    assert_eq!(
        count(&text, operations, &[("mcp_method_name", "tools/list")]),
        1.0,
        "{text}"
    );
    // Refused before the body: no operation.
    assert_eq!(count(&text, operations, &[]), 6.0, "{text}");
    assert!(!text.contains(&expired));
}
