//! What method handling sends back to the transport, and the helpers that build it.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use super::streams::StreamSlot;
use crate::auth::AuthInfo;
use crate::error::ToolError;
use crate::jsonrpc::{ErrorResponse, Request, code, response_head};
use crate::peer::ClientSupport;

/// What the transport sends back.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON-RPC response (result or error) with this status.
    Json(StatusCode, Bytes),
    /// A `200` result serialized when the server was built (a `tools/list` page), sent without
    /// copying it: `head` is `{"jsonrpc":"2.0","id":<id>,"result":`, `tail` the result and the
    /// closing brace.
    Precomputed { head: Bytes, tail: Bytes },
    /// The caller lacks scopes: `403` with an `insufficient_scope` challenge naming `required`.
    /// `streamed`, when set, is what replaces it once the response stream has started (a tool
    /// result that names the scopes); otherwise `body` ends the stream.
    Forbidden {
        required: Vec<String>,
        body: Bytes,
        streamed: Option<Bytes>,
    },
    /// The `initialize` result, with what the session it starts (stateful mode) is opened
    /// with.
    Initialized {
        body: Bytes,
        version: &'static str,
        support: ClientSupport,
    },
    /// `subscriptions/listen`: a stream that opens with this acknowledgement and stays open
    /// until the client closes it or its token expires.
    Listen(Listen),
    /// The client cancelled the call: no response is sent (MCP cancellation).
    Cancelled,
    /// The caller is over a rate limit: `429` with `Retry-After`.
    RateLimited { retry_after: Duration, body: Bytes },
}

/// An accepted `subscriptions/listen`.
#[derive(Debug)]
pub(crate) struct Listen {
    pub(crate) ack: Bytes,
    /// The end of the token that opened the stream.
    pub(crate) expires_at: Option<tokio::time::Instant>,
    /// The caller's slot, given back when the stream ends.
    pub(crate) slot: StreamSlot,
    /// The resource updates the stream carries, when it asked for some.
    pub(crate) updates: Option<crate::updates::Registration>,
}

/// A `200` response carrying `result`, serialized once, straight into the body.
pub(super) fn respond(request: &Request, result: &impl serde::Serialize) -> Reply {
    let mut body = response_head(&request.id, 256);
    match serde_json::to_writer(&mut body, result) {
        Ok(()) => {
            body.push(b'}');
            Reply::Json(StatusCode::OK, body.into())
        }
        Err(err) => {
            tracing::error!(error = %err, "result does not serialize");
            error(
                request,
                StatusCode::OK,
                code::INTERNAL_ERROR,
                "internal error",
            )
        }
    }
}

/// A JSON-RPC error response to `request` with this status.
pub(super) fn error(
    request: &Request,
    status: StatusCode,
    code: i32,
    message: impl Into<String>,
) -> Reply {
    Reply::Json(
        status,
        ErrorResponse::new(Some(request.id.clone()), code, message).to_bytes(),
    )
}

pub(super) fn forbidden(request: &Request, name: &str, auth: &AuthInfo, err: ToolError) -> Reply {
    let ToolError::InsufficientScope { required, missing } = err else {
        unreachable!("only scope errors are forbidden")
    };
    tracing::info!(
        method = request.method.as_str(),
        name,
        subject = auth.subject(),
        client_id = auth.client_id(),
        missing = %missing.join(" "),
        "insufficient scope"
    );
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INSUFFICIENT_SCOPE,
        "insufficient scope",
    )
    .with_data(json!({ "requiredScopes": required }))
    .to_bytes();
    Reply::Forbidden {
        required,
        body,
        streamed: None,
    }
}

impl Reply {
    /// A refusal that becomes `streamed` (a response to the same request) if the response
    /// stream has started by the time it is sent.
    pub(super) fn streamed_as(self, streamed: Reply) -> Reply {
        match (self, streamed) {
            (Reply::Forbidden { required, body, .. }, Reply::Json(_, streamed)) => {
                Reply::Forbidden {
                    required,
                    body,
                    streamed: Some(streamed),
                }
            }
            (reply, _) => reply,
        }
    }
}
