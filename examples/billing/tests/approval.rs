//! Refunds above 100,000 cents also need `payments:approve`: declared in the attribute
//! (`require(.., when = ..)`) for an explicit amount, checked in the body from the stored
//! invoice for "the rest". Over real HTTP with tokens of the embedded issuer, in both eras and
//! every `Accept` form: one `403` naming every scope the refund needs, nothing refunded, the
//! refusal audited.

mod common;

use common::{Era, EraClient, TestServer};
use mcp_auth_test_support::modern::{ACCEPTS, Reply};
use serde_json::json;

const REFUND: &[&str] = &["invoices:write", "payments:write"];
const APPROVE: &[&str] = &["invoices:write", "payments:write", "payments:approve"];
const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

/// The scopes a `403`'s challenge names, sorted.
#[track_caller]
fn challenged(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 403, "{reply:?}");
    let challenge = reply.www_authenticate.as_deref().unwrap_or_default();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    let scope = challenge
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    let mut scopes: Vec<String> = scope.split(' ').map(str::to_owned).collect();
    scopes.sort();
    scopes
}

fn approve_all() -> Vec<String> {
    let mut all: Vec<String> = APPROVE.iter().map(|s| (*s).to_owned()).collect();
    all.sort();
    all
}

async fn refund(client: &EraClient, accept: &str, id: &str, amount: Option<i64>) -> Reply {
    let mut arguments = json!({ "invoice_id": id });
    if let Some(amount) = amount {
        arguments["amount_cents"] = amount.into();
    }
    client
        .call(accept, "refund_invoice", json!({ "arguments": arguments }))
        .await
}

#[tokio::test]
async fn a_refund_above_the_limit_without_approval_is_refused_naming_every_scope() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let token = s.token("rita", Some("acme"), REFUND);
        for era in ERAS {
            let client = EraClient::new(&s, &token, era).await;
            for accept in ACCEPTS {
                // INV-2045 is paid, 310,000 cents: an explicit amount over the limit, and the
                // rest of it, both need approval.
                for amount in [Some(100_001), Some(310_000), None] {
                    let reply = refund(&client, accept, "INV-2045", amount).await;
                    assert_eq!(
                        challenged(&reply),
                        approve_all(),
                        "{era:?} {accept} {amount:?}"
                    );
                    assert!(reply.body.get("result").is_none(), "{reply:?}");
                }
            }
        }
        assert_eq!(s.snapshot(), before, "nothing was refunded");
        let audit = s.audit();
        assert_eq!(audit.len(), 2 * ACCEPTS.len() * 3, "{audit:#?}");
        assert!(
            audit
                .iter()
                .all(|row| (row.tool.as_str(), row.outcome.as_str())
                    == ("refund_invoice", "insufficient_scope")),
            "{audit:#?}"
        );
    })
    .await;
}

#[tokio::test]
async fn refunds_up_to_the_limit_need_no_approval_and_above_it_approval_suffices() {
    TestServer::run(async |s| {
        let plain = s.token("rita", Some("acme"), REFUND);
        let approver = s.token("amy", Some("acme"), APPROVE);
        let rita = |era| EraClient::new(&s, &plain, era);
        let amy = |era| EraClient::new(&s, &approver, era);
        let amount = |reply: Reply| reply.structured()["refund"]["amount_cents"].clone();
        // INV-2045: 310,000 cents paid. At the limit exactly, no approval is needed.
        let client = rita(Era::Handshake).await;
        let reply = refund(&client, ACCEPTS[0], "INV-2045", Some(100_000)).await;
        assert_eq!(amount(reply), 100_000);
        // Above it, approval suffices.
        let client = amy(Era::Modern).await;
        let reply = refund(&client, ACCEPTS[1], "INV-2045", Some(100_001)).await;
        assert_eq!(amount(reply), 100_001);
        // The rest, 109,999, is above the limit too.
        let reply = refund(&rita(Era::Modern).await, ACCEPTS[2], "INV-2045", None).await;
        assert_eq!(challenged(&reply), approve_all());
        // Rests within the limit need none: INV-2042 (48,000), INV-2043 (99,900).
        let client = rita(Era::Handshake).await;
        let reply = refund(&client, ACCEPTS[2], "INV-2042", None).await;
        assert_eq!(amount(reply), 48_000);
        let client = rita(Era::Modern).await;
        let reply = refund(&client, ACCEPTS[0], "INV-2043", None).await;
        assert_eq!(amount(reply), 99_900);
        // And the approver refunds INV-2045's rest.
        let reply = refund(&amy(Era::Handshake).await, ACCEPTS[1], "INV-2045", None).await;
        assert_eq!(reply.structured()["invoice"]["status"], "refunded");
        assert_eq!(
            s.stored("acme", 2045),
            Some(("refunded".into(), 310_000, None))
        );
    })
    .await;
}

