//! The registry of servable metrics: which metric is served for which resource, by which rule
//! and on which series, refreshed by asking the store's `/api/v1/series` for every rule.
//!
//! A relist builds a whole new [`Catalog`] and swaps it in at once, so a request sees either the
//! old or the new answer, never a mix; a failed relist keeps the previous catalog and reports the
//! error. The catalog holds only what serving needs, with every metric and series name interned
//! as one `Arc<str>` however many resources share it; label values are never kept.
//!
//! A request naming a metric the catalog does not know triggers [`Registry::refresh_on_miss`]:
//! an early relist, coalesced (concurrent misses share one) and rate-limited (at most one per
//! [`MISS_REFRESH_INTERVAL`]), so a new metric is servable on the first request after its first
//! sample. It asks every rule again; a lookup targeted at the one metric is not implemented yet.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use metrics_model::association::GroupResource;
use metrics_store::{MetricsStore, TimeRange};

use crate::discovery::Discovered;
use crate::{Config, Result, Rule};

/// How far back a relist looks for series: a metric with no sample in this span is not served.
pub const LOOKBACK: Duration = Duration::from_secs(600);

/// The least time between two relists triggered by requests for unknown metrics.
pub const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

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

/// Where a custom metric of one resource comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomEntry {
    /// Index of the rule in [`Config::rules`].
    pub rule: usize,
    /// The store's series name (`http_requests_total`).
    pub series: Arc<str>,
}

/// Where an external metric comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEntry {
    /// Index of the rule in [`Config::external_rules`].
    pub rule: usize,
    /// The store's series name.
    pub series: Arc<str>,
    /// Whether the series carries the namespace label (the request's namespace can apply).
    pub namespaced: bool,
}

/// One consistent view of what is servable, as of one relist.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    custom: BTreeMap<GroupResource, BTreeMap<Arc<str>, CustomEntry>>,
    external: BTreeMap<Arc<str>, ExternalEntry>,
    refreshed_at: Option<Instant>,
}

impl Catalog {
    /// The entry serving `metric` for `resource`, if any.
    pub fn custom(&self, resource: &GroupResource, metric: &str) -> Option<&CustomEntry> {
        self.custom.get(resource)?.get(metric)
    }

    /// The entry serving the external `metric`, if any.
    pub fn external(&self, metric: &str) -> Option<&ExternalEntry> {
        self.external.get(metric)
    }

    /// Every (resource, metric) served, sorted, for the discovery documents.
    pub fn custom_metrics(&self) -> impl Iterator<Item = (&GroupResource, &str)> {
        self.custom
            .iter()
            .flat_map(|(resource, metrics)| metrics.keys().map(move |m| (resource, &**m)))
    }

    /// Every external metric served, sorted.
    pub fn external_metrics(&self) -> impl Iterator<Item = &str> {
        self.external.keys().map(|m| &**m)
    }

    /// Up to `limit` metrics served for `resource`, sorted, for "known metrics: …" messages.
    pub fn known_for(&self, resource: &GroupResource, limit: usize) -> Vec<String> {
        self.custom
            .get(resource)
            .into_iter()
            .flat_map(|metrics| metrics.keys())
            .take(limit)
            .map(|m| m.to_string())
            .collect()
    }

    /// Up to `limit` external metrics, sorted.
    pub fn known_external(&self, limit: usize) -> Vec<String> {
        self.external_metrics()
            .take(limit)
            .map(str::to_owned)
            .collect()
    }

    /// When this catalog was built by a successful relist (`None`: never).
    pub fn refreshed_at(&self) -> Option<Instant> {
        self.refreshed_at
    }

