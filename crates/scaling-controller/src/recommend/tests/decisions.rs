//! Object and External metrics, several metrics and failures, zero and the bounds,
//! stabilization windows, scaling policies and the PRODUCT.md example.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn object_and_external_metrics() {
    let mut unready = pod("p3", PodPhase::Running);
    unready.ready = false;
    let pods = || {
        vec![
            pod("p1", PodPhase::Running),
            pod("p2", PodPhase::Running),
            unready.clone(),
        ]
    };
    check(vec![
        Case {
            // Value: 250/100 = 2.5 × 2 running-and-ready pods → 5.
            name: "object value target scales the ratio by running and ready pods",
            snapshot: snapshot(3, 1, 10, pods(), vec![object(value(100), 250)]),
            metric_replicas: vec![Some(5)],
            desired: 5,
        },
        Case {
            name: "object value target inside the band keeps the current count",
            snapshot: snapshot(3, 1, 10, pods(), vec![object(value(100), 105)]),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // AverageValue: 250/(10 × 3) = 8.3 → ceil(250/10) = 25, capped by the 15 s policies
            // at max(3 + 4, 2 × 3) = 7.
            name: "object average value target divides by the target",
            snapshot: snapshot(3, 1, 10, pods(), vec![object(average(10), 250)]),
            metric_replicas: vec![Some(25)],
            desired: 7,
        },
        Case {
            // 31/(10 × statusReplicas 3) = 1.033, inside the band → statusReplicas (3), not the
            // current count (4): a scale-down to 3.
            name: "average value inside the band proposes statusReplicas",
            snapshot: {
                let mut s = snapshot(4, 1, 10, pods(), vec![external(average(10), 31)]);
                s.status_replicas = 3;
                s
            },
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // 90/30 = 3 × 2 ready pods → 6.
            name: "external value target",
            snapshot: snapshot(3, 1, 10, pods(), vec![external(value(30), 90)]),
            metric_replicas: vec![Some(6)],
            desired: 6,
        },
        Case {
            // 90/(20 × 3) = 1.5 → ceil(90/20) = 5.
            name: "external average value target",
            snapshot: snapshot(3, 1, 10, pods(), vec![external(average(20), 90)]),
            metric_replicas: vec![Some(5)],
            desired: 5,
        },
        Case {
            // Value target with pods gone: getReadyPodsCount fails, so the metric does.
            name: "value target without pods fails the metric",
            snapshot: snapshot(
                3,
                1,
                10,
                vec![],
                vec![object(value(100), 250), external(average(10), 40)],
            ),
            metric_replicas: vec![None, Some(4)],
            desired: 4,
        },
    ]);
}

#[test]
fn several_metrics_and_failures() {
    let pods = || running(&["p1", "p2", "p3"]);
    let scale_down = || pods_metric(10, &[("p1", 5), ("p2", 5), ("p3", 5)]);
    let scale_up = || pods_metric(10, &[("p1", 12), ("p2", 12), ("p3", 12)]);
    check(vec![
        Case {
            name: "the largest proposal wins",
            snapshot: snapshot(
                3,
                1,
                10,
                pods(),
                vec![
                    scale_up(),
                    object(value(100), 250),
                    external(average(30), 90),
                ],
            ),
            metric_replicas: vec![Some(4), Some(8), Some(3)],
            desired: 7,
        },
        Case {
            // 2 < current 3 with a failed metric: hold 3.
            name: "a failed metric forbids a scale-down",
            snapshot: snapshot(
                3,
                1,
                10,
                pods(),
                vec![scale_down(), failed(external(value(5), 0))],
            ),
            metric_replicas: vec![Some(2), None],
            desired: 3,
        },
        Case {
            name: "a failed metric does not stop a scale-up",
            snapshot: snapshot(
                3,
                1,
                10,
                pods(),
                vec![scale_up(), failed(external(value(5), 0))],
            ),
            metric_replicas: vec![Some(4), None],
            desired: 4,
        },
        Case {
            name: "a failed metric does not stop holding the current count",
            snapshot: snapshot(
                3,
                1,
                10,
                pods(),
                vec![pods_metric(10, &[("p1", 10)]), failed(object(value(5), 0))],
            ),
            metric_replicas: vec![Some(3), None],
            desired: 3,
        },
    ]);
    let hold = recommend(&snapshot(
        3,
        1,
        10,
        pods(),
        vec![scale_down(), failed(external(value(5), 0))],
    ))
    .unwrap();
    assert_eq!(
        hold.recommendation, None,
        "the HPA records no recommendation on a hold"
    );
    assert!(matches!(
        hold.reason,
        Reason::MetricFailedHold {
            failed: 1,
            proposal: 2,
            ..
        }
    ));
}

