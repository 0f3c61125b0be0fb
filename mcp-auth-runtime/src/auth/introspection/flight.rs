//! Single flight and the bound on introspection requests: one request per token however
//! many requests carry it, at most `max_concurrent_requests` in flight, at most
//! `max_queued_requests` tokens waiting, and nothing left behind by clients that went away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, WeakShared};
use tokio::sync::OwnedSemaphorePermit;

use super::{CacheKey, Inner, IntrospectionVerifier, Outcome};
use crate::auth::AuthError;

impl IntrospectionVerifier {
    /// The flight that will give the verdict on `token`: the one under way for the same
    /// token, or a new one. `Err` is a verdict known without a flight: from the cache, or a
    /// refusal because the queue is full.
    pub(super) fn board(&self, key: CacheKey, token: &str) -> Result<Verdict, Outcome> {
        let inner = &*self.inner;
        let mut flights = inner.flights.lock();
        // A flight that landed since the caller's lookup cached its verdict before leaving
        // the map.
        if let Some(outcome) = inner.cache.get(&key) {
            return Err(outcome);
        }
        match flights.get(&key).map(|flight| &flight.stage) {
            Some(Stage::Sent(verdict)) => return Ok(verdict.clone()),
            Some(Stage::Queued(waiting)) => {
                // `None`: its last waiter has just left, and it is going away; replaced below.
                if let Some(verdict) = waiting.upgrade() {
                    return Ok(verdict);
                }
            }
            None => {}
        }
        let id = inner.flights.next_id.fetch_add(1, Ordering::Relaxed);
        // The semaphore is fair: no permit is free while tokens wait, so this never jumps
        // the queue.
        if let Ok(permit) = inner.permits.clone().try_acquire_owned() {
            return Ok(self.send(&mut flights, key, id, token.to_owned(), permit));
        }
        // Checked and counted under the map's lock, so the bound holds; leaving the queue
        // only lowers the count.
        if inner.flights.queued.load(Ordering::Relaxed) >= inner.max_queued_requests {
            return Err(Err(AuthError::Unavailable(format!(
                "{} introspection requests already in flight and {} tokens waiting for one \
                 to finish",
                inner.max_concurrent_requests, inner.max_queued_requests
            ))));
        }
        let verdict = self.queue(key, id, token.to_owned());
        if let Some(waiting) = verdict.downgrade() {
            let stage = Stage::Queued(waiting);
            flights.insert(key, Flight { id, stage });
        }
        Ok(verdict)
    }

    /// A flight waiting for a request slot, then sending its request. Until it holds a slot
    /// it runs only while a request awaits its verdict (the map holds it weakly): dropped
    /// with the last of them, it forgets the token and leaves the queue and the map.
    fn queue(&self, key: CacheKey, id: u64, token: String) -> Verdict {
        let verifier = self.clone();
        // Made here rather than in the future, so that they act even if it is never polled.
        let waiting = Waiting::enter(self.inner.clone());
        let departure = Departure {
            inner: self.inner.clone(),
            key,
            id,
            sent: false,
        };
        async move {
            let inner = &*verifier.inner;
            let permit =
                tokio::time::timeout(inner.timeout, inner.permits.clone().acquire_owned()).await;
            drop(waiting);
            let Ok(Ok(permit)) = permit else {
                return Err(AuthError::Unavailable(format!(
                    "{} introspection requests already in flight; none finished within {:?}",
                    inner.max_concurrent_requests, inner.timeout
                )));
            };
            let verdict = verifier.send(&mut inner.flights.lock(), key, id, token, permit);
            // The map now holds the sent request under the same id: the departure leaves it.
            drop(departure);
            verdict.await
        }
        .boxed()
        .shared()
    }

    /// Sends the introspection of `token` on a task of its own, holding `permit`, so that it
    /// completes and its verdict is cached even if every request waiting for it goes away.
    /// Records it in `flights`, locked by the caller, before the task can land.
    fn send(
        &self,
        flights: &mut HashMap<CacheKey, Flight>,
        key: CacheKey,
        id: u64,
        token: String,
        permit: OwnedSemaphorePermit,
    ) -> Verdict {
        let verifier = self.clone();
        let task = tokio::spawn(async move {
            let _landing = Departure {
                inner: verifier.inner.clone(),
                key,
                id,
                sent: true,
            };
            let (outcome, valid_from) = verifier.ask(&token).await;
            drop(permit);
            verifier.inner.cache.remember(key, &outcome, valid_from);
            outcome
        });
        let verdict = async move {
            task.await.unwrap_or_else(|_| {
                Err(AuthError::Unavailable(
                    "the introspection task panicked".into(),
                ))
            })
        }
        .boxed()
        .shared();
        let stage = Stage::Sent(verdict.clone());
        flights.insert(key, Flight { id, stage });
        verdict
    }
}

/// The verdict of one flight, awaited by every request with the same token.
type Verdict = Shared<BoxFuture<'static, Outcome>>;

