//! The billing resources over real HTTP with tokens of the embedded issuer: an invoice by
//! URI and the tenant's summary, in both eras and every `Accept` form; another tenant's
//! invoice is exactly as missing as one that does not exist; every read is audited, refused
//! or not, without the token.

mod common;

use common::{Era, EraClient, TestServer};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use serde_json::{Value, json};

const READ: &[&str] = &["invoices:read"];
const WRITE: &[&str] = &["invoices:write"];
const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

/// The JSON document of a successful read of `uri`.
#[track_caller]
fn contents_json(reply: &Reply, uri: &str) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    let contents = &reply.body["result"]["contents"];
    assert_eq!(contents.as_array().map(Vec::len), Some(1), "{reply:?}");
    assert_eq!(contents[0]["uri"], uri, "{reply:?}");
    assert_eq!(contents[0]["mimeType"], "application/json", "{reply:?}");
    serde_json::from_str(contents[0]["text"].as_str().expect("text contents")).unwrap()
}

#[tokio::test]
async fn an_invoice_and_the_summary_are_read_in_both_eras_and_every_accept() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), READ);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                let reply = client.read(accept, "invoice://INV-2041").await;
                let invoice = contents_json(&reply, "invoice://INV-2041");
                assert_eq!(invoice["id"], "INV-2041", "{era:?} {accept}");
                assert_eq!(invoice["customer"], "Wayne Enterprises");
                assert_eq!(invoice["total_cents"], 125_000);
                assert_eq!(invoice["refunds"], json!([]));

                let reply = client.read(accept, "billing://tenant/summary").await;
                let summary = contents_json(&reply, "billing://tenant/summary");
                assert_eq!(summary["tenant"], "acme");
                assert_eq!(summary["invoices"], 7);
                // The seeded acme invoices: 2041 + 2044 + 2047 open, 2042 + 2043 + 2045
                // paid, 2046 void.
                assert_eq!(
                    summary["by_status"],
                    json!([
                        { "status": "open", "invoices": 3, "total_cents": 162_000, "refunded_cents": 0 },
                        { "status": "paid", "invoices": 3, "total_cents": 457_900, "refunded_cents": 0 },
                        { "status": "void", "invoices": 1, "total_cents": 7_250, "refunded_cents": 0 },
                        { "status": "refunded", "invoices": 0, "total_cents": 0, "refunded_cents": 0 },
                    ]),
                    "{era:?} {accept}"
                );
                assert_eq!(summary["total_cents"], 162_000 + 457_900 + 7_250);
            }
        }
        // The other tenant sees its own figures only.
        let globex = EraClient::new(&s, &s.token("gus", Some("globex"), READ), Era::Modern).await;
        let reply = globex.read(ACCEPTS[1], "billing://tenant/summary").await;
        let summary = contents_json(&reply, "billing://tenant/summary");
        assert_eq!((summary["tenant"].clone(), summary["invoices"].clone()), (json!("globex"), json!(5)));
    })
    .await;
}

