//! The policy file: a ScalingPolicy YAML document, checked as the API server would check it
//! (the schema's ranges and the CRD's CEL rules, restated in Rust) and resolved into a [`Plan`]
//! with every default filled in.

use std::path::Path;

use metrics_model::Quantity;

use super::{Error, Result};
use crate::behavior::{Behavior, DEFAULT_TOLERANCE};
use crate::policy::{
    Fallback, MetricSourceType, MetricSpec, MetricTarget, MetricTargetType, ScalingPolicy,
};
use crate::recommend::Target;

/// The sync period when the policy gives none (the HPA's default).
pub const DEFAULT_SYNC_SECONDS: i32 = 15;

/// A validated policy, in the units the decision core works in.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `metadata.name`, else the file's stem: how the policy is labelled in output.
    pub name: String,
    /// The lowest replica count.
    pub min_replicas: i32,
    /// The highest replica count.
    pub max_replicas: i32,
    /// The controller-wide tolerance.
    pub tolerance: f64,
    /// The resolved behavior.
    pub behavior: Behavior,
    /// How often the controller decides, in seconds.
    pub sync_seconds: i32,
    /// What to hold when every metric keeps failing.
    pub fallback: Option<Fallback>,
    /// The metrics, in spec order.
    pub metrics: Vec<PlannedMetric>,
}

/// One metric of the policy: where its history is found and what it is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMetric {
    /// The history column it reads: the metric name, or `query` for a raw External query.
    pub key: String,
    /// Pods, Object or External.
    pub kind: MetricSourceType,
    /// The target in milli-units (always AverageValue for Pods).
    pub target: Target,
    /// The raw PromQL of an External `query` metric.
    pub query: Option<String>,
}

impl PlannedMetric {
    /// The target as a float in the metric's units, for load ratios and charts.
    pub fn target_value(&self) -> f64 {
        match self.target {
            Target::Value(milli) | Target::AverageValue(milli) => milli as f64 / 1000.0,
        }
    }
}

/// Reads and validates the policy file at `path`.
pub fn load(path: &Path) -> Result<Plan> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: display.clone(),
        source,
    })?;
    let fallback_name = path
        .file_stem()
        .map_or_else(|| "policy".to_owned(), |s| s.to_string_lossy().into_owned());
    parse(&text, &display, &fallback_name)
}

