//! Why a request was refused, as metrics label it and audit events record it.

/// Why a request was refused: the `reason` label of the authentication and authorization
/// decision metrics, and [`AuditOutcome::Refused`](super::audit::AuditOutcome::Refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// No credential (`401` without an error code).
    MissingToken,
    /// A malformed `Authorization` header, two of them, or a credential in the query string
    /// (`400 invalid_request`).
    InvalidRequest,
    /// The token is invalid for a reason not listed below (`401 invalid_token`).
    InvalidToken,
    /// The token is malformed: not a JWT, bad encoding, a claim of the wrong type.
    MalformedToken,
    /// The token's signature does not verify.
    BadSignature,
    /// No key of the issuer matches the token's `kid` and `alg`, or an unknown API key.
    UnknownKey,
    /// The token expired (`exp`).
    Expired,
    /// The token is not valid yet (`nbf`).
    NotYetValid,
    /// The token is for another audience (RFC 8707, RFC 9068).
    WrongAudience,
    /// The token is from another issuer.
    WrongIssuer,
    /// The token is not an access token (`typ`, an ID token).
    WrongTokenType,
    /// Introspection answered `active: false` (revoked, expired at the issuer).
    Inactive,
    /// A DPoP proof is missing, invalid, replayed or lacks the server's nonce.
    DpopProof,
    /// The token came in a scheme its binding does not allow (a DPoP-bound token as a bearer
    /// token, a bearer token where DPoP is required).
    WrongScheme,
    /// The token could not be checked (`503`, fail closed).
    Unavailable,
    /// Too many failed attempts from the peer (`429`, the credential unchecked).
    TooManyFailures,
    /// The caller lacks a scope the request needs (`403 insufficient_scope`).
    InsufficientScope,
    /// The caller is over its request budget or a tool's rate limit (`429`).
    RateLimited,
    /// The `Host` or `Origin` header is not allowed (`403`/`421`, DNS rebinding).
    HostOrOrigin,
    /// A call's arguments do not match the tool's or prompt's input schema: refused before
    /// its function ran.
    InvalidArguments,
    /// 2026-07-28: a retry's `requestState` was forged, altered, sealed for another call,
    /// expired or already used, or an answer in its `inputResponses` was malformed.
    InvalidRequestState,
}

impl RefusalReason {
    /// The reason as a metric label and in audit records: `snake_case`, stable.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::MissingToken => "missing_token",
            RefusalReason::InvalidRequest => "invalid_request",
            RefusalReason::InvalidToken => "invalid_token",
            RefusalReason::MalformedToken => "malformed_token",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::UnknownKey => "unknown_key",
            RefusalReason::Expired => "expired",
            RefusalReason::NotYetValid => "not_yet_valid",
            RefusalReason::WrongAudience => "wrong_audience",
            RefusalReason::WrongIssuer => "wrong_issuer",
            RefusalReason::WrongTokenType => "wrong_token_type",
            RefusalReason::Inactive => "inactive",
            RefusalReason::DpopProof => "dpop_proof",
            RefusalReason::WrongScheme => "wrong_scheme",
            RefusalReason::Unavailable => "unavailable",
            RefusalReason::TooManyFailures => "too_many_failures",
            RefusalReason::InsufficientScope => "insufficient_scope",
            RefusalReason::RateLimited => "rate_limited",
            RefusalReason::HostOrOrigin => "host_or_origin",
            RefusalReason::InvalidArguments => "invalid_arguments",
            RefusalReason::InvalidRequestState => "invalid_request_state",
        }
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
