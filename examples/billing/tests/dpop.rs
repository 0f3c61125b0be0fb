//! `--dpop off|accept|require`: each mode starts, its dev issuer follows it, and tokens the dev
//! issuer binds to a key with a real proof reach the tools through billing's own HTTP, with a
//! fresh proof per request, in both eras; bearer and bound tokens are refused where the mode
//! says.

mod common;

use clap::Parser as _;
use common::{TestServer, invoice};
use mcp_auth_test_support::dpop::DpopKey;
use mcp_auth_test_support::fixture::within;
use mcp_auth_test_support::modern::Reply;
use mcp_auth_test_support::{get_json, legacy_request, open_session_with};
use serde_json::{Value, json};

const MODES: [&str; 3] = ["off", "accept", "require"];

/// Registers a `client_credentials` client with `invoices:read` at the server's dev issuer;
/// returns its id and secret.
async fn machine_client(s: &TestServer) -> (String, String) {
    let registration = json!({
        "client_name": "billing DPoP test",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "invoices:read",
    });
    let response = s
        .http
        .post(s.url("/register"))
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    (field("client_id"), field("client_secret"))
}

/// A `client_credentials` token request of the client `(id, secret)`, with a proof by `key`
/// when given; the status and the body.
async fn token(
    s: &TestServer,
    (id, secret): &(String, String),
    key: Option<&DpopKey>,
) -> (u16, Value) {
    let url = s.url("/token");
    let mut request = s
        .http
        .post(&url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(key) = key {
        request = request.header("dpop", key.proof("POST", &url, None));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// `lookup_invoice` of INV-2041 (tenant acme, the machine client's) in the 2026-07-28 era,
/// with `token` as a DPoP token and a proof by `key`.
async fn modern_lookup(s: &TestServer, token: &str, key: &DpopKey) -> Reply {
    let params = json!({ "name": "lookup_invoice", "arguments": invoice("INV-2041") });
    let request = common::request(&s.http, &s.resource, token, "tools/call", params);
    Reply::of(key.authorize(request, token)).await
}

/// `lookup_invoice` of INV-2041 in the 2025-11-25 era: `initialize`, `initialized`, then the
/// call, each with its own proof by `key`.
async fn handshake_lookup(s: &TestServer, token: &str, key: &DpopKey) -> Reply {
    let authorize = |request| key.authorize(request, token);
    let session = open_session_with(&s.http, &s.resource, authorize).await;
    let params = json!({ "name": "lookup_invoice", "arguments": invoice("INV-2041") });
    let accept = "application/json, text/event-stream";
    let request = legacy_request(
        &s.http,
        &s.resource,
        token,
        accept,
        &session,
        1,
        "tools/call",
        params,
    );
    Reply::of(key.authorize(request, token)).await
}

#[tokio::test]
async fn every_mode_starts_and_its_dev_issuer_follows_it() {
    within(async {
        for mode in MODES {
            let s = TestServer::start_with(&["--dpop", mode]).await;
            let metadata =
                get_json(&s.http, s.url("/.well-known/oauth-authorization-server")).await;
            let algorithms = metadata.get("dpop_signing_alg_values_supported");
            assert_eq!(algorithms.is_some(), mode != "off", "{mode}: {metadata}");

            let client = machine_client(&s).await;
            let key = DpopKey::es256();
            let (status, body) = token(&s, &client, Some(&key)).await;
            assert_eq!(status, 200, "{mode}: {body}");
            let bound = if mode == "off" { "Bearer" } else { "DPoP" };
            assert_eq!(body["token_type"], bound, "{mode}: {body}");

            let (status, body) = token(&s, &client, None).await;
            if mode == "require" {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (400, Some("invalid_dpop_proof"))
                );
            } else {
                assert_eq!(
                    (status, body["token_type"].as_str()),
                    (200, Some("Bearer")),
                    "{mode}"
                );
                // A bearer token still reaches the tools.
                let bearer = body["access_token"].as_str().unwrap();
                let reply = s.call(bearer, "lookup_invoice", invoice("INV-2041")).await;
                assert_eq!(reply.structured()["id"], "INV-2041", "{mode}");
            }
        }
    })
    .await
}

#[tokio::test]
async fn dpop_bound_tokens_reach_the_tools_with_proofs_in_both_eras() {
    within(async {
        for mode in ["accept", "require"] {
            let s = TestServer::start_with(&["--dpop", mode]).await;
            let client = machine_client(&s).await;
            let key = DpopKey::es256();
            let (status, body) = token(&s, &client, Some(&key)).await;
            assert_eq!(status, 200, "{mode}: {body}");
            let bound = body["access_token"].as_str().unwrap();

            for reply in [
                modern_lookup(&s, bound, &key).await,
                handshake_lookup(&s, bound, &key).await,
            ] {
                assert_eq!(reply.structured()["id"], "INV-2041", "{mode}");
            }

            // Proofs by another key, and the bound token as a bearer token: refused.
            let thief = DpopKey::es256();
            assert_eq!(modern_lookup(&s, bound, &thief).await.status, 401, "{mode}");
            let as_bearer = s.call(bound, "lookup_invoice", invoice("INV-2041")).await;
            assert_eq!(as_bearer.status, 401, "{mode}");

            let bearer = s.token("alice", Some("acme"), &["invoices:read"]);
            let reply = s.call(&bearer, "lookup_invoice", invoice("INV-2041")).await;
            if mode == "require" {
                assert_eq!(reply.status, 401);
                let challenge = reply.www_authenticate.unwrap_or_default();
                assert!(challenge.starts_with("DPoP "), "{challenge}");
            } else {
                assert_eq!(reply.structured()["id"], "INV-2041");
            }
        }

        // Off: a bound token is refused even with a proof. The issuer binds none, so it is
        // minted as a user would, with `billing token --dpop-jkt`.
        let s = TestServer::start_with(&["--dpop", "off"]).await;
        let key = DpopKey::es256();
        let (jkt, port) = (key.thumbprint(), s.addr.port().to_string());
        let args = [
            "billing",
            "token",
            "--dpop-jkt",
            &jkt,
            "--data-dir",
            s.dir.str(),
            "--port",
            &port,
        ];
        let parsed = billing::Cli::try_parse_from(args).expect("the token arguments parse");
        let billing::Command::Token(args) = parsed.into_command() else {
            unreachable!("the token command")
        };
        let bound = billing::token(&args).unwrap();
        assert_eq!(modern_lookup(&s, &bound, &key).await.status, 401);
    })
    .await
}

/// A refund with a DPoP-bound token and its proof, under `accept` and `require`: the payments
/// API gets a bearer token exchanged for it (the proof was billing's to check; the dev issuer's
/// `require` is for the tokens of MCP clients, not for the exchange billing makes itself).
#[tokio::test]
async fn a_refund_with_a_dpop_bound_token_is_exchanged_for_a_bearer_payments_token() {
    within(async {
        for mode in ["accept", "require"] {
            let s = TestServer::start_with(&["--dpop", mode]).await;
            let key = DpopKey::es256();
            let token = s
                .issuer
                .mint(mcp_auth_runtime::dev_issuer::MintRequest {
                    subject: "alice".into(),
                    tenant: Some("acme".into()),
                    scopes: ["invoices:read", "invoices:write", "payments:write"]
                        .map(str::to_owned)
                        .into(),
                    dpop_jkt: Some(key.thumbprint()),
                    ..Default::default()
                })
                .unwrap();
            let params = json!({
                "name": "refund_invoice",
                "arguments": common::invoice_amount("INV-2042", 500)
            });
            let request = common::request(&s.http, &s.resource, &token, "tools/call", params);
            let reply = Reply::of(key.authorize(request, &token)).await;
            assert_eq!(
                reply.structured()["refund"]["payment_id"],
                "PAY-1",
                "{mode}"
            );
            assert_eq!(common::payment_rows(s.dir.path()).len(), 1, "{mode}");
        }
    })
    .await;
}
