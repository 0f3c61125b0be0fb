//! The bearer-token middleware: [`BearerAuthLayer`] and its service [`BearerAuth`], with
//! DPoP-bound tokens when configured ([`BearerAuthLayer::dpop`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use tower::{Layer, Service};
use tracing::Instrument;

use super::b64token::is_b64token;
use super::challenge::{INVALID_REQUEST, INVALID_TOKEN, Problem, Scheme};
use super::possession::{self, DPOP, DPOP_NONCE, DpopSetup, NotProven, PublicUris};
use super::{AuthError, AuthInfo, Challenge, Dpop, DpopConfigError, DpopPolicy, TokenVerifier};
use crate::observe::trace;
use crate::observe::{Early, Hub, RefusalReason};

/// Longest bearer token accepted. Real access tokens are a few KiB at most; anything longer is
/// refused before a verifier spends work on it.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Applies a [`TokenVerifier`] to every request and answers RFC 6750 challenges.
///
/// The token is taken from the `Authorization: Bearer` header only (the scheme is matched
/// case-insensitively). A request with
///
/// - no bearer token gets `401` and a challenge without an error code;
/// - two `Authorization` headers, a malformed one, or a credential in the query string (an
///   `access_token` or `api_key` parameter, an API key) gets `400` with
///   `error="invalid_request"` (tokens in URLs end up in logs, RFC 6750 §5.3);
/// - a token the verifier rejects gets `401` with `error="invalid_token"`;
/// - a token bound to a key (`cnf`, as DPoP-bound tokens are) gets `401` with
///   `error="invalid_token"`: it is not a bearer token (RFC 9449 §7.2);
/// - a token that cannot be checked right now gets `503`; the request never passes;
/// - a credential from a peer that failed too often (API keys, [`AuthError::RateLimited`])
///   gets `429` with `Retry-After`, unchecked.
///
/// A verified request reaches the inner service with an `Arc<AuthInfo>` in its extensions.
///
/// With [`dpop`](Self::dpop), DPoP-bound tokens are accepted too (`Authorization: DPoP` and
/// a proof in the `DPoP` header), or required; see the [`Dpop`] guide.
pub struct BearerAuthLayer<V> {
    verifier: Arc<V>,
    challenge: Arc<Challenge>,
    dpop: Option<Arc<DpopSetup>>,
    /// Where decisions and refusals are reported: an [`McpServer`](crate::McpServer)'s.
    hub: Option<Arc<Hub>>,
}

// Not derived: the verifier is shared, so the layer is `Clone` (as axum's `Router::layer`
// requires) whatever `V` is.
impl<V> Clone for BearerAuthLayer<V> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            verifier: self.verifier.clone(),
            challenge: self.challenge.clone(),
            dpop: self.dpop.clone(),
            hub: self.hub.clone(),
        }
    }
}

impl<V: TokenVerifier> BearerAuthLayer<V> {
    /// Verifies tokens with `verifier`; challenges carry `challenge`'s parameters.
    pub fn new(verifier: V, challenge: Challenge) -> Self {
        BearerAuthLayer {
            verifier: Arc::new(verifier),
            challenge: Arc::new(challenge),
            dpop: None,
            hub: None,
        }
    }
}

