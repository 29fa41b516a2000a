//! The registry of servable metrics: which metric is served for which resource, by which rule
//! and on which series, refreshed by asking the store's `/api/v1/series` for every rule.
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
//! catalog. Only when no rule yields a guess is every rule relisted. Lookups run one at a time
//! (concurrent misses wait for the one in flight and then see its result), and each metric is
//! looked up at most once per [`MISS_REFRESH_INTERVAL`], so a flood of requests for names that
//! do not exist costs the store at most one small series call at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use metrics_model::association::GroupResource;
use metrics_store::{MetricsStore, TimeRange};

use crate::config::StoreType;
use crate::discovery::{Discovered, METRIC_NAME_LABEL};
use crate::naming::{COUNTER_SUFFIX, RATE_SUFFIX};
use crate::telemetry::DiscoveryMetrics;
use crate::{Config, Result, Rule, RuleKind};

/// How far back a relist looks for series: a metric with no sample in this span is not served.
pub const LOOKBACK: Duration = Duration::from_secs(600);

/// The least time between two lookups of the same unknown metric (and between two full relists
/// triggered by misses).
pub const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// How often the store is asked for metric names not seen yet (between full relists), so a
/// new metric appears in discovery within this long of its first sample.
pub const NEW_NAMES_INTERVAL: Duration = Duration::from_secs(10);

/// How many recently looked-up metric names are remembered for rate limiting.
const MISS_MEMORY: usize = 4096;

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

/// One consistent view of what is servable, as of one relist, with the configuration whose
/// rules its entries index.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    config: Option<Arc<Config>>,
    /// Every series name the rules' selectors returned, served or not: a name outside it is new.
    seen: HashSet<Arc<str>>,
    custom: BTreeMap<GroupResource, BTreeMap<Arc<str>, CustomEntry>>,
    external: BTreeMap<Arc<str>, ExternalEntry>,
    refreshed_at: Option<Instant>,
}

impl Catalog {
    /// The rule an entry of this catalog names (`None` only for an inconsistent index).
    pub fn rule(&self, kind: RuleKind, index: usize) -> Option<&Rule> {
        let config = self.config.as_deref()?;
        match kind {
            RuleKind::Custom => config.rules().get(index),
            RuleKind::External => config.external_rules().get(index),
        }
    }

    /// How many (resource, metric) pairs and external metrics are served.
    pub fn len(&self) -> (usize, usize) {
        (
            self.custom.values().map(BTreeMap::len).sum(),
            self.external.len(),
        )
    }

    /// Whether nothing is served.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

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
    pub fn build(
        config: Arc<Config>,
        custom: &[Vec<Discovered>],
        external: &[Vec<Discovered>],
    ) -> Self {
        let mut catalog = Catalog {
            config: Some(config),
            ..Catalog::default()
        };
        catalog.add(custom, external);
        catalog
    }

    /// Remembers the series names of `series` as seen.
    fn see<'a>(&mut self, series: impl IntoIterator<Item = &'a metrics_store::Labels>) {
        for name in series
            .into_iter()
            .filter_map(|labels| labels.get(METRIC_NAME_LABEL))
        {
            if !self.seen.contains(name.as_str()) {
                self.seen.insert(Arc::from(name.as_str()));
            }
        }
    }

    /// Adds what `custom` and `external` (indexed by rule) discovered, keeping existing entries.
    fn add(&mut self, custom: &[Vec<Discovered>], external: &[Vec<Discovered>]) {
        let mut names: HashSet<Arc<str>> = HashSet::new();
        let mut intern = |name: &str| -> Arc<str> {
            if let Some(found) = names.get(name) {
                return Arc::clone(found);
            }
            let interned: Arc<str> = Arc::from(name);
            names.insert(Arc::clone(&interned));
            interned
        };
        let catalog = self;
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
    }
}

