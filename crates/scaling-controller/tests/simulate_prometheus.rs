//! The range-query path against a real Prometheus loaded by backfill gives the same history,
//! and so the same summary, as the data-file path on the same data; a query that matches
//! nothing is one clear error.

use std::path::PathBuf;

use scaling_controller::simulate::Error;
use scaling_controller::simulate::cli::{SimulateArgs, run};
use scaling_controller::simulate::summary::Format;
use test_support::{PrometheusConfig, PrometheusServer, Series, or_skip};

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const STEPS: i64 = 480; // two hours at 15 s

const POLICY: &str = "
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 30
  metrics:
    - type: Pods
      pods: {metric: {name: http_requests_per_second}, target: {type: AverageValue, averageValue: '20'}}
";

/// Two pods' request rates: a slow ramp with a burst in the middle, in halves and quarters so
/// both paths add them up exactly.
fn rates(step: i64) -> (f64, f64) {
    let ramp = 40.0 + (step % 240) as f64 * 0.25;
    let burst = if (200..260).contains(&step) {
        150.5
    } else {
        0.0
    };
    (ramp + burst, ramp / 2.0)
}

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
        format: Format::Json,
        pod_startup: std::time::Duration::from_secs(30),
        initial_replicas: None,
    }
}

fn start_prometheus(runtime: &tokio::runtime::Runtime) -> TestResult<Option<PrometheusServer>> {
    let series = ["a", "b"].iter().enumerate().map(|(index, pod)| {
        (0..STEPS).fold(
            Series::new(
                "http_requests_per_second",
                &[("namespace", "shop"), ("pod", pod)],
            ),
            |s, step| {
                let (a, b) = rates(step);
                s.sample((T0 + step * 15) * 1000, if index == 0 { a } else { b })
            },
        )
    });
    let config = PrometheusConfig {
        backfill: series.collect(),
        ..PrometheusConfig::default()
    };
    Ok(or_skip(runtime.block_on(PrometheusServer::start(config)))?)
}

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[test]
fn range_query_path_matches_the_data_file_path() -> TestResult {
    let runtime = tokio::runtime::Runtime::new()?;
    let Some(prometheus) = start_prometheus(&runtime)? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY)?;
    let mut csv = String::from("timestamp,http_requests_per_second\n");
    for step in 0..STEPS {
        let (a, b) = rates(step);
        csv.push_str(&format!("{},{}\n", T0 + step * 15, a + b));
    }
    let data = dir.path().join("history.csv");
    std::fs::write(&data, csv)?;

    let mut from_file = Vec::new();
    run(
        &SimulateArgs {
            data: Some(data),
            ..args(policy.clone())
        },
        &mut from_file,
    )?;
    let mut from_store = Vec::new();
    let instant = |seconds: i64| jiff::Timestamp::from_second(seconds);
    run(
        &SimulateArgs {
            prometheus: Some(prometheus.url().to_owned()),
            start: Some(instant(T0)?),
            end: Some(instant(T0 + (STEPS - 1) * 15)?),
            step: Some(std::time::Duration::from_secs(15)),
            ..args(policy.clone())
        },
        &mut from_store,
    )?;
    let from_file = String::from_utf8(from_file)?;
    assert_eq!(String::from_utf8(from_store)?, from_file);
    assert!(from_file.contains("\"steps\": 480"), "{from_file}");
    assert!(from_file.contains("\"failedReads\": 0"), "{from_file}");

    // A query that matches nothing is an error naming the metric and the query.
    let result = run(
        &SimulateArgs {
            prometheus: Some(prometheus.url().to_owned()),
            start: Some(instant(T0)?),
            end: Some(instant(T0 + 600)?),
            queries: vec![(
                "http_requests_per_second".to_owned(),
                "sum(no_such_metric)".to_owned(),
            )],
            ..args(policy)
        },
        &mut Vec::new(),
    );
    match result {
        Err(error @ Error::EmptyRange { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("http_requests_per_second")
                    && message.contains("sum(no_such_metric)")
                    && message.contains("returned nothing"),
                "{message}"
            );
        }
        other => panic!("expected an empty-range error, got {other:?}"),
    }
    drop(prometheus);
    Ok(())
}
