//! Handshake-era sessions (`Mcp-Session-Id`), bound to the principal that opened them.
//!
//! A session is never a credential: every request is still token-checked, and a session id
//! presented with another principal's token is treated as unknown. Ids are 256-bit random
//! values; sessions expire when idle, and their number is bounded, overall and per principal.
//!
//! Sessions live in this process (the default) or, with the `redis` feature, in Redis
//! ([`RedisSessions`]), so that every replica of a server knows every session. Either way a
//! tool call runs in the process that received it, and its stream is that request's response:
//! what a tool sends (progress, log messages, requests for input) never leaves that process.
//! What a client sends back about a running call (its answer to a request for input, or
//! `notifications/cancelled`) may reach another replica, which relays it through Redis to the
//! one running the call.

#[cfg(feature = "redis")]
pub(crate) mod kept_streams;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::AbortHandle;
use serde_json::Value;

use crate::auth::AuthInfo;
use crate::peer::{ClientSupport, LogLevel, PendingRequests};

pub(crate) use memory::MemorySessions;
#[cfg(feature = "redis")]
pub use redis::RedisSessions;

/// One handshake-era session, as read at the start of a request.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) version: &'static str,
    pub(crate) support: ClientSupport,
    pub(crate) log_level: LogLevel,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id authenticates nothing, but it addresses the session: keep it out of logs.
        f.debug_struct("Session")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be opened, found or changed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionError {
    /// Unknown, expired, ended, or opened by another principal: `404`.
    #[error("unknown or expired session")]
    NotFound,
    /// The configured maximum of open sessions is reached: `503`.
    #[error("{0} sessions are open, the configured maximum")]
    Full(usize),
    /// The shared session store cannot be reached: `503`, failing closed.
    #[cfg_attr(
        not(feature = "redis"),
        expect(dead_code, reason = "only Redis can fail")
    )]
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}

/// The bounds every session store applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) idle_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_per_principal: usize,
}

/// The sessions of one server.
#[derive(Debug)]
pub(crate) enum SessionStore {
    Memory(MemorySessions),
    #[cfg(feature = "redis")]
    Redis(RedisSessions, Limits),
}

