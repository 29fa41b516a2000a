//! The controller at scale, against the fake API server: 1,000 ScalingPolicies (one per
//! namespace, each on its own Deployment with 3 pods and a Pods metric that doubles it), each
//! reconciled once as one 15 s sync period would.
//!
//! Prints the p50/p99/max time of a reconcile — start to end, which includes the `/scale` patch
//! and the status apply after it, so it bounds the time to the patch from above — and the CPU
//! the whole process spent per 15 s period, as a share of one core. The fake API server runs in
//! the same process, so its CPU is counted too: both figures are upper bounds. The metrics
//! store is not involved (Pods metrics come from the fake API).
//!
//! Run: `cargo bench -p scaling-controller --bench controller`

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use scaling_controller::controller::{Context, ControllerConfig, reconcile};
use scaling_controller::policy::ScalingPolicy;
use serde_json::{Value, json};
use test_support::kube_api::FakeApi;

const POLICIES: usize = 1_000;
const PERIOD: Duration = Duration::from_secs(15);

fn policy(namespace: &str) -> Value {
    json!({
        "apiVersion": "sextant.io/v1alpha1", "kind": "ScalingPolicy",
        "metadata": {"name": "app", "namespace": namespace, "uid": format!("uid-{namespace}"), "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "minReplicas": 1, "maxReplicas": 20,
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                                                   "target": {"type": "AverageValue", "averageValue": "50"}}}]
        }
    })
}

fn load(fake: &FakeApi) -> Result<Vec<Arc<ScalingPolicy>>, Box<dyn std::error::Error>> {
    let mut cluster = fake.cluster.lock().map_err(|_| "poisoned")?;
    let mut policies = Vec::with_capacity(POLICIES);
    for index in 0..POLICIES {
        let namespace = format!("ns-{index:04}");
        let key = (namespace.clone(), "app".to_owned());
        cluster.scales.insert(
            key.clone(),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "app", "namespace": namespace, "resourceVersion": "1"},
                   "spec": {"replicas": 3}, "status": {"replicas": 3, "selector": "app=app"}}),
        );
        let pods: Vec<Value> = (0..3)
            .map(|i| json!({"metadata": {"name": format!("app-{i}"), "namespace": namespace, "labels": {"app": "app"}},
                            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
            .collect();
        cluster.pods.insert(namespace.clone(), pods);
        let items: Vec<Value> = (0..3)
            .map(|i| json!({"describedObject": {"kind": "Pod", "namespace": namespace, "name": format!("app-{i}"), "apiVersion": "/v1"},
                            "metric": {"name": "http_requests_per_second", "selector": null},
                            "timestamp": "2026-01-01T00:10:00Z", "windowSeconds": 120, "value": "100"}))
            .collect();
        cluster.metrics.insert(
            format!("/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/*/http_requests_per_second"),
            json!({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2", "metadata": {}, "items": items}),
        );
        let object = policy(&namespace);
        cluster.policies.insert(key, object.clone());
        policies.push(Arc::new(serde_json::from_value(object)?));
    }
    Ok(policies)
}

/// CPU time of the whole process (user + system) from `/proc/self/stat`, in clock ticks of
/// 10 ms (Linux's USER_HZ of 100).
fn process_cpu() -> Result<Duration, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat.rsplit_once(')').ok_or("unexpected /proc/self/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
        + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[index]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let fake = FakeApi::without_call_log();
        let policies = load(&fake)?;
        let now: Timestamp = "2026-01-01T00:10:00Z".parse()?;
        let ctx = Arc::new(Context::new(fake.client(), None, ControllerConfig::default()).with_clock(move || now));

        // Warm up connections and allocations with one policy, then measure a full period.
        reconcile(policies[0].clone(), ctx.clone()).await?;
        let cpu_before = process_cpu()?;
        let wall = Instant::now();
        let mut durations = Vec::with_capacity(POLICIES);
        for policy in &policies {
            let started = Instant::now();
            reconcile(policy.clone(), ctx.clone()).await?;
            durations.push(started.elapsed());
        }
        let wall = wall.elapsed();
        let cpu = process_cpu()?.saturating_sub(cpu_before);
        durations.sort();

        let scaled = fake
            .cluster
            .lock()
            .map(|c| c.scales.values().filter(|s| s["spec"]["replicas"] == 6).count())
            .unwrap_or(0);
        println!("controller: {POLICIES} ScalingPolicies reconciled once each ({scaled} rescaled 3 → 6)");
        println!(
            "reconcile time (start to end, incl. the /scale patch): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (budget: p99 ≤ 10 ms) → {}",
            percentile(&durations, 0.50).as_secs_f64() * 1e3,
            percentile(&durations, 0.99).as_secs_f64() * 1e3,
            durations.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            if percentile(&durations, 0.99) <= Duration::from_millis(10) { "meets" } else { "MISSES" },
        );
        let share = cpu.as_secs_f64() / PERIOD.as_secs_f64();
        println!(
            "CPU for one 15 s period: {:.2} s of CPU in {:.2} s of wall time = {:.1}% of one core (budget: ≤ 10%) → {}",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            share * 100.0,
            if share <= 0.10 { "meets" } else { "MISSES" },
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
