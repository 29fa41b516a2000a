//! Coalescing of identical concurrent instant queries: when many HPAs (or many replicas of one
//! client) ask the same question at once, the store is asked once and every caller gets the
//! same answer.
//!
//! A query in flight is keyed by its text and evaluation time. The first caller starts it as a
//! task of its own, with its deadline as the store's `timeout`, so the query finishes (and its
//! slot is freed) even if that caller gives up; callers arriving while it runs wait for its
//! result, each at most its own deadline (a caller with a longer deadline still gets the
//! flight's timeout if the store is slower than the first caller's). A caller arriving after it
//! finished starts a new query: answers are never served from a cache.
//! Series and range queries pass through unchanged.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::{Error, Labels, MetricsStore, RangeSeries, Result, Sample, TimeRange};

/// A query's text and evaluation time (`None` = the store's now).
type Key = (String, Option<Timestamp>);

/// The outcome of one query in flight, once known.
type Outcome = Option<Result<Arc<Vec<Sample>>>>;

/// Wraps a store so identical concurrent instant queries are made once.
#[derive(Debug)]
pub struct Coalescing<S> {
    inner: Arc<S>,
    in_flight: Arc<Mutex<HashMap<Key, watch::Receiver<Outcome>>>>,
}

impl<S> Coalescing<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Coalescing {
            inner,
            in_flight: Arc::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// How many distinct queries are in flight now (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().map(|map| map.len()).unwrap_or(0)
    }
}

impl<S: MetricsStore + 'static> Coalescing<S> {
    /// The receiver of the flight answering `key`, joining one in flight or starting one.
    fn join_or_start(&self, key: Key, deadline: Duration) -> Result<watch::Receiver<Outcome>> {
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| Error::Config("the query coalescing lock is poisoned".to_owned()))?;
        if let Some(flight) = in_flight.get(&key) {
            return Ok(flight.clone());
        }
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver.clone());
        let (inner, registry) = (Arc::clone(&self.inner), Arc::clone(&self.in_flight));
        // The lock is held until the entry is in, so the task cannot remove it first.
        tokio::spawn(async move {
            let result = inner.instant_query(&key.0, key.1, deadline).await;
            if let Ok(mut in_flight) = registry.lock() {
                in_flight.remove(&key);
            }
            // No receiver left is fine: everyone who asked gave up.
            let _ = sender.send(Some(result.map(Arc::new)));
        });
        Ok(receiver)
    }
}

impl<S: MetricsStore + 'static> MetricsStore for Coalescing<S> {
    fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send {
        self.inner.series(matchers, range, deadline)
    }

    fn metric_names(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<String>>> + Send {
        self.inner.metric_names(matchers, range, deadline)
    }

    fn metric_types(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = Result<std::collections::BTreeMap<String, String>>> + Send {
        self.inner.metric_types(deadline)
    }

    fn series_shapes(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send {
        self.inner.series_shapes(matchers, range, deadline)
    }

    fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Sample>>> + Send {
        let shared = self.shared_instant_query(query, at, deadline);
        // The last one to let go of the flight usually takes the samples without copying them
        // (nobody else asked the same question at the same moment, and the flight's task has
        // let go of its sender); otherwise they are copied.
        async move {
            let samples = shared.await?;
            Ok(Arc::try_unwrap(samples).unwrap_or_else(|shared| shared.as_ref().clone()))
        }
    }

    fn shared_instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Arc<Vec<Sample>>>> + Send {
        let flight = self.join_or_start((query.to_owned(), at), deadline);
        async move {
            let mut flight = flight?;
            let ended = || Error::Unavailable {
                url: String::new(),
                reason: "the query task ended without an answer".to_owned(),
            };
            let outcome = tokio::time::timeout(deadline, flight.wait_for(Option::is_some))
                .await
                .map_err(|_| Error::Timeout { deadline })?
                .map_err(|_| ended())?
                .clone();
            outcome.unwrap_or_else(|| Err(ended()))
        }
    }

    fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<RangeSeries>>> + Send {
        self.inner.range_query(query, range, step, deadline)
    }
}

#[cfg(test)]
mod tests;
