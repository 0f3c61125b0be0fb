//! Handshake-era sessions on the wire (streamable HTTP §session management): opened when
//! `initialize` is answered and named in its `Mcp-Session-Id` header, found by the header of
//! every later request, and ended by `DELETE`. What a session holds is kept by `session`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::response::rpc_error;
use super::{Endpoint, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, caller, header_str};
use crate::auth::AuthInfo;
use crate::jsonrpc::{Id, code};
use crate::peer::ClientSupport;
use crate::protocol::MODERN_VERSIONS;
use crate::session::{Session, SessionError};

/// The session named by `Mcp-Session-Id`, in stateful mode. `initialize` needs none.
pub(super) async fn legacy_session(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    auth: &AuthInfo,
    initialize: bool,
) -> Result<Option<Arc<Session>>, Response> {
    let Some(store) = &endpoint.mcp.sessions else {
        return Ok(None);
    };
    if initialize {
        return Ok(None);
    }
    let Some(id) = header_str(headers, &MCP_SESSION_ID) else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header: call `initialize` first",
        ));
    };
    match store.get(id, auth).await {
        Ok(session) => Ok(Some(session)),
        Err(SessionError::NotFound) => Err(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session: call `initialize` again",
        )),
        Err(_) => Err(sessions_unavailable()),
    }
}

/// `503` when the shared session store cannot be reached: a session that cannot be checked
/// is never assumed.
fn sessions_unavailable() -> Response {
    let mut response = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        code::INTERNAL_ERROR,
        "sessions are unavailable; retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `DELETE` on the MCP endpoint: ends the caller's handshake-era session.
pub(crate) async fn delete(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    // The 2026-07-28 era has no sessions to end (streamable HTTP §backward compatibility).
    let modern = header_str(request.headers(), &MCP_PROTOCOL_VERSION)
        .is_some_and(|v| MODERN_VERSIONS.contains(&v));
    let Some(store) = endpoint.mcp.sessions.as_ref().filter(|_| !modern) else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("POST"))],
        )
            .into_response();
    };
    let Some(auth) = caller(&endpoint, &request) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(id) = header_str(request.headers(), &MCP_SESSION_ID) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "missing Mcp-Session-Id header",
        );
    };
    match store.remove(id, &auth).await {
        Ok(()) => {
            // Its standalone stream ends with it, here and, through Redis, on every replica.
            endpoint.mcp.updates.end_session(id);
            if let Some(replays) = &endpoint.replays {
                replays.end_session(id);
            }
            let ended = crate::session::Relayed::Ended {
                scope: id.to_owned(),
            };
            store.publish(&ended).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(SessionError::NotFound) => rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session",
        ),
        Err(_) => sessions_unavailable(),
    }
}

/// Opens the session an answered `initialize` starts, in stateful mode: its id, or `503`
/// (with the request's `id`) when the store is full or cannot be reached.
pub(super) async fn open_session(
    endpoint: &Endpoint,
    auth: &AuthInfo,
    version: &'static str,
    support: ClientSupport,
    id: Id,
) -> Result<Option<String>, Response> {
    let Some(store) = &endpoint.mcp.sessions else {
        return Ok(None);
    };
    match store.create(auth, version, support).await {
        Ok(session) => Ok(Some(session.id.clone())),
        Err(err) => {
            tracing::warn!("cannot open a session: {err}");
            let message = match err {
                SessionError::Full(_) => "too many sessions",
                _ => "sessions are unavailable",
            };
            Err(rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                code::INTERNAL_ERROR,
                message,
            ))
        }
    }
}

/// Names the session `initialize` opened in the response's `Mcp-Session-Id` header.
pub(super) fn name_session(response: &mut Response, session: Option<String>) {
    if let Some(id) = session.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(MCP_SESSION_ID, id);
    }
}
