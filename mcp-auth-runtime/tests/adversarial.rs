//! Attacks on a running server, over real HTTP: forged, tampered and confused tokens signed
//! with keys generated here, smuggled scopes, hostile headers, sessions and JSON-RPC messages,
//! hostile issuer metadata, floods of random opaque tokens, and signed tokens that are not
//! bearer access tokens (other JWT types, ID tokens, key-bound tokens, tokens naming nobody).
//!
//! Every attack asserts the exact status, the exact `WWW-Authenticate` challenge (or that
//! there is none), and that no tool body ran: the tools count their runs. The few accepted
//! variants (an audience hidden among others, a lowercase scheme) are positive controls and
//! say so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_auth_runtime::DEFAULT_BODY_LIMIT;
use mcp_auth_runtime::auth::{IntrospectionVerifier, JwtVerifier};
use mcp_auth_runtime::prelude::*;
use mcp_auth_test_support::bind;
use mcp_auth_test_support::issuer::{FaultyIntrospection, Issuer, TestKey, at, claims};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Counts the tool bodies that ran.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

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

const ALL: &str = "invoices:read invoices:write";

/// The challenge an attack must get.
#[derive(Clone, Copy, Debug)]
enum Challenge {
    /// No `WWW-Authenticate` header.
    Absent,
    /// No token: the realm, the metadata and the advertised scopes, no error.
    Missing,
    InvalidToken,
    InvalidRequest,
    InsufficientScope(&'static str),
}

struct Fx {
    issuer: Issuer,
    rsa: TestKey,
    rsa2: TestKey,
    ec: TestKey,
    ed: TestKey,
    addr: SocketAddr,
    resource: String,
    runs: Runs,
    http: reqwest::Client,
}

impl Fx {
    /// A server whose handshake era is stateless, so that one POST reaches a tool.
    async fn start() -> Fx {
        Fx::start_with(true).await
    }

