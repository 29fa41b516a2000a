//! The client for Prometheus-compatible stores (Prometheus, VictoriaMetrics, Thanos, Mimir)
//! that `sextant-adapter` and `sextant-controller` share.
//!
//! The store is reached through one narrow trait, [`MetricsStore`] — series, instant query,
//! range query — with one real implementation over HTTP ([`HttpStore`]) and an instrumented
//! wrapper ([`Instrumented`]) that records request counts and latencies, and a wrapper
//! ([`Coalescing`]) that makes identical concurrent instant queries once. Every call carries a
//! deadline, sent to the store as its `timeout` so a slow query is cancelled there too, and
//! every failure is classified ([`Error`]) so an API answer can say what went wrong.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

mod coalesce;
mod config;
mod error;
mod http;
mod instrumented;
mod keyed_samples;
mod response;
mod same_poll;
mod shapes;
mod tls;
mod transport;

pub use coalesce::Coalescing;
pub use config::{BasicAuth, QueryMethod, StoreConfig};
pub use error::{Error, Result};
pub use http::HttpStore;
pub use instrumented::{Instrumented, StoreMetrics};
pub use keyed_samples::{KeyedSample, KeyedSamples};
pub use shapes::shapes_of;

/// A series' labels, `__name__` included where the store returns it.
pub type Labels = BTreeMap<String, String>;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// The sample's own time (for an instant query, the evaluation time).
    pub timestamp: Timestamp,
    /// The value; may be NaN or infinite, as the store computed it.
    pub value: f64,
}

/// One series of a range query, its points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// (time, value) points in increasing time order.
    pub points: Vec<(Timestamp, f64)>,
}

/// The time span and resolution of a range query or a series lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Timestamp,
    /// Inclusive end.
    pub end: Timestamp,
}

/// Reads the body of a successful `/api/v1/query` answer as [`HttpStore`] does, for code that
/// holds such a body already (a recorded answer, a benchmark's canned one).
pub fn read_instant_answer(body: &[u8]) -> Result<Vec<Sample>> {
    response::instant(200, body)
}

/// Reads the body of a successful `/api/v1/query` answer as [`HttpStore`] does for
/// [`MetricsStore::instant_query_by`] with `label`.
pub fn read_instant_answer_by(body: &[u8], label: &str) -> Result<KeyedSamples> {
    response::instant_by(200, body, label)
}

/// `samples` reduced to their label `label`, those without it left out.
fn keyed_by(samples: &[Sample], label: &str) -> KeyedSamples {
    samples
        .iter()
        .filter_map(|sample| {
            Some(KeyedSample {
                key: sample.labels.get(label)?,
                timestamp: sample.timestamp,
                value: sample.value,
            })
        })
        .collect()
}

/// What Sextant needs from a metrics store, and nothing more.
pub trait MetricsStore: Send + Sync {
    /// The label sets of series matching any of `matchers` (PromQL series selectors) within
    /// `range` (`/api/v1/series`), used by metric discovery.
    fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send;

    /// As [`MetricsStore::series`], folded into one label set per distinct combination of
    /// metric name and label names, every value but `__name__` empty: all that metric discovery
    /// needs, at a fraction of the memory (see [`shapes_of`]).
    fn series_shapes(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Labels>>> + Send {
        async move {
            let series = self.series(matchers, range, deadline).await?;
            Ok(shapes_of(&series))
        }
    }

    /// The metric names of the series matching any of `matchers` within `range`
    /// (`/api/v1/label/__name__/values`): a cheap check for metrics that appeared since the last
    /// relist.
    fn metric_names(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<String>>> + Send {
        async move {
            let shapes = self.series_shapes(matchers, range, deadline).await?;
            let mut names: Vec<String> = shapes
                .into_iter()
                .filter_map(|mut labels| labels.remove("__name__"))
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        }
    }

    /// The type (`counter`, `gauge`, `histogram`, …) the store's metadata gives each metric
    /// name (`/api/v1/metadata`), for recognising counters without the `_total` suffix. Stores
    /// without metadata answer an empty map.
    fn metric_types(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = Result<BTreeMap<String, String>>> + Send {
        let _ = deadline;
        std::future::ready(Ok(BTreeMap::new()))
    }

    /// Evaluates `query` at `at` (the store's "now" when `None`); a scalar answer becomes one
    /// sample without labels.
    fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Sample>>> + Send;

    /// Evaluates `query` as [`MetricsStore::instant_query`] does, each sample reduced to the
    /// value of its label `label` (samples without it are left out, a scalar has none): all
    /// that answering per object needs, read without building label maps. The answer may be
    /// shared with the other callers of the same query at the same moment ([`Coalescing`]
    /// hands them all one), so none of them copies it. A store that wraps another forwards
    /// this call to it, or a [`Coalescing`] inside it would go unused.
    fn instant_query_by(
        &self,
        query: &str,
        label: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Arc<KeyedSamples>>> + Send {
        async move {
            let samples = self.instant_query(query, at, deadline).await?;
            Ok(Arc::new(keyed_by(&samples, label)))
        }
    }

    /// Evaluates `query` over `range` every `step`.
    fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<RangeSeries>>> + Send;
}
