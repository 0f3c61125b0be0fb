//! The lifecycle: `initialize`, `ping` and `logging/setLevel` in the handshake era,
//! `server/discover` in 2026-07-28.

use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{Reply, error, respond};
use super::{Dispatcher, Era, RequestCtx};
use crate::jsonrpc::{Request, code};
use crate::peer::{ClientSupport, LogLevel};
use crate::protocol::{LEGACY_VERSIONS, MODERN_VERSIONS};
use crate::session::SessionError;

impl Dispatcher {
    /// What the server offers: `resources`, `prompts` and `completions` only when it has
    /// some; resources subscribable on a `subscriptions/listen` stream (2026-07-28, `modern`)
    /// or in a session (handshake era, stateful mode only).
    fn capabilities(&self, modern: bool) -> Value {
        let mut capabilities = json!({ "tools": { "listChanged": false }, "logging": {} });
        if !self.resources.is_empty() {
            let subscribe = modern || self.sessions.is_some();
            capabilities["resources"] = json!({ "subscribe": subscribe, "listChanged": false });
        }
        if !self.prompts.is_empty() {
            capabilities["prompts"] = json!({ "listChanged": false });
        }
        if self.completes() {
            capabilities["completions"] = json!({});
        }
        if modern && self.runs_tasks() {
            capabilities["extensions"][crate::task::EXTENSION] = json!({});
        }
        capabilities
    }

    /// `initialize`: the negotiated version and the server's capabilities. The session it
    /// starts (stateful mode) is opened by the transport, which names it in a header.
    pub(super) fn initialize(&self, request: &Request) -> Reply {
        let params = request.params.as_ref();
        let Some(requested) = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
        else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: `protocolVersion` is required",
            );
        };
        // Lifecycle §version negotiation: echo a supported version, otherwise offer the latest.
        let version = LEGACY_VERSIONS
            .iter()
            .copied()
            .find(|v| *v == requested)
            .unwrap_or(LEGACY_VERSIONS[0]);
        let support = ClientSupport::from_capabilities(params.and_then(|p| p.get("capabilities")));
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": self.capabilities(false),
            "serverInfo": self.server_info,
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = instructions.clone().into();
        }
        match respond(request, &result) {
            Reply::Json(_, body) => Reply::Initialized {
                body,
                version,
                support,
            },
            other => other,
        }
    }

    pub(super) async fn set_level(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let level = request
            .params
            .as_ref()
            .and_then(|p| p.get("level"))
            .and_then(LogLevel::parse);
        let Some(level) = level else {
            return error(
                request,
                StatusCode::OK,
                code::INVALID_PARAMS,
                "invalid params: unknown log level",
            );
        };
        if let (
            Era::Legacy {
                session: Some(session),
            },
            Some(store),
        ) = (&ctx.era, &self.sessions)
        {
            match store.set_log_level(&session.id, &ctx.auth, level).await {
                Ok(()) => {}
                Err(SessionError::NotFound) => {
                    // Ended by another request since this one started.
                    return error(
                        request,
                        StatusCode::NOT_FOUND,
                        code::INVALID_REQUEST,
                        "unknown or expired session",
                    );
                }
                Err(err) => {
                    tracing::warn!("cannot set the log level: {err}");
                    return error(
                        request,
                        StatusCode::SERVICE_UNAVAILABLE,
                        code::INTERNAL_ERROR,
                        "sessions are unavailable",
                    );
                }
            }
        }
        respond(request, &json!({}))
    }

    pub(super) fn discover(&self, request: &Request) -> Reply {
        let mut supported: Vec<&str> = MODERN_VERSIONS.to_vec();
        supported.extend(LEGACY_VERSIONS);
        let mut result = json!({
            "supportedVersions": supported,
            "capabilities": self.capabilities(true),
            "serverInfo": self.server_info,
            "ttlMs": self.list_ttl.as_millis() as u64,
            "cacheScope": self.cache_scope,
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = instructions.clone().into();
        }
        respond(request, &self.modern(result))
    }
}
