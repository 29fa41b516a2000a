//! Reconcile scenarios against the fake API server: each checks the exact calls the controller
//! makes and what it writes, bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{Context, ControllerConfig, reconcile};
use crate::policy::{ScalingPolicy, ScalingPolicySpec};
use test_support::kube_api::{FakeApi, FakeCluster};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: &str = "2026-01-01T00:10:00Z";
const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/checkout/scale";
const STATUS: &str = "/apis/sextant.io/v1alpha1/namespaces/shop/scalingpolicies/checkout/status";
const POD_METRIC: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/*/http_requests_per_second";

/// Builds ScalingPolicies for tests, starting from `checkout` in `shop`: Deployment/checkout,
/// 1–10 replicas, one Pods metric `http_requests_per_second` with an average target of 50.
struct PolicyBuilder(Value);

impl ScalingPolicy {
    fn test() -> PolicyBuilder {
        PolicyBuilder(json!({
            "apiVersion": "sextant.io/v1alpha1", "kind": "ScalingPolicy",
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "uid-1", "generation": 2, "resourceVersion": "5"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                "minReplicas": 1, "maxReplicas": 10,
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                                                       "target": {"type": "AverageValue", "averageValue": "50"}}}]
            }
        }))
    }
}

impl PolicyBuilder {
    fn spec(mut self, field: &str, value: Value) -> Self {
        self.0["spec"][field] = value;
        self
    }

    fn status(mut self, status: Value) -> Self {
        self.0["status"] = status;
        self
    }

    fn build(self) -> Result<Arc<ScalingPolicy>, serde_json::Error> {
        Ok(Arc::new(serde_json::from_value(self.0)?))
    }
}

fn scale(replicas: i64) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
           "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "7"},
           "spec": {"replicas": replicas}, "status": {"replicas": replicas, "selector": "app=checkout"}})
}

fn ready_pods(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"metadata": {"name": format!("checkout-{i}"), "namespace": "shop", "labels": {"app": "checkout"}},
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}))
        .collect()
}

fn pod_metric(values: &[&str]) -> Value {
    let items: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"describedObject": {"kind": "Pod", "namespace": "shop", "name": format!("checkout-{i}"), "apiVersion": "/v1"},
                            "metric": {"name": "http_requests_per_second", "selector": null},
                            "timestamp": NOW, "windowSeconds": 120, "value": v}))
        .collect();
    json!({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2", "metadata": {}, "items": items})
}

/// A fake cluster with Deployment/checkout at `replicas`, that many ready pods, and each pod's
/// request rate.
fn cluster(replicas: i64, rates: &[&str]) -> FakeApi {
    let fake = FakeApi::default();
    if let Ok(mut cluster) = fake.cluster.lock() {
        *cluster = FakeCluster::default();
        cluster
            .scales
            .insert(key("shop", "checkout"), scale(replicas));
        cluster
            .pods
            .insert("shop".to_owned(), ready_pods(replicas as usize));
        cluster
            .metrics
            .insert(POD_METRIC.to_owned(), pod_metric(rates));
    }
    fake
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

fn context(fake: &FakeApi, now: &str) -> Result<Arc<Context>, jiff::Error> {
    let now: Timestamp = now.parse()?;
    Ok(Arc::new(
        Context::new(fake.client(), None, ControllerConfig::default()).with_clock(move || now),
    ))
}

/// Reconciles `policy` once against `fake`, which learns the policy first.
async fn run_on(
    fake: &FakeApi,
    policy: Arc<ScalingPolicy>,
    ctx: Arc<Context>,
) -> Result<Action, Box<dyn std::error::Error>> {
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster
            .policies
            .insert(key("shop", "checkout"), serde_json::to_value(&*policy)?);
    }
    Ok(tokio::time::timeout(Duration::from_secs(10), reconcile(policy, ctx)).await??)
}

/// The calls of the reconcile itself, without the pod cache's cluster-wide list and watch.
fn reconcile_lines(fake: &FakeApi) -> Vec<String> {
    fake.lines()
        .into_iter()
        .filter(|line| !line.starts_with("GET /api/v1/pods?"))
        .collect()
}

/// The status the controller applied, and the condition of `kind` in it.
fn applied_status(fake: &FakeApi) -> Value {
    fake.body_of(&format!("PATCH {STATUS}"))
        .map(|body| body["status"].clone())
        .unwrap_or(Value::Null)
}

fn condition(status: &Value, kind: &str) -> (String, String) {
    let found = status["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .cloned()
        .unwrap_or_default();
    (
        found["status"].as_str().unwrap_or_default().to_owned(),
        found["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn scales_up_reads_then_writes_scale_and_status() -> TestResult {
    let fake = cluster(3, &["100", "100", "100"]);
    let action = run_on(&fake, ScalingPolicy::test().build()?, context(&fake, NOW)?).await?;
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(15)),
        "requeues after the default sync period"
    );
    assert_eq!(
        reconcile_lines(&fake),
        [
            format!("GET {SCALE}"),
            "GET /apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers?&resourceVersion=0&resourceVersionMatch=NotOlderThan".to_owned(),
            "GET /apis/sextant.io/v1alpha1/namespaces/shop/scalingpolicies?&resourceVersion=0&resourceVersionMatch=NotOlderThan".to_owned(),
            format!("GET {POD_METRIC}?labelSelector=app%3Dcheckout"),
            format!("PATCH {SCALE}?"),
            "POST /apis/events.k8s.io/v1/namespaces/shop/events?".to_owned(),
            format!("PATCH {STATUS}?&force=true&fieldManager=sextant-controller"),
        ]
    );
    // 100/50 doubles 3 pods to 6, within the default scale-up limit of max(3+4, 2×3).
    assert_eq!(
        fake.body_of(&format!("PATCH {SCALE}")),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 6}}))
    );
    let status = applied_status(&fake);
    assert_eq!(status["currentReplicas"], 3);
    assert_eq!(status["desiredReplicas"], 6);
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["target"], "Deployment/checkout");
    assert_eq!(
        status["decidingMetric"],
        "100/50 (http_requests_per_second)"
    );
    assert_eq!(
        status["recommendations"],
        json!([{"timestamp": NOW, "replicas": 6}])
    );
    assert_eq!(
        status["scaleEvents"],
        json!([{"timestamp": NOW, "replicaChange": 3}])
    );
    assert_eq!(status["lastScaleTime"], NOW);
    assert_eq!(status["currentMetrics"][0]["proposedReplicas"], 6);
    assert_eq!(
        condition(&status, "Ready"),
        ("True".into(), "Reconciled".into())
    );
    assert_eq!(
        condition(&status, "ScalingActive"),
        ("True".into(), "ValidMetricFound".into())
    );
    assert_eq!(
        condition(&status, "ScalingLimited"),
        ("False".into(), "DesiredWithinRange".into())
    );
    Ok(())
}

#[tokio::test]
async fn holds_within_tolerance_without_touching_scale() -> TestResult {
    let fake = cluster(3, &["52", "52", "52"]);
    run_on(&fake, ScalingPolicy::test().build()?, context(&fake, NOW)?).await?;
    assert!(
        !fake
            .lines()
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {SCALE}"))),
        "{:?}",
        fake.lines()
    );
    let status = applied_status(&fake);
    assert_eq!(status["desiredReplicas"], 3);
    assert_eq!(
        status["recommendations"],
        json!([{"timestamp": NOW, "replicas": 3}])
    );
    assert!(
        status.get("scaleEvents").is_none(),
        "no rescale, no scale event: {status}"
    );
    Ok(())
}

#[tokio::test]
async fn scales_down_only_after_the_stabilization_window() -> TestResult {
    // Demand halves: the metric proposes 2, but 3 was recommended 200 s ago.
    let history =
        json!({"recommendations": [{"timestamp": "2026-01-01T00:06:40Z", "replicas": 3}]});
    let fake = cluster(3, &["25", "25", "25"]);
    run_on(
        &fake,
        ScalingPolicy::test().status(history.clone()).build()?,
        context(&fake, NOW)?,
    )
    .await?;
    assert!(
        !fake
            .lines()
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {SCALE}"))),
        "held inside the window"
    );
    let status = applied_status(&fake);
    assert_eq!(status["desiredReplicas"], 3);
    assert_eq!(condition(&status, "ScalingActive").0, "True");

    // 301 s after that recommendation it has left the 300 s window: scale down to 2.
    let fake = cluster(3, &["25", "25", "25"]);
    run_on(
        &fake,
        ScalingPolicy::test().status(history).build()?,
        context(&fake, "2026-01-01T00:11:41Z")?,
    )
    .await?;
    assert_eq!(
        fake.body_of(&format!("PATCH {SCALE}")),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 2}}))
    );
    let status = applied_status(&fake);
    assert_eq!(
        status["scaleEvents"],
        json!([{"timestamp": "2026-01-01T00:11:41Z", "replicaChange": -1}])
    );
    assert_eq!(
        status["recommendations"],
        json!([{"timestamp": "2026-01-01T00:11:41Z", "replicas": 2}]),
        "history older than the longest window is dropped"
    );
    Ok(())
}

#[tokio::test]
async fn a_restart_keeps_stabilizing_from_the_history_in_status() -> TestResult {
    // A previous controller recommended 8 a minute ago; a fresh one must not drop below it.
    let history =
        json!({"recommendations": [{"timestamp": "2026-01-01T00:09:00Z", "replicas": 8}]});
    let fake = cluster(8, &["10", "10", "10", "10", "10", "10", "10", "10"]);
    run_on(
        &fake,
        ScalingPolicy::test().status(history).build()?,
        context(&fake, NOW)?,
    )
    .await?;
    assert!(
        !fake
            .lines()
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {SCALE}"))),
        "{:?}",
        fake.lines()
    );
    assert_eq!(applied_status(&fake)["desiredReplicas"], 8);
    Ok(())
}

/// A policy whose only metric is a raw query against a store that is down.
fn query_policy() -> PolicyBuilder {
    ScalingPolicy::test().spec(
        "metrics",
        json!([{"type": "External", "external": {"query": "sum(rate(jobs_total[2m]))", "target": {"type": "AverageValue", "averageValue": "30"}}}]),
    )
}

fn context_with_dead_store(fake: &FakeApi) -> Result<Arc<Context>, Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let store = metrics_store::HttpStore::new(metrics_store::StoreConfig::new(format!(
        "http://127.0.0.1:{port}"
    )))?;
    let mut registry = prometheus_client::registry::Registry::default();
    let store = metrics_store::Instrumented::new(
        store,
        metrics_store::StoreMetrics::register(&mut registry),
    );
    let now: Timestamp = NOW.parse()?;
    Ok(Arc::new(
        Context::new(fake.client(), Some(store), ControllerConfig::default())
            .with_clock(move || now),
    ))
}

#[tokio::test]
async fn a_dead_store_without_fallback_holds_the_current_count() -> TestResult {
    let fake = cluster(3, &[]);
    run_on(
        &fake,
        query_policy().build()?,
        context_with_dead_store(&fake)?,
    )
    .await?;
    assert!(
        !fake
            .lines()
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {SCALE}")))
    );
    let status = applied_status(&fake);
    assert_eq!(status["desiredReplicas"], 3);
    assert_eq!(status["consecutiveMetricFailures"], 1);
    assert_eq!(
        condition(&status, "ScalingActive"),
        ("False".into(), "FailedGetMetrics".into())
    );
    let error = status["currentMetrics"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("unavailable"),
        "the status says why: {error}"
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_store_past_the_failure_threshold_holds_the_fallback() -> TestResult {
    let fake = cluster(3, &[]);
    let policy = query_policy()
        .spec("fallback", json!({"failureThreshold": 3, "replicas": 6}))
        .status(json!({"consecutiveMetricFailures": 2}))
        .build()?;
    run_on(&fake, policy, context_with_dead_store(&fake)?).await?;
    assert_eq!(
        fake.body_of(&format!("PATCH {SCALE}")),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 6}}))
    );
    let status = applied_status(&fake);
    assert_eq!(status["consecutiveMetricFailures"], 3);
    assert_eq!(
        condition(&status, "ScalingActive"),
        ("False".into(), "FallbackActive".into())
    );
    Ok(())
}

#[tokio::test]
async fn an_hpa_on_the_same_target_is_a_conflict_and_nothing_scales() -> TestResult {
    let fake = cluster(3, &["100", "100", "100"]);
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.hpas.entry("shop".to_owned()).or_default().push(json!({"metadata": {"name": "checkout-hpa", "namespace": "shop"},
                                 "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}, "maxReplicas": 5}}));
    }
    run_on(&fake, ScalingPolicy::test().build()?, context(&fake, NOW)?).await?;
    assert!(
        !reconcile_lines(&fake)
            .iter()
            .any(|l| l.contains("custom.metrics") || l.starts_with(&format!("PATCH {SCALE}"))),
        "no metric is read and nothing is scaled: {:?}",
        reconcile_lines(&fake)
    );
    let status = applied_status(&fake);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "Conflict".into())
    );
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("HorizontalPodAutoscaler shop/checkout-hpa"),
        "names the other autoscaler: {message}"
    );
    Ok(())
}

#[tokio::test]
async fn another_policy_on_the_same_target_is_a_conflict() -> TestResult {
    let fake = cluster(3, &["100", "100", "100"]);
    let mut other = serde_json::to_value(&*ScalingPolicy::test().build()?)?;
    other["metadata"]["name"] = json!("checkout-too");
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.policies.insert(key("shop", "checkout-too"), other);
    }
    run_on(&fake, ScalingPolicy::test().build()?, context(&fake, NOW)?).await?;
    let status = applied_status(&fake);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "Conflict".into())
    );
    assert!(
        status["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ScalingPolicy shop/checkout-too")
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_target_is_a_condition_not_an_error() -> TestResult {
    let fake = cluster(3, &[]);
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.scales.clear();
    }
    let action = run_on(&fake, ScalingPolicy::test().build()?, context(&fake, NOW)?).await?;
    assert_eq!(action, Action::requeue(Duration::from_secs(15)));
    let status = applied_status(&fake);
    assert_eq!(
        condition(&status, "AbleToScale"),
        ("False".into(), "TargetNotFound".into())
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "TargetNotFound".into())
    );
    assert!(status.get("desiredReplicas").is_none());
    Ok(())
}

#[tokio::test]
async fn a_scale_changed_since_it_was_read_is_not_overwritten() -> TestResult {
    let fake = cluster(3, &["100", "100", "100"]);
    let policy = ScalingPolicy::test().build()?;
    let ctx = context(&fake, NOW)?;
    // Someone else updates the Deployment between our read and our write.
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.race_scale_after_metrics = true;
        cluster
            .policies
            .insert(key("shop", "checkout"), serde_json::to_value(&*policy)?);
    }
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        reconcile(policy.clone(), ctx.clone()),
    )
    .await?;
    assert!(
        result.is_err(),
        "a conflict is an error for the back-off, not a blind overwrite"
    );
    assert_eq!(
        fake.cluster
            .lock()
            .ok()
            .and_then(|c| c.scales.get(&key("shop", "checkout")).cloned())
            .map(|s| s["spec"]["replicas"].clone()),
        Some(json!(3))
    );
    let error = crate::Error::Metric("x".into());
    assert_eq!(
        super::error_policy(policy.clone(), &error, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        super::error_policy(policy.clone(), &error, ctx.clone()),
        Action::requeue(Duration::from_secs(10)),
        "the second failure in a row waits twice as long"
    );
    Ok(())
}

#[test]
fn the_test_builder_makes_a_valid_spec() -> TestResult {
    let policy = ScalingPolicy::test().build()?;
    let spec: &ScalingPolicySpec = &policy.spec;
    assert_eq!(spec.max_replicas, 10);
    Ok(())
}

/// Every printer column of the CRD, evaluated with its JSONPath against the object the
/// controller leaves behind after a scale-up: what `kubectl get scalingpolicies` prints.
#[tokio::test]
async fn printer_columns_show_a_reconciled_policy_at_a_glance() -> TestResult {
    use kube::CustomResourceExt;

    let fake = cluster(3, &["100", "100", "100"]);
    let mut policy = serde_json::to_value(&*ScalingPolicy::test().build()?)?;
    policy["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    run_on(
        &fake,
        Arc::new(serde_json::from_value(policy.clone())?),
        context(&fake, NOW)?,
    )
    .await?;
    policy["status"] = applied_status(&fake);

    let crd = ScalingPolicy::crd();
    let columns = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default();
    let mut printed = Vec::new();
    for column in &columns {
        // Kubernetes writes column paths without the leading `$`.
        let path = serde_json_path::JsonPath::parse(&format!("${}", column.json_path))?;
        let value = path.query(&policy).first().cloned().unwrap_or(Value::Null);
        printed.push((column.name.as_str(), value));
    }
    assert_eq!(
        printed,
        [
            ("Target", json!("Deployment/checkout")),
            ("Min", json!(1)),
            ("Max", json!(10)),
            ("Replicas", json!(3)),
            ("Desired", json!(6)),
            ("Metric", json!("100/50 (http_requests_per_second)")),
            ("Ready", json!("True")),
            ("Age", json!("2026-01-01T00:00:00Z")),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn object_and_external_metrics_are_read_from_their_apis() -> TestResult {
    let fake = cluster(3, &[]);
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.metrics.insert(
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/services/checkout/http_request_duration_p99_seconds".to_owned(),
            json!({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2", "metadata": {}, "items": [
                {"describedObject": {"kind": "Service", "namespace": "shop", "name": "checkout", "apiVersion": "/v1"},
                 "metric": {"name": "http_request_duration_p99_seconds", "selector": null}, "timestamp": NOW, "value": "500m"}]}),
        );
        cluster.metrics.insert(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth".to_owned(),
            json!({"kind": "ExternalMetricValueList", "apiVersion": "external.metrics.k8s.io/v1beta1", "metadata": {}, "items": [
                {"metricName": "queue_depth", "metricLabels": {"queue": "orders", "shard": "a"}, "timestamp": NOW, "value": "60"},
                {"metricName": "queue_depth", "metricLabels": {"queue": "orders", "shard": "b"}, "timestamp": NOW, "value": "30"}]}),
        );
    }
    let policy = ScalingPolicy::test()
        .spec(
            "metrics",
            json!([
                {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "checkout"},
                                              "metric": {"name": "http_request_duration_p99_seconds"},
                                              "target": {"type": "Value", "value": "250m"}}},
                {"type": "External", "external": {"metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "orders"}}},
                                                  "target": {"type": "AverageValue", "averageValue": "30"}}}
            ]),
        )
        .build()?;
    run_on(&fake, policy, context(&fake, NOW)?).await?;
    let lines = reconcile_lines(&fake);
    assert!(lines.contains(&"GET /apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/services/checkout/http_request_duration_p99_seconds".to_owned()), "{lines:?}");
    assert!(lines.contains(&"GET /apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector=queue%3Dorders".to_owned()), "{lines:?}");
    // Object/Value: 500m/250m × 3 ready pods = 6. External/AverageValue: (60+30)/(30 × 3) = 1, within tolerance: 3.
    assert_eq!(
        fake.body_of(&format!("PATCH {SCALE}")),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 6}}))
    );
    let status = applied_status(&fake);
    assert_eq!(status["currentMetrics"][0]["current"], "500m");
    assert_eq!(status["currentMetrics"][0]["proposedReplicas"], 6);
    assert_eq!(
        status["currentMetrics"][1]["current"], "90",
        "external values are summed over series, as the HPA does"
    );
    assert_eq!(status["currentMetrics"][1]["proposedReplicas"], 3);
    assert_eq!(
        status["decidingMetric"],
        "500m/250m (http_request_duration_p99_seconds)"
    );
    Ok(())
}

#[tokio::test]
async fn a_raw_query_reaches_the_store_confined_to_the_policy_namespace() -> TestResult {
    use test_support::fault::{Behaviour, FaultyStore};

    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767225600,"90"]}]}}"#;
    let store_server = FaultyStore::start(Behaviour::Answer {
        status: 200,
        body: answer.to_owned(),
    })
    .await?;
    let store = metrics_store::HttpStore::new(metrics_store::StoreConfig::new(store_server.url()))?;
    let mut registry = prometheus_client::registry::Registry::default();
    let store = metrics_store::Instrumented::new(
        store,
        metrics_store::StoreMetrics::register(&mut registry),
    );
    let fake = cluster(3, &[]);
    let now: Timestamp = NOW.parse()?;
    let ctx = Arc::new(
        Context::new(fake.client(), Some(store), ControllerConfig::default())
            .with_clock(move || now),
    );
    run_on(&fake, query_policy().build()?, ctx).await?;

    let sent = store_server.requests();
    assert_eq!(sent.len(), 1);
    let query: String = form_urlencoded::parse(sent[0].body.as_bytes())
        .find(|(key, _)| key == "query")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    assert_eq!(
        query, r#"sum(rate(jobs_total{namespace="shop"}[2m]))"#,
        "the store only ever sees the confined query"
    );
    // 90 / (30 × 3) = 1: within tolerance, hold 3.
    assert_eq!(applied_status(&fake)["currentMetrics"][0]["current"], "90");
    Ok(())
}

/// A policy on a custom resource `example.com/v1 Widget checkout`, resolved by discovery.
fn widget_cluster(with_scale_subresource: bool) -> FakeApi {
    let fake = cluster(3, &["100", "100", "100"]);
    let mut resources = vec![
        json!({"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["get", "list", "patch"]}),
    ];
    if with_scale_subresource {
        resources.push(json!({"name": "widgets/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
    }
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.discovery.insert(
            "example.com/v1".to_owned(),
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1", "resources": resources}),
        );
    }
    fake
}

fn widget_policy() -> PolicyBuilder {
    ScalingPolicy::test().spec(
        "scaleTargetRef",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "name": "checkout"}),
    )
}

#[tokio::test]
async fn a_custom_resource_with_a_scale_subresource_is_found_by_discovery_and_scaled() -> TestResult
{
    let fake = widget_cluster(true);
    run_on(&fake, widget_policy().build()?, context(&fake, NOW)?).await?;
    let lines = reconcile_lines(&fake);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("GET /apis/example.com/v1"),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"GET /apis/example.com/v1/namespaces/shop/widgets/checkout/scale".to_owned()
        ),
        "{lines:?}"
    );
    assert_eq!(
        fake.body_of("PATCH /apis/example.com/v1/namespaces/shop/widgets/checkout/scale"),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 6}}))
    );
    assert_eq!(applied_status(&fake)["target"], "Widget/checkout");
    Ok(())
}

#[tokio::test]
async fn a_custom_resource_without_a_scale_subresource_is_a_condition() -> TestResult {
    let fake = widget_cluster(false);
    run_on(&fake, widget_policy().build()?, context(&fake, NOW)?).await?;
    let status = applied_status(&fake);
    assert_eq!(
        condition(&status, "AbleToScale"),
        ("False".into(), "TargetNotFound".into())
    );
    let message = status["conditions"][1]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("widgets has no scale subresource"),
        "{message}"
    );
    assert!(
        !reconcile_lines(&fake).iter().any(|l| l.contains("/scale")),
        "nothing reads or writes a scale"
    );
    Ok(())
}

/// The whole controller (watch, reconcile, leader election) against the fake API server: it
/// reconciles the policy it watches, and on shutdown finishes and releases its Lease.
#[tokio::test]
async fn shutdown_finishes_the_work_and_releases_the_lease() -> TestResult {
    use crate::controller::leader::{Election, LeaderElector};

    let fake = cluster(3, &["100", "100", "100"]);
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.policies.insert(
            key("shop", "checkout"),
            serde_json::to_value(&*ScalingPolicy::test().build()?)?,
        );
    }
    let ctx = context(&fake, NOW)?;
    let elector = LeaderElector::new(fake.client(), "sextant", "pod-a");
    assert_eq!(
        elector.try_acquire_or_renew(NOW.parse()?).await?,
        Election::Leading
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let lead = super::lead(ctx, &elector, async move {
        let _ = stopped.await;
    });
    let watcher = fake.clone();
    let stopper = async move {
        // Stop once the policy has been reconciled (its status applied).
        while !watcher
            .lines()
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {STATUS}")))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = stop.send(());
    };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(lead, stopper)
    })
    .await?;
    result?;
    assert_eq!(
        fake.body_of(&format!("PATCH {SCALE}")),
        Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 6}}))
    );
    let lease = fake
        .cluster
        .lock()
        .ok()
        .and_then(|c| c.leases.get(&key("sextant", "sextant-controller")).cloned())
        .unwrap_or_default();
    assert!(
        lease["spec"].get("holderIdentity").is_none(),
        "released on shutdown: {lease}"
    );
    Ok(())
}
