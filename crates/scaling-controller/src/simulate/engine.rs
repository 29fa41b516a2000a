//! The simulation loop: at each step of the history, build the [`Snapshot`] the controller
//! would have read, decide with [`recommend::recommend`], and carry the recommendations, scale
//! events and failure count from step to step exactly as the controller keeps them in its
//! status (trimmed by the controller's own `trim_history`).
//!
//! The load model (`docs/simulate.md`):
//! - a Pods metric's column is the total demand over all pods; each ready pod reports an equal
//!   share of it, and pods that are not ready yet report no sample;
//! - a new pod is Running but not ready for `pod_startup`, then ready; on a scale-down the
//!   newest pods go first and disappear at once;
//! - Object and External columns replay as recorded (they do not depend on the replicas);
//! - a missing value is a failed read of that metric at that step.

use jiff::Timestamp;
use metrics_model::Quantity;

use super::history::History;
use super::plan::Plan;
use super::{Error, Result};
use crate::behavior::{ScaleEvent, TimestampedRecommendation};
use crate::controller::status::trim_history;
use crate::policy::{MetricSourceType, ScalingPolicyStatus};
use crate::recommend::{
    self, Metric, MetricSource, Pod, PodPhase, PodSamples, PodSet, Snapshot, Target,
};

/// How the simulated workload behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulationOptions {
    /// How long a new pod stays unready, milliseconds.
    pub pod_startup_millis: i64,
    /// The replica count before the first step (default: `minReplicas`, at least 1); these
    /// pods are ready from the start.
    pub initial_replicas: Option<i32>,
}

impl Default for SimulationOptions {
    /// A 30 s pod start-up and the default initial count.
    fn default() -> Self {
        SimulationOptions {
            pod_startup_millis: 30_000,
            initial_replicas: None,
        }
    }
}

/// What the controller did at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The metrics decided (whether or not the count changed).
    Decided,
    /// Every metric failed and the current count was held.
    Held,
    /// Every metric failed `failureThreshold` times in a row: `fallback.replicas` was held.
    Fallback,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The step's time, Unix milliseconds.
    pub time_millis: i64,
    /// Replicas (`spec.replicas`) when the controller looked.
    pub before: i32,
    /// Ready pods when the controller looked.
    pub ready: i32,
    /// Replicas after the decision, held until the next step.
    pub after: i32,
    /// Each metric's load per ready replica over its target (1.0 = at target); `None` where
    /// the reading failed.
    pub load: Vec<Option<f64>>,
    /// Replicas the AverageValue metrics need to sit at their targets, if any can say.
    pub needed: Option<i32>,
    /// How many metric reads failed.
    pub failed_reads: u32,
    /// What the controller did.
    pub outcome: Outcome,
}

/// A policy replayed over a history.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The policy.
    pub plan: Plan,
    /// The step length, milliseconds.
    pub step_millis: i64,
    /// The column each metric read, in spec order.
    pub columns: Vec<String>,
    /// One record per step.
    pub steps: Vec<StepRecord>,
}

/// A simulated pod: its ordinal (naming it) and when it becomes ready.
struct SimPod {
    name: String,
    ready_at: i64,
}

