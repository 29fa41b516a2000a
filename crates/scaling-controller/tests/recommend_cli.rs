//! Runs the built `sextant-controller recommend` as outside test suites do: the PRODUCT.md
//! example snapshot on stdin, the decision on stdout, and the exit codes of the contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn recommend(stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sextant-controller"))
        .arg("recommend")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sextant-controller");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The PRODUCT.md stdin example with its comments (and the behavior placeholder comment)
/// removed: `"behavior": {}` means every autoscaling/v2 default.
///
/// Worked out from the HPA code (now = 00:10:00, current 3, statusReplicas 3, tolerance 0.1):
/// - metric 0, Pods, target 15: p3 is deleting (ignored), p2 Pending (unready, its sample 10
///   dropped), p1 ready with 20. Ratio 20/15 = 1.33 is a scale-up with an unready pod, so p2
///   counts as 0: (20 + 0)/2 = 10, ratio 0.67. The direction flips → keep current: 3.
/// - metric 1, Object Value 100, value 250: ratio 2.5 × running-and-ready pods. p1 and p3 are
///   Running and ready (`getReadyPodsCount` does not look at deletion) → ceil(5.0) = 5.
/// - metric 2, Object AverageValue 10, value 250: 250/(10 × 3) = 8.3, outside the band →
///   ceil(250/10) = 25.
/// - metric 3, External AverageValue 30, value 90: 90/(30 × 3) = 1.0, inside → statusReplicas 3.
/// - metric 4 failed → null. The largest proposal is 25 ≥ current, so the failure does not hold
///   the count: recommendation 25.
/// - Stabilization: the scale-up window is 0 s and the 6 of 00:08:00 only matters for scale-down
///   → 25.
/// - Rate limit (15 s periods): the −2 event at 00:09:45 is exactly 15 s old, outside the period,
///   so the period starts at 3: max(3 + 4 pods, 3 × 200%) = max(7, 6) = 7 < maxReplicas 10.
///
/// desiredReplicas 7. (PRODUCT.md's example stdout shows illustrative values 4/[4,3,3,3,null].)
const PRODUCT_EXAMPLE: &str = include_str!("product_example.json");

#[test]
fn product_example_snapshot() {
    let output = recommend(PRODUCT_EXAMPLE);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decision = stdout_json(&output);
    assert_eq!(decision["desiredReplicas"], json!(7));
    assert_eq!(decision["metricReplicas"], json!([3, 5, 25, 3, null]));
    assert_eq!(decision["recommendation"], json!(25));
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("metric 2 (Object)"),
        "{decision}"
    );
    let keys: Vec<&String> = decision.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "exactly the contract's keys: {keys:?}");
}

#[test]
fn undecidable_snapshots_exit_1_with_an_error_object() {
    let cases = [
        // Every metric failed.
        r#"{"currentReplicas": 3, "maxReplicas": 10, "pods": [{"name": "p1", "phase": "Running"}],
            "metrics": [{"type": "External", "target": {"type": "Value", "value": "5"}, "error": "store unavailable"}]}"#,
        // Pods-only with no pods.
        r#"{"currentReplicas": 3, "maxReplicas": 10, "pods": [],
            "metrics": [{"type": "Pods", "target": {"type": "AverageValue", "averageValue": "15"}, "podValues": {}}]}"#,
        // A quantity that does not parse.
        r#"{"currentReplicas": 3, "maxReplicas": 10,
            "metrics": [{"type": "External", "target": {"type": "Value", "value": "five"}, "value": "1"}]}"#,
        // maxReplicas below minReplicas.
        r#"{"currentReplicas": 3, "minReplicas": 5, "maxReplicas": 4,
            "metrics": [{"type": "External", "target": {"type": "Value", "value": "5"}, "value": "1"}]}"#,
        // Unknown metric type and unknown target type.
        r#"{"currentReplicas": 3, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "target": {"type": "Utilization"}}]}"#,
        r#"{"currentReplicas": 3, "maxReplicas": 10,
            "metrics": [{"type": "Object", "target": {"type": "Utilization"}, "value": "1"}]}"#,
    ];
    for case in cases {
        let output = recommend(case);
        assert_eq!(output.status.code(), Some(1), "{case}");
        let body = stdout_json(&output);
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {body}"));
        assert!(!message.is_empty());
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }
}

#[test]
fn malformed_input_exits_2_with_a_message_on_stderr() {
    for case in [
        "",
        "{",
        "[]",
        r#"{"currentReplicas": "three", "maxReplicas": 10, "metrics": []}"#,
        r#"{"maxReplicas": 10, "metrics": []}"#,
    ] {
        let output = recommend(case);
        assert_eq!(output.status.code(), Some(2), "{case:?}");
        assert!(output.stdout.is_empty(), "{case:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("malformed"),
            "{case:?}"
        );
    }
}

#[test]
fn run_without_a_cluster_says_how_to_configure_one() {
    let output = Command::new(env!("CARGO_BIN_EXE_sextant-controller"))
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no Kubernetes configuration (KUBECONFIG or in-cluster)"),
        "{stderr}"
    );
}
