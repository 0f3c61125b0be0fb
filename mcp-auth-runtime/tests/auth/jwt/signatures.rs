//! Which signatures verify: the allow-listed algorithms with keys of the right type, never an
//! unsigned or algorithm-confused token, never a key the header points at.

use super::*;

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_are_accepted() {
    let keys = [
        TestKey::rsa("rsa-1"),
        TestKey::es256("ec-1"),
        TestKey::ed25519("ed-1"),
    ];
    let fx = Fixture::start(&keys.iter().collect::<Vec<_>>()).await;
    for key in &keys {
        let body = fx
            .assert_accepted(&key.sign(&fx.claims("things:read")), &key.kid)
            .await;
        assert_eq!(
            body["result"]["content"][0]["text"],
            "user-1 via client-1 in acme"
        );
    }
    assert_eq!(fx.ran(), 3);
    // Discovered once, fetched once, for all three.
    assert_eq!((fx.issuer.metadata_hits(), fx.issuer.jwks_hits()), (1, 1));
}

#[tokio::test]
async fn unsigned_and_algorithm_confused_tokens_are_rejected() {
    let key = TestKey::rsa("rsa-1");
    let fx = Fixture::start(&[&key]).await;
    let claims = fx.claims("things:read");

    // alg: none, with and without a trailing signature.
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims)
    );
    fx.assert_rejected(&none, "alg none").await;
    let none_kid = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "kid": "rsa-1" })),
        b64(&claims)
    );
    fx.assert_rejected(&none_kid, "alg none with kid").await;

    // HS256 with the RSA public key as the shared secret.
    use aws_lc_rs::signature::KeyPair as _;
    let public_der = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&key.der)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let forged =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public_der)).unwrap();
    fx.assert_rejected(&forged, "HS256 with the public key")
        .await;
    let n = match &key.jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => rsa.n.clone(),
        _ => unreachable!(),
    };
    let forged =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(n.as_bytes())).unwrap();
    fx.assert_rejected(&forged, "HS256 with the JWK modulus")
        .await;

    // Signature stripped, truncated, or from another key under the same kid.
    let good = key.sign(&claims);
    let (signed, _) = good.rsplit_once('.').unwrap();
    fx.assert_rejected(&format!("{signed}."), "signature stripped")
        .await;
    fx.assert_rejected(&good[..good.len() - 8], "signature truncated")
        .await;
    let impostor = TestKey::rsa("rsa-1");
    fx.assert_rejected(&impostor.sign(&claims), "another key, same kid")
        .await;

    // Claims tampered after signing.
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered = claims.clone();
    tampered["scope"] = "things:read things:write".into();
    fx.assert_rejected(
        &format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
        "claims tampered",
    )
    .await;

    fx.assert_accepted(&good, "the genuine token").await;
}

#[tokio::test]
async fn key_type_must_fit_the_algorithm() {
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::es256("ec-1");
    let fx = Fixture::start(&[&rsa, &ec]).await;
    let claims = fx.claims("things:read");
    // An ES256 token naming the RSA key's kid: the key cannot verify that algorithm.
    let mut header = ec.header();
    header.kid = Some("rsa-1".into());
    fx.assert_rejected(&ec.sign_with(header, &claims), "ES256 with an RSA kid")
        .await;
    // PS256 is allowed by default and verifies with the RSA key; RS384 is refused when the
    // JWK pins RS256.
    let mut header = rsa.header();
    header.alg = Algorithm::RS384;
    fx.assert_rejected(
        &rsa.sign_with(header, &claims),
        "RS384 with a key pinned to RS256",
    )
    .await;
}

#[tokio::test]
async fn only_the_allow_listed_algorithms_and_configured_secrets_verify() {
    let ec = TestKey::es256("ec-1");
    let issuer = Issuer::start(&[&ec]).await;
    let fx = Fixture::start_with(
        issuer,
        |b| b.algorithms([mcp_auth_runtime::auth::Algorithm::RS256]),
        |s| s,
    )
    .await;
    fx.assert_rejected(&ec.sign(&fx.claims("things:read")), "ES256 not allowed")
        .await;

    let issuer = Issuer::start(&[&ec]).await;
    let fx = Fixture::start_with(
        issuer,
        |b| b.hmac_secret(b"a shared secret of at least 32 bytes".to_vec()),
        |s| s,
    )
    .await;
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let claims = fx.claims("things:read");
    let good = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"a shared secret of at least 32 bytes"),
    )
    .unwrap();
    fx.assert_accepted(&good, "HS256 with the configured secret")
        .await;
    let bad = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(b"another secret"),
    )
    .unwrap();
    fx.assert_rejected(&bad, "HS256 with another secret").await;
    fx.assert_accepted(&ec.sign(&claims), "asymmetric tokens still verify")
        .await;

    let err = JwtVerifier::builder("https://a.example", "https://r.example/mcp")
        .algorithms([mcp_auth_runtime::auth::Algorithm::HS256])
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HMAC algorithms need an explicit `hmac_secret`"
    );
}

