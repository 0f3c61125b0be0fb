//! The audit trail: one row in the `audit` table and one `tracing` event (target `audit`) per
//! tool call, whatever its outcome. Entries name the caller (subject, client id, tenant), the
//! tool, the outcome and the invoice; never the token.
//!
//! Two writers cover every call:
//!
//! - [`Store::run`](crate::store::Store::run), the only way tools reach the data, records
//!   every call that reaches a tool's body, in the transaction of its change;
//! - [`refusals`], a middleware on the MCP endpoint, records the calls the framework answers
//!   before the body runs: `403 insufficient_scope`, and arguments that do not deserialize.
//!   It recognises the second by the `invalid arguments:` prefix that
//!   [`ToolError::InvalidArguments`](mcp_auth_runtime::ToolError::InvalidArguments) gives its
//!   message, so the tools report their own validation errors with `ToolError::new` instead.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use mcp_auth_runtime::{AuthInfo, DEFAULT_BODY_LIMIT, TokenVerifier};
use rusqlite::Connection;
use serde_json::Value;

use crate::store::{NOW, Store};
use crate::verifier::Verifier;

/// Who made a call, as the audit trail records it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) tenant: Option<String>,
}

impl Caller {
    pub(crate) fn of(auth: &AuthInfo) -> Caller {
        Caller {
            subject: auth.subject().map(str::to_owned),
            client_id: auth.client_id().map(str::to_owned),
            tenant: auth.tenant().map(str::to_owned),
        }
    }

    /// The name recorded as the author of a change: the subject, else the client.
    pub(crate) fn actor(&self) -> &str {
        self.subject
            .as_deref()
            .or(self.client_id.as_deref())
            .unwrap_or("unknown")
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The tool ran and succeeded.
    Ok,
    /// The tool ran and failed, or refused a caller without tenant.
    Error,
    /// The server refused the call: the token lacks a scope the tool requires.
    InsufficientScope,
    /// The server refused the call: the arguments do not match the tool's input schema.
    InvalidArguments,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::InvalidArguments => "invalid_arguments",
        }
    }
}

/// One audit entry, before it gets its time.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) caller: &'a Caller,
    pub(crate) tool: &'a str,
    pub(crate) outcome: Outcome,
    pub(crate) invoice: Option<&'a str>,
    pub(crate) detail: Option<String>,
}

/// Writes `entry` and returns its time. On a transaction, the entry commits with it.
pub(crate) fn insert(conn: &Connection, entry: &Entry<'_>) -> rusqlite::Result<String> {
    conn.prepare_cached(&format!(
        "INSERT INTO audit (at, subject, client_id, tenant, tool, outcome, invoice_id, detail)
         VALUES ({NOW}, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
         RETURNING at"
    ))?
    .query_row(
        rusqlite::params![
            entry.caller.subject,
            entry.caller.client_id,
            entry.caller.tenant,
            entry.tool,
            entry.outcome.as_str(),
            entry.invoice,
            entry.detail,
        ],
        |row| row.get(0),
    )
}

/// Emits the `tracing` event of a written entry.
pub(crate) fn emit(entry: &Entry<'_>, at: &str) {
    tracing::info!(
        target: "audit",
        at,
        subject = entry.caller.subject.as_deref(),
        client_id = entry.caller.client_id.as_deref(),
        tenant = entry.caller.tenant.as_deref(),
        tool = entry.tool,
        outcome = entry.outcome.as_str(),
        invoice = entry.invoice,
        detail = entry.detail.as_deref(),
        "tool call",
    );
}

/// Writes and emits `entry`; a failure to write is logged, and the event emitted all the
/// same so that the call leaves a trace.
pub(crate) fn record(conn: &Connection, entry: &Entry<'_>) {
    match insert(conn, entry) {
        Ok(at) => emit(entry, &at),
        Err(err) => {
            tracing::error!(error = %err, "cannot write the audit trail");
            emit(entry, "unknown");
        }
    }
}

/// What [`refusals`] needs: the store, the verifier (to name the caller of a refused call) and
/// the MCP endpoint's path.
#[derive(Clone)]
pub(crate) struct Refusals {
    pub(crate) store: Store,
    pub(crate) verifier: Verifier,
    pub(crate) path: String,
}

/// Records the `tools/call` requests the framework refuses before a tool's body runs.
///
/// The bearer layer sits inside the MCP router, so the caller's identity does not reach this
/// outer middleware: a refused call's token is verified again, which for a verified token
/// cannot fail but at the instant it expires.
pub(crate) async fn refusals(
    State(state): State<Refusals>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let is_mcp = request.method() == Method::POST && request.uri().path() == state.path;
    // Without a token the bearer layer answers `401` and no tool is called: nothing to read.
    let Some(token) = token.filter(|_| is_mcp) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, DEFAULT_BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let call = ToolCall::parse(&body);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let Some(call) = call else {
        return response;
    };

    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if response.status() == StatusCode::FORBIDDEN && challenge.contains("insufficient_scope") {
        let detail = required_scope(challenge)
            .map(|scope| format!("insufficient scope: the tool requires `{scope}`"));
        state
            .audit(&token, call, Outcome::InsufficientScope, detail)
            .await;
        return response;
    }

    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "cannot read a tool result");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if let Some(message) = invalid_arguments(&body) {
        state
            .audit(&token, call, Outcome::InvalidArguments, Some(message))
            .await;
    }
    Response::from_parts(parts, Body::from(body))
}

