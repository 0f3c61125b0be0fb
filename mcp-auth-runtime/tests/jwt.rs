//! The JWT resource server over real HTTP: tokens signed with keys generated here, keys served
//! by an issuer on loopback, requests sent to a running `McpServer`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::auth::{JwtVerifier, JwtVerifierBuilder, ScopeClaim};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{ScopePolicy, TokenVerifier};
use mcp_auth_test_support::issuer::{Issuer, TestKey, at, claims};
use mcp_auth_test_support::{Client, bind, serve_on};
use serde_json::{Value, json};

/// Counts the tool bodies that ran, so every refusal can assert that none did.
#[derive(Clone, Default)]
struct Ran(Arc<AtomicUsize>);

/// Read a thing.
#[tool(scope = "things:read", read_only)]
async fn read_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{} via {} in {}",
        ctx.auth().subject().unwrap_or("-"),
        ctx.auth().client_id().unwrap_or("-"),
        ctx.auth().tenant().unwrap_or("-")
    ))
}

/// Write a thing.
#[tool(scope = "things:write")]
async fn write_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("written".into())
}

struct Fixture {
    issuer: Issuer,
    resource: String,
    addr: std::net::SocketAddr,
    ran: Ran,
}

impl Fixture {
    async fn start(keys: &[&TestKey]) -> Fixture {
        Fixture::start_with(Issuer::start(keys).await, |b| b, |s| s).await
    }

