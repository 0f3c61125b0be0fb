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

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth::{Readiness, SharedVerifier, TokenVerifier as _};
use crate::session::SessionStore;

/// The path of the liveness probe.
pub const LIVENESS_PATH: &str = "/healthz";
/// The path of the readiness probe.
pub const READINESS_PATH: &str = "/readyz";

/// What readiness checks: the token verifier (none without authentication) and the session
/// store (none when stateless).
pub(crate) struct Probes {
    pub(crate) verifier: Option<SharedVerifier>,
    pub(crate) sessions: Option<Arc<SessionStore>>,
}

/// Both probes' routes, with their paths.
pub(crate) fn routes(probes: Probes) -> [(&'static str, MethodRouter); 2] {
    [
        (LIVENESS_PATH, get(live)),
        (READINESS_PATH, get(ready).with_state(Arc::new(probes))),
    ]
}

async fn live() -> Response {
    no_store((StatusCode::OK, "ok\n").into_response())
}

async fn ready(State(probes): State<Arc<Probes>>) -> Response {
    let sessions = async {
        match &probes.sessions {
            Some(store) => Some(store.ready().await),
            None => None,
        }
    };
    let verifier = async {
        match &probes.verifier {
            Some(verifier) => verifier.ready().await,
            None => Readiness::Ready,
        }
    };
    let (verifier, sessions) = tokio::join!(verifier, sessions);
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
