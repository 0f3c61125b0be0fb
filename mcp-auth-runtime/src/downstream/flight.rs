//! Single flight: one exchange per (inbound token, downstream, scopes) however many calls ask
//! for it at once. The request runs on a task of its own, so that it completes and its token
//! is cached even if every call waiting for it goes away; the flight leaves the map when the
//! task ends, after the token is cached, so that a later call finds one or the other.
//!
//! At most [`MAX_IN_FLIGHT`] exchanges run at once; past that, calls fail closed rather than
//! queue without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::cache::CacheKey;
use super::{Downstream, DownstreamToken, ExchangeError, Inner, SubjectToken, TokenExchange};

/// The most exchanges under way at once: 256.
const MAX_IN_FLIGHT: usize = 256;

/// What one exchange gives, shared by every call waiting for it.
pub(super) type Outcome = Result<DownstreamToken, ExchangeError>;
type Landing = Shared<BoxFuture<'static, Outcome>>;

/// Exchanges under way, by [`CacheKey`], each with an id so that a flight leaving the map
/// never removes its successor.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<CacheKey, (u64, Landing)>>,
    next_id: AtomicU64,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, (u64, Landing)>> {
        // Every critical section leaves the map consistent.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TokenExchange {
    /// The token for `key`: from the cache, from the exchange under way for it, or from a new
    /// one.
    pub(super) async fn fly(
        &self,
        key: CacheKey,
        subject: &SubjectToken,
        downstream: &Downstream,
    ) -> Outcome {
        let landing = {
            let inner = &*self.inner;
            let mut flights = inner.flights.lock();
            // A flight that landed since the caller's lookup cached its token before leaving.
            if let Some(token) = inner.cache.get(&key) {
                return Ok(token);
            }
            if let Some((_, landing)) = flights.get(&key) {
                landing.clone()
            } else if flights.len() >= MAX_IN_FLIGHT {
                return Err(ExchangeError::Unavailable(format!(
                    "{MAX_IN_FLIGHT} token exchanges already under way"
                )));
            } else {
                let id = inner.flights.next_id.fetch_add(1, Ordering::Relaxed);
                let landing = self.launch(key, id, subject.clone(), downstream.clone());
                flights.insert(key, (id, landing.clone()));
                landing
            }
        };
        landing.await
    }

    /// Runs the exchange on a task of its own; called with the map locked, so that the task
    /// cannot leave it before it is entered.
    fn launch(
        &self,
        key: CacheKey,
        id: u64,
        subject: SubjectToken,
        downstream: Downstream,
    ) -> Landing {
        let exchange = self.clone();
        let task = tokio::spawn(async move {
            let _departure = Departure {
                inner: exchange.inner.clone(),
                key,
                id,
            };
            let issued = exchange.request(&subject, &downstream).await?;
            let cache = &exchange.inner.cache;
            cache.remember(key, &issued.token, issued.lifetime, &subject);
            Ok(issued.token)
        });
        async move {
            task.await.unwrap_or_else(|_| {
                Err(ExchangeError::Unavailable(
                    "the exchange task panicked".into(),
                ))
            })
        }
        .boxed()
        .shared()
    }
}

/// Removes a flight from [`Flights`] when its task ends, however it ends (a panic included),
/// after its token is cached.
struct Departure {
    inner: Arc<Inner>,
    key: CacheKey,
    id: u64,
}

impl Drop for Departure {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock();
        let left = flights
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
            .then(|| flights.remove(&self.key));
        // The landing's last handle may go with the entry: dropped after the lock.
        drop(flights);
        drop(left);
    }
}
