//! The adapter's rules file, in prometheus-adapter's format: `rules` for
//! `custom.metrics.k8s.io` and `externalRules` for `external.metrics.k8s.io`, each rule with
//! `seriesQuery`, `seriesFilters`, `resources`, `name` and `metricsQuery`.
//!
//! Loading compiles every rule at once (regexes, resource mapping, query template), so a
//! mistake is reported when the file is loaded, with its place in the file (`rules[2].name.
//! matches: …`), never when a request first hits the rule. Inside a rule, unknown fields are
//! errors, as in upstream's strict parsing; unknown top-level sections (`resourceRules`, which
//! Sextant does not serve) are ignored with a warning.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::discovery::{Association, SeriesFilter};
use crate::naming::Naming;
use crate::querying::{Field, QueryTemplate};
use crate::{Error, Result};

/// One rule as written in YAML (prometheus-adapter's `DiscoveryRule`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// The selector passed to the store's `/api/v1/series` to find candidate series.
    #[serde(default)]
    pub series_query: String,
    /// Extra conditions on the series name, all of which must hold.
    #[serde(default)]
    pub series_filters: Option<Vec<FilterSpec>>,
    /// Which series labels name which Kubernetes objects.
    #[serde(default)]
    pub resources: ResourcesSpec,
    /// How the series name becomes the API metric name.
    #[serde(default)]
    pub name: NameSpec,
    /// The PromQL template (`<<` `>>` delimiters) a request is answered with.
    #[serde(default)]
    pub metrics_query: String,
    /// Upstream's find/replace on `LabelValuesByName`, which Sextant's templates cannot read;
    /// accepted so existing files load, and reported as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_value_replacements: Option<yaml_serde::Value>,
    /// What the store's metadata must say of a series' type (not part of the file: the default
    /// rules use it to tell counters without the `_total` suffix from gauges).
    #[serde(skip)]
    pub store_type: StoreType,
}

/// A condition on the type the store's metadata (`/api/v1/metadata`) gives a series' metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreType {
    /// Any type, or none known.
    #[default]
    Any,
    /// The metadata says `counter`.
    Counter,
    /// The metadata does not say `counter` (a gauge, or nothing known).
    NotCounter,
}

impl StoreType {
    /// Whether a series whose metric has metadata type `kind` (if any) passes.
    pub fn admits(self, kind: Option<&str>) -> bool {
        match self {
            StoreType::Any => true,
            StoreType::Counter => kind == Some("counter"),
            StoreType::NotCounter => kind != Some("counter"),
        }
    }
}

/// One `seriesFilters` entry: exactly one of `is` and `isNot`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterSpec {
    /// The series name must match this regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is: Option<String>,
    /// The series name must not match this regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_not: Option<String>,
}

/// The `resources` section: label overrides, a label template, and (external rules) scoping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourcesSpec {
    /// A label naming template such as `kube_<<.Group>>_<<.Resource>>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Series label → the resource whose object names it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<BTreeMap<String, GroupResourceSpec>>,
    /// External rules only: whether a request's namespace restricts the query (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaced: Option<bool>,
}

/// A resource as overrides write it: `{group: apps, resource: deployment}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupResourceSpec {
    /// The API group, empty (or absent) for the core group or to let Sextant find it.
    #[serde(default)]
    pub group: String,
    /// The resource, singular or plural (`pod` or `pods`).
    pub resource: String,
}

/// The `name` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameSpec {
    /// Regex searched for in the series name; empty means `.*`.
    #[serde(default)]
    pub matches: String,
    /// The API name, with `$1`/`${1}`/`${name}` captures; empty means `$1` or `$0`.
    #[serde(default, rename = "as")]
    pub replacement: String,
}

/// Which API a rule serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `rules`: `custom.metrics.k8s.io`, metrics about Kubernetes objects.
    Custom,
    /// `externalRules`: `external.metrics.k8s.io`, metrics about nothing in the cluster.
    External,
}

/// One compiled rule: what discovery, naming and querying need, checked at load time.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) at: String,
    pub(crate) kind: RuleKind,
    pub(crate) series_query: String,
    pub(crate) filters: Vec<SeriesFilter>,
    pub(crate) association: Association,
    pub(crate) naming: Naming,
    pub(crate) template: QueryTemplate,
    pub(crate) namespaced: bool,
    pub(crate) store_type: StoreType,
}

