//! Every refused call leaves an audit row, without the token: refused for scope, by the
//! caller's request budget or the tool's (`429`), for bad arguments or by a policy (no tenant,
//! a forged 2026-07-28 round trip), however the client asked to be answered (each `Accept`)
//! and in both protocol eras.

mod common;

use common::{AuditRow, Era, EraClient, TestServer};
use mcp_auth_test_support::fixture::within;
use mcp_auth_test_support::modern::ACCEPTS;
use serde_json::{Value, json};

const READ: &[&str] = &["invoices:read"];
const ALL: &[&str] = &["invoices:read", "invoices:write", "payments:write"];

/// What a caller does to be refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// A read-only token calls a write tool.
    Scope,
    /// A second call of a tool whose budget is one call a minute.
    ToolBudget,
    /// Calls until the caller's request budget is spent.
    RequestBudget,
    /// Arguments that do not deserialize.
    BadArguments,
    /// A token without a tenant: billing's policy refuses it every invoice.
    NoTenant,
    /// 2026-07-28: a refund's confirmation answered with a forged `requestState`.
    ForgedConfirmation,
}

impl Refusal {
    /// The row the refusal must leave: tool, outcome, invoice.
    fn row(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Refusal::Scope => ("void_invoice", "insufficient_scope", Some("INV-2041")),
            Refusal::ToolBudget => ("lookup_invoice", "rate_limited", Some("INV-2041")),
            Refusal::RequestBudget => ("list_invoices", "rate_limited", None),
            Refusal::BadArguments => ("create_invoice", "invalid_arguments", None),
            Refusal::NoTenant => ("void_invoice", "error", Some("INV-2041")),
            Refusal::ForgedConfirmation => {
                ("refund_invoice", "invalid_request_state", Some("INV-2042"))
            }
        }
    }
}

/// Makes `subject` refused as `refusal` in `era`, accepting `accept`. Returns its token.
async fn refuse(s: &TestServer, refusal: Refusal, subject: &str, era: Era, accept: &str) -> String {
    let token = match refusal {
        Refusal::Scope => s.token(subject, Some("acme"), READ),
        Refusal::NoTenant => s.token(subject, None, ALL),
        _ => s.token(subject, Some("acme"), ALL),
    };
    let client = EraClient::new(s, &token, era).await;
    let call = |tool: &'static str, params: Value| client.call(accept, tool, params);
    let invoice = json!({ "arguments": { "invoice_id": "INV-2041" } });
    let context = format!("{refusal:?} {era:?} {accept}");
    match refusal {
        Refusal::Scope | Refusal::NoTenant => {
            call("void_invoice", invoice).await;
        }
        Refusal::ToolBudget => {
            call("lookup_invoice", invoice.clone()).await.structured();
            let refused = call("lookup_invoice", invoice).await;
            assert_eq!(
                refused.body["error"]["code"], -32005,
                "{context}: {refused:?}"
            );
        }
        Refusal::RequestBudget => {
            let mut refused = false;
            for _ in 0..10 {
                let reply = call("list_invoices", json!({ "arguments": {} })).await;
                if reply.status == 429 {
                    refused = true;
                    break;
                }
            }
            assert!(refused, "{context}: the request budget was never spent");
        }
        Refusal::BadArguments => {
            let reply = call(
                "create_invoice",
                json!({ "arguments": { "customer": "Hooli", "amount_cents": "ten" } }),
            )
            .await;
            assert!(
                reply.tool_error().starts_with("invalid arguments"),
                "{context}"
            );
        }
        Refusal::ForgedConfirmation => {
            let yes =
                json!({ "elicitation-0": { "action": "accept", "content": { "confirm": true } } });
            let arguments = json!({ "invoice_id": "INV-2042", "amount_cents": 10 });
            let forged = json!({ "arguments": arguments, "inputResponses": yes, "requestState": "v1.e30.AAAA" });
            let reply = call("refund_invoice", forged).await;
            assert_eq!(reply.body["error"]["code"], -32602, "{context}: {reply:?}");
        }
    }
    token
}

