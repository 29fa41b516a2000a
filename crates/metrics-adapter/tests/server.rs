//! The adapter's router on loopback answering from real stores: Prometheus (backfilled with
//! samples from the last five minutes, so "now" sees them) and VictoriaMetrics (imported).

mod common;

use std::time::Duration;

use common::{
    Adapter, TestResult, V1, V2, bounded, close, recent_counter, recent_series, relisted, values,
};
use std::sync::Arc;

use metrics_adapter::objects::ObjectIndex;
use metrics_adapter::provider::{ALTERNATION_LIMIT, Provider};
use metrics_adapter::registry::MISS_REFRESH_INTERVAL;
use metrics_store::{HttpStore, StoreConfig};
use serde_json::Value;
use serde_json::json;
use test_support::kube_api::FakeApi;
use test_support::{PrometheusServer, VictoriaMetricsServer, or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_discovery_and_values_from_prometheus() -> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
        let registry = relisted(&store).await?;
        let adapter = Adapter::start(registry, store, Duration::from_secs(10)).await?;
        check_serving(&adapter).await
    })
    .await
}

/// The adapter answers a plainly written custom-metrics value path without its router
/// (`dispatch`); each answer, errors included, is the router's, but for the evaluation time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straight_answers_are_the_routers() -> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let store = || HttpStore::new(StoreConfig::new(prometheus.url()));
        let timeout = Duration::from_secs(10);
        let straight = Adapter::start(relisted(&store()?).await?, store()?, timeout).await?;
        let routed =
            Adapter::start_router_only(relisted(&store()?).await?, store()?, timeout).await?;
        // Evaluation times differ between two requests; nothing else may.
        fn without_times(mut body: Value) -> Value {
            if let Some(items) = body["items"].as_array_mut() {
                for item in items {
                    item["timestamp"] = Value::Null;
                }
            }
            body
        }
        for path in [
            format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second"),
            format!("{V1}/namespaces/ns1/pods/*/http_requests_per_second"),
            format!("{V2}/namespaces/ns1/pods/a/http_requests_per_second"),
            format!(
                "{V2}/namespaces/ns1/pods/*/http_requests_per_second?metricLabelSelector=x%3Dy"
            ),
            format!("{V2}/namespaces/ns1/metrics/http_requests_per_second"),
            format!("{V2}/namespaces/ns1/pods/nobody/http_requests_per_second"),
            format!("{V2}/namespaces/ns1/pods/*/no_such_metric"),
            format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second?labelSelector=a+in+("),
            format!("{V2}/namespaces/ns1/nodes/n1/http_requests_per_second"),
            format!("{V2}/namespaces/ns1/pods//http_requests_per_second"),
            format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second/"),
            format!("{V2}/namespaces/ns1/pods/%61/http_requests_per_second"),
            "/apis/custom.metrics.k8s.io/v9/namespaces/ns1/pods/*/http_requests_per_second"
                .to_owned(),
        ] {
            let (status, body) = straight.get(&path).await?;
            let (routed_status, routed_body) = routed.get(&path).await?;
            assert_eq!(
                status, routed_status,
                "{path}: {body} against {routed_body}"
            );
            assert_eq!(without_times(body), without_times(routed_body), "{path}");
        }
        Ok(())
    })
    .await
}

