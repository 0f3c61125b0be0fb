//! The chain sends each credential to one verifier, by the longest prefix; credentials in the
//! query string are refused before any verifier sees them.

use mcp_auth_runtime::auth::{ApiKeyFile, ApiKeyRecord, ApiKeys};
use mcp_auth_test_support::fixture::{TempDir, http, within};
use serde_json::json;

use super::{Fixture, text};

#[tokio::test]
async fn keys_and_jwts_go_to_their_verifiers_by_the_longest_prefix() {
    within(async {
        let dir = TempDir::new("api-key-routes");
        let live_file = ApiKeyFile::new(dir.path().join("live.json"));
        let (live, record) =
            ApiKeyRecord::generate_with_prefix("mcpk_live_", "live-bot", ["things:read"]);
        live_file.add(record).unwrap();
        let live_keys = ApiKeys::from_file(live_file.path())
            .unwrap()
            .with_prefix("mcpk_live_");
        // `mcpk_live_` is routed before the keys' `mcpk_` is: the longest prefix wins anyway.
        let fx =
            Fixture::start_with(|keys| keys, |chain| chain.prefix("mcpk_live_", live_keys)).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        let (status, _, body) = fx.call(live.secret(), "read_thing").await;
        assert_eq!(
            (status, text(&body).split(' ').next()),
            (200, Some("live-bot"))
        );
        let (status, _, body) = fx.call(key.secret(), "read_thing").await;
        assert_eq!((status, text(&body).split(' ').next()), (200, Some("bot")));
        let (status, _, body) = fx.call(&fx.jwt("things:read"), "read_thing").await;
        assert_eq!(status, 200, "{body}");
        assert!(text(&body).ends_with("key -"), "a JWT is no key: {body}");
        // A key is checked by its own verifier only: under another prefix it is refused.
        let moved = live.secret().replacen("mcpk_live_", "mcpk_", 1);
        fx.assert_refused(&moved, "a live key under the other prefix")
            .await;
        let moved = key.secret().replacen("mcpk_", "mcpk_live_", 1);
        fx.assert_refused(&moved, "a key under the live prefix")
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_key_in_the_query_string_is_refused() {
    within(async {
        let fx = Fixture::start(20).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }).to_string();
        for query in [
            format!("api_key={}", key.secret()),
            format!("access_token={}", key.secret()),
            format!("k={}", key.secret().replacen('_', "%5F", 1)),
        ] {
            // Even alongside a good Authorization header: the key leaked, the client must know.
            let response = http()
                .post(format!("http://{}/mcp?{query}", fx.addr))
                .bearer_auth(key.secret())
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{query}");
            let challenge = mcp_auth_test_support::header(&response, "www-authenticate").unwrap();
            assert!(
                challenge.contains("error=\"invalid_request\""),
                "{challenge}"
            );
        }
        assert_eq!(fx.ran(), 0);
    })
    .await;
}
