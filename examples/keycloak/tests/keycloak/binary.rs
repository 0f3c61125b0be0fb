//! The `keycloak-notes` binary as a user runs it: configured through its environment
//! variables, logging to stderr (the start-up warning of `--allow-untyped-tokens` included),
//! serving the realm's tokens.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use mcp_auth_test_support::fixture::within;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::realm::{PUBLIC_CLIENT, Realm};
use crate::stand_in::Keycloak;

const BIN: &str = env!("CARGO_BIN_EXE_keycloak-notes");

#[tokio::test]
async fn the_binary_takes_its_settings_from_the_environment() {
    within(async {
        let realm = Realm::load();
        let keycloak = Keycloak::start(&realm).await;
        let mut child = Command::new(BIN)
            .env("NOTES_ISSUER_URL", &keycloak.issuer)
            .env("NOTES_PORT", "0")
            .env("NOTES_ALLOW_UNTYPED_TOKENS", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Every line of the log, and the address once the server says where it listens.
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("serving MCP on http://") {
                    let url = &line[at + "serving MCP on http://".len()..];
                    let addr = url.trim_end_matches("/mcp").parse().unwrap();
                    tx.take().map(|tx| tx.send(addr));
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let addr = rx.await.expect("the server says where it listens");
        let log = log.lock().unwrap().clone();
        assert!(log.contains("--allow-untyped-tokens"), "{log}");

        // NOTES_ALLOW_UNTYPED_TOKENS: a token typed `JWT` passes.
        let scope = realm.scope_claim(PUBLIC_CLIENT, &[]);
        let claims = keycloak.access_claims(&realm, PUBLIC_CLIENT, &realm.user("alice"), &scope);
        let answer = crate::call(
            addr,
            &keycloak.sign("JWT", &claims),
            "list_notes",
            json!({}),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    })
    .await;
}