    async fn start_with(
        issuer: Issuer,
        verifier: impl FnOnce(JwtVerifierBuilder) -> JwtVerifierBuilder,
        server: impl FnOnce(mcp_auth_runtime::McpServerBuilder) -> mcp_auth_runtime::McpServerBuilder,
    ) -> Fixture {
        let listener = bind().await;
        let addr = listener.local_addr().unwrap();
        let resource = format!("http://{addr}/mcp");
        let jwt = verifier(
            JwtVerifier::builder(issuer.url.clone(), resource.clone())
                .tenant_claim("tenant")
                .refetch_interval(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
        let ran = Ran::default();
        let builder = McpServer::builder("things", "1.0.0")
            .tools(tools![read_thing, write_thing])
            .state(ran.clone())
            .resource(resource.clone())
            .authorization_server(issuer.url.clone())
            .verifier(jwt);
        let server = server(builder).build().unwrap();
        serve_on(listener, server.into_router());
        Fixture {
            issuer,
            resource,
            addr,
            ran,
        }
    }

    fn claims(&self, scope: &str) -> Value {
        claims(&self.issuer.url, &self.resource, scope)
    }

    /// Calls `read_thing` with `token`; returns the status, the challenge and the body.
    async fn read(&self, token: &str) -> (u16, Option<String>, Value) {
        Client::new(self.addr, Some(token))
            .call("read_thing", json!({}))
            .await
    }

    fn ran(&self) -> usize {
        self.ran.0.load(Ordering::SeqCst)
    }

    fn invalid_token_challenge(&self) -> String {
        format!(
            "Bearer realm=\"things\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\", \
             error=\"invalid_token\", error_description=\"the access token is invalid or expired\"",
            self.addr
        )
    }

    /// Asserts `token` is refused with `401 invalid_token` and that no tool ran.
    async fn assert_rejected(&self, token: &str, why: &str) {
        let before = self.ran();
        let (status, challenge, _) = self.read(token).await;
        assert_eq!(status, 401, "{why}");
        assert_eq!(
            challenge.as_deref(),
            Some(self.invalid_token_challenge().as_str()),
            "{why}"
        );
        assert_eq!(self.ran(), before, "{why}: a tool ran");
    }

    async fn assert_accepted(&self, token: &str, why: &str) -> Value {
        let (status, _, body) = self.read(token).await;
        assert_eq!(status, 200, "{why}: {body}");
        body
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

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
async fn time_claims_are_checked_with_leeway() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = fx.claims("things:read");
        f(&mut c);
        key.sign(&c)
    };
    fx.assert_rejected(&with(&|c| c["exp"] = at(-120).into()), "expired")
        .await;
    fx.assert_accepted(
        &with(&|c| c["exp"] = at(-30).into()),
        "expired within leeway",
    )
    .await;
    fx.assert_rejected(&with(&|c| c["nbf"] = at(300).into()), "not yet valid")
        .await;
    fx.assert_accepted(&with(&|c| c["nbf"] = at(30).into()), "nbf within leeway")
        .await;
    fx.assert_rejected(
        &with(&|c| c["iat"] = at(300).into()),
        "issued in the future",
    )
    .await;
    fx.assert_rejected(
        &with(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        "no exp",
    )
    .await;
    fx.assert_rejected(&with(&|c| c["exp"] = "tomorrow".into()), "exp not a number")
        .await;
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    for iss in [
        format!("{}/", fx.issuer.url),
        format!("{}/realms/other", fx.issuer.url),
        "https://evil.example".to_owned(),
    ] {
        let mut c = fx.claims("things:read");
        c["iss"] = iss.clone().into();
        fx.assert_rejected(&key.sign(&c), &iss).await;
    }
    let mut c = fx.claims("things:read");
    c.as_object_mut().unwrap().remove("iss");
    fx.assert_rejected(&key.sign(&c), "no iss").await;
}

#[tokio::test]
async fn audience_must_name_this_resource_in_canonical_form() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let token = |aud: Value| {
        let mut c = fx.claims("things:read");
        c["aud"] = aud;
        key.sign(&c)
    };
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
    ] {
        fx.assert_rejected(&token(aud.clone()), &aud.to_string())
            .await;
    }
    let mut c = fx.claims("things:read");
    c.as_object_mut().unwrap().remove("aud");
    fx.assert_rejected(&key.sign(&c), "no aud").await;
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
    let fx = Fixture::start_with(issuer, |b| b.algorithms([Algorithm::RS256]), |s| s).await;
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
        .algorithms([Algorithm::HS256])
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

#[tokio::test]
async fn rotated_keys_are_picked_up_after_one_refetch() {
    let old = TestKey::es256("old");
    let new = TestKey::ed25519("new");
    let fx = Fixture::start(&[&old]).await;
    fx.assert_accepted(&old.sign(&fx.claims("things:read")), "old key")
        .await;
    assert_eq!(fx.issuer.jwks_hits(), 1);

    fx.issuer.set_keys(&[old.jwk.clone(), new.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    fx.assert_accepted(
        &new.sign(&fx.claims("things:read")),
        "new key after rotation",
    )
    .await;
    assert_eq!(fx.issuer.jwks_hits(), 2);

    // The old key is retired; a token signed with it no longer verifies once the set is
    // refetched (here, by a token with an unknown kid).
    fx.issuer.set_keys(std::slice::from_ref(&new.jwk));
    tokio::time::sleep(Duration::from_millis(350)).await;
    fx.assert_rejected(
        &TestKey::es256("unknown").sign(&fx.claims("things:read")),
        "unknown kid",
    )
    .await;
    assert_eq!(fx.issuer.jwks_hits(), 3);
    fx.assert_rejected(&old.sign(&fx.claims("things:read")), "retired key")
        .await;
    fx.assert_accepted(&new.sign(&fx.claims("things:read")), "current key")
        .await;
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_refetch() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    fx.assert_accepted(&key.sign(&fx.claims("things:read")), "warm")
        .await;
    let hits = fx.issuer.jwks_hits();
    // Signed before the refetch interval starts, so that the flood fits in one interval
    // however slow signing is on a loaded machine.
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            key.with_kid(&format!("random-{i}"))
                .sign(&fx.claims("things:read"))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(350)).await;

    let client = reqwest::Client::new();
    let url = format!("http://{}/mcp", fx.addr);
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string();
    let requests = tokens.into_iter().map(|token| {
        client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    });
    let statuses: Vec<u16> = futures_join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(
        fx.issuer.jwks_hits() - hits <= 1,
        "{} fetches",
        fx.issuer.jwks_hits() - hits
    );
}

/// Runs the requests concurrently on this task.
async fn futures_join_all<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().unwrap().status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn an_unreachable_key_set_fails_closed_then_recovers() {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    issuer.set_down(true);
    let fx = Fixture::start_with(issuer, |b| b, |s| s).await;
    let token = key.sign(&fx.claims("things:read"));
    let (status, _, body) = fx.read(&token).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(fx.ran(), 0);

    fx.issuer.set_down(false);
    fx.issuer.set_garbage(true);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, _, _) = fx.read(&token).await;
    assert_eq!(status, 503, "a key set that is not JSON");

    fx.issuer.set_garbage(false);
    fx.issuer.set_keys(&[]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, _, _) = fx.read(&token).await;
    assert_eq!(status, 503, "an empty key set");

    fx.issuer.set_keys(std::slice::from_ref(&key.jwk));
    tokio::time::sleep(Duration::from_millis(350)).await;
    fx.assert_accepted(&token, "recovered").await;
}

#[tokio::test]
async fn a_slow_key_set_is_bounded_by_the_timeout() {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    issuer.set_delay(Duration::from_secs(3));
    let fx = Fixture::start_with(issuer, |b| b.timeout(Duration::from_millis(200)), |s| s).await;
    let started = std::time::Instant::now();
    let (status, _, _) = fx.read(&key.sign(&fx.claims("things:read"))).await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn insufficient_scope_is_a_403_step_up_challenge() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let reader = key.sign(&fx.claims("things:read"));
    let (status, challenge, body) = Client::new(fx.addr, Some(&reader))
        .call("write_thing", json!({}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.unwrap(),
        format!(
            "Bearer realm=\"things\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\", \
             error=\"insufficient_scope\", scope=\"things:write\", \
             error_description=\"the request requires higher privileges than provided by the access token\"",
            fx.addr
        )
    );
    assert_eq!(
        body["error"]["data"]["requiredScopes"],
        json!(["things:write"])
    );
    assert_eq!(fx.ran(), 0);
    let writer = key.sign(&fx.claims("things:read things:write"));
    let (status, _, _) = Client::new(fx.addr, Some(&writer))
        .call("write_thing", json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn protected_resource_metadata_is_derived_from_the_tools() {
    let key = TestKey::es256("k");
    let fx = Fixture::start_with(
        Issuer::start(&[&key]).await,
        |b| b,
        |s| s.resource_name("Things"),
    )
    .await;
    let expected = json!({
        "resource": fx.resource,
        "authorization_servers": [fx.issuer.url],
        "scopes_supported": ["things:read", "things:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Things"
    });
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", fx.addr))
            .header("origin", "https://inspector.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.json::<Value>().await.unwrap(), expected, "{path}");
    }
    // Without a token: 401 naming the metadata and every advertised scope.
    let (status, challenge, _) = Client::new(fx.addr, None)
        .request("initialize", json!({}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.unwrap(),
        format!(
            "Bearer realm=\"things\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\", \
             scope=\"things:read things:write\"",
            fx.addr
        )
    );
}

#[tokio::test]
async fn baseline_scopes_replace_the_advertised_set() {
    let key = TestKey::es256("k");
    let fx = Fixture::start_with(
        Issuer::start(&[&key]).await,
        |b| b,
        |s| s.baseline_scopes(["things:read"]),
    )
    .await;
    let document: Value = reqwest::get(format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        fx.addr
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(document["scopes_supported"], json!(["things:read"]));
    let (_, challenge, _) = Client::new(fx.addr, None).request("ping", json!({})).await;
    assert!(challenge.unwrap().ends_with("scope=\"things:read\""));
}

#[tokio::test]
async fn scp_claims_as_arrays_are_read_when_configured() {
    let key = TestKey::rsa("k");
    let fx = Fixture::start_with(
        Issuer::start(&[&key]).await,
        |b| b.scope_claim(ScopeClaim::Scp),
        |s| s,
    )
    .await;
    let mut c = fx.claims("");
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["things:read"]);
    fx.assert_accepted(&key.sign(&c), "scp array").await;
    c["scp"] = json!("things:read other");
    fx.assert_accepted(&key.sign(&c), "scp string").await;
    // `scope` is not consulted when `scp` is configured.
    c["scp"] = json!([]);
    c["scope"] = json!("things:read");
    let (status, _, _) = fx.read(&key.sign(&c)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn keycloak_shaped_tokens_from_a_realm_issuer_are_accepted() {
    let key = TestKey::rsa("kc-rsa");
    // Keycloak serves only `{issuer}/.well-known/openid-configuration`.
    let issuer = Issuer::start_with(&[&key], "/realms/master", true).await;
    // Keycloak types its access tokens `JWT` unless the client's "Use at+jwt as access token
    // header type" is on: the verifier must be told to accept that.
    let fx = Fixture::start_with(issuer, |b| b.allow_untyped_tokens(true), |s| s).await;
    assert!(fx.issuer.url.ends_with("/realms/master"));
    let token = key.sign_with(
        {
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some("kc-rsa".into());
            h.typ = Some("JWT".into());
            h
        },
        &json!({
            "exp": at(300),
            "iat": at(0),
            "jti": "onrtac:1",
            "iss": fx.issuer.url,
            "aud": fx.resource,
            "sub": "f3c2c1b0-user",
            "typ": "Bearer",
            "azp": "mcp-client",
            "sid": "5b1d-session",
            "acr": "1",
            "scope": "openid profile things:read email",
            "email_verified": false,
            "preferred_username": "alice",
            "tenant": "acme"
        }),
    );
    let body = fx.assert_accepted(&token, "keycloak token").await;
    assert_eq!(
        body["result"]["content"][0]["text"],
        "f3c2c1b0-user via mcp-client in acme"
    );
    // Without the opt-in, the same token is refused for its type.
    let strict = Issuer::start_with(&[&key], "/realms/master", true).await;
    let strict = Fixture::start_with(strict, |b| b, |s| s).await;
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims["iss"] = json!(strict.issuer.url);
    claims["aud"] = json!(strict.resource);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("kc-rsa".into());
    header.typ = Some("JWT".into());
    strict
        .assert_rejected(&key.sign_with(header, &claims), "typ JWT by default")
        .await;
}

#[tokio::test]
async fn verified_identity_carries_every_mapped_claim() {
    let key = TestKey::es256("k");
    let issuer = Issuer::start(&[&key]).await;
    let resource = "https://things.example.com/mcp";
    let verifier = JwtVerifier::builder(issuer.url.clone(), resource)
        .tenant_claim("tenant")
        .build()
        .unwrap();
    assert_eq!(verifier.warm_up().await.unwrap(), 1);
    let auth = verifier
        .verify(&key.sign(&claims(&issuer.url, resource, "things:read things:write")))
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some("user-1"));
    assert_eq!(auth.client_id(), Some("client-1"));
    assert_eq!(auth.scopes(), ["things:read", "things:write"]);
    assert_eq!(auth.tenant(), Some("acme"));
    assert_eq!(auth.issuer(), Some(issuer.url.as_str()));
    assert_eq!(auth.audience(), [resource]);
    assert!(auth.expires_at().is_some());
    assert_eq!(auth.claims()["jti"], "t-1");
}

#[tokio::test]
async fn scope_hierarchy_and_list_filtering_are_opt_in() {
    let key = TestKey::es256("k");
    let fx = Fixture::start(&[&key]).await;
    let writer = key.sign(&fx.claims("things:write"));
    let (status, _, _) = fx.read(&writer).await;
    assert_eq!(status, 403, "exact matching by default");
    let (_, _, body) = Client::new(fx.addr, Some(&writer))
        .request("tools/list", json!({}))
        .await;
    assert_eq!(
        body["result"]["tools"].as_array().unwrap().len(),
        2,
        "unfiltered by default"
    );

    let fx = Fixture::start_with(
        Issuer::start(&[&key]).await,
        |b| b,
        |s| {
            s.scope_policy(ScopePolicy::hierarchical())
                .filter_tools_by_scope(true)
        },
    )
    .await;
    let writer = key.sign(&fx.claims("things:write"));
    fx.assert_accepted(&writer, "write implies read").await;
    let reader = key.sign(&fx.claims("things:read"));
    let (_, _, body) = Client::new(fx.addr, Some(&reader))
        .request("tools/list", json!({}))
        .await;
    let names: Vec<_> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("read_thing")]);
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
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
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

/// A header of `key` with `typ` set to `typ` (or left out).
fn typed(key: &TestKey, typ: Option<&str>) -> Header {
    let mut header = key.header();
    header.typ = typ.map(str::to_owned);
    header
}

/// Calls `write_thing` (the tool that changes something) with `token`.
async fn write(fx: &Fixture, token: &str) -> u16 {
    Client::new(fx.addr, Some(token))
        .call("write_thing", json!({}))
        .await
        .0
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
    for typ in [
        "dpop+jwt",
        "logout+jwt",
        "secevent+jwt",
        "id_token+jwt",
        "foo",
    ] {
        let token = key.sign_with(typed(&key, Some(typ)), &claims);
        fx.assert_rejected(&token, typ).await;
    }
    // ID tokens the issuer signed for a client whose id is this resource's URI.
    let id_token = |extra: Value| {
        let mut claims = fx.claims("things:read");
        for (name, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
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
        let mut claims = fx.claims("things:read");
        claims[claim] = json!("x");
        fx.assert_rejected(&key.sign(&claims), claim).await;
    }
}

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
    let without = |remove: &[&str], set: Value| {
        let mut claims = fx.claims("things:read");
        for name in remove {
            claims.as_object_mut().unwrap().remove(*name);
        }
        for (name, value) in set.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    for (why, claims) in [
        (
            "neither sub nor client_id",
            without(&["sub", "client_id"], json!({})),
        ),
        (
            "empty sub and client_id",
            without(&[], json!({ "sub": "", "client_id": "" })),
        ),
        (
            "empty sub and azp",
            without(&["client_id"], json!({ "sub": "", "azp": "" })),
        ),
    ] {
        fx.assert_rejected(&key.sign(&claims), why).await;
    }
    // A client acting for itself (client credentials) names a client only.
    let body = fx
        .assert_accepted(&key.sign(&without(&["sub"], json!({}))), "client only")
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
    let token = |sub: &str, client: &str| {
        let mut claims = fx.claims("things:read");
        claims["sub"] = json!(sub);
        claims["client_id"] = json!(client);
        key.sign(&claims)
    };
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

#[test]
fn short_hmac_secrets_and_mismatched_resources_are_build_errors() {
    use mcp_auth_runtime::BuildError;
    use mcp_auth_runtime::auth::{JwtConfigError, MIN_HMAC_SECRET_LEN};
    let builder =
        || JwtVerifier::builder("https://auth.example.com", "https://mcp.example.com/mcp");
    for len in [0, 1, 16, MIN_HMAC_SECRET_LEN - 1] {
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
            .hmac_secret(vec![7u8; MIN_HMAC_SECRET_LEN])
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
