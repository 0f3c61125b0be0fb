//! The audit trail: an [`AuditSink`] told of every request the MCP endpoint answers, refusals
//! included, as one [`AuditEvent`] each; [`JsonLinesSink`] writes them to a file.
//!
//! An event names who (the verified principal, or none for a request refused before its
//! credential was accepted), what (the JSON-RPC method and the tool, resource or prompt),
//! how it ended ([`AuditOutcome`]), the scopes the target required, the tenant, and the
//! request's and trace's ids. It never holds the token; a tool's arguments only for the
//! tools named in [`McpServerBuilder::audit_arguments`](crate::McpServerBuilder::audit_arguments).
//!
//! Where each event comes from:
//!
//! - a request refused before the MCP handler read it: by the Host/Origin check
//!   ([`RefusalReason::HostOrOrigin`]), the bearer layer (missing, malformed or invalid
//!   credentials, each class of invalid token as its own reason, DPoP refusals, `503`, `429`
//!   for a peer that failed too often) or the request budget ([`RefusalReason::RateLimited`],
//!   with the caller): no method, no request id; the layer of
//!   [`McpServer::bearer_auth`](crate::McpServer::bearer_auth) on routes of your own reports
//!   its refusals too;
//! - every JSON-RPC request the server answered, on either transport and in either protocol
//!   era: with the caller, the method and target, how it ended (a tool's `isError` result is
//!   [`Failed`](AuditOutcome::Failed) with `tool_error`, a scope refusal
//!   [`Refused`](AuditOutcome::Refused) with [`RefusalReason::InsufficientScope`]) and its
//!   duration; a request whose client went away before the answer is `Failed` with
//!   `cancelled`.
//!
//! Notifications and the client's responses (`202`) are not requests and are not audited.

mod file;
mod jsonl;
mod principal;
mod tee;

pub use jsonl::{JsonLinesSink, JsonLinesSinkBuilder, Rotation};
pub use tee::Tee;

use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

use super::RefusalReason;

/// Where audit events go. Installed with
/// [`McpServerBuilder::audit`](crate::McpServerBuilder::audit).
///
/// `record` runs on the request's task, before its response is sent: keep it quick (hand the
/// event to a channel or a writer thread, as [`JsonLinesSink`] does). It cannot fail the
/// request: a sink that cannot keep an event reports it its own way (a log line, a metric).
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}

impl<F> AuditSink for F
where
    F: Fn(&AuditEvent) + Send + Sync + 'static,
{
    fn record(&self, event: &AuditEvent) {
        self(event)
    }
}

/// One request, as the audit trail records it. Serialized (by [`JsonLinesSink`]) with the
/// field names below; absent values are left out.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When the request ended (or was refused), as an RFC 3339 UTC timestamp in JSON.
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    /// Who: the verified caller; `None` when the request was refused before a credential was
    /// accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The JSON-RPC method; `None` when the request was refused before its body was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The tool, resource or prompt the request named, if it named one this server has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The scopes the target required (those a `403` named, for a refusal).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The JSON-RPC request id, as JSON text (`"7"`, `"\"abc\""`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The W3C trace id of the request's span, when traces are on (32 hex digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The handshake-era session, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The negotiated or declared MCP protocol version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The peer's IP address, as the server saw it (the proxy's, behind one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<IpAddr>,
    /// How long the request took, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// The tool's arguments, for tools named in
    /// [`audit_arguments`](crate::McpServerBuilder::audit_arguments) only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
}

impl AuditEvent {
    /// An event of now with `outcome` and nothing else: what a sink's own tests start from
    /// (the server fills in the rest for the events it reports).
    pub fn new(outcome: AuditOutcome) -> AuditEvent {
        AuditEvent {
            time: SystemTime::now(),
            principal: None,
            method: None,
            target: None,
            outcome,
            scopes: Vec::new(),
            request_id: None,
            trace_id: None,
            session_id: None,
            protocol_version: None,
            client_address: None,
            duration_seconds: None,
            arguments: None,
        }
    }
}

/// The verified caller of an [`AuditEvent`].
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Principal {
    /// The subject (`sub`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The OAuth client (`client_id`, `azp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The token's issuer; `None` for an API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The id of the API key, for a request made with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// The client acting for the subject (`act.sub`, RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting_client: Option<String>,
}

/// What an [`AuditEvent`]'s request named.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Target {
    /// `tool`, `resource` or `prompt`.
    pub kind: &'static str,
    /// The tool's or prompt's name, or the name of the resource serving the URI.
    pub name: String,
    /// The URI read, for a resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl Target {
    /// The tool `name`.
    pub fn tool(name: impl Into<String>) -> Target {
        Target {
            kind: "tool",
            name: name.into(),
            uri: None,
        }
    }

    /// The resource `name`, read at `uri`.
    pub fn resource(name: impl Into<String>, uri: impl Into<String>) -> Target {
        Target {
            kind: "resource",
            name: name.into(),
            uri: Some(uri.into()),
        }
    }

    /// The prompt `name`.
    pub fn prompt(name: impl Into<String>) -> Target {
        Target {
            kind: "prompt",
            name: name.into(),
            uri: None,
        }
    }
}

/// How an audited request ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// The request was served (a tool that returned a result, a list, a read).
    Done,
    /// The request was refused before any function of the application ran.
    Refused {
        /// Why.
        reason: RefusalReason,
    },
    /// The request reached the application or the protocol and failed: a tool's error
    /// result, a JSON-RPC error, a timeout, a cancellation.
    Failed {
        /// What failed, as the `error.type` of the OpenTelemetry conventions: `tool_error`,
        /// a JSON-RPC error code (`-32602`), `timeout`, `cancelled`.
        error: String,
    },
}

impl Serialize for RefusalReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*time))
}
