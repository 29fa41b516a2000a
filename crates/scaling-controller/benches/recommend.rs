//! `recommend` for 100 pods and 3 metrics (Pods, Object, External), the controller's per-policy
//! decision cost. Budget: ≤ 5 µs. Prints criterion's report, then the mean over a plain timed
//! loop and whether it meets the budget.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use scaling_controller::recommend::{Snapshot, recommend};

const BUDGET: Duration = Duration::from_micros(5);

/// 100 Running pods (a few Pending, one deleting), a Pods metric with a sample for most of
/// them, an Object and an External metric, the default behavior, and some history.
fn snapshot() -> Snapshot {
    let mut pods = Vec::new();
    let mut samples = serde_json::Map::new();
    for i in 0..100 {
        let phase = if i % 25 == 0 { "Pending" } else { "Running" };
        pods.push(serde_json::json!({"name": format!("checkout-7d9f8-{i:03}"), "phase": phase, "deleting": i == 99}));
        if i % 10 != 3 {
            samples.insert(
                format!("checkout-7d9f8-{i:03}"),
                serde_json::json!(format!("{}", 40 + i % 17)),
            );
        }
    }
    let json = serde_json::json!({
        "now": "2026-01-01T00:10:00Z",
        "currentReplicas": 100,
        "maxReplicas": 400,
        "pods": pods,
        "metrics": [
            {"type": "Pods", "target": {"type": "AverageValue", "averageValue": "50"}, "podValues": samples},
            {"type": "Object", "target": {"type": "Value", "value": "250m"}, "value": "310m"},
            {"type": "External", "target": {"type": "AverageValue", "averageValue": "30"}, "value": "2.9k"}
        ],
        "recommendations": [
            {"timestamp": "2026-01-01T00:06:00Z", "replicas": 90},
            {"timestamp": "2026-01-01T00:08:00Z", "replicas": 110}
        ],
        "scaleEvents": [{"timestamp": "2026-01-01T00:09:50Z", "replicaChange": 10}]
    });
    let now = "2026-01-01T00:10:00Z"
        .parse()
        .unwrap_or_else(|err| panic!("timestamp: {err}"));
    Snapshot::from_json(&json.to_string(), now)
        .unwrap_or_else(|err| panic!("benchmark snapshot: {err}"))
}

fn bench(c: &mut Criterion) {
    let snapshot = snapshot();
    c.bench_function("recommend/100_pods_3_metrics", |b| {
        b.iter(|| recommend(black_box(&snapshot)))
    });
}

/// Times the same call in a plain loop and prints the mean against the budget.
fn report() {
    let snapshot = snapshot();
    for _ in 0..10_000 {
        let _ = black_box(recommend(black_box(&snapshot)));
    }
    let iterations: u32 = 200_000;
    let start = Instant::now();
    for _ in 0..iterations {
        let _ = black_box(recommend(black_box(&snapshot)));
    }
    let mean = start.elapsed() / iterations;
    let verdict = if mean <= BUDGET { "meets" } else { "MISSES" };
    println!(
        "recommend (100 pods, 3 metrics): mean {:.3} µs over {iterations} calls; {verdict} the ≤ {} µs budget",
        mean.as_secs_f64() * 1e6,
        BUDGET.as_micros()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
