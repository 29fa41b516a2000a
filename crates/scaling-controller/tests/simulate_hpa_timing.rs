//! A step load under the autoscaling/v2 default behavior reproduces the HPA's documented
//! timing: scale-up at once, by at most max(4 pods, 100 %) per 15 s; scale-down only once the
//! last high recommendation has left the 300 s stabilization window, then straight to the need.

use scaling_controller::simulate::engine::Outcome;
use scaling_controller::simulate::history::parse_csv;
use scaling_controller::simulate::{Run, SimulationOptions, plan, simulate};

const POLICY: &str = "
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: step}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 100
  metrics:
    - type: Pods
      pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: '10'}}
";

/// 10 req/s for 5 minutes, 200 req/s for 10 minutes, then 10 req/s for 15 minutes.
fn step_load_csv() -> String {
    let mut csv = String::from("timestamp,rps\n");
    for i in 0..120 {
        let rps = if (20..60).contains(&i) { 200 } else { 10 };
        csv.push_str(&format!("{},{rps}\n", 1_767_225_600 + i * 15));
    }
    csv
}

fn run(pod_startup_millis: i64) -> Run {
    let plan = plan::parse(POLICY, "step.yaml", "step").unwrap_or_else(|e| panic!("{e}"));
    let history = parse_csv(&step_load_csv(), "step.csv").unwrap_or_else(|e| panic!("{e}"));
    let options = SimulationOptions {
        pod_startup_millis,
        initial_replicas: Some(1),
    };
    simulate(&plan, &history, options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn scale_up_is_immediate_and_bounded_by_four_pods_or_double_per_15s() {
    let run = run(0);
    let after: Vec<i32> = run.steps.iter().map(|s| s.after).collect();
    assert!(after[..20].iter().all(|r| *r == 1), "{:?}", &after[..20]);
    // 1 → max(1 + 4, 2 × 1) = 5 → max(5 + 4, 10) = 10 → 20, one step of 15 s each.
    assert_eq!(&after[20..24], &[5, 10, 20, 20]);
    assert!(run.steps.iter().all(|s| s.outcome == Outcome::Decided));
}

#[test]
fn scale_down_waits_for_the_300s_window() {
    let run = run(0);
    let drop = 60; // the first low step
    let last_high_recommendation = drop - 1;
    let first_down = run
        .steps
        .iter()
        .position(|s| s.after < s.before)
        .unwrap_or_else(|| panic!("no scale-down"));
    // The recommendation of 20 made at the last high step is inside the window until it is
    // exactly 300 s old: the first scale-down is 300 s after it, 285 s after the drop.
    assert_eq!((first_down - last_high_recommendation) * 15, 300);
    assert!(run.steps[drop..first_down].iter().all(|s| s.after == 20));
    // 100 % per 15 s allows the whole way down to the need (1) at once.
    assert_eq!(run.steps[first_down].after, 1);
}

#[test]
fn unready_new_pods_slow_the_scale_up() {
    // With a 30 s start-up new pods report no sample; on a scale-up the HPA counts them as 0,
    // so the second step proposes less than with instant readiness, yet still catches up.
    let slow = run(30_000);
    let after: Vec<i32> = slow.steps.iter().map(|s| s.after).collect();
    assert_eq!(after[20], 5);
    assert!(after[21] <= 10, "{:?}", &after[20..26]);
    assert_eq!(after[30], 20, "{:?}", &after[20..31]);
}
