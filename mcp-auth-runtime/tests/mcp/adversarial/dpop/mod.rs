//! DPoP (RFC 9449) attacks over real HTTP: proofs for another request or token, forged and
//! malformed proofs, proofs outside the `iat` window or replayed, tokens presented in the
//! other scheme, and oversized or costly proofs.
//!
//! Each attack is sent to four servers (policy `accept` and `require`, JWT and introspected
//! tokens) in every shape a request takes: a 2025-11-25 `tools/call` in a session with each
//! `Accept`, the session's `GET` stream and its `DELETE`, and a 2026-07-28 stateless
//! `tools/call` with each `Accept`. A refusal is asserted exactly: the status, the schemes of
//! the `WWW-Authenticate` challenges (`Bearer` and `DPoP` under `accept`, `DPoP` alone under
//! `require`) and the `error` of the one challenge that carries one, that no tool body ran
//! (and that a refused `DELETE` left the session open), and, at the end of each test, that
//! no token or proof sent appears in the server's logs. The accepted variants (a query the
//! `htu` does not carry, normalised spellings of the URI, a lowercase scheme, an `iat` inside
//! the window) are positive controls and say so.

mod binding;
mod nonces;
mod proofs;
mod schemes;
mod size;
mod time;

use std::sync::Mutex;

use mcp_auth_runtime::auth::{Dpop, DpopPolicy};
use mcp_auth_test_support::dpop::{DpopKey, ProofClaims, fresh_jti};
use mcp_auth_test_support::legacy_request;
use mcp_auth_test_support::logs::Logs;
use mcp_auth_test_support::modern::{self, ACCEPTS};

use super::*;

/// Open invoices: a resource, so that a 2025-11-25 session has its `GET` stream.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
async fn summary() -> Result<String, ToolError> {
    Ok(r#"{"open":2}"#.into())
}

/// How the servers under attack check tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// JWT access tokens signed by the test issuer.
    Jwt,
    /// Opaque tokens checked at an RFC 7662 introspection endpoint.
    Introspected,
}

/// An authorization scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// The shape of a request: its era, method and `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// 2025-11-25: `tools/call` in a session.
    SessionPost(&'static str),
    /// 2025-11-25: the session's `GET` stream.
    SessionGet,
    /// 2025-11-25: `DELETE`, ending the session.
    SessionDelete,
    /// 2026-07-28: a stateless `tools/call`.
    Modern(&'static str),
}

impl Shape {
    pub(crate) const ALL: [Shape; 8] = [
        Shape::SessionPost(ACCEPTS[0]),
        Shape::SessionPost(ACCEPTS[1]),
        Shape::SessionPost(ACCEPTS[2]),
        Shape::SessionGet,
        Shape::SessionDelete,
        Shape::Modern(ACCEPTS[0]),
        Shape::Modern(ACCEPTS[1]),
        Shape::Modern(ACCEPTS[2]),
    ];

    /// The HTTP method, the `htm` of its proof.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Shape::SessionPost(_) | Shape::Modern(_) => "POST",
            Shape::SessionGet => "GET",
            Shape::SessionDelete => "DELETE",
        }
    }

    fn in_session(self) -> bool {
        !matches!(self, Shape::Modern(_))
    }

    /// Whether serving it uses up the session (a `DELETE`) or holds it (a `GET` stream).
    fn takes_the_session(self) -> bool {
        matches!(self, Shape::SessionGet | Shape::SessionDelete)
    }
}

/// What a request must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A positive control: served (`200` and the tool ran; the stream opened; `204`).
    Served,
    /// `401`, `error="invalid_dpop_proof"` in the `DPoP` challenge.
    BadProof,
    /// `401`, `error="use_dpop_nonce"` in the `DPoP` challenge, and a `DPoP-Nonce` header.
    UseNonce,
    /// `401`, `error="invalid_token"` in the challenge of the scheme used.
    BadToken(Scheme),
    /// `401`, challenges without an error: the request used no scheme the server takes
    /// (RFC 6750 §3.1).
    Unsupported,
    /// `400`, `error="invalid_request"` in the challenge of the scheme used.
    Malformed(Scheme),
    /// `400`, `error="invalid_request"` in every challenge: the request used both schemes
    /// at once (RFC 9449 §7.2, Figure 19).
    Ambiguous,
    /// `431`, no challenge: more header bytes than the server reads.
    TooLarge,
}

