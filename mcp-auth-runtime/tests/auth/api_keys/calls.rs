//! A key calls tools as a token does, in both eras and with each `Accept`; its refusals are
//! the JWT's, challenge for challenge.

use mcp_auth_test_support::fixture::{http, within};
use mcp_auth_test_support::modern::{ACCEPTS, Reply, request};
use mcp_auth_test_support::{Client, modern_call};
use serde_json::json;

use super::{Fixture, text};

#[tokio::test]
async fn a_key_calls_tools_in_both_eras_with_each_accept() {
    within(async {
        let fx = Fixture::start(20).await;
        let (key, id) = fx.add_key(&["things:read"]).await;
        let expected = format!("bot via ci in acme key {id}");

        // Handshake era: JSON, then a call that accepts a stream.
        let (status, _, body) = fx.call(key.secret(), "read_thing").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(text(&body), expected);
        let client = Client::new(fx.addr, Some(key.secret()));
        assert_eq!(client.initialize().await, 200);
        let streamed = client.send_sse_call("read_thing", 2, json!({})).await;
        assert_eq!(streamed.status(), 200);
        assert!(streamed.text().await.unwrap().contains(&expected));

        // 2026-07-28: one POST each, every Accept a client may send.
        for accept in ACCEPTS {
            let (status, body) = modern_call(
                &http(),
                fx.addr,
                key.secret(),
                accept,
                "read_thing",
                json!({}),
            )
            .await;
            assert_eq!(status, 200, "{accept}: {body}");
            assert_eq!(text(&body), expected, "{accept}");
        }
        assert_eq!(fx.ran(), 2 + ACCEPTS.len());
    })
    .await;
}

#[tokio::test]
async fn a_refused_key_gets_the_challenge_a_refused_jwt_gets() {
    within(async {
        let fx = Fixture::start(100).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        let secret = key.secret();
        // The last character changed, then the first of the secret: wrong secrets.
        let last = if secret.ends_with('A') { "B" } else { "A" };
        let wrong_last = format!("{}{last}", &secret[..secret.len() - 1]);
        let cut = secret.rfind('_').unwrap() + 1;
        let first = if &secret[cut..=cut] == "A" { "B" } else { "A" };
        let wrong_first = format!("{}{first}{}", &secret[..cut], &secret[cut + 1..]);
        let bad_jwt = format!("{}x", fx.jwt("things:read"));
        for (token, why) in [
            (bad_jwt.as_str(), "a JWT with a broken signature"),
            (&wrong_last, "a key wrong at its last character"),
            (
                &wrong_first,
                "a key wrong at the first character of its secret",
            ),
            (&secret[..secret.len() - 1], "a key one character short"),
            (&format!("{secret}A"), "a key one character long"),
            (
                "mcpk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "an unknown id",
            ),
            (
                &secret.replacen("mcpk_", "MCPK_", 1),
                "the prefix in capitals (goes to the JWT verifier)",
            ),
            (&secret.replacen("mcpk_", "mcpk-", 1), "another prefix"),
            (&secret["mcpk_".len()..], "no prefix"),
            (&format!("mcpk_{}", "A".repeat(15_000)), "a huge key"),
        ] {
            fx.assert_refused(token, why).await;
        }
        // A key over 16 KiB is refused as a malformed request before any verifier sees it.
        let huge = format!("mcpk_{}", "A".repeat(17 * 1024));
        assert_eq!(fx.call(&huge, "read_thing").await.0, 400);
        // The good key still works: none of the above was the key.
        assert_eq!(fx.call(secret, "read_thing").await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn a_key_without_the_scope_gets_the_403_a_jwt_without_it_gets() {
    within(async {
        let fx = Fixture::start(20).await;
        let (key, _) = fx.add_key(&["things:read"]).await;
        let jwt = fx.jwt("things:read");
        let (key_status, key_challenge, _) = fx.call(key.secret(), "write_thing").await;
        let (jwt_status, jwt_challenge, _) = fx.call(&jwt, "write_thing").await;
        assert_eq!((key_status, jwt_status), (403, 403));
        assert!(
            key_challenge
                .as_deref()
                .is_some_and(|c| c.contains("error=\"insufficient_scope\"")
                    && c.contains("scope=\"things:write\"")),
            "{key_challenge:?}"
        );
        assert_eq!(key_challenge, jwt_challenge);
        // 2026-07-28, each Accept: the same refusal.
        for accept in ACCEPTS {
            let reply = Reply::of(request(
                &http(),
                &format!("http://{}/mcp", fx.addr),
                key.secret(),
                accept,
                json!({}),
                3,
                "tools/call",
                json!({ "name": "write_thing", "arguments": {} }),
            ))
            .await;
            reply.assert_insufficient_scope("things:write");
        }
        assert_eq!(fx.ran(), 0);
    })
    .await;
}
