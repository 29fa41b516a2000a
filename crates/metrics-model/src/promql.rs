//! Safe PromQL building: a small typed builder for instant queries and the translation of a
//! Kubernetes label selector into PromQL label matchers.
//!
//! Every string that can come from a request reaches the query only through [`quote`] (as a
//! string literal) or [`escape_regex`] then [`quote`] (as a literal alternative of a regex);
//! identifiers are [`MetricName`] and [`LabelName`], validated on construction. Nothing a
//! caller passes can therefore change the structure of the query.
//!
//! ```
//! use std::time::Duration;
//! use metrics_model::{Selector, promql::*};
//!
//! let selector = Selector::parse("app in (web,api),tier!=cache")?;
//! let series = VectorSelector::metric(MetricName::new("http_requests_total")?)
//!     .with(LabelMatcher::equal(LabelName::new("namespace")?, "shop"))
//!     .with_all(selector_matchers(&selector)?);
//! let query = Expr::range(RangeFunction::Rate, series, Duration::from_secs(120))
//!     .aggregate(Aggregation::Sum, [LabelName::new("namespace")?, LabelName::new("pod")?]);
//! assert_eq!(
//!     query.to_string(),
//!     r#"sum by (namespace, pod) (rate(http_requests_total{namespace="shop",app=~"api|web",tier!="cache"}[2m]))"#
//! );
//! # Ok::<(), metrics_model::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use crate::Result;
use crate::selector::{Operator, Selector};

mod escape;
mod names;
pub mod scope;

pub use escape::{escape_regex, quote};
pub use names::{LabelName, MetricName};
pub use scope::{confine_to_namespace, is_confined_to};

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the label equals the value (absent counts as "").
    Equal,
    /// `!=`: the label differs from the value.
    NotEqual,
    /// `=~`: the label fully matches the regular expression.
    Regex,
    /// `!~`: the label does not fully match the regular expression.
    NotRegex,
}

/// One `name op "value"` clause of a vector selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    name: LabelName,
    op: MatchOp,
    value: String,
}

impl LabelMatcher {
    /// `name="value"`, matching `value` literally.
    pub fn equal(name: LabelName, value: impl Into<String>) -> Self {
        LabelMatcher {
            name,
            op: MatchOp::Equal,
            value: value.into(),
        }
    }

    /// `name!="value"`, excluding `value` literally.
    pub fn not_equal(name: LabelName, value: impl Into<String>) -> Self {
        LabelMatcher {
            name,
            op: MatchOp::NotEqual,
            value: value.into(),
        }
    }

    /// The label is one of `values`, each matched literally; an empty list matches nothing.
    pub fn one_of<S: AsRef<str>>(name: LabelName, values: &[S]) -> Self {
        match values {
            [single] => LabelMatcher::equal(name, single.as_ref()),
            _ => LabelMatcher {
                name,
                op: MatchOp::Regex,
                value: alternation(values),
            },
        }
    }

    /// The label is none of `values`, each matched literally; an empty list excludes nothing.
    pub fn none_of<S: AsRef<str>>(name: LabelName, values: &[S]) -> Self {
        match values {
            [single] => LabelMatcher::not_equal(name, single.as_ref()),
            _ => LabelMatcher {
                name,
                op: MatchOp::NotRegex,
                value: alternation(values),
            },
        }
    }

    /// `name=~"pattern"` with a pattern the operator wrote (configuration), not a request.
    pub fn regex(name: LabelName, pattern: impl Into<String>) -> Self {
        LabelMatcher {
            name,
            op: MatchOp::Regex,
            value: pattern.into(),
        }
    }

    /// `name!~"pattern"` with a pattern the operator wrote (configuration), not a request.
    pub fn not_regex(name: LabelName, pattern: impl Into<String>) -> Self {
        LabelMatcher {
            name,
            op: MatchOp::NotRegex,
            value: pattern.into(),
        }
    }

    /// The label the matcher tests.
    pub fn name(&self) -> &LabelName {
        &self.name
    }

    /// How it compares.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The literal value, or the regular expression for `=~` and `!~`.
    pub fn value(&self) -> &str {
        &self.value
    }
}

fn alternation<S: AsRef<str>>(values: &[S]) -> String {
    if values.is_empty() {
        return escape::MATCH_NOTHING.to_owned();
    }
    let escaped: Vec<String> = values.iter().map(|v| escape_regex(v.as_ref())).collect();
    escaped.join("|")
}

/// The PromQL label matchers that select what a Kubernetes selector selects.
///
/// Kubernetes and Prometheus agree that `!=` and `notin` also hold where the label is absent,
/// so the translation is exact: `in` becomes an escaped alternation, `key` becomes `key!=""`
/// and `!key` becomes `key=""`. Label keys must also be valid Prometheus label names
/// (`app.kubernetes.io/name` is not), else the error names the key.
pub fn selector_matchers(selector: &Selector) -> Result<Vec<LabelMatcher>> {
    selector
        .requirements()
        .iter()
        .map(|requirement| {
            let name = LabelName::new(requirement.key())?;
            let values = requirement.values();
            Ok(match requirement.operator() {
                Operator::Equals | Operator::In => LabelMatcher::one_of(name, values),
                Operator::NotEquals | Operator::NotIn => LabelMatcher::none_of(name, values),
                Operator::Exists => LabelMatcher::not_equal(name, ""),
                Operator::DoesNotExist => LabelMatcher::equal(name, ""),
            })
        })
        .collect()
}