impl Outcome {
    fn status(self) -> u16 {
        match self {
            Outcome::Served => 200,
            Outcome::BadProof | Outcome::UseNonce | Outcome::BadToken(_) | Outcome::Unsupported => {
                401
            }
            Outcome::Malformed(_) | Outcome::Ambiguous => 400,
            Outcome::TooLarge => 431,
        }
    }

    /// The challenge that must carry an error, and the error.
    fn error(self) -> Option<(Scheme, &'static str)> {
        match self {
            Outcome::BadProof => Some((Scheme::Dpop, "invalid_dpop_proof")),
            Outcome::UseNonce => Some((Scheme::Dpop, "use_dpop_nonce")),
            Outcome::BadToken(scheme) => Some((scheme, "invalid_token")),
            Outcome::Malformed(scheme) => Some((scheme, "invalid_request")),
            Outcome::Ambiguous => Some((Scheme::Bearer, "invalid_request")),
            Outcome::Served | Outcome::Unsupported | Outcome::TooLarge => None,
        }
    }
}

/// The credentials of a request: its `Authorization` and `DPoP` header values, and a query
/// added to its URL.
#[derive(Clone, Debug, Default)]
pub(crate) struct Presented {
    pub(crate) authorization: Vec<String>,
    pub(crate) dpop: Vec<String>,
    pub(crate) query: Option<String>,
}

impl Presented {
    /// `Authorization: <scheme> <token>`, no proof.
    pub(crate) fn scheme(scheme: &str, token: &str) -> Presented {
        Presented {
            authorization: vec![format!("{scheme} {token}")],
            ..Presented::default()
        }
    }

    pub(crate) fn bearer(token: &str) -> Presented {
        Presented::scheme("Bearer", token)
    }

    /// `Authorization: DPoP <token>` and `DPoP: <proof>`.
    pub(crate) fn dpop(token: &str, proof: &str) -> Presented {
        Presented::scheme("DPoP", token).proof(proof)
    }

    /// One more `DPoP` header.
    pub(crate) fn proof(mut self, proof: &str) -> Presented {
        self.dpop.push(proof.to_owned());
        self
    }

    pub(crate) fn query(mut self, query: &str) -> Presented {
        self.query = Some(query.to_owned());
        self
    }
}

/// Builds the credentials of an attack for a bench and the method of the request.
type Build<'a> = Box<dyn Fn(&Bench, &'static str) -> Presented + 'a>;

/// One attack: its credentials and what each policy answers.
pub(crate) struct Attack<'a> {
    pub(crate) name: String,
    build: Build<'a>,
    accept: Outcome,
    require: Outcome,
}

impl<'a> Attack<'a> {
    /// An attack both policies answer with `outcome`.
    pub(crate) fn new(
        name: impl Into<String>,
        outcome: Outcome,
        build: impl Fn(&Bench, &'static str) -> Presented + 'a,
    ) -> Attack<'a> {
        Attack::by_policy(name, outcome, outcome, build)
    }

    /// An attack answered with `accept` under `Dpop::accept()` and `require` under
    /// `Dpop::require()`.
    pub(crate) fn by_policy(
        name: impl Into<String>,
        accept: Outcome,
        require: Outcome,
        build: impl Fn(&Bench, &'static str) -> Presented + 'a,
    ) -> Attack<'a> {
        Attack {
            name: name.into(),
            build: Box::new(build),
            accept,
            require,
        }
    }