impl<V> BearerAuthLayer<V> {
    /// Accepts or requires DPoP-bound access tokens (RFC 9449) as `dpop`'s policy says, and
    /// challenges in the `DPoP` scheme accordingly (see [`Challenge::dpop`]).
    ///
    /// A proof names the URI the client addressed (`htu`), which behind a reverse proxy is
    /// not the one this service sees: `public_uri` is what clients put before a request's
    /// path, the service's public origin (`https://api.example.com`), followed by the path
    /// prefix a proxy strips, if any. A request for `/reports` must then come with a proof
    /// for `https://api.example.com/reports`. (An [`McpServer`](crate::McpServer)'s
    /// [`bearer_auth`](crate::McpServer::bearer_auth) comes with its resource's origin.)
    ///
    /// A bound token is let through only with the `DPoP` scheme and exactly one valid proof
    /// for this request and this token, signed by the key its `cnf.jkt` names; under
    /// [`DpopPolicy::Require`] a bearer token is refused. [`DpopPolicy::Off`] leaves the
    /// layer a bearer-only one.
    ///
    /// # Errors
    ///
    /// When `dpop` accepts no algorithm or an HMAC one, has a nonce key shorter than 32
    /// bytes, or `public_uri` is not an absolute `https` URI (http on loopback) without query
    /// or fragment.
    ///
    /// ```
    /// use mcp_auth_runtime::auth::{BearerAuthLayer, Challenge, Dpop, JwkSet, JwtVerifier};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = JwtVerifier::builder("https://auth.example.com", "https://api.example.com")
    ///     .static_keys(JwkSet::from_json(r#"{"keys": []}"#)?)
    ///     .build()?;
    /// let layer = BearerAuthLayer::new(verifier, Challenge::new("api"))
    ///     .dpop(Dpop::accept(), "https://api.example.com")?;
    /// # let _ = layer;
    /// # Ok(()) }
    /// ```
    pub fn dpop(self, dpop: Dpop, public_uri: &str) -> Result<Self, DpopConfigError> {
        let uris = PublicUris::new(public_uri)?;
        self.with_dpop(dpop, uris)
    }

    /// Reports each decision and refusal to `hub` (an [`McpServer`](crate::McpServer)'s
    /// metrics and audit sink).
    pub(crate) fn reporting_to(mut self, hub: Arc<Hub>) -> Self {
        // A hub with nothing to feed costs the request path nothing.
        self.hub = hub.is_on().then_some(hub);
        self
    }

    /// [`dpop`](Self::dpop) with the public URIs worked out already.
    pub(crate) fn with_dpop(
        mut self,
        dpop: Dpop,
        uris: PublicUris,
    ) -> Result<Self, DpopConfigError> {
        if dpop.policy() == DpopPolicy::Off {
            self.dpop = None;
            self.challenge = Arc::new(Challenge::clone(&self.challenge).dpop(&dpop));
            return Ok(self);
        }
        possession::check(&dpop)?;
        self.challenge = Arc::new(Challenge::clone(&self.challenge).dpop(&dpop));
        self.dpop = Some(Arc::new(DpopSetup { dpop, uris }));
        Ok(self)
    }
}

