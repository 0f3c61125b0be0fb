//! What an introspection response must say for the token to be accepted, and how the
//! resource server authenticates to the endpoint.

use super::*;

#[tokio::test]
async fn active_token_becomes_auth_info() {
    let endpoint = TestAs::active_token("tok-alice", json!({})).await;
    let verifier = endpoint.verifier_with(|b| b.issuer(ISSUER).tenant_claim("tenant"));
    let auth = verifier.verify("tok-alice").await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.client_id(), Some("billing-app"));
    assert_eq!(auth.scopes(), ["x:read", "invoices:read"]);
    assert_eq!(auth.tenant(), Some("acme"));
    assert_eq!(auth.issuer(), Some(ISSUER));
    assert_eq!(auth.audience(), [RESOURCE]);
    assert!(auth.expires_at().unwrap() > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(auth.claims()["token_type"], "Bearer");
    assert_eq!(endpoint.hits(), 1);
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_body() {
    let endpoint = TestAs::start(ClientAuth::Post, [("tok", Reply::Json(active(json!({}))))]).await;
    let auth = endpoint
        .verifier()
        .build()
        .unwrap()
        .verify("tok")
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some("alice"));

    // The endpoint accepts one method only, so a mismatch is a misconfiguration: 503.
    let basic = IntrospectionVerifier::builder(&endpoint.url, RESOURCE)
        .client_credentials(CLIENT_ID, SECRET, ClientAuth::Basic)
        .build()
        .unwrap();
    assert!(is_unavailable(basic.verify("tok").await));
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn scp_arrays_map_to_scopes() {
    let endpoint = TestAs::active_token("tok", json!({ "scp": ["x:read", "x:write"] })).await;
    let verifier = endpoint.verifier_with(|b| b.scope_claim(ScopeClaim::Scp));
    assert_eq!(
        verifier.verify("tok").await.unwrap().scopes(),
        ["x:read", "x:write"]
    );
}

#[tokio::test]
async fn inactive_tokens_are_invalid_and_remembered_briefly() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("inactive", Reply::Json(json!({ "active": false }))),
            (
                "string-true",
                Reply::Json(active(json!({ "active": "true" }))),
            ),
            ("no-active", Reply::Json(active(json!({ "active": null })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier_with(|b| b.negative_cache_ttl(Duration::from_millis(500)));
    for token in ["inactive", "string-true", "no-active", "unknown"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    assert_eq!(endpoint.hits(), 4);
    assert!(is_invalid(verifier.verify("inactive").await));
    assert_eq!(endpoint.hits(), 4, "remembered");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(is_invalid(verifier.verify("inactive").await));
    assert_eq!(endpoint.hits(), 5, "asked again after the TTL");

    let forgetful = endpoint.verifier_with(|b| b.negative_cache_ttl(Duration::ZERO));
    for _ in 0..2 {
        assert!(is_invalid(forgetful.verify("inactive").await));
    }
    assert_eq!(endpoint.hits(), 7, "a zero TTL remembers nothing");
}

#[tokio::test]
async fn a_refusal_is_not_remembered_past_the_tokens_nbf() {
    let nbf = now() + 2;
    let endpoint = TestAs::active_token("early", json!({ "nbf": nbf })).await;
    let verifier = endpoint.verifier_with(|b| {
        b.leeway(Duration::ZERO)
            .negative_cache_ttl(Duration::from_secs(60))
    });
    assert!(is_invalid(verifier.verify("early").await), "not yet valid");
    assert!(is_invalid(verifier.verify("early").await));
    assert_eq!(endpoint.hits(), 1, "remembered until nbf");
    let nbf = UNIX_EPOCH + Duration::from_secs(nbf);
    let wait = nbf.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    assert_eq!(
        verifier.verify("early").await.unwrap().subject(),
        Some("alice")
    );
    assert_eq!(endpoint.hits(), 2);
}

#[tokio::test]
async fn audience_must_name_this_resource() {
    // RESOURCE in another spelling of the same canonical form.
    const OURS: &str = "HTTPS://MCP.example.com:443/mcp/";
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "other",
                Reply::Json(active(json!({ "aud": "https://other.example.com/mcp" }))),
            ),
            ("none", Reply::Json(active(json!({ "aud": null })))),
            ("empty", Reply::Json(active(json!({ "aud": [] })))),
            (
                "prefix",
                Reply::Json(active(json!({ "aud": "https://mcp.example.com/mcp2" }))),
            ),
            ("number", Reply::Json(active(json!({ "aud": 7 })))),
            (
                "array",
                Reply::Json(active(
                    json!({ "aud": ["https://other.example.com", OURS] }),
                )),
            ),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["other", "none", "empty", "prefix", "number"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    let auth = verifier.verify("array").await.unwrap();
    assert_eq!(auth.audience().len(), 2);
}

#[tokio::test]
async fn issuer_must_match_exactly_when_configured() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            ("right", Reply::Json(active(json!({})))),
            (
                "wrong",
                Reply::Json(active(json!({ "iss": "https://evil.example.com" }))),
            ),
            (
                "slash",
                Reply::Json(active(json!({ "iss": "https://auth.example.com/" }))),
            ),
            ("missing", Reply::Json(active(json!({ "iss": null })))),
        ],
    )
    .await;
    let pinned = endpoint.verifier().issuer(ISSUER).build().unwrap();
    assert!(pinned.verify("right").await.is_ok());
    for token in ["wrong", "slash", "missing"] {
        assert!(is_invalid(pinned.verify(token).await), "{token}");
    }
    let unpinned = endpoint.verifier().build().unwrap();
    assert!(unpinned.verify("wrong").await.is_ok());
    assert!(unpinned.verify("missing").await.is_ok());
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_invalid() {
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "expired",
                Reply::Json(active(json!({ "exp": now() - 3600 }))),
            ),
            (
                "just-expired",
                Reply::Json(active(json!({ "exp": now() - 10 }))),
            ),
            (
                "future",
                Reply::Json(active(json!({ "nbf": now() + 3600 }))),
            ),
            (
                "exp-string",
                Reply::Json(active(json!({ "exp": "tomorrow" }))),
            ),
            ("exp-huge", Reply::Json(active(json!({ "exp": u64::MAX })))),
            ("no-exp", Reply::Json(active(json!({ "exp": null })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["expired", "future", "exp-string", "exp-huge"] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
    // Within the default 60 s leeway.
    assert!(verifier.verify("just-expired").await.is_ok());
    assert!(verifier.verify("no-exp").await.is_ok());
    let strict = endpoint.verifier().leeway(Duration::ZERO).build().unwrap();
    assert!(is_invalid(strict.verify("just-expired").await));
}

/// A DPoP-bound token (`cnf.jkt`, RFC 9449 §6.2) is valid here, with its key's thumbprint in
/// the identity (the bearer layer then asks for a proof, or refuses it when DPoP is off: see
/// the `dpop` tests); any other binding, a `token_type` that contradicts the binding, and
/// ill-typed members are not.
#[tokio::test]
async fn bound_and_ill_typed_responses() {
    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let endpoint = TestAs::start(
        ClientAuth::Basic,
        [
            (
                "dpop",
                Reply::Json(active(json!({ "cnf": { "jkt": JKT }, "token_type": "DPoP" }))),
            ),
            (
                "dpop-untyped",
                Reply::Json(active(json!({ "cnf": { "jkt": JKT }, "token_type": null }))),
            ),
            (
                "dpop-typed-bearer",
                Reply::Json(active(json!({ "cnf": { "jkt": JKT } }))),
            ),
            (
                "typed-dpop-unbound",
                Reply::Json(active(json!({ "token_type": "DPoP" }))),
            ),
            (
                "mtls",
                Reply::Json(active(
                    json!({ "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
                )),
            ),
            (
                "jkt-and-mtls",
                Reply::Json(active(json!({
                    "cnf": { "jkt": JKT, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" },
                    "token_type": "DPoP",
                }))),
            ),
            (
                "jkt-short",
                Reply::Json(active(json!({ "cnf": { "jkt": "x" }, "token_type": "DPoP" }))),
            ),
            (
                "scope-array",
                Reply::Json(active(json!({ "scope": ["x:read"] }))),
            ),
            ("sub-number", Reply::Json(active(json!({ "sub": 42 })))),
        ],
    )
    .await;
    let verifier = endpoint.verifier().build().unwrap();
    for token in ["dpop", "dpop-untyped"] {
        let auth = verifier.verify(token).await.unwrap();
        assert_eq!(auth.dpop_thumbprint(), Some(JKT), "{token}");
    }
    let auth = verifier.verify("typed-dpop-unbound").await;
    assert!(is_invalid(auth), "a DPoP token_type without cnf.jkt");
    for token in [
        "dpop-typed-bearer",
        "mtls",
        "jkt-and-mtls",
        "jkt-short",
        "scope-array",
        "sub-number",
    ] {
        assert!(is_invalid(verifier.verify(token).await), "{token}");
    }
}

#[tokio::test]
async fn mcp_server_checks_introspected_tokens_and_their_scopes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let reply = |changes: Value| {
        let mut response = active(changes);
        response["aud"] = json!(resource);
        Reply::Json(response)
    };
    let endpoint = TestAs::start(
        ClientAuth::Post,
        [
            ("reader", reply(json!({}))),
            (
                "stranger",
                reply(json!({ "sub": "bob", "scope": "y:read" })),
            ),
            ("inactive", Reply::Json(json!({ "active": false }))),
        ],
    )
    .await;
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .client_credentials(CLIENT_ID, SECRET, ClientAuth::Post)
        .issuer(ISSUER)
        .build()
        .unwrap();
    serve_x(listener, &resource, verifier, |b| b);

    let (status, _, body) = mcp_auth_test_support::Client::new(addr, Some("reader"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["content"][0]["text"], "x for alice");

    let (status, challenge, _) = mcp_auth_test_support::Client::new(addr, Some("stranger"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 403);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"x:read\""), "{challenge}");

    let (status, challenge, _) = mcp_auth_test_support::Client::new(addr, Some("inactive"))
        .call("read_x", json!({}))
        .await;
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
