//! [`Instrumented`]: a [`MetricsStore`] wrapper that counts calls by outcome and times them,
//! so an operator can tell a slow store from a slow adapter.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{Error, KeyedSamples, Labels, MetricsStore, RangeSeries, Result, Sample, TimeRange};

/// Which store call.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Operation {
    Series,
    Names,
    Metadata,
    Query,
    QueryRange,
}

impl Operation {
    /// Every operation, in the order of their [`StoreMetrics`] handles.
    const ALL: [Operation; 5] = [
        Operation::Series,
        Operation::Names,
        Operation::Metadata,
        Operation::Query,
        Operation::QueryRange,
    ];
}

/// How a store call ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Outcome {
    Success,
    Unavailable,
    Timeout,
    BadResponse,
    QueryError,
    ConfigError,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: Operation,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: Operation,
}

/// The store metrics, registered once and shared by every wrapper clone.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    calls: Family<CallLabels, Counter>,
    /// Each operation's count of successful calls and its latency histogram (every
    /// operation's: the registry holds their family), by [`Operation::ALL`]'s order, taken
    /// from the families once, so a call is recorded without a family lookup (a lock and a
    /// hash of the labels each).
    answered: [(Counter, Histogram); 5],
}

impl StoreMetrics {
    /// Registers `store_requests_total` and `store_request_duration_seconds` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        let duration = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "store_requests",
            "Calls to the metrics store by operation and outcome",
            calls.clone(),
        );
        registry.register(
            "store_request_duration_seconds",
            "Time the metrics store took to answer",
            duration.clone(),
        );
        let answered = Operation::ALL.map(|operation| {
            (
                calls
                    .get_or_create(&CallLabels {
                        operation,
                        outcome: Outcome::Success,
                    })
                    .clone(),
                duration
                    .get_or_create(&OperationLabels { operation })
                    .clone(),
            )
        });
        StoreMetrics { calls, answered }
    }

    fn record<T>(&self, operation: Operation, started: Instant, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(Error::Unavailable { .. }) => Outcome::Unavailable,
            Err(Error::Timeout { .. }) => Outcome::Timeout,
            Err(Error::BadResponse { .. }) => Outcome::BadResponse,
            Err(Error::Query { .. }) => Outcome::QueryError,
            Err(Error::Config(_)) => Outcome::ConfigError,
        };
        let (succeeded, duration) = &self.answered[operation as usize];
        if outcome == Outcome::Success {
            succeeded.inc();
        } else {
            self.calls
                .get_or_create(&CallLabels { operation, outcome })
                .inc();
        }
        duration.observe(started.elapsed().as_secs_f64());
        if let Err(error) = result {
            tracing::warn!(?operation, %error, "metrics store call failed");
        }
    }
}

/// Wraps a store so every call is counted and timed.
#[derive(Debug, Clone)]
pub struct Instrumented<S> {
    inner: S,
    metrics: StoreMetrics,
}

impl<S> Instrumented<S> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: S, metrics: StoreMetrics) -> Self {
        Instrumented { inner, metrics }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S> Instrumented<S> {
    /// Awaits one store call, counting and timing it as `operation`.
    async fn timed<T, F: Future<Output = Result<T>>>(
        &self,
        operation: Operation,
        call: impl FnOnce() -> F,
    ) -> Result<T> {
        let started = Instant::now();
        // The call is made here, not handed in made: a future handed in is held twice in this
        // one (as an argument and while awaited), and a store call's state is kilobytes.
        let result = call().await;
        self.metrics.record(operation, started, &result);
        result
    }
}

impl<S: MetricsStore> MetricsStore for Instrumented<S> {
    async fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<Labels>> {
        self.timed(Operation::Series, || {
            self.inner.series(matchers, range, deadline)
        })
        .await
    }

    async fn metric_names(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<String>> {
        self.timed(Operation::Names, || {
            self.inner.metric_names(matchers, range, deadline)
        })
        .await
    }

    async fn metric_types(
        &self,
        deadline: Duration,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        self.timed(Operation::Metadata, || self.inner.metric_types(deadline))
            .await
    }

    async fn series_shapes(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<Labels>> {
        self.timed(Operation::Series, || {
            self.inner.series_shapes(matchers, range, deadline)
        })
        .await
    }

    async fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> Result<Vec<Sample>> {
        self.timed(Operation::Query, || {
            self.inner.instant_query(query, at, deadline)
        })
        .await
    }

    async fn instant_query_by(
        &self,
        query: &str,
        label: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> Result<std::sync::Arc<KeyedSamples>> {
        self.timed(Operation::Query, || {
            self.inner.instant_query_by(query, label, at, deadline)
        })
        .await
    }

    async fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> Result<Vec<RangeSeries>> {
        self.timed(Operation::QueryRange, || {
            self.inner.range_query(query, range, step, deadline)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_finds_its_own_handles() {
        // `record` indexes the handles by the operation's discriminant.
        for (index, operation) in Operation::ALL.into_iter().enumerate() {
            assert_eq!(operation as usize, index, "{operation:?}");
        }
    }
}
