//! The `recommend` JSON contract on the way in: the stdin snapshot of PRODUCT.md, read in two
//! steps so the two kinds of bad input stay apart.
//!
//! 1. Shape ([`Error::Malformed`], exit 2): the text must be JSON, required fields present
//!    (`currentReplicas`, `maxReplicas`, `metrics`, each metric's `type` and `target` with its
//!    `type`, each pod's `name` and `phase`), and every field of the right JSON type. Unknown
//!    fields are ignored.
//! 2. Values (the other [`Error`] variants, exit 1): quantities must parse and targets be
//!    positive, metric, target and phase names must be known, counts in range,
//!    `minReplicas ≤ maxReplicas`, timestamps RFC 3339, and `behavior` a valid autoscaling/v2
//!    `HorizontalPodAutoscalerBehavior` (its shape included, since it is checked as a whole).

use std::collections::BTreeMap;

use jiff::Timestamp;
use metrics_model::Quantity;
use serde::Deserialize;

use crate::behavior::{
    DEFAULT_TOLERANCE, HorizontalPodAutoscalerBehavior, ScaleEvent, TimestampedRecommendation,
};
use crate::{Error, Result};

use super::{Metric, MetricSource, Pod, PodPhase, PodSamples, PodSet, Snapshot, Target};

/// The stdin snapshot as JSON carries it, before its values are checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotJson {
    now: Option<String>,
    current_replicas: i64,
    status_replicas: Option<i64>,
    min_replicas: Option<i64>,
    max_replicas: i64,
    tolerance: Option<QuantityJson>,
    pods: Option<Vec<PodJson>>,
    metrics: Vec<MetricJson>,
    behavior: Option<serde_json::Value>,
    recommendations: Option<Vec<RecommendationJson>>,
    scale_events: Option<Vec<ScaleEventJson>>,
}

