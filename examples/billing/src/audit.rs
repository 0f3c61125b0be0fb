//! The audit trail: one row in the `audit` table and one `tracing` event (target `audit`) per
//! tool call, resource read and prompt get, whatever its outcome, and per request refused,
//! whatever it asked. Entries name the caller (subject, client id, tenant; the API key's id
//! for a call made with one, and the client acting for the subject for a token with an `act`
//! claim), what was called (its kind and name), the outcome (with the reason of a refusal)
//! and the invoice, and for refusals the request's identifiers; never the token.
//!
//! Two writers cover every call:
//!
//! - [`Store::run`](crate::store::Store::run), the only way tools reach the data, records
//!   every call that reaches a tool's body, in the transaction of its change: a change is
//!   never committed without its entry, and the entry names the invoice the body touched
//!   (one it created, too) and why the body failed, which the framework cannot know;
//! - [`SqliteSink`], the server's [`AuditSink`], records the requests the framework refuses
//!   before any function of billing runs: `401`s (no token, an invalid one, with the reason
//!   and no caller), `403 insufficient_scope`, `429` (the caller's request budget or the
//!   tool's), the `Host`/`Origin` guard's refusals, arguments that do not deserialize, and
//!   2026-07-28 retries whose `requestState` or answers were refused. The framework reports
//!   these whatever the client accepts and in both protocol eras, with the verified caller
//!   when there is one. The other events (requests served, or failed in a body `Store::run`
//!   recorded) it leaves to the store, so that each call has exactly one row. Refusals
//!   without a caller, which anyone can cause, get rows up to a budget per peer and minute
//!   ([`crate::anonymous`]), so that a flood of `401`s cannot fill the database.

use std::borrow::Cow;

use mcp_auth_runtime::auth::AuthInfo;
use mcp_auth_runtime::observe::RefusalReason;
use mcp_auth_runtime::observe::audit::{AuditEvent, AuditOutcome, AuditSink, Principal};
use mcp_auth_runtime::{PromptDef, ResourceDef, ToolDef};
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

    /// The caller of an audit event.
    fn from_principal(principal: &Principal) -> Caller {
        Caller {
            subject: principal.subject.clone(),
            client_id: principal.client_id.clone(),
            tenant: principal.tenant.clone(),
            api_key_id: principal.api_key_id.clone(),
            acting_client: principal.acting_client.clone(),
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

    /// The JSON-RPC method that reaches this kind of function.
    fn method(self) -> &'static str {
        match self {
            Kind::Tool => "tools/call",
            Kind::Resource => "resources/read",
            Kind::Prompt => "prompts/get",
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
    /// The server refused the request for another reason, before any function ran: no token,
    /// an invalid one, the `Host` or `Origin` guard, ... (the row's `reason` says which).
    Refused,
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
            Outcome::Refused => "refused",
        }
    }
}

/// One audit entry, before it gets its time.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) caller: &'a Caller,
    /// What was called; `None` for a request refused before its body was read.
    pub(crate) called: Option<Called>,
    pub(crate) outcome: Outcome,
    pub(crate) invoice: Option<&'a str>,
    pub(crate) detail: Option<String>,
    /// What the framework told of the request; `None` for the entries of [`Store::run`].
    pub(crate) request: Option<&'a Request>,
}

/// A call the store records outside a tool's own transaction: one refused before the tool's
/// body ran, a refund its caller did not confirm, or a body that panicked.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) caller: Caller,
    pub(crate) called: Option<Called>,
    pub(crate) outcome: Outcome,
    pub(crate) invoice: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) request: Option<Request>,
}

/// What an audit event tells of its request besides the caller and the target, as recorded:
/// what the client chose (the method, the request id, the protocol version) is cut to
/// [`MAX_RECORDED_ID`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) method: Option<String>,
    /// [`RefusalReason::as_str`].
    pub(crate) reason: Option<&'static str>,
    pub(crate) request_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) protocol_version: Option<String>,
    pub(crate) client_address: Option<String>,
    pub(crate) duration_ms: Option<f64>,
}