impl<V> fmt::Debug for BearerAuthLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("challenge", &self.challenge)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl<S, V> Layer<S> for BearerAuthLayer<V> {
    type Service = BearerAuth<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            verifier: self.verifier.clone(),
            challenge: self.challenge.clone(),
            dpop: self.dpop.clone(),
            hub: self.hub.clone(),
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around an inner service.
pub struct BearerAuth<S, V> {
    inner: S,
    verifier: Arc<V>,
    challenge: Arc<Challenge>,
    dpop: Option<Arc<DpopSetup>>,
    hub: Option<Arc<Hub>>,
}

impl<S, V> BearerAuth<S, V> {
    crate::inner_service_accessors!();
}

impl<S: Clone, V> Clone for BearerAuth<S, V> {
    fn clone(&self) -> Self {
        BearerAuth {
            inner: self.inner.clone(),
            verifier: self.verifier.clone(),
            challenge: self.challenge.clone(),
            dpop: self.dpop.clone(),
            hub: self.hub.clone(),
        }
    }
}

impl<S: fmt::Debug, V> fmt::Debug for BearerAuth<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("challenge", &self.challenge)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

/// The response future of [`BearerAuth`].
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S, V, B> Service<Request<B>> for BearerAuth<S, V>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    V: TokenVerifier,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh one waits its turn.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let challenge = self.challenge.clone();
        let dpop = self.dpop.clone();
        let hub = self.hub.clone();
        Box::pin(async move {
            let peer = crate::http::peer_of(&request);
            let report = |reason, caller: Option<&AuthInfo>| {
                trace::http::refused(reason);
                if let Some(hub) = &hub {
                    hub.early(Early {
                        reason,
                        peer,
                        caller,
                        trace_id: crate::observe::trace_id(),
                    });
                }
            };
            let refuse = |status, problem: Option<&Problem<'_>>, to| {
                let error = problem.map_or("missing_token", |p| p.error);
                reject(status, challenge.values(problem, to), error)
            };
            let (scheme, token) =
                match credentials(request.headers(), request.uri().query(), dpop.is_some()) {
                    // Shared with the request's `SubjectToken`: one copy of the token.
                    Ok(Some((scheme, token))) => (scheme, Arc::<str>::from(token)),
                    Ok(None) => {
                        report(RefusalReason::MissingToken, None);
                        return Ok(refuse(StatusCode::UNAUTHORIZED, None, None));
                    }
                    Err(Malformed { scheme, why }) => {
                        tracing::info!(reason = why, "malformed bearer authorization");
                        report(RefusalReason::InvalidRequest, None);
                        return Ok(refuse(
                            StatusCode::BAD_REQUEST,
                            Some(&INVALID_REQUEST),
                            scheme,
                        ));
                    }
                };
            // Every response to a DPoP request carries the next nonce, when nonces are on
            // (RFC 9449 §8.2, §9), so that the client rarely needs a round trip for one.
            let nonce = match (&dpop, scheme) {
                (Some(setup), Scheme::Dpop) => setup.dpop.nonce(),
                _ => None,
            };
            let with_nonce = |mut response: Response| {
                if let Some(nonce) = nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
                    let headers = response.headers_mut();
                    headers.insert(DPOP_NONCE, nonce);
                    headers
                        .entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("no-store"));
                }
                response
            };
            if let Some(refused) = scheme_refusal(dpop.as_deref(), scheme, request.headers()) {
                tracing::info!(reason = refused.reason, "authorization scheme refused");
                report(refused.class, None);
                return Ok(refuse(refused.status, Some(&refused.problem), refused.to));
            }
            let verified = verifier.verify_from(&token, peer);
            let auth = match verified.instrument(trace::verify_token_span()).await {
                Ok(auth) => auth,
                Err(AuthError::InvalidToken(reason)) => {
                    tracing::info!(%reason, "bearer token rejected");
                    report(reason.kind().into(), None);
                    let refused =
                        refuse(StatusCode::UNAUTHORIZED, Some(&INVALID_TOKEN), Some(scheme));
                    return Ok(with_nonce(refused));
                }
                Err(AuthError::Unavailable(reason)) => {
                    tracing::error!(%reason, "bearer token could not be verified; failing closed");
                    report(RefusalReason::Unavailable, None);
                    return Ok(unavailable("the access token cannot be verified right now"));
                }
                Err(AuthError::RateLimited { retry_after }) => {
                    tracing::info!(
                        "credential not checked: too many failed attempts from the peer"
                    );
                    report(RefusalReason::TooManyFailures, None);
                    return Ok(with_nonce(too_many_failures(retry_after)));
                }
            };
            let bound = match (binding(&auth), scheme, &dpop) {
                (Binding::Unbound, Scheme::Bearer, _) => None,
                (Binding::Key(jkt), Scheme::Dpop, Some(setup)) => Some((setup, jkt)),
                (binding, scheme, dpop) => {
                    let refused = binding_refusal(binding, scheme, dpop.is_some());
                    tracing::info!(reason = refused.reason, "bearer token rejected");
                    report(refused.class, Some(&auth));
                    let response = refuse(refused.status, Some(&refused.problem), refused.to);
                    return Ok(with_nonce(response));
                }
            };
            if let Some((setup, jkt)) = bound {
                let path = request
                    .extensions()
                    .get::<OriginalUri>()
                    .map_or_else(|| request.uri().path(), |original| original.0.path());
                let proven = setup
                    .prove(request.method(), path, request.headers(), &token, jkt)
                    .await;
                if let Err(not_proven) = proven {
                    let class = match not_proven {
                        NotProven::Unavailable(_) => RefusalReason::Unavailable,
                        _ => RefusalReason::DpopProof,
                    };
                    report(class, Some(&auth));
                    return Ok(with_nonce(proof_refusal(not_proven, &refuse)));
                }
            }
            if let Some(hub) = &hub {
                hub.authenticated();
            }
            // For token exchange (RFC 8693) alone; never an API key (`SubjectToken::of`).
            if let Some(subject) = crate::downstream::SubjectToken::of(token, &auth) {
                request.extensions_mut().insert(subject);
            }
            request.extensions_mut().insert(auth);
            // Absent means `Bearer` (`scheme_of`): the bearer path allocates nothing for it.
            if scheme == Scheme::Dpop {
                request.extensions_mut().insert(scheme);
            }
            inner.call(request).await.map(with_nonce)
        })
    }
}

