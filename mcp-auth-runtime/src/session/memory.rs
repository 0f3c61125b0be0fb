//! Sessions kept in this process: the default, for a server that runs as one replica.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::{Limits, Session, SessionError};
use crate::auth::AuthInfo;
use crate::peer::{ClientSupport, LogLevel};

/// One session, as this process keeps it.
struct Entry {
    /// Issuer, subject and client of the token that opened it.
    principal: String,
    version: &'static str,
    support: ClientSupport,
    log_level: AtomicU8,
    /// Milliseconds since the store's epoch at the last request.
    last_seen: AtomicU64,
    /// Milliseconds since the store's epoch at creation.
    created: u64,
    /// Creation order, which breaks ties between sessions last seen in the same millisecond.
    serial: u64,
    /// The URIs the session subscribed to (`resources/subscribe`), at most the configured
    /// maximum; they end with the session.
    /// With each, the conditional scopes of its resource that the subscribing token held
    /// (space-separated), which delivery requires of the stream's token.
    subscriptions: Mutex<HashMap<String, String>>,
}

/// The sessions by id, and their ids by principal: opening a session looks at its
/// principal's sessions only (at most `max_per_principal`), never at every session, so that
/// opening `n` sessions costs `n` steps, not `n²`.
#[derive(Default)]
struct Store {
    sessions: HashMap<String, Arc<Entry>>,
    by_principal: HashMap<String, Vec<String>>,
}

impl Store {
    fn len(&self) -> usize {
        self.sessions.len()
    }

    fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.sessions.get(id)
    }

    fn insert(&mut self, id: String, entry: Arc<Entry>) {
        self.by_principal
            .entry(entry.principal.clone())
            .or_default()
            .push(id.clone());
        self.sessions.insert(id, entry);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.sessions.remove(id)?;
        self.forget(&entry.principal, id);
        Some(entry)
    }

    /// Drops `id` from its principal's list, and the list once it is empty.
    fn forget(&mut self, principal: &str, id: &str) {
        if let Some(ids) = self.by_principal.get_mut(principal) {
            ids.retain(|own| own != id);
            if ids.is_empty() {
                self.by_principal.remove(principal);
            }
        }
    }

    /// The ids of `principal`'s sessions.
    fn own(&self, principal: &str) -> &[String] {
        self.by_principal.get(principal).map_or(&[], Vec::as_slice)
    }
}

/// The sessions of one server, in this process.
pub(crate) struct MemorySessions {
    sessions: RwLock<Store>,
    epoch: Instant,
    serials: AtomicU64,
    /// When expired sessions were last dropped, in milliseconds since `epoch`.
    last_sweep: AtomicU64,
    limits: Limits,
    /// Where the duration of each ended session is recorded, once a server's metrics are
    /// attached.
    metrics: std::sync::OnceLock<crate::observe::Metrics>,
}

impl fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessions")
            .field("open", &self.len())
            .field("limits", &self.limits)
            .finish()
    }
}