impl SessionStore {
    /// Opens a session for `auth`. When the principal already holds its maximum, its least
    /// recently used session is ended; when the server holds its maximum, the new one is
    /// refused.
    pub(crate) async fn create(
        &self,
        auth: &AuthInfo,
        version: &'static str,
        support: ClientSupport,
    ) -> Result<Arc<Session>, SessionError> {
        match self {
            SessionStore::Memory(store) => store.create(auth, version, support),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, limits) => {
                store.create(auth, version, support, limits).await
            }
        }
    }

    /// The session `id`, if it exists, is live and belongs to `auth`'s principal; marks it
    /// used.
    pub(crate) async fn get(
        &self,
        id: &str,
        auth: &AuthInfo,
    ) -> Result<Arc<Session>, SessionError> {
        match self {
            SessionStore::Memory(store) => store.get(id, auth),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, limits) => store.get(id, auth, limits).await,
        }
    }

    /// Ends the session `id` if it belongs to `auth`'s principal, on every replica.
    pub(crate) async fn remove(&self, id: &str, auth: &AuthInfo) -> Result<(), SessionError> {
        match self {
            SessionStore::Memory(store) => store.remove(id, auth),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.remove(id, auth).await,
        }
    }

    /// Sets the least severe level of log messages sent to the session's calls from now on.
    pub(crate) async fn set_log_level(
        &self,
        id: &str,
        auth: &AuthInfo,
        level: LogLevel,
    ) -> Result<(), SessionError> {
        match self {
            SessionStore::Memory(store) => store.set_log_level(id, auth, level),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, limits) => {
                store.set_log_level(id, auth, level, limits).await
            }
        }
    }

    /// Records that the session `id` of `auth`'s principal subscribed to `uri`, with the
    /// conditional scopes of its resource that `auth` held (`held`, space-separated, which
    /// delivery requires of the stream's token): `Ok(false)` when it holds `max`
    /// subscriptions already.
    pub(crate) async fn subscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
        held: &str,
        max: usize,
    ) -> Result<bool, SessionError> {
        match self {
            SessionStore::Memory(store) => store.subscribe(id, auth, uri, held, max),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, limits) => {
                store.subscribe(id, auth, uri, held, max, limits).await
            }
        }
    }

    /// Forgets the subscription of the session `id` of `auth`'s principal to `uri`; harmless
    /// when there is none.
    pub(crate) async fn unsubscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
    ) -> Result<(), SessionError> {
        match self {
            SessionStore::Memory(store) => store.unsubscribe(id, auth, uri),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.unsubscribe(id, auth, uri).await,
        }
    }

    /// For each of the sessions `ids`, if it is live and subscribed to `uri`, the conditional
    /// scopes recorded with the subscription; `None` for all of them when the store cannot
    /// be reached (nothing is delivered on a guess).
    pub(crate) async fn subscribed(&self, ids: &[&str], uri: &str) -> Vec<Option<String>> {
        match self {
            SessionStore::Memory(store) => ids.iter().map(|id| store.subscribed(id, uri)).collect(),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.subscribed(ids, uri).await,
        }
    }

    /// For each of the sessions `ids`, whether this replica is the one to deliver the update
    /// `update` on the session's stream: a session may have a stream open in each replica,
    /// and a message goes on one stream only. Always with sessions in memory (one process,
    /// one stream per session); with Redis, the first replica to claim it, and no one when
    /// Redis cannot be reached.
    pub(crate) async fn claim(&self, ids: &[&str], update: &str) -> Vec<bool> {
        match self {
            SessionStore::Memory(_) => {
                let _ = update;
                vec![true; ids.len()]
            }
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.claim(ids, update).await,
        }
    }

    /// Sends a resource update, or the end of a session, to every replica (with sessions in
    /// Redis), each of which applies it to its own streams; `false` when there is no other
    /// replica to reach, and the caller applies it here.
    pub(crate) async fn publish(&self, update: &Relayed) -> bool {
        match self {
            SessionStore::Memory(_) => {
                let _ = update;
                false
            }
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => {
                store.relay(update).await;
                true
            }
        }
    }

    /// Records in `metrics` how many sessions this store holds open and how long each lasted.
    /// Sessions in Redis are counted by no one process, and expire in Redis unseen: they are
    /// left out.
    pub(crate) fn attach_metrics(self: &Arc<Self>, metrics: &crate::observe::Metrics) {
        match &**self {
            SessionStore::Memory(store) => {
                store.attach_metrics(metrics);
                let gauge: Arc<dyn crate::observe::Gauge> = self.clone();
                metrics.attach_sessions(Arc::downgrade(&gauge));
            }
            #[cfg(feature = "redis")]
            SessionStore::Redis(..) => {}
        }
    }

    /// How many sessions this process holds; `None` when they live in Redis.
    pub(crate) fn local_len(&self) -> Option<usize> {
        match self {
            SessionStore::Memory(store) => Some(store.len()),
            #[cfg(feature = "redis")]
            SessionStore::Redis(..) => None,
        }
    }

    /// The calls of this process that clients may answer or cancel: shared with the relay
    /// when sessions live in Redis.
    pub(crate) fn calls(&self) -> Arc<LocalCalls> {
        match self {
            SessionStore::Memory(_) => Arc::default(),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.calls(),
        }
    }

    /// Applies what a client said about a call of `calls`, or relays it to the replica
    /// running the call when sessions live in Redis.
    pub(crate) async fn deliver(&self, calls: &LocalCalls, message: Relayed) {
        if calls.deliver(&message) {
            return;
        }
        match self {
            SessionStore::Memory(_) => {
                tracing::debug!("a client message about no running call was ignored");
            }
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.relay(&message).await,
        }
    }

    /// Whether the store can be used now: `Err` with the reason when it cannot.
    pub(crate) async fn ready(&self) -> Result<(), String> {
        match self {
            SessionStore::Memory(_) => Ok(()),
            #[cfg(feature = "redis")]
            SessionStore::Redis(store, _) => store.ping().await,
        }
    }
}

