//! The audit trail: one row in the `audit` table and one `tracing` event (target `audit`) per
//! tool call, resource read and prompt get, whatever its outcome. Entries name the caller (subject, client
//! id, tenant; the API key's id for a call made with one, and the client acting for the
//! subject for a token with an `act` claim), what was called (its kind and name), the outcome and the invoice; never the
//! token.
//!
//! Two writers cover every call:
//!
//! - [`Store::run`](crate::store::Store::run), the only way tools reach the data, records
//!   every call that reaches a tool's body, in the transaction of its change;
//! - [`refusals`], the server's `on_call` hook, records the calls the framework refuses before
//!   the body runs: `403 insufficient_scope`, `429` (the caller's request budget or the
//!   tool's), arguments that do not deserialize, and 2026-07-28 retries whose `requestState`
//!   or answers were refused. The framework reports these whatever the client accepts and in
//!   both protocol eras, with the verified caller.

use std::borrow::Cow;
use std::collections::HashMap;

use mcp_auth_runtime::auth::AuthInfo;
use mcp_auth_runtime::{CallEvent, CallKind, CallOutcome, PromptDef, ResourceDef, ToolDef};
use rusqlite::Connection;
use serde_json::Value;

use crate::store::{NOW, Store};

/// Who made a call, as the audit trail records it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) tenant: Option<String>,
    /// The id of the API key the call was made with.
    pub(crate) api_key_id: Option<String>,
    /// The client acting for the subject: `act.sub` (RFC 8693 §4.1).
    pub(crate) acting_client: Option<String>,
}

impl Caller {
    pub(crate) fn of(auth: &AuthInfo) -> Caller {
        let claim = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let claims = auth.claims();
        Caller {
            subject: auth.subject().map(str::to_owned),
            client_id: auth.client_id().map(str::to_owned),
            tenant: auth.tenant().map(str::to_owned),
            api_key_id: api_key_id(auth).map(str::to_owned),
            acting_client: claim(claims.get("act").and_then(|act| act.get("sub"))),
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

/// The id of the API key `auth` comes from, if it does: the API-key verifier names it in the
/// `api_key_id` claim, and sets no issuer (a token always has one).
pub(crate) fn api_key_id(auth: &AuthInfo) -> Option<&str> {
    if auth.issuer().is_some() {
        return None;
    }
    auth.claims().get("api_key_id").and_then(Value::as_str)
}

/// What a call reached, as the `kind` and `tool` columns record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Called {
    pub(crate) kind: Kind,
    /// The tool's or the resource's name.
    pub(crate) name: &'static str,
}

impl Called {
    /// A call of the tool `name`.
    pub(crate) const fn tool(name: &'static str) -> Called {
        Called {
            kind: Kind::Tool,
            name,
        }
    }

    /// A read of the resource `name`.
    pub(crate) const fn resource(name: &'static str) -> Called {
        Called {
            kind: Kind::Resource,
            name,
        }
    }

    /// A get of the prompt `name`.
    pub(crate) const fn prompt(name: &'static str) -> Called {
        Called {
            kind: Kind::Prompt,
            name,
        }
    }
}

impl From<&'static str> for Called {
    /// A tool's name: what most calls reach.
    fn from(tool: &'static str) -> Called {
        Called::tool(tool)
    }
}

/// Which of the server's primitives a call reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A `tools/call`.
    Tool,
    /// A `resources/read`.
    Resource,
    /// A `prompts/get`.
    Prompt,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        }
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
    /// The server refused the call: the caller is over its rate limit.
    RateLimited,
    /// The server refused a 2026-07-28 retry: its `requestState` was forged, altered, sealed
    /// for another call, expired or already used, or an answer was malformed.
    InvalidRequestState,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::InvalidArguments => "invalid_arguments",
            Outcome::RateLimited => "rate_limited",
            Outcome::InvalidRequestState => "invalid_request_state",
        }
    }
}

/// One audit entry, before it gets its time.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) caller: &'a Caller,
    pub(crate) called: Called,
    pub(crate) outcome: Outcome,
    pub(crate) invoice: Option<&'a str>,
    pub(crate) detail: Option<String>,
}

/// A call the store records outside a tool's own transaction: one refused before the tool's
/// body ran, a refund its caller did not confirm, or a body that panicked.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) caller: Caller,
    pub(crate) called: Called,
    pub(crate) outcome: Outcome,
    pub(crate) invoice: Option<String>,
    pub(crate) detail: Option<String>,
}

/// The longest invoice id a row keeps: callers choose it, whether or not their call is
/// allowed (a caller with `invoices:read` may name any id), so no call can make its row or
/// log line large.
pub(crate) const MAX_RECORDED_ID: usize = 64;

/// The longest detail a row keeps: an error's message may quote the caller's id or input.
const MAX_RECORDED_DETAIL: usize = 512;

