//! The registry of servable metrics: which metric is served for which resource, by which rule
//! and on which series, refreshed by asking the store's `/api/v1/series` for every distinct
//! `seriesQuery` of the rules, a few at once.
//!
//! A relist builds a whole new [`Catalog`] and swaps it in at once, so a request sees either the
//! old or the new answer, never a mix; a failed relist keeps the previous catalog and reports the
//! error. The catalog holds only what serving needs, with every metric and series name interned
//! as one `Arc<str>` however many resources share it; label values are never kept.
//!
//! Between relists, every [`NEW_NAMES_INTERVAL`] ([`Registry::discover_new`]), the store is
//! asked only for the metric names each distinct selector matches; names the catalog has not
//! seen are looked up as below, so a new metric appears in discovery within that interval of
//! its first sample without waiting for the relist.
//!
//! Each catalog carries the configuration it was built with, so a reloaded configuration
//! ([`Registry::replace_config`]) takes effect whole at the next relist: a request never mixes a
//! rule index of one file with the rules of another.
//!
//! A request naming a metric the catalog does not know triggers [`Registry::refresh_on_miss`]:
//! a lookup targeted at that metric. For every rule whose naming can produce the metric from a
//! series name Sextant can guess (the metric itself, or `X_total` for `X_per_second`, checked by
//! running the rule's own naming on the guess), the store's `/api/v1/series` is asked for the
//! rule's selector restricted to that one series name, and what it finds is added to the
//! catalog. Only when no rule yields a guess is every rule relisted, and then at most once per
//! [`MISS_REFRESH_INTERVAL`] whatever the metrics missed (a name no rule produces from a
//! guessable series still appears within [`NEW_NAMES_INTERVAL`]); a kind of metric no rule
//! serves (external metrics without `externalRules`) is not looked up at all. Lookups run one
//! at a time (concurrent misses wait for the one in flight and then see its result), and each
//! metric is looked up at most once per [`MISS_REFRESH_INTERVAL`], so a flood of requests for
//! names that do not exist costs the store at most one small series call at a time. A lookup that the
//! store failed answers its request with the store's error; a refusal or a garbled answer is
//! answered again for that metric until the interval has passed (a store in trouble is not
//! asked again meanwhile), a timeout is not remembered.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use metrics_model::association::GroupResource;
use metrics_store::{MetricsStore, TimeRange};

use crate::config::StoreType;
use crate::discovery::{Discovered, METRIC_NAME_LABEL};
use crate::telemetry::DiscoveryMetrics;
use crate::{Config, Result, Rule};

/// How far back a relist looks for series by default (`--metrics-max-age`): a metric with no
/// sample in this span is not served.
pub const LOOKBACK: Duration = Duration::from_secs(600);

/// When an unknown metric was last looked up, and the store's error if that lookup failed
/// (answered again, not asked again, until [`MISS_REFRESH_INTERVAL`] has passed).
type Miss = (Instant, Option<metrics_store::Error>);

/// What recent misses asked the store, so the same is not asked again too soon.
#[derive(Debug, Default)]
struct Misses {
    /// When each recently missed metric was looked up, and how.
    by_metric: HashMap<String, Miss>,
    /// When a miss last relisted every rule (no rule could name the metric from a guess).
    full_relist: Option<Instant>,
}

/// The least time between two lookups of the same unknown metric, and between two full relists
/// triggered by misses of any metrics.
pub const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// How often the store is asked for metric names not seen yet (between full relists), so a
/// new metric appears in discovery within this long of its first sample.
pub const NEW_NAMES_INTERVAL: Duration = Duration::from_secs(10);

/// How many recently looked-up metric names are remembered for rate limiting.
const MISS_MEMORY: usize = 4096;

/// How many `/api/v1/series` calls a relist makes at once (see [`ask_series`]).
const SERIES_CALLS_AT_ONCE: usize = 4;

/// Resources whose objects have no namespace; every other resource is taken as namespaced.
const ROOT_SCOPED: &[(&str, &str)] = &[
    ("namespaces", ""),
    ("nodes", ""),
    ("persistentvolumes", ""),
    ("storageclasses", "storage.k8s.io"),
];

