//! The issuer's HTTP side: one file per endpoint, the guards every route sits behind, and
//! what the endpoints share (parameters, OAuth errors, JSON responses).

mod assertion;
mod authorize;
mod client_auth;
mod exchange;
mod guard;
mod jwks;
mod metadata;
mod proof;
mod register;
mod token;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use tower_http::cors::{Any, CorsLayer};

use self::authorize::{authorize, consent};
use self::guard::{credentials, loopback_only};
use self::jwks::jwks;
pub(super) use self::metadata::document as metadata_document;
use self::metadata::metadata;
use self::register::register;
use self::token::token;
use super::Inner;

/// Largest request body read by the issuer.
const BODY_LIMIT: usize = 64 * 1024;

/// The state every handler gets: the issuer, shared.
type Issuer = Arc<Inner>;

/// Every route under the issuer URL's path, behind the loopback guard and the body limit.
pub(super) fn router(issuer: Issuer) -> Router {
    let prefix = issuer.prefix.clone();
    // The metadata and the key set are public documents: browser-based clients (the MCP
    // Inspector) read them with `fetch` from their own origin. GET only, no credentials.
    let public = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .allow_headers(Any);
    let document = || get(metadata).layer(public.clone());
    let mut router = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{prefix}"),
            document(),
        )
        .route(
            &format!("/.well-known/openid-configuration{prefix}"),
            document(),
        )
        .route(&format!("{prefix}/jwks"), get(jwks).layer(public.clone()))
        .route(
            &format!("{prefix}/register"),
            credentials(post(register), &issuer),
        )
        // Never CORS here: the user agent navigates to this endpoint; a readable consent page
        // would leak its form token, a readable redirect its code.
        .route(&format!("{prefix}/authorize"), get(authorize).post(consent))
        .route(
            &format!("{prefix}/token"),
            credentials(post(token), &issuer),
        );
    if !prefix.is_empty() {
        router = router.route(
            &format!("{prefix}/.well-known/openid-configuration"),
            document(),
        );
    }
    router
        .route_layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route_layer(middleware::from_fn(loopback_only))
        .with_state(issuer)
}

/// An OAuth error response: RFC 6749 §5.2 for the token endpoint, RFC 7591 §3.2.2 for
/// registration.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<Cow<'static, str>>) -> OAuthError {
        let status = match error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = json_value(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: `invalid_client` answers with a challenge for the scheme.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcp-auth-dev-issuer\""),
            );
        }
        response
    }
}

/// Query or form parameters. RFC 6749 §3.1: a parameter sent without a value counts as
/// omitted, and none may be sent twice.
struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters, or `Err` with the name of one sent twice.
    fn parse(input: &[u8]) -> Result<Params, String> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if params.iter().any(|(n, _)| *n == name) {
                return Err(name.into_owned());
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

fn json_value(status: StatusCode, body: &Value) -> Response {
    let mut response = json_bytes(
        status,
        Bytes::from(serde_json::to_vec(body).expect("JSON serializes")),
    );
    // RFC 6749 §5.1: token and error responses are never cached.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(Params::parse(b"a=1&b=2&a=3").err().as_deref(), Some("a"));
        let params = Params::parse(b"a=&b=x%20y").unwrap();
        assert_eq!(params.get("a"), None, "an empty value counts as omitted");
        assert_eq!(params.get("b"), Some("x y"));
    }
}
