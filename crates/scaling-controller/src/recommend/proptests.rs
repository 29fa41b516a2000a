//! Properties of [`recommend`] over random snapshots: the result stays within
//! `[minReplicas, maxReplicas]` and never moves against the direction of the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::tests::{ago, external, object, pod, pods_metric, snapshot};
use super::*;

fn phase() -> impl Strategy<Value = PodPhase> {
    prop_oneof![
        6 => Just(PodPhase::Running),
        1 => Just(PodPhase::Pending),
        1 => Just(PodPhase::Failed),
        1 => Just(PodPhase::Succeeded),
    ]
}

prop_compose! {
    fn arbitrary_snapshot()(
        min in 1i32..5,
        span in 0i32..30,
        offset in 0i32..30,
        pods in prop::collection::vec((phase(), any::<bool>(), any::<bool>(), prop::option::of(0i64..200)), 0..25),
        target in 1i64..100,
        object_value in 0i64..2000,
        external_value in 0i64..2000,
        object_target in 1i64..100,
        history in prop::collection::vec((0i64..400, 0i32..60), 0..6),
        events in prop::collection::vec((0i64..60, -10i32..10), 0..4),
        fail_external in any::<bool>(),
    ) -> Snapshot {
        let max = min + span;
        let current = min + offset % (span + 1);
        let mut list = Vec::new();
        let mut samples = Vec::new();
        for (index, (phase, ready, deleting, sample)) in pods.into_iter().enumerate() {
            let name = format!("p{index}");
            if let Some(value) = sample {
                samples.push((name.clone(), value));
            }
            let mut p = pod(&name, phase);
            p.ready = ready;
            p.deleting = deleting;
            list.push(p);
        }
        let samples: Vec<(&str, i64)> = samples.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let mut ext = external(Target::AverageValue(object_target * 1000), external_value);
        if fail_external {
            ext.error = Some("store unavailable".into());
        }
        let mut s = snapshot(
            current,
            min,
            max,
            list,
            vec![pods_metric(target, &samples), object(Target::Value(object_target * 1000), object_value), ext],
        );
        s.recommendations = history
            .into_iter()
            .map(|(seconds, replicas)| TimestampedRecommendation { timestamp: ago(seconds), replicas })
            .collect();
        s.scale_events = events
            .into_iter()
            .map(|(seconds, replica_change)| ScaleEvent { timestamp: ago(seconds), replica_change })
            .collect();
        s
    }
}

proptest! {
    #[test]
    fn desired_stays_within_bounds_and_follows_the_metrics(s in arbitrary_snapshot()) {
        let decision = match recommend(&s) {
            Ok(decision) => decision,
            // Every metric failed: nothing to check.
            Err(Error::AllMetricsFailed { .. }) => return Ok(()),
            Err(err) => return Err(TestCaseError::fail(err.to_string())),
        };
        let desired = decision.desired_replicas;
        prop_assert!(s.min_replicas <= desired && desired <= s.max_replicas, "{desired} outside [{}, {}]", s.min_replicas, s.max_replicas);
        let current = s.current_replicas;
        match decision.recommendation {
            Some(recommendation) if recommendation > current => prop_assert!(desired >= current),
            Some(recommendation) if recommendation < current => prop_assert!(desired <= current),
            _ => prop_assert_eq!(desired, current),
        }
    }
}