/// Whether objects of `resource` live in a namespace (the API path then carries one).
pub fn is_namespaced(resource: &GroupResource) -> bool {
    !ROOT_SCOPED
        .iter()
        .any(|(r, g)| resource.resource == *r && resource.group == *g)
}

/// The configuration and the current catalog, shared by the relist loop and every request.
#[derive(Debug)]
pub struct Registry {
    /// The configuration the next relist uses (a reload replaces it).
    config: RwLock<Arc<Config>>,
    relist_interval: Duration,
    /// How far back relists and lookups look for series (`--metrics-max-age`).
    lookback: Duration,
    catalog: RwLock<Arc<Catalog>>,
    /// What recent misses asked; held while a lookup runs, to serialize.
    misses: tokio::sync::Mutex<Misses>,
    /// Why the configuration file on disk is not the one served, if it is not.
    config_problem: RwLock<Option<String>>,
    metrics: DiscoveryMetrics,
}

impl Registry {
    /// An empty registry for `config`, relisted every `relist_interval` (readiness uses it).
    pub fn new(config: Arc<Config>, relist_interval: Duration) -> Self {
        Registry {
            config: RwLock::new(config),
            relist_interval,
            lookback: LOOKBACK,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            misses: tokio::sync::Mutex::new(Misses::default()),
            config_problem: RwLock::new(None),
            metrics: DiscoveryMetrics::default(),
        }
    }

    /// Looks back `lookback` instead of [`LOOKBACK`] for series (`--metrics-max-age`).
    pub fn with_lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// The span a relist or lookup asks about now: the last `lookback`.
    fn lookback(&self) -> TimeRange {
        let end = Timestamp::now();
        let start = end
            .checked_sub(jiff::SignedDuration::try_from(self.lookback).unwrap_or_default())
            .unwrap_or(end);
        TimeRange { start, end }
    }

