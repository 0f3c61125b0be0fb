//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators.
//!
//! - `/healthz` (liveness) answers `200 ok` as long as the process serves HTTP; it checks
//!   nothing else, so that a slow dependency never gets a healthy process restarted.
//! - `/readyz` (readiness) answers `200` when this replica can serve requests: its token
//!   verifier can check tokens and its session store (Redis, when sessions are shared) answers;
//!   otherwise `503`, so that the load balancer sends traffic elsewhere. The body names each
//!   check's state, never why (reasons go to the log: they may describe internal hosts).
//!
//! Both are outside the MCP endpoint's Host/Origin checks and authentication: probes come from
//! the orchestrator, addressed by IP.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth::Readiness;
use crate::server::McpServer;

/// The path of the liveness probe.
pub const LIVENESS_PATH: &str = "/healthz";
/// The path of the readiness probe.
pub const READINESS_PATH: &str = "/readyz";

pub(crate) async fn live() -> Response {
    no_store((StatusCode::OK, "ok\n").into_response())
}

pub(crate) async fn ready(State(server): State<McpServer>) -> Response {
    let sessions = async {
        match &server.dispatcher().sessions {
            Some(store) => Some(store.ready().await),
            None => None,
        }
    };
    let (verifier, sessions) = tokio::join!(server.verifier_readiness(), sessions);
    let verifier = match verifier {
        Readiness::Ready => "ready",
        Readiness::Degraded(reason) => {
            tracing::warn!(%reason, "readiness: tokens are checked with cached keys only");
            "degraded"
        }
        Readiness::Unavailable(reason) => {
            tracing::warn!(%reason, "readiness: tokens cannot be checked");
            "unavailable"
        }
    };
    let sessions = match sessions {
        None => "stateless",
        Some(Ok(())) => "ready",
        Some(Err(reason)) => {
            tracing::warn!(%reason, "readiness: the session store is unavailable");
            "unavailable"
        }
    };
    let ready = verifier != "unavailable" && sessions != "unavailable";
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "token_verifier": verifier, "sessions": sessions },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store((status, axum::Json(body)).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