#[derive(Debug, Deserialize)]
struct PodJson {
    name: String,
    phase: String,
    ready: Option<bool>,
    deleting: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricJson {
    #[serde(rename = "type")]
    kind: String,
    target: TargetJson,
    pod_values: Option<BTreeMap<String, QuantityJson>>,
    value: Option<QuantityJson>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetJson {
    #[serde(rename = "type")]
    kind: String,
    value: Option<QuantityJson>,
    average_value: Option<QuantityJson>,
}

#[derive(Debug, Deserialize)]
struct RecommendationJson {
    timestamp: String,
    replicas: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScaleEventJson {
    timestamp: String,
    replica_change: i64,
}

/// A quantity as JSON may carry it, a string or a number, checked in the second step.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum QuantityJson {
    Text(String),
    Number(serde_json::Number),
}

impl QuantityJson {
    fn parse(&self, field: impl FnOnce() -> String) -> Result<Quantity> {
        let parsed = match self {
            QuantityJson::Text(text) => Quantity::parse(text),
            QuantityJson::Number(number) => match number.as_i64() {
                Some(units) => Ok(Quantity::from_units(units)),
                // serde_json prints floats in the shortest form that reads back the same.
                None => Quantity::parse(&number.to_string()),
            },
        };
        parsed.map_err(|source| Error::Quantity {
            field: field(),
            source,
        })
    }
}

impl Snapshot {
    /// Reads a snapshot from the `recommend` JSON contract; `now` is used when the snapshot has
    /// no `now` of its own.
    pub fn from_json(text: &str, now: Timestamp) -> Result<Self> {
        let json: SnapshotJson = serde_json::from_str(text).map_err(Error::Malformed)?;
        json.into_snapshot(now)
    }
}

impl SnapshotJson {
    fn into_snapshot(self, default_now: Timestamp) -> Result<Snapshot> {
        let now = match &self.now {
            Some(text) => timestamp(text, || "now".to_owned())?,
            None => default_now,
        };
        let current_replicas = replicas(self.current_replicas, "currentReplicas", 0)?;
        let status_replicas = match self.status_replicas {
            Some(value) => replicas(value, "statusReplicas", 0)?,
            None => current_replicas,
        };
        let min_replicas = match self.min_replicas {
            Some(value) => replicas(value, "minReplicas", 0)?,
            None => 1,
        };
        let max_replicas = replicas(self.max_replicas, "maxReplicas", 1)?;
        if max_replicas < min_replicas {
            return Err(Error::invalid(
                "maxReplicas",
                format!(
                    "must be greater than or equal to minReplicas ({min_replicas}), got {max_replicas}"
                ),
            ));
        }
        let tolerance = match &self.tolerance {
            Some(quantity) => quantity.parse(|| "tolerance".to_owned())?.as_f64(),
            None => DEFAULT_TOLERANCE,
        };
        if tolerance < 0.0 {
            return Err(Error::invalid(
                "tolerance",
                "must be greater than or equal to 0",
            ));
        }

        let pods = self
            .pods
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, pod)| pod.into_pod(index))
            .collect::<Result<Vec<_>>>()?;
        let pods = PodSet::new(pods)?;

        if self.metrics.is_empty() {
            return Err(Error::NoMetrics);
        }
        let metrics = self
            .metrics
            .into_iter()
            .enumerate()
            .map(|(index, metric)| metric.into_metric(index))
            .collect::<Result<Vec<_>>>()?;
        if min_replicas == 0
            && !metrics.iter().any(|m| {
                matches!(
                    m.source,
                    MetricSource::Object { .. } | MetricSource::External { .. }
                )
            })
        {
            // The HPA's validation: scale to zero needs a metric that can see demand at zero pods.
            return Err(Error::invalid(
                "minReplicas",
                "0 requires at least one Object or External metric",
            ));
        }

        // An absent behavior means the autoscaling/v2 defaults through the behavior path, as
        // PRODUCT.md requires. (The HPA itself keeps a nil behavior on its legacy
        // `normalizeDesiredReplicas` path — scale-up limit max(2 × current, 4), no scale events;
        // PRODUCT.md names and rejects that path explicitly, so here the product decision holds.)
        let behavior = match self.behavior {
            None | Some(serde_json::Value::Null) => HorizontalPodAutoscalerBehavior::default(),
            Some(value) => serde_json::from_value(value)
                .map_err(|err| Error::invalid("behavior", err.to_string()))?,
        }
        .resolve()?;

        let recommendations = self
            .recommendations
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, past)| {
                Ok(TimestampedRecommendation {
                    timestamp: timestamp(&past.timestamp, || {
                        format!("recommendations[{index}].timestamp")
                    })?,
                    replicas: replicas(
                        past.replicas,
                        &format!("recommendations[{index}].replicas"),
                        0,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let scale_events = self
            .scale_events
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                let field = || format!("scaleEvents[{index}].replicaChange");
                Ok(ScaleEvent {
                    timestamp: timestamp(&event.timestamp, || {
                        format!("scaleEvents[{index}].timestamp")
                    })?,
                    replica_change: i32::try_from(event.replica_change)
                        .map_err(|_| Error::invalid(field(), "out of range"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Snapshot {
            now,
            current_replicas,
            status_replicas,
            min_replicas,
            max_replicas,
            tolerance,
            pods,
            metrics,
            behavior,
            recommendations,
            scale_events,
        })
    }
}

impl PodJson {
    fn into_pod(self, index: usize) -> Result<Pod> {
        let phase = PodPhase::parse(&self.phase).ok_or_else(|| {
            Error::invalid(
                format!("pods[{index}].phase"),
                format!(
                    "unknown phase {:?} (expected Pending, Running, Succeeded, Failed or Unknown)",
                    self.phase
                ),
            )
        })?;
        Ok(Pod {
            name: self.name,
            phase,
            // A Running pod without `ready` is ready, as PRODUCT.md specifies.
            ready: self.ready.unwrap_or(true),
            deleting: self.deleting.unwrap_or(false),
        })
    }
}

impl MetricJson {
    fn into_metric(self, index: usize) -> Result<Metric> {
        let field = |name: &str| format!("metrics[{index}].{name}");
        let target_kind = self.target.kind.as_str();
        let source = match self.kind.as_str() {
            "Pods" => {
                if target_kind != "AverageValue" {
                    return Err(Error::invalid(
                        field("target.type"),
                        format!("a Pods metric needs an AverageValue target, got {target_kind:?}"),
                    ));
                }
                let target_average = positive_milli(self.target.average_value.as_ref(), || {
                    field("target.averageValue")
                })?;
                let samples = self
                    .pod_values
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(pod, value)| {
                        let milli = value
                            .parse(|| field(&format!("podValues.{pod}")))?
                            .milli_value();
                        Ok((pod, milli))
                    })
                    .collect::<Result<Vec<_>>>()?;
                MetricSource::Pods {
                    target_average,
                    samples: PodSamples::new(samples),
                }
            }
            kind @ ("Object" | "External") => {
                let target = match target_kind {
                    "Value" => Target::Value(positive_milli(self.target.value.as_ref(), || {
                        field("target.value")
                    })?),
                    "AverageValue" => Target::AverageValue(positive_milli(
                        self.target.average_value.as_ref(),
                        || field("target.averageValue"),
                    )?),
                    other => {
                        return Err(Error::invalid(
                            field("target.type"),
                            format!(
                                "an {kind} metric needs a Value or AverageValue target, got {other:?}"
                            ),
                        ));
                    }
                };
                let value = match (&self.value, &self.error) {
                    (Some(value), _) => value.parse(|| field("value"))?.milli_value(),
                    (None, Some(_)) => 0,
                    (None, None) => {
                        return Err(Error::invalid(
                            field("value"),
                            "required unless `error` is set",
                        ));
                    }
                };
                if kind == "Object" {
                    MetricSource::Object { target, value }
                } else {
                    MetricSource::External { target, value }
                }
            }
            other => {
                return Err(Error::invalid(
                    field("type"),
                    format!("unknown metric type {other:?} (expected Pods, Object or External)"),
                ));
            }
        };
        Ok(Metric {
            source,
            error: self.error,
        })
    }
}

/// A target quantity in milli-units, which the HPA API requires to be positive.
fn positive_milli(quantity: Option<&QuantityJson>, field: impl Fn() -> String) -> Result<i64> {
    let Some(quantity) = quantity else {
        return Err(Error::invalid(field(), "required by the target type"));
    };
    let milli = quantity.parse(&field)?.milli_value();
    if milli <= 0 {
        return Err(Error::invalid(field(), "must be positive"));
    }
    Ok(milli)
}

/// A replica count: at least `min` and within `i32`, as the API's `int32` fields.
fn replicas(value: i64, field: &str, min: i32) -> Result<i32> {
    match i32::try_from(value) {
        Ok(value) if value >= min => Ok(value),
        _ => Err(Error::invalid(
            field,
            format!("must be between {min} and {}, got {value}", i32::MAX),
        )),
    }
}

fn timestamp(text: &str, field: impl FnOnce() -> String) -> Result<Timestamp> {
    text.parse().map_err(|source| Error::Timestamp {
        field: field(),
        source,
    })
}
