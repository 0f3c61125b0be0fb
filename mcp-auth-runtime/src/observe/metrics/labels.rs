//! Label values, bounded: a label takes a value from a fixed set wherever the request picks
//! it, so that no client can grow a series per request (a method name it invents, a protocol
//! version it claims).

use std::borrow::Cow;

/// Methods a server answers or is told of; any other is recorded as `_OTHER`, as the
/// conventions do for unknown HTTP methods.
const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "tasks/update",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// The `mcp.method.name` of `method`: itself when the protocol defines it, else `_OTHER`.
pub(crate) fn method(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("_OTHER")
}

/// The `mcp.protocol.version` of `version`: a version this crate speaks, or `None`.
pub(super) fn protocol_version(version: Option<&str>) -> Option<&'static str> {
    let version = version?;
    crate::protocol::LEGACY_VERSIONS
        .iter()
        .chain(crate::protocol::MODERN_VERSIONS)
        .find(|known| **known == version)
        .copied()
}

/// The `error.type` of a failed operation: the conventions' classes and JSON-RPC codes are
/// borrowed; anything else (a code this crate never sends) is copied, bounded in length.
pub(super) fn error_type(error: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "tool_error",
        "cancelled",
        "timeout",
        "_OTHER",
        "-32700",
        "-32600",
        "-32601",
        "-32602",
        "-32603",
        "-32001",
        "-32002",
        "-32042",
    ];
    match KNOWN.iter().find(|known| **known == error) {
        Some(known) => Cow::Borrowed(known),
        None if error.len() <= 32 => Cow::Owned(error.to_owned()),
        None => Cow::Borrowed("_OTHER"),
    }
}

/// `network.transport`.
pub(super) fn transport(transport: super::Transport) -> &'static str {
    transport.as_str()
}

/// `network.protocol.name`: `http` for Streamable HTTP, none for stdio.
pub(super) fn protocol(transport: super::Transport) -> Option<&'static str> {
    match transport {
        super::Transport::Tcp => Some("http"),
        super::Transport::Pipe => None,
    }
}

/// The stage of a decision: `authentication` for what is refused before or while the
/// credential is checked, `authorization` for what is refused of an authenticated caller.
#[cfg(any(feature = "prometheus", feature = "opentelemetry"))]
pub(super) fn stage(decision: super::Decision) -> &'static str {
    use super::{Decision, RefusalReason as R};
    match decision {
        Decision::Authenticated => "authentication",
        Decision::Authorized => "authorization",
        Decision::Refused(reason) => match reason {
            R::MissingToken
            | R::InvalidRequest
            | R::InvalidToken
            | R::MalformedToken
            | R::BadSignature
            | R::UnknownKey
            | R::Expired
            | R::NotYetValid
            | R::WrongAudience
            | R::WrongIssuer
            | R::WrongTokenType
            | R::Inactive
            | R::DpopProof
            | R::WrongScheme
            | R::Unavailable
            | R::TooManyFailures
            | R::HostOrOrigin => "authentication",
            R::InsufficientScope
            | R::RateLimited
            | R::InvalidArguments
            | R::InvalidRequestState => "authorization",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_and_versions_share_one_value() {
        assert_eq!(method("tools/call"), "tools/call");
        assert_eq!(method("tools/call2"), "_OTHER");
        assert_eq!(protocol_version(Some("2025-06-18")), Some("2025-06-18"));
        assert_eq!(protocol_version(Some("1999-01-01")), None);
        assert!(matches!(error_type("-32602"), Cow::Borrowed("-32602")));
        assert_eq!(error_type(&"x".repeat(33)), "_OTHER");
    }
}
