//! Table-driven tests of [`recommend`]: every branch of the HPA's replica calculation and of the
//! decision around it. Expected values are worked out by hand from the HPA code in comments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;

use super::*;
use crate::behavior::{
    HorizontalPodAutoscalerBehavior, HpaScalingPolicy, HpaScalingPolicyType, HpaScalingRules,
    ScalingPolicySelect,
};

pub(super) fn t0() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

/// `seconds` before [`t0`].
pub(super) fn ago(seconds: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() - seconds).unwrap()
}

pub(super) fn pod(name: &str, phase: PodPhase) -> Pod {
    Pod {
        name: name.to_owned(),
        phase,
        ready: true,
        deleting: false,
    }
}

pub(super) fn running(names: &[&str]) -> Vec<Pod> {
    names
        .iter()
        .map(|name| pod(name, PodPhase::Running))
        .collect()
}

/// A Pods metric with an AverageValue target of `target` units and samples in units.
pub(super) fn pods_metric(target: i64, samples: &[(&str, i64)]) -> Metric {
    Metric {
        source: MetricSource::Pods {
            target_average: target * 1000,
            samples: PodSamples::new(
                samples
                    .iter()
                    .map(|(pod, v)| ((*pod).to_owned(), v * 1000))
                    .collect(),
            ),
        },
        error: None,
    }
}

pub(super) fn object(target: Target, value: i64) -> Metric {
    Metric {
        source: MetricSource::Object {
            target,
            value: value * 1000,
        },
        error: None,
    }
}

pub(super) fn external(target: Target, value: i64) -> Metric {
    Metric {
        source: MetricSource::External {
            target,
            value: value * 1000,
        },
        error: None,
    }
}

pub(super) fn failed(mut metric: Metric) -> Metric {
    metric.error = Some("store unavailable".to_owned());
    metric
}

pub(super) fn value(units: i64) -> Target {
    Target::Value(units * 1000)
}

pub(super) fn average(units: i64) -> Target {
    Target::AverageValue(units * 1000)
}

/// A snapshot at [`t0`] with default behavior, tolerance 0.1, no history, and the given pods.
pub(super) fn snapshot(
    current: i32,
    min: i32,
    max: i32,
    pods: Vec<Pod>,
    metrics: Vec<Metric>,
) -> Snapshot {
    Snapshot {
        now: t0(),
        current_replicas: current,
        status_replicas: current,
        min_replicas: min,
        max_replicas: max,
        tolerance: 0.1,
        pods: PodSet::new(pods).unwrap(),
        metrics,
        behavior: Behavior::default(),
        recommendations: Vec::new(),
        scale_events: Vec::new(),
    }
}

pub(super) fn with_behavior(
    mut s: Snapshot,
    behavior: HorizontalPodAutoscalerBehavior,
) -> Snapshot {
    s.behavior = behavior.resolve().unwrap();
    s
}

pub(super) fn rules(rules: HpaScalingRules) -> Option<HpaScalingRules> {
    Some(rules)
}

pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) snapshot: Snapshot,
    pub(super) metric_replicas: Vec<Option<i32>>,
    pub(super) desired: i32,
}

pub(super) fn check(cases: Vec<Case>) {
    for case in cases {
        let decision =
            recommend(&case.snapshot).unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let proposals: Vec<Option<i32>> = decision.proposals.iter().map(|p| p.ok()).collect();
        assert_eq!(
            proposals, case.metric_replicas,
            "{}: metricReplicas",
            case.name
        );
        assert_eq!(
            decision.desired_replicas, case.desired,
            "{}: desiredReplicas",
            case.name
        );
    }
}

mod decisions;
mod pods_metrics;
