//! Long-lived streams (`subscriptions/listen`): how many each caller holds open, and when
//! each one must end.
//!
//! A listen stream costs a connection, a task and a timer for as long as it stays open, and
//! nothing in the protocol ends it: without a bound one caller could hold any number, and a
//! stream would outlive the token that opened it (a revoked or expired token would keep
//! receiving whatever the server sends). So each caller (the principal of its token) holds at
//! most [`McpServerBuilder::max_streams_per_principal`](crate::McpServerBuilder::max_streams_per_principal)
//! streams in this process, one more is refused with `429` before any stream opens, and every
//! stream ends when the token that opened it expires; the client then opens another with a
//! fresh token. A token without an expiry (a verifier that reports none) keeps its stream
//! until the client or the server closes it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::auth::AuthInfo;

/// The streams open in this process, counted per principal.
pub(crate) struct OpenStreams {
    max_per_principal: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl OpenStreams {
    pub(crate) fn new(max_per_principal: usize) -> Arc<OpenStreams> {
        Arc::new(OpenStreams {
            max_per_principal,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more stream of `principal`, held until the slot is dropped; `None` when
    /// the principal holds its maximum already.
    pub(crate) fn open(self: &Arc<Self>, principal: String) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(principal.clone()).or_insert(0);
        if *count >= self.max_per_principal {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            streams: self.clone(),
            principal,
        })
    }

    #[cfg(test)]
    fn held_by(&self, principal: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(principal).copied().unwrap_or(0)
    }
}

impl crate::observe::Gauge for OpenStreams {
    fn open(&self) -> u64 {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values().sum::<usize>() as u64
    }
}

/// One open stream of a principal; dropping it gives the slot back.
pub(crate) struct StreamSlot {
    streams: Arc<OpenStreams>,
    principal: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

impl fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSlot").finish_non_exhaustive()
    }
}

/// When a stream opened with `auth` must end: its token's expiry, on tokio's clock; `None`
/// when the token has none or it is too far ahead to represent.
pub(crate) fn deadline_of(auth: &AuthInfo) -> Option<tokio::time::Instant> {
    let expires_at = auth.expires_at()?;
    let left = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::Instant::now().checked_add(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_principal_and_given_back() {
        let streams = OpenStreams::new(2);
        let a1 = streams.open("a".into()).unwrap();
        let _a2 = streams.open("a".into()).unwrap();
        assert!(streams.open("a".into()).is_none());
        let _b = streams.open("b".into()).unwrap();
        drop(a1);
        assert_eq!(streams.held_by("a"), 1);
        let _a3 = streams.open("a".into()).unwrap();
        assert!(streams.open("a".into()).is_none());
    }

    #[test]
    fn deadlines_follow_the_token_and_survive_far_futures() {
        let none = AuthInfo::new("a");
        assert!(deadline_of(&none).is_none());
        let past = AuthInfo::new("a").with_expires_at(SystemTime::UNIX_EPOCH);
        assert!(deadline_of(&past).unwrap() <= tokio::time::Instant::now());
        let far = AuthInfo::new("a").with_expires_at(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(u32::MAX) * 64),
        );
        // Whatever the platform's clock can hold: no panic.
        let _ = deadline_of(&far);
    }
}
