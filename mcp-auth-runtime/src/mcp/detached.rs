//! Running a handler that has no channel to the client (a resource read, a prompt): under
//! the call timeout, its errors answered as JSON-RPC errors, a scope refusal as `403`.

use std::future::Future;
use std::sync::Arc;

use http::StatusCode;

use super::Dispatcher;
use super::reply::{Reply, error, forbidden};
use crate::auth::AuthInfo;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::jsonrpc::{Request, code};
use crate::peer::Peer;

impl Dispatcher {
    /// The context of a handler without a channel to the client: no progress, logs or
    /// requests for input.
    pub(super) fn detached_context(&self, auth: &Arc<AuthInfo>) -> CallContext {
        CallContext::new(
            auth.clone(),
            self.state.clone(),
            self.scopes.clone(),
            Arc::new(Peer::detached()),
            None,
        )
    }

    /// Runs `handler` (of the resource or prompt `name`) to its value, or the reply that
    /// answers its failure; `not_found` answers `ToolError::NotFound`.
    pub(super) async fn run_detached<T>(
        &self,
        request: &Request,
        name: &str,
        auth: &AuthInfo,
        handler: impl Future<Output = Result<T, ToolError>>,
        not_found: impl FnOnce() -> Reply,
    ) -> Result<T, Reply> {
        let outcome = match tokio::time::timeout(self.call_timeout, handler).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                tracing::warn!(name, timeout = ?self.call_timeout, "handler timed out");
                return Err(error(
                    request,
                    StatusCode::OK,
                    code::INTERNAL_ERROR,
                    "the request did not finish in time",
                ));
            }
        };
        outcome.map_err(|err| match err {
            err @ ToolError::InsufficientScope { .. } => forbidden(request, name, auth, err),
            ToolError::NotFound => not_found(),
            ToolError::InvalidArguments(message) => {
                error(request, StatusCode::OK, code::INVALID_PARAMS, message)
            }
            ToolError::Internal(cause) => {
                tracing::error!(name, error = %cause, "handler failed");
                error(
                    request,
                    StatusCode::OK,
                    code::INTERNAL_ERROR,
                    "internal error",
                )
            }
            err => error(
                request,
                StatusCode::OK,
                code::INTERNAL_ERROR,
                err.to_string(),
            ),
        })
    }
}
