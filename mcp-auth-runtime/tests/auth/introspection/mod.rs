//! `IntrospectionVerifier` against an in-test RFC 7662 endpoint over real HTTP: client
//! authentication, the response rules, the cache, failing closed, and an MCP server using it.

mod cache;
mod failures;
mod load;
mod responses;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use futures_util::FutureExt;
use http::{HeaderMap, StatusCode, header};
use mcp_auth_runtime::auth::{AuthError, TokenVerifier};
use mcp_auth_runtime::auth::{
    ClientAuth, IntrospectionBuilder, IntrospectionConfigError, IntrospectionVerifier, ScopeClaim,
};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Fault, FaultyIntrospection, patch};
use mcp_auth_test_support::logs::Logs;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
/// A client id and secret with characters that RFC 6749 §2.3.1 form-encoding must protect.
const CLIENT_ID: &str = "mcp:server";
const SECRET: &str = "s3cr:t/+ é-hunter2";

/// What the test endpoint answers for a token.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(StatusCode),
    Garbage,
    /// Sleeps for 2 s, then answers an active token.
    Slow,
}

#[derive(Clone)]
struct Endpoint {
    auth: ClientAuth,
    table: Arc<HashMap<String, Reply>>,
    hits: Arc<AtomicUsize>,
}

/// A running RFC 7662 endpoint.
struct TestAs {
    url: String,
    auth: ClientAuth,
    hits: Arc<AtomicUsize>,
}

impl TestAs {
    /// Serves `table` on a loopback port; unknown tokens are inactive.
    async fn start(
        auth: ClientAuth,
        table: impl IntoIterator<Item = (&'static str, Reply)>,
    ) -> TestAs {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Endpoint {
            auth,
            table: Arc::new(table.into_iter().map(|(t, r)| (t.to_owned(), r)).collect()),
            hits: hits.clone(),
        };
        let router = axum::Router::new()
            .route("/introspect", post(introspect))
            .with_state(state);
        let addr = mcp_auth_test_support::serve(router).await;
        TestAs {
            url: format!("http://{addr}/introspect"),
            auth,
            hits,
        }
    }

    /// Serves one token, `token`, active with the claims of [`active`]`(changes)`, to clients
    /// that authenticate with HTTP Basic.
    async fn active_token(token: &'static str, changes: Value) -> TestAs {
        TestAs::start(ClientAuth::Basic, [(token, Reply::Json(active(changes)))]).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A verifier for this endpoint with the right credentials.
    fn verifier(&self) -> IntrospectionBuilder {
        IntrospectionVerifier::builder(&self.url, RESOURCE)
            .client_credentials(CLIENT_ID, SECRET, self.auth)
    }

    /// A verifier for this endpoint, its settings tuned by `tune`.
    fn verifier_with(
        &self,
        tune: impl FnOnce(IntrospectionBuilder) -> IntrospectionBuilder,
    ) -> IntrospectionVerifier {
        tune(self.verifier()).build().unwrap()
    }
}

/// The endpoint: checks the request and the client authentication, then answers from the table.
async fn introspect(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: String,
) -> Response {
    endpoint.hits.fetch_add(1, Ordering::SeqCst);
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if get(header::CONTENT_TYPE) != Some("application/x-www-form-urlencoded")
        || get(header::ACCEPT) != Some("application/json")
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("token_type_hint") != Some("access_token") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let basic = get(header::AUTHORIZATION).map(basic_credentials);
    let posted = (field("client_id"), field("client_secret"));
    // RFC 6749 §2.3: exactly one authentication method per request.
    let authenticated = match endpoint.auth {
        ClientAuth::Basic => {
            posted == (None, None) && basic == Some(Some((CLIENT_ID.to_owned(), SECRET.to_owned())))
        }
        _ => basic.is_none() && posted == (Some(CLIENT_ID), Some(SECRET)),
    };
    if !authenticated {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let Some(token) = field("token") else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match endpoint.table.get(token) {
        None => axum::Json(json!({ "active": false })).into_response(),
        Some(Reply::Json(value)) => axum::Json(value.clone()).into_response(),
        Some(Reply::Status(status)) => (*status, "oops").into_response(),
        Some(Reply::Garbage) => (
            [(header::CONTENT_TYPE, "application/json")],
            "<html>hello</html>",
        )
            .into_response(),
        Some(Reply::Slow) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            axum::Json(active(json!({}))).into_response()
        }
    }
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(s.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An active response for RESOURCE, with `changes` merged in (`null` removes a member).
fn active(changes: Value) -> Value {
    let mut response = json!({
        "active": true,
        "sub": "alice",
        "client_id": "billing-app",
        "scope": "x:read invoices:read",
        "aud": RESOURCE,
        "iss": ISSUER,
        "exp": now() + 3600,
        "iat": now(),
        "tenant": "acme",
        "token_type": "Bearer",
    });
    patch(&mut response, &changes);
    response
}

fn is_invalid(result: Result<AuthInfo, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(_)))
}

fn is_unavailable(result: Result<AuthInfo, AuthError>) -> bool {
    matches!(result, Err(AuthError::Unavailable(_)))
}

/// `n` concurrent `verify(token)` calls, each on a task of its own.
async fn burst(
    verifier: &IntrospectionVerifier,
    token: &str,
    n: usize,
) -> Vec<Result<AuthInfo, AuthError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.to_owned());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// Tasks alive on this test's runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A random token of 16 KiB, the longest the bearer layer takes. (Hashing one takes
/// most of a millisecond in a debug build: floods of tasks use short tokens.)
fn big_token(i: usize) -> String {
    let token = format!("random-{i:05}-{:f<16371}", "");
    assert_eq!(token.len(), 16 * 1024);
    token
}

/// Waits, for at most 5 s, until `endpoint` has seen `hits` requests.
async fn until_hits(endpoint: &FaultyIntrospection, hits: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while endpoint.hits() < hits {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{} hits, expected {hits}", endpoint.hits());
}

/// Read x.
#[tool(scope = "x:read", read_only)]
async fn read_x(ctx: ToolContext) -> Result<String, ToolError> {
    Ok(format!("x for {}", ctx.auth().subject().unwrap_or("?")))
}

/// Serves `read_x` for `resource` on `listener`, behind `verifier`, with what `configure`
/// adds to the server.
fn serve_x(
    listener: tokio::net::TcpListener,
    resource: &str,
    verifier: IntrospectionVerifier,
    configure: impl FnOnce(mcp_auth_runtime::McpServerBuilder) -> mcp_auth_runtime::McpServerBuilder,
) {
    let builder = McpServer::builder("x-server", "1.0.0")
        .tools(tools![read_x])
        .resource(resource)
        .verifier(verifier);
    let server = configure(builder).build().unwrap();
    mcp_auth_test_support::serve_on(listener, server.into_router());
}
