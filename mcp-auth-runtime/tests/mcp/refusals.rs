//! A refusal is an HTTP status, whatever the client accepts: every refusal of a `tools/call`
//! (`401`, `403` with its step-up challenge, `429` with `Retry-After`, `400`), with each
//! `Accept` a client may send, in both protocol eras, over real HTTP with real tokens. None
//! of them may arrive as a `200` event stream holding a JSON-RPC error, which would lose the
//! challenge (no step-up) and the retry time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::{Quota, RateLimits};
use mcp_auth_test_support::fixture::time_left_in_window;
use mcp_auth_test_support::issuer::{Tokens, protected};
use mcp_auth_test_support::serve_on;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Ran(Arc<AtomicUsize>);

/// Read.
#[tool(scope = "a:read", read_only)]
async fn read_it(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("read".into())
}

/// Write.
#[tool(scope = "a:write", destructive)]
async fn write_it(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("written".into())
}

/// Once a minute.
#[tool(scope = "a:read")]
async fn limited(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("once".into())
}

const ACCEPTS: &[&str] = &[
    "text/event-stream",
    "application/json, text/event-stream",
    "text/event-stream, application/json",
    "application/json",
    "*/*",
    "text/*",
];

#[derive(Clone, Copy, Debug)]
enum Era {
    /// 2025-11-25: a session opened by `initialize`.
    Handshake,
    /// 2026-07-28: stateless, version in `_meta` and headers.
    Stateless,
}

struct Fixture {
    tokens: Tokens,
    url: String,
    ran: Ran,
}

impl Fixture {
    async fn start() -> Fixture {
        let (listener, tokens, builder) = protected("refusals").await;
        let addr = listener.local_addr().unwrap();
        let ran = Ran::default();
        let server = builder
            .tools(tools![read_it, write_it, limited])
            .state(ran.clone())
            .rate_limits(RateLimits::local().tool("limited", Quota::per_minute(1)))
            .build()
            .unwrap();
        serve_on(listener, server.into_router());
        Fixture {
            tokens,
            url: format!("http://{addr}/mcp"),
            ran,
        }
    }

    fn token(&self, sub: &str, scope: &str) -> String {
        self.tokens.of(sub, scope, 300)
    }

    /// Opens a handshake-era session for `token`; `None` if the token is refused.
    async fn session(&self, token: &str) -> Option<String> {
        let response = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(
                json!({
                    "jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": { "name": "t", "version": "0" }
                    }
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        (response.status() == 200).then(|| {
            response.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned()
        })
    }

    /// A `tools/call` of `tool` in `era` with `accept`, as raw text (`body` replaces the
    /// JSON-RPC message when given).
    async fn call(
        &self,
        era: Era,
        accept: &str,
        token: Option<&str>,
        tool: &str,
        body: Option<&str>,
    ) -> reqwest::Response {
        let mut params = json!({ "name": tool, "arguments": {} });
        let mut request = reqwest::Client::new()
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", accept);
        match era {
            Era::Handshake => {
                request = request.header("mcp-protocol-version", "2025-11-25");
                if let Some(session) = match token {
                    Some(token) => self.session(token).await,
                    None => None,
                } {
                    request = request.header("mcp-session-id", session);
                }
            }
            Era::Stateless => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                });
                request = request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", tool);
            }
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let message =
            json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params });
        request
            .body(body.map_or_else(|| message.to_string(), str::to_owned))
            .send()
            .await
            .unwrap()
    }

    fn ran(&self) -> usize {
        self.ran.0.load(Ordering::SeqCst)
    }
}

/// Asserts that `response` is a refusal with `status`, answered as JSON (or empty), never as
/// an event stream; returns its headers and body.
async fn refused(response: reqwest::Response, status: u16, what: &str) -> (http::HeaderMap, Value) {
    assert_eq!(response.status().as_u16(), status, "{what}");
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        !content_type.starts_with("text/event-stream"),
        "{what}: refusal sent as a stream"
    );
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (headers, body)
}

#[tokio::test]
async fn every_refusal_is_an_http_status_with_every_accept_in_both_eras() {
    let fx = Fixture::start().await;
    for era in [Era::Handshake, Era::Stateless] {
        for (n, accept) in ACCEPTS.iter().enumerate() {
            let what = |refusal: &str| format!("{refusal}, {era:?}, Accept: {accept}");
            let sub = format!("user-{era:?}-{n}");

            // 401: no token, and a token the verifier refuses.
            let response = fx.call(era, accept, None, "read_it", None).await;
            let (headers, _) = refused(response, 401, &what("no token")).await;
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer "), "{challenge}");
            let forged = fx.token(&sub, "a:read a:write").replace('.', ".x");
            let response = fx.call(era, accept, Some(&forged), "write_it", None).await;
            let (headers, _) = refused(response, 401, &what("bad token")).await;
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

            // 403: a token without the tool's scope gets the step-up challenge.
            let reader = fx.token(&sub, "a:read");
            let response = fx.call(era, accept, Some(&reader), "write_it", None).await;
            let (headers, body) = refused(response, 403, &what("insufficient scope")).await;
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.contains("error=\"insufficient_scope\"")
                    && challenge.contains("scope=\"a:write\""),
                "{}: {challenge}",
                what("insufficient scope")
            );
            assert_eq!(body["id"], 3, "{}", what("insufficient scope"));

            // 429: the second call within the tool's quota (both calls in one minute: the
            // limiter's windows are the clock's minutes).
            time_left_in_window(Duration::from_secs(60), Duration::from_secs(10)).await;
            let response = fx.call(era, accept, Some(&reader), "limited", None).await;
            assert_eq!(response.status(), 200, "{}", what("first limited call"));
            drop(response.text().await);
            let response = fx.call(era, accept, Some(&reader), "limited", None).await;
            let (headers, _) = refused(response, 429, &what("rate limited")).await;
            assert!(headers.contains_key("retry-after"), "{}", what("429"));

            // 400: a body that is not JSON-RPC.
            let response = fx
                .call(era, accept, Some(&reader), "read_it", Some("{not json"))
                .await;
            refused(response, 400, &what("malformed")).await;
        }
    }
    // Only the first call of `limited` of each round ran a tool body.
    assert_eq!(fx.ran(), 2 * ACCEPTS.len());
}
