//! One scaling decision from one snapshot of the target: the HPA's `computeReplicasForMetrics`
//! (each metric's proposal, the largest wins, the invalid-metric rule), the scaling-disabled and
//! out-of-bounds short cuts of `reconcileAutoscaler`, then [`behavior::normalize`].
//!
//! [`recommend`] is pure: the controller's reconcile loop, `sextant-controller recommend` and
//! `simulate` all call it with a [`Snapshot`] they assembled, and get the same [`Decision`].

pub mod cli;
mod decision;
pub mod input;
mod pods;

use jiff::Timestamp;

use crate::behavior::{self, Behavior, Bounds, ScaleEvent, TimestampedRecommendation};
use crate::{Error, Result};

pub use decision::{Decision, Reason};
pub use pods::{Pod, PodPhase, PodSamples, PodSet};

/// Everything one decision depends on, read at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The instant of the decision; windows and policy periods reach back from it.
    pub now: Timestamp,
    /// `spec.replicas` of the target's `/scale`.
    pub current_replicas: i32,
    /// `status.replicas` of the target's `/scale`, which AverageValue targets of Object and
    /// External metrics are judged against.
    pub status_replicas: i32,
    /// The lowest count to scale to; 0 lets Object and External metrics scale to zero.
    pub min_replicas: i32,
    /// The highest count to scale to.
    pub max_replicas: i32,
    /// The controller-wide tolerance, overridden per direction by the behavior.
    pub tolerance: f64,
    /// The pods the target's selector matches.
    pub pods: PodSet,
    /// The metrics, each with its target and reading.
    pub metrics: Vec<Metric>,
    /// The resolved scaling behavior.
    pub behavior: Behavior,
    /// Past recommendations, for the stabilization windows.
    pub recommendations: Vec<TimestampedRecommendation>,
    /// Past rescales, for the scaling policies.
    pub scale_events: Vec<ScaleEvent>,
}

/// One metric of the policy and its reading, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// What kind of metric it is, its target and its values.
    pub source: MetricSource,
    /// Why reading it failed; when set, the values in `source` are not used.
    pub error: Option<String>,
}

/// A metric's kind, target and values, in milli-units as the HPA computes.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSource {
    /// A per-pod metric averaged over the pods, with an AverageValue target.
    Pods {
        /// The target average, in milli-units.
        target_average: i64,
        /// The per-pod samples.
        samples: PodSamples,
    },
    /// A metric describing one Kubernetes object.
    Object {
        /// The target.
        target: Target,
        /// The object's value, in milli-units.
        value: i64,
    },
    /// A metric from outside the cluster (summed over its series).
    External {
        /// The target.
        target: Target,
        /// The value, in milli-units.
        value: i64,
    },
}

impl MetricSource {
    /// The metric's `type` as the API spells it, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricSource::Pods { .. } => "Pods",
            MetricSource::Object { .. } => "Object",
            MetricSource::External { .. } => "External",
        }
    }
}

/// An Object or External metric's target, in milli-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The value for the whole target; the count scales with the ratio.
    Value(i64),
    /// The value per replica; the count is the value over the target.
    AverageValue(i64),
}

/// The usage-ratio band within which the HPA leaves the count alone: `1 - down ≤ r ≤ 1 + up`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// How far below 1 the ratio may fall without a scale-down.
    pub down: f64,
    /// How far above 1 the ratio may rise without a scale-up.
    pub up: f64,
}

impl Tolerances {
    /// The controller-wide tolerance, overridden per direction by the behavior (KEP-4951).
    pub fn new(tolerance: f64, behavior: &Behavior) -> Self {
        Tolerances {
            down: behavior.scale_down.tolerance.unwrap_or(tolerance),
            up: behavior.scale_up.tolerance.unwrap_or(tolerance),
        }
    }

    /// True when a usage ratio is close enough to 1 to change nothing (the HPA's `isWithin`).
    pub fn is_within(self, ratio: f64) -> bool {
        1.0 - self.down <= ratio && ratio <= 1.0 + self.up
    }
}

/// Why a metric proposed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricFailure {
    /// The snapshot reports that reading the metric failed.
    Unavailable,
    /// The target's selector matches no pods, and the metric needs some.
    NoPods,
    /// No samples remain once unready and ignored pods are left out.
    NoSamples,
}

impl MetricFailure {
    /// The HPA's wording of this failure (the snapshot's own message for [`Self::Unavailable`]).
    fn describe(self, metric: &Metric) -> &str {
        match self {
            MetricFailure::Unavailable => metric.error.as_deref().unwrap_or("unavailable"),
            MetricFailure::NoPods => "no pods returned by selector while calculating replica count",
            MetricFailure::NoSamples => {
                "did not receive metrics for targeted pods (pods might be unready)"
            }
        }
    }
}

