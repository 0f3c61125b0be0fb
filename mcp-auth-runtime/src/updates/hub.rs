//! The streams of this process that carry resource updates, and delivery to them.
//!
//! A stream registers here while it is open: a handshake-era session's standalone `GET`
//! stream (what the session subscribed to lives in the session store, in this process or in
//! Redis), or a 2026-07-28 `subscriptions/listen` stream (its URIs are fixed when it opens).
//! Each has a small queue; an update that finds a queue full is dropped for that stream with a
//! warning, so that a slow reader holds up no one else and costs bounded memory.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::AuthInfo;
use crate::http::Endpoint;
use crate::session::Relayed;

/// How many notifications wait for one slow stream before more are dropped.
const QUEUE: usize = 32;

/// How many updates wait for delivery in one server before more are dropped.
const QUEUED: usize = 1024;

/// What to do with a queued update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Published here: through Redis to every replica, or delivered here without Redis.
    Publish,
    /// Came through Redis: delivered to this process's streams.
    Deliver,
}

/// One published update: the resource, its title, and the tenant whose callers alone may
/// receive it (all callers when `None`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Update {
    /// Random, the same in every replica: a session streaming from several replicas gets
    /// the update on one stream only (see [`SessionStore::claim`](crate::session::SessionStore::claim)).
    #[serde(default)]
    pub(crate) id: String,
    pub(crate) uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
}

/// What a stream receives.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The standalone stream of a handshake-era session.
    Session(String),
    /// A `subscriptions/listen` stream: its URIs and its subscription id (the request id).
    Listen { uris: HashSet<String>, id: Value },
}

struct Entry {
    target: Target,
    auth: Arc<AuthInfo>,
    tx: mpsc::Sender<Bytes>,
}

/// The resource-update streams of one server in this process.
#[derive(Default)]
pub(crate) struct Hub {
    streams: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    /// Updates waiting for delivery, in publishing order.
    queue: OnceLock<mpsc::Sender<(Job, Update)>>,
    /// The server, once built; weak, since the server holds the hub.
    endpoint: OnceLock<Weak<Endpoint>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// A registered stream: its queue, and its place in the hub, given back on drop.
pub(crate) struct Registration {
    hub: Arc<Hub>,
    key: u64,
    pub(crate) rx: mpsc::Receiver<Bytes>,
}

impl Registration {
    /// Another way into this stream's queue: for notifications that are not resource
    /// updates (task status, which `mcp/task_listen.rs` sends).
    pub(crate) fn sender(&self) -> Option<mpsc::Sender<Bytes>> {
        self.hub.lock().get(&self.key).map(|entry| entry.tx.clone())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.key);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").finish_non_exhaustive()
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wires the hub to the server it serves; once.
    pub(crate) fn attach(&self, endpoint: &Arc<Endpoint>) {
        let _ = self.endpoint.set(Arc::downgrade(endpoint));
    }

    fn endpoint(&self) -> Option<Arc<Endpoint>> {
        self.endpoint.get().and_then(Weak::upgrade)
    }

    /// Registers a stream; `None` for a session that has a stream open in this process
    /// already (it would receive every update twice).
    pub(crate) fn register(
        self: &Arc<Self>,
        target: Target,
        auth: Arc<AuthInfo>,
    ) -> Option<Registration> {
        let mut streams = self.lock();
        if let Target::Session(id) = &target
            && streams
                .values()
                .any(|e| matches!(&e.target, Target::Session(other) if other == id))
        {
            return None;
        }
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(QUEUE);
        streams.insert(key, Entry { target, auth, tx });
        Some(Registration {
            hub: self.clone(),
            key,
            rx,
        })
    }

    /// Ends the standalone stream of the session `id` in this process, if it has one.
    pub(crate) fn end_session(&self, id: &str) {
        self.lock()
            .retain(|_, e| !matches!(&e.target, Target::Session(other) if other == id));
    }

    /// Publishes an update of `uri`: to every replica through Redis when sessions live
    /// there, otherwise to this process's streams. Never waits: the update joins this
    /// server's queue, delivered in order by one task; when [`QUEUED`] updates wait already,
    /// it is dropped with a warning.
    pub(crate) fn publish(self: &Arc<Self>, update: Update) {
        self.enqueue(Job::Publish, update);
    }

    /// Delivers an update that came through Redis to this process's streams.
    pub(crate) fn deliver_later(self: &Arc<Self>, update: Update) {
        self.enqueue(Job::Deliver, update);
    }

