//! The claims of a verified token: time, issuer, audience, type, and who it names.

use super::*;

#[tokio::test]
async fn time_claims_are_checked_with_leeway() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    for (why, changes) in [
        ("expired within leeway", json!({ "exp": at(-30) })),
        ("nbf within leeway", json!({ "nbf": at(30) })),
    ] {
        fx.assert_accepted(&fx.signed(&key, changes), why).await;
    }
    for (why, changes) in [
        ("expired", json!({ "exp": at(-120) })),
        ("not yet valid", json!({ "nbf": at(300) })),
        ("issued in the future", json!({ "iat": at(300) })),
        ("no exp", json!({ "exp": null })),
        ("exp not a number", json!({ "exp": "tomorrow" })),
    ] {
        fx.assert_rejected(&fx.signed(&key, changes), why).await;
    }
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    for iss in [
        json!(format!("{}/", fx.issuer.url)),
        json!(format!("{}/realms/other", fx.issuer.url)),
        json!("https://evil.example"),
        // No `iss` at all.
        Value::Null,
    ] {
        fx.assert_rejected(
            &fx.signed(&key, json!({ "iss": iss })),
            &format!("iss {iss}"),
        )
        .await;
    }
}

#[tokio::test]
async fn audience_must_name_this_resource_in_canonical_form() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let token = |aud: Value| fx.signed(&key, json!({ "aud": aud }));
    let port = fx.addr.port();
    for aud in [
        json!(fx.resource),
        json!(format!("{}/", fx.resource)),
        json!(format!("HTTP://127.0.0.1:{port}/mcp")),
        json!(["https://other.example", fx.resource]),
    ] {
        fx.assert_accepted(&token(aud.clone()), &aud.to_string())
            .await;
    }
    for aud in [
        json!("https://other.example/mcp"),
        json!(format!("http://127.0.0.1:{port}/mcp2")),
        json!(format!("http://127.0.0.1:{port}/mc")),
        json!(format!("https://127.0.0.1:{port}/mcp")),
        json!(format!("http://127.0.0.1:{}/mcp", port.wrapping_add(1))),
        json!("api"),
        json!(""),
        json!([]),
        json!(["https://other.example"]),
        // No `aud` at all.
        Value::Null,
    ] {
        fx.assert_rejected(&token(aud.clone()), &aud.to_string())
            .await;
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_400() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let token = key.sign(&fx.claims("things:read"));
    let url = format!("http://{}/mcp", fx.addr);
    // `initialize`, which needs no session, so that an accepted token shows as 200.
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    let http = reqwest::Client::new();
    let send = |builder: reqwest::RequestBuilder| async move {
        let r = builder
            .header("content-type", "application/json")
            .body(ping)
            .send()
            .await
            .unwrap();
        let challenge = header(&r, "www-authenticate");
        (r.status().as_u16(), challenge.unwrap_or_default())
    };
    for (builder, why) in [
        (
            http.post(&url).header("authorization", "Bearer"),
            "no token",
        ),
        (
            http.post(&url).header("authorization", "Bearer a b"),
            "two tokens",
        ),
        (
            http.post(&url)
                .header("authorization", format!("Bearer {token}"))
                .header("authorization", format!("Bearer {token}")),
            "two headers",
        ),
        (
            http.post(format!("{url}?access_token={token}")),
            "token in the query",
        ),
        (
            http.post(format!("{url}?access_token={token}"))
                .bearer_auth(&token),
            "token in the query and header",
        ),
    ] {
        let (status, challenge) = send(builder).await;
        assert_eq!(status, 400, "{why}");
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{why}: {challenge}"
        );
    }
    let (status, challenge) = send(
        http.post(&url)
            .header("authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(!challenge.contains("error="), "{challenge}");
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let (status, _) = send(
            http.post(&url)
                .header("authorization", format!("{scheme} {token}")),
        )
        .await;
        assert_eq!(status, 200, "{scheme}");
    }
    assert_eq!(fx.ran(), 0);
}