impl Request {
    fn of(event: &AuditEvent, reason: RefusalReason) -> Request {
        let cut = |text: &Option<String>| {
            text.as_deref()
                .map(|text| truncated(text, MAX_RECORDED_ID).into_owned())
        };
        Request {
            method: cut(&event.method),
            reason: Some(reason.as_str()),
            request_id: cut(&event.request_id),
            trace_id: cut(&event.trace_id),
            session_id: cut(&event.session_id),
            protocol_version: cut(&event.protocol_version),
            client_address: event.client_address.map(|ip| ip.to_string()),
            duration_ms: event.duration_seconds.map(|s| s * 1000.0),
        }
    }
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
    /// The method as recorded: the framework's, else the one that reaches the function.
    fn method(&self) -> Option<&str> {
        self.request
            .and_then(|r| r.method.as_deref())
            .or(self.called.map(|c| c.kind.method()))
    }

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
                            detail, api_key_id, acting_client, method, reason, request_id,
                            trace_id, session_id, protocol_version, client_address, duration_ms)
         VALUES ({NOW}, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18)
         RETURNING at"
    ))?
    .query_row(
        rusqlite::params![
            entry.caller.subject,
            entry.caller.client_id,
            entry.caller.tenant,
            entry.called.map(|c| c.kind.as_str()),
            entry.called.map(|c| c.name),
            entry.outcome.as_str(),
            entry.recorded_invoice(),
            entry.recorded_detail(),
            entry.caller.api_key_id,
            entry.caller.acting_client,
            entry.method(),
            entry.request.and_then(|r| r.reason),
            entry.request.and_then(|r| r.request_id.as_deref()),
            entry.request.and_then(|r| r.trace_id.as_deref()),
            entry.request.and_then(|r| r.session_id.as_deref()),
            entry.request.and_then(|r| r.protocol_version.as_deref()),
            entry.request.and_then(|r| r.client_address.as_deref()),
            entry.request.and_then(|r| r.duration_ms),
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
        kind = entry.called.map(|c| c.kind.as_str()),
        tool = entry.called.map(|c| c.name),
        method = entry.method(),
        outcome = entry.outcome.as_str(),
        reason = entry.request.and_then(|r| r.reason),
        request_id = entry.request.and_then(|r| r.request_id.as_deref()),
        trace_id = entry.request.and_then(|r| r.trace_id.as_deref()),
        client_address = entry.request.and_then(|r| r.client_address.as_deref()),
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

/// The server's audit sink: records the requests refused before any function of billing ran
/// (see the [module docs](self)), on the blocking pool, without holding the request up.
pub(crate) struct SqliteSink {
    store: Store,
    /// Rows for refusals without a caller: bounded, as anyone can cause them.
    anonymous: crate::anonymous::AnonymousRows,
    /// The server's tools, resources and prompts, each with the scopes a refusal names.
    targets: Vec<(Called, String)>,
}

impl SqliteSink {
    /// The sink of `store`; `tools`, `resources` and `prompts` are the server's, for the
    /// scopes a refusal names.
    pub(crate) fn new(
        store: Store,
        tools: &[ToolDef],
        resources: &[ResourceDef],
        prompts: &[PromptDef],
    ) -> SqliteSink {
        // What a refusal says each requires: its scopes, and those some calls require besides.
        let requires = |scopes: &[&str], conditional: &[&str]| {
            let mut text = format!("`{}`", scopes.join(" "));
            if !conditional.is_empty() {
                text.push_str(&format!(", and `{}` for some calls", conditional.join(" ")));
            }
            text
        };
        let targets = tools
            .iter()
            .map(|t| {
                let text = requires(t.scopes(), t.conditional_scopes());
                (Called::tool(t.name()), text)
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
        SqliteSink {
            store,
            anonymous: Default::default(),
            targets,
        }
    }
}

impl AuditSink for SqliteSink {
    fn record(&self, event: &AuditEvent) {
        // Served, or failed in a body: `Store::run` recorded it, with what it changed.
        let AuditOutcome::Refused { reason } = &event.outcome else {
            return;
        };
        if event.principal.is_none() && !self.anonymous.admit(event.client_address) {
            return;
        }
        let target = event.target.as_ref().and_then(|target| {
            self.targets
                .iter()
                .find(|(c, _)| c.kind.as_str() == target.kind && c.name == target.name)
        });
        let called = target.map(|(called, _)| *called);
        let what = called.map_or("request", |c| c.kind.as_str());
        let (outcome, detail) = match reason {
            RefusalReason::InsufficientScope => (
                Outcome::InsufficientScope,
                Some(match target {
                    Some((_, requires)) => {
                        format!("insufficient scope: the {what} requires {requires}")
                    }
                    None => "insufficient scope".to_owned(),
                }),
            ),
            RefusalReason::RateLimited => {
                (Outcome::RateLimited, Some("rate limit exceeded".to_owned()))
            }
            RefusalReason::InvalidArguments => (
                Outcome::InvalidArguments,
                Some(format!(
                    "invalid arguments: they do not match the {what}'s arguments"
                )),
            ),
            RefusalReason::InvalidRequestState => (
                Outcome::InvalidRequestState,
                Some("the retry's requestState or inputResponses were refused".to_owned()),
            ),
            _ => (Outcome::Refused, None),
        };
        let invoice = match called.map(|c| c.kind) {
            Some(Kind::Tool | Kind::Prompt) => event
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get("invoice_id"))
                .and_then(Value::as_str),
            Some(Kind::Resource) => event
                .target
                .as_ref()
                .and_then(|target| target.uri.as_deref())
                .and_then(|uri| uri.strip_prefix("invoice://")),
            None => None,
        };
        self.store.record_soon(Refusal {
            caller: event
                .principal
                .as_ref()
                .map(Caller::from_principal)
                .unwrap_or_default(),
            called,
            outcome,
            invoice: invoice.map(str::to_owned),
            detail,
            request: Some(Request::of(event, *reason)),
        });
    }
}

/// The tools and prompts whose arguments audit events carry: those naming an invoice
/// (`invoice_id`), which a refusal's row records. Other arguments (customers, amounts) stay
/// out of the trail.
pub(crate) fn with_invoice_argument<'a>(
    tools: &'a [ToolDef],
    prompts: &'a [PromptDef],
) -> impl Iterator<Item = &'static str> + 'a {
    let tools = tools
        .iter()
        .filter(|t| t.input_schema()["properties"].get("invoice_id").is_some())
        .map(ToolDef::name);
    let prompts = prompts
        .iter()
        .filter(|p| p.arguments().iter().any(|a| a.name == "invoice_id"))
        .map(PromptDef::name);
    tools.chain(prompts)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_auth_runtime::observe::RefusalReason;
    use mcp_auth_runtime::observe::audit::{
        AuditEvent, AuditOutcome, AuditSink, Principal, Target,
    };
    use mcp_auth_runtime::prompts;

    use super::SqliteSink;
    use crate::store::Store;

    /// The audit table's rows, once `n` are there: `(method, kind, tool, outcome, reason,
    /// subject, api_key_id, invoice_id, detail, request_id, client_address)`.
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    async fn rows(path: &std::path::Path, n: usize) -> Vec<Row> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let conn = rusqlite::Connection::open(path).unwrap();
            let rows: Vec<Row> = conn
                .prepare(
                    "SELECT method, kind, tool, outcome, reason, subject, api_key_id, invoice_id,
                            detail, request_id, client_address
                     FROM audit ORDER BY id",
                )
                .unwrap()
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            if rows.len() >= n || tokio::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn refused(reason: RefusalReason) -> AuditEvent {
        AuditEvent::new(AuditOutcome::Refused { reason })
    }

    /// The sink writes one row per refusal, with its reason, caller and request, and none for
    /// what was served or failed in a body (the store's transaction recorded those).
    #[tokio::test]
    async fn the_sink_records_refusals_only_with_their_reason_and_request() {
        let dir = std::env::temp_dir().join(format!("billing-sink-{}", std::process::id()));
        let path = dir.join("billing.db");
        let store = Store::open(path.to_str().unwrap().to_owned())
            .await
            .unwrap();
        let prompts = prompts![crate::prompts::payment_reminder];
        let sink = SqliteSink::new(
            store,
            &crate::all_tools(),
            &crate::all_resources(),
            &prompts,
        );

        // A `401` before the body: no caller, no method, no tool.
        let mut missing = refused(RefusalReason::MissingToken);
        missing.client_address = Some("127.0.0.1".parse().unwrap());
        sink.record(&missing);

        // A `403` of a call, with its caller (an API key) and its arguments.
        let mut scope = refused(RefusalReason::InsufficientScope);
        let mut principal = Principal::default();
        principal.subject = Some("svc".into());
        principal.api_key_id = Some("k-1".into());
        scope.principal = Some(principal);
        scope.method = Some("tools/call".into());
        scope.target = Some(Target::tool("void_invoice"));
        scope.request_id = Some("7".into());
        scope.arguments = serde_json::json!({ "invoice_id": "INV-2041" })
            .as_object()
            .cloned();
        sink.record(&scope);

        // Served, and failed in a body: not the sink's.
        let mut served = AuditEvent::new(AuditOutcome::Done);
        served.target = Some(Target::tool("lookup_invoice"));
        sink.record(&served);
        let mut failed = AuditEvent::new(AuditOutcome::Failed {
            error: "tool_error".into(),
        });
        failed.target = Some(Target::tool("void_invoice"));
        sink.record(&failed);

        // A read of a resource refused for scope: the invoice is in its URI.
        let mut read = refused(RefusalReason::InsufficientScope);
        read.method = Some("resources/read".into());
        read.target = Some(Target::resource("invoice", "invoice://INV-2042"));
        sink.record(&read);

        let s = |text: &str| Some(text.to_owned());
        let rows = rows(&path, 3).await;
        assert_eq!(
            rows,
            [
                (
                    None,
                    None,
                    None,
                    "refused".into(),
                    s("missing_token"),
                    None,
                    None,
                    None,
                    None,
                    None,
                    s("127.0.0.1"),
                ),
                (
                    s("tools/call"),
                    s("tool"),
                    s("void_invoice"),
                    "insufficient_scope".into(),
                    s("insufficient_scope"),
                    s("svc"),
                    s("k-1"),
                    s("INV-2041"),
                    s("insufficient scope: the tool requires `invoices:write`"),
                    s("7"),
                    None,
                ),
                (
                    s("resources/read"),
                    s("resource"),
                    s("invoice"),
                    "insufficient_scope".into(),
                    s("insufficient_scope"),
                    None,
                    None,
                    s("INV-2042"),
                    s("insufficient scope: the resource requires `invoices:read`"),
                    None,
                    None,
                ),
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(super::truncated("INV-1", 64), "INV-1");
        assert_eq!(super::truncated("abcdef", 3), "abc…");
        // `é` is two bytes: the cut falls before it, not inside it.
        assert_eq!(super::truncated("abé", 3), "ab…");
    }
}
