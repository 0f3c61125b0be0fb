//! The development issuer over real HTTP on 127.0.0.1: metadata, registration, the
//! authorization code flow with PKCE (auto-consent and through the consent page), refresh
//! rotation, client credentials, DPoP-bound tokens, and tokens the resource server accepts;
//! and what a web page, a registration flood or a server without peer addresses cannot get
//! from it; the token-exchange grant (RFC 8693) and its policy.

mod clients;
mod code_flow;
mod configuration;
mod dpop;
mod exchange;
mod origins;
mod registration;
mod tokens;
mod with_a_server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::auth::TokenVerifier;
use mcp_auth_runtime::dev_issuer::{DevIssuer, DevIssuerBuilder, DevIssuerError, MintRequest};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::header;
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

    /// The consent page of an authorization request.
    async fn consent_page(&self, client_id: &str, challenge: &str) -> String {
        let page = self.authorize(client_id, challenge, &[]).await;
        page.text().await.unwrap()
    }

    /// Posts the consent page's `form`.
    async fn post_consent(&self, form: &[(&str, &str)]) -> reqwest::Response {
        let request = self.http.post(self.url("/authorize")).form(form);
        request.send().await.unwrap()
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
        self.redeem_with(
            client_id,
            code,
            &[("code_verifier", verifier), ("resource", &self.resource)],
        )
        .await
    }

    /// Redeems the refresh token of the token response `tokens` as the public client
    /// `client_id`.
    async fn refresh(&self, client_id: &str, tokens: &Value) -> (u16, Value) {
        self.token(&refresh_form(client_id, tokens)).await
    }

    /// Exchanges a code for `client_id` at `REDIRECT`, with only the `fields` added (a
    /// verifier, a resource, a secret), so a test can leave one out or change it.
    async fn redeem_with(
        &self,
        client_id: &str,
        code: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Value) {
        self.token(&code_form(client_id, code, fields)).await
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

    /// Asserts that `response` (with `status`) sends the user back to the client with `error`,
    /// the request's `state` and the issuer (RFC 9207), and no code; `what` names the case.
    #[track_caller]
    fn assert_error_redirect(
        &self,
        response: &reqwest::Response,
        status: u16,
        error: &str,
        what: &str,
    ) {
        assert_eq!(response.status(), status, "{what}");
        let params = redirect_params(response);
        assert_eq!(params["error"], error, "{what}");
        assert_eq!(params["state"], "xyz", "{what}");
        assert_eq!(params["iss"], self.origin, "{what}");
        assert!(!params.contains_key("code"), "{what}");
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::builder(&self.origin, &self.resource)
            .static_keys(self.issuer.jwks())
            .tenant_claim("tenant")
            .build()
            .unwrap()
    }
}

/// The form exchanging `code` for `client_id` at [`REDIRECT`], with `fields` added.
fn code_form<'a>(
    client_id: &'a str,
    code: &'a str,
    fields: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
    ];
    form.extend_from_slice(fields);
    form
}

/// The form redeeming the refresh token of the token response `tokens` as the public client
/// `client_id`.
fn refresh_form<'a>(client_id: &'a str, tokens: &'a Value) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", client_id),
    ]
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

/// Asserts an OAuth error answer: `status` and the `error` code.
#[track_caller]
fn assert_oauth_error((status, body): (u16, Value), expected: u16, error: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (expected, Some(error)),
        "{body}"
    );
}

/// Asserts a `400 invalid_grant`.
#[track_caller]
fn assert_invalid_grant(reply: (u16, Value)) {
    assert_oauth_error(reply, 400, "invalid_grant");
}

/// Asserts that a consent form or an authorization request was refused outright: `400`,
/// and no redirect to the client.
#[track_caller]
fn assert_refused_here(response: &reqwest::Response, what: &str) {
    assert_eq!(response.status(), 400, "{what}");
    assert!(header(response, "location").is_none(), "{what}");
}

fn form_token(page: &str) -> String {
    let marker = "name=\"form_token\" value=\"";
    let start = page.find(marker).expect("a form token") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
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

/// Look up an invoice of the caller's tenant.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext, invoice_id: String) -> Result<String, ToolError> {
    Ok(format!(
        "{invoice_id} of tenant {} for {}",
        ctx.auth().tenant().unwrap_or("-"),
        ctx.auth().subject().unwrap_or("-")
    ))
}
