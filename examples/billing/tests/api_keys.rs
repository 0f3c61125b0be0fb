//! API keys made with `billing apikey` next to OAuth on `billing serve`: the key printed once,
//! alone on the last line; the server on the same data directory takes it, audits its id, and
//! refuses it once revoked, without a restart.

mod common;

use std::time::Duration;

use common::{TestServer, invoice, invoice_amount};
use mcp_auth_test_support::fixture::{TempDir, within};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_billing");

/// Runs `billing apikey ARGS`; its standard output, or a panic with its error.
fn apikey(args: &[&str]) -> String {
    let output = std::process::Command::new(BIN)
        .arg("apikey")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "billing apikey {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Makes a key in `dir`; returns it and its id.
fn create(dir: &TempDir, scopes: &str) -> (String, String) {
    let out = apikey(&[
        "create",
        "--scope",
        scopes,
        "--tenant",
        "acme",
        "--client-id",
        "nightly-report",
        "--expires-in",
        "30d",
        "--data-dir",
        dir.str(),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let key = lines.last().unwrap().to_owned();
    assert!(key.starts_with("mcpk_") && !key.contains(' '), "{out}");
    let id = lines[0]
        .strip_prefix("Created API key ")
        .unwrap()
        .to_owned();
    // The key is on its last line only.
    assert_eq!(out.matches(key).count(), 1, "{out}");
    (key.to_owned(), id)
}

#[tokio::test]
async fn a_key_made_by_apikey_create_works_until_revoked() {
    within(async {
        let dir = TempDir::new("billing-keys");
        let (key, id) = create(&dir, "invoices:read");
        let file = std::fs::read_to_string(dir.path().join("api-keys.json")).unwrap();
        assert!(!file.contains(&key), "the file holds the key itself");
        // `mcpk_<id>_<secret>`: the id is hex, the secret base64url (which may hold `_`).
        let (_, secret) = key["mcpk_".len()..].split_once('_').unwrap();
        assert_eq!(secret.len(), 43, "{key}");
        assert!(!file.contains(secret), "the file holds the key's secret");

        let s = TestServer::start_in(dir, 0).await;
        let page = s.ok(&key, "list_invoices", json!({})).await;
        assert!(!page["invoices"].as_array().unwrap().is_empty());
        // The key's scopes are its limits.
        s.call(&key, "void_invoice", invoice("INV-2041"))
            .await
            .assert_insufficient_scope("invoices:write");
        s.assert_audit(&[
            (
                "list_invoices",
                "ok",
                Some(&format!("api-key:{id}")),
                Some("acme"),
                None,
            ),
            (
                "void_invoice",
                "insufficient_scope",
                Some(&format!("api-key:{id}")),
                Some("acme"),
                Some("INV-2041"),
            ),
        ]);
        let principals = s.audit_principals();
        assert!(
            principals
                .iter()
                .all(|p| p.2.as_deref() == Some(id.as_str())),
            "{principals:?}"
        );
        assert_eq!(s.audit()[0].client_id.as_deref(), Some("nightly-report"));

        let listed = apikey(&["list", "--data-dir", s.dir.str()]);
        assert!(
            listed.contains(&id) && listed.contains("invoices:read"),
            "{listed}"
        );
        assert!(
            !listed.contains(&key) && !listed.contains("sha256:"),
            "{listed}"
        );

        apikey(&["revoke", &id, "--data-dir", s.dir.str()]);
        // Refused from the next reload, within seconds, without a restart.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let reply = s.call(&key, "list_invoices", json!({})).await;
            if reply.status == 401 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still accepted: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // OAuth tokens work as before, next to the keys.
        let token = s.token("alice", Some("acme"), &["invoices:read"]);
        s.ok(&token, "list_invoices", json!({})).await;
    })
    .await;
}

#[tokio::test]
async fn a_key_cannot_refund_through_payments() {
    within(async {
        let dir = TempDir::new("billing-keys");
        let (key, id) = create(&dir, "invoices:read invoices:write payments:write");
        let s = TestServer::start_in(dir, 0).await;
        let before = s.snapshot();
        let message = s
            .call(&key, "refund_invoice", invoice_amount("INV-2042", 100))
            .await
            .tool_error();
        assert!(
            message.contains("an API key cannot be exchanged"),
            "{message}"
        );
        assert_eq!(s.snapshot(), before);
        assert_eq!(common::payment_rows(s.dir.path()), []);
        let principals = s.audit_principals();
        assert_eq!(
            principals,
            [(
                "refund_invoice".to_owned(),
                "error".to_owned(),
                Some(id),
                None
            )]
        );
    })
    .await;
}

#[test]
fn apikey_create_refuses_unknown_scopes_and_revoke_unknown_ids() {
    let dir = TempDir::new("billing-keys");
    for args in [
        &["create", "--scope", "invoices:delete", "--tenant", "acme"][..],
        &["create", "--scope", "invoices:read"][..],
        &["revoke", "nope"][..],
    ] {
        let output = std::process::Command::new(BIN)
            .arg("apikey")
            .args(args)
            .args(["--data-dir", dir.str()])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: no key printed");
    }
}
