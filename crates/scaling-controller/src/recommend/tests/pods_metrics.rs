//! Pods metrics: tolerance, the plain ratio, and missing, unready and ignored pods
//! (`calcPlainMetricReplicas`, `groupPods`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn pods_metric_tolerance_and_plain_ratio() {
    let three = || running(&["p1", "p2", "p3"]);
    let samples = |v| vec![("p1", v), ("p2", v), ("p3", v)];
    let tolerant = |up: &str, down: &str| HorizontalPodAutoscalerBehavior {
        scale_up: rules(HpaScalingRules {
            tolerance: Some(up.parse().unwrap()),
            ..Default::default()
        }),
        scale_down: rules(HpaScalingRules {
            tolerance: Some(down.parse().unwrap()),
            ..Default::default()
        }),
    };
    check(vec![
        Case {
            // 11/10 = 1.1 = 1 + tolerance: inside the band (≤), no change.
            name: "ratio exactly 1 + tolerance keeps the current count",
            snapshot: snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(11))]),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // 9/10 = 0.9 = 1 - tolerance: inside the band.
            name: "ratio exactly 1 - tolerance keeps the current count",
            snapshot: snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(9))]),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // 12/10 = 1.2 → ceil(1.2 × 3 ready) = ceil(3.5999…) = 4.
            name: "ratio above the band scales up by ratio times ready pods",
            snapshot: snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(12))]),
            metric_replicas: vec![Some(4)],
            desired: 4,
        },
        Case {
            // 5/10 = 0.5 → ceil(1.5) = 2; no history, 100%/15 s lets it go straight there.
            name: "ratio below the band scales down",
            snapshot: snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(5))]),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // scaleUp.tolerance 0.5: 1.2 ≤ 1.5 is inside the band.
            name: "behavior scaleUp tolerance overrides the global one",
            snapshot: with_behavior(
                snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(12))]),
                tolerant("0.5", "0.1"),
            ),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // scaleDown.tolerance 0.6: 0.5 ≥ 0.4 is inside the band.
            name: "behavior scaleDown tolerance overrides the global one",
            snapshot: with_behavior(
                snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(5))]),
                tolerant("0.1", "600m"),
            ),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // Only the up tolerance was widened: 0.5 < 0.9 still scales down to 2.
            name: "per-direction tolerance leaves the other direction alone",
            snapshot: with_behavior(
                snapshot(3, 1, 10, three(), vec![pods_metric(10, &samples(5))]),
                tolerant("0.5", "0.1"),
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // Global tolerance 0: 10.5/10 = 1.05 → ceil(3.15) = 4.
            name: "zero tolerance scales on a 5% excess",
            snapshot: {
                let mut s = snapshot(3, 1, 10, three(), vec![pods_metric(10, &[])]);
                s.metrics = vec![Metric {
                    source: MetricSource::Pods {
                        target_average: 10_000,
                        samples: PodSamples::new(vec![
                            ("p1".into(), 10_500),
                            ("p2".into(), 10_500),
                            ("p3".into(), 10_500),
                        ]),
                    },
                    error: None,
                }];
                s.tolerance = 0.0;
                s
            },
            metric_replicas: vec![Some(4)],
            desired: 4,
        },
    ]);
}