    /// A proof whose claims `change` alters, with the bench's bound token.
    pub(crate) fn claims(
        name: impl Into<String>,
        outcome: Outcome,
        change: impl Fn(&Bench, &mut ProofClaims) + 'a,
    ) -> Attack<'a> {
        Attack::new(name, outcome, move |b, method| {
            let mut claims = b.claims(method);
            change(b, &mut claims);
            Presented::dpop(&b.bound, &b.key.sign(&claims))
        })
    }

    /// A proof of the raw `header` and `payload` JSON (`payload` is given the honest claims
    /// as an object to edit), signed by the bench's key byte for byte.
    pub(crate) fn raw(
        name: impl Into<String>,
        outcome: Outcome,
        raw: impl Fn(&Bench, Value) -> (String, String) + 'a,
    ) -> Attack<'a> {
        Attack::new(name, outcome, move |b, method| {
            let (header, payload) = raw(b, b.claims(method).to_json());
            Presented::dpop(&b.bound, &b.key.sign_raw(&header, &payload))
        })
    }

    fn outcome(&self, policy: DpopPolicy) -> Outcome {
        match policy {
            DpopPolicy::Require => self.require,
            _ => self.accept,
        }
    }
}

/// A server under attack, its client key and a token bound to that key.
pub(crate) struct Bench {
    pub(crate) policy: DpopPolicy,
    pub(crate) kind: Kind,
    /// The resource URI, what an honest `htu` names.
    pub(crate) uri: String,
    pub(crate) addr: SocketAddr,
    /// The client's honest key.
    pub(crate) key: DpopKey,
    /// A token bound to [`Bench::key`].
    pub(crate) bound: String,
    /// A bearer token (no `cnf`) of the same caller.
    pub(crate) unbound: String,
    /// The server nonce honest proofs carry, once the server gave one.
    pub(crate) nonce: Mutex<Option<String>>,
    issuer: Issuer,
    signer: TestKey,
    introspection: Option<FaultyIntrospection>,
    runs: Runs,
    http: reqwest::Client,
    sent: Arc<Mutex<Vec<String>>>,
}

/// A reply: status, challenges, content type and body (not read from an open stream).
struct Reply {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    content_type: String,
    body: Value,
}

impl Bench {
    async fn start(
        policy: DpopPolicy,
        kind: Kind,
        key: &DpopKey,
        issuer: &Issuer,
        signer: &TestKey,
        sent: &Arc<Mutex<Vec<String>>>,
        configure: &dyn Fn(Dpop) -> Dpop,
    ) -> Bench {
        let (listener, addr, uri) = bind_endpoint().await;
        let runs = Runs::default();
        let builder = invoices(&uri, &runs)
            .resources(resources![summary])
            .authorization_server(issuer.url.clone())
            .max_streams_per_principal(1_000)
            .dpop(configure(Dpop::new(policy)));
        let (builder, introspection) = match kind {
            Kind::Jwt => {
                let verifier = JwtVerifier::builder(issuer.url.clone(), uri.clone())
                    .build()
                    .unwrap();
                (builder.verifier(verifier), None)
            }
            Kind::Introspected => {
                let endpoint = FaultyIntrospection::start(&uri).await;
                let verifier = IntrospectionVerifier::builder(&endpoint.url, &uri)
                    .build()
                    .unwrap();
                (builder.verifier(verifier), Some(endpoint))
            }
        };
        let server = builder.build().unwrap();
        mcp_auth_test_support::serve_on(listener, server.into_router());
        let mut bench = Bench {
            policy,
            kind,
            uri,
            addr,
            key: key.clone(),
            bound: String::new(),
            unbound: String::new(),
            nonce: Mutex::default(),
            issuer: issuer.clone(),
            signer: signer.clone(),
            introspection,
            runs,
            http: mcp_auth_test_support::fixture::http(),
            sent: sent.clone(),
        };
        bench.bound = bench.token(Some(key));
        bench.unbound = bench.token(None);
        bench
    }

    fn runs(&self) -> usize {
        self.runs.0.load(Ordering::SeqCst)
    }

    /// A token of `user-1` with every scope, bound to `key` when given.
    pub(crate) fn token(&self, key: Option<&DpopKey>) -> String {
        match key {
            Some(key) => self.token_with(&json!({ "cnf": key.cnf() })),
            None => self.token_with(&json!({})),
        }
    }