/// Parses and validates policy YAML; `path` names the file in errors.
pub fn parse(text: &str, path: &str, fallback_name: &str) -> Result<Plan> {
    let policy: ScalingPolicy = yaml_serde::from_str(text).map_err(|err| Error::PolicyShape {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    let invalid = |field: &str, reason: String| Error::InvalidPolicy {
        path: path.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let spec = &policy.spec;
    let min_replicas = spec.min_replicas.unwrap_or(1);
    if min_replicas < 0 {
        return Err(invalid(
            "spec.minReplicas",
            format!("must be at least 0, got {min_replicas}"),
        ));
    }
    if spec.max_replicas < 1 {
        return Err(invalid(
            "spec.maxReplicas",
            format!("must be at least 1, got {}", spec.max_replicas),
        ));
    }
    if min_replicas > spec.max_replicas {
        return Err(invalid(
            "spec.minReplicas",
            format!(
                "must not exceed spec.maxReplicas ({}), got {min_replicas}",
                spec.max_replicas
            ),
        ));
    }
    if spec.metrics.is_empty() || spec.metrics.len() > 16 {
        return Err(invalid(
            "spec.metrics",
            format!("must list 1 to 16 metrics, got {}", spec.metrics.len()),
        ));
    }
    let metrics = spec
        .metrics
        .iter()
        .enumerate()
        .map(|(index, metric)| plan_metric(metric, index).map_err(|(f, r)| invalid(&f, r)))
        .collect::<Result<Vec<_>>>()?;
    if min_replicas == 0 && metrics.iter().all(|m| m.kind == MetricSourceType::Pods) {
        return Err(invalid(
            "spec.minReplicas",
            "0 (scale to zero) needs at least one Object or External metric".to_owned(),
        ));
    }
    let tolerance = spec.tolerance.map_or(DEFAULT_TOLERANCE, |t| t.as_f64());
    if tolerance < 0.0 {
        return Err(invalid(
            "spec.tolerance",
            format!("must be at least 0, got {tolerance}"),
        ));
    }
    let sync_seconds = spec.sync_period_seconds.unwrap_or(DEFAULT_SYNC_SECONDS);
    if !(1..=3600).contains(&sync_seconds) {
        return Err(invalid(
            "spec.syncPeriodSeconds",
            format!("must be between 1 and 3600, got {sync_seconds}"),
        ));
    }
    if let Some(fallback) = spec.fallback {
        if fallback.failure_threshold < 1 {
            return Err(invalid(
                "spec.fallback.failureThreshold",
                format!("must be at least 1, got {}", fallback.failure_threshold),
            ));
        }
        if !(0..=spec.max_replicas).contains(&fallback.replicas) {
            return Err(invalid(
                "spec.fallback.replicas",
                format!(
                    "must be between 0 and spec.maxReplicas ({}), got {}",
                    spec.max_replicas, fallback.replicas
                ),
            ));
        }
    }
    let behavior = spec
        .behavior
        .clone()
        .unwrap_or_default()
        .resolve()
        .map_err(|err| match err {
            crate::Error::Invalid { field, reason } => invalid(&format!("spec.{field}"), reason),
            other => invalid("spec.behavior", other.to_string()),
        })?;
    Ok(Plan {
        name: policy
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| fallback_name.to_owned()),
        min_replicas,
        max_replicas: spec.max_replicas,
        tolerance,
        behavior,
        sync_seconds,
        fallback: spec.fallback,
        metrics,
    })
}

type FieldError = (String, String);

/// One metric's source and target, checked as the CRD's CEL rules check them.
fn plan_metric(metric: &MetricSpec, index: usize) -> Result<PlannedMetric, FieldError> {
    let field = |name: &str| format!("spec.metrics[{index}].{name}");
    let set = [
        ("pods", metric.pods.is_some()),
        ("object", metric.object.is_some()),
        ("external", metric.external.is_some()),
    ];
    let wanted = match metric.kind {
        MetricSourceType::Pods => "pods",
        MetricSourceType::Object => "object",
        MetricSourceType::External => "external",
    };
    let present: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    if present != [wanted] {
        return Err((
            field(wanted),
            format!(
                "type {:?} needs exactly the field {wanted} set, found {}",
                metric.kind,
                if present.is_empty() {
                    "none".to_owned()
                } else {
                    present.join(", ")
                }
            ),
        ));
    }
    let (key, target, query) = match (&metric.pods, &metric.object, &metric.external) {
        (Some(pods), _, _) => {
            let target = target(&pods.target, &field("pods.target"))?;
            if !matches!(target, Target::AverageValue(_)) {
                return Err((
                    field("pods.target.type"),
                    "a Pods metric needs an AverageValue target".to_owned(),
                ));
            }
            (pods.metric.name.clone(), target, None)
        }
        (_, Some(object), _) => (
            object.metric.name.clone(),
            target(&object.target, &field("object.target"))?,
            None,
        ),
        (_, _, Some(external)) => {
            let target = target(&external.target, &field("external.target"))?;
            match (&external.metric, &external.query) {
                (Some(metric), None) => (metric.name.clone(), target, None),
                (None, Some(query)) if !query.trim().is_empty() => {
                    ("query".to_owned(), target, Some(query.clone()))
                }
                _ => {
                    return Err((
                        field("external"),
                        "exactly one of metric or query must be set".to_owned(),
                    ));
                }
            }
        }
        _ => unreachable_source(&field(wanted))?,
    };
    if key.is_empty() {
        return Err((field("metric.name"), "must not be empty".to_owned()));
    }
    Ok(PlannedMetric {
        key,
        kind: metric.kind,
        target,
        query,
    })
}

/// The source was checked to be present above; this keeps the match total without a panic.
fn unreachable_source(field: &str) -> Result<(String, Target, Option<String>), FieldError> {
    Err((field.to_owned(), "must be set".to_owned()))
}

/// A target with exactly the field its type names, positive, in milli-units.
fn target(target: &MetricTarget, field: &str) -> Result<Target, FieldError> {
    let positive = |quantity: Option<Quantity>, name: &str| match quantity {
        Some(q) if q.milli_value() > 0 => Ok(q.milli_value()),
        Some(q) => Err((
            format!("{field}.{name}"),
            format!("must be positive, got {q}"),
        )),
        None => Err((
            format!("{field}.{name}"),
            format!("required by target type {:?}", target.kind),
        )),
    };
    match target.kind {
        MetricTargetType::Value if target.average_value.is_some() => Err((
            format!("{field}.averageValue"),
            "must not be set with type Value".to_owned(),
        )),
        MetricTargetType::AverageValue if target.value.is_some() => Err((
            format!("{field}.value"),
            "must not be set with type AverageValue".to_owned(),
        )),
        MetricTargetType::Value => Ok(Target::Value(positive(target.value, "value")?)),
        MetricTargetType::AverageValue => Ok(Target::AverageValue(positive(
            target.average_value,
            "averageValue",
        )?)),
    }
}