impl MemorySessions {
    pub(crate) fn new(limits: Limits) -> Self {
        MemorySessions {
            sessions: RwLock::default(),
            epoch: Instant::now(),
            serials: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            limits,
            metrics: std::sync::OnceLock::new(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn idle_ms(&self) -> u64 {
        self.limits.idle_timeout.as_millis() as u64
    }

    fn expired(&self, entry: &Entry, now: u64) -> bool {
        now.saturating_sub(entry.last_seen.load(Ordering::Relaxed)) > self.idle_ms()
    }

    /// Records the duration of each session that ends from now on in `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &crate::observe::Metrics) {
        let _ = self.metrics.set(metrics.clone());
    }

    /// Records that `entry` ended at `at` (milliseconds since the epoch).
    fn ended(&self, entry: &Entry, at: u64) {
        if let Some(metrics) = self.metrics.get() {
            let lasted = std::time::Duration::from_millis(at.saturating_sub(entry.created));
            metrics.record_session_end(lasted, Some(entry.version), None);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(crate) fn create(
        &self,
        auth: &AuthInfo,
        version: &'static str,
        support: ClientSupport,
    ) -> Result<Arc<Session>, SessionError> {
        let principal = auth.principal_key().to_owned();
        let now = self.now();
        let id = crate::random::token(32);
        let entry = Arc::new(Entry {
            principal: principal.clone(),
            version,
            support,
            log_level: AtomicU8::new(LogLevel::Debug.as_u8()),
            last_seen: AtomicU64::new(now),
            created: now,
            serial: self.serials.fetch_add(1, Ordering::Relaxed),
            subscriptions: Mutex::default(),
        });
        // Expired sessions are dropped when room is needed, and at least once per idle
        // timeout, so that they never pile up.
        let since_sweep = now.saturating_sub(self.last_sweep.load(Ordering::Relaxed));
        if self.len() >= self.limits.max_sessions || since_sweep > self.idle_ms() {
            self.sweep();
        }
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= self.limits.max_sessions {
            return Err(SessionError::Full(sessions.len()));
        }
        let mut own: Vec<(&String, (u64, u64))> = sessions
            .own(&principal)
            .iter()
            .filter_map(|id| {
                let s = sessions.get(id)?;
                Some((id, (s.last_seen.load(Ordering::Relaxed), s.serial)))
            })
            .collect();
        if own.len() >= self.limits.max_per_principal {
            own.sort_by_key(|(_, order)| *order);
            let evict: Vec<String> = own[..=own.len() - self.limits.max_per_principal]
                .iter()
                .map(|(id, _)| (*id).clone())
                .collect();
            for id in evict {
                if let Some(evicted) = sessions.remove(&id) {
                    self.ended(&evicted, now);
                }
            }
        }
        sessions.insert(id.clone(), entry);
        Ok(Arc::new(Session {
            id,
            version,
            support,
            log_level: LogLevel::Debug,
        }))
    }

    /// The entry `id`, if it is live and belongs to `auth`'s principal; marks it used.
    fn entry(&self, id: &str, auth: &AuthInfo) -> Result<Arc<Entry>, SessionError> {
        let now = self.now();
        let entry = {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            sessions.get(id).cloned()
        };
        let Some(entry) = entry else {
            return Err(SessionError::NotFound);
        };
        if self.expired(&entry, now) {
            self.sessions
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            return Err(SessionError::NotFound);
        }
        if entry.principal != auth.principal_key() {
            tracing::warn!(
                subject = auth.subject(),
                client_id = auth.client_id(),
                "a session id was presented with another principal's token; refused"
            );
            return Err(SessionError::NotFound);
        }
        entry.last_seen.store(now, Ordering::Relaxed);
        Ok(entry)
    }

    pub(crate) fn get(&self, id: &str, auth: &AuthInfo) -> Result<Arc<Session>, SessionError> {
        let entry = self.entry(id, auth)?;
        Ok(Arc::new(Session {
            id: id.to_owned(),
            version: entry.version,
            support: entry.support,
            log_level: LogLevel::from_u8(entry.log_level.load(Ordering::Relaxed)),
        }))
    }

    pub(crate) fn set_log_level(
        &self,
        id: &str,
        auth: &AuthInfo,
        level: LogLevel,
    ) -> Result<(), SessionError> {
        let entry = self.entry(id, auth)?;
        entry.log_level.store(level.as_u8(), Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn remove(&self, id: &str, auth: &AuthInfo) -> Result<(), SessionError> {
        self.entry(id, auth)?;
        let removed = self
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some(removed) = removed {
            self.ended(&removed, self.now());
        }
        Ok(())
    }

    /// Records that the session subscribed to `uri`: `Ok(false)` when it holds `max`
    /// subscriptions already (subscribing again to one it holds is not one more).
    pub(crate) fn subscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
        held: &str,
        max: usize,
    ) -> Result<bool, SessionError> {
        let entry = self.entry(id, auth)?;
        let mut subscriptions = entry
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !subscriptions.contains_key(uri) && subscriptions.len() >= max {
            return Ok(false);
        }
        subscriptions.insert(uri.to_owned(), held.to_owned());
        Ok(true)
    }

    /// Forgets the session's subscription to `uri`, if it has one.
    pub(crate) fn unsubscribe(
        &self,
        id: &str,
        auth: &AuthInfo,
        uri: &str,
    ) -> Result<(), SessionError> {
        let entry = self.entry(id, auth)?;
        entry
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uri);
        Ok(())
    }

    /// The conditional scopes recorded with the live session `id`'s subscription to `uri`;
    /// `None` when it has none, or for an unknown or expired session. Does not mark the
    /// session used: a notification is no request of its client.
    pub(crate) fn subscribed(&self, id: &str, uri: &str) -> Option<String> {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        let entry = sessions
            .get(id)
            .filter(|entry| !self.expired(entry, self.now()))?;
        let subscriptions = entry
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscriptions.get(uri).cloned()
    }

    /// Drops every expired session.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.now();
        self.last_sweep.store(now, Ordering::Relaxed);
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        let mut gone = Vec::new();
        sessions.sessions.retain(|id, s| {
            let expired = self.expired(s, now);
            if expired {
                // It ended when it went idle too long, not when it was noticed.
                let last_seen = s.last_seen.load(Ordering::Relaxed);
                self.ended(s, last_seen.saturating_add(self.idle_ms()));
                gone.push((s.principal.clone(), id.clone()));
            }
            !expired
        });
        for (principal, id) in gone {
            sessions.forget(&principal, &id);
        }
        before - sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(idle: Duration, max: usize, per: usize) -> Limits {
        Limits {
            idle_timeout: idle,
            max_sessions: max,
            max_per_principal: per,
        }
    }

    fn store(max: usize, per: usize) -> MemorySessions {
        MemorySessions::new(limits(Duration::from_secs(60), max, per))
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

    /// The index of sessions by principal follows every way a session ends: eviction,
    /// removal, expiry found on use and the sweep; a principal's limit counts only its live
    /// sessions, and no principal's list outlives its sessions.
    #[test]
    fn the_index_by_principal_follows_every_way_a_session_ends() {
        let store = MemorySessions::new(limits(Duration::from_millis(50), 100, 2));
        let alice = AuthInfo::new("alice");
        let bob = AuthInfo::new("bob");
        let open = |auth: &AuthInfo| {
            store
                .create(auth, "2025-11-25", ClientSupport::default())
                .unwrap()
        };
        let indexed = |store: &MemorySessions| {
            let store = store.sessions.read().unwrap();
            let listed: usize = store.by_principal.values().map(Vec::len).sum();
            assert_eq!(listed, store.len(), "every session listed once");
            for (principal, ids) in &store.by_principal {
                assert!(!ids.is_empty());
                for id in ids {
                    assert_eq!(&store.sessions[id].principal, principal);
                }
            }
            store.by_principal.len()
        };
        let (a1, a2, a3) = (open(&alice), open(&alice), open(&alice));
        assert!(store.get(&a1.id, &alice).is_err(), "evicted");
        assert!(store.get(&a2.id, &alice).is_ok() && store.get(&a3.id, &alice).is_ok());
        let b1 = open(&bob);
        assert_eq!(indexed(&store), 2);
        store.remove(&b1.id, &bob).unwrap();
        assert_eq!(indexed(&store), 1, "bob's list went with his last session");
        std::thread::sleep(Duration::from_millis(80));
        assert!(store.get(&a2.id, &alice).is_err(), "expired, found on use");
        assert_eq!(indexed(&store), 1);
        assert_eq!(store.sweep(), 1);
        assert_eq!(indexed(&store), 0);
        // Alice may open her two sessions again: the limit counts live sessions only.
        let (a4, a5) = (open(&alice), open(&alice));
        assert!(store.get(&a4.id, &alice).is_ok() && store.get(&a5.id, &alice).is_ok());
        assert_eq!(indexed(&store), 1);
    }

    #[test]
    fn subscriptions_are_bounded_bound_to_the_principal_and_end_with_the_session() {
        let store = store(10, 10);
        let alice = AuthInfo::new("alice");
        let bob = AuthInfo::new("bob");
        let session = store
            .create(&alice, "2025-11-25", ClientSupport::default())
            .unwrap();
        let id = &session.id;
        assert_eq!(store.subscribe(id, &alice, "a://1", "", 2), Ok(true));
        assert_eq!(
            store.subscribe(id, &alice, "a://1", "", 2),
            Ok(true),
            "again"
        );
        assert_eq!(store.subscribe(id, &alice, "a://2", "", 2), Ok(true));
        assert_eq!(
            store.subscribe(id, &alice, "a://3", "", 2),
            Ok(false),
            "full"
        );
        assert_eq!(
            store.subscribe(id, &bob, "a://3", "", 9),
            Err(SessionError::NotFound)
        );
        assert_eq!(
            store.unsubscribe(id, &bob, "a://1"),
            Err(SessionError::NotFound)
        );
        assert_eq!(store.subscribed(id, "a://1"), Some(String::new()));
        assert_eq!(store.unsubscribe(id, &alice, "a://unknown"), Ok(()));
        assert_eq!(store.unsubscribe(id, &alice, "a://1"), Ok(()));
        assert_eq!(store.subscribed(id, "a://1"), None);
        assert_eq!(store.subscribe(id, &alice, "a://3", "", 2), Ok(true));
        store.remove(id, &alice).unwrap();
        assert_eq!(store.subscribed(id, "a://2"), None);
    }

    #[test]
    fn idle_sessions_expire() {
        let store = MemorySessions::new(limits(Duration::ZERO, 10, 10));
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
