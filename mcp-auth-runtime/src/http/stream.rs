//! `GET` on the MCP endpoint (handshake era): the session's standalone stream, where the
//! `notifications/resources/updated` of its subscriptions arrive (streamable HTTP §listening
//! for messages from the server).
//!
//! Only a server with resources and sessions has one; otherwise, and for a 2026-07-28 client
//! (whose notifications travel on `subscriptions/listen`), `GET` is `405`. The stream is found
//! by the session and token like any request (another principal's token finds no session),
//! counts against the caller's [`max_streams_per_principal`](crate::McpServerBuilder::max_streams_per_principal),
//! is one per session in this process (`409` for a second), and ends when its token expires,
//! its session ends, the client closes it, or the server shuts down.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::replay::Replays;
use super::response::{accepts, method_not_allowed, rpc_error};
use super::resume::{LAST_EVENT_ID, resume, too_many_streams};
use super::session::legacy_session;
use super::sse::{long_stream, priming_event};
use super::{Endpoint, MCP_PROTOCOL_VERSION, caller, header_str};
use crate::jsonrpc::code;
use crate::mcp::deadline_of;
use crate::protocol::MODERN_VERSIONS;
use crate::updates::Target;

/// `GET` on the MCP endpoint.
pub(crate) async fn get(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let modern = header_str(request.headers(), &MCP_PROTOCOL_VERSION)
        .is_some_and(|v| MODERN_VERSIONS.contains(&v));
    let mcp = &endpoint.mcp;
    if !modern
        && let Some(replays) = &endpoint.replays
        && let Some(last) = header_str(request.headers(), &LAST_EVENT_ID)
        && !last.starts_with(STANDALONE)
    {
        let auth = caller(&endpoint, &request);
        let scheme = crate::auth::scheme_of(&request);
        return resume_stream(&endpoint, replays, last, request.headers(), auth, scheme).await;
    }
    if modern || mcp.sessions.is_none() || mcp.resources.is_empty() {
        return method_not_allowed().await;
    }
    if !accepts(request.headers()).sse {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow text/event-stream",
        )
            .into_response();
    }
    let Some(auth) = caller(&endpoint, &request) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let session = match legacy_session(&endpoint, request.headers(), &auth, false).await {
        Ok(Some(session)) => session,
        Ok(None) => return method_not_allowed().await,
        Err(refused) => return refused,
    };
    let Some(slot) = mcp.streams.open(auth.principal_key().to_owned()) else {
        return too_many_streams(&auth);
    };
    let Some(updates) = mcp
        .updates
        .register(Target::Session(session.id.clone()), auth.clone())
    else {
        return rpc_error(
            StatusCode::CONFLICT,
            None,
            code::INVALID_REQUEST,
            "this session has a stream open already",
        );
    };
    let stream_id = format!("{STANDALONE}{}", crate::random::token(6));
    long_stream(
        Some(priming_event(&stream_id)),
        Some(stream_id),
        deadline_of(&auth),
        slot,
        Some(updates),
    )
}

/// How the event ids of standalone streams begin. Their events are not kept: a client that
/// reconnects with one as `Last-Event-ID` gets a new standalone stream of its own session,
/// as without the header; the ids of request streams never begin so.
const STANDALONE: &str = "get.";

/// `GET` with `Last-Event-ID` naming a request stream: checked like any request of the
/// session (the session must exist and be the caller's), then resumed if the stream is one of
/// that session's.
async fn resume_stream(
    endpoint: &Endpoint,
    replays: &Replays,
    last: &str,
    headers: &http::HeaderMap,
    auth: Option<std::sync::Arc<crate::auth::AuthInfo>>,
    scheme: crate::auth::Scheme,
) -> Response {
    if !accepts(headers).sse {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow text/event-stream",
        )
            .into_response();
    }
    let Some(auth) = auth else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match legacy_session(endpoint, headers, &auth, false).await {
        Ok(Some(session)) => resume(endpoint, replays, last, &session.id, &auth, scheme).await,
        Ok(None) => method_not_allowed().await,
        Err(refused) => refused,
    }
}
