//! API keys next to JWTs on one running server: keys from a file written by `ApiKeyFile`,
//! a `VerifierChain` in front of the MCP endpoint, requests over real HTTP from a TCP peer.

mod calls;
mod file;
mod guessing;
mod routing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_auth_runtime::auth::{
    ApiKeyFile, ApiKeyRecord, ApiKeys, JwtVerifier, NewApiKey, VerifierChain,
};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::rate_limit::Quota;
use mcp_auth_test_support::Client;
use mcp_auth_test_support::fixture::TempDir;
use mcp_auth_test_support::issuer::{Issuer, TestKey, claims};
use serde_json::{Value, json};

/// Longer than the fixture's reload interval (50 ms), with room for a loaded machine.
const RELOADED: Duration = Duration::from_millis(300);

/// Counts the tool bodies that ran, so that every refusal can assert none did.
#[derive(Clone, Default)]
struct Ran(Arc<AtomicUsize>);

/// Read a thing.
#[tool(scope = "things:read", read_only)]
async fn read_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    let key = ctx.auth().claims().get("api_key_id").cloned();
    Ok(format!(
        "{} via {} in {} key {}",
        ctx.auth().subject().unwrap_or("-"),
        ctx.auth().client_id().unwrap_or("-"),
        ctx.auth().tenant().unwrap_or("-"),
        key.as_ref().and_then(Value::as_str).unwrap_or("-"),
    ))
}

/// Write a thing.
#[tool(scope = "things:write")]
async fn write_thing(ctx: ToolContext<Ran>) -> Result<String, ToolError> {
    ctx.state().0.fetch_add(1, Ordering::SeqCst);
    Ok("written".into())
}

/// A server whose keys come from a file in `dir`, chained before a JWT verifier for `issuer`.
struct Fixture {
    _dir: TempDir,
    file: ApiKeyFile,
    issuer: Issuer,
    signer: TestKey,
    resource: String,
    addr: SocketAddr,
    ran: Ran,
}

impl Fixture {
    /// Keys reloaded every 50 ms, at most `failures` failed attempts a minute per peer.
    async fn start(failures: u32) -> Fixture {
        Fixture::start_with(
            |keys| keys.failure_limit(Quota::per_minute(failures)),
            |c| c,
        )
        .await
    }

    /// A fixture whose keys are set up by `keys` and whose chain by `chain` (given the chain
    /// with the keys, before the JWT verifier).
    async fn start_with(
        keys: impl FnOnce(ApiKeys) -> ApiKeys,
        chain: impl FnOnce(VerifierChain) -> VerifierChain,
    ) -> Fixture {
        let signer = TestKey::es256("k1");
        let issuer = Issuer::start(&[&signer]).await;
        let dir = TempDir::new("api-keys");
        let file = ApiKeyFile::new(dir.path().join("api-keys.json"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resource = format!("http://{addr}/mcp");
        let jwt = JwtVerifier::builder(issuer.url.clone(), resource.clone())
            .tenant_claim("tenant")
            .build()
            .unwrap();
        let api_keys = keys(
            ApiKeys::from_file(file.path())
                .unwrap()
                .reload_interval(Duration::from_millis(50)),
        );
        let verifier = chain(VerifierChain::new().api_keys(api_keys)).otherwise(jwt);
        let ran = Ran::default();
        let server = McpServer::builder("things", "1.0.0")
            .tools(tools![read_thing, write_thing])
            .state(ran.clone())
            .resource(resource.clone())
            .authorization_server(issuer.url.clone())
            .verifier(verifier)
            .build()
            .unwrap();
        // `serve` gives each request its TCP peer, which the failure limit counts by.
        tokio::spawn(mcp_auth_runtime::serve(
            listener,
            server,
            std::future::pending(),
        ));
        Fixture {
            _dir: dir,
            file,
            issuer,
            signer,
            resource,
            addr,
            ran,
        }
    }

    /// A new key in the file for `scopes`, as client `ci` in tenant `acme`, once the server
    /// has reloaded the file.
    async fn add_key(&self, scopes: &[&str]) -> (NewApiKey, String) {
        let (key, record) = ApiKeyRecord::generate("bot", scopes.iter().copied());
        let id = record.id.clone();
        self.file
            .add(record.with_client_id("ci").with_tenant("acme"))
            .unwrap();
        tokio::time::sleep(RELOADED).await;
        (key, id)
    }

    /// A JWT from the issuer for this server with `scope`.
    fn jwt(&self, scope: &str) -> String {
        let mut claims = claims(&self.issuer.url, &self.resource, scope);
        claims["client_id"] = "ci".into();
        self.signer.sign(&claims)
    }

    /// Calls `tool` in the handshake era with `token`: status, challenge, body.
    async fn call(&self, token: &str, tool: &str) -> (u16, Option<String>, Value) {
        Client::new(self.addr, Some(token))
            .call(tool, json!({}))
            .await
    }

    fn ran(&self) -> usize {
        self.ran.0.load(Ordering::SeqCst)
    }

    /// Asserts `token` is refused with the `401 invalid_token` challenge and no tool ran.
    async fn assert_refused(&self, token: &str, why: &str) {
        let before = self.ran();
        let (status, challenge, _) = self.call(token, "read_thing").await;
        assert_eq!(status, 401, "{why}");
        assert_eq!(
            challenge.as_deref(),
            Some(self.invalid_token_challenge().as_str()),
            "{why}"
        );
        assert_eq!(self.ran(), before, "{why}: a tool ran");
    }

    fn invalid_token_challenge(&self) -> String {
        format!(
            "Bearer realm=\"things\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\", \
             error=\"invalid_token\", error_description=\"the access token is invalid or expired\"",
            self.addr
        )
    }
}

/// The text of a tool's result.
fn text(body: &Value) -> &str {
    body["result"]["content"][0]["text"].as_str().unwrap_or("")
}
