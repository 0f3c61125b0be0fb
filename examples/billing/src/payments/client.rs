//! Billing's side of the payments API: a refund, sent with a token exchanged for the payments
//! audience (never the caller's own token), under an idempotency key.

use std::time::Duration;

use mcp_auth_runtime::ToolError;
use mcp_auth_runtime::downstream::{Downstream, DownstreamToken};

use super::{PaymentRefund, RefundRequest, SCOPE};

/// The time allowed for one request to the payments API.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from the payments API.
const MAX_ANSWER: usize = 64 * 1024;

/// Where billing records refunds: the payments API's URL and the audience of its tokens.
#[derive(Clone)]
pub(crate) struct PaymentsClient {
    refunds: String,
    downstream: Downstream,
    http: reqwest::Client,
}

/// Why a refund was not made at the payments API. Its message is what the model reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PaymentError {
    /// The payments API refused the request (its status and message).
    #[error("the payments API refused the refund ({status}): {message}")]
    Refused {
        status: reqwest::StatusCode,
        message: String,
    },
    /// It could not be reached, or answered something else than a refund.
    #[error("the payments API is unavailable: {0}")]
    Unavailable(String),
}

impl From<PaymentError> for ToolError {
    fn from(err: PaymentError) -> Self {
        ToolError::new(format!("{err}; nothing was refunded"))
    }
}

impl PaymentsClient {
    /// The payments API at `url` (e.g. `http://127.0.0.1:8000/payments`), whose tokens name
    /// `audience`: as `resource` (RFC 8707) when it is a URI, else as `audience` (RFC 8693).
    pub(crate) fn new(url: &str, audience: &str) -> anyhow::Result<PaymentsClient> {
        let target = if audience.contains("://") {
            Downstream::resource(audience)
        } else {
            Downstream::audience(audience)
        };
        let http = reqwest::Client::builder()
            // A redirect would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()?;
        Ok(PaymentsClient {
            refunds: format!("{}/refunds", url.trim_end_matches('/')),
            downstream: target.scopes([SCOPE]),
            http,
        })
    }

    /// What a refund's token is asked for: the payments audience, `payments:write`.
    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Asks the payments API for `request` with `token`, under `key`: a retry with the same
    /// key makes no second refund. One retry on a connection failure, with the same key.
    pub(crate) async fn refund(
        &self,
        token: &DownstreamToken,
        key: &str,
        request: &RefundRequest,
    ) -> Result<PaymentRefund, PaymentError> {
        let send = || {
            self.http
                .post(&self.refunds)
                .header(http::header::AUTHORIZATION, token.authorization())
                .header("idempotency-key", key)
                .json(request)
                .send()
        };
        let response = match send().await {
            Err(err) if err.is_connect() => send().await,
            sent => sent,
        }
        .map_err(|err| PaymentError::Unavailable(err.without_url().to_string()))?;
        let status = response.status();
        let body = read_capped(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| {
                PaymentError::Unavailable(format!("an answer that is not a refund: {err}"))
            });
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "no reason given".to_owned());
        if status.is_server_error() {
            return Err(PaymentError::Unavailable(format!("{status}: {message}")));
        }
        Err(PaymentError::Refused { status, message })
    }
}

/// The body of `response`, refused beyond [`MAX_ANSWER`] bytes.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, PaymentError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| PaymentError::Unavailable(err.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(PaymentError::Unavailable("an answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
