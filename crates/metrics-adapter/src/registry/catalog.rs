//! The catalog: one consistent view of what is servable, as of one relist (see
//! [`super`]), with metric and series names interned.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use metrics_model::association::GroupResource;

use crate::discovery::{Discovered, METRIC_NAME_LABEL};
use crate::{Config, Rule, RuleKind};

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
    pub(super) config: Option<Arc<Config>>,
    /// Every series name the rules' selectors returned, served or not: a name outside it is new.
    pub(super) seen: HashSet<Arc<str>>,
    custom: BTreeMap<GroupResource, BTreeMap<Arc<str>, CustomEntry>>,
    external: BTreeMap<Arc<str>, ExternalEntry>,
    pub(super) refreshed_at: Option<Instant>,
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

    /// The entry serving `metric` for `resource`, with the resource as the catalog names it:
    /// `resource` itself, or, for a resource named without its group (`deployments`), the one
    /// resource of that name that serves the metric (`deployments.apps`), as kube-apiserver's
    /// REST mapper resolves a group-less resource; `None` when there is none or several. A
    /// resolved resource has the scope the request was routed and authorized for (namespaced
    /// or not), so a namespaced path is never answered for a root-scoped resource.
    pub fn custom_resolved<'a>(
        &'a self,
        resource: &'a GroupResource,
        metric: &str,
    ) -> Option<(&'a GroupResource, &'a CustomEntry)> {
        if let Some(entry) = self.custom(resource, metric) {
            return Some((resource, entry));
        }
        if !resource.group.is_empty() {
            return None;
        }
        let scope = super::is_namespaced(resource);
        let mut named = self.custom.iter().filter_map(|(served, metrics)| {
            (served.resource == resource.resource && super::is_namespaced(served) == scope)
                .then(|| metrics.get(metric))
                .flatten()
                .map(|entry| (served, entry))
        });
        let found = named.next()?;
        named.next().is_none().then_some(found)
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
    pub(super) fn see<'a>(&mut self, series: impl IntoIterator<Item = &'a metrics_store::Labels>) {
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
    pub(super) fn add(&mut self, custom: &[Vec<Discovered>], external: &[Vec<Discovered>]) {
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