/// The `securitySchemes` a client such as ChatGPT decides on (SEP-1488), behind the real JWT
/// verifier, in both eras: every tool needs a token, with its scopes then its conditional
/// ones.
#[tokio::test]
async fn each_tool_declares_its_security_schemes_in_both_eras() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), &["invoices:read"]);
        for era in [Era::Handshake, Era::Modern] {
            let client = EraClient::new(&s, &token, era).await;
            let list = client.send(ACCEPTS[1], "tools/list", json!({})).await;
            let tools = list.body["result"]["tools"].as_array().unwrap().clone();
            let schemes = |name: &str| {
                let tool = tools.iter().find(|t| t["name"] == name).unwrap();
                assert_eq!(tool["securitySchemes"], tool["_meta"]["securitySchemes"]);
                tool["securitySchemes"].clone()
            };
            assert_eq!(
                schemes("lookup_invoice"),
                json!([{ "type": "oauth2", "scopes": ["invoices:read"] }])
            );
            assert_eq!(
                schemes("refund_invoice"),
                json!([{ "type": "oauth2", "scopes": ["invoices:write", "payments:write", "payments:approve"] }])
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_conditional_scope_is_declared_in_the_listing_and_the_metadata() {
    TestServer::run(async |s| {
        let token = s.token("ann", Some("acme"), &["invoices:read"]);
        let client = EraClient::new(&s, &token, Era::Modern).await;
        let list = client.send(ACCEPTS[1], "tools/list", json!({})).await;
        let tools = list.body["result"]["tools"].as_array().unwrap().clone();
        let refund = tools
            .iter()
            .find(|t| t["name"] == "refund_invoice")
            .expect("refund_invoice is listed");
        assert_eq!(
            refund["_meta"]["mcp-auth/scopes"],
            json!(["invoices:write", "payments:write"])
        );
        assert_eq!(
            refund["_meta"]["mcp-auth/conditionalScopes"],
            json!(["payments:approve"])
        );
        let metadata = s
            .get_json("/.well-known/oauth-protected-resource/mcp")
            .await;
        assert!(
            metadata["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("payments:approve")),
            "{metadata}"
        );
    })
    .await;
}

#[tokio::test]
async fn splitting_a_refund_does_not_avoid_the_approval() {
    TestServer::run(async |s| {
        let plain = s.token("rita", Some("acme"), REFUND);
        let approver = s.token("amy", Some("acme"), APPROVE);
        for era in ERAS {
            let rita = EraClient::new(&s, &plain, era).await;
            for accept in ACCEPTS {
                // INV-2045 (310,000): refunds of up to 100,000 in all need no approval.
                let first = refund(&rita, accept, "INV-2045", Some(1)).await;
                assert_eq!(
                    first.structured()["refund"]["amount_cents"],
                    1,
                    "{era:?} {accept}"
                );
            }
        }
        // 6 cents refunded so far; 99,994 more is the limit exactly.
        let rita = EraClient::new(&s, &plain, Era::Modern).await;
        let at_limit = refund(&rita, ACCEPTS[0], "INV-2045", Some(99_994)).await;
        assert_eq!(at_limit.structured()["invoice"]["refunded_cents"], 100_000);
        let before = s.snapshot();
        for era in ERAS {
            let rita = EraClient::new(&s, &plain, era).await;
            for accept in ACCEPTS {
                // One cent more, or the rest, would take the refunds above it.
                for amount in [Some(1), None] {
                    let reply = refund(&rita, accept, "INV-2045", amount).await;
                    assert_eq!(
                        challenged(&reply),
                        approve_all(),
                        "{era:?} {accept} {amount:?}"
                    );
                }
            }
        }
        assert_eq!(s.snapshot(), before, "nothing was refunded");
        let amy = EraClient::new(&s, &approver, Era::Handshake).await;
        let approved = refund(&amy, ACCEPTS[1], "INV-2045", Some(1)).await;
        assert_eq!(approved.structured()["invoice"]["refunded_cents"], 100_001);
    })
    .await;
}
