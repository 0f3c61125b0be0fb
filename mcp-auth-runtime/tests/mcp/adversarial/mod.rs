//! Attacks on a running server, over real HTTP: forged, tampered and confused tokens signed
//! with keys generated here, smuggled scopes, hostile headers, sessions and JSON-RPC messages,
//! hostile issuer metadata, floods of random opaque tokens, and signed tokens that are not
//! bearer access tokens (other JWT types, ID tokens, key-bound tokens, tokens naming nobody);
//! and DPoP proofs forged, misdirected, replayed or oversized (`dpop`).
//!
//! Every attack asserts the exact status, the exact `WWW-Authenticate` challenge (or that
//! there is none), and that no tool body ran: the tools count their runs. The few accepted
//! variants (an audience hidden among others, a lowercase scheme) are positive controls and
//! say so.

mod claims;
mod dpop;
mod issuers;
mod requests;
mod signatures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::auth::{IntrospectionVerifier, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{FaultyIntrospection, Issuer, TestKey, at, claims, patch};
use mcp_auth_test_support::{bind_endpoint, header};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Counts the tool bodies that ran.
#[derive(Clone, Default)]
pub(crate) struct Runs(Arc<AtomicUsize>);

/// Look up an invoice.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(ctx: ToolContext<Runs>, invoice_id: String) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("invoice of {} bytes", invoice_id.len()))
}

/// Void an invoice.
#[tool(scope = "invoices:write", destructive)]
async fn void_invoice(ctx: ToolContext<Runs>, invoice_id: String) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!("voided {} bytes", invoice_id.len()))
}

/// A server of the two tools above for `resource`, counting their runs in `runs`.
fn invoices(resource: &str, runs: &Runs) -> McpServerBuilder {
    McpServer::builder("invoices", "1.0.0")
        .tools(tools![lookup_invoice, void_invoice])
        .state(runs.clone())
        .resource(resource)
}

pub(crate) const ALL: &str = "invoices:read invoices:write";

/// The challenge an attack must get.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Challenge {
    /// No `WWW-Authenticate` header.
    Absent,
    /// No token: the realm, the metadata and the advertised scopes, no error.
    Missing,
    InvalidToken,
    InvalidRequest,
    InsufficientScope(&'static str),
}

pub(crate) struct Fx {
    pub(crate) issuer: Issuer,
    pub(crate) rsa: TestKey,
    pub(crate) rsa2: TestKey,
    pub(crate) ec: TestKey,
    pub(crate) ed: TestKey,
    pub(crate) addr: SocketAddr,
    pub(crate) resource: String,
    pub(crate) runs: Runs,
    pub(crate) http: reqwest::Client,
}

impl Fx {
    /// A server whose handshake era is stateless, so that one POST reaches a tool.
    pub(crate) async fn start() -> Fx {
        Fx::start_with(true).await
    }

