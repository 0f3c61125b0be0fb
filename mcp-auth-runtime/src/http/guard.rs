//! The Host/Origin guard in front of the MCP endpoint: DNS-rebinding protection
//! (streamable HTTP §security) and a bound on header bytes, decided before anything else runs
//! and before any token is looked at.
//!
//! A request is served only when its `Host` is a loopback name, the resource's host or one
//! named with [`allowed_host`](crate::McpServerBuilder::allowed_host), and its `Origin`, if
//! any, is a loopback origin, the resource's or one named with
//! [`allowed_origin`](crate::McpServerBuilder::allowed_origin); anything else gets `403`:
//!
//! ```
//! use axum::body::Body;
//! use http::{Request, StatusCode};
//! use mcp_auth_runtime::prelude::*;
//! use tower::ServiceExt as _;
//!
//! /// Say hello.
//! #[tool(unscoped)]
//! async fn hello() -> &'static str { "hello" }
//!
//! async fn status(app: &axum::Router, request: Request<Body>) -> StatusCode {
//!     app.clone().oneshot(request).await.unwrap().status()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = McpServer::builder("demo", "1.0.0")
//!     .tools(tools![hello])
//!     .stateless(true)
//!     .without_auth()
//!     .allowed_origin("https://app.example.com")
//!     .build()
//!     .unwrap()
//!     .into_router();
//! let ping = |host: &str, origin: Option<&str>| {
//!     let mut request = Request::post("/mcp")
//!         .header("host", host)
//!         .header("content-type", "application/json")
//!         .header("accept", "application/json");
//!     if let Some(origin) = origin {
//!         request = request.header("origin", origin);
//!     }
//!     request.body(Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)).unwrap()
//! };
//!
//! assert_eq!(status(&app, ping("localhost:8000", None)).await, StatusCode::OK);
//! assert_eq!(status(&app, ping("localhost:8000", Some("https://app.example.com"))).await, StatusCode::OK);
//! // A page on another origin, or a name that resolves to this host (DNS rebinding):
//! assert_eq!(status(&app, ping("localhost:8000", Some("https://evil.example"))).await, StatusCode::FORBIDDEN);
//! assert_eq!(status(&app, ping("evil.example", None)).await, StatusCode::FORBIDDEN);
//! # }
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::jsonrpc::{code, error_for};
use crate::observe::{Early, Hub, RefusalReason};

/// The most header bytes (names and values) a request may carry.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A JSON-RPC error without id, as the guard's refusals are answered.
fn refused(
    status: StatusCode,
    id: Option<crate::jsonrpc::Id>,
    code: i32,
    message: &str,
) -> Response {
    let mut response = Response::new(Body::from(error_for(id, code, message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// [`Guard`] around the MCP endpoint's routes; refusals are reported to the hub, when one is
/// on.
#[derive(Clone)]
pub(crate) struct GuardLayer(pub(crate) Arc<Allowed>, pub(crate) Option<Arc<Hub>>);

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            allowed: self.0.clone(),
            hub: self.1.clone(),
        }
    }
}

/// DNS-rebinding protection (streamable HTTP §security): the `Host` must be one the server
/// answers to, and an `Origin`, when present, one it trusts; otherwise `403` before anything
/// else runs. A plain service rather than a `from_fn` middleware: an accepted request goes on
/// to the inner service with no allocation on the way.
#[derive(Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    allowed: Arc<Allowed>,
    hub: Option<Arc<Hub>>,
}