/// Flights under way, by token digest: waiting for a request slot, or with their request sent.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<CacheKey, Flight>>,
    /// Flights waiting for a request slot.
    queued: AtomicUsize,
    /// Ids of flights, so that a flight leaving the map never removes its successor.
    next_id: AtomicU64,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Flight>> {
        // Every critical section leaves the map consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One token's flight: its id, and how far it got.
struct Flight {
    id: u64,
    stage: Stage,
}

/// Where a flight is: waiting for a request slot, or sent.
enum Stage {
    /// Waiting for a request slot, driven by the requests awaiting its verdict; held weakly so
    /// that it ends with the last of them.
    Queued(WeakShared<BoxFuture<'static, Outcome>>),
    /// Its request sent, on a task that finishes whoever waits.
    Sent(Verdict),
}

/// Counts a flight in [`Flights::queued`] until dropped: when it gets a request slot, gives
/// up waiting, or is dropped with its last waiter.
struct Waiting(Arc<Inner>);

impl Waiting {
    fn enter(inner: Arc<Inner>) -> Waiting {
        inner.flights.queued.fetch_add(1, Ordering::Relaxed);
        Waiting(inner)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.flights.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes a flight from [`Flights`] when it ends, however it ends: a flight that never sent
/// its request when it gives up or is dropped with its last waiter; a sent one when the task
/// sending its request ends (a panic included), after its verdict is cached.
struct Departure {
    inner: Arc<Inner>,
    key: CacheKey,
    id: u64,
    /// Whether it leaves as a sent flight. One that leaves the queue leaves the map only if it
    /// is still queued there: once sent, under the same id, the sending task removes it.
    sent: bool,
}

impl Drop for Departure {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock();
        let leaves = flights.get(&self.key).is_some_and(|flight| {
            flight.id == self.id && (self.sent || matches!(flight.stage, Stage::Queued(_)))
        });
        let left = leaves.then(|| flights.remove(&self.key));
        // The verdict's last handle may go with the entry: dropped after the lock.
        drop(flights);
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::auth::TokenVerifier;

    /// An endpoint that accepts connections and never answers, and a verifier with one
    /// request slot and room for `queue` tokens waiting.
    async fn stuck_verifier(queue: usize) -> (IntrospectionVerifier, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let verifier = IntrospectionVerifier::builder(url, "https://mcp.example.com/mcp")
            .max_concurrent_requests(1)
            .max_queued_requests(queue)
            .build()
            .unwrap();
        (verifier, listener)
    }

    fn state(verifier: &IntrospectionVerifier) -> (usize, usize) {
        let flights = &verifier.inner.flights;
        (flights.lock().len(), flights.queued.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_waiting_flight_leaves_the_map_and_the_queue_with_its_last_waiter() {
        let (verifier, _listener) = stuck_verifier(100).await;
        // Takes the only slot, and keeps it: its request is sent on a task of its own.
        assert!(verifier.verify("sent").now_or_never().is_none());
        assert_eq!(state(&verifier), (1, 0));
        let mut waiters: Vec<_> = (0..3).map(|_| verifier.verify("queued").boxed()).collect();
        for waiter in &mut waiters {
            assert!(waiter.now_or_never().is_none());
        }
        assert_eq!(state(&verifier), (2, 1), "three waiters, one flight");
        waiters.truncate(1);
        assert_eq!(state(&verifier), (2, 1), "a waiter is left");
        drop(waiters);
        assert_eq!(state(&verifier), (1, 0), "the last waiter left");
        for i in 0..100 {
            assert!(
                verifier
                    .verify(&format!("gone-{i}"))
                    .now_or_never()
                    .is_none()
            );
        }
        assert_eq!(state(&verifier), (1, 0));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_new_tokens_and_joins_waiting_ones() {
        let (verifier, _listener) = stuck_verifier(2).await;
        assert!(verifier.verify("sent").now_or_never().is_none());
        let mut waiters: Vec<_> = ["a", "b", "a"]
            .into_iter()
            .map(|token| verifier.verify(token).boxed())
            .collect();
        for waiter in &mut waiters {
            assert!(waiter.now_or_never().is_none());
        }
        assert_eq!(state(&verifier), (3, 2));
        let refused = verifier.verify("c").now_or_never();
        assert!(
            matches!(refused, Some(Err(AuthError::Unavailable(_)))),
            "{refused:?}"
        );
        let mut joined = verifier.verify("b").boxed();
        assert!((&mut joined).now_or_never().is_none(), "joins its flight");
        assert!(
            verifier.verify("sent").now_or_never().is_none(),
            "joins its flight"
        );
        assert_eq!(state(&verifier), (3, 2));

        let (verifier, _listener) = stuck_verifier(0).await;
        assert!(verifier.verify("sent").now_or_never().is_none());
        let refused = verifier.verify("c").now_or_never();
        assert!(
            matches!(refused, Some(Err(AuthError::Unavailable(_)))),
            "never waits"
        );
        assert_eq!(state(&verifier), (1, 0));
    }
}