    /// A token of `user-1` with every scope, its claims (or introspection response) changed
    /// by `changes`.
    pub(crate) fn token_with(&self, changes: &Value) -> String {
        match &self.introspection {
            None => {
                let mut claims = claims(&self.issuer.url, &self.uri, ALL);
                patch(&mut claims, changes);
                self.signer.sign(&claims)
            }
            Some(endpoint) => {
                let token = format!("opaque-{}", fresh_jti());
                endpoint.activate_with(&token, "user-1", ALL, changes.clone());
                token
            }
        }
    }

    /// Honest proof claims for `method` with the bound token.
    pub(crate) fn claims(&self, method: &str) -> ProofClaims {
        self.claims_of(&self.key, method, &self.bound)
    }

    /// Honest proof claims of `key` for `method` on this server, bound to `token`, with the
    /// server's nonce once it gave one.
    pub(crate) fn claims_of(&self, key: &DpopKey, method: &str, token: &str) -> ProofClaims {
        let mut claims = key.claims(method, &self.uri, Some(token));
        claims.nonce = self.nonce.lock().unwrap().clone();
        claims
    }

    /// An honest proof of `key` for `method` on this server, bound to `token`.
    pub(crate) fn proof_of(&self, key: &DpopKey, method: &str, token: &str) -> String {
        key.sign(&self.claims_of(key, method, token))
    }

    /// The genuine credentials of the client: the bound token and a fresh proof.
    pub(crate) fn honest(&self, method: &str) -> Presented {
        Presented::dpop(&self.bound, &self.proof_of(&self.key, method, &self.bound))
    }

    fn describe(&self, what: &str, shape: Shape) -> String {
        format!("{what} [{:?}, {:?}, {shape:?}]", self.policy, self.kind)
    }

    /// The request of `shape` (in `session` when it has one) with `presented`.
    fn request(
        &self,
        shape: Shape,
        session: Option<&str>,
        presented: &Presented,
    ) -> reqwest::Request {
        let url = match &presented.query {
            Some(query) => format!("{}?{query}", self.uri),
            None => self.uri.clone(),
        };
        let call = json!({ "name": "void_invoice", "arguments": { "invoice_id": "INV-1" } });
        let session_headers = |request: reqwest::RequestBuilder| {
            request
                .header("mcp-session-id", session.expect("a session"))
                .header("mcp-protocol-version", "2025-11-25")
        };
        let builder = match shape {
            Shape::SessionPost(accept) => legacy_request(
                &self.http,
                &url,
                "",
                accept,
                session.expect("a session"),
                1,
                "tools/call",
                call,
            ),
            Shape::SessionGet => {
                session_headers(self.http.get(&url).header("accept", "text/event-stream"))
            }
            Shape::SessionDelete => session_headers(self.http.delete(&url)),
            Shape::Modern(accept) => modern::request(
                &self.http,
                &url,
                "",
                accept,
                json!({}),
                1,
                "tools/call",
                call,
            ),
        };
        self.with_credentials(builder.build().unwrap(), presented)
    }

    /// `request` with exactly the credentials of `presented`, remembered so that the logs
    /// can be searched for them.
    fn with_credentials(
        &self,
        mut request: reqwest::Request,
        presented: &Presented,
    ) -> reqwest::Request {
        let headers = request.headers_mut();
        headers.remove("authorization");
        for value in &presented.authorization {
            headers.append("authorization", value.parse().unwrap());
            if let Some((_, token)) = value.split_once(' ') {
                self.remember(token);
            }
        }
        for proof in &presented.dpop {
            headers.append("dpop", proof.parse().unwrap());
            self.remember(proof);
        }
        request
    }

    fn remember(&self, secret: &str) {
        self.sent.lock().unwrap().push(secret.trim().to_owned());
    }

