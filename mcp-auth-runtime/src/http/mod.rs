//! MCP Streamable HTTP: the axum side of the MCP endpoint, for both protocol eras, in the
//! order a request meets it: [`guard`] (Host and Origin), [`budget`] (the caller's request
//! budget), then the handlers: [`post`] reads the message, [`era`] tells the era from the
//! request and checks its headers, [`session`] finds the handshake-era session, and the
//! reply goes out as JSON ([`response`]) or as an event stream ([`sse`]).
//!
//! - **POST** carries one JSON-RPC message. A request is answered with `application/json`,
//!   or with a `text/event-stream` when the client accepts one and the tool sends something
//!   before its result (progress, log messages, requests for input): the response switches
//!   to a stream at the first such message, so calls that send nothing cost no stream.
//!   Notifications and the client's responses get `202`.
//! - **GET** answers `405`: this server sends nothing outside the stream of a request (its
//!   tool list never changes), which MCP 2025-11-25 allows, and the 2026-07-28 era has no GET.
//! - **DELETE** ends a handshake-era session.
//!
//! A client that goes away cancels its call, in both eras, as `notifications/cancelled`
//! would: the call's future is dropped and the [`on_call`](crate::McpServerBuilder::on_call)
//! hook reports it `Cancelled`. The 2026-07-28 era says so (streamable HTTP §cancellation).
//! The handshake era says a disconnect SHOULD NOT be taken as cancellation, so that a client
//! can resume the stream with `Last-Event-ID`; this server offers no resumption (`GET`
//! answers `405`), so the result of a call whose client left can never be delivered, and
//! running it on would only let a client start work that no connection limit bounds: open a
//! call, hang up, repeat. A tool whose side effect must complete once begun runs that part
//! in a task of its own.
//!
//! The era of each request is read from the request itself: a request whose `_meta` carries
//! `io.modelcontextprotocol/protocolVersion` is served statelessly under 2026-07-28, with its
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers checked against the body;
//! anything else follows the handshake era, with sessions unless the server is stateless.

pub(crate) mod budget;
mod era;
pub(crate) mod guard;
mod post;
mod response;
mod session;
mod sse;

#[cfg(feature = "fuzzing")]
pub(crate) use era::decode_header_value;
pub(crate) use response::json_response;

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::{MethodRouter, post};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::{AuthInfo, Challenge};
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
}

/// The MCP endpoint's methods: `POST`, `GET` and `DELETE`, and `405` for the others.
pub(crate) fn methods(endpoint: Arc<Endpoint>) -> MethodRouter {
    post(post::post)
        .get(response::method_not_allowed)
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
