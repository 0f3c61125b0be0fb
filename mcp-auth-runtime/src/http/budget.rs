//! The caller's request budget on the MCP endpoint, inside authentication.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Endpoint;
use crate::auth::AuthInfo;
use crate::observe::{Early, RefusalReason};
use crate::rate_limit::rate_limited;

/// The request budget of an [`McpServer`](crate::McpServer)'s endpoint: the check of
/// [`RateLimitLayer`], and a `tools/call` it refuses is reported to the
/// [`on_call`](crate::McpServerBuilder::on_call) hook as
/// [`CallOutcome::RateLimited`](crate::mcp::CallOutcome::RateLimited), like a call refused
/// by a tool's own budget, and to the audit sink naming the call: an audit trail sees every
/// refused call.
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
    let Err(limited) = limits.check_request(auth.principal_key()).await else {
        return next.run(request).await;
    };
    tracing::info!(
        subject = auth.subject(),
        client_id = auth.client_id(),
        "rate limit reached"
    );
    crate::observe::trace::http::refused(RefusalReason::RateLimited);
    let early = Early {
        reason: RefusalReason::RateLimited,
        peer: super::peer_of(&request),
        caller: Some(&auth),
        trace_id: crate::observe::trace_id(),
    };
    if dispatcher.observer.is_some() || dispatcher.hub.audit.is_some() {
        // Only a refused request, and only with a hook or an audit sink, pays for reading its
        // body here: the trail names the call the budget refused.
        let body = axum::body::to_bytes(request.into_body(), endpoint.body_limit)
            .await
            .ok();
        dispatcher.report_budget_refusal(body.as_deref(), early, &auth);
    } else if dispatcher.hub.is_on() {
        dispatcher.hub.early(early);
    }
    rate_limited(limited.retry_after)
}