    async fn send(&self, shape: Shape, request: reqwest::Request) -> Reply {
        let response = self.http.execute(request).await.unwrap();
        let status = response.status().as_u16();
        let challenges = mcp_auth_test_support::header_values(&response, "www-authenticate");
        let nonce = mcp_auth_test_support::header(&response, "dpop-nonce");
        let content_type =
            mcp_auth_test_support::header(&response, "content-type").unwrap_or_default();
        // A `GET` stream that opened stays open: it is not read.
        let body = match (shape, status) {
            (Shape::SessionGet, 200) => Value::Null,
            _ => modern::response_of(response.text().await.unwrap()),
        };
        Reply {
            status,
            challenges,
            nonce,
            content_type,
            body,
        }
    }

    /// Sends `presented` in `shape` and asserts `outcome`.
    pub(crate) async fn check(
        &self,
        what: &str,
        shape: Shape,
        session: Option<&str>,
        presented: &Presented,
        outcome: Outcome,
    ) {
        let what = self.describe(what, shape);
        let before = self.runs();
        let request = self.request(shape, session, presented);
        if shape == Shape::SessionGet && outcome == Outcome::Served {
            // The stream stays open: check its head and hang up.
            let response = self.http.execute(request).await.unwrap();
            assert_eq!(response.status(), 200, "{what}");
            let content_type = mcp_auth_test_support::header(&response, "content-type");
            assert!(
                content_type.is_some_and(|t| t.starts_with("text/event-stream")),
                "{what}"
            );
            assert!(
                response.headers().get("www-authenticate").is_none(),
                "{what}"
            );
            return;
        }
        let reply = self.send(shape, request).await;
        let body = &reply.body;
        if outcome == Outcome::Served {
            match shape {
                Shape::SessionDelete => assert_eq!(reply.status, 204, "{what}: {body}"),
                _ => {
                    assert_eq!(reply.status, 200, "{what}: {body}");
                    assert!(body["result"].is_object(), "{what}: {body}");
                    assert_eq!(self.runs(), before + 1, "{what}: the tool did not run");
                }
            }
            assert!(
                reply.challenges.is_empty(),
                "{what}: {:?}",
                reply.challenges
            );
            return;
        }
        assert_eq!(
            reply.status,
            outcome.status(),
            "{what}: status (content type {}, challenges {:?}, body {body})",
            reply.content_type,
            reply.challenges
        );
        assert_eq!(self.runs(), before, "{what}: a tool ran");
        self.assert_challenges(&what, &reply.challenges, outcome);
        if outcome == Outcome::UseNonce {
            assert!(reply.nonce.is_some(), "{what}: no DPoP-Nonce");
        }
    }

    /// A nonce from the server: the `DPoP-Nonce` of its refusal of a proof without one.
    pub(crate) async fn fetch_nonce(&self) -> String {
        let shape = Shape::Modern(ACCEPTS[1]);
        let proof = self.key.proof("POST", &self.uri, Some(&self.bound));
        let request = self.request(shape, None, &Presented::dpop(&self.bound, &proof));
        let reply = self.send(shape, request).await;
        self.assert_challenges(
            "a proof without a nonce",
            &reply.challenges,
            Outcome::UseNonce,
        );
        reply.nonce.expect("a DPoP-Nonce")
    }

