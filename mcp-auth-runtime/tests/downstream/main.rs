//! Token exchange (RFC 8693) over real HTTP: an MCP server whose tool calls a payments API as
//! the caller, with a token the development issuer exchanges for the caller's, in both eras
//! (`exchange`); the attacks (`attacks`); what the cache and single flight save, counted at
//! the issuer's token endpoint (`cache`); a token endpoint that misbehaves (`faults`); and the
//! wire shape of Microsoft Entra's on-behalf-of request (`entra`).

mod attacks;
mod cache;
mod entra;
mod exchange;
mod faults;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use base64::Engine as _;
use mcp_auth_runtime::auth::{
    ApiKeyRecord, ApiKeys, AuthInfo, BearerAuthLayer, Challenge, JwkSet, JwtVerifier, VerifierChain,
};
use mcp_auth_runtime::dev_issuer::{DevClient, DevIssuer, MintRequest};
use mcp_auth_runtime::downstream::{ClientCredentials, Downstream, ExchangeGrant, TokenExchange};
use mcp_auth_runtime::prelude::*;
use serde_json::{Value, json};

/// The exchanging client's secret at the issuer.
const SECRET: &str = "billing-mcp-secret-of-at-least-32-chars";

/// What the tool and the payments API share: where payments is, and the HTTP client.
#[derive(Clone)]
struct Payments {
    url: String,
    scopes: Vec<String>,
    http: reqwest::Client,
}

/// What `refund` returns: the payments API's status and what it saw of the caller.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Refunded {
    status: u16,
    payments: Value,
}

/// Refund an invoice at the payments API, as the caller.
#[tool(scope = "invoices:refund")]
async fn refund(ctx: ToolContext<Payments>, invoice_id: String) -> Result<Refunded, ToolError> {
    let payments = ctx.state();
    let downstream = Downstream::resource(&payments.url).scopes(payments.scopes.clone());
    let token = ctx.downstream_token(&downstream).await?;
    let response = payments
        .http
        .post(format!("{}/refunds", payments.url))
        .header(http::header::AUTHORIZATION, token.authorization())
        .json(&json!({ "invoice_id": invoice_id }))
        .send()
        .await
        .map_err(ToolError::internal)?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Ok(Refunded {
        status,
        payments: body,
    })
}

/// Refund an invoice at the payments API, as the caller, in a task that outlives the request.
#[tool(scope = "invoices:refund", task = required)]
async fn refund_later(
    ctx: ToolContext<Payments>,
    invoice_id: String,
) -> Result<Refunded, ToolError> {
    // Past the request's answer: the run goes on alone.
    tokio::time::sleep(Duration::from_millis(50)).await;
    refund(ctx, invoice_id).await
}

/// The payments API's one route: who called, as its verifier saw the token.
async fn refunds(request: Request) -> axum::Json<Value> {
    let auth = request.extensions().get::<Arc<AuthInfo>>().unwrap();
    axum::Json(json!({
        "sub": auth.subject(),
        "client_id": auth.client_id(),
        "scopes": auth.scopes(),
        "act": auth.claims().get("act"),
        "aud": auth.audience(),
    }))
}

/// An issuer, an MCP server and a payments API on one loopback origin, with the token
/// endpoint's requests counted.
struct Fixture {
    issuer: DevIssuer,
    origin: String,
    addr: SocketAddr,
    mcp: String,
    payments: String,
    token_requests: Arc<AtomicUsize>,
    /// An API key the MCP server accepts.
    api_key: String,
}

