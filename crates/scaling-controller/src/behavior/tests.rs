//! Tests of the behavior types: autoscaling/v2 defaulting and validation, the JSON field names,
//! and the stabilization and rate-limit arithmetic at its edges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;

use super::*;

fn now() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

fn ago(seconds: i64) -> Timestamp {
    Timestamp::from_second(now().as_second() - seconds).unwrap()
}

fn bounds(current: i32, min: i32, max: i32) -> Bounds {
    Bounds { current, min, max }
}

#[test]
fn absent_behavior_resolves_to_the_autoscaling_v2_defaults() {
    let behavior = HorizontalPodAutoscalerBehavior::default()
        .resolve()
        .unwrap();
    assert_eq!(behavior, Behavior::default());
    assert_eq!(behavior.scale_up.stabilization_window_seconds, 0);
    assert_eq!(behavior.scale_down.stabilization_window_seconds, 300);
    assert_eq!(behavior.scale_up.select_policy, ScalingPolicySelect::Max);
    assert_eq!(behavior.scale_up.policies.len(), 2);
    assert_eq!(behavior.scale_down.policies.len(), 1);
}

#[test]
fn set_fields_override_only_themselves() {
    // copyHPAScalingRules: an unset field keeps its default.
    let json = r#"{"scaleDown": {"selectPolicy": "Min", "tolerance": "0.05"},
                   "scaleUp": {"stabilizationWindowSeconds": 30,
                               "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}"#;
    let behavior: HorizontalPodAutoscalerBehavior = serde_json::from_str(json).unwrap();
    let resolved = behavior.resolve().unwrap();
    assert_eq!(resolved.scale_down.stabilization_window_seconds, 300);
    assert_eq!(resolved.scale_down.select_policy, ScalingPolicySelect::Min);
    assert_eq!(resolved.scale_down.tolerance, Some(0.05));
    assert_eq!(
        resolved.scale_down.policies,
        ScalingRules::default_scale_down().policies
    );
    assert_eq!(resolved.scale_up.stabilization_window_seconds, 30);
    assert_eq!(resolved.scale_up.tolerance, None);
    assert_eq!(
        resolved.scale_up.policies,
        vec![HpaScalingPolicy {
            kind: HpaScalingPolicyType::Pods,
            value: 2,
            period_seconds: 60
        }]
    );
    // The API field names survive a round trip.
    let back = serde_json::to_value(&behavior).unwrap();
    assert_eq!(back["scaleUp"]["policies"][0]["type"], "Pods");
    assert_eq!(back["scaleUp"]["policies"][0]["periodSeconds"], 60);
    assert_eq!(back["scaleDown"]["tolerance"], "50m");
}

#[test]
fn invalid_rules_are_rejected_as_the_api_would() {
    let cases = [
        (
            r#"{"scaleUp": {"stabilizationWindowSeconds": 3601}}"#,
            "stabilizationWindowSeconds",
        ),
        (
            r#"{"scaleUp": {"stabilizationWindowSeconds": -1}}"#,
            "stabilizationWindowSeconds",
        ),
        (r#"{"scaleDown": {"policies": []}}"#, "at least one policy"),
        (
            r#"{"scaleDown": {"policies": [{"type": "Percent", "value": 0, "periodSeconds": 15}]}}"#,
            "value",
        ),
        (
            r#"{"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}"#,
            "periodSeconds",
        ),
        (r#"{"scaleDown": {"tolerance": "-0.1"}}"#, "tolerance"),
    ];
    for (json, expected) in cases {
        let behavior: HorizontalPodAutoscalerBehavior = serde_json::from_str(json).unwrap();
        let err = behavior.resolve().unwrap_err().to_string();
        assert!(err.contains(expected), "{json}: {err}");
    }
    assert!(
        serde_json::from_str::<HorizontalPodAutoscalerBehavior>(
            r#"{"scaleUp": {"selectPolicy": "Most"}}"#
        )
        .is_err()
    );
}

#[test]
fn stabilization_takes_the_extremes_inside_each_window() {
    let behavior = Behavior::default();
    let history = [
        TimestampedRecommendation {
            timestamp: ago(299),
            replicas: 8,
        },
        TimestampedRecommendation {
            timestamp: ago(300),
            replicas: 20,
        },
    ];
    // Down: max(4, 8) = 8 (the 20 is exactly 300 s old, outside); current 10 → 8.
    assert_eq!(stabilize(&behavior, 10, 4, &history, now()), 8);
    // Up: window 0, nothing inside; 12 > current → 12.
    assert_eq!(stabilize(&behavior, 10, 12, &history, now()), 12);
    // No history: the recommendation itself.
    assert_eq!(stabilize(&behavior, 10, 3, &[], now()), 3);
}

#[test]
fn percent_policies_round_as_the_hpa() {
    let rules = |kind, value, select| ScalingRules {
        stabilization_window_seconds: 0,
        select_policy: select,
        policies: vec![HpaScalingPolicy {
            kind,
            value,
            period_seconds: 60,
        }],
        tolerance: None,
    };
    let behavior = Behavior {
        scale_up: rules(HpaScalingPolicyType::Percent, 10, ScalingPolicySelect::Max),
        scale_down: rules(HpaScalingPolicyType::Percent, 10, ScalingPolicySelect::Max),
    };
    // Up 10% of 3 = ceil(3.3) = 4: rounded up so a small percentage still adds a pod.
    assert_eq!(
        limit_rate(&behavior, bounds(3, 1, 100), 50, &[], now()),
        (4, LimitReason::ScaleUpLimit)
    );
    // Down 10% of 15 = trunc(13.5) = 13.
    assert_eq!(
        limit_rate(&behavior, bounds(15, 1, 100), 1, &[], now()),
        (13, LimitReason::ScaleDownLimit)
    );
    // Within both: passes unchanged.
    assert_eq!(
        limit_rate(&behavior, bounds(15, 1, 100), 14, &[], now()),
        (14, LimitReason::DesiredWithinRange)
    );
}

#[test]
fn scale_down_select_min_picks_the_smallest_removal() {
    let behavior = Behavior {
        scale_up: ScalingRules::default_scale_up(),
        scale_down: ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: ScalingPolicySelect::Min,
            policies: vec![
                HpaScalingPolicy {
                    kind: HpaScalingPolicyType::Pods,
                    value: 2,
                    period_seconds: 60,
                },
                HpaScalingPolicy {
                    kind: HpaScalingPolicyType::Percent,
                    value: 50,
                    period_seconds: 60,
                },
            ],
            tolerance: None,
        },
    };
    // From 10: Pods → 8, Percent → 5; Min change → 8. Max change would be 5.
    assert_eq!(
        limit_rate(&behavior, bounds(10, 1, 20), 1, &[], now()),
        (8, LimitReason::ScaleDownLimit)
    );
    let mut max = behavior.clone();
    max.scale_down.select_policy = ScalingPolicySelect::Max;
    assert_eq!(
        limit_rate(&max, bounds(10, 1, 20), 1, &[], now()),
        (5, LimitReason::ScaleDownLimit)
    );
    let mut disabled = behavior;
    disabled.scale_down.select_policy = ScalingPolicySelect::Disabled;
    assert_eq!(
        limit_rate(&disabled, bounds(10, 1, 20), 1, &[], now()),
        (10, LimitReason::ScaleDownLimit)
    );
    // The minimum wins when it is above the policy limit.
    assert_eq!(
        limit_rate(&max, bounds(10, 7, 20), 1, &[], now()),
        (7, LimitReason::TooFewReplicas)
    );
}

#[test]
fn earlier_scale_ups_beyond_the_allowance_do_not_push_the_limit_below_current() {
    // +10 within 15 s from 2 to 12: the period started at 2 → max(6, 4) = 6 < 12 → stay at 12.
    let events = [ScaleEvent {
        timestamp: ago(5),
        replica_change: 10,
    }];
    assert_eq!(
        limit_rate(&Behavior::default(), bounds(12, 1, 100), 30, &events, now()),
        (12, LimitReason::ScaleUpLimit)
    );
}