/// What a token is bound to, as its verifier says.
enum Binding<'a> {
    /// Nothing: a bearer token.
    Unbound,
    /// The DPoP key of this thumbprint (`cnf.jkt`).
    Key(&'a str),
    /// A `cnf` claim the verifier did not turn into a thumbprint (a custom verifier that
    /// knows nothing of DPoP, or another confirmation method): bound to something this
    /// layer cannot check, so refused in every scheme (fail closed).
    Unknown,
}

fn binding(auth: &AuthInfo) -> Binding<'_> {
    match auth.dpop_thumbprint() {
        Some(jkt) => Binding::Key(jkt),
        None if auth.claims().contains_key("cnf") => Binding::Unknown,
        None => Binding::Unbound,
    }
}

/// A refusal before or after the token is verified, with the reason for the log.
struct Refusal {
    status: StatusCode,
    problem: Problem<'static>,
    /// The scheme whose challenge reports it; `None`: each.
    to: Option<Scheme>,
    reason: &'static str,
    /// The reason as metrics and audit records class it.
    class: RefusalReason,
}

/// Requests refused for their scheme alone, before any work on the token.
fn scheme_refusal(
    dpop: Option<&DpopSetup>,
    scheme: Scheme,
    headers: &HeaderMap,
) -> Option<Refusal> {
    let policy = dpop?.policy();
    match scheme {
        Scheme::Bearer if policy == DpopPolicy::Require => Some(Refusal {
            status: StatusCode::UNAUTHORIZED,
            problem: Problem {
                error: "invalid_token",
                description: "this resource accepts DPoP-bound access tokens only: send the \
                              token with the DPoP scheme and a proof (RFC 9449)",
            },
            to: Some(Scheme::Dpop),
            reason: "a bearer token where DPoP is required",
            class: RefusalReason::WrongScheme,
        }),
        // Which mechanism the client meant is ambiguous: RFC 9449 §7.2 answers such a
        // request `400 invalid_request` in both challenges (Figure 19), and RFC 6750 §3.1
        // defines `invalid_request` for a request that "uses more than one method for
        // including an access token". `401 invalid_token` would blame a token that may
        // well be valid; a bearer-only resource (`Off`) never looks at the `DPoP` header.
        Scheme::Bearer if headers.contains_key(DPOP) => Some(Refusal {
            status: StatusCode::BAD_REQUEST,
            problem: Problem {
                error: "invalid_request",
                description: "a DPoP proof came with the Bearer scheme: send a DPoP-bound \
                              token with the DPoP scheme, a bearer token without a proof",
            },
            to: None,
            reason: "a bearer token with a DPoP proof",
            class: RefusalReason::InvalidRequest,
        }),
        _ => None,
    }
}

/// A verified token presented in a scheme its binding does not allow.
fn binding_refusal(binding: Binding<'_>, scheme: Scheme, dpop_on: bool) -> Refusal {
    let invalid = |description, reason| Refusal {
        status: StatusCode::UNAUTHORIZED,
        problem: Problem {
            error: "invalid_token",
            description,
        },
        to: Some(scheme),
        reason,
        class: RefusalReason::WrongScheme,
    };
    match (scheme, binding) {
        // Bearer-only: exactly the refusal of any other invalid token, as before DPoP.
        (Scheme::Bearer, _) if !dpop_on => Refusal {
            problem: INVALID_TOKEN,
            ..invalid("", "the token is bound to a key (`cnf`), and DPoP is off")
        },
        (Scheme::Bearer, Binding::Key(_)) => invalid(
            "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
            "a DPoP-bound token presented as a bearer token (RFC 9449 §7.2)",
        ),
        (Scheme::Dpop, Binding::Unbound) => invalid(
            "the access token is not DPoP-bound",
            "a bearer token presented with the DPoP scheme",
        ),
        _ => invalid(
            "the access token is bound by a confirmation method this resource cannot check",
            "the verifier's identity has a `cnf` claim but no DPoP thumbprint",
        ),
    }
}

