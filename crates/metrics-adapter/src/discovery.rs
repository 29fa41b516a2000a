//! Discovery and association, the series-side half of a rule: which series a rule accepts
//! (`seriesFilters` and `name.matches`), which Kubernetes resources each series can describe
//! (its labels, mapped through `resources`), and the API metric name it is served under.
//!
//! The series come from the store's `/api/v1/series` answer for the rule's `seriesQuery`, as
//! label sets including `__name__`. Only label *names* matter here; values are never stored.

use std::collections::{BTreeMap, BTreeSet};

use metrics_model::association::{GroupResource, LabelTemplate, ResourceAssociation};
use metrics_model::promql::{LabelName, MetricName};
use regex::Regex;

use crate::config::{FilterSpec, ResourcesSpec, Rule};
use crate::naming::COUNTER_SUFFIX;
use crate::{Error, Result};

/// The label holding a series' metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// Labels the well-known association skips: in Prometheus `job` is the scrape job, not a
/// `jobs.batch` object, and letting it name Jobs would serve nonsense.
const NOT_OBJECT_LABELS: &[&str] = &["job"];

/// One compiled `seriesFilters` entry.
#[derive(Debug, Clone)]
pub struct SeriesFilter {
    regex: Regex,
    positive: bool,
}

impl SeriesFilter {
    /// Compiles `{is: …}` or `{isNot: …}`; exactly one must be given (empty counts as absent).
    pub fn new(spec: &FilterSpec, at: &str) -> Result<Self> {
        let present = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        let (pattern, positive, field) = match (present(&spec.is), present(&spec.is_not)) {
            (Some(is), None) => (is, true, "is"),
            (None, Some(is_not)) => (is_not, false, "isNot"),
            (Some(_), Some(_)) => {
                return Err(Error::Invalid {
                    at: at.to_owned(),
                    reason: "give either `is` or `isNot`, not both".to_owned(),
                });
            }
            (None, None) => {
                return Err(Error::Invalid {
                    at: at.to_owned(),
                    reason: "needs an `is` or an `isNot` regex".to_owned(),
                });
            }
        };
        let regex = Regex::new(&pattern).map_err(|source| Error::Regex {
            at: format!("{at}.{field}"),
            pattern: pattern.clone(),
            source: Box::new(source),
        })?;
        Ok(SeriesFilter { regex, positive })
    }

    /// Whether the series name passes (the regex is searched for, not anchored, as upstream).
    pub fn accepts(&self, series: &str) -> bool {
        self.regex.is_match(series) == self.positive
    }
}

#[derive(Debug, Clone)]
enum Mode {
    /// No `resources`: the well-known labels (`namespace`, `pod`, `service`, `deployment`, …).
    WellKnown,
    /// Only `overrides`: exactly those labels, as upstream.
    Overrides(BTreeSet<LabelName>),
    /// A `template`, with or without overrides.
    Template,
}

/// A rule's compiled `resources`: series label ↔ Kubernetes resource, both ways.
#[derive(Debug, Clone)]
pub struct Association {
    inner: ResourceAssociation,
    mode: Mode,
}

impl Association {
    /// The association rules without a `resources` section get (and the default rules use).
    pub fn well_known() -> Self {
        Association {
            inner: ResourceAssociation::well_known(),
            mode: Mode::WellKnown,
        }
    }

    /// Compiles a `resources` section; `at` is its place in the file.
    pub fn from_spec(spec: &ResourcesSpec, at: &str) -> Result<Self> {
        let mut inner = ResourceAssociation::well_known();
        let template = spec.template.as_deref().filter(|t| !t.is_empty());
        if let Some(template) = template {
            let template = LabelTemplate::new(template).map_err(|e| Error::Invalid {
                at: format!("{at}.template"),
                reason: e.to_string(),
            })?;
            inner = inner.with_template(template);
        }
        let mut labels = BTreeSet::new();
        for (label, resource) in spec.overrides.iter().flatten() {
            let here = format!("{at}.overrides.{label}");
            let invalid = |e: metrics_model::Error| Error::Invalid {
                at: here.clone(),
                reason: e.to_string(),
            };
            let label = LabelName::new(label.as_str()).map_err(invalid)?;
            let resource =
                normalize_resource(&resource.resource, &resource.group).map_err(invalid)?;
            inner = inner.with_override(label.clone(), resource);
            labels.insert(label);
        }
        let mode = match (template, labels.is_empty()) {
            (Some(_), _) => Mode::Template,
            (None, false) => Mode::Overrides(labels),
            (None, true) => Mode::WellKnown,
        };
        Ok(Association { inner, mode })
    }

    /// The resource whose object names `label` carries, if any.
    pub fn resource_for(&self, label: &str) -> Option<GroupResource> {
        if label.starts_with("__") {
            return None;
        }
        let label = LabelName::new(label).ok()?;
        match &self.mode {
            Mode::WellKnown if NOT_OBJECT_LABELS.contains(&label.as_str()) => None,
            Mode::Overrides(labels) if !labels.contains(&label) => None,
            Mode::Template => {
                let found = self.inner.resource_for(&label)?;
                if found.group.is_empty() {
                    // The template had no `<<.Group>>`: find the group as upstream's REST
                    // mapper would for well-known resources (`deployment` → `deployments.apps`).
                    normalize_resource(&found.resource, "").ok()
                } else {
                    Some(found)
                }
            }
            _ => self.inner.resource_for(&label),
        }
    }

