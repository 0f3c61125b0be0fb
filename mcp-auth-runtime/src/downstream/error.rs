//! Why no downstream token was obtained, why a configuration was refused, and how a failed
//! exchange reaches the client of a tool.

/// Why no downstream token was obtained. Converts into a [`ToolError`](crate::ToolError) with
/// `?`: refusals by the authorization server become a failed tool result naming the OAuth
/// error, everything else (and `invalid_client`, which is this server's misconfiguration) an
/// internal error (details logged, never sent).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The server has no [`TokenExchange`](super::TokenExchange)
    /// (`McpServerBuilder::token_exchange`).
    #[error("no token exchange is configured")]
    NotConfigured,
    /// The call has no inbound access token to exchange (a server without authentication, the
    /// stdio transport, a direct Rust call, or a caller that authenticated with an API key).
    #[error("the call has no access token to exchange")]
    NoSubjectToken,
    /// The authorization server refused the exchange (`invalid_grant`, `invalid_target`,
    /// `invalid_scope`, `unauthorized_client`, ...).
    #[error("the authorization server refused the token exchange: {error}")]
    Refused {
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization server could not be reached, timed out or answered something other
    /// than a usable token response (a token that is not a bearer access token, say). Fails
    /// closed.
    #[error("token exchange unavailable: {0}")]
    Unavailable(String),
}

/// Why a [`TokenExchange`](super::TokenExchange) configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeConfigError {
    /// The token endpoint is not an absolute `https` URL (or `http` on a loopback host).
    #[error(
        "the token endpoint `{0}` must be an absolute https URL (http only on a loopback host)"
    )]
    InvalidEndpoint(String),
    /// The private key could not be read for the algorithm.
    #[error("the private_key_jwt key cannot be used: {0}")]
    InvalidKey(String),
    /// A symmetric algorithm for `private_key_jwt`.
    #[error("private_key_jwt needs an asymmetric algorithm, not {0:?}")]
    SymmetricAlgorithm(jsonwebtoken::Algorithm),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

impl From<ExchangeError> for crate::ToolError {
    fn from(err: ExchangeError) -> Self {
        match err {
            // The user's token does not reach the downstream API: something the model can
            // explain (a scope the user lacks, an API the server may not call for them).
            ExchangeError::Refused { error, .. } if error != "invalid_client" => {
                crate::ToolError::new(format!(
                    "the authorization server refused a token for the downstream API ({error})"
                ))
            }
            err => crate::ToolError::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolError;

    #[test]
    fn refusals_are_tool_failures_and_the_rest_internal() {
        let refused = ExchangeError::Refused {
            error: "invalid_scope".into(),
            description: Some("wider than the subject token".into()),
        };
        match ToolError::from(refused) {
            ToolError::Failed(message) => {
                assert!(message.contains("invalid_scope"), "{message}");
                assert!(
                    !message.contains("wider"),
                    "descriptions stay in the server"
                );
            }
            other => panic!("{other:?}"),
        }
        for internal in [
            ExchangeError::NotConfigured,
            ExchangeError::NoSubjectToken,
            ExchangeError::Unavailable("timed out".into()),
            ExchangeError::Refused {
                error: "invalid_client".into(),
                description: None,
            },
        ] {
            assert!(matches!(ToolError::from(internal), ToolError::Internal(_)));
        }
    }
}