/// The answer to a request that did not prove possession of its token's key.
fn proof_refusal(
    not_proven: NotProven,
    refuse: &impl Fn(StatusCode, Option<&Problem<'_>>, Option<Scheme>) -> Response,
) -> Response {
    let (problem, reason) = match not_proven {
        NotProven::InvalidProof(reason) => (
            Problem {
                error: "invalid_dpop_proof",
                description: "the DPoP proof is missing, malformed or invalid for this request",
            },
            reason,
        ),
        NotProven::WrongKey => (
            Problem {
                error: INVALID_TOKEN.error,
                description: "invalid DPoP key binding",
            },
            "the proof's key is not the one the access token is bound to".to_owned(),
        ),
        NotProven::UseNonce => (
            Problem {
                error: "use_dpop_nonce",
                description: "the DPoP proof must carry the nonce of the DPoP-Nonce header",
            },
            "the proof lacks a current server nonce".to_owned(),
        ),
        NotProven::Unavailable(reason) => {
            tracing::error!(%reason, "DPoP proof could not be verified; failing closed");
            return unavailable("the DPoP proof cannot be verified right now");
        }
    };
    tracing::info!(%reason, "DPoP proof rejected");
    refuse(StatusCode::UNAUTHORIZED, Some(&problem), Some(Scheme::Dpop))
}

/// `503`: the request cannot be checked now, and never passes unchecked.
fn unavailable(description: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
        axum::Json(serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": description,
        })),
    )
        .into_response()
}

/// `429`: the peer failed too often; `Retry-After` in whole seconds, rounded up.
fn too_many_failures(retry_after: std::time::Duration) -> Response {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, HeaderValue::from(seconds.max(1))),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::Json(serde_json::json!({
            "error": "too_many_requests",
            "error_description": "too many failed attempts: retry later",
        })),
    )
        .into_response()
}

/// A refusal: `status`, one `WWW-Authenticate` value per challenge, and a JSON body naming
/// the `error`.
pub(super) fn reject(status: StatusCode, challenges: Vec<HeaderValue>, error: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{{\"error\":\"{error}\"}}")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for challenge in challenges {
        headers.append(header::WWW_AUTHENTICATE, challenge);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The credentials of a request: its scheme and token (`Ok(None)` when there is none, or
/// when its scheme is not understood, `DPoP` included unless `dpop` is on), or `Err` with
/// the scheme when it is known and a reason (never the token) when the request is malformed.
fn credentials<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
    dpop: bool,
) -> Result<Option<(Scheme, &'a str)>, Malformed> {
    let malformed = |scheme, why| Malformed { scheme, why };
    let (value, scheme) = match authorization(headers, query).map_err(|why| malformed(None, why))? {
        Some((scheme, value)) => (value, scheme),
        None => return Ok(None),
    };
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    token68(value)
        .map(|token| Some((scheme, token)))
        .map_err(|why| malformed(Some(scheme), why))
}

/// Why a request's credentials cannot be read, and their scheme when it is known.
#[derive(Debug, PartialEq, Eq)]
struct Malformed {
    scheme: Option<Scheme>,
    why: &'static str,
}

/// The bearer token of a request: `Ok(None)` when there is none, `Err` with a reason (never
/// the token) when the request is malformed.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<&'a str>, &'static str> {
    match credentials(headers, query, false) {
        Ok(credentials) => Ok(credentials.map(|(_, token)| token)),
        Err(malformed) => Err(malformed.why),
    }
}

/// The request's one `Authorization` header, split into its scheme and the rest; `Err` for
/// a token in the query string or several headers.
fn authorization<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<(&'a str, &'a str)>, &'static str> {
    if query.is_some_and(has_credential) {
        return Err("access token or API key in the query string");
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    // What `HeaderValue::to_str` checks, without its byte-at-a-time loop over the token.
    let value = Some(value.as_bytes())
        .filter(|bytes| is_visible_ascii(bytes))
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .ok_or("Authorization header is not visible ASCII")?;
    Ok(Some(value.split_once(' ').unwrap_or((value, ""))))
}

/// Whether every byte is visible ASCII, a space or a tab, as `HeaderValue::to_str` requires:
/// folded without an early exit so that the compiler vectorizes it.
fn is_visible_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |bad, &b| {
        bad | u8::from(!((b == b'\t') | (b.wrapping_sub(0x20) < 0x5f)))
    }) == 0
}

