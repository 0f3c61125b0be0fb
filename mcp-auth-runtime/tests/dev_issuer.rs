//! The development issuer over real HTTP on 127.0.0.1: metadata, registration, the
//! authorization code flow with PKCE (auto-consent and through the consent page), refresh
//! rotation, client credentials, and tokens the resource server accepts; and what a web page,
//! a registration flood or a server without peer addresses cannot get from it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_runtime::TokenVerifier;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::dev_issuer::{DevIssuer, DevIssuerBuilder, DevIssuerError, MintRequest};
use mcp_auth_runtime::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SCOPES: [&str; 3] = ["invoices:read", "invoices:write", "payments:write"];
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// An issuer serving on its own loopback port.
struct Fixture {
    issuer: DevIssuer,
    origin: String,
    resource: String,
    http: reqwest::Client,
}

impl Fixture {
    /// Users alice (acme) and bob (globex), tenant initech besides, and the three scopes.
    async fn start(configure: impl FnOnce(DevIssuerBuilder) -> DevIssuerBuilder) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{origin}/mcp");
        let builder = DevIssuer::builder(&origin)
            .resource(&resource)
            .scopes(SCOPES)
            .users([("alice", "acme"), ("bob", "globex")])
            .tenants(["initech"]);
        let issuer = configure(builder).build().unwrap();
        serve(listener, issuer.router());
        Fixture {
            issuer,
            origin,
            resource,
            http: http_client(),
        }
    }

    async fn auto_consent() -> Fixture {
        Fixture::start(|b| b.auto_consent(true)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    async fn register(&self, metadata: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/register"))
            .json(&metadata)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(header(&response, "cache-control"), Some("no-store".into()));
        (status, response.json().await.unwrap())
    }

    /// A public client (PKCE, no secret) with [`REDIRECT`], registered with `scope`.
    async fn public_client(&self, scope: Option<&str>) -> String {
        let mut metadata = json!({
            "client_name": "Test Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        });
        if let Some(scope) = scope {
            metadata["scope"] = scope.into();
        }
        let (status, body) = self.register(metadata).await;
        assert_eq!(status, 201, "{body}");
        body["client_id"].as_str().unwrap().to_owned()
    }

    /// A confidential client; returns its id and secret.
    async fn confidential_client(&self, method: &str, grant_types: &[&str]) -> (String, String) {
        let (status, body) = self
            .register(json!({
                "client_name": "Backend",
                "redirect_uris": [REDIRECT],
                "grant_types": grant_types,
                "token_endpoint_auth_method": method,
            }))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["client_id"].as_str().unwrap().to_owned(),
            body["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A confidential `client_credentials` client (`client_secret_basic`) registered with
    /// `scope`; returns its id and secret.
    async fn machine_client(&self, scope: Option<&str>) -> (String, String) {
        let mut metadata = json!({
            "client_name": "Machine",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        });
        if let Some(scope) = scope {
            metadata["scope"] = scope.into();
        }
        let (status, body) = self.register(metadata).await;
        assert_eq!(status, 201, "{body}");
        (
            body["client_id"].as_str().unwrap().to_owned(),
            body["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// `GET /authorize` for `client_id` with PKCE S256 (`challenge`), [`REDIRECT`], the
    /// resource and `state=xyz`, plus `extra` (which replaces any of those).
    async fn authorize(
        &self,
        client_id: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        self.authorize_request(client_id, challenge, extra)
            .send()
            .await
            .unwrap()
    }

    /// The request [`authorize`](Self::authorize) sends, to add headers to.
    fn authorize_request(
        &self,
        client_id: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", &self.resource),
            ("state", "xyz"),
        ];
        for (name, value) in extra {
            params.retain(|(n, _)| n != name);
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        let url = url::Url::parse_with_params(&self.url("/authorize"), &params).unwrap();
        self.http.get(url)
    }

    /// Runs the authorization request with auto-consent; returns the redirect's parameters.
    async fn code(&self, client_id: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
        let response = self.authorize(client_id, challenge, extra).await;
        assert_eq!(response.status(), 302);
        let params = redirect_params(&response);
        params
            .get("code")
            .unwrap_or_else(|| panic!("no code in {params:?}"))
            .clone()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.token_request(self.http.post(self.url("/token")).form(form))
            .await
    }

    async fn token_basic(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.token_request(
            self.http
                .post(self.url("/token"))
                .basic_auth(id, Some(secret))
                .form(form),
        )
        .await
    }

    async fn token_request(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        // RFC 6749 §5.1, §5.2: success and error alike are never cached.
        assert_eq!(header(&response, "cache-control"), Some("no-store".into()));
        assert_eq!(
            header(&response, "content-type"),
            Some("application/json".into())
        );
        if status == 401 {
            assert!(header(&response, "www-authenticate").is_some());
        }
        (status, response.json().await.unwrap())
    }

    /// Exchanges a code as a public client.
    async fn redeem(&self, client_id: &str, code: &str, verifier: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("resource", &self.resource),
        ])
        .await
    }

    /// The whole code flow for a new public client registered with `registered_scope`,
    /// requesting `scope`; returns the client id and the token response.
    async fn tokens(&self, registered_scope: Option<&str>, scope: &str) -> (String, Value) {
        let client_id = self.public_client(registered_scope).await;
        let (verifier, challenge) = pkce();
        let code = self.code(&client_id, &challenge, &[("scope", scope)]).await;
        let (status, body) = self.redeem(&client_id, &code, &verifier).await;
        assert_eq!(status, 200, "{body}");
        (client_id, body)
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::builder(&self.origin, &self.resource)
            .static_keys(self.issuer.jwks())
            .tenant_claim("tenant")
            .build()
            .unwrap()
    }
}

/// Serves `router` as applications must: with the peer address of each connection, which the
/// issuer's loopback check needs.
fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A fresh PKCE pair: the verifier and its S256 challenge.
fn pkce() -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let verifier = format!(
        "verifier-{}-{}",
        NEXT.fetch_add(1, Ordering::SeqCst),
        "k".repeat(40)
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a redirect to [`REDIRECT`].
fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    let location = header(response, "location").expect("a redirect");
    assert!(
        location.starts_with(REDIRECT),
        "redirected to {location}, not to the registered URI"
    );
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The payload of a JWT, unverified: to look at claims the verifier already checked.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn form_token(page: &str) -> String {
    let marker = "name=\"form_token\" value=\"";
    let start = page.find(marker).expect("a form token") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

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

    let jwks: Value = fx
        .http
        .get(fx.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        let document: Value = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

    let (status, body) = fx.register(json!({ "redirect_uris": "nope" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, body) = fx
        .register(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
}

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
    let response = fx
        .http
        .post(fx.url("/authorize"))
        .form(&allow)
        .send()
        .await
        .unwrap();
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
    let response = fx
        .http
        .post(fx.url("/authorize"))
        .form(&allow)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(header(&response, "location").is_none());
}

#[tokio::test]
async fn consent_page_refuses_unknown_users_and_tenants() {
    let fx = Fixture::start(|b| b).await;
    let client_id = fx.public_client(None).await;
    let (_, challenge) = pkce();
    for (subject, tenant) in [("mallory", "acme"), ("alice", "evil-corp")] {
        let page = fx
            .authorize(&client_id, &challenge, &[])
            .await
            .text()
            .await
            .unwrap();
        let response = fx
            .http
            .post(fx.url("/authorize"))
            .form(&[
                ("form_token", form_token(&page).as_str()),
                ("decision", "allow"),
                ("subject", subject),
                ("tenant", tenant),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{subject} in {tenant}");
        assert!(header(&response, "location").is_none());
    }
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss() {
    let fx = Fixture::start(|b| b).await;
    let client_id = fx.public_client(None).await;
    let (_, challenge) = pkce();
    let page = fx
        .authorize(&client_id, &challenge, &[])
        .await
        .text()
        .await
        .unwrap();
    let response = fx
        .http
        .post(fx.url("/authorize"))
        .form(&[
            ("form_token", form_token(&page).as_str()),
            ("decision", "deny"),
            ("subject", "alice"),
            ("tenant", "acme"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], fx.origin);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn pkce_s256_is_required_and_plain_is_refused() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    for extra in [
        &[
            ("code_challenge_method", "plain"),
            ("code_challenge", verifier.as_str()),
        ][..],
        &[("code_challenge_method", "")][..],
        &[("code_challenge", "")][..],
        &[("code_challenge", "too-short")][..],
    ] {
        let response = fx.authorize(&client_id, &challenge, extra).await;
        assert_eq!(response.status(), 302, "{extra:?}");
        let params = redirect_params(&response);
        assert_eq!(params["error"], "invalid_request", "{extra:?}");
        assert_eq!(params["state"], "xyz");
        assert_eq!(params["iss"], fx.origin);
        assert!(!params.contains_key("code"));
    }
}

#[tokio::test]
async fn wrong_code_verifier_is_refused_and_spends_the_code() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, body) = fx.redeem(&client_id, &code, &other_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = fx.redeem(&client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, body) = fx
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
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
    let (status, body) = fx.redeem(&client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // RFC 6749 §4.1.2: a replayed code revokes what it yielded.
    let (status, body) = fx
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn codes_are_bound_to_the_client_and_redirect_uri() {
    let fx = Fixture::auto_consent().await;
    let client_id = fx.public_client(None).await;
    let other = fx.public_client(None).await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, body) = fx.redeem(&other, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, body) = fx
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
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
        assert_eq!(response.status(), 400, "{extra:?}");
        assert!(header(&response, "location").is_none(), "{extra:?}");
    }
    // OAuth 2.1 §4.1.1: with one registered redirect URI the parameter may be left out.
    let response = fx
        .authorize(&client_id, &challenge, &[("redirect_uri", "")])
        .await;
    assert_eq!(response.status(), 302);
    assert!(redirect_params(&response).contains_key("code"));
}

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

    let (status, body) = refresh(rt2.clone(), Some("invoices:read payments:write")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // The grant keeps its scope: a later refresh may use all of it again.
    let (status, full) = refresh(rt2.clone(), None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["scope"], "invoices:read invoices:write");
    let rt3 = full["refresh_token"].as_str().unwrap().to_owned();

    // A spent refresh token is refused, and revokes its family.
    let (status, body) = refresh(rt1, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = refresh(rt3, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
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

    let (status, body) = fx.token_basic(&id, "wrong", &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = fx.token(&form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let public = fx.public_client(None).await;
    let mut as_public = form.to_vec();
    as_public.push(("client_id", public.as_str()));
    let (status, body) = fx.token(&as_public).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
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
    let (status, body) = fx
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &user_client),
        ])
        .await;
    assert_eq!(status, 200, "the user's client survives: {body}");
    let (status, body) = fx.redeem(&mid_flow, &code, &verifier).await;
    assert_eq!(
        status, 200,
        "the client in the middle of a flow survives: {body}"
    );
    fx.tokens(None, "invoices:read").await;
}

#[tokio::test]
async fn confidential_clients_authenticate_to_redeem_codes() {
    let fx = Fixture::auto_consent().await;
    let (id, secret) = fx
        .confidential_client("client_secret_post", &["authorization_code"])
        .await;
    let (verifier, challenge) = pkce();
    let code = fx.code(&id, &challenge, &[]).await;
    let (status, body) = fx.redeem(&id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let code = fx.code(&id, &challenge, &[]).await;
    let (status, body) = fx
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
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
    let params = redirect_params(&response);
    assert_eq!(params["error"], "invalid_target");
    assert_eq!(params["state"], "xyz");

    let code = fx.code(&client_id, &challenge, &[]).await;
    let (status, body) = fx
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
            ("resource", other),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );

    let (id, secret) = fx
        .confidential_client("client_secret_basic", &["client_credentials"])
        .await;
    let (status, body) = fx
        .token_basic(
            &id,
            &secret,
            &[("grant_type", "client_credentials"), ("resource", other)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
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
    let response = fx
        .authorize(
            &client_id,
            &challenge,
            &[("scope", "invoices:read admin:all")],
        )
        .await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "invalid_scope");
    assert_eq!(params["state"], "xyz");
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

#[tokio::test]
async fn requests_for_a_non_loopback_host_are_refused() {
    let fx = Fixture::start(|b| b).await;
    let response = fx
        .http
        .get(fx.url("/.well-known/oauth-authorization-server"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = fx
        .http
        .get(fx.url("/.well-known/oauth-authorization-server"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Metadata and keys are public documents: browser-based clients read them from any origin.
#[tokio::test]
async fn public_documents_stay_readable_from_any_origin() {
    let fx = Fixture::start(|b| b).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/jwks",
    ] {
        let response = fx
            .http
            .request(reqwest::Method::OPTIONS, fx.url(path))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "mcp-protocol-version")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{path}"
        );
        let response = fx
            .http
            .get(fx.url(path))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some("*"),
            "{path}"
        );
        assert!(header(&response, "access-control-allow-credentials").is_none());
    }
}

/// Asserts that a browser would let the page at `origin` read nothing of `response`.
fn unreadable_from(response: &reqwest::Response, origin: &str, what: &str) {
    assert!(
        header(response, "access-control-allow-origin").is_none(),
        "{what} from {origin}: {:?}",
        response.headers()
    );
    assert!(
        header(response, "access-control-allow-credentials").is_none(),
        "{what} from {origin}"
    );
}

/// A web page the developer visits can neither read nor cause a token, a code or a client:
/// preflights get no CORS headers, and the requests a page may send without one (simple
/// requests, `no-cors`) are refused before they do anything.
#[tokio::test]
async fn credential_endpoints_give_foreign_origins_nothing() {
    let fx = Fixture::auto_consent().await;
    let consent = Fixture::start(|b| b).await;
    let (id, secret) = fx.machine_client(Some("invoices:read")).await;
    let public = fx.public_client(None).await;
    let consent_client = consent.public_client(None).await;
    let (_, challenge) = pkce();
    let client_credentials = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=invoices%3Aread"
    );
    let registration = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    let same_origin_elsewhere = fx.origin.replace("127.0.0.1", "localhost");
    let origins = [
        "https://evil.example",
        "http://evil.example",
        // Sandboxed frames and `file:` pages send `null`.
        "null",
        // Another page on this machine is a foreign origin too, as is the Inspector's unless
        // it is named with `cors_origin`.
        "http://localhost:6274",
        "http://127.0.0.1:1",
        same_origin_elsewhere.as_str(),
    ];
    for origin in origins {
        // Preflights, as a browser sends them before a request that is not simple.
        for (path, method, headers) in [
            ("/token", "POST", "content-type"),
            ("/token", "POST", "authorization"),
            ("/register", "POST", "content-type"),
            ("/authorize", "GET", "content-type"),
            ("/authorize", "POST", "content-type"),
        ] {
            let response = fx
                .http
                .request(reqwest::Method::OPTIONS, fx.url(path))
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", headers)
                .send()
                .await
                .unwrap();
            let what = format!("preflight {method} {path} ({headers})");
            unreadable_from(&response, origin, &what);
            assert!(!response.status().is_success(), "{what} from {origin}");
        }

        // The requests themselves: simple ones (form, text/plain), which a page may send
        // blind, and the others a failed preflight would have stopped.
        for (path, content_type, body) in [
            (
                "/token",
                "application/x-www-form-urlencoded",
                &client_credentials,
            ),
            ("/token", "text/plain", &client_credentials),
            (
                "/token",
                "multipart/form-data; boundary=x",
                &client_credentials,
            ),
            ("/token", "application/json", &client_credentials),
            ("/register", "application/json", &registration),
            ("/register", "text/plain", &registration),
            (
                "/register",
                "application/x-www-form-urlencoded",
                &registration,
            ),
        ] {
            let response = fx
                .http
                .post(fx.url(path))
                .header("origin", origin)
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let what = format!("POST {path} as {content_type}");
            unreadable_from(&response, origin, &what);
            assert_eq!(response.status(), 403, "{what} from {origin}");
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("access_token") && !body.contains("client_id"),
                "{what} from {origin}: {body}"
            );
        }
        let response = fx
            .http
            .post(fx.url("/token"))
            .header("origin", origin)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        unreadable_from(&response, origin, "POST /token with client_secret_basic");
        assert_eq!(response.status(), 403, "client_secret_basic from {origin}");

        // The authorization endpoint is navigated to, never fetched: its redirect (with the
        // code, under auto-consent) and its consent page (with the form token) carry no CORS.
        let response = fx
            .authorize_request(&public, &challenge, &[])
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        unreadable_from(&response, origin, "GET /authorize (auto-consent)");
        let response = consent
            .authorize_request(&consent_client, &challenge, &[])
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        unreadable_from(&response, origin, "GET /authorize (consent page)");
        let page = response.text().await.unwrap();
        let response = consent
            .http
            .post(consent.url("/authorize"))
            .header("origin", origin)
            .form(&[
                ("form_token", form_token(&page).as_str()),
                ("decision", "allow"),
                ("subject", "alice"),
                ("tenant", "acme"),
            ])
            .send()
            .await
            .unwrap();
        unreadable_from(&response, origin, "POST /authorize");
    }

    // Two `Origin` headers, one of them foreign, are refused as well.
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", fx.origin.as_str())
        .header("origin", "https://evil.example")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Positive controls: clients that are not browsers send no `Origin`, and the issuer's own
    // origin is not foreign.
    for origin in [None, Some(fx.origin.as_str())] {
        let mut request = fx.http.post(fx.url("/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ]);
        let mut register = fx
            .http
            .post(fx.url("/register"))
            .header("content-type", "application/json")
            .body(registration.clone());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
            register = register.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{origin:?}");
        assert!(header(&response, "access-control-allow-origin").is_none());
        assert_eq!(register.send().await.unwrap().status(), 201, "{origin:?}");
    }
}

/// Without the connection's peer address the loopback check cannot be made: every endpoint
/// refuses, saying how to serve the router, rather than answering anyone.
#[tokio::test]
async fn without_peer_addresses_the_issuer_refuses_every_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let issuer = DevIssuer::builder(&origin)
        .resource(format!("{origin}/mcp"))
        .scopes(SCOPES)
        .auto_consent(true)
        .build()
        .unwrap();
    let router = issuer.router();
    // No `into_make_service_with_connect_info`: requests carry no `ConnectInfo`.
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let http = http_client();
    let registration = json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let requests = [
        http.get(format!("{origin}/.well-known/oauth-authorization-server")),
        http.get(format!("{origin}/.well-known/openid-configuration")),
        http.get(format!("{origin}/jwks")),
        http.post(format!("{origin}/register")).json(&registration),
        http.post(format!("{origin}/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ]),
        http.get(format!(
            "{origin}/authorize?response_type=code&client_id=x&code_challenge_method=S256"
        )),
        http.post(format!("{origin}/authorize"))
            .form(&[("form_token", "x"), ("decision", "allow")]),
        http.request(reqwest::Method::OPTIONS, format!("{origin}/token"))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST"),
    ];
    for request in requests {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url().path());
        let response = http.execute(request).await.unwrap();
        assert_eq!(response.status(), 500, "{what}");
        assert!(header(&response, "access-control-allow-origin").is_none());
        let body = response.text().await.unwrap();
        assert!(
            body.contains("into_make_service_with_connect_info"),
            "{what}: {body}"
        );
    }
}

/// `cors_origin` is the explicit opt-in for browser-based clients such as the MCP Inspector:
/// the named origins, and only they, get CORS on `/register` and `/token`, echoed exactly
/// (never `*`, never with credentials); `/authorize` stays without CORS.
#[tokio::test]
async fn named_origins_get_cors_on_the_credential_endpoints_and_others_do_not() {
    let inspector = "http://localhost:6274";
    let fx = Fixture::start(|b| {
        b.auto_consent(true)
            .cors_origin(inspector)
            .cors_origin("HTTP://127.0.0.1:6274/")
    })
    .await;
    let preflight = |path: &str, origin: &str, method: &str| {
        fx.http
            .request(reqwest::Method::OPTIONS, fx.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in ["/token", "/register"] {
        for origin in [inspector, "http://127.0.0.1:6274"] {
            let response = preflight(path, origin, "POST").await.unwrap();
            assert!(response.status().is_success(), "{path} from {origin}");
            assert_eq!(
                header(&response, "access-control-allow-origin").as_deref(),
                Some(origin),
                "{path}"
            );
            assert!(header(&response, "access-control-allow-credentials").is_none());
            let methods = header(&response, "access-control-allow-methods").unwrap();
            assert!(methods.contains("POST"), "{methods}");
        }
        for origin in ["https://evil.example", "http://localhost:6275", "null"] {
            let response = preflight(path, origin, "POST").await.unwrap();
            unreadable_from(&response, origin, &format!("preflight {path}"));
        }
    }
    for method in ["GET", "POST"] {
        let response = preflight("/authorize", inspector, method).await.unwrap();
        unreadable_from(&response, inspector, "preflight /authorize");
    }

    // The Inspector's flow: register and redeem with `fetch`, authorize by navigation.
    let response = fx
        .http
        .post(fx.url("/register"))
        .header("origin", inspector)
        .json(&json!({
            "client_name": "MCP Inspector",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(inspector)
    );
    let client: Value = response.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let code = fx.code(client_id, &challenge, &[]).await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id),
    ];
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", "https://evil.example")
        .form(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    unreadable_from(&response, "https://evil.example", "POST /token");
    let response = fx
        .http
        .post(fx.url("/token"))
        .header("origin", inspector)
        .form(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the refused request spent nothing");
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(inspector)
    );
    let tokens: Value = response.json().await.unwrap();
    fx.verifier()
        .verify(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
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

/// A public client authenticates by its id alone: a failed token request naming it is not a
/// use, so a local process cannot fill the store with "clients in use" and refuse every
/// registration for a day.
#[tokio::test]
async fn failed_token_requests_do_not_pin_public_clients() {
    let fx = Fixture::start(|b| b).await;
    for _ in 0..1_000 {
        let id = fx.public_client(None).await;
        let (status, body) = fx
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "x"),
                ("client_id", &id),
            ])
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

/// Look up an invoice of the caller's tenant.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext, invoice_id: String) -> Result<String, ToolError> {
    Ok(format!(
        "{invoice_id} of tenant {} for {}",
        ctx.auth().tenant().unwrap_or("-"),
        ctx.auth().subject().unwrap_or("-")
    ))
}

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
    let prm: Value = fx
        .http
        .get(fx.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([origin]));
    let metadata: Value = fx
        .http
        .get(fx.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

/// Every log line at TRACE while flows run: none holds a secret, code, verifier or token.
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

    let logs = logs.text();
    assert!(logs.contains("access token issued"), "{logs}");
    for secret in &secrets {
        // JWTs: the signature is the part that must never leak, and the whole token with it.
        let needle = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(needle), "a secret reached the logs:\n{logs}");
    }
}
