//! `--audit-log PATH`: the audit trail as JSON lines next to the database's table, every
//! request in it (served ones, and refusals before the body with their reason), owner-only,
//! without the token.

mod common;

use common::{TestServer, invoice};
use mcp_auth_test_support::fixture::{TempDir, within};
use serde_json::Value;

/// The events of the file once it holds `n`, each line one JSON object.
async fn events(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let events: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        if events.len() >= n || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_audit_log_holds_every_request_and_the_table_the_calls_and_refusals() {
    within(async {
        let logs = TempDir::new("billing-audit-log");
        let path = logs.path().join("audit").join("billing.jsonl");
        let s = TestServer::start_with(&["--audit-log", path.to_str().unwrap()]).await;

        // No token: `401` before the body.
        assert_eq!(s.anonymous_list().await, 401);
        // Served, then refused for scope.
        let reader = s.token("alice", Some("acme"), &["invoices:read"]);
        s.ok(&reader, "lookup_invoice", invoice("INV-2041")).await;
        let refused = s.call(&reader, "void_invoice", invoice("INV-2042")).await;
        assert_eq!(refused.status, 403, "{refused:?}");

        let events = events(&path, 3).await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(reader.rsplit('.').next().unwrap()) && !text.contains("eyJ"),
            "a token in the audit log: {text}"
        );
        let outcome = |e: &Value| {
            (
                e["outcome"]["status"].as_str().unwrap().to_owned(),
                e["outcome"]["reason"].as_str().map(str::to_owned),
            )
        };
        let first = &events[0];
        assert_eq!(
            outcome(first),
            ("refused".into(), Some("missing_token".into()))
        );
        assert!(first.get("principal").is_none(), "{first}");
        let call = events
            .iter()
            .find(|e| e["target"]["name"] == "lookup_invoice")
            .expect("the served call is in the log");
        assert_eq!(outcome(call), ("done".into(), None));
        assert_eq!(call["principal"]["subject"], "alice");
        assert_eq!(call["method"], "tools/call");
        // `lookup_invoice` names an invoice: billing keeps its arguments.
        assert_eq!(call["arguments"]["invoice_id"], "INV-2041");
        let scope = events
            .iter()
            .find(|e| e["target"]["name"] == "void_invoice")
            .expect("the refused call is in the log");
        assert_eq!(
            outcome(scope),
            ("refused".into(), Some("insufficient_scope".into()))
        );
        assert_eq!(scope["scopes"], serde_json::json!(["invoices:write"]));

        // The table: the refusals (with their reasons) and the call. Refusals are written
        // just after their response is sent: the order of the rows is not the requests'.
        let mut rows: Vec<_> = s
            .audit_requests()
            .into_iter()
            .map(|r| (r.tool, r.outcome, r.reason))
            .collect();
        rows.sort();
        let s_ = |text: &str| Some(text.to_owned());
        assert_eq!(
            rows,
            [
                (None, "refused".into(), s_("missing_token")),
                (s_("lookup_invoice"), "ok".into(), None),
                (
                    s_("void_invoice"),
                    "insufficient_scope".into(),
                    s_("insufficient_scope")
                ),
            ]
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&path) & 0o777, 0o600);
            assert_eq!(mode(path.parent().unwrap()) & 0o777, 0o700);
        }
    })
    .await;
}
