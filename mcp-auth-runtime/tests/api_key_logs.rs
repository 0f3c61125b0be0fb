//! Secrets hygiene of API keys: a run through every key outcome (accepted, wrong secret,
//! expired, throttled, revoked, a reload that fails and one that succeeds), with every log
//! line at TRACE captured, logs the key ids and what happened, never a secret or a digest.
//! Its own test binary, so that the process-wide subscriber sees every event.

use std::time::{Duration, SystemTime};

use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, ApiKeys};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::Quota;
use mcp_auth_test_support::Client;
use mcp_auth_test_support::fixture::{TempDir, time_left_in_window, within};
use mcp_auth_test_support::logs::Logs;
use mcp_auth_test_support::tools::{read_thing, write_thing};
use serde_json::json;

/// Longer than the reload interval (50 ms), with room for a loaded machine.
const RELOADED: Duration = Duration::from_millis(300);

/// The secret part of a key.
fn secret_of(key: &str) -> &str {
    &key[key.rfind('_').unwrap() + 1..]
}

#[tokio::test]
async fn no_key_secret_or_digest_reaches_the_logs() {
    let logs = Logs::capture_global();
    within(async {
        // The failures below must fall into one window of the per-minute quota.
        time_left_in_window(Duration::from_secs(60), Duration::from_secs(15)).await;
        let dir = TempDir::new("api-key-logs");
        let file = ApiKeyFile::new(dir.path().join("api-keys.json"));
        let (key, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        let id = record.id.clone();
        file.add(record).unwrap();
        let (expired, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        let expired_id = record.id.clone();
        file.add(record.with_expires_at(SystemTime::now() - Duration::from_secs(1)))
            .unwrap();
        let keys = ApiKeys::from_file(file.path())
            .unwrap()
            .reload_interval(Duration::from_millis(50))
            .failure_limit(Quota::per_minute(3));
        let (listener, addr, _) = mcp_auth_test_support::bind_endpoint().await;
        let server = McpServer::builder("things", "1")
            .tools(tools![read_thing, write_thing])
            .resource(format!("http://{addr}/mcp"))
            .verifier(keys)
            .build()
            .unwrap();
        mcp_auth_test_support::serve_with_peers(listener, server);
        let status = |token: String| async move {
            Client::new(addr, Some(&token))
                .call("read_thing", json!({}))
                .await
                .0
        };

        let secret = secret_of(key.secret());
        let reversed: String = secret_of(expired.secret()).chars().rev().collect();
        let wrong = expired
            .secret()
            .replace(secret_of(expired.secret()), &reversed);
        assert_eq!(status(key.secret().to_owned()).await, 200);
        assert_eq!(status(expired.secret().to_owned()).await, 401);
        // A reload that fails (half a file), then one that succeeds (the key revoked).
        let good = std::fs::read_to_string(file.path()).unwrap();
        std::fs::write(file.path(), &good[..good.len() - 3]).unwrap();
        tokio::time::sleep(RELOADED).await;
        assert_eq!(status(key.secret().to_owned()).await, 200);
        std::fs::write(file.path(), &good).unwrap();
        assert!(file.revoke(&id).unwrap());
        tokio::time::sleep(RELOADED).await;
        // Two failures (`initialize`, then the call), a third, then no more checks.
        assert_eq!(status(key.secret().to_owned()).await, 401);
        assert_eq!(status(wrong.clone()).await, 429);

        let text = logs.text();
        // The outcomes are there, with the ids: the capture works and says what happened.
        for expected in [
            format!("wrong secret for API key {expired_id}"),
            format!("API key {expired_id} expired"),
            "too many failed attempts".to_owned(),
            "API key file not reloaded".to_owned(),
            "API keys reloaded".to_owned(),
            format!("unknown API key id {id}"),
        ] {
            assert!(text.contains(&expected), "{expected:?} not logged:\n{text}");
        }
        let digests: Vec<String> = file
            .list()
            .unwrap()
            .into_iter()
            .chain(
                serde_json::from_str::<serde_json::Value>(&good).unwrap()["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| serde_json::from_value(r.clone()).unwrap()),
            )
            .map(|r: ApiKeyRecord| r.digest["sha256:".len()..].to_owned())
            .collect();
        assert_eq!(digests.len(), 3);
        for leak in [secret, secret_of(expired.secret()), &reversed]
            .into_iter()
            .chain(digests.iter().map(String::as_str))
        {
            assert!(!text.contains(leak), "a secret or digest was logged");
        }
    })
    .await;
}
