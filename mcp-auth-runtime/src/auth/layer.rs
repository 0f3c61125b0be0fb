//! The bearer-token middleware: [`BearerAuthLayer`] and its service [`BearerAuth`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use tower::{Layer, Service};

use super::{AuthError, AuthInfo, Challenge, TokenVerifier};

/// Longest bearer token accepted. Real access tokens are a few KiB at most; anything longer is
/// refused before a verifier spends work on it.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Applies a [`TokenVerifier`] to every request and answers RFC 6750 challenges.
///
/// The token is taken from the `Authorization: Bearer` header only (the scheme is matched
/// case-insensitively). A request with
///
/// - no bearer token gets `401` and a challenge without an error code;
/// - two `Authorization` headers, a malformed one, or an `access_token` query parameter gets
///   `400` with `error="invalid_request"` (tokens in URLs end up in logs, RFC 6750 §5.3);
/// - a token the verifier rejects gets `401` with `error="invalid_token"`;
/// - a token that cannot be checked right now gets `503`; the request never passes.
///
/// A verified request reaches the inner service with an `Arc<AuthInfo>` in its extensions.
pub struct BearerAuthLayer<V> {
    verifier: Arc<V>,
    challenge: Arc<Challenge>,
}

// Not derived: the verifier is shared, so the layer is `Clone` (as axum's `Router::layer`
// requires) whatever `V` is.
impl<V> Clone for BearerAuthLayer<V> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            verifier: self.verifier.clone(),
            challenge: self.challenge.clone(),
        }
    }
}

impl<V: TokenVerifier> BearerAuthLayer<V> {
    /// Verifies tokens with `verifier`; challenges carry `challenge`'s parameters.
    pub fn new(verifier: V, challenge: Challenge) -> Self {
        BearerAuthLayer {
            verifier: Arc::new(verifier),
            challenge: Arc::new(challenge),
        }
    }
}

impl<V> fmt::Debug for BearerAuthLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("challenge", &self.challenge)
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
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around an inner service.
pub struct BearerAuth<S, V> {
    inner: S,
    verifier: Arc<V>,
    challenge: Arc<Challenge>,
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
        }
    }
}

impl<S: fmt::Debug, V> fmt::Debug for BearerAuth<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("challenge", &self.challenge)
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
        Box::pin(async move {
            let token = match bearer_token(request.headers(), request.uri().query()) {
                Ok(Some(token)) => token.to_owned(),
                Ok(None) => {
                    return Ok(reject(
                        StatusCode::UNAUTHORIZED,
                        challenge.missing_token(),
                        "missing_token",
                    ));
                }
                Err(why) => {
                    tracing::info!(reason = why, "malformed bearer authorization");
                    return Ok(reject(
                        StatusCode::BAD_REQUEST,
                        challenge.invalid_request(),
                        "invalid_request",
                    ));
                }
            };
            match verifier.verify_shared(&token).await {
                Ok(auth) => {
                    request.extensions_mut().insert(auth);
                    inner.call(request).await
                }
                Err(AuthError::InvalidToken(reason)) => {
                    tracing::info!(%reason, "bearer token rejected");
                    Ok(reject(
                        StatusCode::UNAUTHORIZED,
                        challenge.invalid_token(),
                        "invalid_token",
                    ))
                }
                Err(AuthError::Unavailable(reason)) => {
                    tracing::error!(%reason, "bearer token could not be verified; failing closed");
                    Ok((
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
                        axum::Json(serde_json::json!({
                            "error": "temporarily_unavailable",
                            "error_description": "the access token cannot be verified right now",
                        })),
                    )
                        .into_response())
                }
            }
        })
    }
}

pub(super) fn reject(status: StatusCode, challenge: HeaderValue, error: &'static str) -> Response {
    let mut response = Response::new(Body::from(format!("{{\"error\":\"{error}\"}}")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, challenge);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The bearer token of a request: `Ok(None)` when there is none, `Err` with a reason (never
/// the token) when the request is malformed.
pub(crate) fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Option<&'a str>, &'static str> {
    if query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    }) {
        return Err("access token in the query string");
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "Authorization header is not visible ASCII")?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() {
        return Err("empty bearer token");
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err("bearer token too long");
    }
    if !is_b64token(token) {
        return Err("bearer token is not a b64token");
    }
    Ok(Some(token))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The verified caller a [`BearerAuth`] put into the request, for axum handlers behind it.
pub(crate) fn auth_of<B>(request: &Request<B>) -> Option<Arc<AuthInfo>> {
    request.extensions().get::<Arc<AuthInfo>>().cloned()
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
        assert_eq!(bearer_token(&headers(&["Basic dXNlcg=="]), None), Ok(None));
        assert_eq!(bearer_token(&headers(&[]), None), Ok(None));
        assert_eq!(
            bearer_token(&headers(&["Bearer abc=="]), None),
            Ok(Some("abc=="))
        );
    }
}