    fn enqueue(self: &Arc<Self>, job: Job, update: Update) {
        if self.endpoint().is_none() {
            tracing::debug!("a resource update before the server was built; dropped");
            return;
        }
        let Some(queue) = self.queue() else {
            tracing::warn!("a resource update outside a Tokio runtime; dropped");
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send((job, update)) {
            tracing::warn!("too many resource updates waiting; one was dropped");
        }
    }

    /// The queue, and the task that empties it, started on first use (a server may be
    /// built outside a runtime).
    fn queue(self: &Arc<Self>) -> Option<&mpsc::Sender<(Job, Update)>> {
        if let Some(queue) = self.queue.get() {
            return Some(queue);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(self.queue.get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<(Job, Update)>(QUEUED);
            let hub = Arc::downgrade(self);
            runtime.spawn(async move {
                // Ends when the hub, and so the sender, is dropped.
                while let Some((job, update)) = rx.recv().await {
                    let Some(hub) = hub.upgrade() else { return };
                    let Some(endpoint) = hub.endpoint() else {
                        return;
                    };
                    let relayed = match (job, &endpoint.mcp.sessions) {
                        (Job::Publish, Some(store)) => {
                            store.publish(&Relayed::Updated(update.clone())).await
                        }
                        _ => false,
                    };
                    if relayed {
                        continue;
                    }
                    hub.deliver(&endpoint, &update).await;
                }
            });
            tx
        }))
    }

    /// Sends the update to each stream of this process that asked for its URI and whose
    /// caller may still read it: the stream's token has not expired and holds the scopes of
    /// the resource serving the URI (checked again here, since a subscription outlives the
    /// request that made it), and is of the update's tenant when it names one.
    async fn deliver(&self, endpoint: &Endpoint, update: &Update) {
        let (uri, title) = (update.uri.as_str(), update.title.as_deref());
        let mcp = &endpoint.mcp;
        let Some((resource, _)) = mcp.resources.resolve(uri) else {
            tracing::debug!("an update of a URI no resource serves; dropped");
            return;
        };
        // Who may receive it, decided under the lock; sent after it.
        let mut listeners = Vec::new();
        let mut sessions = Vec::new();
        {
            let streams = self.lock();
            for entry in streams.values() {
                let expired = entry
                    .auth
                    .expires_at()
                    .is_some_and(|at| at <= SystemTime::now());
                let other_tenant = update
                    .tenant
                    .as_deref()
                    .is_some_and(|tenant| entry.auth.tenant() != Some(tenant));
                if expired
                    || other_tenant
                    || !mcp
                        .scopes
                        .missing(&entry.auth, resource.scopes())
                        .is_empty()
                {
                    continue;
                }
                match &entry.target {
                    Target::Listen { uris, id } if uris.contains(uri) => {
                        listeners.push((entry.tx.clone(), id.clone()));
                    }
                    Target::Listen { .. } => {}
                    Target::Session(id) => {
                        sessions.push((entry.tx.clone(), id.clone(), entry.auth.clone()))
                    }
                }
            }
        }
        if !sessions.is_empty()
            && let Some(store) = &mcp.sessions
        {
            let ids: Vec<&str> = sessions.iter().map(|(_, id, _)| id.as_str()).collect();
            let subscribed = store.subscribed(&ids, uri).await;
            // The conditional scopes the subscribing token held, required of this stream's
            // token too.
            let receiving: Vec<_> = sessions
                .iter()
                .zip(subscribed)
                .filter(|((_, _, auth), subscribed)| {
                    subscribed.as_deref().is_some_and(|held| {
                        let held: Vec<&str> = held.split_whitespace().collect();
                        mcp.scopes.missing(auth, &held).is_empty()
                    })
                })
                .map(|((tx, id, _), _)| (tx, id.as_str()))
                .collect();
            let ids: Vec<&str> = receiving.iter().map(|(_, id)| *id).collect();
            let claimed = store.claim(&ids, &update.id).await;
            let note = notification(uri, title, None);
            for ((tx, _), claimed) in receiving.iter().zip(claimed) {
                if claimed {
                    offer(tx, note.clone());
                }
            }
        }
        for (tx, id) in listeners {
            offer(&tx, notification(uri, title, Some(id)));
        }
    }
}

/// `notifications/resources/updated`; on a listen stream, with its subscription id.
fn notification(uri: &str, title: Option<&str>, subscription: Option<Value>) -> Bytes {
    let mut params = json!({ "uri": uri });
    if let Some(title) = title {
        params["title"] = title.into();
    }
    if let Some(id) = subscription {
        params["_meta"] = json!({ crate::protocol::meta::SUBSCRIPTION_ID: id });
    }
    let note = json!({
        "jsonrpc": "2.0",
        "method": "notifications/resources/updated",
        "params": params,
    });
    Bytes::from(note.to_string())
}

/// Queues `note` for one stream, or drops it when that stream's reader is behind.
fn offer(tx: &mpsc::Sender<Bytes>, note: Bytes) {
    match tx.try_send(note) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!("a subscriber reads too slowly; a resource update was dropped for it");
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
