//! The issuer beside an MCP server on one port, and the secrets of every flow kept out of the
//! logs.

use super::*;
use mcp_auth_test_support::get_json;

#[tokio::test]
async fn an_mcp_server_and_its_issuer_share_one_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{origin}/mcp");
    let issuer = DevIssuer::builder(&origin)
        .resource(&resource)
        .scopes(["invoices:read"])
        .users([("alice", "acme")])
        .auto_consent(true)
        .build()
        .unwrap();
    let verifier = JwtVerifier::builder(&origin, &resource)
        .static_keys(issuer.jwks())
        .tenant_claim("tenant")
        .build()
        .unwrap();
    let server = McpServer::builder("billing", "1.0.0")
        .tools(tools![lookup_invoice])
        .resource(&resource)
        .authorization_server(&origin)
        .verifier(verifier)
        .build()
        .unwrap();
    let app = server.into_router().merge(issuer.router());
    // The crate's `serve` records peer addresses, as the issuer's loopback check needs.
    tokio::spawn(async move {
        mcp_auth_runtime::serve(listener, app, std::future::pending())
            .await
            .unwrap()
    });
    let fx = Fixture {
        issuer,
        origin: origin.clone(),
        resource: resource.clone(),
        http: http_client(),
    };

    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "dev-issuer-test", "version": "0" },
        },
    });
    let mcp = |token: Option<&str>, session: Option<&str>, body: &Value| {
        let mut request = fx
            .http
            .post(&resource)
            .header("accept", "application/json")
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let response = mcp(None, None, &initialize).await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    // What a client does next: protected-resource metadata, then the issuer's metadata.
    let prm: Value = get_json(
        &fx.http,
        fx.url("/.well-known/oauth-protected-resource/mcp"),
    )
    .await;
    assert_eq!(prm["authorization_servers"], json!([origin]));
    let metadata: Value =
        get_json(&fx.http, fx.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(metadata["issuer"], origin);

    let (_, body) = fx.tokens(None, "invoices:read").await;
    let token = body["access_token"].as_str().unwrap();
    let response = mcp(Some(token), None, &initialize).await.unwrap();
    assert_eq!(response.status(), 200);
    let session = header(&response, "mcp-session-id");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = mcp(Some(token), session.as_deref(), &initialized)
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "lookup_invoice", "arguments": { "invoice_id": "INV-7" } },
    });
    let response = mcp(Some(token), session.as_deref(), &call).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.to_string().contains("INV-7 of tenant acme for alice"),
        "{body}"
    );
}

/// Every log line at TRACE while flows run (token exchanges included): none holds a secret,
/// code, verifier, assertion or token.
#[tokio::test]
async fn no_secret_of_the_flows_reaches_the_logs() {
    let logs = mcp_auth_test_support::logs::Logs::capture_global();

    let fx = Fixture::auto_consent().await;
    let mut secrets = Vec::new();
    let (id, secret) = fx
        .confidential_client(
            "client_secret_basic",
            &["authorization_code", "refresh_token", "client_credentials"],
        )
        .await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&id, &challenge, &[]).await;
    let (_, wrong) = pkce();
    fx.token_basic(
        &id,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &wrong),
        ],
    )
    .await;
    let code2 = fx.code(&id, &challenge, &[]).await;
    let (status, tokens) = fx
        .token_basic(
            &id,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code2),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, refreshed) = fx
        .token_basic(
            &id,
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    fx.token_basic(
        &id,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    let (_, machine) = fx
        .token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    fx.token_basic(&id, "wrong-secret", &[("grant_type", "client_credentials")])
        .await;

    let consent = Fixture::start(|b| b).await;
    let public = consent.public_client(None).await;
    let page = consent
        .authorize(&public, &challenge, &[])
        .await
        .text()
        .await
        .unwrap();
    let form_token = form_token(&page);

    secrets.extend([secret, verifier, wrong, code, code2, refresh, form_token]);
    for body in [&tokens, &refreshed, &machine] {
        for field in ["access_token", "refresh_token"] {
            if let Some(value) = body[field].as_str() {
                secrets.push(value.to_owned());
            }
        }
    }
    secrets.push(URL_SAFE_NO_PAD.encode(fx.issuer.key_pkcs8()));
    // Token exchanges (RFC 8693), by secret and by `private_key_jwt`, granted and refused.
    secrets.extend(super::clients::exchange_secrets().await);

    let logs = logs.text();
    assert!(logs.contains("access token issued"), "{logs}");
    assert!(logs.contains("client assertion was replayed"), "{logs}");
    assert!(logs.contains("subject token was refused"), "{logs}");
    for secret in &secrets {
        // JWTs: the signature is the part that must never leak, and the whole token with it.
        let needle = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(needle), "a secret reached the logs:\n{logs}");
    }
}