    pub(crate) async fn start_with(stateless: bool) -> Fx {
        let rsa = TestKey::rsa("rsa-1");
        let rsa2 = TestKey::rsa("rsa-2");
        let ec = TestKey::es256("ec-1");
        let ed = TestKey::ed25519("ed-1");
        let issuer = Issuer::start(&[&rsa, &rsa2, &ec, &ed]).await;
        let (listener, addr, resource) = bind_endpoint().await;
        let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
            .build()
            .unwrap();
        let runs = Runs::default();
        let server = invoices(&resource, &runs)
            .authorization_server(issuer.url.clone())
            .verifier(verifier)
            .stateless(stateless)
            .build()
            .unwrap();
        mcp_auth_test_support::serve_on(listener, server.into_router());
        Fx {
            issuer,
            rsa,
            rsa2,
            ec,
            ed,
            addr,
            resource,
            runs,
            http: mcp_auth_test_support::fixture::http(),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub(crate) fn runs(&self) -> usize {
        self.runs.0.load(Ordering::SeqCst)
    }

    /// Valid claims for this server with `scope`.
    pub(crate) fn claims(&self, scope: &str) -> Value {
        claims(&self.issuer.url, &self.resource, scope)
    }

    /// A valid ES256 token with every scope, its claims changed by `change`.
    pub(crate) fn token_with(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims(ALL);
        change(&mut claims);
        self.ec.sign(&claims)
    }

    pub(crate) fn good(&self) -> String {
        self.token_with(|_| {})
    }

    /// A POST of `body` with the content type and `Accept` of an MCP client, and no token.
    pub(crate) fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(self.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    }

    /// `tools/call` of `tool` with `token`.
    pub(crate) fn call(&self, tool: &str, token: &str) -> reqwest::RequestBuilder {
        self.post(call_body(tool, "INV-1")).bearer_auth(token)
    }

    /// `tools/call void_invoice`, the destructive tool, with `token`.
    pub(crate) fn void(&self, token: &str) -> reqwest::RequestBuilder {
        self.call("void_invoice", token)
    }

    pub(crate) fn challenge(&self, expected: Challenge) -> Option<String> {
        let base = format!(
            "Bearer realm=\"invoices\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
            self.addr
        );
        match expected {
            Challenge::Absent => None,
            Challenge::Missing => Some(format!("{base}, scope=\"{ALL}\"")),
            Challenge::InvalidToken => Some(format!(
                "{base}, error=\"invalid_token\", error_description=\"the access token is invalid or expired\""
            )),
            Challenge::InvalidRequest => Some(format!(
                "{base}, error=\"invalid_request\", error_description=\"the request is malformed\""
            )),
            Challenge::InsufficientScope(scope) => Some(format!(
                "{base}, error=\"insufficient_scope\", scope=\"{scope}\", \
                 error_description=\"the request requires higher privileges than provided by the access token\""
            )),
        }
    }

    /// Sends `request` and asserts its status and challenge, and that no tool ran. Returns
    /// the body, parsed when it is JSON.
    pub(crate) async fn refused(
        &self,
        attack: &str,
        request: reqwest::RequestBuilder,
        status: u16,
        challenge: Challenge,
    ) -> Value {
        let before = self.runs();
        let (got, got_challenge, body) = send(request).await;
        assert_eq!(got, status, "{attack}: status (body {body})");
        assert_eq!(
            got_challenge,
            self.challenge(challenge),
            "{attack}: WWW-Authenticate"
        );
        assert_eq!(self.runs(), before, "{attack}: a tool ran");
        body
    }

    /// Asserts that `void_invoice` with an otherwise valid token whose `claim` is `value` is
    /// refused as an invalid token.
    pub(crate) async fn refuses_claim(&self, claim: &str, value: &Value) {
        let token = self.token_with(|c| c[claim] = value.clone());
        self.refused(
            &format!("{claim} {value}"),
            self.void(&token),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }

    /// A positive control: `request` is answered `200` and its tool runs exactly once.
    pub(crate) async fn accepted(&self, what: &str, request: reqwest::RequestBuilder) -> Value {
        let before = self.runs();
        let (status, challenge, body) = send(request).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(challenge, None, "{what}");
        assert!(body["result"].is_object(), "{what}: {body}");
        assert_eq!(self.runs(), before + 1, "{what}: the tool did not run");
        body
    }

    /// After an attack: the server still answers a genuine call.
    pub(crate) async fn still_serves(&self) {
        self.accepted("a genuine call afterwards", self.void(&self.good()))
            .await;
    }

    /// A JSON-RPC error answered with `status`, no challenge, and no tool run.
    pub(crate) async fn rpc_error(
        &self,
        attack: &str,
        request: reqwest::RequestBuilder,
        status: u16,
        code: i64,
    ) -> Value {
        let body = self
            .refused(attack, request, status, Challenge::Absent)
            .await;
        assert_eq!(body["error"]["code"], code, "{attack}: {body}");
        body
    }
}

pub(crate) fn call_body(tool: &str, invoice: &str) -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": tool, "arguments": { "invoice_id": invoice } }
    })
    .to_string()
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = header(&response, "www-authenticate");
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, challenge, body)
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The three segments of a compact JWS.
pub(crate) fn segments(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// A token signed with HMAC-SHA256 under `secret`, naming `kid`.
pub(crate) fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// `(&str, &str, &str)` to owned parts, so that the token they borrow from can go.
pub(crate) trait OwnedParts {
    fn to_owned_parts(self) -> (String, String, String);
}

impl OwnedParts for (&str, &str, &str) {
    fn to_owned_parts(self) -> (String, String, String) {
        (self.0.to_owned(), self.1.to_owned(), self.2.to_owned())
    }
}

pub(crate) fn b64_decode(segment: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}
