//! The authorization-code flow: consent, PKCE, single-use codes bound to their client and
//! redirect URI, and client authentication.

use super::*;

#[tokio::test]
async fn code_flow_with_auto_consent_issues_a_token_for_the_resource() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let response = fx
        .authorize(&client_id, &challenge, &[("scope", "invoices:read")])
        .await;
    assert_eq!(response.status(), 302);
    let params = redirect_params(&response);
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], fx.origin);
    assert!(!params.contains_key("error"));

    let (status, body) = fx.redeem(&client_id, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "invoices:read");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 32);

    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(fx.issuer.kid()));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let claims = claims(token);
    assert_eq!(claims["iss"], fx.origin);
    assert_eq!(claims["aud"], fx.resource);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    let auth = fx.verifier().verify(token).await.unwrap();
    assert_eq!(auth.subject(), Some("alice"));
    assert_eq!(auth.tenant(), Some("acme"));
    assert_eq!(auth.client_id(), Some(client_id.as_str()));
    assert_eq!(auth.scopes(), ["invoices:read"]);
}

#[tokio::test]
async fn consent_page_flow_uses_the_chosen_user_and_tenant() {
    let fx = Fixture::start(|b| b.scope_description("invoices:write", "Void invoices")).await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let response = fx
        .authorize(
            &client_id,
            &challenge,
            &[("scope", "invoices:read invoices:write")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        header(&response, "x-frame-options").as_deref(),
        Some("DENY")
    );
    let csp = header(&response, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(header(&response, "access-control-allow-origin").is_none());
    let page = response.text().await.unwrap();
    for shown in [
        "Test Client",
        "invoices:read",
        "read access to invoices",
        "Void invoices",
        "value=\"alice\"",
        "value=\"bob\"",
        "value=\"initech\"",
        ">Allow<",
        ">Deny<",
        "Development issuer",
    ] {
        assert!(page.contains(shown), "the page lacks {shown}");
    }
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains("src="), "no external asset");
    let token = form_token(&page);

    let allow = [
        ("form_token", token.as_str()),
        ("decision", "allow"),
        ("subject", "bob"),
        ("tenant", "initech"),
    ];
    let response = fx.post_consent(&allow).await;
    assert_eq!(response.status(), 303);
    let params = redirect_params(&response);
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], fx.origin);

    let (status, body) = fx.redeem(&client_id, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read invoices:write");
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["tenant"], "initech");

    // A form token answers one form only.
    let response = fx.post_consent(&allow).await;
    assert_refused_here(&response, "a second use of the form token");
}

#[tokio::test]
async fn consent_page_refuses_unknown_users_and_tenants() {
    let fx = Fixture::start(|b| b).await;
    let client_id = fx.public_client(None).await;
    let (_, challenge) = pkce();
    for (subject, tenant) in [("mallory", "acme"), ("alice", "evil-corp")] {
        let page = fx.consent_page(&client_id, &challenge).await;
        let response = fx
            .post_consent(&[
                ("form_token", form_token(&page).as_str()),
                ("decision", "allow"),
                ("subject", subject),
                ("tenant", tenant),
            ])
            .await;
        assert_refused_here(&response, &format!("{subject} in {tenant}"));
    }
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss() {
    let fx = Fixture::start(|b| b).await;
    let client_id = fx.public_client(None).await;
    let (_, challenge) = pkce();
    let page = fx.consent_page(&client_id, &challenge).await;
    let response = fx
        .post_consent(&[
            ("form_token", form_token(&page).as_str()),
            ("decision", "deny"),
            ("subject", "alice"),
            ("tenant", "acme"),
        ])
        .await;
    fx.assert_error_redirect(&response, 303, "access_denied", "deny");
}

#[tokio::test]
async fn pkce_s256_is_required_and_plain_is_refused() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let plain = [
        ("code_challenge_method", "plain"),
        ("code_challenge", verifier.as_str()),
    ];
    for extra in [
        &plain[..],
        &[("code_challenge_method", "")][..],
        &[("code_challenge", "")][..],
        &[("code_challenge", "too-short")][..],
    ] {
        let response = fx.authorize(&client_id, &challenge, extra).await;
        fx.assert_error_redirect(&response, 302, "invalid_request", &format!("{extra:?}"));
    }
}

#[tokio::test]
async fn wrong_code_verifier_is_refused_and_spends_the_code() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = fx.code(&client_id, &challenge, &[]).await;
    assert_invalid_grant(fx.redeem(&client_id, &code, &other_verifier).await);
    assert_invalid_grant(fx.redeem(&client_id, &code, &verifier).await);

    let code = fx.code(&client_id, &challenge, &[]).await;
    assert_oauth_error(
        fx.redeem_with(&client_id, &code, &[]).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn authorization_codes_are_single_use() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, first) = fx.redeem(&client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{first}");
    assert_invalid_grant(fx.redeem(&client_id, &code, &verifier).await);

    // RFC 6749 §4.1.2: a replayed code revokes what it yielded.
    assert_invalid_grant(fx.refresh(&client_id, &first).await);
}

#[tokio::test]
async fn codes_are_bound_to_the_client_and_redirect_uri() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let other = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&client_id, &challenge, &[]).await;
    assert_invalid_grant(fx.redeem(&other, &code, &verifier).await);

    let code = fx.code(&client_id, &challenge, &[]).await;
    assert_invalid_grant(
        fx.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ])
        .await,
    );
}

#[tokio::test]
async fn unregistered_clients_and_redirect_uris_are_never_redirected_to() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (_, challenge) = pkce();
    for extra in [
        &[("redirect_uri", "http://127.0.0.1:9/elsewhere")][..],
        &[("client_id", "unknown")][..],
        &[("client_id", "")][..],
    ] {
        let response = fx.authorize(&client_id, &challenge, extra).await;
        assert_refused_here(&response, &format!("{extra:?}"));
    }
    // OAuth 2.1 §4.1.1: with one registered redirect URI the parameter may be left out.
    let response = fx
        .authorize(&client_id, &challenge, &[("redirect_uri", "")])
        .await;
    assert_eq!(response.status(), 302);
    assert!(redirect_params(&response).contains_key("code"));
}

#[tokio::test]
async fn confidential_clients_authenticate_to_redeem_codes() {
    let fx = Fixture::auto_consent().await;
    let (id, secret) = fx
        .confidential_client("client_secret_post", &["authorization_code"])
        .await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&id, &challenge, &[]).await;
    assert_oauth_error(
        fx.redeem(&id, &code, &verifier).await,
        401,
        "invalid_client",
    );

    let code = fx.code(&id, &challenge, &[]).await;
    let (status, body) = fx
        .redeem_with(
            &id,
            &code,
            &[("code_verifier", &verifier), ("client_secret", &secret)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A public client authenticates by its id alone: a failed token request naming it is not a
/// use, so a local process cannot fill the store with "clients in use" and refuse every
/// registration for a day.
#[tokio::test]
async fn failed_token_requests_do_not_pin_public_clients() {
    let fx = Fixture::start(|b| b).await;
    for _ in 0..1_000 {
        let id = fx.public_client(None).await;
        let (status, body) = fx
            .redeem_with(&id, "not-a-code", &[("code_verifier", "x")])
            .await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = fx
        .register(json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    assert_eq!(status, 201, "a registration of a full issuer: {body}");
}