/// How a fixture's MCP server exchanges.
struct Setup {
    cache_capacity: usize,
    /// Authenticates with `private_key_jwt` rather than `client_secret_basic`.
    private_key_jwt: bool,
    /// The scopes the tool asks payments tokens for.
    scopes: Vec<&'static str>,
    /// The API the tool asks a token for, by path on the origin: `/payments` by default.
    downstream: &'static str,
    /// Another token endpoint than the issuer's.
    token_endpoint: Option<String>,
    grant: ExchangeGrant,
    /// The exchange's timeout, if not the default.
    timeout: Option<Duration>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            cache_capacity: mcp_auth_runtime::downstream::DEFAULT_CACHE_CAPACITY,
            private_key_jwt: false,
            scopes: vec!["payments:write"],
            downstream: "/payments",
            token_endpoint: None,
            grant: ExchangeGrant::TokenExchange,
            timeout: None,
        }
    }
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::with(Setup::default()).await
    }

    async fn with(setup: Setup) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let origin = format!("http://{addr}");
        let mcp = format!("{origin}/mcp");
        let payments = format!("{origin}/payments");
        // The client's key: its public half registered, its private half in PEM for the
        // exchanging server.
        let key = mcp_auth_test_support::issuer::TestKey::es256("billing-key");
        let jwks = JwkSet::from_value(json!({ "keys": [key.jwk] })).unwrap();
        let issuer = DevIssuer::builder(&origin)
            .resource(&mcp)
            .resource(&payments)
            .scopes(["invoices:refund", "invoices:read", "payments:write"])
            .users([("alice", "acme"), ("bob", "globex")])
            .client(DevClient::secret("billing-mcp", SECRET).may_exchange_for(&payments))
            .client(DevClient::private_key_jwt("billing-pkjwt", jwks).may_exchange_for(&payments))
            .client(DevClient::secret("other-mcp", SECRET))
            .build()
            .unwrap();
        let verifier = |audience: &str| {
            JwtVerifier::builder(&origin, audience)
                .static_keys(issuer.jwks())
                .tenant_claim("tenant")
                .build()
                .unwrap()
        };
        let client = if setup.private_key_jwt {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&key.der);
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
            ClientCredentials::private_key_jwt("billing-pkjwt", pem.as_bytes(), key.alg)
                .unwrap()
                .with_kid("billing-key")
        } else {
            ClientCredentials::secret_basic("billing-mcp", SECRET)
        };
        let endpoint = (setup.token_endpoint).unwrap_or_else(|| format!("{origin}/token"));
        let exchange = TokenExchange::builder(endpoint, client)
            .grant(setup.grant)
            .timeout(
                setup
                    .timeout
                    .unwrap_or(mcp_auth_runtime::downstream::DEFAULT_TIMEOUT),
            )
            .cache_capacity(setup.cache_capacity)
            .build()
            .unwrap();
        // A machine client's API key, next to OAuth on the MCP server.
        let (api_key, key_record) =
            ApiKeyRecord::generate("ci-bot", ["invoices:refund", "payments:write"]);
        let key_record = key_record.with_tenant("acme");
        let state = Payments {
            url: format!("{origin}{}", setup.downstream),
            scopes: setup.scopes.iter().map(|s| (*s).to_owned()).collect(),
            http: reqwest::Client::new(),
        };
        let server = McpServer::builder("billing", "1.0.0")
            .tools(tools![refund, refund_later])
            .state(state)
            .resource(&mcp)
            .authorization_server(&origin)
            .verifier(
                VerifierChain::new()
                    .api_keys(ApiKeys::from_records([key_record]))
                    .otherwise(verifier(&mcp)),
            )
            .token_exchange(exchange)
            .build()
            .unwrap();
        let payments_api = axum::Router::new()
            .route("/payments/refunds", axum::routing::post(refunds))
            .layer(BearerAuthLayer::new(
                verifier(&payments),
                Challenge::new("payments"),
            ));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let counted = token_requests.clone();
        let issuer_routes = issuer.router().layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                if request.uri().path() == "/token" {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                next.run(request)
            },
        ));
        let app = server
            .into_router()
            .merge(issuer_routes)
            .merge(payments_api);
        tokio::spawn(async move {
            mcp_auth_runtime::serve(listener, app, std::future::pending())
                .await
                .unwrap()
        });
        Fixture {
            issuer,
            origin,
            addr,
            mcp,
            payments,
            token_requests,
            api_key: api_key.secret().to_owned(),
        }
    }

    /// A token for the MCP server of `subject` (alice: acme, bob: globex) with `scopes`,
    /// valid for `lifetime`.
    fn user_token(&self, subject: &str, scopes: &[&str], lifetime: Duration) -> String {
        self.issuer
            .mint(MintRequest {
                subject: subject.into(),
                tenant: Some(if subject == "bob" { "globex" } else { "acme" }.into()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                client_id: Some("claude-desktop".into()),
                resource: Some(self.mcp.clone()),
                lifetime: Some(lifetime),
                dpop_jkt: None,
            })
            .unwrap()
    }

    fn alice(&self) -> String {
        self.user_token(
            "alice",
            &["invoices:refund", "payments:write"],
            Duration::from_secs(600),
        )
    }

    fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Calls `refund` in the 2026-07-28 era with `token`: the HTTP status and the result.
    async fn refund(&self, token: &str) -> (u16, Value) {
        let http = reqwest::Client::new();
        let params = json!({ "arguments": { "invoice_id": "INV-1" } });
        mcp_auth_test_support::modern_call(
            &http,
            self.addr,
            token,
            "application/json",
            "refund",
            params,
        )
        .await
    }
}

/// The structured result of a successful `tools/call` response, or a panic naming it.
fn structured(response: &Value) -> &Value {
    let result = &response["result"];
    assert_ne!(result["isError"], json!(true), "{response}");
    &result["structuredContent"]
}

/// The text of a failed tool result.
fn tool_error(response: &Value) -> String {
    let result = &response["result"];
    assert_eq!(result["isError"], json!(true), "{response}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}