impl Refusals {
    async fn audit(&self, token: &str, call: ToolCall, outcome: Outcome, detail: Option<String>) {
        let caller = match self.verifier.verify(token).await {
            Ok(auth) => Caller::of(&auth),
            Err(_) => Caller::default(),
        };
        self.store
            .record(caller, call.tool, outcome, call.invoice, detail)
            .await;
    }
}

/// The tool and invoice of a `tools/call` request.
#[derive(Debug)]
struct ToolCall {
    tool: String,
    invoice: Option<String>,
}

impl ToolCall {
    fn parse(body: &Bytes) -> Option<ToolCall> {
        let message: Value = serde_json::from_slice(body).ok()?;
        if message.get("method")? != "tools/call" {
            return None;
        }
        let params = message.get("params")?;
        Some(ToolCall {
            tool: params.get("name")?.as_str()?.to_owned(),
            invoice: params
                .pointer("/arguments/invoice_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// The `scope` parameter of an RFC 6750 challenge.
fn required_scope(challenge: &str) -> Option<&str> {
    let start = challenge.find(" scope=\"")? + " scope=\"".len();
    let rest = &challenge[start..];
    Some(&rest[..rest.find('"')?])
}

/// The message of a tool result the framework produced for arguments that do not
/// deserialize.
fn invalid_arguments(body: &[u8]) -> Option<String> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let result = message.get("result")?;
    if result.get("isError") != Some(&Value::Bool(true)) {
        return None;
    }
    let text = result.pointer("/content/0/text")?.as_str()?;
    text.starts_with("invalid arguments:")
        .then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_required_scope_is_read_from_the_challenge() {
        let challenge = r#"Bearer realm="billing", error="insufficient_scope", scope="invoices:write payments:write", resource_metadata="http://x""#;
        assert_eq!(
            required_scope(challenge),
            Some("invoices:write payments:write")
        );
        assert_eq!(required_scope(r#"Bearer error="insufficient_scope""#), None);
    }

    #[test]
    fn only_framework_argument_errors_count_as_invalid_arguments() {
        let result = |error: bool, text: &str| {
            serde_json::to_vec(&serde_json::json!({
                "jsonrpc": "2.0", "id": 1,
                "result": { "isError": error, "content": [{ "type": "text", "text": text }] },
            }))
            .unwrap()
        };
        assert!(invalid_arguments(&result(true, "invalid arguments: `limit`: bad")).is_some());
        assert!(invalid_arguments(&result(true, "invoice INV-1 not found")).is_none());
        assert!(invalid_arguments(&result(false, "invalid arguments: no")).is_none());
    }
}