    /// Why the configuration file on disk is not the one served (`None`: it is).
    pub fn config_problem(&self) -> Option<String> {
        self.config_problem
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records why the file on disk is not served, or clears it.
    pub fn set_config_problem(&self, problem: Option<String>) {
        *self
            .config_problem
            .write()
            .unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// The configuration the next relist uses (the catalog's own may be older).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `config` the one the next relist builds the catalog with.
    pub fn replace_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// The discovery metrics, to register them for `/metrics`.
    pub fn metrics(&self) -> &DiscoveryMetrics {
        &self.metrics
    }

    /// The current catalog; cheap (one `Arc` clone), and stable for the caller's request.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Asks the store for every rule's series over its look-back (`--metrics-max-age`) and
    /// replaces the catalog; on any failure the previous catalog stays and the error is returned.
    pub async fn relist<S: MetricsStore>(&self, store: &S, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        let result = self.relist_unrecorded(store, deadline).await;
        self.metrics
            .record_relist(started.elapsed(), result.is_ok(), &self.catalog());
        result
    }

    async fn relist_unrecorded<S: MetricsStore>(
        &self,
        store: &S,
        deadline: Duration,
    ) -> Result<()> {
        let config = self.config();
        let range = self.lookback();
        let (types, asked) = tokio::join!(
            metric_types(store, &config, deadline),
            ask_series(store, &config, range, deadline),
        );
        let asked = asked?;
        let custom = discover_rules(config.rules(), &types, &asked);
        let external = discover_rules(config.external_rules(), &types, &asked);
        let mut catalog = Catalog::build(config, &custom, &external);
        catalog.see(asked.values().flatten());
        catalog.refreshed_at = Some(Instant::now());
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
        Ok(())
    }

    /// Ready: the configuration is loaded (it is, by construction) and the last successful
    /// relist is younger than three relist intervals. Never calls the store.
    pub fn is_ready(&self) -> bool {
        self.catalog()
            .refreshed_at()
            .is_some_and(|at| at.elapsed() <= self.relist_interval.saturating_mul(3))
    }

    /// Relists every relist interval and checks for new metric names every
    /// [`NEW_NAMES_INTERVAL`], forever, logging failures; for the server's background task.
    pub async fn run<S: MetricsStore>(&self, store: &S, deadline: Duration) {
        let mut relists = tokio::time::interval(self.relist_interval);
        relists.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut checks = tokio::time::interval(NEW_NAMES_INTERVAL);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        checks.tick().await;
        loop {
            tokio::select! {
                _ = relists.tick() => match self.relist(store, deadline).await {
                    Ok(()) => tracing::debug!("relisted metrics"),
                    Err(error) => {
                        tracing::warn!(%error, "relist failed; still serving the previous metrics")
                    }
                },
                _ = checks.tick() => match self.discover_new(store, deadline).await {
                    Ok(0) => {}
                    Ok(count) => tracing::debug!(count, "looked up new metric names"),
                    Err(error) => tracing::debug!(%error, "checking for new metric names failed"),
                },
            }
        }
    }
}

/// The series shapes of every distinct `seriesQuery` of the rules, custom and external (rules
/// with the same one, such as the default gauge and metadata-counter rules or copies in a file,
/// share one store call). Up to [`SERIES_CALLS_AT_ONCE`] calls run at once: the store answers
/// them on as many cores, so a relist of a few big rules takes about as long as its biggest,
/// not their sum, while a file of dozens of rules does not fire dozens of calls at once.
async fn ask_series<S: MetricsStore>(
    store: &S,
    config: &Config,
    range: TimeRange,
    deadline: Duration,
) -> Result<HashMap<String, Vec<metrics_store::Labels>>> {
    let mut selectors: Vec<String> = Vec::new();
    for rule in config.rules().iter().chain(config.external_rules()) {
        if !selectors.iter().any(|known| known == rule.series_query()) {
            selectors.push(rule.series_query().to_owned());
        }
    }
    futures::stream::iter(selectors)
        .map(|selector| shapes_for(store, selector, range, deadline))
        .buffer_unordered(SERIES_CALLS_AT_ONCE)
        .try_collect()
        .await
}

/// The series shapes `selector` matches, with it.
async fn shapes_for<S: MetricsStore>(
    store: &S,
    selector: String,
    range: TimeRange,
    deadline: Duration,
) -> Result<(String, Vec<metrics_store::Labels>)> {
    let shapes = store
        .series_shapes(std::slice::from_ref(&selector), range, deadline)
        .await?;
    Ok((selector, shapes))
}

/// Every rule's discoveries among the series `asked` holds for its `seriesQuery`.
fn discover_rules(
    rules: &[Rule],
    types: &BTreeMap<String, String>,
    asked: &HashMap<String, Vec<metrics_store::Labels>>,
) -> Vec<Vec<Discovered>> {
    rules
        .iter()
        .map(|rule| {
            let series = asked
                .get(rule.series_query())
                .map(Vec::as_slice)
                .unwrap_or_default();
            discover_typed(rule, series, types)
        })
        .collect()
}

/// The rule's discoveries among the series whose metadata type it admits.
pub(crate) fn discover_typed(
    rule: &Rule,
    series: &[metrics_store::Labels],
    types: &BTreeMap<String, String>,
) -> Vec<Discovered> {
    if rule.store_type() == StoreType::Any {
        return rule.discover_all(series);
    }
    rule.discover_all(series.iter().filter(|labels| {
        let kind = labels
            .get(METRIC_NAME_LABEL)
            .and_then(|name| types.get(name))
            .map(String::as_str);
        rule.store_type().admits(kind)
    }))
}

/// The metric types from the store's metadata, when a rule asks about them; a store without
/// metadata, or one that fails to answer, gives none (logged): counters then need `_total`.
async fn metric_types<S: MetricsStore>(
    store: &S,
    config: &Config,
    deadline: Duration,
) -> BTreeMap<String, String> {
    let asked = config
        .rules()
        .iter()
        .chain(config.external_rules())
        .any(|rule| rule.store_type() != StoreType::Any);
    if !asked {
        return BTreeMap::new();
    }
    store.metric_types(deadline).await.unwrap_or_else(|error| {
        tracing::debug!(%error, "no metric metadata from the store; counters need the _total suffix");
        BTreeMap::new()
    })
}

mod catalog;
mod lookup;

pub use catalog::{Catalog, CustomEntry, ExternalEntry};
#[cfg(test)]
use lookup::restrict_to_series;
pub use lookup::targeted_selectors;

#[cfg(test)]
mod tests;
