//! The guards in front of the endpoints: loopback only, and known origins only for the
//! endpoints that hand out credentials.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::{HeaderValue, Method, StatusCode, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use url::Url;

use super::Issuer;
use crate::auth::claims::is_loopback_host;

/// Registration and the token endpoint hand out credentials. Browsers may call them from the
/// issuer's own origin and from the origins named with `cors_origin`, and get CORS headers
/// for the latter only. Any other `Origin` is refused before the handler runs: without a
/// preflight, a page can still send a simple request (a form, `text/plain`) and would
/// register clients or spend codes blind.
pub(super) fn credentials(route: MethodRouter<Issuer>, issuer: &Issuer) -> MethodRouter<Issuer> {
    let route = route.layer(middleware::from_fn_with_state(
        issuer.clone(),
        known_origins_only,
    ));
    if issuer.cors_origins.is_empty() {
        return route;
    }
    let origins = issuer
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    route.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers(Any),
    )
}

/// Lets through requests without `Origin` (clients that are not browsers) and with exactly
/// one known origin.
async fn known_origins_only(
    State(issuer): State<Issuer>,
    request: Request,
    next: Next,
) -> Response {
    let mut origins = request.headers().get_all(header::ORIGIN).iter();
    let known = match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => issuer.known_origin(origin.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !known {
        tracing::warn!(
            path = %request.uri().path(),
            origin = ?request.headers().get(header::ORIGIN),
            "development issuer: a cross-origin request was refused; name a browser-based client's origin with `DevIssuerBuilder::cors_origin`"
        );
        return (
            StatusCode::FORBIDDEN,
            "the development issuer refuses cross-origin requests from origins not named with `DevIssuerBuilder::cors_origin`",
        )
            .into_response();
    }
    next.run(request).await
}

/// Answers only requests from a loopback peer addressed to a loopback host: the issuer stays
/// unreachable from other machines even if bound to all interfaces, and from web pages
/// through DNS rebinding. Without the peer address (a router served without
/// `into_make_service_with_connect_info`), nothing shows where a request comes from, so every
/// request is refused.
pub(super) async fn loopback_only(request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        tracing::error!(
            "development issuer: requests carry no peer address, so every request is refused: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`"
        );
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the development issuer needs each connection's peer address: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`",
        )
            .into_response();
    };
    let peer_ok = peer.ip().to_canonical().is_loopback();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !peer_ok || !host.is_some_and(is_loopback_authority) {
        return (
            StatusCode::FORBIDDEN,
            "the development issuer answers loopback requests only",
        )
            .into_response();
    }
    next.run(request).await
}

fn is_loopback_authority(authority: &str) -> bool {
    !authority.contains(['@', '/', '\\', '?', '#'])
        && Url::parse(&format!("http://{authority}/")).is_ok_and(|url| is_loopback_host(url.host()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_authorities_pass_the_host_check() {
        for ok in ["127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:9"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "evil.example@127.0.0.1",
            "127.0.0.1.nip.io",
            "10.0.0.1:80",
            "127.0.0.1/x",
            "",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }
}
