//! The approval limit of `refund_invoice` against what an attacker holding only
//! `invoices:write payments:write` can send: amounts in every JSON encoding (floats, strings,
//! negative, beyond `i64`, keys given twice), "the rest" spelled in other ways, a progress
//! token on a streaming request, and refunds racing each other. Over real HTTP with tokens of
//! the embedded issuer, in both eras and every `Accept` form: no single refund above 100,000
//! cents is ever made.

mod common;

use common::TestServer;
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use mcp_auth_test_support::open_session;
use serde_json::json;

const REFUND: &[&str] = &["invoices:write", "payments:write"];

/// The largest refund the database holds, in cents.
fn largest_refund(s: &TestServer) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        s.dir.path().join("billing.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row(
        "SELECT coalesce(max(amount_cents), 0) FROM refunds",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// `tools/call` of `refund_invoice` with `arguments` exactly as written (so that a key may
/// appear twice) and a progress token, in the 2026-07-28 era (`session: None`) or a handshake
/// session.
async fn raw_call(
    s: &TestServer,
    token: &str,
    session: Option<&str>,
    accept: &str,
    arguments: &str,
) -> Reply {
    let request = s
        .http
        .post(&s.resource)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", accept);
    let (request, meta) = match session {
        Some(session) => (
            request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25"),
            r#"{"progressToken":7}"#,
        ),
        None => (
            request
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "refund_invoice"),
            r#"{"progressToken":7,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#,
        ),
    };
    Reply::of(request.body(format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"refund_invoice","arguments":{arguments},"_meta":{meta}}}}}"#
    )))
    .await
}

#[tokio::test]
async fn no_encoding_of_the_amount_gets_a_refund_above_the_limit_through() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let token = s.token("rita", Some("acme"), REFUND);
        let session = open_session(&s.http, &s.resource, &token).await;
        // INV-2045 is paid, 310,000 cents.
        let amounts = [
            r#""amount_cents":100001.0"#,
            r#""amount_cents":1.00001e5"#,
            r#""amount_cents":"100001""#,
            r#""amount_cents":"310000""#,
            r#""amount_cents":-100001"#,
            r#""amount_cents":0"#,
            r#""amount_cents":9223372036854775807"#,
            r#""amount_cents":9223372036854775808"#,
            r#""amount_cents":18446744073709551616"#,
            r#""amount_cents":-9223372036854775808"#,
            r#""amount_cents":1e400"#,
            r#""amount_cents":[200000]"#,
            r#""amount_cents":{"cents":200000}"#,
            r#""amount_cents":true"#,
            r#""amount_cents":1,"amount_cents":200000"#,
            r#""amount_cents":1,"amount_cents":null"#,
            r#""amount_cents":null"#,
            r#""amount_cents":null,"reason":"x","reason":null"#,
            r#""amount_cents":1,"Amount_cents":200000"#,
        ];
        let ids = [
            r#""invoice_id":"INV-2045""#,
            r#""invoice_id":" inv-2045 ""#,
            r#""invoice_id":"INV-02045""#,
            r#""invoice_id":"INV-2042","invoice_id":"INV-2045""#,
        ];
        for session in [Some(session.as_str()), None] {
            for accept in ACCEPTS {
                for id in ids {
                    for amount in amounts {
                        let params = format!("{{{id},{amount}}}");
                        let reply = raw_call(&s, &token, session, accept, &params).await;
                        let twice = ["\"invoice_id\"", "\"amount_cents\"", "\"reason\""]
                            .iter()
                            .any(|key| params.matches(key).count() > 1);
                        if twice {
                            // A member named twice is refused whole: which one counts is
                            // not left to chance.
                            assert_eq!(reply.status, 400, "{params}: {reply:?}");
                            continue;
                        }
                        let refunded =
                            reply.body["result"]["structuredContent"]["refund"]["amount_cents"]
                                .as_i64();
                        assert!(
                            refunded.is_none_or(|cents| cents <= 100_000),
                            "{session:?} {accept} {params}: {reply:?}"
                        );
                    }
                }
            }
        }
        // Those that ask for more than the limit, however spelled, are one `403` naming every
        // scope, before any byte of a stream, the progress token notwithstanding.
        let above = [
            r#""amount_cents":100001"#,
            r#""amount_cents":null"#,
            r#""reason":"x""#,
        ];
        for session in [Some(session.as_str()), None] {
            for accept in ACCEPTS {
                for id in &ids[..3] {
                    for amount in above {
                        let params = format!("{{{id},{amount}}}");
                        let reply = raw_call(&s, &token, session, accept, &params).await;
                        reply.assert_insufficient_scope(
                            "invoices:write payments:write payments:approve",
                        );
                    }
                }
            }
        }
        assert_eq!(s.snapshot(), before, "nothing was refunded");
    })
    .await;
}

#[tokio::test]
async fn refunds_of_the_rest_racing_explicit_ones_never_refund_above_the_limit() {
    TestServer::run(async |s| {
        let token = s.token("rita", Some("acme"), REFUND);
        // INV-2045: 310,000 cents. Explicit refunds of 60,000 bring the rest under the limit
        // while refunds of the rest race them.
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..24 {
            let arguments = if i % 2 == 0 {
                json!({ "invoice_id": "INV-2045", "amount_cents": 60_000 })
            } else {
                json!({ "invoice_id": "INV-2045" })
            };
            let (http, resource, token) = (s.http.clone(), s.resource.clone(), token.clone());
            calls.spawn(async move {
                common::call(&http, &resource, &token, "refund_invoice", arguments).await
            });
        }
        while let Some(reply) = calls.join_next().await {
            let reply = reply.unwrap();
            assert!(matches!(reply.status, 200 | 403), "{reply:?}");
        }
        assert!(largest_refund(&s) <= 100_000, "{}", largest_refund(&s));
        // The payments API made exactly the refunds the ledger recorded: none that the
        // ledger then refused.
        let paid: Vec<i64> = common::payment_rows(s.dir.path())
            .iter()
            .map(|p| p.amount_cents)
            .collect();
        let conn = rusqlite::Connection::open_with_flags(
            s.dir.path().join("billing.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let recorded: Vec<i64> = conn
            .prepare("SELECT amount_cents FROM refunds ORDER BY number")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(paid, recorded);
    })
    .await;
}