/// Whether a query string carries a credential: an `access_token`, an API key parameter, or
/// a value with the default API key prefix, names and values percent-decoded. Refused rather
/// than ignored: a credential in a URL ends up in logs (RFC 6750 §5.3), and its owner should
/// learn so from the first request.
fn has_credential(query: &str) -> bool {
    const NAMES: [&str; 4] = ["access_token", "api_key", "apikey", "api-key"];
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, value)| {
        NAMES.iter().any(|n| name.eq_ignore_ascii_case(n))
            || value.starts_with(super::DEFAULT_API_KEY_PREFIX)
    })
}

/// The token after the scheme: RFC 6750 §2.1 `b64token`, the `token68` of RFC 9449 §7.1.
fn token68(rest: &str) -> Result<&str, &'static str> {
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err("empty access token");
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err("access token too long");
    }
    if !is_b64token(token.as_bytes()) {
        return Err("access token is not a b64token");
    }
    Ok(token)
}

/// The verified caller a [`BearerAuth`] put into the request, for axum handlers behind it.
pub(crate) fn auth_of<B>(request: &Request<B>) -> Option<Arc<AuthInfo>> {
    request.extensions().get::<Arc<AuthInfo>>().cloned()
}

/// The scheme the request's token came in, as a [`BearerAuth`] recorded it: the scheme a
/// `403` step-up challenge answers in. `Bearer` when no layer recorded one (no
/// authentication, or a layer without DPoP).
pub(crate) fn scheme_of<B>(request: &Request<B>) -> Scheme {
    request
        .extensions()
        .get::<Scheme>()
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(bearer_token(&headers(&[value]), None), Ok(Some("abc")));
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(bearer_token(&headers(&["Bearer a", "Bearer b"]), None).is_err());
        assert!(bearer_token(&headers(&["Bearer "]), None).is_err());
        assert!(bearer_token(&headers(&["Bearer a b"]), None).is_err());
        assert!(bearer_token(&headers(&["Bearer a\"b"]), None).is_err());
        assert!(bearer_token(&headers(&[]), Some("x=1&access_token=abc")).is_err());
        for query in [
            "api_key=k",
            "API_KEY=k",
            "apikey=k",
            "api-key=k",
            "access%5Ftoken=abc",
            "x=mcpk_0123_abc",
            "x=mcpk%5F0123_abc",
        ] {
            assert!(bearer_token(&headers(&[]), Some(query)).is_err(), "{query}");
        }
        assert_eq!(bearer_token(&headers(&[]), Some("page=2&key=k")), Ok(None));
        assert_eq!(bearer_token(&headers(&["Basic dXNlcg=="]), None), Ok(None));
        assert_eq!(bearer_token(&headers(&[]), None), Ok(None));
        assert_eq!(
            bearer_token(&headers(&["Bearer abc=="]), None),
            Ok(Some("abc=="))
        );
    }

    #[test]
    fn the_dpop_scheme_is_understood_only_when_dpop_is_on() {
        for value in ["DPoP abc", "dpop abc", "DPOP abc"] {
            assert_eq!(
                credentials(&headers(&[value]), None, true),
                Ok(Some((Scheme::Dpop, "abc")))
            );
            assert_eq!(credentials(&headers(&[value]), None, false), Ok(None));
        }
        assert_eq!(
            credentials(&headers(&["Bearer abc"]), None, true),
            Ok(Some((Scheme::Bearer, "abc")))
        );
        assert_eq!(
            credentials(&headers(&["DPoP a b"]), None, true),
            Err(Malformed {
                scheme: Some(Scheme::Dpop),
                why: "access token is not a b64token"
            })
        );
        assert!(matches!(
            credentials(&headers(&["DPoP a", "Bearer a"]), None, true),
            Err(Malformed { scheme: None, .. })
        ));
    }
}