/// A VictoriaMetrics holding [`recent_series`] and a store client for it; `None` (the test
/// skips) when the package is not installed outside CI.
async fn victoria_with_recent_series()
-> Result<Option<(VictoriaMetricsServer, HttpStore)>, Box<dyn std::error::Error>> {
    let Some(victoria) = or_skip(VictoriaMetricsServer::start().await)? else {
        return Ok(None);
    };
    victoria.import(&recent_series()?).await?;
    let store = HttpStore::new(StoreConfig::new(victoria.url()))?;
    Ok(Some((victoria, store)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_discovery_and_values_from_victoria_metrics() -> TestResult {
    bounded(async {
        let Some((_victoria, store)) = victoria_with_recent_series().await? else {
            return Ok(());
        };
        let registry = relisted(&store).await?;
        let adapter = Adapter::start(registry, store, Duration::from_secs(10)).await?;
        check_serving(&adapter).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_metric_is_served_on_its_first_request() -> TestResult {
    bounded(async {
        let Some((victoria, store)) = victoria_with_recent_series().await? else {
            return Ok(());
        };
        let registry = relisted(&store).await?;
        let adapter = Adapter::start(registry, store, Duration::from_secs(10)).await?;
        let path = format!("{V2}/namespaces/ns1/pods/a/orders_per_second");
        adapter.status(&path, 404).await?;

        victoria
            .import(&[recent_counter(
                "orders_total",
                &[("namespace", "ns1"), ("pod", "a")],
                2.0,
            )?])
            .await?;
        // A metric never asked for before is found on its first request: a lookup targeted at
        // its series, with no wait.
        victoria
            .import(&[recent_counter(
                "payments_total",
                &[("namespace", "ns1"), ("pod", "b")],
                4.0,
            )?])
            .await?;
        let (status, body) = adapter
            .get(&format!("{V2}/namespaces/ns1/pods/b/payments_per_second"))
            .await?;
        assert_eq!(status, 200, "first request after the first sample: {body}");
        assert!(close(values(&body)[0].2, 4.0), "{body}");
        // A resource named without its group, as `kubectl get --raw` users write it, is the
        // group that serves the metric (deployments.apps), as kube-apiserver resolves it.
        victoria
            .import(&[recent_counter(
                "checkouts_total",
                &[("namespace", "ns1"), ("deployment", "web")],
                6.0,
            )?])
            .await?;
        let (status, body) = adapter
            .get(&format!(
                "{V2}/namespaces/ns1/deployments/web/checkouts_per_second"
            ))
            .await?;
        assert_eq!(status, 200, "{body}");
        assert!(close(values(&body)[0].2, 6.0), "{body}");
        assert_eq!(
            body["items"][0]["describedObject"]["kind"], "Deployment",
            "{body}"
        );
        // The metric missed above was looked up just now; the next lookup of the same name
        // waits out the rate limit.
        tokio::time::sleep(MISS_REFRESH_INTERVAL).await;
        let (status, body) = adapter.get(&path).await?;
        assert_eq!(status, 200, "{body}");
        let found = values(&body);
        assert!(found.len() == 1 && close(found[0].2, 2.0), "{found:?}");
        let (_, list) = adapter.get(V2).await?;
        assert!(
            list.to_string().contains("pods/orders_per_second"),
            "{list}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selectors_are_resolved_from_the_watched_pods() -> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let fake = FakeApi::default();
        if let Ok(mut cluster) = fake.cluster.lock() {
            let pod = |name: &str, app: &str| {
                json!({"metadata": {"name": name, "namespace": "ns1", "labels": {"app": app}}})
            };
            cluster.pods.insert(
                "ns1".to_owned(),
                vec![pod("a", "web"), pod("b", "batch"), pod("idle", "web")],
            );
            // Same name and labels in another namespace: must never be picked for ns1.
            cluster.pods.insert(
                "ns2".to_owned(),
                vec![json!({"metadata": {"name": "c", "namespace": "ns2", "labels": {"app": "web"}}})],
            );
        }
        let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
        let registry = relisted(&store).await?;
        let objects = ObjectIndex::new(fake.client());
        // Both ways of asking: the selected pods named (few), and the whole namespace kept
        // down to the selected (limit 0, as for more than ALTERNATION_LIMIT pods).
        for limit in [ALTERNATION_LIMIT, 0] {
            let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
            let provider = Provider::new(Arc::clone(&registry), Arc::new(store))
                .with_objects(objects.clone())
                .with_alternation_limit(limit);
            let adapter = Adapter::start_provider(provider, Duration::from_secs(10)).await?;
            check_label_selectors(&adapter).await?;
        }
        // The pods were listed once, by the watch, not per request.
        let lists = fake
            .lines()
            .iter()
            .filter(|line| line.starts_with("GET /api/v1/pods") && !line.contains("watch=true"))
            .count();
        assert_eq!(lists, 1, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_metric_appears_in_discovery_between_relists_without_a_request() -> TestResult {
    bounded(async {
        let Some((victoria, store)) = victoria_with_recent_series().await? else {
            return Ok(());
        };
        let registry = relisted(&store).await?;
        let deadline = Duration::from_secs(10);
        assert_eq!(
            registry.discover_new(&store, deadline).await?,
            0,
            "nothing new yet"
        );

        victoria
            .import(&[
                recent_counter("refunds_total", &[("namespace", "ns2"), ("pod", "c")], 1.0)?,
                // A histogram part: no default selector matches it, so it is not even new.
                recent_counter("latency_bucket", &[("namespace", "ns2"), ("pod", "c")], 1.0)?,
            ])
            .await?;
        assert_eq!(registry.discover_new(&store, deadline).await?, 1);
        let pods = metrics_model::association::GroupResource::new("pods", "");
        let catalog = registry.catalog();
        assert!(catalog.custom(&pods, "refunds_per_second").is_some());
        assert!(catalog.custom(&pods, "latency_bucket").is_none());
        assert!(
            catalog.custom(&pods, "http_requests_per_second").is_some(),
            "what was known stays"
        );
        assert_eq!(
            registry.discover_new(&store, deadline).await?,
            0,
            "a name looked up is remembered"
        );
        let adapter = Adapter::start(registry, store, deadline).await?;
        let (_, list) = adapter.get(V2).await?;
        assert!(
            list.to_string().contains("pods/refunds_per_second"),
            "{list}"
        );
        Ok(())
    })
    .await
}

/// `labelSelector` answers over ns1's pods a (web, 3/s), b (batch, 1.5/s) and idle (web, no
/// series), with c (web) in ns2.
async fn check_label_selectors(adapter: &Adapter) -> TestResult {
    let path = format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second");

    let (status, web) = adapter
        .get(&format!("{path}?labelSelector=app%3Dweb"))
        .await?;
    assert_eq!(status, 200, "{web}");
    let found = values(&web);
    assert_eq!(
        found.len(),
        1,
        "a (web) has a value, idle (web) has none: {web}"
    );
    assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("a", "ns1"));
    assert!(close(found[0].2, 3.0), "{found:?}");

    let (status, not_web) = adapter
        .get(&format!("{path}?labelSelector=app%21%3Dweb"))
        .await?;
    assert_eq!(status, 200, "{not_web}");
    assert_eq!(
        values(&not_web)
            .iter()
            .map(|v| v.0.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );

    let (status, nobody) = adapter
        .get(&format!("{path}?labelSelector=app%3Dnone"))
        .await?;
    assert_eq!((status, values(&nobody).len()), (200, 0), "{nobody}");

    let message = adapter
        .status(&format!("{path}?labelSelector=app%20in%20(web"), 400)
        .await?;
    assert!(message.starts_with("invalid labelSelector"), "{message}");

    Ok(())
}

/// Every successful and refused request against an adapter serving [`recent_series`].
async fn check_serving(adapter: &Adapter) -> TestResult {
    {
        // Discovery.
        let (status, groups) = adapter.get("/apis").await?;
        assert_eq!(status, 200, "{groups}");
        assert_eq!(groups["kind"], "APIGroupList");
        assert_eq!(
            groups["groups"].as_array().map(Vec::len),
            Some(2),
            "{groups}"
        );
        let (_, group) = adapter.get("/apis/custom.metrics.k8s.io").await?;
        assert_eq!(group["preferredVersion"]["version"], "v1beta2", "{group}");
        for version in [V2, V1] {
            let (status, list) = adapter.get(version).await?;
            assert_eq!(status, 200, "{list}");
            let names = common::resource_names(&list);
            assert!(
                names.contains(&"pods/http_requests_per_second"),
                "{names:?}"
            );
            assert!(
                names.contains(&"namespaces/http_requests_per_second"),
                "{names:?}"
            );
            assert!(!names.iter().any(|n| n.starts_with("jobs")), "{names:?}");
        }
        let (_, external) = adapter.get("/apis/external.metrics.k8s.io/v1beta1").await?;
        assert_eq!(
            external["resources"][0]["name"], "queue_messages_ready",
            "{external}"
        );

        // Every pod of ns1, and only those.
        let path = format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second");
        let (status, list) = adapter.get(&path).await?;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["kind"], "MetricValueList");
        let found = values(&list);
        assert_eq!(found.len(), 2, "{list}");
        assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("a", "ns1"));
        assert!(close(found[0].2, 3.0), "{found:?}");
        assert_eq!((found[1].0.as_str(), found[1].1.as_str()), ("b", "ns1"));
        assert!(close(found[1].2, 1.5), "{found:?}");
        let item = &list["items"][0];
        assert_eq!(item["windowSeconds"], 120, "the rule's [2m]: {item}");
        assert_eq!(item["describedObject"]["kind"], "Pod");
        assert_eq!(item["describedObject"]["apiVersion"], "/v1");
        assert_eq!(item["metric"]["name"], "http_requests_per_second");
        assert!(
            item["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{item}"
        );

        // v1beta1 shape.
        let (status, old) = adapter
            .get(&format!(
                "{V1}/namespaces/ns1/pods/*/http_requests_per_second"
            ))
            .await?;
        assert_eq!(status, 200, "{old}");
        assert_eq!(old["apiVersion"], "custom.metrics.k8s.io/v1beta1");
        assert_eq!(
            old["items"][0]["metricName"], "http_requests_per_second",
            "{old}"
        );
        assert!(old["items"][0]["selector"].is_null(), "{old}");
        assert!(
            old["items"][0]
                .as_object()
                .is_some_and(|o| o.contains_key("selector")),
            "{old}"
        );

        // One named pod, in another namespace.
        let (status, one) = adapter
            .get(&format!(
                "{V2}/namespaces/ns2/pods/c/http_requests_per_second"
            ))
            .await?;
        assert_eq!(status, 200, "{one}");
        let found = values(&one);
        assert_eq!(found.len(), 1, "{one}");
        assert!(close(found[0].2, 5.0), "{found:?}");

        // A metric label selector that matches, one that does not, one that does not parse.
        let (status, selected) = adapter
            .get(&format!("{path}?metricLabelSelector=job%3Dweb"))
            .await?;
        assert_eq!((status, values(&selected).len()), (200, 2), "{selected}");
        assert_eq!(
            selected["items"][0]["metric"]["selector"]["matchLabels"]["job"],
            "web"
        );
        let (status, none) = adapter
            .get(&format!("{path}?metricLabelSelector=job%3Dbatch"))
            .await?;
        assert_eq!((status, values(&none).len()), (200, 0), "{none}");
        let message = adapter
            .status(&format!("{path}?metricLabelSelector=job%20in%20(web"), 400)
            .await?;
        assert!(message.contains("metricLabelSelector"), "{message}");

        // Without a label cache, labelSelector is refused (503), not silently ignored.
        let message = adapter
            .status(&format!("{path}?labelSelector=app%3Dweb"), 503)
            .await?;
        assert!(message.contains("Kubernetes connection"), "{message}");

        // Not found: unknown metric, unknown pod, unknown path.
        let message = adapter
            .status(
                &format!("{V2}/namespaces/ns1/pods/*/http_requests_per_minute"),
                404,
            )
            .await?;
        assert!(message.contains("http_requests_per_minute"), "{message}");
        assert!(
            message.contains("http_requests_per_second"),
            "lists known: {message}"
        );
        let message = adapter
            .status(
                &format!("{V2}/namespaces/ns1/pods/zz/http_requests_per_second"),
                404,
            )
            .await?;
        assert!(
            message.contains("\"zz\"") && message.contains("ns1"),
            "{message}"
        );
        adapter
            .status(&format!("{V2}/pods/*/http_requests_per_second"), 404)
            .await?;
        // A resource no rule associates with the metric (none serves widgets).
        let message = adapter
            .status(
                &format!("{V2}/namespaces/ns1/widgets/*/http_requests_per_second"),
                404,
            )
            .await?;
        assert!(message.contains("widgets"), "{message}");
        // A path that is not UTF-8 once decoded: a 400 `Status`, as every error is.
        let message = adapter
            .status(
                &format!("{V2}/namespaces/ns1/pods/%FF/http_requests_per_second"),
                400,
            )
            .await?;
        assert!(message.contains("malformed request path"), "{message}");
        adapter
            .status("/apis/custom.metrics.k8s.io/v1/nothing", 404)
            .await?;
        adapter.status("/api/v1/pods", 404).await?;

        // The namespace's own metric, root-scoped.
        let (status, ns) = adapter
            .get(&format!(
                "{V2}/namespaces/ns1/metrics/http_requests_per_second"
            ))
            .await?;
        assert_eq!(status, 200, "{ns}");
        assert!(close(values(&ns)[0].2, 4.5), "{ns}");

        // External metrics, namespaced.
        let (status, queue) = adapter
            .get("/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/queue_messages_ready")
            .await?;
        assert_eq!(status, 200, "{queue}");
        assert_eq!(queue["kind"], "ExternalMetricValueList");
        assert_eq!(
            queue["items"][0]["metricLabels"]["queue"], "orders",
            "{queue}"
        );
        assert_eq!(queue["items"][0]["value"], "42", "{queue}");
        let (_, other) = adapter
            .get("/apis/external.metrics.k8s.io/v1beta1/namespaces/ns2/queue_messages_ready")
            .await?;
        assert_eq!(other["items"].as_array().map(Vec::len), Some(0), "{other}");

        // Probes and OpenAPI.
        for probe in ["/healthz", "/livez", "/readyz"] {
            assert_eq!(adapter.get(probe).await?.0, 200, "{probe}");
        }
        assert_eq!(adapter.get("/openapi/v2").await?.1["swagger"], "2.0");
        assert_eq!(adapter.get("/openapi/v3").await?.0, 200);

        // Only GET.
        let response = adapter
            .client
            .post(format!("{}{path}", adapter.url))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 405);
        let body: Value = serde_json::from_str(&response.text().await?)?;
        assert_eq!(body["code"], 405);

        // Never a redirect (the client follows none): a trailing slash or a doubled one is
        // not "fixed" with a 3xx, it is a path the adapter does not serve.
        for odd in [
            "/apis/".to_owned(),
            format!("{V2}/"),
            format!("{path}/"),
            "/apis//custom.metrics.k8s.io/v1beta2".to_owned(),
            "/healthz/".to_owned(),
        ] {
            adapter.status(&odd, 404).await?;
        }
    }
    Ok(())
}
