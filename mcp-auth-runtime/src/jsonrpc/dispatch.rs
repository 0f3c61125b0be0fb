//! MCP method dispatch, independent of the transport: a parsed message and a verified caller
//! in, an [`Outcome`] out.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::to_raw_value;
use serde_json::{Map, Value, json};

use super::{ErrorResponse, Message, Request, code, parse, result_body};
use crate::auth::AuthInfo;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::registry::Registry;
use crate::result::CallToolResult;
use crate::scope::ScopePolicy;

/// Protocol versions of the handshake era this server speaks, newest first.
pub(crate) const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// What the transport sends back.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A JSON-RPC response (result or error) to send with `200`.
    Response(Bytes),
    /// A notification or a client's response was accepted: `202`, no body.
    Accepted,
    /// The message was malformed: `400` with this JSON-RPC error.
    BadRequest(Bytes),
    /// The caller lacks scopes: `403` with an `insufficient_scope` challenge naming `required`.
    Forbidden { required: Vec<String>, body: Bytes },
}

/// Everything dispatch needs, shared by all requests of one server.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    pub(crate) registry: Registry,
    pub(crate) scopes: ScopePolicy,
    pub(crate) state: Arc<dyn std::any::Any + Send + Sync>,
    /// `serverInfo`, `capabilities` and `instructions`, serialized once.
    pub(crate) server_info: Map<String, Value>,
    /// Whether `tools/list` shows each caller only the tools its scopes allow.
    pub(crate) filter_tools: bool,
}

impl Dispatcher {
    /// Handles one message body from a verified caller.
    pub(crate) async fn handle(&self, body: &[u8], auth: Arc<AuthInfo>) -> Outcome {
        let message = match parse(body) {
            Ok(message) => message,
            Err(error) => return Outcome::BadRequest(error.to_bytes()),
        };
        let request = match message {
            Message::Request(request) => request,
            Message::Notification { method } => {
                tracing::debug!(%method, "notification");
                return Outcome::Accepted;
            }
            Message::Response => return Outcome::Accepted,
        };
        match request.method.as_str() {
            "initialize" => self.initialize(&request),
            "ping" => respond(&request, &json!({})),
            "tools/list" => self.list_tools(&request, &auth),
            "tools/call" => self.call_tool(request, auth).await,
            method => {
                let message = format!("method not found: {method}");
                error(Some(&request), code::METHOD_NOT_FOUND, message)
            }
        }
    }

    fn initialize(&self, request: &Request) -> Outcome {
        let Some(requested) = request
            .params
            .as_ref()
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
        else {
            return error(
                Some(request),
                code::INVALID_PARAMS,
                "invalid params: `protocolVersion` is required",
            );
        };
        // Lifecycle §version negotiation: echo a supported version, otherwise offer the latest.
        let version = PROTOCOL_VERSIONS
            .iter()
            .find(|v| **v == requested)
            .unwrap_or(&PROTOCOL_VERSIONS[0]);
        let mut result = self.server_info.clone();
        result.insert("protocolVersion".into(), (*version).into());
        respond(request, &result)
    }

    fn list_tools(&self, request: &Request, auth: &AuthInfo) -> Outcome {
        if request
            .params
            .as_ref()
            .is_some_and(|p| p.contains_key("cursor"))
        {
            // No cursor was ever issued: the whole list fits in one page.
            return error(
                Some(request),
                code::INVALID_PARAMS,
                "invalid params: unknown cursor",
            );
        }
        if self.filter_tools {
            let list = self
                .registry
                .list_result_filtered(|tool| self.scopes.missing(auth, tool.scopes()).is_empty());
            return Outcome::Response(result_body(&request.id, &list));
        }
        Outcome::Response(result_body(&request.id, self.registry.list_result()))
    }

    async fn call_tool(&self, request: Request, auth: Arc<AuthInfo>) -> Outcome {
        let mut params = request.params.clone().unwrap_or_default();
        let Some(Value::String(name)) = params.remove("name") else {
            return error(
                Some(&request),
                code::INVALID_PARAMS,
                "invalid params: `name` must be a string",
            );
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(arguments)) => Some(arguments),
            Some(_) => {
                return error(
                    Some(&request),
                    code::INVALID_PARAMS,
                    "invalid params: `arguments` must be an object",
                );
            }
        };
        let Some(tool) = self.registry.get(&name) else {
            return error(
                Some(&request),
                code::INVALID_PARAMS,
                format!("unknown tool: {name}"),
            );
        };
        // Decided before the tool runs, so that the client can step up; the generated handler
        // and the tool body check again.
        if let Err(err) = self.scopes.require(&auth, tool.scopes()) {
            return forbidden(&request, tool.name(), &auth, err);
        }
        let ctx = CallContext::new(auth.clone(), self.state.clone(), self.scopes.clone());
        let result = match (tool.handler())(ctx, arguments).await {
            Ok(result) => result,
            Err(err @ ToolError::InsufficientScope { .. }) => {
                return forbidden(&request, tool.name(), &auth, err);
            }
            Err(ToolError::Internal(cause)) => {
                tracing::error!(tool = tool.name(), error = %cause, "tool failed");
                CallToolResult::error("internal error")
            }
            Err(err) => CallToolResult::error(err.to_string()),
        };
        tracing::debug!(
            tool = tool.name(),
            subject = auth.subject(),
            client_id = auth.client_id(),
            is_error = result.is_error,
            "tool called"
        );
        respond(&request, &result)
    }
}

fn respond(request: &Request, result: &impl serde::Serialize) -> Outcome {
    match to_raw_value(result) {
        Ok(raw) => Outcome::Response(result_body(&request.id, &raw)),
        Err(err) => {
            tracing::error!(error = %err, "result does not serialize");
            error(Some(request), code::INTERNAL_ERROR, "internal error")
        }
    }
}

fn error(request: Option<&Request>, code: i32, message: impl Into<String>) -> Outcome {
    let id = request.map(|r| r.id.clone());
    Outcome::Response(ErrorResponse::new(id, code, message).to_bytes())
}

fn forbidden(request: &Request, tool: &str, auth: &AuthInfo, err: ToolError) -> Outcome {
    let ToolError::InsufficientScope { required, missing } = err else {
        unreachable!("only scope errors are forbidden")
    };
    tracing::info!(
        tool,
        subject = auth.subject(),
        client_id = auth.client_id(),
        missing = %missing.join(" "),
        "insufficient scope"
    );
    let body = ErrorResponse::new(
        Some(request.id.clone()),
        code::INSUFFICIENT_SCOPE,
        "insufficient scope",
    )
    .with_data(json!({ "requiredScopes": required }))
    .to_bytes();
    Outcome::Forbidden { required, body }
}