#[tokio::test]
async fn access_tokens_must_be_explicitly_typed() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    let claims = fx.claims("things:read things:write");
    // RFC 9068 §4 / RFC 8725 §3.11: nothing but an access token type, whatever the claims.
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("application/jwt"),
        Some("dpop+jwt"),
        Some("logout+jwt"),
        Some("secevent+jwt"),
        Some("application/secevent+jwt"),
        Some("id_token+jwt"),
        Some("token-introspection+jwt"),
        Some("at+jwt; charset=utf-8"),
        Some(" at+jwt"),
        Some("at+jwt "),
        Some("application/at+jwt+x"),
        Some("text/at+jwt"),
        Some("at+jwt/"),
        Some(""),
    ] {
        let token = key.sign_with(typed(&key, typ), &claims);
        fx.assert_rejected(&token, &format!("typ {typ:?}")).await;
        assert_eq!(write(&fx, &token).await, 401, "typ {typ:?} ran a write");
    }
    // A `typ` that is not a string does not parse as a header at all.
    let raw = key.sign_raw(
        r#"{"alg":"ES256","kid":"k1","typ":["at+jwt"]}"#,
        &claims.to_string(),
    );
    fx.assert_rejected(&raw, "typ as an array").await;
    assert_eq!(fx.ran(), 0);
    // Media-type comparison: case-insensitive, the `application/` prefix optional.
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let token = key.sign_with(typed(&key, Some(typ)), &claims);
        fx.assert_accepted(&token, typ).await;
        assert_eq!(write(&fx, &token).await, 200, "{typ}");
    }
}

#[tokio::test]
async fn untyped_tokens_need_an_opt_in_that_still_refuses_id_tokens() {
    let key = TestKey::rsa("k1");
    let fx = Fixture::start_with(
        Issuer::start(&[&key]).await,
        |b| b.allow_untyped_tokens(true),
        |s| s,
    )
    .await;
    let claims = fx.claims("things:read");
    for typ in [None, Some("JWT"), Some("jwt"), Some("at+jwt")] {
        let token = key.sign_with(typed(&key, typ), &claims);
        fx.assert_accepted(&token, &format!("{typ:?}")).await;
    }
    // Every other explicit type stays refused.
    let other_types = [
        "dpop+jwt",
        "logout+jwt",
        "secevent+jwt",
        "id_token+jwt",
        "foo",
    ];
    for typ in other_types {
        let token = key.sign_with(typed(&key, Some(typ)), &claims);
        fx.assert_rejected(&token, typ).await;
    }
    // ID tokens the issuer signed for a client whose id is this resource's URI.
    let id_token = |extra: Value| {
        let mut claims = fx.claims("things:read");
        patch(&mut claims, &extra);
        claims
    };
    for (why, extra) in [
        ("nonce", json!({ "nonce": "n-1" })),
        ("at_hash", json!({ "at_hash": "x" })),
        ("c_hash", json!({ "c_hash": "x" })),
        ("s_hash", json!({ "s_hash": "x" })),
        (
            "auth_time without scope",
            json!({ "auth_time": at(-10), "scope": null }),
        ),
        ("Keycloak ID typ claim", json!({ "typ": "ID" })),
        ("Keycloak Refresh typ claim", json!({ "typ": "Refresh" })),
        ("typ claim of another JSON type", json!({ "typ": 1 })),
    ] {
        for typ in [None, Some("JWT")] {
            let token = key.sign_with(typed(&key, typ), &id_token(extra.clone()));
            fx.assert_rejected(&token, &format!("{why}, typ {typ:?}"))
                .await;
        }
    }
    // Access tokens with `auth_time` and a scope, or Keycloak's `typ: Bearer`, are fine.
    for extra in [json!({ "auth_time": at(-10) }), json!({ "typ": "Bearer" })] {
        let token = key.sign_with(typed(&key, Some("JWT")), &id_token(extra.clone()));
        fx.assert_accepted(&token, &extra.to_string()).await;
    }
}

#[tokio::test]
async fn id_token_claims_are_refused_even_in_typed_tokens() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    for claim in ["nonce", "at_hash", "c_hash", "s_hash"] {
        fx.assert_rejected(&fx.signed(&key, json!({ claim: "x" })), claim)
            .await;
    }
}

