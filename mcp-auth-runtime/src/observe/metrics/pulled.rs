//! Instruments read at scrape time rather than pushed: counters the request path bumps with
//! one relaxed atomic add (a token cache lookup, a key-set fetch, a rate-limit rejection), and
//! counts it already keeps (open sessions, open streams). The parts of a server that own them
//! exist before the server's [`Metrics`](super::Metrics) is known, and a verifier may serve two
//! servers; so each keeps its own counters, and `McpServerBuilder::build` attaches them to
//! the server's metrics, which sum what is attached when asked.

#![cfg_attr(
    not(any(feature = "prometheus", feature = "opentelemetry")),
    allow(dead_code, reason = "read by the exporters, and no exporter is built")
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Events counted by their outcome, good or not: a cache's hits and misses, a key set's
/// successful and failed fetches.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    good: AtomicU64,
    bad: AtomicU64,
}

impl Outcomes {
    /// Counts one event: a hit, a successful fetch (`good`), or not.
    pub(crate) fn record(&self, good: bool) {
        let counter = if good { &self.good } else { &self.bad };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> [u64; 2] {
        [
            self.good.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        ]
    }
}

/// Hits and misses of one cache.
pub(crate) type Lookups = Outcomes;

/// Successful and failed fetches of a key set.
pub(crate) type Fetches = Outcomes;

/// A count of events (rejections by one limit).
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Which token cache: the `cache` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheKind {
    /// `JwtVerifier`'s verified tokens.
    Jwt,
    /// `IntrospectionVerifier`'s answers.
    Introspection,
}

/// Which limit refused: the `limit` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// A caller over its request budget.
    RequestBudget,
    /// A caller over a tool's rate limit.
    Tool,
    /// A peer with too many failed credentials.
    Failures,
}

impl Limit {
    pub(super) const ALL: [Limit; 3] = [Limit::RequestBudget, Limit::Tool, Limit::Failures];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Limit::RequestBudget => "request_budget",
            Limit::Tool => "tool",
            Limit::Failures => "failures",
        }
    }
}

/// Something that knows how many of a thing are open now (sessions, streams).
pub(crate) trait Gauge: Send + Sync + 'static {
    fn open(&self) -> u64;
}

/// What is attached to one [`Metrics`](super::Metrics). Sources are held weakly where they
/// belong to a server (a gauge), so that metrics outliving a server do not keep it alive.
#[derive(Default)]
pub(super) struct Sources {
    caches: Mutex<Vec<(CacheKind, Arc<Lookups>)>>,
    fetches: Mutex<Vec<Arc<Fetches>>>,
    rejections: Mutex<Vec<(Limit, Arc<Count>)>>,
    sessions: Mutex<Vec<Weak<dyn Gauge>>>,
    streams: Mutex<Vec<Weak<dyn Gauge>>>,
}

/// The pulled values at one instant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot {
    /// `[jwt, introspection]` × `[hits, misses]`.
    pub(super) lookups: [[u64; 2]; 2],
    /// `[ok, error]`.
    pub(super) fetches: [u64; 2],
    /// By [`Limit::ALL`].
    pub(super) rejections: [u64; 3],
    pub(super) sessions: u64,
    pub(super) streams: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds `item` unless that very counter is attached already (a verifier shared by two
/// servers with one `Metrics` is counted once).
fn attach<K: PartialEq, T>(list: &Mutex<Vec<(K, Arc<T>)>>, kind: K, item: &Arc<T>) {
    let mut list = lock(list);
    if !list.iter().any(|(_, have)| Arc::ptr_eq(have, item)) {
        list.push((kind, item.clone()));
    }
}

impl Sources {
    pub(super) fn cache(&self, kind: CacheKind, lookups: &Arc<Lookups>) {
        attach(&self.caches, kind, lookups);
    }

    pub(super) fn fetches(&self, fetches: &Arc<Fetches>) {
        let mut list = lock(&self.fetches);
        if !list.iter().any(|have| Arc::ptr_eq(have, fetches)) {
            list.push(fetches.clone());
        }
    }

    pub(super) fn rejections(&self, limit: Limit, count: &Arc<Count>) {
        attach(&self.rejections, limit, count);
    }

    pub(super) fn sessions(&self, gauge: Weak<dyn Gauge>) {
        lock(&self.sessions).push(gauge);
    }

    pub(super) fn streams(&self, gauge: Weak<dyn Gauge>) {
        lock(&self.streams).push(gauge);
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (kind, lookups) in lock(&self.caches).iter() {
            add(&mut snapshot.lookups[*kind as usize], lookups.get());
        }
        for fetches in lock(&self.fetches).iter() {
            add(&mut snapshot.fetches, fetches.get());
        }
        for (limit, count) in lock(&self.rejections).iter() {
            snapshot.rejections[*limit as usize] += count.get();
        }
        snapshot.sessions = sum_live(&self.sessions);
        snapshot.streams = sum_live(&self.streams);
        snapshot
    }
}

fn add(sum: &mut [u64; 2], more: [u64; 2]) {
    sum[0] += more[0];
    sum[1] += more[1];
}

/// The sum of the gauges still alive; the dead ones are forgotten.
fn sum_live(gauges: &Mutex<Vec<Weak<dyn Gauge>>>) -> u64 {
    let mut gauges = lock(gauges);
    let mut sum = 0;
    gauges.retain(|gauge| match gauge.upgrade() {
        Some(gauge) => {
            sum += gauge.open();
            true
        }
        None => false,
    });
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);

    impl Gauge for Fixed {
        fn open(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn snapshots_sum_what_is_attached_once_and_forget_dropped_gauges() {
        let sources = Sources::default();
        let jwt = Arc::new(Lookups::default());
        sources.cache(CacheKind::Jwt, &jwt);
        sources.cache(CacheKind::Jwt, &jwt);
        jwt.record(true);
        jwt.record(true);
        jwt.record(false);
        let budget = Arc::new(Count::default());
        sources.rejections(Limit::RequestBudget, &budget);
        budget.add();
        let kept: Arc<dyn Gauge> = Arc::new(Fixed(3));
        let dropped: Arc<dyn Gauge> = Arc::new(Fixed(5));
        sources.sessions(Arc::downgrade(&kept));
        sources.sessions(Arc::downgrade(&dropped));
        drop(dropped);
        let snapshot = sources.snapshot();
        assert_eq!(snapshot.lookups, [[2, 1], [0, 0]]);
        assert_eq!(snapshot.rejections, [1, 0, 0]);
        assert_eq!(snapshot.sessions, 3);
        assert_eq!(lock(&sources.sessions).len(), 1);
    }
}
