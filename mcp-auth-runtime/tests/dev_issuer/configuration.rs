//! The issuer's documents and its builder: metadata, issuers with a path, the configuration
//! it refuses, and persisted keys.

use super::*;
use mcp_auth_test_support::get_json;

#[tokio::test]
async fn metadata_documents_list_exactly_the_advertised_fields() {
    let fx = Fixture::start(|b| b).await;
    let o = &fx.origin;
    let expected = json!({
        "issuer": o,
        "authorization_endpoint": format!("{o}/authorize"),
        "token_endpoint": format!("{o}/token"),
        "registration_endpoint": format!("{o}/register"),
        "jwks_uri": format!("{o}/jwks"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported":
            ["ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"],
    });
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = fx.http.get(fx.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let document: Value = response.json().await.unwrap();
        assert_eq!(document, expected, "{path}");
    }

    let jwks: Value = get_json(&fx.http, fx.url("/jwks")).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], fx.issuer.kid());
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "never the private key");
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_under_it_and_is_discoverable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer_url = format!("http://{addr}/dev");
    let resource = format!("http://{addr}/mcp");
    let issuer = DevIssuer::builder(&issuer_url)
        .resource(&resource)
        .scopes(SCOPES)
        .build()
        .unwrap();
    serve(listener, issuer.router());

    let http = http_client();
    for path in [
        "/.well-known/oauth-authorization-server/dev",
        "/.well-known/openid-configuration/dev",
        "/dev/.well-known/openid-configuration",
    ] {
        let document: Value = get_json(&http, format!("http://{addr}{path}")).await;
        assert_eq!(document["issuer"], issuer_url, "{path}");
        assert_eq!(document["token_endpoint"], format!("{issuer_url}/token"));
    }
    let token = issuer
        .mint(MintRequest {
            subject: "alice".into(),
            ..MintRequest::default()
        })
        .unwrap();
    let verifier = JwtVerifier::builder(&issuer_url, &resource)
        .build()
        .unwrap();
    let auth = verifier.verify(&token).await.unwrap();
    assert_eq!(auth.issuer(), Some(issuer_url.as_str()));
}

#[test]
fn builder_refuses_a_non_loopback_issuer() {
    for url in [
        "http://example.com",
        "https://auth.example.com",
        "http://0.0.0.0:8080",
        "http://192.168.1.20:8080",
        "http://[::]:8080",
        "http://localhost.example.com",
    ] {
        let err = DevIssuer::builder(url)
            .resource("http://127.0.0.1:8080/mcp")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, DevIssuerError::NotLoopback(_)),
            "{url}: {err}"
        );
        assert!(err.to_string().contains("loopback only"), "{err}");
    }
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:8080/",
        "http://[::1]:8080",
    ] {
        DevIssuer::builder(url)
            .resource("http://127.0.0.1:8080/mcp")
            .build()
            .unwrap();
    }
}

#[test]
fn builder_refuses_incomplete_or_invalid_configuration() {
    let base = || DevIssuer::builder("http://127.0.0.1:8080");
    assert!(matches!(
        base().build().unwrap_err(),
        DevIssuerError::NoResource
    ));
    assert!(matches!(
        base().resource("/mcp").build().unwrap_err(),
        DevIssuerError::InvalidResource(_)
    ));
    assert!(matches!(
        base()
            .resource("http://127.0.0.1:8080/mcp")
            .scopes(["invoices read"])
            .build()
            .unwrap_err(),
        DevIssuerError::InvalidScope(_)
    ));
    assert!(matches!(
        base()
            .resource("http://127.0.0.1:8080/mcp")
            .signing_key_pkcs8(b"not a key".to_vec())
            .build()
            .unwrap_err(),
        DevIssuerError::InvalidKey
    ));
    assert!(matches!(
        base()
            .resource("http://127.0.0.1:8080/mcp")
            .token_lifetime(std::time::Duration::ZERO)
            .build()
            .unwrap_err(),
        DevIssuerError::InvalidLifetime
    ));
    for origin in [
        "*",
        "null",
        "localhost:6274",
        "http://localhost:6274/oauth/callback",
        "http://user@localhost:6274",
    ] {
        let err = base()
            .resource("http://127.0.0.1:8080/mcp")
            .cors_origin("http://localhost:6274")
            .cors_origin(origin)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, DevIssuerError::InvalidCorsOrigin(_)),
            "{origin}: {err}"
        );
    }
}

#[test]
fn a_persisted_key_keeps_its_kid_and_debug_output_hides_it() {
    let first = DevIssuer::builder("http://127.0.0.1:8080")
        .resource("http://127.0.0.1:8080/mcp")
        .build()
        .unwrap();
    let key = first.key_pkcs8().to_vec();
    let builder = DevIssuer::builder("http://127.0.0.1:8080")
        .resource("http://127.0.0.1:8080/mcp")
        .signing_key_pkcs8(key.clone());
    let debug = format!("{builder:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    let second = builder.build().unwrap();
    assert_eq!(first.kid(), second.kid());
    assert_eq!(first.jwks(), second.jwks());
    let key_bytes = format!("{key:?}");
    let key_b64 = URL_SAFE_NO_PAD.encode(&key);
    for debug in [format!("{first:?}"), format!("{second:?}")] {
        assert!(!debug.contains(&key_bytes[1..20]), "{debug}");
        assert!(!debug.contains(&key_b64[..16]), "{debug}");
    }
}