/// A server without DPoP (the default) refuses every key-bound token as it refuses any
/// invalid one: the verifier reads a lone `cnf.jkt` into the identity and refuses any other
/// `cnf`, and the bearer layer refuses the bound identity. (With DPoP on, see the `dpop`
/// tests.)
#[tokio::test]
async fn sender_constrained_tokens_are_not_bearer_tokens() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    for cnf in [
        json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }),
        json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
        json!({}),
        json!(null),
        json!("jkt"),
    ] {
        let mut claims = fx.claims("things:read things:write");
        claims["cnf"] = cnf.clone();
        let token = key.sign(&claims);
        fx.assert_rejected(&token, &format!("cnf {cnf}")).await;
        assert_eq!(write(&fx, &token).await, 401);
    }
    assert_eq!(fx.ran(), 0);
}

#[tokio::test]
async fn tokens_that_name_nobody_are_refused() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    for (why, changes) in [
        (
            "neither sub nor client_id",
            json!({ "sub": null, "client_id": null }),
        ),
        (
            "empty sub and client_id",
            json!({ "sub": "", "client_id": "" }),
        ),
        (
            "empty sub and azp",
            json!({ "client_id": null, "sub": "", "azp": "" }),
        ),
    ] {
        fx.assert_rejected(&fx.signed(&key, changes), why).await;
    }
    // A client acting for itself (client credentials) names a client only.
    let body = fx
        .assert_accepted(&fx.signed(&key, json!({ "sub": null })), "client only")
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"],
        "- via client-1 in acme"
    );
}

#[tokio::test]
async fn principals_with_separators_in_claims_do_not_share_sessions() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    let token =
        |sub: &str, client: &str| fx.signed(&key, json!({ "sub": sub, "client_id": client }));
    // Under a key that joined `sub` and `client_id` with NUL these two were one caller.
    for (first, second) in [
        (token("a\u{0}b", "c"), token("a", "b\u{0}c")),
        (token("a\",\"b", "c"), token("a", "b\",\"c")),
    ] {
        let alice = Client::new(fx.addr, Some(&first));
        assert_eq!(alice.initialize().await, 200);
        let session = alice.session.lock().unwrap().clone().unwrap();
        let mallory = Client::without_session(fx.addr, Some(&second));
        *mallory.session.lock().unwrap() = Some(session);
        let (status, _, _) = mallory.call("read_thing", json!({})).await;
        assert_eq!(status, 404, "a look-alike principal used another's session");
        assert_eq!(alice.call("read_thing", json!({})).await.0, 200);
    }
    // The tenant is part of the principal too.
    let mut acme = fx.claims("things:read");
    acme["tenant"] = json!("acme");
    let mut globex = acme.clone();
    globex["tenant"] = json!("globex");
    let alice = Client::new(fx.addr, Some(&key.sign(&acme)));
    assert_eq!(alice.initialize().await, 200);
    let other = Client::without_session(fx.addr, Some(&key.sign(&globex)));
    *other.session.lock().unwrap() = alice.session.lock().unwrap().clone();
    assert_eq!(other.call("read_thing", json!({})).await.0, 404);
}

#[tokio::test]
async fn audiences_with_userinfo_or_that_need_repair_never_match() {
    let key = TestKey::es256("k1");
    let fx = Fixture::start(&[&key]).await;
    let host = fx
        .resource
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    for aud in [
        format!("http://:pw@{host}/mcp"),
        format!("http://@{host}/mcp"),
        format!("http://user@{host}/mcp"),
        format!("http://user:pw@{host}/mcp"),
        format!("http://{host}\\mcp"),
        format!("http:\\\\{host}/mcp"),
        format!(" http://{host}/mcp"),
        format!("http://{host}/mcp "),
        format!("http://{host}/mcp\t"),
        format!("\nhttp://{host}/mcp"),
        format!("http://{host}/m%63p%"),
        format!("HTTP://{host}\\MCP"),
    ] {
        let mut claims = fx.claims("things:read");
        claims["aud"] = json!(aud);
        fx.assert_rejected(&key.sign(&claims), &format!("aud {aud:?}"))
            .await;
        claims["aud"] = json!(["https://other.example/mcp", aud]);
        fx.assert_rejected(&key.sign(&claims), &format!("aud [.., {aud:?}]"))
            .await;
    }
    assert_eq!(fx.ran(), 0);
}