    /// The series label that carries the names of `resource` objects, if the rule maps one.
    pub fn label_for(&self, resource: &GroupResource) -> Option<LabelName> {
        let label = self.inner.label_for(resource)?;
        let namespaces = resource.resource == "namespaces" && resource.group.is_empty();
        match &self.mode {
            // Upstream fails here; Sextant falls back to the conventional `namespace` label.
            Mode::Overrides(labels) if !labels.contains(&label) && !namespaces => None,
            Mode::WellKnown if NOT_OBJECT_LABELS.contains(&label.as_str()) => None,
            _ => Some(label),
        }
    }

    /// The label that carries the namespace (an override, the template's, else `namespace`).
    pub fn namespace_label(&self) -> Option<LabelName> {
        self.label_for(&GroupResource::new("namespaces", ""))
    }
}

/// A resource as the API knows it: plural, in its group. `pod` → `pods`, `deployment` →
/// `deployments.apps` (the group of a well-known resource is found when none is given),
/// `widget` in `example.com` → `widgets.example.com`.
pub fn normalize_resource(resource: &str, group: &str) -> metrics_model::Result<GroupResource> {
    let text = match group {
        "" => resource.to_owned(),
        group => format!("{resource}.{group}"),
    };
    let parsed = GroupResource::parse(&text)?;
    let known = ResourceAssociation::well_known();
    let well_known = |singular: &str| {
        let found = known.resource_for(&LabelName::new(singular).ok()?)?;
        (group.is_empty() || found.group == group).then_some(found)
    };
    if let Some(found) = well_known(resource) {
        return Ok(found);
    }
    let singular = parsed.singular();
    if let Some(found) = well_known(&singular) {
        return Ok(found);
    }
    if singular != resource {
        return Ok(parsed);
    }
    let plural = if let Some(stem) = resource
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| resource.ends_with(end))
    {
        format!("{resource}es")
    } else {
        format!("{resource}s")
    };
    Ok(GroupResource::new(plural, group))
}

/// What a series is, as far as serving it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only ever increases (reset aside): served as a rate.
    Counter,
    /// Goes up and down: served as its value.
    Gauge,
    /// Histograms, summaries, info and other types: served only by explicit rules.
    Other,
}

impl MetricKind {
    /// Classifies by the store's metadata type when it has one (`counter`, `gauge`, …), else by
    /// name: `_total` means a counter, anything else is taken as a gauge.
    pub fn classify(series: &str, metadata_type: Option<&str>) -> Self {
        match metadata_type {
            Some("counter") => MetricKind::Counter,
            Some("gauge") => MetricKind::Gauge,
            Some("unknown" | "") | None if series.ends_with(COUNTER_SUFFIX) => MetricKind::Counter,
            Some("unknown" | "") | None => MetricKind::Gauge,
            Some(_) => MetricKind::Other,
        }
    }
}

/// A series a rule accepts, reduced to what serving needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Discovered {
    /// The API metric name (`http_requests_per_second`).
    pub metric: String,
    /// The store's series name (`http_requests_total`), the template's `<<.Series>>`.
    pub series: MetricName,
    /// The resources the series' labels name objects of; custom metrics are served for these.
    pub resources: BTreeSet<GroupResource>,
    /// Whether the series carries the namespace label (namespaced objects need it).
    pub namespaced: bool,
}

impl Rule {
    /// Whether the rule accepts a series of this name: every filter and `name.matches` hold.
    pub fn accepts(&self, series: &str) -> bool {
        self.filters.iter().all(|filter| filter.accepts(series)) && self.naming.accepts(series)
    }

    /// The resources whose objects the series' labels name.
    pub fn resources_for(&self, labels: &BTreeMap<String, String>) -> BTreeSet<GroupResource> {
        labels
            .keys()
            .filter_map(|label| self.association.resource_for(label))
            .collect()
    }

    /// Applies discovery, association and naming to one series (its labels incl. `__name__`);
    /// `None` when the rule does not serve it.
    pub fn discover(&self, labels: &BTreeMap<String, String>) -> Option<Discovered> {
        let name = labels.get(METRIC_NAME_LABEL)?;
        if !self.accepts(name) {
            return None;
        }
        let series = MetricName::new(name.as_str()).ok()?;
        let metric = self.naming.api_name(name)?;
        let resources = self.resources_for(labels);
        let namespaced = self
            .association
            .namespace_label()
            .is_some_and(|label| labels.contains_key(label.as_str()));
        Some(Discovered {
            metric,
            series,
            resources,
            namespaced,
        })
    }

    /// Discovers a whole `/api/v1/series` answer: one entry per (metric, series) with the union
    /// of the resources its label sets name, sorted by metric name.
    pub fn discover_all<'a>(
        &self,
        series: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
    ) -> Vec<Discovered> {
        let mut merged: BTreeMap<(String, MetricName), Discovered> = BTreeMap::new();
        for found in series
            .into_iter()
            .filter_map(|labels| self.discover(labels))
        {
            match merged.get_mut(&(found.metric.clone(), found.series.clone())) {
                Some(entry) => {
                    entry.resources.extend(found.resources);
                    entry.namespaced |= found.namespaced;
                }
                None => {
                    merged.insert((found.metric.clone(), found.series.clone()), found);
                }
            }
        }
        merged.into_values().collect()
    }
}

#[cfg(test)]
mod tests;
