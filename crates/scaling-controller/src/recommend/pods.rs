//! The target's pods and per-pod samples, and what the HPA makes of them: `groupPods`,
//! `removeMetricsForPods` and the per-metric replica calculations of `replica_calculator.go`.
//!
//! Pods and samples are kept sorted by name so grouping is one merge over two sorted lists, with
//! no hashing and no allocation per decision.

use std::cmp::Ordering;

use crate::{Error, Result};

use super::{MetricFailure, Target, Tolerances};

/// A pod's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Accepted but not all containers are running yet; the HPA treats it as unready.
    Pending,
    /// Bound to a node with its containers started.
    Running,
    /// Every container terminated successfully.
    Succeeded,
    /// Every container terminated and at least one failed; the HPA ignores it.
    Failed,
    /// The phase could not be obtained.
    Unknown,
}

impl PodPhase {
    /// Parses the phase as the Kubernetes API spells it.
    pub fn parse(phase: &str) -> Option<Self> {
        Some(match phase {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            "Unknown" => PodPhase::Unknown,
            _ => return None,
        })
    }
}

/// One pod the target's selector matches, with what the HPA looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// The pod's name, which per-pod samples are keyed by.
    pub name: String,
    /// The pod's phase.
    pub phase: PodPhase,
    /// Whether its `Ready` condition is true.
    pub ready: bool,
    /// Whether it has a deletion timestamp.
    pub deleting: bool,
}

/// The pods the target's selector matches, sorted by name with no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSet {
    pods: Vec<Pod>,
    running_and_ready: usize,
}

impl PodSet {
    /// Sorts the pods by name; two pods of the same name are an error, as names are unique in a
    /// namespace.
    pub fn new(mut pods: Vec<Pod>) -> Result<Self> {
        pods.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = pods.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(Error::invalid(
                "pods",
                format!("pod {:?} is listed twice", pair[0].name),
            ));
        }
        let running_and_ready = pods
            .iter()
            .filter(|pod| pod.phase == PodPhase::Running && pod.ready)
            .count();
        Ok(PodSet {
            pods,
            running_and_ready,
        })
    }

    /// The pods, sorted by name.
    pub fn as_slice(&self) -> &[Pod] {
        &self.pods
    }

    /// True when the selector matches no pod.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Running pods whose `Ready` condition is true: the HPA's `getReadyPodsCount`, which Value
    /// targets of Object and External metrics scale by. Like it, this does not look at the
    /// deletion timestamp, so a terminating pod that is still Running and ready counts.
    pub fn running_and_ready(&self) -> usize {
        self.running_and_ready
    }
}

/// A Pods metric's samples in milli-units, keyed by pod name and sorted; samples for pods that
/// are not in the [`PodSet`] are kept, since the HPA counts them too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSamples {
    samples: Vec<(String, i64)>,
}

impl PodSamples {
    /// Sorts the samples by pod name; of several samples for one pod the last is kept, as a JSON
    /// object or a Go map would.
    pub fn new(mut samples: Vec<(String, i64)>) -> Self {
        // A stable sort keeps duplicates in input order, so keeping the last keeps the latest.
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(String, i64)> = Vec::with_capacity(samples.len());
        for sample in samples {
            match deduped.last_mut() {
                Some(last) if last.0 == sample.0 => *last = sample,
                _ => deduped.push(sample),
            }
        }
        PodSamples { samples: deduped }
    }

    /// The samples, sorted by pod name.
    pub fn as_slice(&self) -> &[(String, i64)] {
        &self.samples
    }
}

/// What `groupPods` and `removeMetricsForPods` leave: the counts and the kept samples' total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Grouped {
    /// Pods with a sample that are neither ignored nor unready.
    ready: i64,
    /// Pending pods (their samples are dropped).
    unready: i64,
    /// Countable pods without a sample.
    missing: i64,
    /// Samples kept: those of ready pods and of pods not in the pod list.
    kept: i64,
    /// Sum of the kept samples, in milli-units.
    total: i128,
}

