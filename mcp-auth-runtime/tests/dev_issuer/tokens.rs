//! The tokens it issues: refresh rotation, client credentials, resource indicators, and
//! verification by the resource server.

use super::*;

#[tokio::test]
async fn refresh_tokens_rotate_and_may_narrow_but_never_widen_the_scope() {
    let fx = Fixture::auto_consent().await;
    let (client_id, first) = fx.tokens(None, "invoices:read invoices:write").await;
    let refresh = |token: String, scope: Option<&'static str>| {
        let fx = &fx;
        let client_id = client_id.clone();
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", token),
                ("client_id", client_id),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fx.token(&form).await
        }
    };
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, narrowed) = refresh(rt1.clone(), Some("invoices:read")).await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "invoices:read");
    assert_eq!(
        claims(narrowed["access_token"].as_str().unwrap())["scope"],
        "invoices:read"
    );
    let rt2 = narrowed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "refresh tokens rotate");

    assert_oauth_error(
        refresh(rt2.clone(), Some("invoices:read payments:write")).await,
        400,
        "invalid_scope",
    );

    // The grant keeps its scope: a later refresh may use all of it again.
    let (status, full) = refresh(rt2.clone(), None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["scope"], "invoices:read invoices:write");
    let rt3 = full["refresh_token"].as_str().unwrap().to_owned();

    // A spent refresh token is refused, and revokes its family.
    assert_invalid_grant(refresh(rt1, None).await);
    assert_invalid_grant(refresh(rt3, None).await);
}

#[tokio::test]
async fn client_credentials_issue_tokens_to_confidential_clients() {
    let fx = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(Some("invoices:read")).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "invoices:read"),
        ("resource", fx.resource.as_str()),
    ];
    let (status, body) = fx.token_basic(&id, &secret, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read");
    assert!(body.get("refresh_token").is_none());
    let auth = fx
        .verifier()
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(auth.subject(), Some(id.as_str()));
    assert_eq!(auth.client_id(), Some(id.as_str()));

    // client_secret_post works as well.
    let mut post = form.to_vec();
    post.extend([
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ]);
    let (status, body) = fx.token(&post).await;
    assert_eq!(status, 200, "{body}");

    assert_oauth_error(
        fx.token_basic(&id, "wrong", &form).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(fx.token(&form).await, 401, "invalid_client");

    let public = fx.public_client(None).await;
    let mut as_public = form.to_vec();
    as_public.push(("client_id", public.as_str()));
    assert_oauth_error(fx.token(&as_public).await, 400, "unauthorized_client");
}

/// RFC 6749 §3.3: a machine client gets at most the scope it registered; asking for more is
/// `invalid_scope`, never a silent narrowing. Registered without a scope, it gets tokens
/// without one.
#[tokio::test]
async fn client_credentials_grant_no_scope_beyond_the_registered_one() {
    let fx = Fixture::start(|b| b).await;
    let verifier = fx.verifier();
    // (registered, requested, granted); `None` granted: refused with `invalid_scope`.
    let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
        (
            Some("invoices:read invoices:write"),
            None,
            Some("invoices:read invoices:write"),
        ),
        (
            Some("invoices:read invoices:write"),
            Some("invoices:write"),
            Some("invoices:write"),
        ),
        (
            Some("invoices:write invoices:read"),
            Some("invoices:read invoices:write"),
            Some("invoices:read invoices:write"),
        ),
        (
            Some("invoices:read invoices:write"),
            Some("invoices:read payments:write"),
            None,
        ),
        (
            Some("invoices:read invoices:write"),
            Some("payments:write"),
            None,
        ),
        (Some("invoices:read"), Some("admin:all"), None),
        // A registered scope the issuer does not know grants nothing.
        (Some("admin:all"), Some("admin:all"), None),
        (Some("admin:all invoices:read"), None, Some("invoices:read")),
        (None, None, Some("")),
        (None, Some("invoices:read"), None),
        (
            None,
            Some("invoices:read invoices:write payments:write"),
            None,
        ),
    ];
    for (registered, requested, granted) in cases {
        let (id, secret) = fx.machine_client(*registered).await;
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(requested) = requested {
            form.push(("scope", requested));
        }
        let (status, body) = fx.token_basic(&id, &secret, &form).await;
        let case = format!("registered {registered:?}, requested {requested:?}: {body}");
        match granted {
            Some(scope) => {
                assert_eq!(status, 200, "{case}");
                assert_eq!(body["scope"], *scope, "{case}");
                let auth = verifier
                    .verify(body["access_token"].as_str().unwrap())
                    .await
                    .unwrap();
                let granted: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
                assert_eq!(auth.scopes(), granted, "{case}");
            }
            None => {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (400, Some("invalid_scope")),
                    "{case}"
                );
                assert!(body.get("access_token").is_none(), "{case}");
            }
        }
    }
}

