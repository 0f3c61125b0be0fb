//! A real, minimal token issuer for tests: signing keys generated here with aws-lc-rs, tokens
//! signed with `jsonwebtoken`, RFC 8414 metadata and a JWKS served over HTTP on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use futures_util::StreamExt;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    /// The key id.
    pub kid: String,
    /// The signing algorithm.
    pub alg: Algorithm,
    /// The private key, for `jsonwebtoken`.
    pub encoding: EncodingKey,
    /// The public JWK (with `kid` and `alg`).
    pub jwk: Jwk,
    /// The PKCS#8 DER of the private key.
    pub der: Vec<u8>,
}

impl TestKey {
    /// A fresh RSA-2048 key (RS256).
    pub fn rsa(kid: &str) -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap().as_ref().to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        TestKey::new(kid, Algorithm::RS256, encoding, der)
    }

    /// A fresh P-256 key (ES256).
    pub fn es256(kid: &str) -> TestKey {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .unwrap();
        let der = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
        TestKey::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(&der), der)
    }

    /// A fresh P-384 key (ES384).
    pub fn es384(kid: &str) -> TestKey {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        )
        .unwrap();
        let der = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
        TestKey::new(kid, Algorithm::ES384, EncodingKey::from_ec_der(&der), der)
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> TestKey {
        let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let der = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
        TestKey::new(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(&der), der)
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey, der: Vec<u8>) -> TestKey {
        let kid = kid.to_owned();
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.clone());
        TestKey {
            kid,
            alg,
            encoding,
            jwk,
            der,
        }
    }

    /// The same key under another `kid`.
    pub fn with_kid(&self, kid: &str) -> TestKey {
        let mut key = self.clone();
        key.kid = kid.to_owned();
        key.jwk.common.key_id = Some(kid.to_owned());
        key
    }

    /// The public JWK without its `alg`, as many issuers publish it.
    pub fn jwk_without_alg(&self) -> Jwk {
        let mut jwk = self.jwk.clone();
        jwk.common.key_algorithm = None;
        jwk
    }

    /// An RFC 9068 header: this key's `alg` and `kid`, `typ: at+jwt`.
    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        header
    }

    /// `claims` signed with this key under [`TestKey::header`].
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.header(), claims)
    }

    /// `claims` signed with this key under `header`.
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// Signs a header and a payload given as raw JSON text, byte for byte: for payloads that
    /// `serde_json::Value` cannot hold, such as repeated member names.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let message = format!("{}.{}", b64(header), b64(payload));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg).unwrap();
        format!("{message}.{signature}")
    }

    /// The RSA public key as PKCS#1 `RSAPublicKey` DER.
    pub fn rsa_public_pkcs1_der(&self) -> Vec<u8> {
        use aws_lc_rs::signature::KeyPair as _;
        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&self.der)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec()
    }

    /// The RSA public key as X.509 `SubjectPublicKeyInfo` DER.
    pub fn rsa_public_spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&self.der).unwrap();
        let der: aws_lc_rs::encoding::PublicKeyX509Der<'static> =
            pair.public_key().as_der().unwrap();
        der.as_ref().to_vec()
    }

    /// The RSA public key as a `-----BEGIN PUBLIC KEY-----` PEM document.
    pub fn rsa_public_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.rsa_public_spki_der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

/// Seconds since the epoch, shifted by `offset` seconds.
pub fn at(offset: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now + offset) as u64
}

/// Applies `changes` (an object) to the members of `document`: each one replaces the member
/// of its name, and `null` removes it. For claim sets and introspection responses that differ
/// from a valid one in a few members.
pub fn patch(document: &mut Value, changes: &Value) {
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            document.as_object_mut().unwrap().remove(name);
        } else {
            document[name] = value.clone();
        }
    }
}

/// RFC 9068 claims for `issuer` and `audience` with `scope`, valid for five minutes.
pub fn claims(issuer: &str, audience: &str, scope: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": "user-1",
        "client_id": "client-1",
        "scope": scope,
        "iat": at(0),
        "exp": at(300),
        "jti": "t-1",
        "tenant": "acme",
    })
}