/// `text` cut to at most `max` bytes, on a character boundary, with `…` when cut.
pub(crate) fn truncated(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

impl Entry<'_> {
    /// The invoice id as recorded.
    fn recorded_invoice(&self) -> Option<Cow<'_, str>> {
        self.invoice.map(|id| truncated(id, MAX_RECORDED_ID))
    }

    /// The detail as recorded.
    fn recorded_detail(&self) -> Option<Cow<'_, str>> {
        self.detail
            .as_deref()
            .map(|detail| truncated(detail, MAX_RECORDED_DETAIL))
    }
}

/// Writes `entry` and returns its time. On a transaction, the entry commits with it.
pub(crate) fn insert(conn: &Connection, entry: &Entry<'_>) -> rusqlite::Result<String> {
    conn.prepare_cached(&format!(
        "INSERT INTO audit (at, subject, client_id, tenant, kind, tool, outcome, invoice_id,
                            detail, api_key_id, acting_client)
         VALUES ({NOW}, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         RETURNING at"
    ))?
    .query_row(
        rusqlite::params![
            entry.caller.subject,
            entry.caller.client_id,
            entry.caller.tenant,
            entry.called.kind.as_str(),
            entry.called.name,
            entry.outcome.as_str(),
            entry.recorded_invoice(),
            entry.recorded_detail(),
            entry.caller.api_key_id,
            entry.caller.acting_client,
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
        api_key_id = entry.caller.api_key_id.as_deref(),
        acting_client = entry.caller.acting_client.as_deref(),
        kind = entry.called.kind.as_str(),
        tool = entry.called.name,
        outcome = entry.outcome.as_str(),
        invoice = entry.recorded_invoice().as_deref(),
        detail = entry.recorded_detail().as_deref(),
        "call",
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

/// The `on_call` hook that records the calls and reads refused before a function's body ran;
/// `tools` and `resources` are the server's, for the scopes a refusal names. Calls whose body
/// ran are left to [`Store::run`], which records them with what they changed.
pub(crate) fn refusals(
    store: Store,
    tools: &[ToolDef],
    resources: &[ResourceDef],
    prompts: &[PromptDef],
) -> impl Fn(&CallEvent<'_>) + Send + Sync + 'static {
    // What a refusal says each requires: its scopes, and those some calls require besides.
    let requires = |scopes: &[&str], conditional: &[&str]| {
        let mut text = format!("`{}`", scopes.join(" "));
        if !conditional.is_empty() {
            text.push_str(&format!(", and `{}` for some calls", conditional.join(" ")));
        }
        text
    };
    let scopes: HashMap<Called, String> = tools
        .iter()
        .map(|t| {
            (
                Called::tool(t.name()),
                requires(t.scopes(), t.conditional_scopes()),
            )
        })
        .chain(resources.iter().map(|r| {
            let text = requires(r.scopes(), r.conditional_scopes());
            (Called::resource(r.name()), text)
        }))
        .chain(prompts.iter().map(|p| {
            let text = requires(p.scopes(), p.conditional_scopes());
            (Called::prompt(p.name()), text)
        }))
        .collect();
    move |event| {
        let called = match event.kind {
            CallKind::Tool => Called::tool(event.name),
            CallKind::ResourceRead => Called::resource(event.name),
            CallKind::PromptGet => Called::prompt(event.name),
            _ => return,
        };
        let what = called.kind.as_str();
        let (outcome, detail) = match event.outcome {
            CallOutcome::Forbidden => (
                Outcome::InsufficientScope,
                format!(
                    "insufficient scope: the {what} requires {}",
                    scopes.get(&called).map_or("", String::as_str)
                ),
            ),
            CallOutcome::RateLimited => (Outcome::RateLimited, "rate limit exceeded".to_owned()),
            CallOutcome::InvalidArguments => (
                Outcome::InvalidArguments,
                format!("invalid arguments: they do not match the {what}'s arguments"),
            ),
            CallOutcome::InvalidRequestState => (
                Outcome::InvalidRequestState,
                "the retry's requestState or inputResponses were refused".to_owned(),
            ),
            _ => return,
        };
        let invoice = match called.kind {
            Kind::Tool | Kind::Prompt => event
                .arguments
                .and_then(|arguments| arguments.get("invoice_id"))
                .and_then(Value::as_str),
            Kind::Resource => event.uri.and_then(|uri| uri.strip_prefix("invoice://")),
        };
        store.record_soon(Refusal {
            caller: Caller::of(event.auth),
            called,
            outcome,
            invoice: invoice.map(str::to_owned),
            detail: Some(detail),
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(super::truncated("INV-1", 64), "INV-1");
        assert_eq!(super::truncated("abcdef", 3), "abc…");
        // `é` is two bytes: the cut falls before it, not inside it.
        assert_eq!(super::truncated("abé", 3), "ab…");
    }
}