#[tokio::test]
async fn another_tenants_invoice_is_exactly_as_missing_as_no_invoice() {
    TestServer::run(async |s| {
        // INV-2041 is acme's; globex has INV-3101.
        let token = s.token("gus", Some("globex"), READ);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                let mut answers = Vec::new();
                for uri in [
                    "invoice://INV-2041",
                    "invoice://INV-9999",
                    "invoice://nonsense",
                ] {
                    let reply = client.read(accept, uri).await;
                    assert_eq!(reply.status, 200, "{era:?} {accept} {uri}: {reply:?}");
                    let error = &reply.body["error"];
                    assert_eq!(error["code"], -32602, "{era:?} {accept} {uri}: {reply:?}");
                    assert_eq!(error["data"]["uri"], uri);
                    assert!(reply.body.get("result").is_none());
                    answers.push(error["message"].clone());
                }
                assert!(
                    answers.iter().all(|m| *m == answers[0]),
                    "the three answers differ only by their URI: {answers:?}"
                );
                let own = client.read(accept, "invoice://INV-3101").await;
                assert_eq!(
                    contents_json(&own, "invoice://INV-3101")["customer"],
                    "Tyrell Corp"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_read_without_invoices_read_is_refused_before_anything_runs() {
    TestServer::run(async |s| {
        let token = s.token("walt", Some("acme"), WRITE);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                for uri in ["invoice://INV-2041", "billing://tenant/summary"] {
                    let reply = client.read(accept, uri).await;
                    reply.assert_insufficient_scope("invoices:read");
                    assert!(reply.body.get("result").is_none(), "{reply:?}");
                }
            }
        }
        // Only refusals were audited: no read reached the store.
        let audit = s.audit();
        assert_eq!(audit.len(), 2 * ACCEPTS.len() * 2, "{audit:#?}");
        for row in &audit {
            assert_eq!(
                (
                    row.kind.as_str(),
                    row.outcome.as_str(),
                    row.subject.as_deref()
                ),
                ("resource", "insufficient_scope", Some("walt")),
                "{row:?}"
            );
            assert_eq!(
                row.detail.as_deref(),
                Some("insufficient scope: the resource requires `invoices:read`")
            );
        }
        let invoices = audit.iter().filter(|r| r.tool == "invoice").count();
        assert_eq!(invoices, ACCEPTS.len() * 2);
        assert!(
            audit
                .iter()
                .filter(|r| r.tool == "invoice")
                .all(|r| r.invoice_id.as_deref() == Some("INV-2041"))
        );
    })
    .await;
}

#[tokio::test]
async fn every_read_is_audited_with_its_kind_and_outcome_without_the_token() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), READ);
        let client = EraClient::new(&s, &token, Era::Modern).await;
        client.read(ACCEPTS[0], "invoice://INV-2041").await;
        client.read(ACCEPTS[0], "invoice://INV-3101").await; // globex's
        client.read(ACCEPTS[0], "billing://tenant/summary").await;
        client.read(ACCEPTS[0], "billing://nothing-here").await; // no resource: not audited
        let audit = s.audit();
        let rows: Vec<_> = audit
            .iter()
            .map(|r| {
                (
                    r.kind.as_str(),
                    r.tool.as_str(),
                    r.outcome.as_str(),
                    r.tenant.as_deref(),
                    r.invoice_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("resource", "invoice", "ok", Some("acme"), Some("INV-2041")),
                (
                    "resource",
                    "invoice",
                    "error",
                    Some("acme"),
                    Some("INV-3101")
                ),
                ("resource", "summary", "ok", Some("acme"), None),
            ]
        );
        assert_eq!(
            audit[1].detail.as_deref(),
            Some("invoice INV-3101 not found")
        );
        let dump = format!("{audit:?}");
        assert!(
            !dump.contains(&token),
            "the audit trail never holds the token"
        );
    })
    .await;
}

#[tokio::test]
async fn the_lists_name_both_resources_with_their_scopes() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), READ);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            let list = client.send(ACCEPTS[1], "resources/list", json!({})).await;
            let resources = &list.body["result"]["resources"];
            assert_eq!(resources.as_array().map(Vec::len), Some(1), "{list:?}");
            assert_eq!(resources[0]["uri"], "billing://tenant/summary");
            assert_eq!(resources[0]["name"], "summary");
            assert_eq!(resources[0]["mimeType"], "application/json");
            let templates = client
                .send(ACCEPTS[1], "resources/templates/list", json!({}))
                .await;
            let templates = &templates.body["result"]["resourceTemplates"];
            assert_eq!(
                templates[0]["uriTemplate"], "invoice://{invoice_id}",
                "{era:?}"
            );
            for entry in [&resources[0], &templates[0]] {
                let scopes = entry["_meta"][mcp_auth_runtime::ResourceDef::SCOPES_META_KEY].clone();
                assert_eq!(scopes, json!(["invoices:read"]), "{entry}");
            }
        }
        // The metadata's `scopes_supported` are derived from tools and resources alike.
        let metadata = s
            .get_json("/.well-known/oauth-protected-resource/mcp")
            .await;
        assert!(
            metadata["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("invoices:read")),
            "{metadata}"
        );
    })
    .await;
}