#[test]
fn every_metric_failed_is_an_error() {
    let all_failed = snapshot(
        3,
        1,
        10,
        running(&["p1"]),
        vec![failed(external(value(5), 0)), failed(object(value(5), 0))],
    );
    let err = recommend(&all_failed).unwrap_err();
    assert!(
        matches!(err, Error::AllMetricsFailed { count: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("store unavailable"), "{err}");

    let no_pods = snapshot(3, 1, 10, vec![], vec![pods_metric(10, &[("p1", 5)])]);
    let err = recommend(&no_pods).unwrap_err();
    assert!(
        err.to_string().contains("no pods returned by selector"),
        "{err}"
    );

    let only_pending = snapshot(
        3,
        1,
        10,
        vec![pod("p1", PodPhase::Pending)],
        vec![pods_metric(10, &[("p1", 5)])],
    );
    let err = recommend(&only_pending).unwrap_err();
    assert!(err.to_string().contains("did not receive metrics"), "{err}");

    let none = snapshot(3, 1, 10, vec![], vec![]);
    assert!(matches!(recommend(&none).unwrap_err(), Error::NoMetrics));
}

#[test]
fn zero_replicas_and_bounds() {
    check(vec![
        Case {
            // From zero the proposal is ceil(250/100) = 3; the up policies allow max(0 + 4, 0) = 4.
            name: "scale from zero with minReplicas 0",
            snapshot: snapshot(0, 0, 10, vec![], vec![object(value(100), 250)]),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // 0/10 = 0 × 2 ready pods = 0; 100%/15 s allows 0; minReplicas 0.
            name: "scale to zero with minReplicas 0",
            snapshot: snapshot(
                2,
                0,
                10,
                running(&["p1", "p2"]),
                vec![external(value(10), 0)],
            ),
            metric_replicas: vec![Some(0)],
            desired: 0,
        },
        Case {
            name: "stay at zero with no demand",
            snapshot: snapshot(0, 0, 10, vec![], vec![external(value(10), 0)]),
            metric_replicas: vec![Some(0)],
            desired: 0,
        },
        Case {
            name: "currentReplicas 0 with minReplicas 1 disables scaling",
            snapshot: snapshot(0, 1, 10, vec![], vec![object(value(100), 250)]),
            metric_replicas: vec![Some(3)],
            desired: 0,
        },
        Case {
            // 250/100 × 8 = 20; the policies allow max(8 + 4, 16) = 16; maxReplicas 10 caps it.
            name: "maxReplicas caps the count",
            snapshot: snapshot(
                8,
                1,
                10,
                running(&["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"]),
                vec![object(value(100), 250)],
            ),
            metric_replicas: vec![Some(20)],
            desired: 10,
        },
        Case {
            name: "minReplicas floors the count",
            snapshot: snapshot(
                3,
                2,
                10,
                running(&["p1", "p2", "p3"]),
                vec![object(value(100), 0)],
            ),
            metric_replicas: vec![Some(0)],
            desired: 2,
        },
        Case {
            name: "a current count above maxReplicas goes straight to the bound",
            snapshot: snapshot(12, 1, 10, running(&["p1"]), vec![object(value(100), 100)]),
            metric_replicas: vec![Some(12)],
            desired: 10,
        },
        Case {
            name: "a current count below minReplicas goes straight to the bound",
            snapshot: snapshot(1, 4, 10, running(&["p1"]), vec![object(value(100), 100)]),
            metric_replicas: vec![Some(1)],
            desired: 4,
        },
    ]);
    let disabled = recommend(&snapshot(0, 1, 10, vec![], vec![object(value(100), 250)])).unwrap();
    assert_eq!(
        (disabled.recommendation, disabled.reason),
        (None, Reason::ScalingDisabled)
    );
    let above = recommend(&snapshot(
        12,
        1,
        10,
        vec![],
        vec![failed(object(value(100), 1))],
    ))
    .unwrap();
    assert_eq!(
        (above.desired_replicas, above.reason),
        (10, Reason::AboveMaxReplicas),
        "no metric is needed"
    );
}

#[test]
fn stabilization_window_boundaries() {
    let down_to_2 = || {
        snapshot(
            3,
            1,
            10,
            running(&["p1", "p2", "p3"]),
            vec![object(value(100), 50)],
        )
    };
    let with_history = |seconds_ago, replicas| {
        let mut s = down_to_2();
        s.recommendations = vec![TimestampedRecommendation {
            timestamp: ago(seconds_ago),
            replicas,
        }];
        s
    };
    check(vec![
        Case {
            // 50/100 × 3 = 1.5 → 2; a recommendation of 6 made 299 s ago is inside the 300 s
            // window: the highest recent recommendation (6) keeps the count at 3.
            name: "scale-down waits for a higher recommendation inside the window",
            snapshot: with_history(299, 6),
            metric_replicas: vec![Some(2)],
            desired: 3,
        },
        Case {
            name: "a recommendation exactly window seconds old is outside the window",
            snapshot: with_history(300, 6),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // A recommendation of 2 in the window lets the count fall only to max(2, 2) = 2.
            name: "scale-down goes to the highest recommendation in the window",
            snapshot: {
                let mut s = with_history(100, 2);
                s.metrics = vec![object(value(100), 10)];
                s
            },
            metric_replicas: vec![Some(1)],
            desired: 2,
        },
        Case {
            // Scale-up window 60 s: a recommendation of 4 within it caps the scale-up at 4.
            name: "scale-up goes to the lowest recommendation in its window",
            snapshot: {
                let mut s = with_behavior(
                    down_to_2(),
                    HorizontalPodAutoscalerBehavior {
                        scale_up: rules(HpaScalingRules {
                            stabilization_window_seconds: Some(60),
                            ..Default::default()
                        }),
                        scale_down: None,
                    },
                );
                s.metrics = vec![object(value(100), 300)];
                s.recommendations = vec![TimestampedRecommendation {
                    timestamp: ago(59),
                    replicas: 4,
                }];
                s
            },
            metric_replicas: vec![Some(9)],
            desired: 4,
        },
    ]);
}

#[test]
fn scaling_policies_and_scale_events() {
    let pods = |n: usize| {
        (0..n)
            .map(|i| pod(&format!("p{i}"), PodPhase::Running))
            .collect::<Vec<_>>()
    };
    // 10× the target: the metric always asks for ten times the ready pods.
    let surge = |current: i32| {
        snapshot(
            current,
            1,
            1000,
            pods(current as usize),
            vec![object(value(1), 10)],
        )
    };
    let select = |policy| HorizontalPodAutoscalerBehavior {
        scale_up: rules(HpaScalingRules {
            select_policy: Some(policy),
            ..Default::default()
        }),
        scale_down: None,
    };
    let with_events = |mut s: Snapshot, events: &[(i64, i32)]| {
        s.scale_events = events
            .iter()
            .map(|&(seconds_ago, replica_change)| ScaleEvent {
                timestamp: ago(seconds_ago),
                replica_change,
            })
            .collect();
        s
    };
    check(vec![
        Case {
            // Default up: max(1 + 4 pods, 1 × 200%) = 5.
            name: "default scale-up allows 4 pods per 15 s from a small count",
            snapshot: surge(1),
            metric_replicas: vec![Some(10)],
            desired: 5,
        },
        Case {
            // max(10 + 4, 10 × 2) = 20.
            name: "default scale-up allows 100% per 15 s from a larger count",
            snapshot: surge(10),
            metric_replicas: vec![Some(100)],
            desired: 20,
        },
        Case {
            // min(10 + 4, 20) = 14.
            name: "selectPolicy Min picks the smallest change",
            snapshot: with_behavior(surge(10), select(ScalingPolicySelect::Min)),
            metric_replicas: vec![Some(100)],
            desired: 14,
        },
        Case {
            name: "selectPolicy Disabled forbids scaling up",
            snapshot: with_behavior(surge(10), select(ScalingPolicySelect::Disabled)),
            metric_replicas: vec![Some(100)],
            desired: 10,
        },
        Case {
            // +4 ten seconds ago: the period started at 4 → max(4 + 4, 8) = 8 = current: no more.
            name: "a scale-up inside the period uses up the allowance",
            snapshot: with_events(surge(8), &[(10, 4)]),
            metric_replicas: vec![Some(80)],
            desired: 8,
        },
        Case {
            name: "a scale event exactly period seconds old is outside the period",
            snapshot: with_events(surge(8), &[(15, 4)]),
            metric_replicas: vec![Some(80)],
            desired: 16,
        },
        Case {
            // −2 five seconds ago: the period started at 5 → max(5 + 4, 10) = 10.
            name: "a scale-down inside the period raises the scale-up base",
            snapshot: with_events(surge(3), &[(5, -2)]),
            metric_replicas: vec![Some(30)],
            desired: 10,
        },
    ]);

    // Scale down by at most 1 pod per 60 s.
    let one_per_minute = HorizontalPodAutoscalerBehavior {
        scale_up: None,
        scale_down: rules(HpaScalingRules {
            stabilization_window_seconds: Some(0),
            policies: Some(vec![HpaScalingPolicy {
                kind: HpaScalingPolicyType::Pods,
                value: 1,
                period_seconds: 60,
            }]),
            ..Default::default()
        }),
    };
    let idle = || {
        with_behavior(
            snapshot(5, 1, 10, pods(5), vec![object(value(100), 0)]),
            one_per_minute.clone(),
        )
    };
    check(vec![
        Case {
            name: "a Pods scale-down policy removes one pod per period",
            snapshot: idle(),
            metric_replicas: vec![Some(0)],
            desired: 4,
        },
        Case {
            // −1 thirty seconds ago: the period started at 6 → 6 − 1 = 5 = current: hold.
            name: "a scale-down inside the period uses up the scale-down allowance",
            snapshot: with_events(idle(), &[(30, -1)]),
            metric_replicas: vec![Some(0)],
            desired: 5,
        },
        Case {
            name: "the default scale-down waits out its 300 s window",
            snapshot: {
                let mut s = snapshot(5, 1, 10, pods(5), vec![object(value(100), 0)]);
                s.recommendations = vec![TimestampedRecommendation {
                    timestamp: ago(200),
                    replicas: 5,
                }];
                s
            },
            metric_replicas: vec![Some(0)],
            desired: 5,
        },
    ]);
}

#[test]
fn product_example_decides_seven() {
    // The PRODUCT.md snapshot, worked out in tests/recommend_cli.rs.
    let text = include_str!("../../../tests/product_example.json");
    let snapshot = Snapshot::from_json(text, t0()).unwrap();
    let decision = recommend(&snapshot).unwrap();
    assert_eq!(decision.desired_replicas, 7);
    assert_eq!(decision.recommendation, Some(25));
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        json["metricReplicas"],
        serde_json::json!([3, 5, 25, 3, null])
    );
}
