//! DPoP-bound access tokens (RFC 9449) at a running `McpServer`, over real HTTP, with tokens
//! signed by a real issuer's key or introspected at a real endpoint, and proofs signed by
//! real client keys: each policy's answer to each way of presenting a token (`policy`), the
//! challenges and metadata (`challenges`), both protocol eras with a proof on every request
//! (`eras`), server nonces (`nonces`), a server behind a proxy or a standalone layer
//! (`proxy`), and the configurations refused (`configuration`). The attacks on proofs
//! themselves are in the adversarial suite, what is logged in `secrets_on_every_path`; these
//! tests cover the wiring around them.

mod capacity;
mod challenges;
mod configuration;
mod eras;
mod nonces;
mod policy;
mod proxy;

use std::net::SocketAddr;

use http::header;
use mcp_auth_runtime::McpServerBuilder;
use mcp_auth_runtime::auth::{Dpop, IntrospectionVerifier, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::dpop::{DpopKey, fresh_jti};
use mcp_auth_test_support::issuer::{FaultyIntrospection, Issuer, TestKey, claims};
use mcp_auth_test_support::tools::{read_thing, write_thing};
use mcp_auth_test_support::{bind_endpoint, serve_on};
use serde_json::{Value, json};

/// How the server checks tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// JWTs signed by the issuer's key.
    Jwt,
    /// Opaque tokens, introspected (RFC 7662) at an endpoint on loopback.
    Introspected,
}

const KINDS: [Kind; 2] = [Kind::Jwt, Kind::Introspected];

/// The `algs` of a `DPoP` challenge by default.
const ALGS: &str = "ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512";

/// The scopes a challenge to a request without a token names: every declared one.
const SCOPES: &str = "scope=\"things:read things:write\"";

/// `error` and its `error_description`, as a challenge carries them.
fn problem(error: &str, description: &str) -> String {
    format!("error=\"{error}\", error_description=\"{description}\"")
}

/// The summary, for the handshake era's `GET` stream (a server without resources has none).
#[resource(uri = "things://summary", scope = "things:read")]
async fn summary() -> Result<String, ToolError> {
    Ok("two things".into())
}

/// A running server with DPoP configured, and what mints its tokens.
struct Fx {
    addr: SocketAddr,
    /// The resource: the MCP endpoint's URI as clients address it.
    resource: String,
    /// Where requests for the MCP endpoint are sent: the resource, unless a test puts a
    /// proxy between.
    url: String,
    kind: Kind,
    issuer: Issuer,
    signer: TestKey,
    introspection: FaultyIntrospection,
    http: reqwest::Client,
}

impl Fx {
    /// A server checking `kind` tokens under `dpop`.
    async fn start(kind: Kind, dpop: Dpop) -> Fx {
        Fx::start_with(kind, |builder| builder.dpop(dpop)).await
    }

    /// A server checking `kind` tokens, configured further by `configure`.
    async fn start_with(
        kind: Kind,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
    ) -> Fx {
        let (listener, addr, resource) = bind_endpoint().await;
        let serve = |listener, server: McpServer| {
            serve_on(listener, server.into_router());
        };
        Fx::serve(kind, listener, addr, resource, configure, serve).await
    }

    /// A server for `resource` configured by `configure`, served on `listener` by `serve`
    /// (with routes of one's own, or behind a proxy).
    async fn serve(
        kind: Kind,
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        resource: String,
        configure: impl FnOnce(McpServerBuilder) -> McpServerBuilder,
        serve: impl FnOnce(tokio::net::TcpListener, McpServer),
    ) -> Fx {
        let signer = TestKey::es256("issuer-1");
        let issuer = Issuer::start(&[&signer]).await;
        let introspection = FaultyIntrospection::start(&resource).await;
        let builder = McpServer::builder("dpop", "1.0.0")
            .tools(tools![read_thing, write_thing])
            .resources(resources![summary])
            .resource(resource.clone());
        let builder = match kind {
            Kind::Jwt => builder.authorization_server(issuer.url.clone()).verifier(
                JwtVerifier::builder(issuer.url.clone(), resource.clone())
                    .build()
                    .unwrap(),
            ),
            Kind::Introspected => builder.verifier(
                IntrospectionVerifier::builder(&introspection.url, resource.clone())
                    .build()
                    .unwrap(),
            ),
        };
        serve(listener, configure(builder).build().unwrap());
        Fx {
            addr,
            url: resource.clone(),
            resource,
            kind,
            issuer,
            signer,
            introspection,
            http: reqwest::Client::new(),
        }
    }

