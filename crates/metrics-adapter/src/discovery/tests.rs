#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use super::*;
use crate::Config;
use crate::config::GroupResourceSpec;

const SAMPLE: &str = include_str!("../../testdata/prometheus-adapter.yaml");

fn series(name: &str, labels: &[&str]) -> BTreeMap<String, String> {
    let mut set: BTreeMap<String, String> = labels
        .iter()
        .map(|l| ((*l).to_owned(), "x".to_owned()))
        .collect();
    set.insert(METRIC_NAME_LABEL.to_owned(), name.to_owned());
    set
}

fn gr(text: &str) -> GroupResource {
    GroupResource::parse(text).unwrap()
}

fn resources(list: &[&str]) -> BTreeSet<GroupResource> {
    list.iter().map(|r| gr(r)).collect()
}

#[test]
fn applies_the_sample_rules_to_the_series_their_queries_return() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let cadvisor = ["namespace", "pod", "container", "node", "job", "instance"];
    // (rule, series name, labels, expected (API metric, resources, namespaced))
    let cases: Vec<(&Rule, &str, Vec<&str>, Option<(&str, Vec<&str>, bool)>)> = vec![
        (
            &config.rules()[0],
            "container_cpu_usage_seconds_total",
            cadvisor.to_vec(),
            Some(("cpu_usage", vec!["namespaces", "pods"], true)),
        ),
        (
            &config.rules()[1],
            "container_cpu_usage_seconds_total",
            cadvisor.to_vec(),
            None,
        ),
        (
            &config.rules()[2],
            "container_cpu_usage_seconds_total",
            cadvisor.to_vec(),
            None,
        ),
        (
            &config.rules()[1],
            "container_network_receive_bytes_total",
            vec!["namespace", "pod", "interface"],
            Some(("network_receive_bytes", vec!["namespaces", "pods"], true)),
        ),
        (
            &config.rules()[2],
            "container_memory_working_set_bytes",
            cadvisor.to_vec(),
            Some(("memory_working_set_bytes", vec!["namespaces", "pods"], true)),
        ),
        (
            &config.rules()[3],
            "queue_depth",
            vec!["namespace", "pod", "deployment"],
            Some((
                "queue_depth",
                vec!["namespaces", "pods", "deployments.apps"],
                true,
            )),
        ),
        (
            &config.rules()[3],
            "http_requests_total",
            vec!["namespace", "pod"],
            None,
        ),
        (
            &config.rules()[4],
            "http_requests_total",
            vec!["namespace", "service"],
            Some((
                "http_requests_per_second",
                vec!["namespaces", "services"],
                true,
            )),
        ),
        (
            &config.rules()[4],
            "process_cpu_seconds_total",
            vec!["namespace", "pod"],
            None,
        ),
        (
            &config.rules()[5],
            "process_cpu_seconds_total",
            vec!["namespace", "pod"],
            Some(("process_cpu", vec!["namespaces", "pods"], true)),
        ),
        (
            &config.rules()[6],
            "kube_deployment_status_replicas",
            vec![
                "exported_namespace",
                "deployment",
                "namespace",
                "job",
                "kube_apps_statefulset",
            ],
            Some((
                "deployment_status_replicas",
                vec!["namespaces", "deployments.apps", "statefulsets.apps"],
                true,
            )),
        ),
        (
            &config.rules()[7],
            "http_request_duration_seconds_bucket",
            vec!["namespace", "service", "le"],
            Some((
                "http_request_duration_p99_seconds",
                vec!["namespaces", "services"],
                true,
            )),
        ),
        (
            &config.rules()[7],
            "http_request_duration_seconds_count",
            vec!["namespace"],
            None,
        ),
        (
            &config.external_rules()[0],
            "queue_messages_enqueued_total",
            vec!["queue"],
            Some(("queue_messages_enqueued_per_second", vec![], false)),
        ),
        (
            &config.external_rules()[1],
            "jobs_pending",
            vec!["exported_namespace"],
            Some(("jobs_pending", vec!["namespaces"], true)),
        ),
    ];
    for (rule, name, labels, expected) in cases {
        let found = rule.discover(&series(name, &labels));
        let expected = expected.map(|(metric, list, namespaced)| Discovered {
            metric: metric.to_owned(),
            series: MetricName::new(name).unwrap(),
            resources: resources(&list),
            namespaced,
        });
        assert_eq!(found, expected, "{} on {name}{labels:?}", rule.location());
    }
    Ok(())
}

#[test]
fn a_series_without_a_valid_name_is_not_served() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let rule = &config.rules()[3];
    assert_eq!(rule.discover(&BTreeMap::new()), None);
    assert_eq!(rule.discover(&series("not a metric", &["namespace"])), None);
    Ok(())
}

#[test]
fn merges_the_label_sets_of_one_series_name() -> Result<()> {
    let config = crate::defaults::default_config(crate::defaults::DEFAULT_WINDOW)?;
    let rule = &config.rules()[0];
    let answer = [
        series("http_requests_total", &["namespace", "pod", "code"]),
        series("http_requests_total", &["namespace", "service", "code"]),
        series("grpc_calls_total", &["namespace", "pod"]),
        series("queue_depth", &["namespace", "pod"]),
    ];
    let found = rule.discover_all(&answer);
    let metrics: Vec<(&str, BTreeSet<GroupResource>)> = found
        .iter()
        .map(|d| (d.metric.as_str(), d.resources.clone()))
        .collect();
    assert_eq!(
        metrics,
        [
            ("grpc_calls_per_second", resources(&["namespaces", "pods"])),
            (
                "http_requests_per_second",
                resources(&["namespaces", "pods", "services"])
            ),
        ]
    );
    Ok(())
}

