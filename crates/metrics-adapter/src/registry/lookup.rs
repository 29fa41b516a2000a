//! Finding metrics between relists: the lookup targeted at a metric a request named
//! ([`Registry::refresh_on_miss`]) and the periodic check for new metric names
//! ([`Registry::discover_new`]); see [`super`] for how they behave.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use metrics_store::MetricsStore;

use super::{Catalog, MISS_MEMORY, MISS_REFRESH_INTERVAL, Registry, discover_typed, metric_types};
use crate::discovery::METRIC_NAME_LABEL;
use crate::naming::{COUNTER_SUFFIX, RATE_SUFFIX};
use crate::{Config, Error, Result, Rule, RuleKind};

impl Registry {
    /// Looks up `metric` (of `kind`), which a request named and the catalog `seen` did not
    /// have (see the module documentation); returns whether the catalog changed since `seen`.
    /// A lookup that fails is returned as its error, so the request is answered as the store
    /// failed (503, 504, 502), not as if the metric did not exist; a refusal or a garbled
    /// answer (not a timeout) is answered again for the metric until [`MISS_REFRESH_INTERVAL`]
    /// has passed. The lookup's
    /// store calls get what is left of `deadline` after waiting for the one in flight; the
    /// caller bounds the wait itself.
    pub async fn refresh_on_miss<S: MetricsStore>(
        &self,
        store: &S,
        seen: &Arc<Catalog>,
        kind: RuleKind,
        metric: &str,
        deadline: Duration,
    ) -> Result<bool> {
        let started = Instant::now();
        let mut misses = self.misses.lock().await;
        if !Arc::ptr_eq(seen, &self.catalog()) {
            return Ok(true);
        }
        let deadline = deadline.saturating_sub(started.elapsed());
        if let Some((at, failed)) = misses.by_metric.get(metric)
            && at.elapsed() < MISS_REFRESH_INTERVAL
        {
            return match failed {
                Some(error) => Err(Error::Store(error.clone())),
                None => Ok(false),
            };
        }
        let asked = Instant::now();
        let config = seen_config(seen, self);
        let looked_up = match targeted_selectors(&config, kind, metric) {
            Some(selectors) => self.look_up(store, kind, &selectors, deadline).await,
            // No rule serves this kind of metric: no series can make it servable.
            None if rules_of(&config, kind).is_empty() => Ok(()),
            // Every rule was relisted for a miss a moment ago; new names come with the
            // periodic check until the interval has passed.
            None if misses
                .full_relist
                .is_some_and(|at| at.elapsed() < MISS_REFRESH_INTERVAL) =>
            {
                Ok(())
            }
            None => {
                let relisted = self.relist(store, deadline).await;
                // A relist cut short by this request's deadline does not hold back the next
                // request's, which may have more time.
                if !relisted.as_ref().is_err_and(timed_out) {
                    misses.full_relist = Some(asked);
                }
                relisted
            }
        };
        if misses.by_metric.len() >= MISS_MEMORY {
            misses
                .by_metric
                .retain(|_, (at, _)| at.elapsed() < MISS_REFRESH_INTERVAL);
        }
        match looked_up {
            Ok(()) => {
                misses.by_metric.insert(metric.to_owned(), (asked, None));
                Ok(!Arc::ptr_eq(seen, &self.catalog()))
            }
            Err(error) => {
                tracing::warn!(%error, metric, "lookup of an unknown metric failed");
                // A store that refused or garbled the lookup is answered from memory for a
                // while; a timeout is not remembered (the time may have been this request's,
                // cut short by waiting for another lookup), each request waits its own.
                if let Error::Store(store_error) = &error
                    && !timed_out(&error)
                {
                    misses
                        .by_metric
                        .insert(metric.to_owned(), (asked, Some(store_error.clone())));
                }
                Err(error)
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
        let rules = rules_of(&config, kind);
        let range = self.lookback();
        // One deadline for the whole lookup, each call getting what is left of it.
        let until = Instant::now() + deadline;
        let left = || until.saturating_duration_since(Instant::now());
        let types = metric_types(store, &config, left()).await;
        let mut found = vec![Vec::new(); rules.len()];
        let mut returned = Vec::new();
        for (index, selector) in selectors {
            let Some(rule) = rules.get(*index) else {
                continue;
            };
            let series = store
                .series_shapes(std::slice::from_ref(selector), range, left())
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

    /// Asks the store for the metric names each distinct selector matches now
    /// (`/api/v1/label/__name__/values`, names only) and looks up, rule by rule, every name the
    /// catalog has not seen; returns how many new names there were. Between relists this makes
    /// a new metric discoverable within [`NEW_NAMES_INTERVAL`](super::NEW_NAMES_INTERVAL).
    pub async fn discover_new<S: MetricsStore>(
        &self,
        store: &S,
        deadline: Duration,
    ) -> Result<usize> {
        let current = self.catalog();
        let Some(config) = current.config.clone() else {
            return Ok(0);
        };
        let range = self.lookback();
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
}

/// Whether `error` is the store's timeout, which says more about the deadline than the store.
fn timed_out(error: &Error) -> bool {
    matches!(error, Error::Store(metrics_store::Error::Timeout { .. }))
}

/// The rules serving `kind` of metric.
fn rules_of(config: &Config, kind: RuleKind) -> &[Rule] {
    match kind {
        RuleKind::Custom => config.rules(),
        RuleKind::External => config.external_rules(),
    }
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
    let selectors: Vec<(usize, String)> = rules_of(config, kind)
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
pub(super) fn restrict_to_series(selector: &str, series: &str) -> Option<String> {
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