#[tokio::test]
async fn every_refusal_is_audited_in_each_era_and_accept_without_the_token() {
    within(async {
        let s =
            TestServer::start_with(&["--rate-limit", "6", "--tool-rate-limit", "lookup_invoice=1"])
                .await;
        let before = s.snapshot();
        let mut cases = Vec::new();
        for refusal in [
            Refusal::Scope,
            Refusal::ToolBudget,
            Refusal::RequestBudget,
            Refusal::BadArguments,
            Refusal::NoTenant,
            Refusal::ForgedConfirmation,
        ] {
            for era in [Era::Handshake, Era::Modern] {
                if matches!(refusal, Refusal::ForgedConfirmation) && era == Era::Handshake {
                    continue; // no round trips by retry in the handshake era
                }
                for (i, accept) in ACCEPTS.iter().enumerate() {
                    // A caller of its own for each case: budgets are per caller.
                    let subject = format!("{refusal:?}-{era:?}-{i}").to_lowercase();
                    let token = refuse(&s, refusal, &subject, era, accept).await;
                    cases.push((refusal, era, *accept, subject, token));
                }
            }
        }
        assert_eq!(s.snapshot(), before, "no refusal changed anything");

        let audit = s.audit();
        let mut missing = Vec::new();
        for (refusal, era, accept, subject, token) in &cases {
            let rows: Vec<&AuditRow> = audit
                .iter()
                .filter(|row| row.subject.as_deref() == Some(subject))
                .collect();
            let (tool, outcome, invoice) = refusal.row();
            let found = rows.iter().any(|row| {
                (
                    row.tool.as_str(),
                    row.outcome.as_str(),
                    row.invoice_id.as_deref(),
                ) == (tool, outcome, invoice)
            });
            if !found {
                missing.push(format!("{refusal:?} {era:?} {accept}: {rows:?}"));
            }
            let signature = token.rsplit('.').next().unwrap();
            for row in rows {
                let text = format!("{row:?}");
                assert!(
                    !text.contains(signature) && !text.contains("eyJ"),
                    "a token in the audit trail: {text}"
                );
            }
        }
        assert!(
            missing.is_empty(),
            "{} of {} refusals left no audit row:\n{}",
            missing.len(),
            cases.len(),
            missing.join("\n")
        );
    })
    .await;
}

/// A refused call cannot make its audit row large: the invoice id it names is cut, whatever
/// its length, and the row still says who was refused and why.
#[tokio::test]
async fn a_refused_calls_invoice_id_is_recorded_cut_short() {
    TestServer::run(async |s| {
        let token = s.token("mallory", Some("acme"), READ);
        let client = EraClient::new(&s, &token, Era::Modern).await;
        let long = "I".repeat(200_000);
        client
            .call(
                "application/json",
                "void_invoice",
                json!({ "arguments": { "invoice_id": long } }),
            )
            .await;
        let rows = s.audit();
        let row = rows
            .iter()
            .find(|r| r.subject.as_deref() == Some("mallory"))
            .expect("the refusal is audited");
        assert_eq!(row.outcome, "insufficient_scope");
        let recorded = row.invoice_id.as_deref().unwrap();
        assert!(
            recorded.len() <= 64 + '…'.len_utf8(),
            "{} bytes",
            recorded.len()
        );
        assert!(recorded.starts_with("IIII") && recorded.ends_with('…'));
    })
    .await;
}

/// A request whose token does not verify is refused before its body is read, and still
/// audited: with the reason, without a caller (nothing about it was verified) and without the
/// token.
#[tokio::test]
async fn a_token_that_does_not_verify_is_audited_with_its_reason_and_no_caller() {
    TestServer::run(async |s| {
        let token = s.token("mallory", Some("acme"), ALL);
        // The signature of another token: the claims are intact, the signature is not theirs.
        let other = s.token("trudy", Some("acme"), ALL);
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", other.rsplit('.').next().unwrap());
        let client = EraClient::new(&s, &forged, Era::Modern).await;
        let reply = client
            .call(
                ACCEPTS[0],
                "lookup_invoice",
                json!({ "arguments": { "invoice_id": "INV-2041" } }),
            )
            .await;
        assert_eq!(reply.status, 401, "{reply:?}");

        let rows = s.audit_requests();
        let refused: Vec<_> = rows.iter().filter(|r| r.outcome == "refused").collect();
        assert!(!refused.is_empty(), "{rows:?}");
        for row in &refused {
            assert_eq!(row.reason.as_deref(), Some("bad_signature"), "{row:?}");
            assert_eq!((&row.subject, &row.tool), (&None, &None), "{row:?}");
            let text = format!("{row:?}");
            assert!(!text.contains("eyJ") && !text.contains(head), "{text}");
        }
        assert!(s.audit().is_empty(), "nothing reached a tool: {rows:?}");
    })
    .await;
}