#[test]
fn filters_search_series_names() -> Result<()> {
    let cases: &[(Option<&str>, Option<&str>, &str, bool)] = &[
        (Some("_total$"), None, "http_requests_total", true),
        (Some("_total$"), None, "http_requests", false),
        (None, Some("^container_"), "container_cpu", false),
        (None, Some("^container_"), "http_requests_total", true),
        (Some("requests"), None, "http_requests_total", true),
        (Some("requests"), Some(""), "http_requests_total", true),
    ];
    for (is, is_not, name, expected) in cases {
        let spec = FilterSpec {
            is: is.map(str::to_owned),
            is_not: is_not.map(str::to_owned),
        };
        assert_eq!(
            SeriesFilter::new(&spec, "f")?.accepts(name),
            *expected,
            "{spec:?} {name}"
        );
    }
    Ok(())
}

fn overrides(pairs: &[(&str, &str, &str)]) -> ResourcesSpec {
    ResourcesSpec {
        overrides: Some(
            pairs
                .iter()
                .map(|(label, group, resource)| {
                    let spec = GroupResourceSpec {
                        group: (*group).to_owned(),
                        resource: (*resource).to_owned(),
                    };
                    ((*label).to_owned(), spec)
                })
                .collect(),
        ),
        ..ResourcesSpec::default()
    }
}

fn template(text: &str) -> ResourcesSpec {
    ResourcesSpec {
        template: Some(text.to_owned()),
        ..ResourcesSpec::default()
    }
}

#[test]
fn associates_labels_and_resources_both_ways() -> Result<()> {
    let well_known = Association::well_known();
    let pod_name = Association::from_spec(&overrides(&[("pod_name", "", "pod")]), "r")?;
    let plain = Association::from_spec(&template("<<.Resource>>"), "r")?;
    let kube = Association::from_spec(&template("kube_<<.Group>>_<<.Resource>>"), "r")?;
    // (association, label, the resource it names)
    let by_label: &[(&Association, &str, Option<&str>)] = &[
        (&well_known, "pod", Some("pods")),
        (&well_known, "namespace", Some("namespaces")),
        (&well_known, "service", Some("services")),
        (&well_known, "deployment", Some("deployments.apps")),
        (&well_known, "job", None),
        (&well_known, "instance", None),
        (&well_known, "__name__", None),
        (&pod_name, "pod_name", Some("pods")),
        (&pod_name, "pod", None),
        (&pod_name, "namespace", None),
        (&plain, "deployment", Some("deployments.apps")),
        (&plain, "pod", Some("pods")),
        (&plain, "job", Some("jobs.batch")),
        (&kube, "kube_apps_deployment", Some("deployments.apps")),
        (&kube, "kube__pod", Some("pods")),
        (&kube, "pod", None),
    ];
    for (association, label, expected) in by_label {
        assert_eq!(
            association.resource_for(label),
            expected.map(gr),
            "{label} in {association:?}"
        );
    }
    let by_resource: &[(&Association, &str, Option<&str>)] = &[
        (&well_known, "pods", Some("pod")),
        (&well_known, "jobs.batch", None),
        (&pod_name, "pods", Some("pod_name")),
        (&pod_name, "services", None),
        (&pod_name, "namespaces", Some("namespace")),
        (&plain, "deployments.apps", Some("deployment")),
        (&kube, "deployments.apps", Some("kube_apps_deployment")),
        (&kube, "namespaces", Some("kube__namespace")),
    ];
    for (association, resource, expected) in by_resource {
        assert_eq!(
            association
                .label_for(&gr(resource))
                .as_ref()
                .map(LabelName::as_str),
            *expected,
            "{resource} in {association:?}"
        );
    }
    Ok(())
}

#[test]
fn normalizes_resources_as_the_api_names_them() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("pod", "", Some("pods")),
        ("pods", "", Some("pods")),
        ("namespace", "", Some("namespaces")),
        ("deployment", "", Some("deployments.apps")),
        ("deployments", "apps", Some("deployments.apps")),
        ("ingress", "", Some("ingresses.networking.k8s.io")),
        ("widget", "example.com", Some("widgets.example.com")),
        ("policy", "x.io", Some("policies.x.io")),
        ("gateways", "x.io", Some("gateways.x.io")),
        ("box", "x.io", Some("boxes.x.io")),
        ("Pods", "", None),
        ("", "", None),
    ];
    for (resource, group, expected) in cases {
        assert_eq!(
            normalize_resource(resource, group).ok(),
            expected.map(gr),
            "{resource:?} in {group:?}"
        );
    }
}

#[test]
fn classifies_counters_by_metadata_then_by_name() {
    let cases: &[(&str, Option<&str>, MetricKind)] = &[
        ("http_requests_total", None, MetricKind::Counter),
        ("http_requests_total", Some("unknown"), MetricKind::Counter),
        ("queue_depth", None, MetricKind::Gauge),
        ("legacy_requests", Some("counter"), MetricKind::Counter),
        ("odd_total", Some("gauge"), MetricKind::Gauge),
        ("latency_seconds", Some("histogram"), MetricKind::Other),
    ];
    for (name, metadata, expected) in cases {
        assert_eq!(
            MetricKind::classify(name, *metadata),
            *expected,
            "{name} {metadata:?}"
        );
    }
}