impl<S> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        futures_util::future::Either<std::future::Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        match refusal(&self.allowed, &request) {
            Some((response, reason)) => {
                crate::observe::trace::http::refused(reason);
                if let Some(hub) = &self.hub {
                    hub.early(Early {
                        reason,
                        peer: super::peer_of(&request),
                        caller: None,
                        trace_id: crate::observe::trace_id(),
                    });
                }
                Either::Left(std::future::ready(Ok(response)))
            }
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// Why the guard refuses `request`, as the response to send and the reason to report; `None`
/// lets it through.
fn refusal(allowed: &Allowed, request: &Request) -> Option<(Response, RefusalReason)> {
    // No MCP request needs large headers; a bound keeps a flood of them cheap to refuse.
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        let response = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
        return Some((response, RefusalReason::InvalidRequest));
    }
    // One Host (RFC 9112 §3.2) and at most one Origin: with two, this check and the
    // application could each read a different one.
    for (name, status, message, reason) in [
        (
            header::HOST,
            StatusCode::BAD_REQUEST,
            "more than one Host header",
            RefusalReason::InvalidRequest,
        ),
        (
            header::ORIGIN,
            StatusCode::FORBIDDEN,
            "more than one Origin header",
            RefusalReason::HostOrOrigin,
        ),
    ] {
        if request.headers().get_all(name).iter().count() > 1 {
            let response = refused(status, None, code::INVALID_REQUEST, message);
            return Some((response, reason));
        }
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !allowed.host(host) {
        tracing::warn!(
            host = host.unwrap_or(""),
            "request for a host this server does not serve; refused"
        );
        let response = refused(
            StatusCode::FORBIDDEN,
            None,
            code::INVALID_REQUEST,
            "Host not allowed",
        );
        return Some((response, RefusalReason::HostOrOrigin));
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !allowed.origin(origin) {
            tracing::warn!(
                origin,
                "request from an origin this server does not trust; refused"
            );
            let response = refused(
                StatusCode::FORBIDDEN,
                None,
                code::INVALID_REQUEST,
                "Origin not allowed",
            );
            return Some((response, RefusalReason::HostOrOrigin));
        }
    }
    None
}

/// Hosts and origins the MCP endpoint answers to (DNS-rebinding protection).
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowed {
    /// Lowercase `host` or `host:port` entries.
    pub(crate) hosts: Vec<String>,
    /// Lowercase `scheme://host[:port]` entries.
    pub(crate) origins: Vec<String>,
    pub(crate) any_host: bool,
}

impl Allowed {
    /// Whether a `Host` header (or the request's authority) names this server. The value is
    /// parsed as an RFC 3986 authority; one with userinfo, or that does not parse, is refused.
    pub(crate) fn host(&self, host: Option<&str>) -> bool {
        if self.any_host {
            return true;
        }
        let Some(authority) = host.and_then(|h| h.parse::<http::uri::Authority>().ok()) else {
            return false;
        };
        // No userinfo, and nothing after the host but an optional numeric port.
        let port = authority
            .as_str()
            .get(authority.host().len()..)
            .unwrap_or("x");
        let numeric = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if authority.as_str().contains('@')
            || !(port.is_empty() || port.strip_prefix(':').is_some_and(numeric))
        {
            return false;
        }
        // Compared in place, case-insensitively: the entries are lowercase already, and the
        // request's name needs no lowercased copy, nor `name:port` a formatted one.
        let name = authority.host();
        let mut digits = [0u8; 5];
        let port = authority.port_u16().map(|port| decimal(port, &mut digits));
        let matches = |entry: &str| match entry.get(..name.len()) {
            Some(start) if start.eq_ignore_ascii_case(name) => {
                let rest = &entry[name.len()..];
                rest.is_empty() || port.is_some_and(|port| rest.strip_prefix(':') == Some(port))
            }
            _ => false,
        };
        is_loopback_name(name) || self.hosts.iter().any(|h| matches(h))
    }

    /// Whether an `Origin` header names an origin this server trusts. The value is parsed as a
    /// URL and must be a serialized origin (RFC 6454 §6.1): `http` or `https`, a host, an
    /// optional port, nothing else (no userinfo, path, query or fragment; `null` is refused).
    pub(crate) fn origin(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        let bare = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if !bare || url.host().is_none() {
            return false;
        }
        crate::auth::claims::is_loopback_host(url.host())
            || self
                .origins
                .iter()
                .any(|o| *o == url.origin().ascii_serialization())
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `port` in decimal without leading zeros, as `format!` writes it, in `buf`.
fn decimal(mut port: u16, buf: &mut [u8; 5]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (port % 10) as u8;
        port /= 10;
        if port == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

/// A configured origin in the form [`Allowed::origin`] compares: the URL parser's
/// serialization (`https://a.example:8443`), or the lowercased text if it does not parse.
pub(crate) fn serialized_origin(origin: &str) -> String {
    match url::Url::parse(origin) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => origin.trim_end_matches('/').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_case_insensitively_with_the_port_normalized() {
        let allowed = Allowed {
            hosts: vec!["api.example.com".into(), "mcp.example.com:8443".into()],
            ..Allowed::default()
        };
        for host in [
            "api.example.com",
            "API.Example.COM",
            "api.example.com:443",
            "mcp.example.com:8443",
            "MCP.example.com:08443",
            "localhost:3000",
            "LocalHost",
            "127.0.0.1:39900",
            "[::1]:80",
        ] {
            assert!(allowed.host(Some(host)), "{host}");
        }
        for host in [
            "mcp.example.com",
            "mcp.example.com:443",
            "mcp.example.com:84430",
            "api.example.co",
            "api.example.com.evil",
            "evil.example.com",
            "user@api.example.com",
            "api.example.com:x",
            "10.0.0.1",
            "",
        ] {
            assert!(!allowed.host(Some(host)), "{host}");
        }
        assert!(!allowed.host(None));
    }

    #[test]
    fn ports_are_written_as_format_writes_them() {
        for port in [0u16, 1, 9, 10, 80, 443, 8443, 10000, 65535] {
            assert_eq!(decimal(port, &mut [0; 5]), port.to_string());
        }
    }
}