/// The configuration and the current catalog, shared by the relist loop and every request.
#[derive(Debug)]
pub struct Registry {
    /// The configuration the next relist uses (a reload replaces it).
    config: RwLock<Arc<Config>>,
    relist_interval: Duration,
    catalog: RwLock<Arc<Catalog>>,
    /// When each recently missed metric was looked up; held while a lookup runs, to serialize.
    misses: tokio::sync::Mutex<HashMap<String, Instant>>,
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
            catalog: RwLock::new(Arc::new(Catalog::default())),
            misses: tokio::sync::Mutex::new(HashMap::new()),
            config_problem: RwLock::new(None),
            metrics: DiscoveryMetrics::default(),
        }
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

    /// Asks the store for every rule's series over the last [`LOOKBACK`] and replaces the
    /// catalog; on any failure the previous catalog stays and the error is returned.
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
        let range = lookback();
        let types = metric_types(store, &config, deadline).await;
        let mut asked: HashMap<String, Vec<metrics_store::Labels>> = HashMap::new();
        let custom =
            discover_rules(store, config.rules(), &types, &mut asked, range, deadline).await?;
        let external = discover_rules(
            store,
            config.external_rules(),
            &types,
            &mut asked,
            range,
            deadline,
        )
        .await?;
        let mut catalog = Catalog::build(config, &custom, &external);
        catalog.see(asked.values().flatten());
        catalog.refreshed_at = Some(Instant::now());
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
        Ok(())
    }

    /// Looks up `metric` (of `kind`), which a request named and the catalog `seen` did not
    /// have (see the module documentation); returns whether the catalog changed since `seen`.
    /// Failures are logged, not returned: the request is answered from what is known.
    pub async fn refresh_on_miss<S: MetricsStore>(
        &self,
        store: &S,
        seen: &Arc<Catalog>,
        kind: RuleKind,
        metric: &str,
        deadline: Duration,
    ) -> bool {
        let mut misses = self.misses.lock().await;
        if !Arc::ptr_eq(seen, &self.catalog()) {
            return true;
        }
        if misses
            .get(metric)
            .is_some_and(|at| at.elapsed() < MISS_REFRESH_INTERVAL)
        {
            return false;
        }
        if misses.len() >= MISS_MEMORY {
            misses.retain(|_, at| at.elapsed() < MISS_REFRESH_INTERVAL);
        }
        misses.insert(metric.to_owned(), Instant::now());
        let looked_up = match targeted_selectors(&seen_config(seen, self), kind, metric) {
            Some(selectors) => self.look_up(store, kind, &selectors, deadline).await,
            None => self.relist(store, deadline).await,
        };
        match looked_up {
            Ok(()) => !Arc::ptr_eq(seen, &self.catalog()),
            Err(error) => {
                tracing::warn!(%error, metric, "lookup of an unknown metric failed");
                false
            }
        }
    }

    /// Asks the store for the series of `selectors` (rule index → selector) and adds what the
    /// rules make of them to the current catalog.
    async fn look_up<S: MetricsStore>(
        &self,
        store: &S,
        kind: RuleKind,
        selectors: &[(usize, String)],
        deadline: Duration,
    ) -> Result<()> {
        let current = self.catalog();
        let Some(config) = current.config.clone() else {
            return self.relist(store, deadline).await;
        };
        let rules = match kind {
            RuleKind::Custom => config.rules(),
            RuleKind::External => config.external_rules(),
        };
        let range = lookback();
        let types = metric_types(store, &config, deadline).await;
        let mut found = vec![Vec::new(); rules.len()];
        let mut returned = Vec::new();
        for (index, selector) in selectors {
            let Some(rule) = rules.get(*index) else {
                continue;
            };
            let series = store
                .series_shapes(std::slice::from_ref(selector), range, deadline)
                .await?;
            found[*index].extend(discover_typed(rule, &series, &types));
            returned.extend(series);
        }
        if returned.is_empty() {
            return Ok(());
        }
        let mut catalog = Catalog::clone(&current);
        catalog.see(&returned);
        match kind {
            RuleKind::Custom => catalog.add(&found, &[]),
            RuleKind::External => catalog.add(&[], &found),
        }
        let mut slot = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
        // A relist that finished meanwhile already saw everything; keep its catalog.
        if Arc::ptr_eq(&slot, &current) {
            *slot = Arc::new(catalog);
        }
        Ok(())
    }

    /// Ready: the configuration is loaded (it is, by construction) and the last successful
    /// relist is younger than three relist intervals. Never calls the store.
    pub fn is_ready(&self) -> bool {
        self.catalog()
            .refreshed_at()
            .is_some_and(|at| at.elapsed() <= self.relist_interval.saturating_mul(3))
    }

    /// Asks the store for the metric names each distinct selector matches now
    /// (`/api/v1/label/__name__/values`, names only) and looks up, rule by rule, every name the
    /// catalog has not seen; returns how many new names there were. Between relists this makes
    /// a new metric discoverable within [`NEW_NAMES_INTERVAL`].
    pub async fn discover_new<S: MetricsStore>(
        &self,
        store: &S,
        deadline: Duration,
    ) -> Result<usize> {
        let current = self.catalog();
        let Some(config) = current.config.clone() else {
            return Ok(0);
        };
        let range = lookback();
        let mut selectors: Vec<&str> = config
            .rules()
            .iter()
            .chain(config.external_rules())
            .map(Rule::series_query)
            .collect();
        selectors.sort_unstable();
        selectors.dedup();
        let mut new = BTreeSet::new();
        for selector in selectors {
            let names = store
                .metric_names(&[selector.to_owned()], range, deadline)
                .await?;
            new.extend(
                names
                    .into_iter()
                    .filter(|name| !current.seen.contains(name.as_str())),
            );
        }
        if new.is_empty() {
            return Ok(0);
        }
        let _serialized = self.misses.lock().await;
        for (kind, rules) in [
            (RuleKind::Custom, config.rules()),
            (RuleKind::External, config.external_rules()),
        ] {
            let selectors: Vec<(usize, String)> = rules
                .iter()
                .enumerate()
                .flat_map(|(index, rule)| {
                    new.iter()
                        .filter(|name| rule.accepts(name))
                        .filter_map(move |name| {
                            restrict_to_series(rule.series_query(), name).map(|s| (index, s))
                        })
                })
                .collect();
            if !selectors.is_empty() {
                self.look_up(store, kind, &selectors, deadline).await?;
            }
        }
        // Names no rule accepts are remembered too, so they are not asked about again.
        let mut slot = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
        let mut catalog = Catalog::clone(&slot);
        for name in &new {
            catalog.seen.insert(Arc::from(name.as_str()));
        }
        *slot = Arc::new(catalog);
        Ok(new.len())
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

/// The span a relist or lookup asks about: the last [`LOOKBACK`].
fn lookback() -> TimeRange {
    let end = Timestamp::now();
    let start = end
        .checked_sub(jiff::SignedDuration::try_from(LOOKBACK).unwrap_or_default())
        .unwrap_or(end);
    TimeRange { start, end }
}

/// The configuration a miss is judged against: the catalog's, else the registry's.
fn seen_config(seen: &Catalog, registry: &Registry) -> Arc<Config> {
    seen.config.clone().unwrap_or_else(|| registry.config())
}

/// The series names that could be served as `metric`: itself, and `X_total` and `X` for
/// `X_per_second`.
fn guesses(metric: &str) -> Vec<String> {
    let mut guesses = vec![metric.to_owned()];
    if let Some(stem) = metric.strip_suffix(RATE_SUFFIX) {
        guesses.push(format!("{stem}{COUNTER_SUFFIX}"));
        guesses.push(stem.to_owned());
    }
    guesses
}

/// For each rule of `kind` that names some guessed series `metric`, its series selector
/// restricted to that series; `None` when no rule does (a full relist is then needed).
pub fn targeted_selectors(
    config: &Config,
    kind: RuleKind,
    metric: &str,
) -> Option<Vec<(usize, String)>> {
    let rules = match kind {
        RuleKind::Custom => config.rules(),
        RuleKind::External => config.external_rules(),
    };
    let selectors: Vec<(usize, String)> = rules
        .iter()
        .enumerate()
        .flat_map(|(index, rule)| {
            guesses(metric).into_iter().filter_map(move |series| {
                let named = rule.accepts(&series)
                    && rule.naming().api_name(&series).as_deref() == Some(metric);
                named
                    .then(|| restrict_to_series(rule.series_query(), &series))
                    .flatten()
                    .map(|selector| (index, selector))
            })
        })
        .collect();
    (!selectors.is_empty()).then_some(selectors)
}

/// `selector` with a `__name__="series"` matcher added, when its form allows: `{…}` gets the
/// matcher; `name{…}` or `name` is kept when `name` is the series, and cannot match it
/// otherwise (`None`).
fn restrict_to_series(selector: &str, series: &str) -> Option<String> {
    let selector = selector.trim();
    let name_matcher = format!(
        "{METRIC_NAME_LABEL}={}",
        metrics_model::promql::quote(series)
    );
    if let Some(inner) = selector
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
    {
        let inner = inner.trim().trim_end_matches(',');
        return Some(if inner.is_empty() {
            format!("{{{name_matcher}}}")
        } else {
            format!("{{{inner},{name_matcher}}}")
        });
    }
    let name_end = selector.find('{').unwrap_or(selector.len());
    (selector[..name_end].trim() == series).then(|| selector.to_owned())
}

/// Every rule's discoveries; rules with the same `seriesQuery` (the default gauge and
/// metadata-counter rules, or copies in a file) share one store call through `asked`.
async fn discover_rules<S: MetricsStore>(
    store: &S,
    rules: &[Rule],
    types: &BTreeMap<String, String>,
    asked: &mut HashMap<String, Vec<metrics_store::Labels>>,
    range: TimeRange,
    deadline: Duration,
) -> Result<Vec<Vec<Discovered>>> {
    let mut all = Vec::with_capacity(rules.len());
    for rule in rules {
        let selector = rule.series_query();
        if !asked.contains_key(selector) {
            let series = store
                .series_shapes(&[selector.to_owned()], range, deadline)
                .await?;
            asked.insert(selector.to_owned(), series);
        }
        let series = asked.get(selector).map(Vec::as_slice).unwrap_or_default();
        all.push(discover_typed(rule, series, types));
    }
    Ok(all)
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

#[cfg(test)]
mod tests;