#[tokio::test]
async fn a_token_for_another_resource_is_invalid_target() {
    let fx = Fixture::auto_consent().await;
    let other = "http://127.0.0.1:1/other-mcp";
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();

    let response = fx
        .authorize(&client_id, &challenge, &[("resource", other)])
        .await;
    fx.assert_error_redirect(&response, 302, "invalid_target", "another resource");

    let code = fx.code(&client_id, &challenge, &[]).await;
    assert_oauth_error(
        fx.redeem_with(
            &client_id,
            &code,
            &[("code_verifier", &verifier), ("resource", other)],
        )
        .await,
        400,
        "invalid_target",
    );

    let (id, secret) = fx
        .confidential_client("client_secret_basic", &["client_credentials"])
        .await;
    assert_oauth_error(
        fx.token_basic(
            &id,
            &secret,
            &[("grant_type", "client_credentials"), ("resource", other)],
        )
        .await,
        400,
        "invalid_target",
    );

    // The resource is matched in canonical form.
    let code = fx
        .code(
            &client_id,
            &challenge,
            &[(
                "resource",
                &format!("{}/", fx.resource.replacen("http", "HTTP", 1)),
            )],
        )
        .await;
    let (status, body) = fx.redeem(&client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        fx.resource
    );
}

#[tokio::test]
async fn minted_tokens_verify_with_static_keys_and_with_discovery() {
    let fx = Fixture::auto_consent().await;
    let token = fx
        .issuer
        .mint(MintRequest {
            subject: "alice".into(),
            tenant: Some("acme".into()),
            scopes: vec!["invoices:read".into(), "payments:write".into()],
            client_id: Some("cli".into()),
            ..MintRequest::default()
        })
        .unwrap();
    let discovered = JwtVerifier::builder(&fx.origin, &fx.resource)
        .tenant_claim("tenant")
        .build()
        .unwrap();
    assert_eq!(discovered.warm_up().await.unwrap(), 1);
    for verifier in [fx.verifier(), discovered.clone()] {
        let auth = verifier.verify(&token).await.unwrap();
        assert_eq!(auth.subject(), Some("alice"));
        assert_eq!(auth.tenant(), Some("acme"));
        assert_eq!(auth.client_id(), Some("cli"));
        assert_eq!(auth.scopes(), ["invoices:read", "payments:write"]);
        assert_eq!(auth.audience(), [fx.resource.as_str()]);
        assert_eq!(auth.issuer(), Some(fx.origin.as_str()));
    }
    // A token from the code flow verifies through discovery too.
    let (_, body) = fx.tokens(None, "invoices:write").await;
    let auth = discovered
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(auth.scopes(), ["invoices:write"]);

    let expired = fx
        .issuer
        .mint(MintRequest {
            subject: "alice".into(),
            lifetime: Some(std::time::Duration::ZERO),
            ..MintRequest::default()
        })
        .unwrap();
    let verifier = JwtVerifier::builder(&fx.origin, &fx.resource)
        .static_keys(fx.issuer.jwks())
        .leeway(std::time::Duration::ZERO)
        .build()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(verifier.verify(&expired).await.is_err());

    let unknown = |request: MintRequest| fx.issuer.mint(request).unwrap_err();
    assert!(matches!(
        unknown(MintRequest {
            scopes: vec!["admin:all".into()],
            ..MintRequest::default()
        }),
        DevIssuerError::UnknownScope(_)
    ));
    assert!(matches!(
        unknown(MintRequest {
            resource: Some("http://127.0.0.1:1/other".into()),
            ..MintRequest::default()
        }),
        DevIssuerError::UnknownResource(_)
    ));
}

#[tokio::test]
async fn tokens_for_another_resource_of_the_issuer_are_rejected_by_the_verifier() {
    let other = "http://127.0.0.1:1/other-mcp";
    let fx = Fixture::start(|b| b.resource(other)).await;
    let token = fx
        .issuer
        .mint(MintRequest {
            subject: "alice".into(),
            resource: Some(other.into()),
            ..MintRequest::default()
        })
        .unwrap();
    assert_eq!(claims(&token)["aud"], other);
    assert!(fx.verifier().verify(&token).await.is_err());
}