    /// A token for this server with `scope`, bound to `key` when given (`cnf.jkt`).
    fn token(&self, scope: &str, key: Option<&DpopKey>) -> String {
        self.token_with(
            scope,
            key.map_or(json!({}), |key| json!({ "cnf": key.cnf() })),
        )
    }

    /// A token for this server with `scope`, its claims (or introspection response) changed
    /// by `changes`.
    fn token_with(&self, scope: &str, changes: Value) -> String {
        match self.kind {
            Kind::Jwt => {
                let mut claims = claims(&self.issuer.url, &self.resource, scope);
                mcp_auth_test_support::issuer::patch(&mut claims, &changes);
                self.signer.sign(&claims)
            }
            Kind::Introspected => {
                let token = format!("opaque-{}", fresh_jti());
                self.introspection
                    .activate_with(&token, "user-1", scope, changes);
                token
            }
        }
    }

    /// A 2026-07-28 `tools/call` of `tool` to the MCP endpoint, without credentials yet.
    fn call(&self, tool: &str) -> reqwest::Request {
        let mut request = mcp_auth_test_support::modern::request(
            &self.http,
            &self.url,
            "none",
            "application/json",
            json!({}),
            1,
            "tools/call",
            json!({ "name": tool, "arguments": {} }),
        )
        .build()
        .unwrap();
        request.headers_mut().remove(header::AUTHORIZATION);
        request
    }

    /// The challenge of `scheme` (`Bearer` or `DPoP`, whose `algs` are the default ones)
    /// with this server's realm and metadata, then `params` if any.
    fn challenge(&self, scheme: &str, params: &str) -> String {
        let mut out = format!("{scheme} {}", self.realm());
        if scheme == "DPoP" {
            out.push_str(&format!(", algs=\"{ALGS}\""));
        }
        if !params.is_empty() {
            out.push_str(", ");
            out.push_str(params);
        }
        out
    }

    /// Sends `request`.
    async fn send(&self, request: reqwest::Request) -> Answer {
        Answer::of(self.http.execute(request).await.unwrap()).await
    }

    /// `GET` of the protected-resource metadata.
    async fn metadata(&self) -> Value {
        let url = format!(
            "http://{}/.well-known/oauth-protected-resource/mcp",
            self.addr
        );
        mcp_auth_test_support::get_json(&self.http, url).await
    }

    /// The parameters every challenge of this server starts with.
    fn realm(&self) -> String {
        format!(
            "realm=\"dpop\", resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
            self.addr
        )
    }
}

/// What a request presents: `Authorization` and `DPoP` headers.
fn authorized(
    mut request: reqwest::Request,
    authorization: &str,
    proofs: &[String],
) -> reqwest::Request {
    let headers = request.headers_mut();
    headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
    for proof in proofs {
        headers.append("dpop", proof.parse().unwrap());
    }
    request
}

/// The URI a proof for `request` names: its URL without query and fragment.
fn htu(request: &reqwest::Request) -> String {
    let mut url = request.url().clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// `request` with `token` as a bearer token.
fn bearer(request: reqwest::Request, token: &str) -> reqwest::Request {
    authorized(request, &format!("Bearer {token}"), &[])
}

/// `request` with `token` in the DPoP scheme and an honest proof by `key` for it.
fn dpop(request: reqwest::Request, key: &DpopKey, token: &str) -> reqwest::Request {
    let proof = key.proof(request.method().as_str(), &htu(&request), Some(token));
    authorized(request, &format!("DPoP {token}"), &[proof])
}

/// An answer: status, every `WWW-Authenticate` value in order, `DPoP-Nonce`, and the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let headers = response.headers();
        let all = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        let challenges = all("www-authenticate");
        let nonce = all("dpop-nonce").pop();
        let cache_control = all("cache-control").pop();
        assert!(
            all("dpop-nonce").len() <= 1,
            "at most one DPoP-Nonce (RFC 9449 §8)"
        );
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            challenges,
            nonce,
            cache_control,
            body,
        }
    }

    /// Asserts a successful tool call answering `text`.
    #[track_caller]
    fn assert_called(&self, text: &str) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.body["result"]["content"][0]["text"], text, "{self:?}");
    }

    /// Asserts a refusal with `status` whose challenges are exactly `challenges`.
    #[track_caller]
    fn assert_refused(&self, status: u16, challenges: &[String]) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.challenges, challenges, "{self:?}");
    }
}