impl Rule {
    /// Compiles one rule; `kind` and `index` place it in the file for error messages.
    pub fn compile(
        spec: &RuleSpec,
        kind: RuleKind,
        index: usize,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let section = match kind {
            RuleKind::Custom => "rules",
            RuleKind::External => "externalRules",
        };
        let at = format!("{section}[{index}]");
        if spec.series_query.trim().is_empty() {
            return Err(Error::Invalid {
                at: format!("{at}.seriesQuery"),
                reason: "must not be empty: it selects the series this rule serves".to_owned(),
            });
        }
        let filters = spec
            .series_filters
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, filter)| SeriesFilter::new(filter, &format!("{at}.seriesFilters[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let association = Association::from_spec(&spec.resources, &format!("{at}.resources"))?;
        let (naming, naming_warnings) =
            Naming::new(&spec.name.matches, &spec.name.replacement, &at)?;
        warnings.extend(naming_warnings);
        let template = QueryTemplate::parse(&spec.metrics_query, &format!("{at}.metricsQuery"))?;
        let namespaced = match (kind, spec.resources.namespaced) {
            (RuleKind::Custom, Some(_)) => {
                warnings.push(format!(
                    "{at}.resources.namespaced: ignored on custom rules (the requested object \
                     decides whether a namespace applies)"
                ));
                true
            }
            (_, namespaced) => namespaced.unwrap_or(true),
        };
        if spec.label_value_replacements.is_some() {
            warnings.push(format!(
                "{at}.labelValueReplacements: ignored (it only affects LabelValuesByName, which \
                 Sextant's templates do not offer)"
            ));
        }
        // Without the matchers, one namespace's request would be answered with every
        // namespace's samples: refused, where prometheus-adapter only fails to match them.
        if !template.uses(Field::LabelMatchers) && (kind == RuleKind::Custom || namespaced) {
            return Err(Error::Invalid {
                at: format!("{at}.metricsQuery"),
                reason: "must use <<.LabelMatchers>>, which restricts the query to the \
                         requested namespace and objects (an external rule about no namespace \
                         says `resources: {namespaced: false}`)"
                    .to_owned(),
            });
        }
        Ok(Rule {
            at,
            kind,
            series_query: spec.series_query.clone(),
            filters,
            association,
            naming,
            template,
            namespaced,
            store_type: spec.store_type,
        })
    }

    /// Where the rule sits in the file (`rules[2]`), for logs and error messages.
    pub fn location(&self) -> &str {
        &self.at
    }

    /// Which API the rule serves.
    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    /// The selector discovery sends to the store's `/api/v1/series` for this rule.
    pub fn series_query(&self) -> &str {
        &self.series_query
    }

    /// The range the rule's query averages over (its `metricsQuery`'s widest `[range]`),
    /// reported as `windowSeconds` so a consumer knows how smoothed a value is.
    pub fn window(&self) -> Option<std::time::Duration> {
        self.template.window()
    }

    /// What the store's metadata must say of a series' type for this rule to serve it.
    pub fn store_type(&self) -> StoreType {
        self.store_type
    }

    /// The rule's naming, for diagnostics.
    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    /// The rule's resource association, for mapping requested resources to labels.
    pub fn association(&self) -> &Association {
        &self.association
    }

    /// The rule's query template.
    pub fn template(&self) -> &QueryTemplate {
        &self.template
    }

    /// External rules: whether a request's namespace restricts the query.
    pub fn is_namespaced(&self) -> bool {
        self.namespaced
    }
}

/// The whole file as written, before compilation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    /// Rules for `custom.metrics.k8s.io`.
    #[serde(default)]
    pub rules: Option<Vec<RuleSpec>>,
    /// Rules for `external.metrics.k8s.io`.
    #[serde(default)]
    pub external_rules: Option<Vec<RuleSpec>>,
}

/// Sections of upstream's file that Sextant knows and deliberately does not serve.
const IGNORED_SECTIONS: &[(&str, &str)] = &[(
    "resourceRules",
    "Sextant serves no resource metrics (metrics.k8s.io); keep metrics-server or \
     prometheus-adapter for `kubectl top`",
)];

/// A loaded, compiled configuration and what was noticed while loading it.
#[derive(Debug, Clone)]
pub struct Config {
    rules: Vec<Rule>,
    external_rules: Vec<Rule>,
    warnings: Vec<String>,
}

impl Config {
    /// Parses and compiles a prometheus-adapter style YAML document.
    pub fn from_yaml(yaml: &str) -> Result<Self> {
        let mut warnings = Vec::new();
        if yaml.trim().is_empty() {
            warnings.push("the configuration is empty: no metrics will be served".to_owned());
            return Config::from_spec(&ConfigSpec::default(), warnings);
        }
        let top: BTreeMap<String, yaml_serde::Value> = yaml_serde::from_str(yaml)?;
        for key in top.keys() {
            if key == "rules" || key == "externalRules" {
                continue;
            }
            match IGNORED_SECTIONS.iter().find(|(name, _)| name == key) {
                Some((_, why)) => warnings.push(format!("{key}: ignored: {why}")),
                None => warnings.push(format!("{key}: unknown section, ignored")),
            }
        }
        // A second pass over the text keeps the parser's field paths and line numbers in errors.
        let spec: ConfigSpec = yaml_serde::from_str(yaml)?;
        Config::from_spec(&spec, warnings)
    }

    /// Reads and compiles the file at `path` (the adapter's `--config`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_yaml(&yaml)
    }

    /// Compiles rules given as values (the defaults are built this way); `warnings` are kept.
    pub fn from_spec(spec: &ConfigSpec, mut warnings: Vec<String>) -> Result<Self> {
        let mut compile = |specs: &Option<Vec<RuleSpec>>, kind| {
            specs
                .iter()
                .flatten()
                .enumerate()
                .map(|(index, rule)| Rule::compile(rule, kind, index, &mut warnings))
                .collect::<Result<Vec<_>>>()
        };
        let rules = compile(&spec.rules, RuleKind::Custom)?;
        let external_rules = compile(&spec.external_rules, RuleKind::External)?;
        Ok(Config {
            rules,
            external_rules,
            warnings,
        })
    }

    /// The rules serving `custom.metrics.k8s.io`, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules serving `external.metrics.k8s.io`, in file order.
    pub fn external_rules(&self) -> &[Rule] {
        &self.external_rules
    }

    /// What was accepted but ignored or looks wrong; the caller logs these at load.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests;