    /// The challenges of a refusal: one per scheme the policy takes, the error on the one of
    /// the scheme used, and `algs` on the `DPoP` one.
    fn assert_challenges(&self, what: &str, values: &[String], outcome: Outcome) {
        let challenges = parse_challenges(values);
        if outcome == Outcome::TooLarge {
            assert!(challenges.is_empty(), "{what}: {values:?}");
            return;
        }
        let mut schemes: Vec<String> = challenges
            .iter()
            .map(|c| c.scheme.to_ascii_lowercase())
            .collect();
        schemes.sort();
        let offered: &[&str] = match self.policy {
            DpopPolicy::Require => &["dpop"],
            DpopPolicy::Accept => &["bearer", "dpop"],
            _ => &["bearer"],
        };
        assert_eq!(schemes, offered, "{what}: challenge schemes in {values:?}");
        for challenge in &challenges {
            let expected = outcome
                .error()
                .filter(|(scheme, _)| {
                    outcome == Outcome::Ambiguous
                        || scheme.name().eq_ignore_ascii_case(&challenge.scheme)
                })
                .map(|(_, error)| error);
            assert_eq!(
                challenge.param("error"),
                expected,
                "{what}: error of the {} challenge in {values:?}",
                challenge.scheme
            );
            if challenge.scheme.eq_ignore_ascii_case("dpop") {
                let algs = challenge
                    .param("algs")
                    .unwrap_or_else(|| panic!("{what}: no algs in {values:?}"));
                let algs: Vec<&str> = algs.split(' ').collect();
                assert!(algs.contains(&"ES256"), "{what}: {values:?}");
                assert!(
                    !algs
                        .iter()
                        .any(|a| a.starts_with("HS") || a.eq_ignore_ascii_case("none")),
                    "{what}: {values:?}"
                );
            }
        }
    }

    /// Opens a 2025-11-25 session with genuine credentials; returns its id.
    pub(crate) async fn open_session(&self) -> String {
        let request = self
            .http
            .post(&self.uri)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(mcp_auth_test_support::initialize("attacker").to_string())
            .build()
            .unwrap();
        let response = self
            .http
            .execute(self.with_credentials(request, &self.honest("POST")))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{:?} {:?}: initialize",
            self.policy,
            self.kind
        );
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let request = self.session_post(&session, &initialized);
        let response = self.http.execute(request).await.unwrap();
        assert_eq!(response.status(), 202, "notifications/initialized");
        session
    }

    /// A genuine 2025-11-25 POST of `message` in `session`.
    fn session_post(&self, session: &str, message: &Value) -> reqwest::Request {
        let request = self
            .http
            .post(&self.uri)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(message.to_string())
            .build()
            .unwrap();
        self.with_credentials(request, &self.honest("POST"))
    }

    /// Asserts that `session` is still open: a genuine `ping` in it is answered.
    pub(crate) async fn assert_open(&self, what: &str, session: &str) {
        let ping = json!({ "jsonrpc": "2.0", "id": 9, "method": "ping" });
        let response = self
            .http
            .execute(self.session_post(session, &ping))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{}: the session was ended",
            self.describe(what, Shape::SessionDelete)
        );
    }

    /// Sends every attack in every shape, then a genuine request in each shape.
    pub(crate) async fn run(&self, attacks: &[Attack<'_>]) {
        for shape in Shape::ALL {
            let session = match shape.in_session() {
                true => Some(self.open_session().await),
                false => None,
            };
            for attack in attacks {
                let outcome = attack.outcome(self.policy);
                let presented = (attack.build)(self, shape.method());
                let fresh = match outcome == Outcome::Served && shape.takes_the_session() {
                    true => Some(self.open_session().await),
                    false => None,
                };
                let session = fresh.as_deref().or(session.as_deref());
                self.check(&attack.name, shape, session, &presented, outcome)
                    .await;
                if shape == Shape::SessionDelete && outcome != Outcome::Served {
                    self.assert_open(&attack.name, session.unwrap()).await;
                }
            }
            self.check(
                "a genuine request after the attacks",
                shape,
                session.as_deref(),
                &self.honest(shape.method()),
                Outcome::Served,
            )
            .await;
        }
    }
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug)]
struct ParsedChallenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl ParsedChallenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The challenges of `WWW-Authenticate` values (RFC 9110 §11.6.1): one or several per value,
/// each a scheme and its `name=value` parameters (values quoted or tokens).
fn parse_challenges(values: &[String]) -> Vec<ParsedChallenge> {
    let mut out: Vec<ParsedChallenge> = Vec::new();
    for value in values {
        let mut rest = value.as_str();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if rest.is_empty() {
                break;
            }
            let end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
            let (name, after) = rest.split_at(end);
            let after_space = after.trim_start_matches(' ');
            let Some(assigned) = after_space.strip_prefix('=') else {
                out.push(ParsedChallenge {
                    scheme: name.to_owned(),
                    params: Vec::new(),
                });
                rest = after;
                continue;
            };
            let assigned = assigned.trim_start_matches(' ');
            let (param, remaining) = match assigned.strip_prefix('"') {
                Some(quoted) => {
                    let mut param = String::new();
                    let mut chars = quoted.char_indices();
                    let mut end = quoted.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => param.extend(chars.next().map(|(_, c)| c)),
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => param.push(c),
                        }
                    }
                    (param, &quoted[end..])
                }
                None => {
                    let end = assigned.find([' ', ',']).unwrap_or(assigned.len());
                    (assigned[..end].to_owned(), &assigned[end..])
                }
            };
            out.last_mut()
                .unwrap_or_else(|| panic!("a parameter before any scheme in {value:?}"))
                .params
                .push((name.to_owned(), param));
            rest = remaining;
        }
    }
    out
}

