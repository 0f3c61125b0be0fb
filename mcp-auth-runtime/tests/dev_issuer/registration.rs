//! Dynamic client registration: loopback redirect URIs only, secrets for confidential
//! clients, bounded memory that never forgets a client in use, and requested scopes.

use super::*;

#[tokio::test]
async fn registration_refuses_non_loopback_redirect_uris() {
    let fx = Fixture::start(|b| b).await;
    for uri in [
        "https://claude.ai/api/mcp/auth_callback",
        "http://example.com/callback",
        "http://192.168.1.20:3000/callback",
        "http://localhost.example.com/callback",
        "http://127.0.0.1:3000/callback#fragment",
        "https://127.0.0.1/callback",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
    ] {
        let (status, body) = fx
            .register(json!({
                "redirect_uris": [REDIRECT, uri],
                "token_endpoint_auth_method": "none",
            }))
            .await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
    }
    for uri in [
        "http://127.0.0.1/callback",
        "http://[::1]:33418/callback",
        "http://localhost:6274/oauth/callback",
    ] {
        let (status, body) = fx
            .register(json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" }))
            .await;
        assert_eq!(status, 201, "{uri}: {body}");
    }
}

#[tokio::test]
async fn registration_returns_the_client_and_a_secret_for_confidential_clients() {
    let fx = Fixture::start(|b| b).await;
    let (status, public) = fx
        .register(json!({
            "client_name": "Inspector",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": "invoices:read",
        }))
        .await;
    assert_eq!(status, 201);
    assert!(public["client_id"].as_str().unwrap().len() >= 32);
    assert!(public["client_id_issued_at"].as_u64().unwrap() > 0);
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["client_name"], "Inspector");
    assert_eq!(public["redirect_uris"], json!([REDIRECT]));
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert_eq!(public["scope"], "invoices:read");

    // RFC 7591 §2: the default authentication method is client_secret_basic.
    let (status, confidential) = fx.register(json!({ "redirect_uris": [REDIRECT] })).await;
    assert_eq!(status, 201);
    assert!(confidential["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(confidential["client_secret_expires_at"], 0);
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_ne!(public["client_id"], confidential["client_id"]);

    assert_oauth_error(
        fx.register(json!({ "redirect_uris": "nope" })).await,
        400,
        "invalid_client_metadata",
    );
    assert_oauth_error(
        fx.register(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "none",
        }))
        .await,
        400,
        "invalid_client_metadata",
    );
}

/// More registrations than the issuer remembers (1,000) push out only clients nobody used:
/// a machine client with tokens, a user's client holding a refresh token and a client in the
/// middle of the code flow all keep working, and the newest registration works too.
#[tokio::test]
async fn a_registration_flood_evicts_no_client_in_use() {
    let fx = Fixture::auto_consent().await;
    let (machine, secret) = fx.machine_client(Some("invoices:read")).await;
    let client_credentials = [("grant_type", "client_credentials")];
    let (status, body) = fx.token_basic(&machine, &secret, &client_credentials).await;
    assert_eq!(status, 200, "{body}");
    let (user_client, tokens) = fx.tokens(None, "invoices:read").await;
    let mid_flow = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&mid_flow, &challenge, &[]).await;

    for n in 0..1_100 {
        let (status, body) = fx
            .register(json!({
                "client_name": format!("flood {n}"),
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
            }))
            .await;
        assert_eq!(status, 201, "registration {n}: {body}");
    }

    let (status, body) = fx.token_basic(&machine, &secret, &client_credentials).await;
    assert_eq!(status, 200, "the machine client survives: {body}");
    let (status, body) = fx.refresh(&user_client, &tokens).await;
    assert_eq!(status, 200, "the user's client survives: {body}");
    let (status, body) = fx.redeem(&mid_flow, &code, &verifier).await;
    assert_eq!(
        status, 200,
        "the client in the middle of a flow survives: {body}"
    );
    fx.tokens(None, "invoices:read").await;
}

/// The MCP TypeScript SDK registers with the scope of the first challenge, then asks for more
/// during step-up: the registered scope is a default, not an allow-list.
#[tokio::test]
async fn scopes_beyond_the_registered_scope_may_be_requested() {
    let fx = Fixture::auto_consent().await;
    let (client_id, body) = fx
        .tokens(Some("invoices:read"), "invoices:read invoices:write")
        .await;
    assert_eq!(body["scope"], "invoices:read invoices:write");

    // Without `scope`, the registered scope is the default.
    let (verifier, challenge) = pkce();
    let code = fx.code(&client_id, &challenge, &[("scope", "")]).await;
    let (_, body) = fx.redeem(&client_id, &code, &verifier).await;
    assert_eq!(body["scope"], "invoices:read");

    // Scopes the issuer does not know are refused.
    let unknown_scope = [("scope", "invoices:read admin:all")];
    let response = fx.authorize(&client_id, &challenge, &unknown_scope).await;
    fx.assert_error_redirect(&response, 302, "invalid_scope", "an unknown scope");
}

/// When every client the issuer remembers was used within the last day, a registration is
/// refused (`503`) rather than forgetting one of them.
#[tokio::test]
async fn a_full_issuer_refuses_registrations_rather_than_forget_clients_in_use() {
    let fx = Fixture::start(|b| b).await;
    let mut clients = Vec::new();
    for _ in 0..1_000 {
        let (id, secret) = fx.machine_client(Some("invoices:read")).await;
        let (status, body) = fx
            .token_basic(&id, &secret, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, 200, "{body}");
        clients.push((id, secret));
    }
    let (status, body) = fx
        .register(json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert!(body.get("client_id").is_none());
    for (id, secret) in [clients.first().unwrap(), clients.last().unwrap()] {
        let (status, body) = fx
            .token_basic(id, secret, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, 200, "{body}");
    }
}
