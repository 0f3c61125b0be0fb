//! Completions of `invoice_id`, for the `payment_reminder` prompt and the `invoice://`
//! template, over real HTTP with tokens of the embedded issuer: the caller's tenant's ids
//! only, by prefix in any case, at most 100, in both eras and every `Accept` form; refused
//! without `invoices:read` before the completer runs.

mod common;

use common::{Era, EraClient, TestServer, new_invoice};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use serde_json::{Value, json};

const READ: &[&str] = &["invoices:read"];
const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

/// The two things that complete an invoice id.
fn references() -> [Value; 2] {
    [
        json!({ "type": "ref/prompt", "name": "payment_reminder" }),
        json!({ "type": "ref/resource", "uri": "invoice://{invoice_id}" }),
    ]
}

async fn complete(client: &EraClient, accept: &str, reference: &Value, typed: &str) -> Reply {
    client
        .send(
            accept,
            "completion/complete",
            json!({ "ref": reference, "argument": { "name": "invoice_id", "value": typed } }),
        )
        .await
}

#[track_caller]
fn completion(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["result"]["completion"].clone()
}

#[tokio::test]
async fn ids_of_the_callers_tenant_complete_by_prefix_in_both_eras_and_every_accept() {
    TestServer::run(async |s| {
        let acme = s.token("ann", Some("acme"), READ);
        let globex = s.token("gus", Some("globex"), READ);
        for era in ERAS {
            let ann = EraClient::new(&s, &acme, era).await;
            let gus = EraClient::new(&s, &globex, era).await;
            for accept in ACCEPTS {
                for reference in &references() {
                    let got = completion(&complete(&ann, accept, reference, "inv-204").await);
                    let expected: Vec<String> =
                        (2041..=2047).rev().map(|n| format!("INV-{n}")).collect();
                    assert_eq!(
                        got["values"],
                        json!(expected),
                        "{era:?} {accept} {reference}"
                    );
                    assert_eq!(
                        (got["total"].clone(), got["hasMore"].clone()),
                        (json!(7), json!(false))
                    );
                    // globex sees its own ids, and none of acme's.
                    let got = completion(&complete(&gus, accept, reference, "INV-").await);
                    assert_eq!(
                        got["values"],
                        json!(["INV-3105", "INV-3104", "INV-3103", "INV-3102", "INV-3101"])
                    );
                    let got = completion(&complete(&gus, accept, reference, "INV-204").await);
                    assert_eq!(got["values"], json!([]), "{era:?} {accept}");
                    // LIKE's wildcards are plain characters in what was typed.
                    for typed in ["%", "_NV", "INV-20_1", "\\"] {
                        let got = completion(&complete(&ann, accept, reference, typed).await);
                        assert_eq!(got["values"], json!([]), "{typed}");
                    }
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_completion_without_invoices_read_is_refused_before_the_completer_runs() {
    TestServer::run(async |s| {
        let token = s.token("walt", Some("acme"), &["invoices:write"]);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                for reference in &references() {
                    let reply = complete(&client, accept, reference, "INV").await;
                    reply.assert_insufficient_scope("invoices:read");
                    assert!(reply.body.get("result").is_none(), "{reply:?}");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn at_most_100_ids_are_sent_with_the_total() {
    TestServer::run(async |s| {
        let writer = s.token("gus", Some("globex"), &["invoices:read", "invoices:write"]);
        for i in 0..100 {
            s.ok(
                &writer,
                "create_invoice",
                new_invoice(&format!("Customer {i}"), 100),
            )
            .await;
        }
        let client = EraClient::new(&s, &writer, Era::Modern).await;
        let got = completion(&complete(&client, ACCEPTS[1], &references()[0], "INV-3").await);
        assert_eq!(got["values"].as_array().map(Vec::len), Some(100));
        assert_eq!(got["values"][0], "INV-3205", "newest first");
        assert_eq!(
            (got["total"].clone(), got["hasMore"].clone()),
            (json!(105), json!(true))
        );
    })
    .await;
}