struct IssuerState {
    issuer: String,
    keys: Mutex<Vec<Jwk>>,
    down: AtomicBool,
    delay: Mutex<Duration>,
    garbage: AtomicBool,
    jwks_hits: AtomicUsize,
    metadata_hits: AtomicUsize,
    /// The `jwks_uri` the metadata advertises instead of `{issuer}/jwks`.
    jwks_uri: Mutex<Option<String>>,
    /// The documents answered with an endless body.
    endless: Mutex<Vec<Document>>,
    /// Bytes of endless bodies produced so far.
    endless_bytes: Arc<AtomicUsize>,
}

/// A document an [`Issuer`] serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// The RFC 8414 metadata.
    Metadata,
    /// The JWKS.
    Jwks,
}

/// How long an endless body goes on before it ends after all: far beyond any bound.
pub const ENDLESS_BYTES: usize = 64 << 20;

/// A chunked body (no `Content-Length`) of [`ENDLESS_BYTES`] that starts like `prefix` and
/// then pads with spaces, produced only as fast as it is read; `served` counts the bytes
/// produced, so that a test can tell how much of it the reader pulled.
pub fn endless_body(prefix: &'static str, served: Arc<AtomicUsize>) -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = futures_util::stream::iter(0..ENDLESS_BYTES / CHUNK).map(move |i| {
        let mut chunk = vec![b' '; CHUNK];
        if i == 0 {
            chunk[..prefix.len()].copy_from_slice(prefix.as_bytes());
        }
        served.fetch_add(CHUNK, Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

/// An issuer serving metadata and a key set on loopback.
#[derive(Clone)]
pub struct Issuer {
    /// The issuer identifier (its base URL).
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<IssuerState>,
}

impl Issuer {
    /// An issuer at the root of its origin, publishing RFC 8414 metadata.
    pub async fn start(keys: &[&TestKey]) -> Issuer {
        Issuer::start_with(keys, "", false).await
    }

    /// An issuer with a path (e.g. Keycloak's `/realms/master`); with `oidc_only` it
    /// publishes only `{issuer}/.well-known/openid-configuration`, as Keycloak does.
    pub async fn start_with(keys: &[&TestKey], path: &str, oidc_only: bool) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}{path}");
        let state = Arc::new(IssuerState {
            issuer: url.clone(),
            keys: Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()),
            down: AtomicBool::new(false),
            delay: Mutex::new(Duration::ZERO),
            garbage: AtomicBool::new(false),
            jwks_hits: AtomicUsize::new(0),
            metadata_hits: AtomicUsize::new(0),
            jwks_uri: Mutex::new(None),
            endless: Mutex::default(),
            endless_bytes: Arc::default(),
        });
        let router = if oidc_only {
            axum::Router::new().route(
                &format!("{path}/.well-known/openid-configuration"),
                get(metadata),
            )
        } else {
            axum::Router::new().route(
                &format!("/.well-known/oauth-authorization-server{path}"),
                get(metadata),
            )
        }
        .route(&format!("{path}/jwks"), get(jwks))
        .route(
            &format!("{path}/moved"),
            get(|| async { axum::response::Redirect::temporary("jwks") }),
        )
        .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Issuer { url, addr, state }
    }

    /// The URL of its JWKS.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// Replaces the published keys.
    pub fn set_keys(&self, keys: &[Jwk]) {
        *self.state.keys.lock().unwrap() = keys.to_vec();
    }

    /// While down, every request gets `503`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// While set, the key set is not JSON.
    pub fn set_garbage(&self, garbage: bool) {
        self.state.garbage.store(garbage, Ordering::SeqCst);
    }

    /// Every response waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// How many times the metadata was fetched.
    pub fn metadata_hits(&self) -> usize {
        self.state.metadata_hits.load(Ordering::SeqCst)
    }

    /// The metadata advertises `uri` as its `jwks_uri` (`None`: its own key set). The issuer
    /// also serves `{issuer}/moved`, a `307` redirect to its key set.
    pub fn set_jwks_uri(&self, uri: Option<String>) {
        *self.state.jwks_uri.lock().unwrap() = uri;
    }

    /// While set, `document` is answered with an [`endless_body`].
    pub fn set_endless(&self, document: Document, endless: bool) {
        let mut documents = self.state.endless.lock().unwrap();
        documents.retain(|d| *d != document);
        if endless {
            documents.push(document);
        }
    }

    /// Bytes of endless bodies produced so far.
    pub fn endless_bytes(&self) -> usize {
        self.state.endless_bytes.load(Ordering::SeqCst)
    }
}

