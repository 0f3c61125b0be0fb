//! The 2026-07-28 era of a request, as the request itself declares it in `_meta`: what every
//! transport checks, with or without headers to compare it with.

use serde_json::{Map, Value, json};

use super::Era;
use crate::jsonrpc::{ErrorResponse, Id, Request, code};
use crate::peer::{ClientSupport, LogLevel};
use crate::protocol::{LEGACY_VERSIONS, MODERN_VERSIONS, meta};

/// Whether the request's `_meta` names a protocol version: the mark of a 2026-07-28 request.
pub(crate) fn declares_version(request: &Request) -> bool {
    request
        .meta()
        .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION))
}

/// The era of a request whose `_meta` names a protocol version (see [`declares_version`]):
/// the version must be one of 2026-07-28's, and `_meta` must carry the client's capabilities
/// and may carry a log level.
pub(crate) fn modern_era(request: &Request) -> Result<Era, ErrorResponse> {
    let meta = request.meta();
    let invalid =
        |message: &str| ErrorResponse::new(Some(request.id.clone()), code::INVALID_PARAMS, message);
    let version = meta
        .and_then(|m| m.get(meta::PROTOCOL_VERSION))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("invalid params: `io.modelcontextprotocol/protocolVersion` must be a string")
        })?;
    if !MODERN_VERSIONS.contains(&version) {
        return Err(unsupported_version(Some(request.id.clone()), version));
    }
    let capabilities = meta
        .and_then(|m| m.get(meta::CLIENT_CAPABILITIES))
        .filter(|c| c.is_object())
        .ok_or_else(|| {
            invalid("invalid params: `_meta` lacks `io.modelcontextprotocol/clientCapabilities`")
        })?;
    let log_level = log_level(meta).map_err(invalid)?;
    Ok(Era::Modern {
        support: ClientSupport::from_capabilities(Some(capabilities)),
        log_level,
    })
}

/// The least severe level of log messages a 2026-07-28 request asks for in `_meta`, if any;
/// `Err` with the message of the `invalid params` error for an unknown level.
pub(crate) fn log_level(
    meta: Option<&Map<String, Value>>,
) -> Result<Option<LogLevel>, &'static str> {
    match meta.and_then(|m| m.get(meta::LOG_LEVEL)) {
        None => Ok(None),
        Some(level) => LogLevel::parse(level)
            .map(Some)
            .ok_or("invalid params: unknown log level"),
    }
}

/// The error for a protocol version this server does not speak, naming those it does.
pub(crate) fn unsupported_version(id: Option<Id>, requested: &str) -> ErrorResponse {
    let mut supported: Vec<&str> = MODERN_VERSIONS.to_vec();
    supported.extend(LEGACY_VERSIONS);
    ErrorResponse::new(
        id,
        code::UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
    )
    .with_data(json!({ "supported": supported, "requested": requested }))
}
