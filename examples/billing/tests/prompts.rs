//! The billing prompt over real HTTP with tokens of the embedded issuer: `payment_reminder`
//! renders an open invoice of the caller's tenant in both eras and every `Accept` form, knows
//! nothing of other tenants' invoices, is refused without `invoices:read` before anything
//! runs, and every get is audited.

mod common;

use common::{Era, EraClient, TestServer};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use serde_json::{Value, json};

const READ: &[&str] = &["invoices:read"];
const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

async fn remind(client: &EraClient, accept: &str, invoice_id: &str) -> Reply {
    client
        .send(
            accept,
            "prompts/get",
            json!({ "name": "payment_reminder", "arguments": { "invoice_id": invoice_id } }),
        )
        .await
}

#[tokio::test]
async fn a_reminder_renders_the_invoice_facts_in_both_eras_and_every_accept() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), READ);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                let reply = remind(&client, accept, "INV-2041").await;
                assert_eq!(reply.status, 200, "{era:?} {accept}: {reply:?}");
                let messages = &reply.body["result"]["messages"];
                assert_eq!(messages.as_array().map(Vec::len), Some(2), "{reply:?}");
                assert_eq!(messages[0]["role"], "user");
                let text = messages[0]["content"]["text"].as_str().unwrap();
                for fact in ["Wayne Enterprises", "INV-2041", "$1,250.00", "2026-03-01"] {
                    assert!(text.contains(fact), "{fact} in {text}");
                }
                let embedded = &messages[1]["content"];
                assert_eq!(embedded["type"], "resource", "{reply:?}");
                assert_eq!(embedded["resource"]["uri"], "invoice://INV-2041");
                assert_eq!(embedded["resource"]["mimeType"], "application/json");
                let invoice: Value =
                    serde_json::from_str(embedded["resource"]["text"].as_str().unwrap()).unwrap();
                assert_eq!(invoice["total_cents"], 125_000);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn another_tenants_invoice_is_not_found_and_a_paid_one_is_not_reminded() {
    TestServer::run(async |s| {
        let token = s.token("gus", Some("globex"), READ);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                // INV-2041 is acme's: globex is told it does not exist, as INV-9999.
                for id in ["INV-2041", "INV-9999"] {
                    let reply = remind(&client, accept, id).await;
                    assert_eq!(reply.status, 200, "{reply:?}");
                    assert!(reply.body.get("result").is_none(), "{reply:?}");
                    assert_eq!(
                        reply.body["error"]["message"],
                        format!("invoice {id} not found"),
                        "{era:?} {accept}"
                    );
                }
                let paid = remind(&client, accept, "INV-3102").await;
                let message = paid.body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("only open invoices"), "{paid:?}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_get_without_invoices_read_is_refused_before_anything_runs_and_audited() {
    TestServer::run(async |s| {
        let token = s.token("walt", Some("acme"), &["invoices:write"]);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                let reply = remind(&client, accept, "INV-2041").await;
                reply.assert_insufficient_scope("invoices:read");
                assert!(reply.body.get("result").is_none(), "{reply:?}");
            }
        }
        let audit = s.audit();
        assert_eq!(audit.len(), 2 * ACCEPTS.len(), "{audit:#?}");
        for row in &audit {
            assert_eq!(
                (
                    row.kind.as_str(),
                    row.tool.as_str(),
                    row.outcome.as_str(),
                    row.invoice_id.as_deref()
                ),
                (
                    "prompt",
                    "payment_reminder",
                    "insufficient_scope",
                    Some("INV-2041")
                ),
            );
            assert_eq!(
                row.detail.as_deref(),
                Some("insufficient scope: the prompt requires `invoices:read`")
            );
        }
    })
    .await;
}

#[tokio::test]
async fn every_get_is_audited_and_the_prompt_is_listed_with_its_argument() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), READ);
        let client = EraClient::new(&s, &token, Era::Modern).await;
        remind(&client, ACCEPTS[0], "INV-2041").await;
        remind(&client, ACCEPTS[0], "INV-3101").await; // globex's
        let rows: Vec<_> = s
            .audit()
            .iter()
            .map(|r| {
                (
                    r.kind.clone(),
                    r.tool.clone(),
                    r.outcome.clone(),
                    r.invoice_id.clone(),
                )
            })
            .collect();
        let row = |outcome: &str, id: &str| {
            (
                "prompt".to_owned(),
                "payment_reminder".to_owned(),
                outcome.to_owned(),
                Some(id.to_owned()),
            )
        };
        assert_eq!(rows, [row("ok", "INV-2041"), row("error", "INV-3101")]);

        let list = client.send(ACCEPTS[1], "prompts/list", json!({})).await;
        let prompt = &list.body["result"]["prompts"][0];
        assert_eq!(prompt["name"], "payment_reminder", "{list:?}");
        assert_eq!(prompt["arguments"][0]["name"], "invoice_id");
        assert_eq!(prompt["arguments"][0]["required"], true);
        assert_eq!(prompt["_meta"]["mcp-auth/scopes"], json!(["invoices:read"]));
    })
    .await;
}

/// A get that reaches the function cannot make its audit row large either: the id a caller
/// with `invoices:read` names, not found or found once trimmed, is cut in the row and in the
/// detail, as for a refused call; and a resource read is cut the same way.
#[tokio::test]
async fn a_long_invoice_id_of_an_allowed_get_or_read_is_recorded_cut_short() {
    TestServer::run(async |s| {
        let token = s.token("mallory", Some("acme"), READ);
        let client = EraClient::new(&s, &token, Era::Modern).await;
        let long = "I".repeat(200_000);
        let padded = format!("INV-2041{}", " ".repeat(200_000));
        for id in [&long, &padded] {
            let reply = remind(&client, ACCEPTS[0], id).await;
            assert_eq!(reply.status, 200, "{reply:?}");
        }
        // The runtime reads no URI over 2048 bytes: the longest id one can carry.
        let reply = client
            .read(ACCEPTS[0], &format!("invoice://{}", &long[..2000]))
            .await;
        assert!(reply.body.get("result").is_none(), "{reply:?}");
        let rows = s.audit();
        assert_eq!(rows.len(), 3, "{rows:#?}");
        for row in &rows {
            let recorded = row.invoice_id.as_deref().unwrap_or_default();
            assert!(
                recorded.len() <= 64 + '…'.len_utf8(),
                "{} {}: invoice id of {} bytes",
                row.kind,
                row.outcome,
                recorded.len()
            );
            let detail = row.detail.as_deref().unwrap_or_default();
            assert!(
                detail.len() <= 512 + '…'.len_utf8(),
                "detail of {} bytes",
                detail.len()
            );
        }
    })
    .await;
}