#[test]
fn pods_metric_missing_unready_and_ignored_pods() {
    let mut not_ready = pod("p1", PodPhase::Running);
    not_ready.ready = false;
    let mut deleting = pod("p3", PodPhase::Running);
    deleting.deleting = true;
    check(vec![
        Case {
            // 30/10 = 3 > 1 with p3 missing → p3 counts 0: 60/3 = 20 → 2.0 → ceil(2 × 3) = 6.
            name: "missing pod counts as zero on a scale-up",
            snapshot: snapshot(
                3,
                1,
                10,
                running(&["p1", "p2", "p3"]),
                vec![pods_metric(10, &[("p1", 30), ("p2", 30)])],
            ),
            metric_replicas: vec![Some(6)],
            desired: 6,
        },
        Case {
            // 2/10 = 0.2 < 1 with p3 missing → p3 counts as the target: (2+2+10)/3 = 4.666 (4666m
            // after integer division) → ceil(0.4666 × 3) = 2.
            name: "missing pod counts as the target on a scale-down",
            snapshot: snapshot(
                3,
                1,
                10,
                running(&["p1", "p2", "p3"]),
                vec![pods_metric(10, &[("p1", 2), ("p2", 2)])],
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // 12/10 = 1.2 up; p2 missing as 0 → 6/10 = 0.6 down: the direction flips → current.
            name: "missing pods that flip the direction keep the current count",
            snapshot: snapshot(
                2,
                1,
                10,
                running(&["p1", "p2"]),
                vec![pods_metric(10, &[("p1", 12)])],
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // 8/10 = 0.8 down; p2, p3 missing as 10 → 28/3 = 9.333 → 0.9333, inside the band.
            name: "missing pods that bring the ratio into the band keep the current count",
            snapshot: snapshot(
                3,
                1,
                10,
                running(&["p1", "p2", "p3"]),
                vec![pods_metric(10, &[("p1", 8)])],
            ),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // 40/10 = 4 up; p2, p3 Pending count 0 → 40/3 = 13.333 → ceil(1.3333 × 3) = 4.
            name: "pending pods count as zero on a scale-up",
            snapshot: snapshot(
                3,
                1,
                10,
                vec![
                    pod("p1", PodPhase::Running),
                    pod("p2", PodPhase::Pending),
                    pod("p3", PodPhase::Pending),
                ],
                vec![pods_metric(10, &[("p1", 40)])],
            ),
            metric_replicas: vec![Some(4)],
            desired: 4,
        },
        Case {
            // p2 is Pending: its sample (100) is dropped; 5/10 = 0.5 → ceil(0.5 × 1 ready) = 1.
            name: "pending pods are left out on a scale-down",
            snapshot: snapshot(
                2,
                1,
                10,
                vec![pod("p1", PodPhase::Running), pod("p2", PodPhase::Pending)],
                vec![pods_metric(10, &[("p1", 5), ("p2", 100)])],
            ),
            metric_replicas: vec![Some(1)],
            desired: 1,
        },
        Case {
            // 20/15 up; p2 Pending as 0 → 10/15 down: flip → current (the PRODUCT.md example).
            name: "pending pods that flip the direction keep the current count",
            snapshot: snapshot(
                3,
                1,
                10,
                vec![
                    pod("p1", PodPhase::Running),
                    pod("p2", PodPhase::Pending),
                    deleting.clone(),
                ],
                vec![pods_metric(15, &[("p1", 20), ("p2", 10)])],
            ),
            metric_replicas: vec![Some(3)],
            desired: 3,
        },
        Case {
            // Failed p2 and deleting p3 lose their samples: 20/10 = 2 → ceil(2 × 1) = 2.
            name: "failed and deleting pods are ignored",
            snapshot: snapshot(
                3,
                1,
                10,
                vec![
                    pod("p1", PodPhase::Running),
                    pod("p2", PodPhase::Failed),
                    deleting,
                ],
                vec![pods_metric(10, &[("p1", 20), ("p2", 100), ("p3", 100)])],
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // groupPods does not skip Succeeded pods: p2 is missing, counts 0 on the scale-up:
            // 20/10 = 2 → 10/10 = 1.0, inside the band → current 1 (ignoring p2 would give 2).
            name: "succeeded pods are not ignored, as in the HPA code",
            snapshot: snapshot(
                1,
                1,
                10,
                vec![pod("p1", PodPhase::Running), pod("p2", PodPhase::Succeeded)],
                vec![pods_metric(10, &[("p1", 20)])],
            ),
            metric_replicas: vec![Some(1)],
            desired: 1,
        },
        Case {
            // The sample of "gone" stays: (10+30)/2 = 20 → 2.0 → ceil(2 × 1 ready pod) = 2.
            name: "samples for pods not in the pod list still count",
            snapshot: snapshot(
                1,
                1,
                10,
                running(&["p1"]),
                vec![pods_metric(10, &[("p1", 10), ("gone", 30)])],
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
        Case {
            // Readiness is not checked for Pods metrics: 20/10 = 2 → ceil(2 × 1) = 2.
            name: "running pods count for Pods metrics even when not ready",
            snapshot: snapshot(
                1,
                1,
                10,
                vec![not_ready],
                vec![pods_metric(10, &[("p1", 20)])],
            ),
            metric_replicas: vec![Some(2)],
            desired: 2,
        },
    ]);
}
