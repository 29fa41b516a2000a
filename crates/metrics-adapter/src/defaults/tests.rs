#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet};

use metrics_model::Selector;
use metrics_model::association::GroupResource;
use metrics_model::promql::MetricName;

use super::*;
use crate::config::StoreType;
use crate::querying::{ObjectQuery, Objects};

fn series(name: &str, labels: &[&str]) -> BTreeMap<String, String> {
    let mut set: BTreeMap<String, String> = labels
        .iter()
        .map(|l| ((*l).to_owned(), "x".to_owned()))
        .collect();
    set.insert("__name__".to_owned(), name.to_owned());
    set
}

fn resources(list: &[&str]) -> BTreeSet<GroupResource> {
    list.iter()
        .map(|r| GroupResource::parse(r).unwrap())
        .collect()
}

#[test]
fn serves_counters_per_second_and_gauges_as_themselves() -> Result<()> {
    let config = default_config(DEFAULT_WINDOW)?;
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let [counters, gauges, by_metadata] = config.rules() else {
        panic!("three default rules")
    };
    // Counters without `_total` are told from gauges by the store's metadata.
    assert_eq!(gauges.store_type(), StoreType::NotCounter);
    assert_eq!(by_metadata.store_type(), StoreType::Counter);
    assert_eq!(counters.store_type(), StoreType::Any);
    assert_eq!(
        by_metadata.naming().api_name("jobs_processed").as_deref(),
        Some("jobs_processed_per_second")
    );
    assert!(
        !by_metadata.accepts("http_requests_total"),
        "left to the suffix rule"
    );
    assert!(StoreType::Counter.admits(Some("counter")));
    assert!(!StoreType::Counter.admits(None) && !StoreType::Counter.admits(Some("gauge")));
    assert!(StoreType::NotCounter.admits(None) && !StoreType::NotCounter.admits(Some("counter")));
    let target = ["namespace", "pod", "job", "instance"];
    // (series, labels, served by the counter rule as, by the gauge rule as, for resources)
    let cases: &[(&str, &[&str], Option<&str>, Option<&str>, &[&str])] = &[
        (
            "http_requests_total",
            &target,
            Some("http_requests_per_second"),
            None,
            &["namespaces", "pods"],
        ),
        (
            "queue_depth",
            &target,
            None,
            Some("queue_depth"),
            &["namespaces", "pods"],
        ),
        (
            "grpc_server_handled_total",
            &["namespace", "service", "grpc_code"],
            Some("grpc_server_handled_per_second"),
            None,
            &["namespaces", "services"],
        ),
        (
            "jobs_running",
            &["namespace", "job", "deployment"],
            None,
            Some("jobs_running"),
            &["namespaces", "deployments.apps"],
        ),
        (
            "http_request_duration_seconds_bucket",
            &target,
            None,
            None,
            &[],
        ),
        (
            "http_request_duration_seconds_count",
            &target,
            None,
            None,
            &[],
        ),
        (
            "http_request_duration_seconds_sum",
            &target,
            None,
            None,
            &[],
        ),
        ("build_info", &target, None, None, &[]),
    ];
    for (name, labels, as_counter, as_gauge, expected) in cases {
        let set = series(name, labels);
        let counter = counters.discover(&set);
        let gauge = gauges.discover(&set);
        assert_eq!(
            counter.as_ref().map(|d| d.metric.as_str()),
            *as_counter,
            "{name}"
        );
        assert_eq!(
            gauge.as_ref().map(|d| d.metric.as_str()),
            *as_gauge,
            "{name}"
        );
        if let Some(found) = counter.or(gauge) {
            assert_eq!(found.resources, resources(expected), "{name}");
            assert!(found.namespaced, "{name}");
        }
    }
    Ok(())
}

#[test]
fn queries_over_the_configured_window() -> Result<()> {
    let pods = GroupResource::parse("pods").unwrap();
    let everything = Selector::everything();
    let names = ["web-1".to_owned(), "web-2".to_owned()];
    let request = |series| ObjectQuery {
        series,
        resource: &pods,
        namespace: Some("shop"),
        objects: Objects::Named(&names),
        metric_selector: &everything,
    };
    let counter = MetricName::new("http_requests_total").unwrap();
    let gauge = MetricName::new("queue_depth").unwrap();
    let cases: &[(Duration, &str)] = &[
        (DEFAULT_WINDOW, "2m"),
        (Duration::from_secs(30), "30s"),
        (Duration::from_secs(90), "1m30s"),
    ];
    for (window, text) in cases {
        let config = default_config(*window)?;
        assert_eq!(
            config.rules()[0].object_query(&request(&counter))?,
            format!(
                r#"sum(rate(http_requests_total{{namespace="shop",pod=~"web-1|web-2"}}[{text}])) by (pod)"#
            )
        );
        assert_eq!(
            config.rules()[1].object_query(&request(&gauge))?,
            r#"sum(queue_depth{namespace="shop",pod=~"web-1|web-2"}) by (pod)"#
        );
    }
    let message = default_config(Duration::ZERO)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "default rules: rate window: must be longer than zero"
    );
    Ok(())
}

#[test]
fn default_series_queries_need_only_a_namespace() -> Result<()> {
    let spec = default_spec(DEFAULT_WINDOW)?;
    let rules = spec.rules.unwrap_or_default();
    for rule in &rules {
        promql_parser::parser::parse(&rule.series_query).map_err(|reason| Error::Invalid {
            at: rule.series_query.clone(),
            reason,
        })?;
        assert!(
            rule.series_query.contains(r#"namespace!="""#),
            "{}",
            rule.series_query
        );
        for never in ["pod", "job", "instance"] {
            assert!(
                !rule.series_query.contains(&format!("{never}!=")),
                "{}",
                rule.series_query
            );
        }
    }
    Ok(())
}