/// One metric's proposal: a replica count, or why there is none.
pub type Proposal = std::result::Result<i32, MetricFailure>;

/// Decides the replica count for a snapshot as the HPA would; errors only when no metric yields
/// a proposal where one is needed.
pub fn recommend(snapshot: &Snapshot) -> Result<Decision> {
    let current = snapshot.current_replicas;
    let tolerances = Tolerances::new(snapshot.tolerance, &snapshot.behavior);
    let proposals: Vec<Proposal> = snapshot
        .metrics
        .iter()
        .map(|metric| propose(snapshot, metric, tolerances))
        .collect();
    let decided = |desired_replicas, recommendation, reason| Decision {
        desired_replicas,
        proposals: proposals.clone(),
        recommendation,
        reason,
    };

    // The HPA's `reconcileAutoscaler` reads no metric in these three cases, so failed metrics
    // do not make them an error (a departure from PRODUCT.md's "every metric failed → error",
    // which holds only where the HPA computes metrics). The proposals are reported all the same.
    if current == 0 && snapshot.min_replicas != 0 {
        return Ok(decided(0, None, Reason::ScalingDisabled));
    }
    if current > snapshot.max_replicas {
        return Ok(decided(
            snapshot.max_replicas,
            None,
            Reason::AboveMaxReplicas,
        ));
    }
    if current < snapshot.min_replicas {
        return Ok(decided(
            snapshot.min_replicas,
            None,
            Reason::BelowMinReplicas,
        ));
    }

    let mut best: Option<(usize, i32)> = None;
    let mut first_failed = None;
    for (index, proposal) in proposals.iter().enumerate() {
        match *proposal {
            Ok(replicas) if best.is_none_or(|(_, top)| replicas > top) => {
                best = Some((index, replicas))
            }
            Ok(_) => {}
            Err(_) => {
                first_failed.get_or_insert(index);
            }
        }
    }
    let Some((metric, recommendation)) = best else {
        return Err(all_failed(snapshot, &proposals));
    };
    if let Some(failed) = first_failed
        && recommendation < current
    {
        // The failed metric might have wanted more: never scale down on partial information.
        return Ok(decided(
            current,
            None,
            Reason::MetricFailedHold {
                failed,
                kind: snapshot.metrics[failed].source.kind(),
                proposal: recommendation,
            },
        ));
    }

    let bounds = Bounds {
        current,
        min: snapshot.min_replicas,
        max: snapshot.max_replicas,
    };
    let normalized = behavior::normalize(
        &snapshot.behavior,
        bounds,
        recommendation,
        &snapshot.recommendations,
        &snapshot.scale_events,
        snapshot.now,
    );
    let reason = Reason::Metrics {
        metric,
        kind: snapshot.metrics[metric].source.kind(),
        recommendation,
        stabilized: normalized.stabilized,
        limit: normalized.limit,
    };
    Ok(Decision {
        desired_replicas: normalized.desired,
        proposals,
        recommendation: Some(recommendation),
        reason,
    })
}

/// One metric's proposal, dispatched to the replica calculation for its kind and target.
fn propose(snapshot: &Snapshot, metric: &Metric, tolerances: Tolerances) -> Proposal {
    if metric.error.is_some() {
        return Err(MetricFailure::Unavailable);
    }
    match &metric.source {
        MetricSource::Pods {
            target_average,
            samples,
        } => pods::pods_metric_replicas(
            snapshot.current_replicas,
            *target_average,
            &snapshot.pods,
            samples,
            tolerances,
        ),
        MetricSource::Object { target, value } | MetricSource::External { target, value } => {
            pods::single_value_replicas(
                snapshot.current_replicas,
                snapshot.status_replicas,
                *target,
                *value,
                &snapshot.pods,
                tolerances,
            )
        }
    }
}

/// The error for a snapshot none of whose metrics yields a proposal.
fn all_failed(snapshot: &Snapshot, proposals: &[Proposal]) -> Error {
    if snapshot.metrics.is_empty() {
        return Error::NoMetrics;
    }
    let details = snapshot
        .metrics
        .iter()
        .zip(proposals)
        .enumerate()
        .filter_map(|(index, (metric, proposal))| {
            let failure = proposal.err()?;
            Some(format!(
                "metric {index} ({}): {}",
                metric.source.kind(),
                failure.describe(metric)
            ))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Error::AllMetricsFailed {
        count: snapshot.metrics.len(),
        details,
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
