//! Handshake-era sessions on the wire: the `Mcp-Session-Id` a request names, and `DELETE`,
//! which ends one. (`initialize` opens them: see `mcp::lifecycle`.)

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::response::rpc_error;
use super::{Endpoint, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, caller, header_str};
use crate::auth::AuthInfo;
use crate::jsonrpc::code;
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
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(SessionError::NotFound) => rpc_error(
            StatusCode::NOT_FOUND,
            None,
            code::INVALID_REQUEST,
            "unknown or expired session",
        ),
        Err(_) => sessions_unavailable(),
    }
}