/// Replays `plan` over `history` with the controller's decision code.
pub fn simulate(plan: &Plan, history: &History, options: SimulationOptions) -> Result<Run> {
    let columns = plan
        .metrics
        .iter()
        .enumerate()
        .map(|(index, metric)| history.column(index, &metric.key))
        .collect::<Result<Vec<_>>>()?;
    let initial = options
        .initial_replicas
        .unwrap_or(plan.min_replicas.max(1))
        .max(0);
    let mut serial = 0u32;
    let mut new_pod = |ready_at: i64| {
        serial += 1;
        SimPod {
            name: format!("pod-{serial:06}"),
            ready_at,
        }
    };
    let mut pods: Vec<SimPod> = (0..initial).map(|_| new_pod(i64::MIN)).collect();
    let mut status = ScalingPolicyStatus::default();
    let mut steps = Vec::with_capacity(history.len);
    for index in 0..history.len {
        let now_millis = history.time_millis(index);
        let now = Timestamp::from_millisecond(now_millis).map_err(|e| Error::Data {
            place: history.origin.clone(),
            reason: format!("step {index}: {e}"),
        })?;
        let current = pods.len() as i32;
        let ready_names: Vec<&str> = pods
            .iter()
            .filter(|p| p.ready_at <= now_millis)
            .map(|p| p.name.as_str())
            .collect();
        let ready = ready_names.len() as i32;
        let pod_set = PodSet::new(
            pods.iter()
                .map(|p| Pod {
                    name: p.name.clone(),
                    phase: PodPhase::Running,
                    ready: p.ready_at <= now_millis,
                    deleting: false,
                })
                .collect(),
        )
        .map_err(|source| decision_error(plan, now, source))?;
        let mut failed_reads = 0;
        let mut load = Vec::with_capacity(plan.metrics.len());
        let mut needed: Option<i32> = None;
        let mut metrics = Vec::with_capacity(plan.metrics.len());
        for (metric, column) in plan.metrics.iter().zip(&columns) {
            let reading = column.values[index];
            let Some(value) = reading else {
                failed_reads += 1;
                load.push(None);
                metrics.push(failed(format!(
                    "no {} reading at {now} (gap in the history)",
                    column.name
                )));
                continue;
            };
            let target = metric.target_value();
            let (ratio, need) = match metric.target {
                Target::AverageValue(_) => (
                    per_replica(value, ready) / target,
                    Some((value / target).ceil().min(f64::from(i32::MAX)) as i32),
                ),
                Target::Value(_) => (value / target, None),
            };
            load.push(Some(ratio));
            if let Some(need) = need {
                needed = Some(needed.map_or(need, |n| n.max(need)));
            }
            metrics.push(match metric.kind {
                MetricSourceType::Pods => pods_metric(metric.target, value, &ready_names),
                MetricSourceType::Object => single(value, |v| MetricSource::Object {
                    target: metric.target,
                    value: v,
                }),
                MetricSourceType::External => single(value, |v| MetricSource::External {
                    target: metric.target,
                    value: v,
                }),
            });
        }
        let snapshot = Snapshot {
            now,
            current_replicas: current,
            status_replicas: current,
            min_replicas: plan.min_replicas,
            max_replicas: plan.max_replicas,
            tolerance: plan.tolerance,
            pods: pod_set,
            metrics,
            behavior: plan.behavior.clone(),
            recommendations: status.recommendations.clone(),
            scale_events: status.scale_events.clone(),
        };
        let (desired, outcome) = match recommend::recommend(&snapshot) {
            Ok(decision) => {
                status.consecutive_metric_failures = None;
                if let Some(replicas) = decision.recommendation {
                    status.recommendations.push(TimestampedRecommendation {
                        timestamp: now,
                        replicas,
                    });
                }
                (decision.desired_replicas, Outcome::Decided)
            }
            Err(crate::Error::AllMetricsFailed { .. }) => {
                let failures = status
                    .consecutive_metric_failures
                    .unwrap_or(0)
                    .saturating_add(1);
                status.consecutive_metric_failures = Some(failures);
                match plan.fallback {
                    Some(fallback) if failures >= fallback.failure_threshold => {
                        (fallback.replicas, Outcome::Fallback)
                    }
                    _ => (current, Outcome::Held),
                }
            }
            Err(source) => return Err(decision_error(plan, now, source)),
        };
        if desired != current {
            status.scale_events.push(ScaleEvent {
                timestamp: now,
                replica_change: desired - current,
            });
            if desired > current {
                let ready_at = now_millis.saturating_add(options.pod_startup_millis);
                pods.extend((current..desired).map(|_| new_pod(ready_at)));
            } else {
                pods.truncate(desired.max(0) as usize);
            }
        }
        trim_history(&mut status, &plan.behavior, now);
        steps.push(StepRecord {
            time_millis: now_millis,
            before: current,
            ready,
            after: desired,
            load,
            needed,
            failed_reads,
            outcome,
        });
    }
    Ok(Run {
        plan: plan.clone(),
        step_millis: history.step_millis,
        columns: columns.iter().map(|c| c.name.clone()).collect(),
        steps,
    })
}

/// A total spread over `ready` replicas; with none ready, any demand is infinitely much.
fn per_replica(value: f64, ready: i32) -> f64 {
    match ready {
        0 if value > 0.0 => f64::INFINITY,
        0 => 0.0,
        n => value / f64::from(n),
    }
}

fn decision_error(plan: &Plan, now: Timestamp, source: crate::Error) -> Error {
    Error::Decision {
        policy: plan.name.clone(),
        at: now.to_string(),
        source: Box::new(source),
    }
}

/// A failed read; the source is a placeholder `recommend` does not look at.
fn failed(message: String) -> Metric {
    Metric {
        source: MetricSource::External {
            target: Target::Value(1),
            value: 0,
        },
        error: Some(message),
    }
}

/// A value in milli-units as the controller reads a store sample (rounded up, as the HPA's
/// `MilliValue`), or a failed read when it cannot be represented.
fn milli(value: f64) -> std::result::Result<i64, String> {
    Quantity::from_f64(value)
        .map(|q| q.milli_value())
        .map_err(|e| format!("value {value}: {e}"))
}

fn single(value: f64, source: impl FnOnce(i64) -> MetricSource) -> Metric {
    match milli(value) {
        Ok(v) => Metric {
            source: source(v),
            error: None,
        },
        Err(message) => failed(message),
    }
}

/// The total demand shared equally by the ready pods, each reporting its share.
fn pods_metric(target: Target, demand: f64, ready: &[&str]) -> Metric {
    let Target::AverageValue(target_average) = target else {
        return failed("a Pods metric needs an AverageValue target".to_owned());
    };
    let share = if ready.is_empty() {
        Ok(0)
    } else {
        milli(demand / ready.len() as f64)
    };
    match share {
        Ok(share) => Metric {
            source: MetricSource::Pods {
                target_average,
                samples: PodSamples::new(ready.iter().map(|n| ((*n).to_owned(), share)).collect()),
            },
            error: None,
        },
        Err(message) => failed(message),
    }
}
