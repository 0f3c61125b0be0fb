//! `subscriptions/listen` (2026-07-28).

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{Listen, Reply, error};
use super::{Dispatcher, RequestCtx};
use crate::jsonrpc::{Request, code};
use crate::protocol::meta;

impl Dispatcher {
    /// A server whose tools never change supports no subscriptions: the acknowledgement
    /// names none, and the stream stays open until the client closes it or its token expires.
    /// A caller holding its maximum of streams gets `429` instead (see [`super::streams`]).
    pub(super) fn listen(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let Some(slot) = self.streams.open(ctx.auth.principal().key()) else {
            tracing::info!(
                subject = ctx.auth.subject(),
                client_id = ctx.auth.client_id(),
                "too many open streams; subscriptions/listen refused"
            );
            return error(
                request,
                StatusCode::TOO_MANY_REQUESTS,
                code::RATE_LIMITED,
                "too many open streams: close one before opening another",
            );
        };
        let ack = json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {
                "_meta": { meta::SUBSCRIPTION_ID: serde_json::from_str::<Value>(request.id.0.get()).unwrap_or(Value::Null) },
                "notifications": {},
            },
        });
        Reply::Listen(Listen {
            ack: Bytes::from(ack.to_string()),
            expires_at: super::streams::deadline_of(&ctx.auth),
            slot,
        })
    }
}
