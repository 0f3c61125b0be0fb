//! Which era a request belongs to, and the era's header checks: the handshake era's
//! `MCP-Protocol-Version` and session, and the 2026-07-28 headers that must mirror the body.

// The early returns of request validation are whole responses, built once per rejected
// request; boxing them would only add an allocation to the path that does work.
#![allow(clippy::result_large_err)]

use axum::response::Response;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::response::{json_response, rpc_error};
use super::session::legacy_session;
use super::{Endpoint, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, header_str, single_header};
use crate::auth::AuthInfo;
use crate::jsonrpc::{Id, Request as RpcRequest, code};
use crate::mcp::Era;
use crate::peer::ClientSupport;
use crate::protocol::{LEGACY_VERSIONS, MODERN_VERSIONS, meta};

/// Whether `request` is a 2026-07-28 request: its `_meta` names a protocol version, or its
/// `MCP-Protocol-Version` header names one that is not of the handshake era.
pub(super) fn is_modern(headers: &HeaderMap, request: &RpcRequest) -> bool {
    crate::mcp::declares_version(request)
        || header_str(headers, &MCP_PROTOCOL_VERSION).is_some_and(|v| !LEGACY_VERSIONS.contains(&v))
}

pub(super) async fn legacy_era(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    request: &RpcRequest,
    auth: &AuthInfo,
) -> Result<Era, Response> {
    // Absent: 2025-03-26 clients did not send it (transports §protocol version header).
    if let Some(version) = headers.get(&MCP_PROTOCOL_VERSION) {
        let known = version.to_str().is_ok_and(|v| LEGACY_VERSIONS.contains(&v));
        if !known {
            return Err(unsupported_version(
                Some(request.id.clone()),
                version.to_str().unwrap_or(""),
            ));
        }
    }
    let session = legacy_session(endpoint, headers, auth, request.method == "initialize").await?;
    Ok(Era::Legacy { session })
}

fn unsupported_version(id: Option<Id>, requested: &str) -> Response {
    let body = crate::mcp::unsupported_version(id, requested).to_bytes();
    json_response(StatusCode::BAD_REQUEST, body)
}

/// 2026-07-28 request validation: the headers must mirror the body (streamable HTTP §server
/// validation), and `_meta` must carry the version and the client's capabilities.
pub(super) fn modern_era(headers: &HeaderMap, request: &RpcRequest) -> Result<Era, Response> {
    let id = Some(request.id.clone());
    let mismatch = |message: String| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            id.clone(),
            code::HEADER_MISMATCH,
            message,
        )
    };
    let invalid = |message: &str| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            id.clone(),
            code::INVALID_PARAMS,
            message.to_owned(),
        )
    };
    for name in [&MCP_PROTOCOL_VERSION, &MCP_METHOD, &MCP_NAME] {
        if single_header(headers, name).is_err() {
            return Err(mismatch(format!(
                "Header mismatch: more than one {name} header"
            )));
        }
    }
    let meta = request.meta();
    let header_version = header_str(headers, &MCP_PROTOCOL_VERSION);
    let body_version = meta
        .and_then(|m| m.get(meta::PROTOCOL_VERSION))
        .and_then(Value::as_str);
    let Some(header_version) = header_version else {
        return Err(mismatch(
            "Header mismatch: the MCP-Protocol-Version header is missing".into(),
        ));
    };
    let Some(body_version) = body_version else {
        if !MODERN_VERSIONS.contains(&header_version) {
            return Err(unsupported_version(id, header_version));
        }
        return Err(invalid(
            "invalid params: `_meta` lacks `io.modelcontextprotocol/protocolVersion`",
        ));
    };
    if header_version != body_version {
        return Err(mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{header_version}' does not match body value '{body_version}'"
        )));
    }
    if !MODERN_VERSIONS.contains(&body_version) {
        return Err(unsupported_version(id, body_version));
    }
    let Some(capabilities) = meta
        .and_then(|m| m.get(meta::CLIENT_CAPABILITIES))
        .filter(|c| c.is_object())
    else {
        return Err(invalid(
            "invalid params: `_meta` lacks `io.modelcontextprotocol/clientCapabilities`",
        ));
    };
    match header_str(headers, &MCP_METHOD) {
        Some(method) if method == request.method => {}
        Some(method) => {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Method header value '{method}' does not match body value '{}'",
                request.method
            )));
        }
        None => {
            return Err(mismatch(
                "Header mismatch: the Mcp-Method header is missing".into(),
            ));
        }
    }
    let name_field = match request.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    if let Some(field) = name_field {
        let body_name = request
            .params
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(Value::as_str);
        let header_name = headers
            .get(&MCP_NAME)
            .map(|v| decode_header_value(v.as_bytes()));
        match (header_name, body_name) {
            (None, _) => {
                return Err(mismatch(
                    "Header mismatch: the Mcp-Name header is missing".into(),
                ));
            }
            (Some(None), _) => {
                return Err(mismatch(
                    "Header mismatch: the Mcp-Name header is malformed".into(),
                ));
            }
            (Some(Some(header)), Some(body)) if header == body => {}
            (Some(Some(header)), body) => {
                return Err(mismatch(format!(
                    "Header mismatch: Mcp-Name header value '{}' does not match body value '{}'",
                    header.escape_default(),
                    body.unwrap_or("").escape_default()
                )));
            }
        }
    }
    let log_level = crate::mcp::log_level(meta).map_err(invalid)?;
    Ok(Era::Modern {
        support: ClientSupport::from_capabilities(Some(capabilities)),
        log_level,
    })
}

/// A header value, Base64-decoded when it uses the `=?base64?…?=` sentinel (streamable HTTP
/// §value encoding); `None` when it is neither plain visible ASCII nor valid Base64 of UTF-8.
pub(crate) fn decode_header_value(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    if let Some(encoded) = text
        .strip_prefix("=?base64?")
        .and_then(|t| t.strip_suffix("?="))
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    let plain = text
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b));
    plain.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_the_base64_sentinel() {
        assert_eq!(
            decode_header_value(b"get_weather").as_deref(),
            Some("get_weather")
        );
        assert_eq!(
            decode_header_value(b"=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode_header_value(b"=?base64?not base64?=").as_deref(),
            None
        );
        assert_eq!(
            decode_header_value(b"=?base64?/w==?=").as_deref(),
            None,
            "not UTF-8"
        );
        assert_eq!(
            decode_header_value("caf\u{e9}".as_bytes()).as_deref(),
            None,
            "raw non-ASCII"
        );
    }
}
