//! Handshake-era sessions (`Mcp-Session-Id`), bound to the principal that opened them.
//!
//! A session is never a credential: every request is still token-checked, and a session id
//! presented with another principal's token is treated as unknown. Ids are 256-bit random
//! values; sessions expire when idle, and their number is bounded, overall and per principal,
//! so memory stays bounded whatever clients do.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::auth::AuthInfo;
use crate::jsonrpc::principal_key;
use crate::peer::{ClientSupport, LogLevel, PendingRequests};

/// One handshake-era session.
pub(crate) struct Session {
    pub(crate) id: String,
    /// Issuer, subject and client of the token that opened it.
    principal: String,
    pub(crate) version: &'static str,
    pub(crate) support: ClientSupport,
    log_level: AtomicU8,
    /// Milliseconds since the store's epoch at the last request.
    last_seen: AtomicU64,
    /// Creation order, which breaks ties between sessions last seen in the same millisecond.
    serial: u64,
    /// Server-to-client requests awaiting the client's answer.
    pub(crate) pending: Arc<PendingRequests>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id authenticates nothing, but it addresses the session: keep it out of logs.
        f.debug_struct("Session")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn log_level(&self) -> LogLevel {
        LogLevel::from_u8(self.log_level.load(Ordering::Relaxed))
    }

    pub(crate) fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level.as_u8(), Ordering::Relaxed);
    }
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{0} sessions are open, the configured maximum")]
pub(crate) struct SessionsFull(usize);

/// Why a session id was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// Unknown, expired, ended, or opened by another principal: `404`.
    NotFound,
}

/// The sessions of one server.
pub(crate) struct SessionStore {
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    epoch: Instant,
    serials: AtomicU64,
    /// When expired sessions were last dropped, in milliseconds since `epoch`.
    last_sweep: AtomicU64,
    idle_timeout: Duration,
    max_sessions: usize,
    max_per_principal: usize,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("open", &self.len())
            .field("idle_timeout", &self.idle_timeout)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl SessionStore {
    pub(crate) fn new(
        idle_timeout: Duration,
        max_sessions: usize,
        max_per_principal: usize,
    ) -> Self {
        SessionStore {
            sessions: RwLock::default(),
            epoch: Instant::now(),
            serials: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            idle_timeout,
            max_sessions,
            max_per_principal,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn expired(&self, session: &Session, now: u64) -> bool {
        now.saturating_sub(session.last_seen.load(Ordering::Relaxed))
            > self.idle_timeout.as_millis() as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Opens a session for `auth`. When the principal already holds its maximum, its least
    /// recently used session is ended; when the server holds its maximum after dropping
    /// expired sessions, the new one is refused.
    pub(crate) fn create(
        &self,
        auth: &AuthInfo,
        version: &'static str,
        support: ClientSupport,
    ) -> Result<Arc<Session>, SessionsFull> {
        let principal = principal_key(auth);
        let now = self.now();
        let session = Arc::new(Session {
            id: crate::random::token(32),
            principal: principal.clone(),
            version,
            support,
            log_level: AtomicU8::new(LogLevel::Debug.as_u8()),
            last_seen: AtomicU64::new(now),
            serial: self.serials.fetch_add(1, Ordering::Relaxed),
            pending: Arc::default(),
        });
        // Expired sessions are dropped when room is needed, and at least once per idle
        // timeout, so that they never pile up.
        let since_sweep = now.saturating_sub(self.last_sweep.load(Ordering::Relaxed));
        if self.len() >= self.max_sessions || since_sweep > self.idle_timeout.as_millis() as u64 {
            self.sweep();
        }
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= self.max_sessions {
            return Err(SessionsFull(sessions.len()));
        }
        let mut own: Vec<(&String, (u64, u64))> = sessions
            .iter()
            .filter(|(_, s)| s.principal == principal)
            .map(|(id, s)| (id, (s.last_seen.load(Ordering::Relaxed), s.serial)))
            .collect();
        if own.len() >= self.max_per_principal {
            own.sort_by_key(|(_, order)| *order);
            let evict: Vec<String> = own[..=own.len() - self.max_per_principal]
                .iter()
                .map(|(id, _)| (*id).clone())
                .collect();
            for id in evict {
                sessions.remove(&id);
            }
        }
        sessions.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// The session `id`, if it exists, is live and belongs to `auth`'s principal; marks it
    /// used.
    pub(crate) fn get(&self, id: &str, auth: &AuthInfo) -> Result<Arc<Session>, SessionError> {
        let now = self.now();
        let session = {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            sessions.get(id).cloned()
        };
        let Some(session) = session else {
            return Err(SessionError::NotFound);
        };
        if self.expired(&session, now) {
            self.sessions
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            return Err(SessionError::NotFound);
        }
        if session.principal != principal_key(auth) {
            tracing::warn!(
                subject = auth.subject(),
                client_id = auth.client_id(),
                "a session id was presented with another principal's token; refused"
            );
            return Err(SessionError::NotFound);
        }
        session.last_seen.store(now, Ordering::Relaxed);
        Ok(session)
    }

    /// Ends the session `id` if it belongs to `auth`'s principal.
    pub(crate) fn remove(&self, id: &str, auth: &AuthInfo) -> Result<(), SessionError> {
        self.get(id, auth)?;
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }

    /// Drops every expired session.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.now();
        self.last_sweep.store(now, Ordering::Relaxed);
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        sessions.retain(|_, s| !self.expired(s, now));
        before - sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max: usize, per: usize) -> SessionStore {
        SessionStore::new(Duration::from_secs(60), max, per)
    }

    #[test]
    fn sessions_are_bound_to_their_principal() {
        let store = store(10, 10);
        let alice = AuthInfo::new("alice").with_client_id("c");
        let bob = AuthInfo::new("bob").with_client_id("c");
        let session = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        assert!(store.get(&session.id, &alice).is_ok());
        assert_eq!(
            store.get(&session.id, &bob).unwrap_err(),
            SessionError::NotFound
        );
        let other_client = AuthInfo::new("alice").with_client_id("d");
        assert!(store.get(&session.id, &other_client).is_err());
        assert!(store.remove(&session.id, &bob).is_err());
        assert!(store.remove(&session.id, &alice).is_ok());
        assert!(store.get(&session.id, &alice).is_err());
    }

    #[test]
    fn the_number_of_sessions_is_bounded() {
        let store = store(3, 2);
        let alice = AuthInfo::new("alice");
        let first = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        let _second = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        let _third = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        // The principal's oldest session made room.
        assert!(store.get(&first.id, &alice).is_err());
        assert_eq!(store.len(), 2);
        let bob = AuthInfo::new("bob");
        store
            .create(&bob, "2025-11-25", ClientSupport::default())
            .unwrap();
        assert!(
            store
                .create(
                    &AuthInfo::new("carol"),
                    "2025-11-25",
                    ClientSupport::default()
                )
                .is_err()
        );
    }

    #[test]
    fn idle_sessions_expire() {
        let store = SessionStore::new(Duration::ZERO, 10, 10);
        let alice = AuthInfo::new("alice");
        let session = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.get(&session.id, &alice).is_err());
        store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.sweep(), 1);
        assert_eq!(store.len(), 0);
    }
}
