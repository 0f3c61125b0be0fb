//! The JWT resource server over real HTTP: tokens signed with keys generated here, keys served
//! by an issuer on loopback, requests sent to a running `McpServer`.

mod claims;
mod key_set;
mod scopes;
mod signatures;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::ScopePolicy;
use mcp_auth_runtime::auth::TokenVerifier;
use mcp_auth_runtime::auth::{JwtVerifier, JwtVerifierBuilder, ScopeClaim};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::issuer::{Issuer, TestKey, at, claims, patch};
use mcp_auth_test_support::{Client, bind_endpoint, header, serve_on};
use serde_json::{Value, json};

/// Counts the tool bodies that ran, so every refusal can assert that none did.
#[derive(Clone, Default)]
struct Ran(Arc<AtomicUsize>);

/// Read a thing.
#[tool(scope = "things:read", read_only)]
async fn read_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{} via {} in {}",
        ctx.auth().subject().unwrap_or("-"),
        ctx.auth().client_id().unwrap_or("-"),
        ctx.auth().tenant().unwrap_or("-")
    ))
}

/// Write a thing.
#[tool(scope = "things:write")]
async fn write_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("written".into())
}

struct Fixture {
    issuer: Issuer,
    resource: String,
    addr: std::net::SocketAddr,
    ran: Ran,
}

impl Fixture {
    async fn start(keys: &[&TestKey]) -> Fixture {
        Fixture::start_with(Issuer::start(keys).await, |b| b, |s| s).await
    }

    /// A fixture whose issuer signs with `key` alone, its server set up by `server`.
    async fn with_server(
        key: &TestKey,
        server: impl FnOnce(mcp_auth_runtime::McpServerBuilder) -> mcp_auth_runtime::McpServerBuilder,
    ) -> Fixture {
        Fixture::start_with(Issuer::start(&[key]).await, |b| b, server).await
    }

    async fn start_with(
        issuer: Issuer,
        verifier: impl FnOnce(JwtVerifierBuilder) -> JwtVerifierBuilder,
        server: impl FnOnce(mcp_auth_runtime::McpServerBuilder) -> mcp_auth_runtime::McpServerBuilder,
    ) -> Fixture {
        let (listener, addr, resource) = bind_endpoint().await;
        let defaults = JwtVerifier::builder(issuer.url.clone(), resource.clone())
            .tenant_claim("tenant")
            .refetch_interval(Duration::from_millis(300));
        let jwt = verifier(defaults).build().unwrap();
        let ran = Ran::default();
        let builder = McpServer::builder("things", "1.0.0")
            .tools(tools![read_thing, write_thing])
            .state(ran.clone())
            .resource(resource.clone())
            .authorization_server(issuer.url.clone())
            .verifier(jwt);
        serve_on(listener, server(builder).build().unwrap().into_router());
        Fixture {
            issuer,
            resource,
            addr,
            ran,
        }
    }

    fn claims(&self, scope: &str) -> Value {
        claims(&self.issuer.url, &self.resource, scope)
    }

    /// A token signed by `key` whose claims are those of a `things:read` token with
    /// `changes` applied (see [`patch`]: `null` removes a claim).
    fn signed(&self, key: &TestKey, changes: Value) -> String {
        let mut claims = self.claims("things:read");
        patch(&mut claims, &changes);
        key.sign(&claims)
    }

    /// Calls `read_thing` with `token`; returns the status, the challenge and the body.
    async fn read(&self, token: &str) -> (u16, Option<String>, Value) {
        Client::new(self.addr, Some(token))
            .call("read_thing", json!({}))
            .await
    }

    fn ran(&self) -> usize {
        self.ran.0.load(Ordering::SeqCst)
    }

    /// The `WWW-Authenticate` this server sends: its realm and metadata, then `params`.
    fn challenge(&self, params: &str) -> String {
        format!(
            "Bearer realm=\"things\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\", {params}",
            self.addr
        )
    }

    fn invalid_token_challenge(&self) -> String {
        self.challenge(
            "error=\"invalid_token\", error_description=\"the access token is invalid or expired\"",
        )
    }

    /// Asserts `token` is refused with `401 invalid_token` and that no tool ran.
    async fn assert_rejected(&self, token: &str, why: &str) {
        let before = self.ran();
        let (status, challenge, _) = self.read(token).await;
        assert_eq!(status, 401, "{why}");
        assert_eq!(
            challenge.as_deref(),
            Some(self.invalid_token_challenge().as_str()),
            "{why}"
        );
        assert_eq!(self.ran(), before, "{why}: a tool ran");
    }

    async fn assert_accepted(&self, token: &str, why: &str) -> Value {
        let (status, _, body) = self.read(token).await;
        assert_eq!(status, 200, "{why}: {body}");
        body
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Runs the requests concurrently on this task.
async fn futures_join_all<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().unwrap().status().as_u16());
    }
    statuses
}

/// A header of `key` with `typ` set to `typ` (or left out).
fn typed(key: &TestKey, typ: Option<&str>) -> Header {
    let mut header = key.header();
    header.typ = typ.map(str::to_owned);
    header
}

/// Calls `write_thing` (the tool that changes something) with `token`.
async fn write(fx: &Fixture, token: &str) -> u16 {
    Client::new(fx.addr, Some(token))
        .call("write_thing", json!({}))
        .await
        .0
}
