//! Errors a tool returns.

use std::error::Error as StdError;

/// Why a tool call did not produce a result.
///
/// How each variant reaches the client:
///
/// | variant | answer |
/// | --- | --- |
/// | [`InsufficientScope`](Self::InsufficientScope) | HTTP `403` with an `insufficient_scope` challenge naming every required scope |
/// | [`InvalidArguments`](Self::InvalidArguments) | a tool result with `isError: true` and the message, so the model can correct itself |
/// | [`Failed`](Self::Failed) | a tool result with `isError: true` and the message |
/// | [`Internal`](Self::Internal) | a tool result with `isError: true` saying only "internal error"; the cause is logged |
/// | [`MissingClientCapability`](Self::MissingClientCapability) | 2026-07-28: error `-32021` with HTTP `400`; earlier: a tool result with `isError: true` |
/// | [`InputRequired`](Self::InputRequired) | 2026-07-28: an `InputRequiredResult` the client answers by retrying |
/// | [`InvalidInputResponse`](Self::InvalidInputResponse) | 2026-07-28: JSON-RPC `-32602`; earlier: a tool result with `isError: true` |
/// | [`NotFound`](Self::NotFound) | from a resource: JSON-RPC `-32602` "resource not found" with the URI (SEP-2164); from a tool: a tool result with `isError: true` |
///
/// A resource's read answers a JSON-RPC error rather than a result with `isError`:
/// `InvalidArguments` and `NotFound` as `-32602`, `Failed` as `-32603` with the message,
/// `Internal` as `-32603` "internal error".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The caller lacks scopes the tool requires.
    #[error("insufficient scope: the call requires `{}`", .required.join(" "))]
    InsufficientScope {
        /// Every scope the call requires.
        required: Vec<String>,
        /// The required scopes the caller does not hold.
        missing: Vec<String>,
    },
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and failed; the message is shown to the model.
    #[error("{0}")]
    Failed(String),
    /// An unexpected failure whose details must not reach the client.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
    /// The tool asked for input (elicitation, sampling, roots) the client did not declare it
    /// can give.
    #[error("the client does not support {0}")]
    MissingClientCapability(&'static str),
    /// 2026-07-28 multi round-trip requests: the tool needs the client's input and will run
    /// again when the client retries the call with it. Propagate it with `?`.
    #[error("input required from the client")]
    InputRequired(Box<crate::input::InputRequest>),
    /// The client answered a request for input with something that is not that request's
    /// result (an `ElicitResult` without `action`, say).
    #[error("invalid input response: {0}")]
    InvalidInputResponse(String),
    /// What was asked for does not exist, or not for this caller: a resource template's
    /// instance another tenant owns, say. A resource read answers it exactly as a URI no
    /// resource serves, so that a caller cannot tell the two apart.
    #[error("not found")]
    NotFound,
}

impl ToolError {
    /// A failure the model may read, such as "invoice INV-9 not found".
    pub fn new(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }

    /// An unexpected failure: logged with its cause, reported to the client as "internal
    /// error" only.
    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        ToolError::Internal(cause.into())
    }
}
