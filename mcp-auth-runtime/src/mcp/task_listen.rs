//! Task status notifications (`notifications/tasks`, SEP-2663) on a `subscriptions/listen`
//! stream that asks for them under `notifications.taskIds`.
//!
//! Only the caller's own live tasks are honored: the acknowledgement names those, and leaves
//! out alike the ids of other principals' tasks and ids never issued. Each honored task is
//! watched in the task store (so a task running on another replica is seen too), and every
//! change is sent as the complete `DetailedTask`, as `tasks/get` would answer it then; the
//! watch ends with the stream, or once every task is over or gone.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::reply::{Reply, error, forbidden};
use super::tasks::{Tasks, declares_tasks};
use super::{Dispatcher, RequestCtx};
use crate::auth::AuthInfo;
use crate::jsonrpc::{Request, code};
use crate::protocol::meta;
use crate::scope::ScopePolicy;

impl Dispatcher {
    /// The task ids a `subscriptions/listen` asks to follow that the caller owns, sorted;
    /// `Err` with the refusal when it asks without declaring the extension (`-32021`) or
    /// asks malformed or too many.
    pub(super) async fn listen_tasks(
        &self,
        request: &Request,
        ctx: &RequestCtx,
    ) -> Result<Vec<String>, Reply> {
        let asked = request
            .params
            .as_ref()
            .and_then(|p| p.get("notifications"))
            .and_then(|n| n.get("taskIds"))
            .filter(|a| !a.is_null());
        let Some(asked) = asked else {
            return Ok(Vec::new());
        };
        if !declares_tasks(request) {
            return Err(super::tasks::missing_extension(
                request,
                StatusCode::BAD_REQUEST,
                "Missing required client capability: declare the tasks extension",
            ));
        }
        let invalid = |message: &str| error(request, StatusCode::OK, code::INVALID_PARAMS, message);
        let Some(ids) = asked
            .as_array()
            .and_then(|ids| ids.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        else {
            return Err(invalid(
                "invalid params: `taskIds` must be an array of strings",
            ));
        };
        if ids.len() > self.max_subscriptions {
            return Err(invalid("invalid params: too many `taskIds`"));
        }
        let mut owned = Vec::new();
        for id in ids {
            let record = match self.owned_task(id, &ctx.auth).await {
                Ok(Some(record)) if !owned.iter().any(|o| o == id) => record,
                Ok(_) => continue,
                Err(err) => return Err(super::tasks::unavailable(request, &err)),
            };
            // A task whose tool is gone is answered by nothing, as `tasks/get` answers it.
            let Some(tool) = self.registry.get(&record.tool) else {
                continue;
            };
            // The stream carries what `tasks/get` shows, so it needs what `tasks/get` needs:
            // the owner's token with its scopes cut gets the step-up challenge, not the result.
            if let Err(err) = self.may_see(tool, &record, &ctx.auth) {
                return Err(forbidden(request, tool.name(), &ctx.auth, err));
            }
            owned.push(id.to_owned());
        }
        owned.sort();
        Ok(owned)
    }

    /// Sends `notifications/tasks` for `ids` on the stream of `tx` (subscription `id`) as
    /// their records change, starting with their state now.
    pub(super) fn watch_tasks(
        &self,
        tx: mpsc::Sender<Bytes>,
        ids: Vec<String>,
        id: Value,
        auth: Arc<AuthInfo>,
    ) {
        let watcher = Watcher {
            tasks: self.tasks.clone(),
            server_info: self.server_info.clone(),
            scopes: self.scopes.clone(),
            auth,
        };
        tokio::spawn(watch(watcher, tx, ids, id));
    }
}

/// What a stream's watch of tasks needs besides the ids: the store, and the stream's caller
/// and scope policy, which every change is held to.
struct Watcher {
    tasks: Tasks,
    server_info: Value,
    scopes: ScopePolicy,
    auth: Arc<AuthInfo>,
}

async fn watch(watcher: Watcher, tx: mpsc::Sender<Bytes>, ids: Vec<String>, subscription: Value) {
    let Watcher {
        tasks,
        server_info,
        scopes,
        auth,
    } = watcher;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut live = ids;
    let poll = tasks
        .limits
        .poll_interval
        .max(std::time::Duration::from_millis(100));
    while !live.is_empty() && !tx.is_closed() {
        let mut still = Vec::with_capacity(live.len());
        for id in live {
            let record = match tasks.store.get(&id).await {
                Ok(Some(record)) => record,
                // Gone (expired): nothing more to say about it.
                Ok(None) => continue,
                // Unreachable store: try again at the next poll.
                Err(_) => {
                    still.push(id);
                    continue;
                }
            };
            // A later run may have passed a check the stream's token would not (the body's
            // `require_scopes` with the creator's token): the task is then followed no more,
            // and `tasks/get` answers the challenge.
            let required: Vec<&str> = record.scopes.iter().map(String::as_str).collect();
            if scopes.require(&auth, &required).is_err() {
                continue;
            }
            if seen.get(&id) != Some(&record.version) {
                seen.insert(id.clone(), record.version);
                let mut params = record.detailed();
                params["_meta"] = json!({
                    meta::SUBSCRIPTION_ID: subscription,
                    meta::SERVER_INFO: server_info,
                });
                let message = json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/tasks",
                    "params": params,
                });
                // A full queue drops the notification for this stream (a slow reader holds
                // up no one); the next change, or `tasks/get`, says the rest.
                let _ = tx.try_send(Bytes::from(message.to_string()));
            }
            if !record.status.is_terminal() {
                still.push(id);
            }
        }
        live = still;
        if !live.is_empty() {
            tokio::time::sleep(poll).await;
        }
    }
}