    /// Builds a catalog from each rule's discovered series (custom rules, then external rules,
    /// in configuration order); the first rule to serve a (resource, metric) wins.
    pub fn build(custom: &[Vec<Discovered>], external: &[Vec<Discovered>]) -> Self {
        let mut names: HashSet<Arc<str>> = HashSet::new();
        let mut intern = |name: &str| -> Arc<str> {
            if let Some(found) = names.get(name) {
                return Arc::clone(found);
            }
            let interned: Arc<str> = Arc::from(name);
            names.insert(Arc::clone(&interned));
            interned
        };
        let mut catalog = Catalog::default();
        for (rule, found) in custom.iter().enumerate() {
            for discovered in found {
                let metric = intern(&discovered.metric);
                let series = intern(discovered.series.as_str());
                for resource in &discovered.resources {
                    catalog
                        .custom
                        .entry(resource.clone())
                        .or_default()
                        .entry(Arc::clone(&metric))
                        .or_insert_with(|| CustomEntry {
                            rule,
                            series: Arc::clone(&series),
                        });
                }
            }
        }
        for (rule, found) in external.iter().enumerate() {
            for discovered in found {
                let metric = intern(&discovered.metric);
                let series = intern(discovered.series.as_str());
                catalog
                    .external
                    .entry(metric)
                    .or_insert_with(|| ExternalEntry {
                        rule,
                        series,
                        namespaced: discovered.namespaced,
                    });
            }
        }
        catalog
    }
}

/// The configuration and the current catalog, shared by the relist loop and every request.
#[derive(Debug)]
pub struct Registry {
    config: Arc<Config>,
    relist_interval: Duration,
    catalog: RwLock<Arc<Catalog>>,
    /// When the last miss-triggered relist started; held while one runs, to coalesce.
    last_miss_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl Registry {
    /// An empty registry for `config`, relisted every `relist_interval` (readiness uses it).
    pub fn new(config: Arc<Config>, relist_interval: Duration) -> Self {
        Registry {
            config,
            relist_interval,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            last_miss_refresh: tokio::sync::Mutex::new(None),
        }
    }

    /// The configuration the registry serves.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The current catalog; cheap (one `Arc` clone), and stable for the caller's request.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Asks the store for every rule's series over the last [`LOOKBACK`] and replaces the
    /// catalog; on any failure the previous catalog stays and the error is returned.
    pub async fn relist<S: MetricsStore>(&self, store: &S, deadline: Duration) -> Result<()> {
        let end = Timestamp::now();
        let start = end
            .checked_sub(jiff::SignedDuration::try_from(LOOKBACK).unwrap_or_default())
            .unwrap_or(end);
        let range = TimeRange { start, end };
        let custom = discover_rules(store, self.config.rules(), range, deadline).await?;
        let external = discover_rules(store, self.config.external_rules(), range, deadline).await?;
        let mut catalog = Catalog::build(&custom, &external);
        catalog.refreshed_at = Some(Instant::now());
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
        Ok(())
    }

    /// Relists early because a request named a metric the catalog `seen` did not have; returns
    /// whether the catalog changed since `seen` (by this relist or a concurrent one). Failures
    /// are logged, not returned: the request is answered from what is known.
    pub async fn refresh_on_miss<S: MetricsStore>(
        &self,
        store: &S,
        seen: &Arc<Catalog>,
        deadline: Duration,
    ) -> bool {
        let mut last = self.last_miss_refresh.lock().await;
        if !Arc::ptr_eq(seen, &self.catalog()) {
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < MISS_REFRESH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        match self.relist(store, deadline).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "relist for an unknown metric failed");
                false
            }
        }
    }

    /// Ready: the configuration is loaded (it is, by construction) and the last successful
    /// relist is younger than three relist intervals. Never calls the store.
    pub fn is_ready(&self) -> bool {
        self.catalog()
            .refreshed_at()
            .is_some_and(|at| at.elapsed() <= self.relist_interval.saturating_mul(3))
    }

    /// Relists forever every relist interval, logging failures; for the server's background task.
    pub async fn run<S: MetricsStore>(&self, store: &S, deadline: Duration) {
        let mut ticks = tokio::time::interval(self.relist_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.relist(store, deadline).await {
                Ok(()) => tracing::debug!("relisted metrics"),
                Err(error) => {
                    tracing::warn!(%error, "relist failed; still serving the previous metrics")
                }
            }
        }
    }
}

async fn discover_rules<S: MetricsStore>(
    store: &S,
    rules: &[Rule],
    range: TimeRange,
    deadline: Duration,
) -> Result<Vec<Vec<Discovered>>> {
    let mut all = Vec::with_capacity(rules.len());
    for rule in rules {
        let series = store
            .series(&[rule.series_query().to_owned()], range, deadline)
            .await?;
        all.push(rule.discover_all(&series));
    }
    Ok(all)
}

#[cfg(test)]
mod tests;