/// A series selector: an optional metric name and label matchers, as in `m{a="b"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorSelector {
    metric: Option<MetricName>,
    matchers: Vec<LabelMatcher>,
}

impl VectorSelector {
    /// Selects the series of one metric.
    pub fn metric(metric: MetricName) -> Self {
        VectorSelector {
            metric: Some(metric),
            matchers: Vec::new(),
        }
    }

    /// Selects series by labels alone (the caller adds at least one matcher).
    pub fn any_metric() -> Self {
        VectorSelector {
            metric: None,
            matchers: Vec::new(),
        }
    }

    /// Adds one matcher.
    pub fn with(mut self, matcher: LabelMatcher) -> Self {
        self.matchers.push(matcher);
        self
    }

    /// Adds several matchers.
    pub fn with_all(mut self, matchers: impl IntoIterator<Item = LabelMatcher>) -> Self {
        self.matchers.extend(matchers);
        self
    }

    /// The metric name, when there is one.
    pub fn metric_name(&self) -> Option<&MetricName> {
        self.metric.as_ref()
    }

    /// The matchers, in the order they were added.
    pub fn matchers(&self) -> &[LabelMatcher] {
        &self.matchers
    }
}

/// Aggregation operators Sextant queries use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
}

/// Functions over a range of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeFunction {
    /// `rate`: per-second increase of a counter.
    Rate,
    /// `irate`: per-second increase from the last two samples.
    Irate,
    /// `increase`: increase of a counter over the range.
    Increase,
    /// `delta`: change of a gauge over the range.
    Delta,
    /// `deriv`: per-second derivative of a gauge.
    Deriv,
    /// `avg_over_time`
    AvgOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `last_over_time`
    LastOverTime,
}

/// An instant-query expression built from the pieces above.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// The latest sample of each selected series.
    Vector(VectorSelector),
    /// A function over the samples of each series within `range`.
    Range {
        /// Which function.
        function: RangeFunction,
        /// Which series.
        selector: VectorSelector,
        /// How far back (rounded down to whole milliseconds).
        range: Duration,
    },
    /// An aggregation that keeps the `by` labels.
    Aggregate {
        /// Which operator.
        op: Aggregation,
        /// The labels kept in the result.
        by: Vec<LabelName>,
        /// What is aggregated.
        expr: Box<Expr>,
    },
}

impl Expr {
    /// `function(selector[range])`.
    pub fn range(function: RangeFunction, selector: VectorSelector, range: Duration) -> Self {
        Expr::Range {
            function,
            selector,
            range,
        }
    }

    /// `op by (labels) (self)`.
    pub fn aggregate(self, op: Aggregation, by: impl IntoIterator<Item = LabelName>) -> Self {
        Expr::Aggregate {
            op,
            by: by.into_iter().collect(),
            expr: Box::new(self),
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op, quote(&self.value))
    }
}

/// Words the PromQL lexer reads as keywords or numbers (case-insensitively); a metric with
/// such a name is selected as `{__name__="…"}` so it cannot turn into an operator or a number.
const RESERVED_WORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "atan2",
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "start",
    "end",
    "step",
    "inf",
    "nan",
];

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        match &self.metric {
            Some(metric)
                if RESERVED_WORDS
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(metric.as_str())) =>
            {
                write!(f, "{{__name__={}", quote(metric.as_str()))?;
                separator = ",";
            }
            Some(metric) if self.matchers.is_empty() => return write!(f, "{metric}"),
            Some(metric) => write!(f, "{metric}{{")?,
            None => f.write_str("{")?,
        }
        for matcher in &self.matchers {
            write!(f, "{separator}{matcher}")?;
            separator = ",";
        }
        f.write_str("}")
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Count => "count",
        })
    }
}

impl fmt::Display for RangeFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RangeFunction::Rate => "rate",
            RangeFunction::Irate => "irate",
            RangeFunction::Increase => "increase",
            RangeFunction::Delta => "delta",
            RangeFunction::Deriv => "deriv",
            RangeFunction::AvgOverTime => "avg_over_time",
            RangeFunction::MinOverTime => "min_over_time",
            RangeFunction::MaxOverTime => "max_over_time",
            RangeFunction::SumOverTime => "sum_over_time",
            RangeFunction::LastOverTime => "last_over_time",
        })
    }
}

/// A PromQL duration literal such as `2m`, `1h30m` or `1500ms`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    if seconds == 0 {
        return "0s".to_owned();
    }
    let parts = [
        (seconds / 3600, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect()
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Vector(selector) => write!(f, "{selector}"),
            Expr::Range {
                function,
                selector,
                range,
            } => {
                write!(f, "{function}({selector}[{}])", format_duration(*range))
            }
            Expr::Aggregate { op, by, expr } => {
                write!(f, "{op}")?;
                if !by.is_empty() {
                    let labels: Vec<&str> = by.iter().map(LabelName::as_str).collect();
                    write!(f, " by ({})", labels.join(", "))?;
                }
                write!(f, " ({expr})")
            }
        }
    }
}

#[cfg(test)]
mod tests;
