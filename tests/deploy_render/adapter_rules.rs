//! The adapter's rules: the ConfigMap loads as the adapter's configuration and serves what the
//! built-in defaults serve for pods, plus the example external metric; and the e2e Prometheus
//! gives the series the labels those rules need.

use std::collections::BTreeMap;

use metrics_adapter::config::ConfigSpec;
use metrics_adapter::querying::{ExternalQuery, ObjectQuery, Objects};
use metrics_adapter::{Config, defaults};
use metrics_model::Selector;
use metrics_model::association::GroupResource;
use serde_json::Value;

use crate::TestResult;
use crate::adapter::{RULES, base, text};
use crate::render::{Object, parse, read_repo_file};

#[test]
fn the_rules_configmap_loads_and_serves_the_default_metrics() -> TestResult {
    let Some(objects) = base()? else {
        return Ok(());
    };
    let yaml = objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == RULES => c.data.as_ref()?.get("config.yaml"),
            _ => None,
        })
        .ok_or("no config.yaml in the rules ConfigMap")?;
    let config = Config::from_yaml(yaml).map_err(|e| format!("the adapter rejects it: {e}"))?;
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());

    let series = |name: &str, labels: &[(&str, &str)]| -> BTreeMap<String, String> {
        std::iter::once(("__name__", name))
            .chain(labels.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let pod_labels = [("namespace", "shop"), ("pod", "web-1"), ("job", "pods")];
    let served = |labels: &BTreeMap<String, String>| -> Vec<String> {
        config
            .rules()
            .iter()
            .filter_map(|rule| rule.discover(labels))
            .filter(|found| found.resources.contains(&GroupResource::new("pods", "")))
            .map(|found| found.metric)
            .collect()
    };
    assert_eq!(
        served(&series("http_requests_total", &pod_labels)),
        ["http_requests_per_second"]
    );
    assert_eq!(
        served(&series("queue_length", &pod_labels)),
        ["queue_length"]
    );
    for not_a_gauge in ["http_request_duration_seconds_bucket", "build_info"] {
        assert!(
            served(&series(not_a_gauge, &pod_labels)).is_empty(),
            "{not_a_gauge}"
        );
    }
    assert!(
        served(&series("http_requests_total", &[("namespace", "shop")])).is_empty(),
        "pod metrics need the pod label"
    );

    // The counter rule asks what the built-in default asks (a rate over the default window).
    let rule = config
        .rules()
        .iter()
        .find(|r| {
            r.discover(&series("http_requests_total", &pod_labels))
                .is_some()
        })
        .ok_or("no rule serves http_requests_total")?;
    let found = rule
        .discover(&series("http_requests_total", &pod_labels))
        .ok_or("not discovered")?;
    let query = rule.object_query(&ObjectQuery {
        series: &found.series,
        resource: &GroupResource::new("pods", ""),
        namespace: Some("shop"),
        objects: Objects::All,
        metric_selector: &Selector::everything(),
    })?;
    assert_eq!(
        query,
        r#"sum(rate(http_requests_total{namespace="shop"}[2m])) by (pod)"#
    );
    let ours: ConfigSpec = yaml_serde::from_str(yaml)?;
    let default = defaults::default_spec(defaults::DEFAULT_WINDOW)?;
    let counters = |spec: &ConfigSpec| {
        spec.rules
            .iter()
            .flatten()
            .find(|r| r.name.replacement.contains("_per_second"))
            .map(|r| r.metrics_query.clone())
    };
    assert_eq!(
        counters(&ours),
        counters(&default),
        "the default counter query"
    );

    // The example external rule: confined to the request's namespace, picked by label.
    let [external] = config.external_rules() else {
        return Err("one example external rule expected".into());
    };
    let labels = series(
        "rabbitmq_queue_messages_ready",
        &[("namespace", "shop"), ("queue", "orders")],
    );
    let found = external
        .discover(&labels)
        .ok_or("the example series is not served")?;
    assert_eq!(found.metric, "queue_messages_ready");
    let query = external.external_query(&ExternalQuery {
        series: &found.series,
        namespace: Some("shop"),
        selector: &Selector::parse("queue=orders")?,
    })?;
    assert!(
        query.contains(r#"namespace="shop""#) && query.contains(r#"queue="orders""#),
        "{query}"
    );
    Ok(())
}

#[test]
fn the_e2e_prometheus_serves_the_adapter_url_with_pod_labels() -> TestResult {
    let objects = parse(&read_repo_file("tests/e2e/prometheus.yaml")?)?;
    let service = objects
        .iter()
        .find_map(|o| match o {
            Object::Service(s) if o.name() == "prometheus" => Some(s),
            _ => None,
        })
        .ok_or("no Service prometheus")?;
    assert_eq!(service.metadata.namespace.as_deref(), Some("monitoring"));
    assert!(
        service
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .any(|p| p.port == 9090),
        "prometheus.monitoring.svc:9090, the adapter's --prometheus-url"
    );
    let config = objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(c) => c.data.as_ref()?.get("prometheus.yml"),
            _ => None,
        })
        .ok_or("no prometheus.yml")?;
    let config: Value = yaml_serde::from_str(config)?;
    let relabel = config
        .pointer("/scrape_configs/0/relabel_configs")
        .and_then(Value::as_array)
        .ok_or("no relabel_configs")?;
    for label in ["namespace", "pod"] {
        assert!(
            relabel
                .iter()
                .any(|r| text(r, "/target_label") == Some(label)),
            "the adapter's rules need the {label} label"
        );
    }
    Ok(())
}
