//! Bad input gives one clear message naming the problem and the place, and a non-zero exit: an
//! invalid policy, a data file with a gap, unordered timestamps or a non-numeric value, a
//! missing column, and a store that is down. (A range query returning nothing is tested
//! against the real Prometheus in `simulate_prometheus.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use scaling_controller::simulate::cli::{SimulateArgs, run};
use scaling_controller::simulate::summary::Format;
use scaling_controller::simulate::{Error, plan};

const GOOD: &str = "
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Pods
      pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: '10'}}
";

fn args(policy: PathBuf) -> SimulateArgs {
    SimulateArgs {
        policy,
        prometheus: None,
        start: None,
        end: None,
        step: None,
        queries: Vec::new(),
        data: None,
        compare: None,
        out: None,
        format: Format::Table,
        pod_startup: std::time::Duration::from_secs(30),
        initial_replicas: None,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn invalid(yaml: &str) -> (String, String) {
    match plan::parse(yaml, "p.yaml", "p") {
        Err(Error::InvalidPolicy { field, reason, .. }) => (field, reason),
        other => panic!("expected an invalid policy, got {other:?}"),
    }
}

#[test]
fn invalid_policies_name_the_field() {
    let (field, reason) = invalid(&GOOD.replace("minReplicas: 1", "minReplicas: 11"));
    assert_eq!(field, "spec.minReplicas");
    assert!(reason.contains("maxReplicas (10)"), "{reason}");

    let both = GOOD.replace(
        "      pods: {",
        "      object: {describedObject: {apiVersion: v1, kind: Service, name: web}, metric: {name: x}, target: {type: Value, value: '1'}}\n      pods: {",
    );
    let (field, reason) = invalid(&both);
    assert_eq!(field, "spec.metrics[0].pods");
    assert!(reason.contains("found pods, object"), "{reason}");

    let (field, _) = invalid(&GOOD.replace(
        "{type: AverageValue, averageValue: '10'}",
        "{type: Value, value: '10'}",
    ));
    assert_eq!(field, "spec.metrics[0].pods.target.type");

    let (field, _) = invalid(&GOOD.replace(
        "{type: AverageValue, averageValue: '10'}",
        "{type: AverageValue, averageValue: '10', value: '3'}",
    ));
    assert_eq!(field, "spec.metrics[0].pods.target.value");

    let (field, _) = invalid(&GOOD.replace("averageValue: '10'", "averageValue: '0'"));
    assert_eq!(field, "spec.metrics[0].pods.target.averageValue");

    let (field, reason) = invalid(&format!(
        "{GOOD}  behavior:\n    scaleDown: {{stabilizationWindowSeconds: 4000}}\n"
    ));
    assert_eq!(field, "spec.behavior.scaleDown.stabilizationWindowSeconds");
    assert!(reason.contains("4000"), "{reason}");

    let (field, _) = invalid(&format!(
        "{GOOD}  fallback: {{failureThreshold: 3, replicas: 11}}\n"
    ));
    assert_eq!(field, "spec.fallback.replicas");

    let (field, _) = invalid(&GOOD.replace("minReplicas: 1", "minReplicas: 0"));
    assert_eq!(field, "spec.minReplicas");

    match plan::parse("spec: [1, 2", "p.yaml", "p") {
        Err(error @ Error::PolicyShape { .. }) => {
            assert!(
                error.to_string().starts_with("p.yaml: not a ScalingPolicy"),
                "{error}"
            )
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn bad_data_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = write(dir.path(), "p.yaml", GOOD);
    let cases = [
        (
            "gap.csv",
            "timestamp,rps\n0,1\n15,1\n90,1\n",
            ":4: gap: 4 steps",
        ),
        (
            "order.csv",
            "timestamp,rps\n0,1\n15,1\n30,1\n20,1\n",
            ":5: timestamps out of order",
        ),
        (
            "text.csv",
            "timestamp,rps\n0,1\n15,lots\n",
            ":3: column rps: value \"lots\" is not a number",
        ),
        (
            "column.csv",
            "timestamp,latency\n0,1\n",
            "has no data for metric 0 (rps)",
        ),
        (
            "order.json",
            r#"{"metrics": {"rps": [[15, 1], [0, 1]]}}"#,
            ": metrics.rps[1]: timestamps out of order",
        ),
    ];
    for (name, text, expected) in cases {
        let data = write(dir.path(), name, text);
        let result = run(
            &SimulateArgs {
                data: Some(data.clone()),
                ..args(policy.clone())
            },
            &mut Vec::new(),
        );
        let message = match result {
            Err(error) => error.to_string(),
            Ok(()) => panic!("{name} was accepted"),
        };
        assert!(
            message.contains(expected) && message.contains(name),
            "{name}: {message:?} does not contain {expected:?}"
        );
    }
}

#[test]
fn a_store_that_is_down_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = write(dir.path(), "p.yaml", GOOD);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{port}");
    let result = run(
        &SimulateArgs {
            prometheus: Some(url.clone()),
            ..args(policy)
        },
        &mut Vec::new(),
    );
    match result {
        Err(error @ Error::Store { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&url)
                    && message.contains("unavailable")
                    && message.contains("rps"),
                "{message}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[test]
fn the_binary_exits_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = write(
        dir.path(),
        "bad.yaml",
        &GOOD.replace("maxReplicas: 10", "maxReplicas: 0"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_sextant-controller"))
        .args(["simulate", "-f"])
        .arg(&policy)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.yaml: invalid policy: spec.maxReplicas"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
