//! [`InvalidToken`]: why a token was refused, as a class for metrics and audit records and as
//! a sentence for logs.

use std::borrow::Cow;
use std::fmt;

use crate::observe::RefusalReason;

/// Why a verifier refused a token: its class ([`kind`](Self::kind)), for metrics and audit
/// records, and a reason for logs (its `Display`), which never holds the token. The reason is
/// never sent to the client: a refused request gets `401` with `error="invalid_token"`.
///
/// Verifiers of your own build one from a reason, with the class
/// [`InvalidTokenKind::Other`], or name the class with [`new`](Self::new):
///
/// ```
/// use mcp_auth_runtime::auth::{AuthError, InvalidToken, InvalidTokenKind};
///
/// let unknown = AuthError::InvalidToken("unknown token".into());
/// let expired = AuthError::InvalidToken(InvalidToken::new(InvalidTokenKind::Expired, "token expired"));
/// # let AuthError::InvalidToken(invalid) = expired else { unreachable!() };
/// assert_eq!(invalid.kind(), InvalidTokenKind::Expired);
/// assert_eq!(invalid.to_string(), "token expired");
/// # let _ = unknown;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidToken {
    kind: InvalidTokenKind,
    reason: Cow<'static, str>,
}

/// The class of an [`InvalidToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidTokenKind {
    /// Not a JWT, bad encoding, a header or claim of the wrong type or repeated, an algorithm
    /// not allowed, a required claim missing.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// No key matches the token's `kid` and `alg`; an API key this server does not know.
    UnknownKey,
    /// The token expired (`exp`), or the API key did.
    Expired,
    /// The token is not valid yet (`nbf`, an `iat` in the future).
    NotYetValid,
    /// The token is for another audience.
    WrongAudience,
    /// The token is from another issuer.
    WrongIssuer,
    /// The token is not an access token (its `typ`, an ID token).
    WrongTokenType,
    /// Introspection answered that the token is not active (revoked, expired at the issuer).
    Inactive,
    /// Any other reason.
    Other,
}

impl InvalidToken {
    /// A refusal of class `kind`, for `reason` (which names no token or secret).
    pub fn new(kind: InvalidTokenKind, reason: impl Into<Cow<'static, str>>) -> Self {
        InvalidToken {
            kind,
            reason: reason.into(),
        }
    }

    /// The class of the refusal.
    pub fn kind(&self) -> InvalidTokenKind {
        self.kind
    }

    /// Why the token was refused, for logs.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<String> for InvalidToken {
    fn from(reason: String) -> Self {
        InvalidToken::new(InvalidTokenKind::Other, reason)
    }
}

impl From<&'static str> for InvalidToken {
    fn from(reason: &'static str) -> Self {
        InvalidToken::new(InvalidTokenKind::Other, reason)
    }
}

impl From<InvalidTokenKind> for RefusalReason {
    fn from(kind: InvalidTokenKind) -> Self {
        match kind {
            InvalidTokenKind::Malformed => RefusalReason::MalformedToken,
            InvalidTokenKind::BadSignature => RefusalReason::BadSignature,
            InvalidTokenKind::UnknownKey => RefusalReason::UnknownKey,
            InvalidTokenKind::Expired => RefusalReason::Expired,
            InvalidTokenKind::NotYetValid => RefusalReason::NotYetValid,
            InvalidTokenKind::WrongAudience => RefusalReason::WrongAudience,
            InvalidTokenKind::WrongIssuer => RefusalReason::WrongIssuer,
            InvalidTokenKind::WrongTokenType => RefusalReason::WrongTokenType,
            InvalidTokenKind::Inactive => RefusalReason::Inactive,
            InvalidTokenKind::Other => RefusalReason::InvalidToken,
        }
    }
}
