//! `subscriptions/listen` (2026-07-28).

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{Listen, Reply, error};
use super::{Dispatcher, RequestCtx};
use crate::jsonrpc::{Request, code};
use crate::protocol::meta;
use crate::updates::Target;

impl Dispatcher {
    /// A server whose tools never change supports no subscriptions: the acknowledgement
    /// names none, and the stream stays open until the client closes it or its token expires.
    /// A caller holding its maximum of streams gets `429` instead (see [`super::streams`]).
    ///
    /// `notifications.resourceSubscriptions` subscribes the stream to resource updates: each
    /// URI is checked as a read would be, and every refusal comes before the stream opens
    /// (see [`super::subscribe`]).
    pub(super) async fn listen(&self, request: &Request, ctx: &RequestCtx) -> Reply {
        let uris = match self.listen_uris(request, ctx) {
            Ok(uris) => uris,
            Err(refused) => return refused,
        };
        let task_ids = match self.listen_tasks(request, ctx).await {
            Ok(ids) => ids,
            Err(refused) => return refused,
        };
        let Some(slot) = self.streams.open(ctx.auth.principal_key().to_owned()) else {
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
        // The handlers run only once the caller holds a stream slot (see `listen_uris`).
        let asked: Vec<&str> = uris.iter().map(String::as_str).collect();
        if let Err(refused) = self.read_each(request, ctx, &asked).await {
            return refused;
        }
        let id = serde_json::from_str::<Value>(request.id.0.get()).unwrap_or(Value::Null);
        let mut honored = json!({});
        let mut updates = None;
        if !uris.is_empty() {
            let mut sorted: Vec<&String> = uris.iter().collect();
            sorted.sort();
            honored["resourceSubscriptions"] = json!(sorted);
            let target = Target::Listen {
                uris: uris.into_iter().collect(),
                id: id.clone(),
            };
            updates = self.updates.register(target, ctx.auth.clone());
        }
        if !task_ids.is_empty() {
            honored["taskIds"] = json!(task_ids);
            // Task notifications share the stream's queue; a stream of no resources gets one.
            if updates.is_none() {
                let target = Target::Listen {
                    uris: Default::default(),
                    id: id.clone(),
                };
                updates = self.updates.register(target, ctx.auth.clone());
            }
            if let Some(tx) = updates.as_ref().and_then(|u| u.sender()) {
                self.watch_tasks(tx, task_ids, id.clone(), ctx.auth.clone());
            }
        }
        let ack = json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {
                "_meta": { meta::SUBSCRIPTION_ID: id },
                "notifications": honored,
            },
        });
        Reply::Listen(Listen {
            ack: Bytes::from(ack.to_string()),
            expires_at: super::streams::deadline_of(&ctx.auth),
            slot,
            updates,
        })
    }
}
