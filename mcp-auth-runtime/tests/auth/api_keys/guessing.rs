//! Failed key attempts per peer: `429` with `Retry-After` once a peer used its failures,
//! without the key being checked; JWTs and expired keys do not count.

use std::time::{Duration, SystemTime};

use mcp_auth_runtime::auth::ApiKeyRecord;
use mcp_auth_test_support::Client;
use mcp_auth_test_support::fixture::{time_left_in_window, within};
use serde_json::json;

use super::{Fixture, RELOADED};

#[tokio::test]
async fn a_peer_that_fails_too_often_gets_429_even_with_a_good_key() {
    within(async {
        let fx = Fixture::start(3).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        let (expired, record) = ApiKeyRecord::generate("bot", ["things:read"]);
        fx.file
            .add(record.with_expires_at(SystemTime::now() - Duration::from_secs(1)))
            .unwrap();
        tokio::time::sleep(RELOADED).await;
        time_left_in_window(Duration::from_secs(60), Duration::from_secs(20)).await;
        let wrong = format!("{}A", &key.secret()[..key.secret().len() - 1]);
        let wrong = if wrong == key.secret() {
            format!("{}B", &wrong[..wrong.len() - 1])
        } else {
            wrong
        };
        // Expired keys and bad JWTs are not guesses at keys.
        for _ in 0..5 {
            fx.assert_refused(expired.secret(), "an expired key").await;
            fx.assert_refused("not-a-jwt", "a bad JWT").await;
        }
        let client = Client::without_session(fx.addr, Some(&wrong));
        let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
        for attempt in 0..3 {
            assert_eq!(
                client.post_json(&ping).await.status(),
                401,
                "attempt {attempt}"
            );
        }
        let refused = client.post_json(&ping).await;
        assert_eq!(refused.status(), 429);
        let retry = mcp_auth_test_support::retry_after(&refused);
        assert!((1..=60).contains(&retry), "Retry-After: {retry}");
        assert!(refused.headers().get("www-authenticate").is_none());
        // Not checked: the good key gets the same answer from this peer.
        let good = Client::without_session(fx.addr, Some(key.secret()));
        assert_eq!(good.post_json(&ping).await.status(), 429);
        // A JWT is not a key attempt: it goes through.
        assert_eq!(fx.call(&fx.jwt("things:read"), "read_thing").await.0, 200);
        assert_eq!(fx.ran(), 1);
    })
    .await;
}