#[tokio::test]
async fn header_key_references_are_ignored_and_crit_is_refused() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let attacker = TestKey::es256("attacker");
    let attacker_issuer = Issuer::start(&[&attacker]).await;
    let claims = fx.claims("things:read");

    let mut header = attacker.header();
    header.jku = Some(attacker_issuer.jwks_url());
    fx.assert_rejected(&attacker.sign_with(header, &claims), "jku")
        .await;
    let mut header = attacker.header();
    header.x5u = Some(attacker_issuer.jwks_url());
    fx.assert_rejected(&attacker.sign_with(header, &claims), "x5u")
        .await;
    let mut header = attacker.header();
    header.jwk = Some(attacker.jwk.clone());
    fx.assert_rejected(&attacker.sign_with(header, &claims), "embedded jwk")
        .await;
    assert_eq!(
        attacker_issuer.jwks_hits(),
        0,
        "the attacker's key set was fetched"
    );

    let mut header = key.header();
    header.crit = Some(vec!["exp".into()]);
    fx.assert_rejected(&key.sign_with(header, &claims), "crit")
        .await;
}

#[test]
fn short_hmac_secrets_and_mismatched_resources_are_build_errors() {
    use mcp_auth_runtime::BuildError;
    use mcp_auth_runtime::auth::JwtConfigError;
    let builder =
        || JwtVerifier::builder("https://auth.example.com", "https://mcp.example.com/mcp");
    for len in [0, 1, 16, JwtVerifier::MIN_HMAC_SECRET_LEN - 1] {
        assert!(
            matches!(
                builder().hmac_secret(vec![7u8; len]).build(),
                Err(JwtConfigError::WeakHmacSecret(n)) if n == len
            ),
            "{len}"
        );
    }
    assert!(
        builder()
            .hmac_secret(vec![7u8; JwtVerifier::MIN_HMAC_SECRET_LEN])
            .build()
            .is_ok()
    );

    let server = |verifier_resource: &str, server_resource: &str| {
        let verifier = JwtVerifier::builder("https://auth.example.com", verifier_resource)
            .build()
            .unwrap();
        McpServer::builder("things", "1.0.0")
            .tools(tools![read_thing])
            .state(Ran::default())
            .resource(server_resource)
            .verifier(verifier)
            .build()
    };
    for (theirs, ours) in [
        (
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/other",
        ),
        ("https://mcp.example.com/mcp", "https://api.example.com/mcp"),
        (
            "https://mcp.example.com:8443/mcp",
            "https://mcp.example.com/mcp",
        ),
    ] {
        assert!(
            matches!(
                server(theirs, ours),
                Err(BuildError::ResourceMismatch { .. })
            ),
            "{theirs} vs {ours}"
        );
    }
    // The same resource in another spelling is the same resource.
    assert!(
        server(
            "https://MCP.example.com:443/mcp/",
            "https://mcp.example.com/mcp"
        )
        .is_ok()
    );
    // A resource with userinfo is a build error, for the server and the verifier.
    for resource in [
        "https://user@mcp.example.com/mcp",
        "https://:pw@mcp.example.com/mcp",
        "https://@mcp.example.com/mcp",
    ] {
        assert!(
            matches!(
                JwtVerifier::builder("https://auth.example.com", resource).build(),
                Err(JwtConfigError::InvalidResource(_))
            ),
            "{resource}"
        );
        let built = McpServer::builder("things", "1.0.0")
            .tools(tools![read_thing])
            .state(Ran::default())
            .resource(resource)
            .authorization_server("https://auth.example.com")
            .build();
        assert!(
            matches!(built, Err(BuildError::InvalidResource(_))),
            "{resource}"
        );
    }
}
