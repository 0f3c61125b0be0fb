//! Scopes and identity: step-up challenges, the protected-resource metadata, scope claims and
//! hierarchies, and the claims mapped into `AuthInfo`.

use super::*;

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
        fx.challenge(
            "error=\"insufficient_scope\", scope=\"things:write\", \
             error_description=\"the request requires higher privileges than provided by the access token\""
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
    let fx = Fixture::with_server(&key, |s| s.resource_name("Things")).await;
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
        fx.challenge("scope=\"things:read things:write\"")
    );
}

#[tokio::test]
async fn baseline_scopes_replace_the_advertised_set() {
    let key = TestKey::es256("k");
    let fx = Fixture::with_server(&key, |s| s.baseline_scopes(["things:read"])).await;
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

    let fx = Fixture::with_server(&key, |s| {
        s.scope_policy(ScopePolicy::hierarchical())
            .filter_tools_by_scope(true)
    })
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
