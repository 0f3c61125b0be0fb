//! `RequireScopes` on a route of the application's own, behind the server's bearer layer,
//! over real HTTP with tokens signed by a real issuer: the same `403` challenge as the MCP
//! endpoint, and failing closed when the layers are in the wrong order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use mcp_auth_runtime::ScopePolicy;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Issuer, TestKey, claims};
use mcp_auth_test_support::{Client, bind, header, serve_on};
use serde_json::{Value, json};

/// Read a report.
#[tool(scope = "reports:read", read_only)]
async fn read_report() -> Result<String, ToolError> {
    Ok("report".into())
}

struct App {
    addr: SocketAddr,
    issuer: Issuer,
    resource: String,
    key: TestKey,
    /// How many times the protected handler ran.
    served: Arc<AtomicUsize>,
}

/// How the application's own route is layered.
#[derive(Clone, Copy)]
enum Order {
    /// `RequireScopes`, then `BearerAuthLayer` outside it: the right order.
    BearerFirst,
    /// `BearerAuthLayer`, then `RequireScopes` outside it: scopes are checked before anyone
    /// verified the token.
    ScopesFirst,
}

impl App {
    /// An MCP server for `http://<addr>/api/mcp` merged into an application whose
    /// `/api/reports` requires `scopes`.
    async fn start(scopes: &[&str], policy: ScopePolicy, order: Order) -> App {
        let key = TestKey::es256("k");
        let issuer = Issuer::start(&[&key]).await;
        let listener = bind().await;
        let addr = listener.local_addr().unwrap();
        let resource = format!("http://{addr}/api/mcp");
        let server = McpServer::builder("reports", "1.0.0")
            .tools(tools![read_report])
            .resource(&resource)
            .authorization_server(&issuer.url)
            .verifier(
                JwtVerifier::builder(&issuer.url, &resource)
                    .build()
                    .unwrap(),
            )
            .scope_policy(policy)
            .build()
            .unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let route = Router::new().route(
            "/api/reports",
            get(move || async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "reports": [] }))
            }),
        );
        let require = server.require_scopes(scopes.iter().copied());
        let bearer = server.bearer_auth().unwrap();
        let route = match order {
            Order::BearerFirst => route.layer(require).layer(bearer),
            Order::ScopesFirst => route.layer(bearer).layer(require),
        };
        serve_on(listener, server.merge_into(route).unwrap());
        App {
            addr,
            issuer,
            resource,
            key,
            served,
        }
    }

    fn token(&self, scope: &str) -> String {
        self.key
            .sign(&claims(&self.issuer.url, &self.resource, scope))
    }

    async fn reports(&self, token: Option<&str>) -> reqwest::Response {
        let request = reqwest::Client::new().get(format!("http://{}/api/reports", self.addr));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
        .await
        .unwrap()
    }

    fn metadata_url(&self) -> String {
        format!(
            "http://{}/.well-known/oauth-protected-resource/api/mcp",
            self.addr
        )
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_token_with_every_required_scope_is_served() {
    let app = App::start(&["reports:read"], ScopePolicy::exact(), Order::BearerFirst).await;
    let response = app.reports(Some(&app.token("reports:read other"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "reports": [] })
    );
    assert_eq!(app.served(), 1);
}

#[tokio::test]
async fn a_missing_scope_is_403_with_the_mcp_endpoints_challenge() {
    let app = App::start(
        &["reports:read", "reports:export"],
        ScopePolicy::exact(),
        Order::BearerFirst,
    )
    .await;
    let token = app.token("reports:read");
    let response = app.reports(Some(&token)).await;
    assert_eq!(response.status(), 403);
    let expected = format!(
        "Bearer realm=\"reports\", resource_metadata=\"{}\", error=\"insufficient_scope\", \
         scope=\"reports:read reports:export\", \
         error_description=\"the request requires higher privileges than provided by the access token\"",
        app.metadata_url()
    );
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "insufficient_scope" })
    );
    assert_eq!(app.served(), 0);

    // The URL the challenge names is this server's metadata, for this resource.
    let document: Value = reqwest::get(app.metadata_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], app.resource);

    // The MCP endpoint's own step-up challenge has the same shape and metadata URL.
    let mcp = Client {
        url: app.resource.clone(),
        ..Client::new(app.addr, Some(&app.token("other")))
    };
    let (status, challenge, _) = mcp.call("read_report", json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.unwrap(),
        expected.replace("reports:read reports:export", "reports:read")
    );
}

#[tokio::test]
async fn the_servers_scope_policy_is_honoured() {
    let app = App::start(
        &["reports:read"],
        ScopePolicy::hierarchical(),
        Order::BearerFirst,
    )
    .await;
    let response = app.reports(Some(&app.token("reports:write"))).await;
    assert_eq!(response.status(), 200);
    let response = app.reports(Some(&app.token("invoices:write"))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.served(), 1);
}

#[tokio::test]
async fn no_token_is_401_from_the_bearer_layer() {
    let app = App::start(&["reports:read"], ScopePolicy::exact(), Order::BearerFirst).await;
    let response = app.reports(None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"reports\", resource_metadata=\"{}\", scope=\"reports:read\"",
            app.metadata_url()
        )
    );
    assert_eq!(app.served(), 0);
}

#[tokio::test]
async fn layers_in_the_wrong_order_fail_closed() {
    let app = App::start(&["reports:read"], ScopePolicy::exact(), Order::ScopesFirst).await;
    for token in [Some(app.token("reports:read")), None] {
        let response = app.reports(token.as_deref()).await;
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "server_misconfigured"
        );
    }
    assert_eq!(app.served(), 0);
}