async fn metadata(State(state): State<Arc<IssuerState>>) -> Response {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if state.endless.lock().unwrap().contains(&Document::Metadata) {
        return endless_body(r#"{"issuer":"#, state.endless_bytes.clone());
    }
    let jwks_uri = (state.jwks_uri.lock().unwrap().clone())
        .unwrap_or_else(|| format!("{}/jwks", state.issuer));
    axum::Json(json!({
        "issuer": state.issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": format!("{}/token", state.issuer),
        "authorization_endpoint": format!("{}/authorize", state.issuer),
        "response_types_supported": ["code"],
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if state.garbage.load(Ordering::SeqCst) {
        return "<html>not a key set</html>".into_response();
    }
    if state.endless.lock().unwrap().contains(&Document::Jwks) {
        return endless_body(r#"{"keys":["#, state.endless_bytes.clone());
    }
    let keys = state.keys.lock().unwrap().clone();
    axum::Json(JwkSet { keys }).into_response()
}

/// `KeyAlgorithm` for a signing algorithm, for tests that edit JWKs.
pub fn key_algorithm(alg: Algorithm) -> KeyAlgorithm {
    match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        other => panic!("no test mapping for {other:?}"),
    }
}

/// How a [`FaultyIntrospection`] endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers from its table: `active` for known tokens, inactive for the rest.
    None,
    /// `503` to every request.
    Down,
    /// Alternates: `500` to odd-numbered requests, an answer from the table to even ones.
    Flapping,
    /// A body that is not JSON.
    Garbage,
    /// `401 invalid_client`: the resource server's credentials are refused.
    RefuseClient,
    /// An [`endless_body`] that starts like a JSON object.
    Endless,
}

struct IntrospectionState {
    resource: String,
    active: Mutex<Vec<(String, Value)>>,
    fault: Mutex<Fault>,
    delay: Mutex<Duration>,
    hits: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    endless_bytes: Arc<AtomicUsize>,
}

/// An RFC 7662 introspection endpoint on loopback, with faults to inject: slow, down,
/// flapping between `500` and `200`, or garbage. Client authentication is not checked.
#[derive(Clone)]
pub struct FaultyIntrospection {
    /// The endpoint URL.
    pub url: String,
    state: Arc<IntrospectionState>,
}

impl FaultyIntrospection {
    /// An endpoint whose tokens are issued for `resource`.
    pub async fn start(resource: &str) -> FaultyIntrospection {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(IntrospectionState {
            resource: resource.to_owned(),
            active: Mutex::default(),
            fault: Mutex::new(Fault::None),
            delay: Mutex::new(Duration::ZERO),
            hits: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            endless_bytes: Arc::default(),
        });
        let router = axum::Router::new()
            .route("/introspect", axum::routing::post(introspect))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FaultyIntrospection {
            url: format!("http://{addr}/introspect"),
            state,
        }
    }

    /// `token` is active for `subject` with `scope`, for this endpoint's resource.
    pub fn activate(&self, token: &str, subject: &str, scope: &str) {
        let response = json!({
            "active": true,
            "sub": subject,
            "client_id": "client-1",
            "scope": scope,
            "aud": self.state.resource,
            "exp": at(600),
            "iat": at(0),
        });
        self.state
            .active
            .lock()
            .unwrap()
            .push((token.to_owned(), response));
    }

    /// How the endpoint answers from now on.
    pub fn set_fault(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// How many requests it received.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The most requests that were ever being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Bytes of endless bodies produced so far.
    pub fn endless_bytes(&self) -> usize {
        self.state.endless_bytes.load(Ordering::SeqCst)
    }
}

/// Counts a request in flight until dropped, even if its client goes away.
struct InFlight<'a>(&'a IntrospectionState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a IntrospectionState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn introspect(State(state): State<Arc<IntrospectionState>>, body: String) -> Response {
    let n = state.hits.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(&state);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = *state.fault.lock().unwrap();
    let fails = match fault {
        Fault::None => false,
        Fault::Down | Fault::Garbage | Fault::RefuseClient | Fault::Endless => true,
        Fault::Flapping => n % 2 == 1,
    };
    if fails {
        return match fault {
            Fault::Garbage => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "<html>oops</html>",
            )
                .into_response(),
            Fault::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Fault::Endless => endless_body(r#"{"active":true,"#, state.endless_bytes.clone()),
            Fault::RefuseClient => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "invalid_client" })),
            )
                .into_response(),
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let active = state.active.lock().unwrap();
    match active.iter().find(|(t, _)| *t == token) {
        Some((_, response)) => axum::Json(response.clone()).into_response(),
        None => axum::Json(json!({ "active": false })).into_response(),
    }
}

/// Access tokens from `issuer`, signed with `key`, for the server at `resource`: what a test
/// keeps to call a server that [`protected_by`] set up.
#[derive(Clone)]
pub struct Tokens {
    /// The issuer.
    pub issuer: Issuer,
    /// The key that signs.
    pub key: TestKey,
    /// The resource the tokens are for (their audience).
    pub resource: String,
}

impl Tokens {
    /// A token of `subject` with `scope`, valid for `lifetime` seconds from now.
    pub fn of(&self, subject: &str, scope: &str, lifetime: i64) -> String {
        let mut claims = claims(&self.issuer.url, &self.resource, scope);
        claims["sub"] = subject.into();
        claims["exp"] = at(lifetime).into();
        self.key.sign(&claims)
    }

    /// A token of `subject` in `tenant` (the `tenant` claim) with `scope`, valid for five
    /// minutes.
    pub fn of_tenant(&self, subject: &str, tenant: &str, scope: &str) -> String {
        let mut claims = claims(&self.issuer.url, &self.resource, scope);
        claims["sub"] = subject.into();
        claims["tenant"] = tenant.into();
        self.key.sign(&claims)
    }
}

/// A server protected by the JWT access tokens `key` signs for `issuer`, before its tools
/// are added: a loopback listener, the [`Tokens`] for its resource URI (`http://<addr>/mcp`,
/// the audience its tokens must name) and a builder named `name` whose resource,
/// authorization server and verifier agree on both.
pub async fn protected_by(
    issuer: &Issuer,
    key: &TestKey,
    name: &str,
) -> (
    tokio::net::TcpListener,
    Tokens,
    mcp_auth_runtime::McpServerBuilder,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let verifier = mcp_auth_runtime::auth::JwtVerifier::builder(issuer.url.clone(), &resource)
        .build()
        .unwrap();
    let builder = mcp_auth_runtime::McpServer::builder(name, "1.0.0")
        .resource(resource.clone())
        .authorization_server(issuer.url.clone())
        .verifier(verifier);
    let tokens = Tokens {
        issuer: issuer.clone(),
        key: key.clone(),
        resource,
    };
    (listener, tokens, builder)
}

/// [`protected_by`] a fresh issuer with one ES256 key.
pub async fn protected(
    name: &str,
) -> (
    tokio::net::TcpListener,
    Tokens,
    mcp_auth_runtime::McpServerBuilder,
) {
    let key = TestKey::es256("es-1");
    let issuer = Issuer::start(&[&key]).await;
    protected_by(&issuer, &key, name).await
}
