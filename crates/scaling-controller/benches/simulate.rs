//! `simulate` over a week at 15 s steps (40,320 steps) for a policy with 3 metrics (Pods,
//! Object, External), the store excluded: the history is built in memory. Budget: ≤ 1 s.
//! Prints criterion's report for one simulated day, then the week's time over a few plain runs
//! and whether it meets the budget.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use scaling_controller::simulate::history::{Column, History};
use scaling_controller::simulate::{Plan, SimulationOptions, plan, simulate};

const BUDGET: Duration = Duration::from_secs(1);
const WEEK: usize = 7 * 24 * 240;

const POLICY: &str = "
apiVersion: sextant.io/v1alpha1
kind: ScalingPolicy
metadata: {name: bench}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
  minReplicas: 2
  maxReplicas: 60
  metrics:
    - type: Pods
      pods: {metric: {name: http_requests_per_second}, target: {type: AverageValue, averageValue: '50'}}
    - type: Object
      object: {describedObject: {apiVersion: v1, kind: Service, name: checkout},
               metric: {name: http_request_duration_p99_seconds}, target: {type: Value, value: 250m}}
    - type: External
      external: {query: 'sum(queue_depth)', target: {type: AverageValue, averageValue: '30'}}
  fallback: {failureThreshold: 3, replicas: 10}
";

fn plan() -> Plan {
    plan::parse(POLICY, "bench.yaml", "bench").unwrap_or_else(|e| panic!("{e}"))
}

/// `steps` steps of diurnal request rate, a latency that rises with it, a queue with bursts,
/// and a short outage every day.
fn history(steps: usize) -> History {
    let column = |name: &str, f: &dyn Fn(usize, f64) -> f64| Column {
        name: name.to_owned(),
        values: (0..steps)
            .map(|i| {
                let hour = (i % 5760) as f64 / 240.0;
                let outage = (3840..3864).contains(&(i % 5760));
                (!outage).then(|| f(i, hour))
            })
            .collect(),
    };
    let diurnal = |hour: f64| 600.0 - 500.0 * (std::f64::consts::TAU * (hour - 2.0) / 24.0).cos();
    History {
        origin: "benchmark week".to_owned(),
        start_millis: 1_767_225_600_000,
        step_millis: 15_000,
        len: steps,
        columns: vec![
            column("http_requests_per_second", &|i, h| {
                diurnal(h) * (1.0 + 0.05 * ((i * 7919 % 101) as f64 / 100.0 - 0.5))
            }),
            column("http_request_duration_p99_seconds", &|_, h| {
                0.1 + diurnal(h) / 5000.0
            }),
            column("query", &|i, h| {
                diurnal(h) / 2.0 + if i % 2000 < 40 { 900.0 } else { 0.0 }
            }),
        ],
    }
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    let day = history(5760);
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.bench_function("one_day_3_metrics", |b| {
        b.iter(|| {
            simulate(
                black_box(&plan),
                black_box(&day),
                SimulationOptions::default(),
            )
        })
    });
    group.finish();
}

/// Times the week in plain runs and prints the best and mean against the budget.
fn report() {
    let plan = plan();
    let week = history(WEEK);
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let run = simulate(
            black_box(&plan),
            black_box(&week),
            SimulationOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        times.push(start.elapsed());
        assert_eq!(black_box(run).steps.len(), WEEK);
    }
    let best = times.iter().min().copied().unwrap_or_default();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let verdict = if mean <= BUDGET { "meets" } else { "MISSES" };
    println!(
        "simulate (a week at 15 s = {WEEK} steps, 3 metrics): best {:.1} ms, mean {:.1} ms over {} runs; {verdict} the ≤ {} s budget",
        best.as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        times.len(),
        BUDGET.as_secs()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
