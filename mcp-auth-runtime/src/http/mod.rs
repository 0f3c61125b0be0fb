//! MCP Streamable HTTP: the axum side of the MCP endpoint, for both protocol eras, in the
//! order a request meets it: [`guard`] (Host and Origin), [`budget`] (the caller's request
//! budget), then the handlers: [`post`] reads the message, [`era`] tells the era from the
//! request and checks its headers, [`session`] finds the handshake-era session, and the
//! reply goes out as JSON ([`response`]) or as an event stream ([`sse`]).
//!
//! What a client sees of it is told in `docs/transport.md`, part of [`McpServer`](crate::McpServer)'s docs.

pub(crate) mod budget;
mod era;
pub(crate) mod guard;
mod mount;
mod param_headers;
pub(crate) mod polling;
mod post;
mod readers;
pub(crate) mod replay;
mod response;
mod resume;
mod session;
mod sse;
mod stream;

#[cfg(feature = "fuzzing")]
pub(crate) use era::decode_header_value;
pub(crate) use mount::{MountCheck, RefuseNestedLayer, endpoint_path};
pub(crate) use response::json_response;
pub(crate) use sse::EndsAtShutdown;

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::{MethodRouter, post};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::{AuthInfo, Challenge};
use crate::downstream::SubjectToken;
use crate::mcp::Dispatcher;

pub(crate) const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
pub(crate) const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(crate) const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
pub(crate) const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// What the endpoint's handlers share: the method semantics and the few HTTP settings they
/// need, not the whole server.
pub(crate) struct Endpoint {
    pub(crate) mcp: Dispatcher,
    pub(crate) body_limit: usize,
    /// Names the scopes a `403` asks for.
    pub(crate) challenge: Challenge,
    /// Every caller's identity when authentication is off.
    pub(crate) local_identity: Option<Arc<AuthInfo>>,
    /// The request streams closed for polling, kept for resumption; `None` unless
    /// [`stream_polling`](crate::McpServerBuilder::stream_polling) is set and sessions are on.
    pub(crate) replays: Option<replay::Replays>,
}

/// The MCP endpoint's methods: `POST`, `GET` (a session's standalone stream) and `DELETE`,
/// and `405` for the others.
pub(crate) fn methods(endpoint: Arc<Endpoint>) -> MethodRouter {
    post(post::post)
        .get(stream::get)
        .delete(session::delete)
        .fallback(response::method_not_allowed)
        .with_state(endpoint)
}

/// The caller, as the bearer layer (or the no-auth configuration) established it.
fn caller(endpoint: &Endpoint, request: &Request) -> Option<Arc<AuthInfo>> {
    endpoint
        .local_identity
        .clone()
        .or_else(|| crate::auth::auth_of(request))
}

/// The TCP peer of a request, when the server was started with [`serve`](crate::serve) or
/// `into_make_service_with_connect_info`.
pub(crate) fn peer_of<B>(request: &http::Request<B>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The request's access token, for token exchange: none when authentication is off.
fn subject(endpoint: &Endpoint, request: &Request) -> Option<SubjectToken> {
    if endpoint.local_identity.is_some() {
        return None;
    }
    request.extensions().get::<SubjectToken>().cloned()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header that must appear at most once: two values for a mirrored header would let
/// intermediaries and this server read different things.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        Err(())
    } else {
        Ok(first)
    }
}
