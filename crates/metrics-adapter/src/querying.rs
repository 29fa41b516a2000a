//! Querying: turning a request into the PromQL of a rule's `metricsQuery` template.
//!
//! The template language is the part of Go's `text/template` (with `<<` `>>` delimiters) that
//! prometheus-adapter configurations use: the actions `<<.Series>>`, `<<.LabelMatchers>>`,
//! `<<.GroupBy>>` and `<<.GroupBySlice>>`, with optional spaces and `-` trim markers. Anything
//! else (pipelines, `range`, `if`, `index`, …) is rejected when the file is loaded.
//!
//! Every value that comes from a request — namespace, object names, label selector values —
//! reaches the query only inside a [`LabelMatcher`], printed with metrics-model's quoting, and
//! object names are matched literally (`=` for one, an escaped alternation for several), so no
//! request can change the structure of the query or widen what it selects.

use metrics_model::Selector;
use metrics_model::association::GroupResource;
use metrics_model::promql::{LabelMatcher, LabelName, MetricName, selector_matchers};

use crate::config::Rule;
use crate::{Error, Result};

/// A value the template can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `<<.Series>>`: the store's series name.
    Series,
    /// `<<.LabelMatchers>>`: the comma-joined matchers of the request.
    LabelMatchers,
    /// `<<.GroupBy>>`: the comma-joined labels the answer is grouped by.
    GroupBy,
    /// `<<.GroupBySlice>>`: the same labels as Go prints a slice, `[pod]` or `[a b]`.
    GroupBySlice,
}

