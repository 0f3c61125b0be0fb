//! The caller's request budget on the MCP endpoint, inside authentication.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Endpoint;
use crate::auth::AuthInfo;
use crate::mcp::CallOutcome;
use crate::observe::{Early, RefusalReason};
use crate::rate_limit::rate_limited;

/// The request budget of an [`McpServer`](crate::McpServer)'s endpoint: the check of
/// [`RateLimitLayer`], and a `tools/call` it refuses is reported to the
/// [`on_call`](crate::McpServerBuilder::on_call) hook as
/// [`CallOutcome::RateLimited`](CallOutcome::RateLimited), like a call refused by a
/// tool's own budget: an audit trail sees every refused call.
pub(crate) async fn request_budget(
    State(endpoint): State<Arc<Endpoint>>,
    request: Request,
    next: Next,
) -> Response {
    let dispatcher = &endpoint.mcp;
    let caller = request.extensions().get::<Arc<AuthInfo>>().cloned();
    let (Some(limits), Some(auth)) = (&dispatcher.rate_limits, caller) else {
        return next.run(request).await;
    };
    let Err(limited) = limits.check_request(&auth.principal().key()).await else {
        return next.run(request).await;
    };
    tracing::info!(
        subject = auth.subject(),
        client_id = auth.client_id(),
        "rate limit reached"
    );
    if dispatcher.hub.is_on() {
        dispatcher.hub.early(Early {
            reason: RefusalReason::RateLimited,
            peer: super::peer_of(&request),
            caller: Some(&auth),
            trace_id: crate::observe::trace_id(),
        });
    }
    if dispatcher.observer.is_some() {
        // Only a refused request, and only with a hook, pays for reading its body here.
        if let Ok(body) = axum::body::to_bytes(request.into_body(), endpoint.body_limit).await {
            dispatcher.report_refused(&body, &auth, CallOutcome::RateLimited);
        }
    }
    rate_limited(limited.retry_after)
}