/// Sorts pods and samples into the HPA's groups in one merge: deleted and Failed pods are
/// ignored and Pending pods are unready (both lose their samples), other pods are ready with a
/// sample and missing without one. Readiness does not matter here: the HPA checks it only for
/// CPU, which Sextant does not serve.
///
/// Departure from PRODUCT.md, which says Succeeded pods are ignored: the HPA's `groupPods`
/// ignores only deleted and Failed pods, so a Succeeded pod counts as ready with a sample and
/// as missing without one. The HPA's code wins.
fn group(pods: &[Pod], samples: &[(String, i64)]) -> Grouped {
    let mut grouped = Grouped::default();
    let (mut p, mut s) = (0, 0);
    loop {
        let order = match (pods.get(p), samples.get(s)) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(pod), Some((name, _))) => pod.name.as_str().cmp(name.as_str()),
        };
        let (pod, sample) = match order {
            Ordering::Less => (pods.get(p), None),
            Ordering::Greater => (None, samples.get(s)),
            Ordering::Equal => (pods.get(p), samples.get(s)),
        };
        if pod.is_some() {
            p += 1;
        }
        if sample.is_some() {
            s += 1;
        }
        let value = sample.map(|(_, value)| *value);
        match (pod, value) {
            (None, Some(value)) => {
                grouped.kept += 1;
                grouped.total += i128::from(value);
            }
            (Some(pod), _) if pod.deleting || pod.phase == PodPhase::Failed => {}
            (Some(pod), _) if pod.phase == PodPhase::Pending => grouped.unready += 1,
            (Some(_), None) => grouped.missing += 1,
            (Some(_), Some(value)) => {
                grouped.ready += 1;
                grouped.kept += 1;
                grouped.total += i128::from(value);
            }
            (None, None) => {}
        }
    }
    grouped
}

/// `GetMetricUsageRatio`: the average in whole milli-units (truncated, as Go's integer division)
/// over the target.
fn usage_ratio(total: i128, count: i64, target: i64) -> f64 {
    let average = total / i128::from(count);
    average as f64 / target as f64
}

/// Rounds a replica count up and saturates it to `i32`, as the HPA caps at `MaxInt32`.
pub(super) fn ceil_replicas(value: f64) -> i32 {
    // `as` saturates out-of-range floats; NaN (0/0) becomes 0.
    value.ceil() as i32
}

/// The proposal of a Pods metric with an AverageValue target: `calcPlainMetricReplicas`.
pub(super) fn pods_metric_replicas(
    current: i32,
    target: i64,
    pods: &PodSet,
    samples: &PodSamples,
    tolerances: Tolerances,
) -> Result<i32, MetricFailure> {
    if pods.is_empty() {
        return Err(MetricFailure::NoPods);
    }
    let grouped = group(pods.as_slice(), samples.as_slice());
    if grouped.kept == 0 {
        return Err(MetricFailure::NoSamples);
    }
    let ratio = usage_ratio(grouped.total, grouped.kept, target);
    let scale_up_with_unready = grouped.unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && grouped.missing == 0 {
        if tolerances.is_within(ratio) {
            return Ok(current);
        }
        return Ok(ceil_replicas(ratio * grouped.ready as f64));
    }

    // Fill in the gaps conservatively: missing pods use the target on a scale-down and nothing
    // on a scale-up; unready pods use nothing on a scale-up.
    let (mut total, mut count) = (grouped.total, grouped.kept);
    if grouped.missing > 0 {
        if ratio < 1.0 {
            total += i128::from(target) * i128::from(grouped.missing);
            count += grouped.missing;
        } else if ratio > 1.0 {
            count += grouped.missing;
        }
    }
    if scale_up_with_unready {
        count += grouped.unready;
    }
    let new_ratio = usage_ratio(total, count, target);
    let flipped = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if tolerances.is_within(new_ratio) || flipped {
        return Ok(current);
    }
    let replicas = ceil_replicas(new_ratio * count as f64);
    // The extra pods can still turn the count against the direction of the ratio.
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(current);
    }
    Ok(replicas)
}

/// The proposal of an Object or External metric, which reads one value for the whole target:
/// `GetObjectMetricReplicas`/`GetExternalMetricReplicas` for Value targets (scaled by the ready
/// pods, or from zero by the ratio alone) and `GetObjectPerPodMetricReplicas`/
/// `GetExternalPerPodMetricReplicas` for AverageValue targets (judged against `statusReplicas`).
pub(super) fn single_value_replicas(
    current: i32,
    status_replicas: i32,
    target: Target,
    value: i64,
    pods: &PodSet,
    tolerances: Tolerances,
) -> Result<i32, MetricFailure> {
    match target {
        Target::Value(target) => {
            let ratio = value as f64 / target as f64;
            if current == 0 {
                // Scale from (or stay at) zero: the ratio alone says how many pods are needed.
                return Ok(ceil_replicas(ratio));
            }
            if tolerances.is_within(ratio) {
                return Ok(current);
            }
            if pods.is_empty() {
                return Err(MetricFailure::NoPods);
            }
            Ok(ceil_replicas(ratio * pods.running_and_ready() as f64))
        }
        Target::AverageValue(target) => {
            let ratio = value as f64 / (target as f64 * f64::from(status_replicas));
            if tolerances.is_within(ratio) {
                return Ok(status_replicas);
            }
            Ok(ceil_replicas(value as f64 / target as f64))
        }
    }
}