/// Four servers, one per policy and kind of token, and the capture of their logs.
pub(crate) struct Suite {
    pub(crate) benches: Vec<Bench>,
    logs: Logs,
    _guard: tracing::subscriber::DefaultGuard,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Suite {
    /// `accept` and `require`, JWT and introspection, with the default configuration.
    pub(crate) async fn start() -> Suite {
        Suite::start_with(&[DpopPolicy::Accept, DpopPolicy::Require], &|dpop| dpop).await
    }

    /// A bench of each of `policies` and each kind of token, configured by `configure`.
    pub(crate) async fn start_with(
        policies: &[DpopPolicy],
        configure: &dyn Fn(Dpop) -> Dpop,
    ) -> Suite {
        let (logs, guard) = Logs::capture();
        let signer = TestKey::es256("as-1");
        let issuer = Issuer::start(&[&signer]).await;
        let key = DpopKey::es256();
        let sent = Arc::default();
        let mut benches = Vec::new();
        for &policy in policies {
            for kind in [Kind::Jwt, Kind::Introspected] {
                benches.push(
                    Bench::start(policy, kind, &key, &issuer, &signer, &sent, configure).await,
                );
            }
        }
        Suite {
            benches,
            logs,
            _guard: guard,
            sent,
        }
    }

    /// Sends every attack to every bench in every shape (see [`Bench::run`]), then checks
    /// the logs.
    pub(crate) async fn run(self, attacks: &[Attack<'_>]) {
        for bench in &self.benches {
            bench.run(attacks).await;
        }
        self.finish();
    }

    /// Asserts that something was logged, and no token or proof sent, nor its signature.
    pub(crate) fn finish(self) {
        let logs = self.logs.text();
        assert!(
            !logs.is_empty(),
            "nothing was logged: the capture does not work"
        );
        let sent = self.sent.lock().unwrap();
        for secret in sent.iter().filter(|s| s.len() >= 16) {
            let signature = secret.rsplit('.').next().unwrap_or("");
            for needle in [secret.as_str(), signature] {
                if needle.len() >= 16 {
                    assert!(!logs.contains(needle), "logged: {}...", &needle[..16]);
                }
            }
        }
    }
}

/// The public JWK of `key` as JSON.
pub(crate) fn jwk_of(key: &DpopKey) -> Value {
    serde_json::to_value(key.public_jwk()).unwrap()
}

/// The `alg` name of `key`'s algorithm.
pub(crate) fn alg_of(key: &DpopKey) -> String {
    format!("{:?}", key.key.alg)
}

/// The honest proof header of `key` as JSON, to edit.
pub(crate) fn header_of(key: &DpopKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": alg_of(key), "jwk": jwk_of(key) })
}

/// base64url SHA-256 of `text`: an RFC 7638 thumbprint when `text` is a key's canonical JSON.
pub(crate) fn sha256_b64(text: impl AsRef<[u8]>) -> String {
    b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text.as_ref(),
    ))
}

/// A compact JWS of `header` and `payload` with `signature` (base64url), signed by no one.
pub(crate) fn compact(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(payload.to_string())
    )
}