    async fn start_with(stateless: bool) -> Fx {
        let rsa = TestKey::rsa("rsa-1");
        let rsa2 = TestKey::rsa("rsa-2");
        let ec = TestKey::es256("ec-1");
        let ed = TestKey::ed25519("ed-1");
        let issuer = Issuer::start(&[&rsa, &rsa2, &ec, &ed]).await;
        let listener = bind().await;
        let addr = listener.local_addr().unwrap();
        let resource = format!("http://{addr}/mcp");
        let verifier = JwtVerifier::builder(issuer.url.clone(), resource.clone())
            .build()
            .unwrap();
        let runs = Runs::default();
        let server = McpServer::builder("invoices", "1.0.0")
            .tools(tools![lookup_invoice, void_invoice])
            .state(runs.clone())
            .resource(resource.clone())
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
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn runs(&self) -> usize {
        self.runs.0.load(Ordering::SeqCst)
    }

    /// Valid claims for this server with `scope`.
    fn claims(&self, scope: &str) -> Value {
        claims(&self.issuer.url, &self.resource, scope)
    }

    /// A valid ES256 token with every scope, its claims changed by `change`.
    fn token_with(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims(ALL);
        change(&mut claims);
        self.ec.sign(&claims)
    }

    fn good(&self) -> String {
        self.token_with(|_| {})
    }

    /// A POST of `body` with the content type and `Accept` of an MCP client, and no token.
    fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        self.http
            .post(self.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    }

    /// `tools/call` of `tool` with `token`.
    fn call(&self, tool: &str, token: &str) -> reqwest::RequestBuilder {
        self.post(call_body(tool, "INV-1")).bearer_auth(token)
    }

    /// `tools/call void_invoice`, the destructive tool, with `token`.
    fn void(&self, token: &str) -> reqwest::RequestBuilder {
        self.call("void_invoice", token)
    }

    fn challenge(&self, expected: Challenge) -> Option<String> {
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
    async fn refused(
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

    /// A positive control: `request` is answered `200` and its tool runs exactly once.
    async fn accepted(&self, what: &str, request: reqwest::RequestBuilder) -> Value {
        let before = self.runs();
        let (status, challenge, body) = send(request).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(challenge, None, "{what}");
        assert!(body["result"].is_object(), "{what}: {body}");
        assert_eq!(self.runs(), before + 1, "{what}: the tool did not run");
        body
    }

    /// A JSON-RPC error answered with `status`, no challenge, and no tool run.
    async fn rpc_error(
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

fn call_body(tool: &str, invoice: &str) -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": tool, "arguments": { "invoice_id": invoice } }
    })
    .to_string()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, challenge, body)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The three segments of a compact JWS.
fn segments(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// A token signed with HMAC-SHA256 under `secret`, naming `kid`.
fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn algorithm_confusion_never_verifies() {
    let fx = Fx::start().await;
    let claims = fx.claims(ALL);
    let bad = Challenge::InvalidToken;
    let (_, payload, signature) = segments(&fx.rsa.sign(&claims)).to_owned_parts();

    // 1–3. `alg: none`, without and with a signature, and in another case.
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    fx.refused("alg none", fx.void(&none), 401, bad).await;
    let none_signed = format!(
        "{}.{payload}.{signature}",
        b64(r#"{"alg":"none","kid":"rsa-1"}"#)
    );
    fx.refused("alg none with a signature", fx.void(&none_signed), 401, bad)
        .await;
    let none_cased = format!("{}.{payload}.", b64(r#"{"alg":"None"}"#));
    fx.refused("alg None", fx.void(&none_cased), 401, bad).await;

    // 4–7. HMAC keyed with the RSA public key, in every shape an attacker can get it.
    let pkcs1 = fx.rsa.rsa_public_pkcs1_der();
    let spki = fx.rsa.rsa_public_spki_der();
    let pem = fx.rsa.rsa_public_pem();
    let jwk = serde_json::to_string(&fx.rsa.jwk).unwrap();
    for (shape, secret) in [
        ("PKCS#1 DER", pkcs1.as_slice()),
        ("SPKI DER", spki.as_slice()),
        ("PEM", pem.as_bytes()),
        ("JWK JSON", jwk.as_bytes()),
    ] {
        let forged = hs256(secret, "rsa-1", &claims);
        fx.refused(
            &format!("HS256 with the RSA public key as {shape}"),
            fx.void(&forged),
            401,
            bad,
        )
        .await;
    }

    // 8–11. An algorithm the named key cannot verify: the key type decides, not the header.
    let mut header = fx.ec.header();
    header.kid = Some("rsa-1".into());
    fx.refused(
        "ES256 header naming an RSA kid",
        fx.void(&fx.ec.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = fx.rsa.header();
    header.kid = Some("ec-1".into());
    fx.refused(
        "RS256 header naming an EC kid",
        fx.void(&fx.rsa.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = fx.ed.header();
    header.kid = Some("ec-1".into());
    fx.refused(
        "EdDSA header naming an EC kid",
        fx.void(&fx.ed.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = fx.rsa.header();
    header.alg = Algorithm::PS256;
    fx.refused(
        "PS256 with a key whose JWK pins RS256",
        fx.void(&fx.rsa.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;

    // 12–15. Keys named by the token itself are never fetched or used.
    let attacker = TestKey::es256("attacker");
    let attacker_issuer = Issuer::start(&[&attacker]).await;
    let mut header = attacker.header();
    header.jku = Some(attacker_issuer.jwks_url());
    fx.refused(
        "jku to the attacker's key set",
        fx.void(&attacker.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = attacker.header();
    header.kid = Some("ec-1".into());
    header.jku = Some(attacker_issuer.jwks_url());
    fx.refused(
        "jku with our kid",
        fx.void(&attacker.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = attacker.header();
    header.x5u = Some(attacker_issuer.jwks_url());
    fx.refused(
        "x5u to the attacker",
        fx.void(&attacker.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = attacker.header();
    header.kid = Some("ec-1".into());
    header.jwk = Some(attacker.jwk.clone());
    fx.refused(
        "embedded jwk",
        fx.void(&attacker.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    let mut header = attacker.header();
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&attacker.der),
    ]);
    fx.refused(
        "embedded x5c",
        fx.void(&attacker.sign_with(header, &claims)),
        401,
        bad,
    )
    .await;
    assert_eq!(
        (attacker_issuer.jwks_hits(), attacker_issuer.metadata_hits()),
        (0, 0),
        "the attacker's key set was fetched"
    );

    // 16–18. `crit`: nothing here is understood, so any critical parameter refuses the token,
    // even one the verifier does check (and an empty list, which RFC 7515 forbids).
    for crit in [vec!["exp".to_owned()], vec!["b64".to_owned()], vec![]] {
        let mut header = fx.ec.header();
        header.crit = Some(crit.clone());
        fx.refused(
            &format!("crit {crit:?}"),
            fx.void(&fx.ec.sign_with(header, &claims)),
            401,
            bad,
        )
        .await;
    }
    fx.accepted("the genuine RS256 token", fx.void(&fx.rsa.sign(&claims)))
        .await;
}

/// `(&str, &str, &str)` to owned parts, so that the token they borrow from can go.
trait OwnedParts {
    fn to_owned_parts(self) -> (String, String, String);
}

impl OwnedParts for (&str, &str, &str) {
    fn to_owned_parts(self) -> (String, String, String) {
        (self.0.to_owned(), self.1.to_owned(), self.2.to_owned())
    }
}

#[tokio::test]
async fn stripped_truncated_and_borrowed_signatures_never_verify() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    let good = fx.good();
    let (header, payload, signature) = segments(&good);
    let other = fx.ec.sign(&fx.claims("invoices:read"));
    let (_, _, other_signature) = segments(&other);
    let mut flipped = b64_decode(signature);
    flipped[10] ^= 1;
    for (attack, token) in [
        ("signature stripped", format!("{header}.{payload}.")),
        ("two segments", format!("{header}.{payload}")),
        (
            "signature truncated",
            format!("{header}.{payload}.{}", &signature[..signature.len() - 6]),
        ),
        (
            "signature of another token",
            format!("{header}.{payload}.{other_signature}"),
        ),
        (
            "one bit of the signature flipped",
            format!("{header}.{payload}.{}", b64(&flipped)),
        ),
        // CVE-2022-21449: an ECDSA signature with r = s = 0.
        (
            "ECDSA signature of zeros",
            format!("{header}.{payload}.{}", b64([0u8; 64])),
        ),
        ("five segments", format!("{good}.{payload}.{signature}")),
        ("empty header", format!(".{payload}.{signature}")),
    ] {
        fx.refused(attack, fx.void(&token), 401, bad).await;
    }
    // Padding or spaces inside a token are not a b64token at all.
    fx.refused(
        "padding inside the token",
        fx.void(&format!("{header}==.{payload}.{signature}")),
        400,
        Challenge::InvalidRequest,
    )
    .await;
    fx.accepted("the genuine token", fx.void(&good)).await;
}

fn b64_decode(segment: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}

#[tokio::test]
async fn tampered_claims_and_foreign_keys_never_verify() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    let reader = fx.rsa.sign(&fx.claims("invoices:read"));
    let (header, payload, signature) = segments(&reader);
    let mut escalated = fx.claims(ALL);
    escalated["sub"] = "admin".into();
    fx.refused(
        "payload swapped for one with more scopes",
        fx.void(&format!(
            "{header}.{}.{signature}",
            b64(escalated.to_string())
        )),
        401,
        bad,
    )
    .await;
    let rekeyed = b64(json!({ "alg": "RS256", "kid": "rsa-2", "typ": "at+jwt" }).to_string());
    fx.refused(
        "header re-pointed at another of the issuer's keys",
        fx.void(&format!("{rekeyed}.{payload}.{signature}")),
        401,
        bad,
    )
    .await;
    for impostor in [TestKey::rsa("rsa-1"), TestKey::es256("ec-1")] {
        fx.refused(
            &format!(
                "a key of our kid {} that the issuer never had",
                impostor.kid
            ),
            fx.void(&impostor.sign(&fx.claims(ALL))),
            401,
            bad,
        )
        .await;
    }
    // A token of the issuer signed by one key but naming the other RSA key's kid.
    let mut header = fx.rsa2.header();
    header.kid = Some("rsa-1".into());
    fx.refused(
        "rsa-2 signature under the rsa-1 kid",
        fx.void(&fx.rsa2.sign_with(header, &fx.claims(ALL))),
        401,
        bad,
    )
    .await;
}

#[tokio::test]
async fn hostile_kids_are_plain_unknown_names() {
    let fx = Fx::start().await;
    fx.accepted("warm the key cache", fx.void(&fx.good())).await;
    let hits = fx.issuer.jwks_hits();
    for kid in [
        "../../etc/passwd",
        "' OR 1=1 --",
        "ec-1\u{0}",
        "ec-1 ",
        "",
        "%2e%2e%2fjwks",
        &"k".repeat(8 * 1024),
    ] {
        let mut header = fx.ec.header();
        header.kid = Some(kid.to_owned());
        fx.refused(
            &format!("kid {:?}", kid.chars().take(20).collect::<String>()),
            fx.void(&fx.ec.sign_with(header, &fx.claims(ALL))),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    let (_, payload, signature) = segments(&fx.good()).to_owned_parts();
    for header in [
        json!({ "alg": "ES256", "kid": 1 }),
        json!({ "alg": "ES256", "kid": ["ec-1"] }),
        json!({ "alg": "ES256", "kid": { "$ne": "" } }),
    ] {
        fx.refused(
            &format!("kid of another type: {header}"),
            fx.void(&format!(
                "{}.{payload}.{signature}",
                b64(header.to_string())
            )),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // Unknown kids cost at most one refetch per interval (30 s by default).
    assert!(
        fx.issuer.jwks_hits() <= hits + 1,
        "{}",
        fx.issuer.jwks_hits()
    );
}

#[tokio::test]
async fn time_claims_are_enforced() {
    let fx = Fx::start().await;
    let bad = Challenge::InvalidToken;
    // (attack, claim, new value; `None` removes the claim)
    let cases: [(&str, &str, Option<Value>); 9] = [
        ("expired beyond the leeway", "exp", Some(at(-120).into())),
        ("nbf in the future", "nbf", Some(at(600).into())),
        ("iat in the future", "iat", Some(at(600).into())),
        ("exp a string", "exp", Some(at(300).to_string().into())),
        ("exp a float", "exp", Some((at(300) as f64 + 0.5).into())),
        ("exp negative", "exp", Some((-1).into())),
        ("exp beyond the clock", "exp", Some(u64::MAX.into())),
        ("iat a string", "iat", Some("now".into())),
        ("no exp", "exp", None),
    ];
    for (attack, claim, value) in cases {
        let token = fx.token_with(|c| match value {
            Some(value) => c[claim] = value,
            None => {
                c.as_object_mut().unwrap().remove(claim);
            }
        });
        fx.refused(attack, fx.void(&token), 401, bad).await;
    }
}

#[tokio::test]
async fn audience_variants_are_refused_and_a_hidden_one_is_found() {
    let fx = Fx::start().await;
    let port = fx.addr.port();
    let ours = fx.resource.clone();
    for aud in [
        json!(format!("http://127.0.0.1:{port}/mc")),
        json!(format!("http://127.0.0.1:{port}/mcp/extra")),
        json!(format!("http://127.0.0.1:{port}/mcpx")),
        json!(format!("https://127.0.0.1:{port}/mcp")),
        json!(format!("http://127.0.0.1:{}/mcp", port.wrapping_add(1))),
        json!("http://127.0.0.1/mcp"),
        json!(format!("http://127.0.0.1:{port}/MCP")),
        json!(format!("http://localhost:{port}/mcp")),
        json!(format!("http://attacker@127.0.0.1:{port}/mcp")),
        json!(format!("http://127.0.0.1:{port}/mcp?x=1")),
        json!(format!("http://127.0.0.1:{port}/mcp#f")),
        json!(format!("http://127.0.0.1:{port}/%6Dcp")),
        json!(format!("127.0.0.1:{port}/mcp")),
        json!(""),
        json!([]),
        json!(["junk", 5]),
        json!({ "aud": ours }),
    ] {
        fx.refused(
            &format!("aud {aud}"),
            fx.void(&fx.token_with(|c| c["aud"] = aud.clone())),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // Positive controls: ours among junk, and ours in another spelling of the same URI.
    fx.accepted(
        "aud array with ours hidden among junk",
        fx.void(&fx.token_with(|c| c["aud"] = json!(["junk", "https://a.example", ours, ""]))),
    )
    .await;
    fx.accepted(
        "aud with upper-case scheme and a trailing slash",
        fx.void(&fx.token_with(|c| c["aud"] = json!(format!("HTTP://127.0.0.1:{port}/mcp/")))),
    )
    .await;
}

#[tokio::test]
async fn issuer_variants_are_refused() {
    let fx = Fx::start().await;
    let iss = fx.issuer.url.clone();
    let port = fx.issuer.addr.port();
    for variant in [
        json!(format!("{iss}/")),
        json!(format!("{iss}/realms/other")),
        json!(iss.to_uppercase()),
        json!(format!("http://localhost:{port}")),
        json!([iss]),
        json!(null),
    ] {
        fx.refused(
            &format!("iss {variant}"),
            fx.void(&fx.token_with(|c| c["iss"] = variant.clone())),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
}

#[tokio::test]
async fn smuggled_scopes_grant_nothing() {
    let fx = Fx::start().await;
    // Claims of the wrong type make the token invalid.
    for scope in [
        json!(["invoices:write"]),
        json!(7),
        json!({ "invoices:write": true }),
        json!(true),
    ] {
        fx.refused(
            &format!("scope {scope}"),
            fx.void(&fx.token_with(|c| c["scope"] = scope.clone())),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // Strings that only look like the scope grant nothing: 403 with the step-up challenge.
    for scope in [
        "invoices:read\tinvoices:write",
        "invoices:read\ninvoices:write",
        "invoices:read,invoices:write",
        "invoices\u{ff1a}write",
        "\u{0456}nvoices:write",
        "invoices:writ\u{0435}",
        "INVOICES:WRITE",
        "invoices:write\u{0}",
        "\"invoices:write\"",
        "invoices:*",
        "invoices",
    ] {
        fx.refused(
            &format!("scope {scope:?}"),
            fx.void(&fx.token_with(|c| c["scope"] = format!("invoices:read {scope}").into())),
            403,
            Challenge::InsufficientScope("invoices:write"),
        )
        .await;
    }
    // `scp` is not read when the server reads `scope` (and the other way round).
    fx.refused(
        "scp array beside a narrower scope",
        fx.void(&fx.token_with(|c| {
            c["scope"] = "invoices:read".into();
            c["scp"] = json!(["invoices:write"]);
        })),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
    // Extra spaces are tolerated for what the token does grant, and grant nothing else.
    let spaced = fx.token_with(|c| c["scope"] = "  invoices:read   ".into());
    fx.accepted(
        "extra spaces around a granted scope",
        fx.call("lookup_invoice", &spaced),
    )
    .await;
    fx.refused(
        "extra spaces",
        fx.void(&spaced),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
}

#[tokio::test]
async fn repeated_claim_and_header_names_refuse_the_token() {
    let fx = Fx::start().await;
    let (iss, aud) = (fx.issuer.url.clone(), fx.resource.clone());
    let (exp, iat) = (at(300), at(0));
    let header = r#"{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}"#;
    let base = format!(r#""iss":"{iss}","sub":"mallory","exp":{exp},"iat":{iat}"#);
    for (attack, header, payload) in [
        (
            "two aud, ours last",
            header.to_owned(),
            format!(r#"{{{base},"scope":"{ALL}","aud":"https://other.example","aud":"{aud}"}}"#),
        ),
        (
            "two aud, ours first",
            header.to_owned(),
            format!(r#"{{{base},"scope":"{ALL}","aud":"{aud}","aud":"https://other.example"}}"#),
        ),
        (
            "two scope, the wider last",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"invoices:read","scope":"invoices:write"}}"#),
        ),
        (
            "two scope, one spelled with an escape",
            header.to_owned(),
            format!(
                r#"{{{base},"aud":"{aud}","scope":"invoices:read","sc\u006fpe":"invoices:write"}}"#
            ),
        ),
        (
            "two sub",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}","sub":"admin"}}"#),
        ),
        (
            "two client_id",
            header.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}","client_id":"a","client_id":"b"}}"#),
        ),
        (
            "two kid in the header",
            r#"{"alg":"ES256","kid":"ec-1","kid":"rsa-1","typ":"at+jwt"}"#.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#),
        ),
        (
            "two typ in the header",
            r#"{"alg":"ES256","kid":"ec-1","typ":"at+jwt","typ":"JWT"}"#.to_owned(),
            format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#),
        ),
    ] {
        fx.refused(
            attack,
            fx.void(&fx.ec.sign_raw(&header, &payload)),
            401,
            Challenge::InvalidToken,
        )
        .await;
    }
    // The same raw signing path accepts the same token without the repetition.
    let payload = format!(r#"{{{base},"aud":"{aud}","scope":"{ALL}"}}"#);
    fx.accepted(
        "the raw token without repeated names",
        fx.void(&fx.ec.sign_raw(header, &payload)),
    )
    .await;
}

#[tokio::test]
async fn tokens_only_travel_in_one_authorization_header() {
    let fx = Fx::start().await;
    let good = fx.good();
    let url = fx.url();
    let body = call_body("void_invoice", "INV-1");
    let post = |url: String| {
        fx.http
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
    };
    let invalid = Challenge::InvalidRequest;
    fx.refused(
        "token in the query string",
        post(format!("{url}?access_token={good}")),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "token in the query string and the header",
        post(format!("{url}?access_token={good}")).bearer_auth(&good),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "empty access_token among other parameters",
        post(format!("{url}?a=1&access_token=")),
        400,
        invalid,
    )
    .await;
    fx.refused(
        "token in a form body (RFC 6750 §2.2) is never read",
        fx.http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={good}")),
        401,
        Challenge::Missing,
    )
    .await;
    for (attack, values) in [
        (
            "two Authorization headers, both valid",
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
        ),
        (
            "a garbage header before a valid one",
            vec!["Bearer garbage".to_owned(), format!("Bearer {good}")],
        ),
        (
            "Basic beside Bearer",
            vec!["Basic dXNlcjpwYXNz".to_owned(), format!("Bearer {good}")],
        ),
        (
            "two tokens in one header",
            vec![format!("Bearer {good}, Bearer {good}")],
        ),
        ("a quoted token", vec![format!("Bearer \"{good}\"")]),
        (
            "a token and a trailing word",
            vec![format!("Bearer {good} x")],
        ),
        ("Bearer without a token", vec!["Bearer".to_owned()]),
    ] {
        let mut request = post(url.clone());
        for value in values {
            request = request.header("authorization", value);
        }
        fx.refused(attack, request, 400, invalid).await;
    }
    for (attack, value) in [
        ("a tab after the scheme", format!("Bearer\t{good}")),
        ("another scheme", format!("Token {good}")),
        (
            "a scheme that starts like Bearer",
            format!("BearerX {good}"),
        ),
    ] {
        fx.refused(
            attack,
            post(url.clone()).header("authorization", value),
            401,
            Challenge::Missing,
        )
        .await;
    }
    // RFC 9110 §11.1: the scheme is case-insensitive, so these are genuine requests.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        fx.accepted(
            &format!("scheme {scheme}"),
            post(url.clone()).header("authorization", format!("{scheme} {good}")),
        )
        .await;
    }
}

#[tokio::test]
async fn oversized_tokens_and_headers_are_refused_fast() {
    let fx = Fx::start().await;
    let huge = "a".repeat(100 * 1024);
    let started = Instant::now();
    fx.refused("a 100 KiB token", fx.void(&huge), 431, Challenge::Absent)
        .await;
    fx.refused(
        "a 20 KiB token (over the 16 KiB token bound)",
        fx.void(&"a".repeat(20 * 1024)),
        400,
        Challenge::InvalidRequest,
    )
    .await;
    fx.refused(
        "a valid token beside 40 KiB of other headers",
        fx.void(&fx.good())
            .header("x-padding", "p".repeat(40 * 1024)),
        431,
        Challenge::Absent,
    )
    .await;
    let mut many = fx.void(&fx.good());
    for i in 0..200 {
        many = many.header(format!("x-h-{i}"), "v");
    }
    fx.refused("200 header fields", many, 431, Challenge::Absent)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A flood of oversized requests does not stall a genuine one.
    let flood: Vec<_> = (0..64)
        .map(|_| tokio::spawn(fx.void(&huge).send()))
        .collect();
    let started = Instant::now();
    fx.accepted("a genuine call during the flood", fx.void(&fx.good()))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for request in flood {
        assert_eq!(request.await.unwrap().unwrap().status(), 431);
    }
}

#[tokio::test]
async fn sessions_are_never_fixed_or_borrowed() {
    let fx = Fx::start_with(false).await;
    let alice = fx.token_with(|c| c["sub"] = "alice".into());
    let mallory = fx.token_with(|c| c["sub"] = "mallory".into());
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } }
    })
    .to_string();
    let chosen = "attacker-chosen-session-id-0123456789abcdef";
    let response = fx
        .post(initialize.clone())
        .bearer_auth(&alice)
        .header("mcp-session-id", chosen)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let issued = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(issued, chosen, "a client-chosen session id was adopted");
    assert_eq!(issued.len(), 43, "256 random bits");

    let on = |session: &str, token: &str, tool: &str| {
        fx.call(tool, token)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
    };
    fx.rpc_error(
        "the fixated id",
        on(chosen, &alice, "void_invoice"),
        404,
        -32600,
    )
    .await;
    fx.rpc_error(
        "alice's session with mallory's token",
        on(&issued, &mallory, "void_invoice"),
        404,
        -32600,
    )
    .await;
    let other_client = fx.token_with(|c| {
        c["sub"] = "alice".into();
        c["client_id"] = "mallory-app".into();
    });
    fx.rpc_error(
        "alice's session with a token of alice for another client",
        on(&issued, &other_client, "void_invoice"),
        404,
        -32600,
    )
    .await;
    fx.refused(
        "alice's session without a token",
        fx.post(call_body("void_invoice", "INV-1"))
            .header("mcp-session-id", &issued),
        401,
        Challenge::Missing,
    )
    .await;
    let ended = fx
        .http
        .delete(fx.url())
        .bearer_auth(&mallory)
        .header("mcp-session-id", &issued)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404, "mallory ended alice's session");
    // The session carries no privileges: alice's own token decides her scopes.
    let alice_reader = fx.token_with(|c| {
        c["sub"] = "alice".into();
        c["scope"] = "invoices:read".into();
    });
    fx.refused(
        "alice's session with her read-only token",
        on(&issued, &alice_reader, "void_invoice"),
        403,
        Challenge::InsufficientScope("invoices:write"),
    )
    .await;
    fx.accepted(
        "alice's session still works for alice",
        on(&issued, &alice, "void_invoice"),
    )
    .await;
    fx.rpc_error(
        "a 4 KiB session id",
        on(&"s".repeat(4096), &alice, "void_invoice"),
        404,
        -32600,
    )
    .await;
}

#[tokio::test]
async fn rebinding_hosts_and_foreign_origins_are_refused_before_authentication() {
    let fx = Fx::start().await;
    let good = fx.good();
    let port = fx.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("localhost.:{port}"),
        // Parsed as an authority, not split at its last colon: userinfo is not a host.
        format!("localhost:{port}@evil.example"),
        format!("127.0.0.1:{port}@evil.example:{port}"),
        format!("user@127.0.0.1:{port}"),
        format!("[::1]:{port}@evil.example"),
        format!("localhost:{port}/x"),
        format!("localhost:x{port}"),
    ] {
        fx.rpc_error(
            &format!("Host {host}"),
            fx.void(&good).header("host", host.as_str()),
            403,
            -32600,
        )
        .await;
    }
    for origin in [
        "http://evil.example".to_owned(),
        "null".to_owned(),
        "http://localhost.evil.example".to_owned(),
        format!("http://127.0.0.1@evil.example:{port}"),
        format!("file://127.0.0.1:{port}"),
        "https://127.0.0.1.nip.io".to_owned(),
        // Parsed as a URL, not split at its last colon: these name evil.example.
        format!("http://localhost:{port}@evil.example"),
        format!("http://[::1]:{port}@evil.example"),
        format!("http://localhost:{port}@evil.example:{port}"),
        // A serialized origin has no path, query or fragment.
        format!("http://localhost:{port}/path"),
        format!("http://localhost:{port}?q"),
        format!("http://localhost:{port}#f"),
        format!("http://localhost:{port}\\@evil.example"),
    ] {
        fx.rpc_error(
            &format!("Origin {origin}"),
            fx.void(&good).header("origin", origin.as_str()),
            403,
            -32600,
        )
        .await;
    }
    fx.accepted(
        "a loopback origin",
        fx.void(&good)
            .header("origin", format!("http://localhost:{port}")),
    )
    .await;
}

#[tokio::test]
async fn json_rpc_oddities_are_400_and_run_nothing() {
    let fx = Fx::start().await;
    let good = fx.good();
    let raw = |body: &str| fx.post(body.to_owned()).bearer_auth(&good);
    let call = r#""method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"INV-1"}}"#;
    for (attack, body, code) in [
        (
            "a batch",
            format!(r#"[{{"jsonrpc":"2.0","id":1,{call}}}]"#),
            -32600,
        ),
        ("jsonrpc 1.0", format!(r#"{{"jsonrpc":"1.0","id":1,{call}}}"#), -32600),
        ("no jsonrpc", format!(r#"{{"id":1,{call}}}"#), -32600),
        ("jsonrpc a number", format!(r#"{{"jsonrpc":2.0,"id":1,{call}}}"#), -32600),
        ("id true", format!(r#"{{"jsonrpc":"2.0","id":true,{call}}}"#), -32600),
        ("id an object", format!(r#"{{"jsonrpc":"2.0","id":{{}},{call}}}"#), -32600),
        ("id an array", format!(r#"{{"jsonrpc":"2.0","id":[1],{call}}}"#), -32600),
        ("id a float", format!(r#"{{"jsonrpc":"2.0","id":1.5,{call}}}"#), -32600),
        ("id null", format!(r#"{{"jsonrpc":"2.0","id":null,{call}}}"#), -32600),
        ("id 1e400", format!(r#"{{"jsonrpc":"2.0","id":1e400,{call}}}"#), -32600),
        (
            "id beyond u64",
            format!(r#"{{"jsonrpc":"2.0","id":184467440737095516160,{call}}}"#),
            -32600,
        ),
        (
            "two method members",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"x"}}}"#.to_owned(),
            -32600,
        ),
        (
            "two names in params",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"lookup_invoice","name":"void_invoice","arguments":{"invoice_id":"x"}}}"#.to_owned(),
            -32600,
        ),
        (
            "two values of one argument",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":"a","invoice_id":"b"}}}"#.to_owned(),
            -32600,
        ),
        (
            "NaN",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":NaN}}}"#.to_owned(),
            -32700,
        ),
        (
            "Infinity",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"void_invoice","arguments":{"invoice_id":-Infinity}}}"#.to_owned(),
            -32700,
        ),
        (
            "params an array",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["void_invoice"]}"#.to_owned(),
            -32602,
        ),
        (
            "method a number",
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#.to_owned(),
            -32600,
        ),
        (
            "trailing garbage",
            format!(r#"{{"jsonrpc":"2.0","id":1,{call}}}x"#),
            -32700,
        ),
        (
            "two messages in one body",
            format!(r#"{{"jsonrpc":"2.0","id":1,{call}}}{{"jsonrpc":"2.0","id":2,{call}}}"#),
            -32700,
        ),
        (
            "a byte-order mark",
            format!("\u{feff}{{\"jsonrpc\":\"2.0\",\"id\":1,{call}}}"),
            -32700,
        ),
        ("an empty body", String::new(), -32700),
        (
            "100k nested arrays",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"void_invoice","arguments":{{"invoice_id":{}"x"{}}}}}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            -32602,
        ),
        (
            "100k nested objects",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"void_invoice","arguments":{}1{}}}}}"#,
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            ),
            -32602,
        ),
        ("100k leading brackets", "[".repeat(100_000), -32600),
    ] {
        fx.rpc_error(attack, raw(&body), 400, code).await;
    }
    fx.rpc_error(
        "a body that is not UTF-8",
        fx.post(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}".to_vec())
            .bearer_auth(&good),
        400,
        -32700,
    )
    .await;
    // Not JSON-RPC requests at all: nothing to answer, and nothing runs.
    fx.refused(
        "tools/call as a notification",
        raw(&format!(r#"{{"jsonrpc":"2.0",{call}}}"#)),
        202,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "a response to a request never made",
        raw(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#),
        202,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "text/plain",
        fx.http
            .post(fx.url())
            .bearer_auth(&good)
            .header("content-type", "text/plain")
            .body(call_body("void_invoice", "x")),
        415,
        Challenge::Absent,
    )
    .await;
    // A 1 MB string id is echoed on the error path and on success; a reader is refused.
    let reader = fx.token_with(|c| c["scope"] = "invoices:read".into());
    let id = "i".repeat(1_000_000);
    let big_id = |method: &str| {
        json!({ "jsonrpc": "2.0", "id": id, "method": method,
                "params": { "name": "void_invoice", "arguments": { "invoice_id": "x" } } })
        .to_string()
    };
    let body = fx
        .refused(
            "a 1 MB id on a forbidden call",
            fx.post(big_id("tools/call")).bearer_auth(&reader),
            403,
            Challenge::InsufficientScope("invoices:write"),
        )
        .await;
    assert_eq!(body["id"].as_str().map(str::len), Some(1_000_000));
    let body = fx
        .refused(
            "a 1 MB id on ping",
            fx.post(big_id("ping")).bearer_auth(&reader),
            200,
            Challenge::Absent,
        )
        .await;
    assert_eq!(body["id"].as_str().map(str::len), Some(1_000_000));
    // The server is still there.
    fx.accepted("a genuine call afterwards", fx.void(&good))
        .await;
}

#[tokio::test]
async fn tool_name_tricks_find_no_tool() {
    let fx = Fx::start().await;
    let good = fx.good();
    let with_name = |name: Value| {
        fx.post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": name, "arguments": { "invoice_id": "INV-1" } } })
            .to_string(),
        )
        .bearer_auth(&good)
    };
    for name in [
        json!("Void_Invoice"),
        json!("VOID_INVOICE"),
        json!("../void_invoice"),
        json!("./void_invoice"),
        json!("void_invoice/"),
        json!("void_invoice "),
        json!(" void_invoice"),
        json!("void_invoice\u{0}"),
        json!("v\u{043e}id_invoice"),
        json!("\u{ff56}oid_invoice"),
        json!("void_invoice\u{200b}"),
        json!("void%5Finvoice"),
        json!(["void_invoice"]),
        json!({ "name": "void_invoice" }),
        json!(null),
        json!(1),
    ] {
        fx.rpc_error(
            &format!("tool name {name}"),
            with_name(name.clone()),
            200,
            -32602,
        )
        .await;
    }
    fx.rpc_error(
        "method with a trailing space",
        fx.post(call_body("void_invoice", "x").replace("tools/call", "tools/call "))
            .bearer_auth(&good),
        200,
        -32601,
    )
    .await;
    // 2026-07-28: the Mcp-Name header, Base64-encoded, must name the tool of the body.
    let modern = |header_name: &str, body_name: &str| {
        fx.post(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": body_name, "arguments": { "invoice_id": "x" },
                                "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                           "io.modelcontextprotocol/clientCapabilities": {} } } })
            .to_string(),
        )
        .bearer_auth(&good)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", header_name)
    };
    let encoded = format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode("lookup_invoice")
    );
    fx.rpc_error(
        "Mcp-Name (Base64) naming another tool than the body",
        modern(&encoded, "void_invoice"),
        400,
        -32020,
    )
    .await;
    fx.rpc_error(
        "Mcp-Name sentinel that is not Base64",
        modern("=?base64?void_invoice?=", "void_invoice"),
        400,
        -32020,
    )
    .await;
    fx.accepted(
        "Mcp-Name in Base64 naming the body's tool",
        modern(
            &format!(
                "=?base64?{}?=",
                base64::engine::general_purpose::STANDARD.encode("void_invoice")
            ),
            "void_invoice",
        ),
    )
    .await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_just_under_are_served() {
    let fx = Fx::start().await;
    let good = fx.good();
    let overhead = call_body("void_invoice", "").len();
    let at_limit = call_body("void_invoice", &"x".repeat(DEFAULT_BODY_LIMIT - overhead));
    assert_eq!(at_limit.len(), DEFAULT_BODY_LIMIT);
    let over = call_body(
        "void_invoice",
        &"x".repeat(DEFAULT_BODY_LIMIT - overhead + 1),
    );
    fx.refused(
        "a body one byte over the limit",
        fx.post(over.clone()).bearer_auth(&good),
        413,
        Challenge::Absent,
    )
    .await;
    fx.refused(
        "a body of 8 MiB",
        fx.post(call_body("void_invoice", &"x".repeat(8 << 20)))
            .bearer_auth(&good),
        413,
        Challenge::Absent,
    )
    .await;
    // Without a token the body is never read: authentication comes first.
    fx.refused(
        "an oversized body without a token",
        fx.post(over),
        401,
        Challenge::Missing,
    )
    .await;
    let body = fx
        .accepted(
            "a body exactly at the limit",
            fx.post(at_limit).bearer_auth(&good),
        )
        .await;
    assert_eq!(
        body["result"]["content"][0]["text"],
        format!("voided {} bytes", DEFAULT_BODY_LIMIT - overhead)
    );
}

/// RFC 9112 §3.2: a request with more than one `Host` line must get `400`; and a second
/// `Origin` must not hide behind a trusted first one. Browsers never send either, so DNS
/// rebinding through a browser cannot use this; a proxy that appends headers could.
#[tokio::test]
async fn repeated_host_or_origin_headers_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = Fx::start().await;
    let good = fx.good();
    let port = fx.addr.port();
    let before = fx.runs();
    let response = fx
        .void(&good)
        .header("origin", format!("http://127.0.0.1:{port}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a second, foreign Origin");
    let body = call_body("void_invoice", "INV-1");
    let mut stream = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\
         Authorization: Bearer {good}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "two Host lines: {answer}"
    );
    assert_eq!(fx.runs(), before, "a tool ran");
}

/// The issuer's metadata is a document from the network: the `jwks_uri` it advertises gets
/// the rules a configured URL gets (`https`, or `http` on a loopback host; no userinfo; no
/// fragment), and a redirect is not followed. Nothing is fetched from a refused URL, the
/// reason is logged, and calls fail closed with `503`.
#[tokio::test]
async fn hostile_issuer_metadata_never_steers_the_key_fetch() {
    use mcp_auth_runtime::TokenVerifier as _;
    let (logs, _guard) = mcp_auth_test_support::logs::Logs::capture();
    let fx = Fx::start().await;
    let port = fx.issuer.addr.port();
    let cases = [
        // `0.0.0.0` reaches this machine on Linux, but it is no loopback host: elsewhere
        // plain http to such a host crosses the network.
        (
            format!("http://0.0.0.0:{port}/jwks"),
            "plain http is allowed on loopback hosts only",
        ),
        (
            format!("http://keys:hunter2@127.0.0.1:{port}/jwks"),
            "userinfo",
        ),
        (format!("http://keys@127.0.0.1:{port}/jwks"), "userinfo"),
        (format!("http://:hunter2@127.0.0.1:{port}/jwks"), "userinfo"),
        (format!("http://127.0.0.1:{port}/jwks#k"), "fragment"),
        (format!("http://127.0.0.1:{port}/jwks#"), "fragment"),
        (format!("ftp://127.0.0.1:{port}/jwks"), "not an https URL"),
        ("/jwks".to_owned(), "not an absolute URL"),
        // A 307 to the issuer's real key set: not followed.
        (
            format!("http://127.0.0.1:{port}/moved"),
            "redirects are not followed",
        ),
    ];
    let token = fx.good();
    for (jwks_uri, why) in cases {
        fx.issuer.set_jwks_uri(Some(jwks_uri.clone()));
        // A verifier of its own for each case: a refused discovery is retried only after the
        // refetch interval.
        let verifier = JwtVerifier::builder(fx.issuer.url.clone(), fx.resource.clone())
            .build()
            .unwrap();
        let before = fx.issuer.jwks_hits();
        let result = verifier.warm_up().await;
        let Err(mcp_auth_runtime::AuthError::Unavailable(reason)) = result else {
            panic!("{jwks_uri}: keys fetched: {result:?}");
        };
        assert!(reason.contains(why), "{jwks_uri}: {reason}");
        assert!(!reason.contains("hunter2"), "{jwks_uri}: {reason}");
        assert!(
            matches!(
                verifier.verify(&token).await,
                Err(mcp_auth_runtime::AuthError::Unavailable(_))
            ),
            "{jwks_uri}"
        );
        assert_eq!(fx.issuer.jwks_hits(), before, "{jwks_uri}: keys fetched");
    }

    // A configured JWKS URL gets the same rules, checked when the verifier is built.
    fx.issuer.set_jwks_uri(None);
    for jwks_url in [
        format!("http://k:hunter2@127.0.0.1:{port}/jwks"),
        format!("http://:hunter2@127.0.0.1:{port}/jwks"),
        format!("http://@127.0.0.1:{port}/jwks"),
        format!("http://127.0.0.1:{port}/jwks#k"),
    ] {
        let result = JwtVerifier::builder(fx.issuer.url.clone(), fx.resource.clone())
            .jwks_url(jwks_url.clone())
            .build();
        let Err(error @ mcp_auth_runtime::auth::JwtConfigError::InsecureJwksUrl(_)) = result else {
            panic!("{jwks_url}: accepted");
        };
        assert!(
            !error.to_string().contains("hunter2"),
            "{jwks_url}: {error}"
        );
    }
    assert_eq!(fx.issuer.jwks_hits(), 0, "keys fetched");

    // Through the server: the first call discovers the hostile metadata and fails closed.
    fx.issuer
        .set_jwks_uri(Some(format!("http://k:hunter2@127.0.0.1:{port}/jwks")));
    let body = fx
        .refused("hostile jwks_uri", fx.void(&token), 503, Challenge::Absent)
        .await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(fx.issuer.jwks_hits(), 0, "keys fetched");
    let logs = logs.text();
    assert!(
        logs.contains("ERROR") && logs.contains("jwks_uri") && logs.contains("userinfo"),
        "{logs}"
    );
    assert!(!logs.contains("hunter2"), "{logs}");
}

/// Random opaque tokens cannot turn the server into a flood of requests to the authorization
/// server: introspection requests in flight are bounded, concurrent requests with one token
/// share one introspection, and refusals are remembered for a while. A legitimate token sent
/// in the middle of the flood is still served.
#[tokio::test]
async fn random_opaque_tokens_cannot_flood_the_introspection_endpoint() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.activate("legit-7d41", "alice", ALL);
    endpoint.set_delay(Duration::from_millis(20));
    // The default bound on requests in flight (32), and room in the wait queue for the whole
    // flood so that every token is asked about (by default, the tokens beyond 4 x 32 waiting
    // fail at once: see the next test); refusals remembered long enough for the second round
    // to find them on a loaded machine (the default is 5 s).
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .max_queued_requests(500)
        .negative_cache_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let runs = Runs::default();
    let server = McpServer::builder("invoices", "1.0.0")
        .tools(tools![lookup_invoice, void_invoice])
        .state(runs.clone())
        .resource(resource.clone())
        .verifier(verifier)
        .stateless(true)
        .build()
        .unwrap();
    mcp_auth_test_support::serve_on(listener, server.into_router());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let call = |token: &str| {
        let request = http
            .post(format!("http://{addr}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .body(call_body("lookup_invoice", "INV-1"));
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    };
    let random: Vec<String> = (0..500).map(|i| format!("random-{i:03}-f00d")).collect();

    let mut flood = Vec::new();
    let mut legit = None;
    for (i, token) in random.iter().enumerate() {
        flood.push(call(token));
        if i == 250 {
            legit = Some(call("legit-7d41"));
        }
    }
    for task in flood {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(
        legit.unwrap().await.unwrap(),
        200,
        "legitimate amid the flood"
    );
    assert_eq!(endpoint.hits(), 501, "one introspection per distinct token");
    let max = endpoint.max_in_flight();
    assert!(max <= 32, "{max} introspection requests at once");

    // The same tokens again, all at once: the refusals are remembered.
    let again: Vec<_> = random.iter().map(|token| call(token)).collect();
    for task in again {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(endpoint.hits(), 501, "refusals are remembered");

    // One new token 100 times at once: one introspection.
    let same: Vec<_> = (0..100).map(|_| call("random-once-b00c")).collect();
    for task in same {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(
        endpoint.hits(),
        502,
        "concurrent requests share one introspection"
    );
    assert_eq!(
        runs.0.load(Ordering::SeqCst),
        1,
        "only the legitimate call ran"
    );
}

/// Random opaque tokens whose clients hang up leave nothing behind, with the default
/// settings: 500 requests with random 16 KiB tokens, each on a socket closed 50 ms after the
/// request is written (time for the token to start waiting for an introspection slot), leave
/// no token waiting once their clients are gone: after the flood, the endpoint sees at most
/// one more round of requests (32, the default bound in flight), not one per token, and the
/// next token finds no queue. Meanwhile a token already accepted keeps getting `200` at once.
/// (A socket closed right after its request costs nothing: the server drops the request
/// before it reaches the verifier.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tokens_whose_clients_hang_up_leave_nothing_behind() {
    let listener = bind().await;
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let endpoint = FaultyIntrospection::start(&resource).await;
    endpoint.activate("legit-1-5c2e", "alice", ALL);
    endpoint.activate("legit-2-9a7b", "bob", ALL);
    endpoint.set_delay(Duration::from_millis(500));
    let verifier = IntrospectionVerifier::builder(&endpoint.url, &resource)
        .build()
        .unwrap();
    let server = McpServer::builder("invoices", "1.0.0")
        .tools(tools![lookup_invoice, void_invoice])
        .state(Runs::default())
        .resource(resource.clone())
        .verifier(verifier)
        .stateless(true)
        .build()
        .unwrap();
    mcp_auth_test_support::serve_on(listener, server.into_router());
    let http = reqwest::Client::new();
    let call = |token: &str| {
        http.post(format!("http://{addr}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .bearer_auth(token)
            .body(call_body("lookup_invoice", "INV-1"))
            .send()
    };
    assert_eq!(call("legit-1-5c2e").await.unwrap().status(), 200);
    assert_eq!(endpoint.hits(), 1);

    let flood = tokio::spawn(async move {
        let body = call_body("lookup_invoice", "INV-1");
        for batch in 0..2 {
            let sockets: Vec<_> = (0..250)
                .map(|i| {
                    // The longest token the bearer layer takes: 16 KiB.
                    let token = format!("random-{batch:02}{i:03}-{:f<16371}", "");
                    let request = format!(
                        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                         Content-Type: application/json\r\nAccept: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    tokio::spawn(async move {
                        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                        tcp.write_all(request.as_bytes()).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        // Hang up: the socket closes when dropped.
                    })
                })
                .collect();
            for socket in sockets {
                socket.await.unwrap();
            }
        }
    });
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while !flood.is_finished() {
        let started = Instant::now();
        assert_eq!(call("legit-1-5c2e").await.unwrap().status(), 200);
        slowest = slowest.max(started.elapsed());
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flood.await.unwrap();
    assert!(served > 0);
    assert!(
        slowest < Duration::from_secs(1),
        "a cached token answered in {slowest:?} during the flood"
    );
    // Three rounds of answers later (a queue left behind would have sent 3 x 32 requests):
    // at most one round, for clients whose hang-up the server had not yet seen at the end.
    let at_end = endpoint.hits();
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let after = endpoint.hits() - at_end;
    assert!(
        after <= 32,
        "{after} introspection requests after the flood ended ({at_end} during it)"
    );
    assert!(endpoint.max_in_flight() <= 32);
    let started = Instant::now();
    assert_eq!(call("legit-2-9a7b").await.unwrap().status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no queue left: {:?}",
        started.elapsed()
    );
}

/// Tokens the issuer really signed for this resource, with every scope, that are not bearer
/// access tokens: other JWT types, ID tokens, key-bound tokens, tokens naming nobody, and
/// audiences a browser-style parser would repair into this resource. Each is sent to the
/// destructive tool with each `Accept` a client may send; each gets `401 invalid_token`.
#[tokio::test]
async fn signed_tokens_that_are_not_bearer_access_tokens_run_nothing() {
    let fx = Fx::start().await;
    let typed = |typ: Option<&str>| {
        let mut header = fx.ec.header();
        header.typ = typ.map(str::to_owned);
        fx.ec.sign_with(header, &fx.claims(ALL))
    };
    let host = fx
        .resource
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    let mut attacks: Vec<(String, String)> = [
        None,
        Some("JWT"),
        Some("dpop+jwt"),
        Some("logout+jwt"),
        Some("secevent+jwt"),
        Some("id_token+jwt"),
    ]
    .into_iter()
    .map(|typ| (format!("typ {typ:?}"), typed(typ)))
    .collect();
    for (what, change) in [
        ("nonce (an ID token)", json!({ "nonce": "n" })),
        ("at_hash (an ID token)", json!({ "at_hash": "h" })),
        ("cnf.jkt (DPoP-bound)", json!({ "cnf": { "jkt": "x" } })),
        (
            "cnf x5t#S256 (mTLS-bound)",
            json!({ "cnf": { "x5t#S256": "x" } }),
        ),
        (
            "neither sub nor client",
            json!({ "sub": null, "client_id": null }),
        ),
        (
            "empty sub and client",
            json!({ "sub": "", "client_id": "" }),
        ),
        (
            "aud with userinfo",
            json!({ "aud": format!("http://u@{host}/mcp") }),
        ),
        (
            "aud with an empty userinfo",
            json!({ "aud": format!("http://@{host}/mcp") }),
        ),
        (
            "aud with a backslash",
            json!({ "aud": format!("http://{host}\\mcp") }),
        ),
        (
            "aud with a leading space",
            json!({ "aud": format!(" http://{host}/mcp") }),
        ),
    ] {
        let token = fx.token_with(|claims| {
            for (name, value) in change.as_object().unwrap() {
                if value.is_null() {
                    claims.as_object_mut().unwrap().remove(name);
                } else {
                    claims[name] = value.clone();
                }
            }
        });
        attacks.push((what.to_owned(), token));
    }
    for (what, token) in &attacks {
        for accept in [
            "application/json, text/event-stream",
            "application/json",
            "text/event-stream",
        ] {
            fx.refused(
                &format!("{what}, Accept {accept}"),
                fx.http
                    .post(fx.url())
                    .header("content-type", "application/json")
                    .header("accept", accept)
                    .bearer_auth(token)
                    .body(call_body("void_invoice", "INV-1")),
                401,
                Challenge::InvalidToken,
            )
            .await;
        }
    }
    // The positive control: the same issuer's access token.
    fx.accepted("typ at+jwt", fx.void(&typed(Some("at+jwt"))))
        .await;
}