const FIELDS: &[(&str, Field)] = &[
    (".Series", Field::Series),
    (".LabelMatchers", Field::LabelMatchers),
    (".GroupBy", Field::GroupBy),
    (".GroupBySlice", Field::GroupBySlice),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A compiled `metricsQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTemplate {
    pieces: Vec<Piece>,
    /// [`QueryTemplate::window`], read once from the text: every answer reports it.
    window: Option<std::time::Duration>,
}

impl QueryTemplate {
    /// Parses a template; `at` is its place in the file (`rules[0].metricsQuery`).
    pub fn parse(template: &str, at: &str) -> Result<Self> {
        let error = |reason: String| Error::Template {
            at: at.to_owned(),
            reason,
        };
        if template.trim().is_empty() {
            return Err(error("must not be empty".to_owned()));
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        let mut trim_next = false;
        while let Some(open) = rest.find("<<") {
            push_text(&mut text, &rest[..open], trim_next);
            let after = &rest[open + 2..];
            let close = after.find(">>").ok_or_else(|| {
                let position = template.len() - rest.len() + open;
                error(format!(
                    "action opened at byte {position} is never closed with >>"
                ))
            })?;
            let raw = &after[..close];
            let mut action = raw;
            if let Some(trimmed) = action.strip_prefix("- ") {
                text.truncate(text.trim_end().len());
                action = trimmed;
            }
            trim_next = false;
            if let Some(trimmed) = action.strip_suffix(" -") {
                trim_next = true;
                action = trimmed;
            }
            let action = action.trim();
            let field = FIELDS
                .iter()
                .find(|(name, _)| *name == action)
                .map(|(_, field)| *field)
                .ok_or_else(|| error(unsupported(raw, action)))?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Field(field));
            rest = &after[close + 2..];
        }
        push_text(&mut text, rest, trim_next);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let window = widest_range(&pieces);
        Ok(QueryTemplate { pieces, window })
    }

    /// Whether the template prints `field` (a template without `LabelMatchers` is not scoped).
    pub fn uses(&self, field: Field) -> bool {
        self.pieces.contains(&Piece::Field(field))
    }

    /// The widest range (`[2m]`, `[5m:30s]`) the template's text selects, reported as each
    /// value's `windowSeconds`; `None` for a template that reads instant values only.
    pub fn window(&self) -> Option<std::time::Duration> {
        self.window
    }

    /// Prints the query for the given values.
    pub fn render(&self, args: &TemplateArgs<'_>) -> String {
        use std::fmt::Write;
        // Written in place (writing to a `String` cannot fail), one allocation for most.
        let mut query = String::with_capacity(128);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => query.push_str(text),
                Piece::Field(Field::Series) => query.push_str(args.series.as_str()),
                Piece::Field(Field::LabelMatchers) => {
                    for (index, matcher) in args.matchers.iter().enumerate() {
                        if index > 0 {
                            query.push(',');
                        }
                        let _ = write!(query, "{matcher}");
                    }
                }
                Piece::Field(Field::GroupBy) => push_joined(&mut query, args.group_by, ","),
                Piece::Field(Field::GroupBySlice) => {
                    query.push('[');
                    push_joined(&mut query, args.group_by, " ");
                    query.push(']');
                }
            }
        }
        query
    }
}

fn push_text(text: &mut String, piece: &str, trim_start: bool) {
    text.push_str(if trim_start {
        piece.trim_start()
    } else {
        piece
    });
}

/// Appends `labels` to `out`, `separator` between them.
fn push_joined(out: &mut String, labels: &[LabelName], separator: &str) {
    for (index, label) in labels.iter().enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        out.push_str(label.as_str());
    }
}

fn unsupported(raw: &str, action: &str) -> String {
    let why = match action.split_whitespace().next().unwrap_or_default() {
        ".LabelValuesByName" => "LabelValuesByName is not supported; use <<.LabelMatchers>>",
        "range" | "if" | "with" | "else" | "end" | "define" | "template" | "block" => {
            "control structures are not supported"
        }
        _ if action.contains('|') => "pipelines are not supported",
        _ if action.starts_with("/*") => "comments are not supported",
        _ => "unknown action",
    };
    format!(
        "unsupported template action <<{raw}>>: {why} (only <<.Series>>, <<.LabelMatchers>>, \
         <<.GroupBy>> and <<.GroupBySlice>> are)"
    )
}

/// A PromQL duration such as `2m`, `1h30m` or `500ms`; `None` for anything else.
fn prometheus_duration(text: &str) -> Option<std::time::Duration> {
    const UNITS: &[(&str, f64)] = &[
        ("ms", 0.001),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
        ("d", 86_400.0),
        ("w", 604_800.0),
        ("y", 31_536_000.0),
    ];
    let mut rest = text;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number.parse().ok()?;
        let (unit, scale) = UNITS.iter().find(|(unit, _)| tail.starts_with(unit))?;
        seconds += number * scale;
        rest = &tail[unit.len()..];
    }
    (seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds))
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct TemplateArgs<'a> {
    /// `<<.Series>>`.
    pub series: &'a MetricName,
    /// `<<.LabelMatchers>>`.
    pub matchers: &'a [LabelMatcher],
    /// `<<.GroupBy>>` and `<<.GroupBySlice>>`.
    pub group_by: &'a [LabelName],
}

/// Which objects of the resource a custom-metrics request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects<'a> {
    /// These objects, by name (matched literally); an empty list selects nothing.
    Named(&'a [String]),
    /// Every object in scope, one result per object (the caller keeps the ones it wants), so
    /// the query does not grow with the number of objects.
    All,
}

/// A `custom.metrics.k8s.io` request, resolved to one series of a rule.
#[derive(Debug, Clone, Copy)]
pub struct ObjectQuery<'a> {
    /// The series the metric was discovered on.
    pub series: &'a MetricName,
    /// The resource of the described objects (`pods`, `deployments.apps`, `namespaces`).
    pub resource: &'a GroupResource,
    /// The namespace of namespaced objects; `None` for root-scoped ones (nodes, namespaces).
    pub namespace: Option<&'a str>,
    /// Which objects.
    pub objects: Objects<'a>,
    /// `?metricLabelSelector=`: conditions on the series' other labels.
    pub metric_selector: &'a Selector,
}

/// An `external.metrics.k8s.io` request, resolved to one series of a rule.
#[derive(Debug, Clone, Copy)]
pub struct ExternalQuery<'a> {
    /// The series the metric was discovered on.
    pub series: &'a MetricName,
    /// The request's namespace; it restricts the query unless the rule says `namespaced: false`.
    pub namespace: Option<&'a str>,
    /// `?labelSelector=`: conditions on the series' labels.
    pub selector: &'a Selector,
}

impl Rule {
    /// The PromQL answering a custom-metrics request: namespace matcher (when namespaced),
    /// object-name matcher, then the metric label selector; grouped by the object label.
    pub fn object_query(&self, request: &ObjectQuery<'_>) -> Result<String> {
        let label = self
            .association
            .label_for(request.resource)
            .ok_or_else(|| Error::UnmappedResource {
                rule: self.at.clone(),
                resource: request.resource.to_string(),
            })?;
        let mut matchers = Vec::new();
        if let Some(namespace) = request.namespace {
            matchers.push(LabelMatcher::equal(self.namespace_label()?, namespace));
        }
        if let Objects::Named(names) = request.objects {
            matchers.push(LabelMatcher::one_of(label.clone(), names));
        }
        matchers.extend(request_matchers(
            request.metric_selector,
            "metricLabelSelector",
        )?);
        Ok(self.template.render(&TemplateArgs {
            series: request.series,
            matchers: &matchers,
            group_by: &[label],
        }))
    }

    /// The PromQL answering an external-metrics request: the namespace matcher (unless the rule
    /// is not namespaced) and the label selector; nothing to group by.
    pub fn external_query(&self, request: &ExternalQuery<'_>) -> Result<String> {
        let mut matchers = Vec::new();
        if let (true, Some(namespace)) = (self.namespaced, request.namespace) {
            matchers.push(LabelMatcher::equal(self.namespace_label()?, namespace));
        }
        matchers.extend(request_matchers(request.selector, "labelSelector")?);
        Ok(self.template.render(&TemplateArgs {
            series: request.series,
            matchers: &matchers,
            group_by: &[],
        }))
    }

    fn namespace_label(&self) -> Result<LabelName> {
        self.association
            .namespace_label()
            .ok_or_else(|| Error::UnmappedResource {
                rule: self.at.clone(),
                resource: "namespaces".to_owned(),
            })
    }
}

/// A request's label selector as matchers. Kubernetes label keys cannot start with `_`, so a
/// selector can never reach `__name__` and pick another metric than the rule serves.
fn request_matchers(selector: &Selector, context: &str) -> Result<Vec<LabelMatcher>> {
    selector_matchers(selector).map_err(|source| Error::Request {
        context: context.to_owned(),
        source,
    })
}

/// The widest range (`[2m]`, `[5m:30s]`) in the text of `pieces`.
fn widest_range(pieces: &[Piece]) -> Option<std::time::Duration> {
    pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Text(text) => Some(text.as_str()),
            Piece::Field(_) => None,
        })
        .flat_map(|text| text.split('[').skip(1))
        .filter_map(|range| {
            let (inside, _) = range.split_once(']')?;
            let range = inside.split(':').next()?.trim();
            prometheus_duration(range)
        })
        .max()
}

#[cfg(test)]
mod tests;
