//! The payments API: the downstream service `refund_invoice` records refunds at. Not MCP: a
//! plain JSON API behind this crate's [`BearerAuthLayer`] and [`RequireScopes`], with its own
//! audience (`http://HOST:PORT/payments`) and scope ([`SCOPE`]).
//!
//! It stands for an internal API an MCP server wraps. It never sees the user's MCP token:
//! billing exchanges that token at the authorization server (RFC 8693) for one whose `aud` is
//! the payments API and whose `act` claim names billing's client, and the payments API refuses
//! any token of another audience, the user's MCP token included. Each refund is stored with
//! the user (`sub`), the tenant and the acting client (`act.sub`, RFC 8693 §4.1).
//!
//! `billing serve` mounts it under [`PATH`] in its own process; `billing payments` serves it
//! alone, as a second process (see the README).
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /payments/refunds`, `Idempotency-Key` header, JSON [`RefundRequest`] | `201` and the [`PaymentRefund`]; `200` and the same one for a repeated key with the same request; `422` for a repeated key with another request |
//! | no token, a token of another audience or issuer, an expired one | `401` with the challenge |
//! | a token without `payments:write` | `403 insufficient_scope` |

mod client;
mod ledger;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{HeaderMap, StatusCode};
use mcp_auth_runtime::auth::{AuthInfo, BearerAuthLayer, Challenge, JwtVerifier, RequireScopes};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub(crate) use client::PaymentsClient;
pub(crate) use ledger::PaymentsLedger;

/// The route prefix of the payments API, and the path of its default audience.
pub(crate) const PATH: &str = "/payments";

/// The scope a refund needs.
pub(crate) const SCOPE: &str = "payments:write";

/// The database file of the payments API in the data directory.
pub(crate) const DB_FILE: &str = "payments.db";

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 128;

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundRequest {
    /// The invoice refunded, e.g. `INV-2042`.
    pub(crate) invoice_id: String,
    /// The amount, in cents, greater than 0.
    pub(crate) amount_cents: i64,
    /// Why, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// A refund the payments API made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentRefund {
    /// Its id, e.g. `PAY-1`.
    pub(crate) id: String,
    /// The tenant of the token that asked for it.
    pub(crate) tenant: String,
    /// The invoice refunded.
    pub(crate) invoice_id: String,
    /// The amount, in cents.
    pub(crate) amount_cents: i64,
    /// Why, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The user on whose behalf it was made: the token's `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
    /// The token's `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    /// The client that made the call for the user: the token's `act.sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) acting_client: Option<String>,
    /// When (RFC 3339, UTC).
    pub(crate) created_at: String,
}

/// Where the payments API is and whose tokens it takes.
pub(crate) struct PaymentsConfig {
    /// The audience its tokens must name, e.g. `http://127.0.0.1:8000/payments`.
    pub(crate) audience: String,
    /// The verifier of those tokens: the issuer's keys, this audience.
    pub(crate) verifier: JwtVerifier,
    /// The issuer, for the protected-resource metadata.
    pub(crate) issuer: String,
}

/// The payments API's routes: `POST /payments/refunds` behind the bearer layer, and its
/// protected-resource metadata (RFC 9728) when its audience is its own URL.
pub(crate) fn router(config: PaymentsConfig, ledger: PaymentsLedger) -> Router {
    let metadata = metadata_url(&config.audience);
    let mut challenge = Challenge::new("payments");
    if let Some((url, _)) = &metadata {
        challenge = challenge.resource_metadata(url.clone());
    }
    let api = Router::new()
        .route(&format!("{PATH}/refunds"), post(refund))
        .with_state(Arc::new(ledger))
        // The bearer layer runs first: it is added last.
        .layer(RequireScopes::new(challenge.clone(), [SCOPE]))
        .layer(BearerAuthLayer::new(config.verifier, challenge));
    match metadata {
        Some((_, path)) => {
            let document = json!({
                "resource": config.audience,
                "authorization_servers": [config.issuer],
                "scopes_supported": [SCOPE],
                "bearer_methods_supported": ["header"],
            });
            api.route(&path, get(move || async move { Json(document) }))
        }
        None => api,
    }
}

/// The metadata URL and its path, when `audience` is an `http(s)` URL ending in [`PATH`]:
/// `http://h:p/.well-known/oauth-protected-resource/payments` (RFC 9728 §3.1).
fn metadata_url(audience: &str) -> Option<(String, String)> {
    let (scheme, rest) = audience.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let slash = rest.find('/')?;
    let (authority, path) = rest.split_at(slash);
    (path == PATH).then(|| {
        let path = format!("/.well-known/oauth-protected-resource{PATH}");
        (format!("{scheme}://{authority}{path}"), path)
    })
}

/// `POST /payments/refunds`.
async fn refund(
    State(ledger): State<Arc<PaymentsLedger>>,
    Extension(auth): Extension<Arc<AuthInfo>>,
    headers: HeaderMap,
    body: Result<Json<RefundRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return problem(rejection.status(), &rejection.body_text()),
    };
    let key = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => key.to_owned(),
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("an Idempotency-Key header of 1 to {MAX_KEY_LEN} characters is required"),
            );
        }
    };
    if let Err(why) = request.validate() {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &why);
    }
    let Some(tenant) = auth.tenant().map(str::to_owned) else {
        return problem(StatusCode::FORBIDDEN, "the access token names no tenant");
    };
    let principal = ledger::Principal {
        tenant,
        subject: auth.subject().map(str::to_owned),
        client_id: auth.client_id().map(str::to_owned),
        acting_client: acting_client(&auth),
    };
    match ledger.refund(principal, key, request).await {
        Ok(ledger::Recorded::New(refund)) => (StatusCode::CREATED, Json(refund)).into_response(),
        Ok(ledger::Recorded::Repeated(refund)) => (StatusCode::OK, Json(refund)).into_response(),
        Ok(ledger::Recorded::KeyReused) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was used for another refund",
        ),
        Err(err) => {
            tracing::error!(target: "payments", error = %err, "cannot record a refund");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the refund could not be recorded",
            )
        }
    }
}

/// The client acting for the subject: `act.sub` of an exchanged token (RFC 8693 §4.1), the
/// outermost actor being the current one.
fn acting_client(auth: &AuthInfo) -> Option<String> {
    auth.claims()
        .get("act")?
        .get("sub")?
        .as_str()
        .map(str::to_owned)
}

impl RefundRequest {
    fn validate(&self) -> Result<(), String> {
        if self.invoice_id.trim().is_empty() || self.invoice_id.len() > 64 {
            return Err("invoice_id must be 1 to 64 characters".into());
        }
        if self.amount_cents <= 0 {
            return Err("amount_cents must be greater than 0".into());
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 500)
        {
            return Err("reason must be at most 500 characters".into());
        }
        Ok(())
    }
}

/// A JSON error answer: `{"error": message}`.
fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_is_served_for_url_audiences_on_the_payments_path() {
        assert_eq!(
            super::metadata_url("http://127.0.0.1:8000/payments"),
            Some((
                "http://127.0.0.1:8000/.well-known/oauth-protected-resource/payments".into(),
                "/.well-known/oauth-protected-resource/payments".into()
            ))
        );
        for other in [
            "payments-api",
            "urn:x:payments",
            "http://h/other",
            "http://h",
        ] {
            assert_eq!(super::metadata_url(other), None, "{other}");
        }
    }
}