/// What a client said about a call that may be running in another replica.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Relayed {
    /// The answer to a request for input (`elicitation/create`, `sampling/createMessage`).
    Answer {
        scope: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
    },
    /// `notifications/cancelled` for the request `id`.
    Cancel { scope: String, id: String },
    /// Application code published an update of the resource `uri`
    /// ([`Notifier`](crate::Notifier)): each replica delivers it to its own subscribers.
    Updated(crate::updates::Update),
    /// The session `scope` ended (`DELETE`): each replica ends its standalone stream and
    /// cancels the session's calls that run there.
    Ended { scope: String },
}

/// The calls running in this process that a client may still answer or cancel, by the
/// session (or, without one, the caller) they belong to.
#[derive(Debug, Default)]
pub(crate) struct LocalCalls {
    /// Server-to-client requests awaiting the client's answer.
    pub(crate) pending: Arc<PendingRequests>,
    /// Calls that `notifications/cancelled` may abort, by (session or caller, request id).
    inflight: Mutex<HashMap<(String, String), AbortHandle>>,
    /// Where relayed resource updates go: the subscribers of the servers of this process.
    pub(crate) updates: Mutex<Vec<std::sync::Weak<crate::updates::Hub>>>,
}

impl LocalCalls {
    fn lock_inflight(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), AbortHandle>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a running call that `notifications/cancelled` may abort until the returned
    /// guard is dropped.
    pub(crate) fn track(
        self: &Arc<Self>,
        scope: String,
        id: String,
        abort: AbortHandle,
    ) -> Tracked {
        let key = (scope, id);
        self.lock_inflight().insert(key.clone(), abort);
        Tracked {
            calls: self.clone(),
            key,
        }
    }

    /// The update hubs of the servers of this process that share these calls.
    fn hubs(&self) -> Vec<Arc<crate::updates::Hub>> {
        let hubs = self.updates.lock().unwrap_or_else(|e| e.into_inner());
        hubs.iter().filter_map(std::sync::Weak::upgrade).collect()
    }

    /// Applies what the client said, if the call runs here; `false` otherwise.
    pub(crate) fn deliver(&self, message: &Relayed) -> bool {
        match message {
            Relayed::Answer {
                scope,
                id,
                result,
                error,
            } => {
                let answer = match (result, error) {
                    (_, Some(error)) => Err(error.clone()),
                    (Some(result), None) => Ok(result.clone()),
                    (None, None) => Ok(Value::Null),
                };
                self.pending.answer(scope, id, answer)
            }
            Relayed::Cancel { scope, id } => {
                let handle = self.lock_inflight().remove(&(scope.clone(), id.clone()));
                match handle {
                    Some(handle) => {
                        tracing::debug!(request = %id, "call cancelled by the client");
                        handle.abort();
                        true
                    }
                    None => false,
                }
            }
            Relayed::Updated(update) => {
                for hub in self.hubs() {
                    hub.deliver_later(update.clone());
                }
                true
            }
            Relayed::Ended { scope } => {
                for hub in self.hubs() {
                    hub.end_session(scope);
                }
                // The session's calls still running here end with it: a call detached from
                // its connection for polling (SEP-1699) would otherwise run on, and hold its
                // caller's stream slot, with no session left to collect its result.
                self.lock_inflight().retain(|(session, id), handle| {
                    let ended = session == scope;
                    if ended {
                        tracing::debug!(request = %id, "call cancelled: its session ended");
                        handle.abort();
                    }
                    !ended
                });
                true
            }
        }
    }
}

/// Removes a finished call from [`LocalCalls`].
pub(crate) struct Tracked {
    calls: Arc<LocalCalls>,
    key: (String, String),
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.calls.lock_inflight().remove(&self.key);
    }
}

impl crate::observe::Gauge for SessionStore {
    fn open(&self) -> u64 {
        self.local_len().unwrap_or(0) as u64
    }
}
