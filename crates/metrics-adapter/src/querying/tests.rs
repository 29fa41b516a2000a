#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::BTreeMap;

use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::{self, Expr as Parsed};
use regex::Regex;

use super::*;
use crate::Config;

const SAMPLE: &str = include_str!("../../testdata/prometheus-adapter.yaml");

fn metric(name: &str) -> MetricName {
    MetricName::new(name).unwrap()
}

fn label(name: &str) -> LabelName {
    LabelName::new(name).unwrap()
}

fn gr(text: &str) -> GroupResource {
    GroupResource::parse(text).unwrap()
}

fn selector(text: &str) -> Selector {
    Selector::parse(text).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn renders_the_supported_actions() -> Result<()> {
    let matchers = [
        LabelMatcher::equal(label("namespace"), "shop"),
        LabelMatcher::one_of(label("pod"), &["a", "b"]),
    ];
    let args = TemplateArgs {
        series: &metric("http_requests_total"),
        matchers: &matchers,
        group_by: &[label("pod"), label("namespace")],
    };
    let cases: &[(&str, &str)] = &[
        (
            "<<.Series>>{<<.LabelMatchers>>}",
            r#"http_requests_total{namespace="shop",pod=~"a|b"}"#,
        ),
        (
            "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
            r#"sum(rate(http_requests_total{namespace="shop",pod=~"a|b"}[2m])) by (pod,namespace)"#,
        ),
        ("<<.GroupBySlice>>", "[pod namespace]"),
        ("by (<< .GroupBy >>)", "by (pod,namespace)"),
        ("by ( <<- .GroupBy ->> )", "by (pod,namespace)"),
        ("x >> y", "x >> y"),
    ];
    for (template, expected) in cases {
        let rendered = QueryTemplate::parse(template, "t")?.render(&args);
        assert_eq!(rendered, *expected, "{template}");
    }
    let one = TemplateArgs {
        group_by: &[label("pod")],
        ..args
    };
    let none = TemplateArgs {
        group_by: &[],
        ..args
    };
    let slice = QueryTemplate::parse("<<.GroupBySlice>>", "t")?;
    assert_eq!(
        slice.render(&one),
        "[pod]",
        "Go prints a one-element slice so"
    );
    assert_eq!(slice.render(&none), "[]");
    Ok(())
}

#[test]
fn rejects_everything_else_at_load_time() {
    let cases: &[(&str, &str)] = &[
        ("", "t: must not be empty"),
        (
            "sum(<<.Series",
            "t: action opened at byte 4 is never closed",
        ),
        (
            "<<.LabelValuesByName>>",
            "LabelValuesByName is not supported",
        ),
        (
            "<<if .Series>>x<<end>>",
            "control structures are not supported",
        ),
        (
            "<<range .GroupBySlice>><<.>><<end>>",
            "control structures are not supported",
        ),
        ("<<.Series | html>>", "pipelines are not supported"),
        ("<</* note */>>", "comments are not supported"),
        ("<<index .LabelValuesByName \"pod\">>", "unknown action"),
        ("<<.series>>", "unknown action"),
        ("<<.Namespace>>", "unknown action"),
        ("<<>>", "unknown action"),
    ];
    for (template, expected) in cases {
        match QueryTemplate::parse(template, "t") {
            Ok(parsed) => panic!("{template:?} accepted as {parsed:?}"),
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains(expected), "{template:?} => {message}");
            }
        }
    }
}

#[test]
fn builds_custom_metric_queries_like_upstream_but_literal() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let everything = Selector::everything();
    let code = selector("code=500");
    let web = names(&["web-1"]);
    let shop = names(&["shop"]);
    let two = names(&["web-1", "web.2"]);
    let (pods, deployments, namespaces) = (gr("pods"), gr("deployments.apps"), gr("namespaces"));
    let services = gr("services");
    // (rule, series, resource, namespace, objects, metric selector, expected query)
    let cases: Vec<(
        usize,
        &str,
        &GroupResource,
        Option<&str>,
        Objects,
        &Selector,
        &str,
    )> = vec![
        (
            4,
            "http_requests_total",
            &pods,
            Some("shop"),
            Objects::Named(&web),
            &everything,
            r#"sum(rate(http_requests_total{namespace="shop",pod="web-1"}[2m])) by (pod)"#,
        ),
        (
            4,
            "http_requests_total",
            &pods,
            Some("shop"),
            Objects::Named(&two),
            &code,
            r#"sum(rate(http_requests_total{namespace="shop",pod=~"web-1|web\\.2",code="500"}[2m])) by (pod)"#,
        ),
        (
            4,
            "http_requests_total",
            &pods,
            Some("shop"),
            Objects::All,
            &everything,
            r#"sum(rate(http_requests_total{namespace="shop"}[2m])) by (pod)"#,
        ),
        (
            4,
            "http_requests_total",
            &namespaces,
            None,
            Objects::Named(&shop),
            &everything,
            r#"sum(rate(http_requests_total{namespace="shop"}[2m])) by (namespace)"#,
        ),
        (
            0,
            "container_cpu_usage_seconds_total",
            &pods,
            Some("shop"),
            Objects::Named(&web),
            &everything,
            r#"sum(rate(container_cpu_usage_seconds_total{namespace="shop",pod="web-1",container!="POD"}[5m])) by (pod)"#,
        ),
        (
            6,
            "kube_deployment_status_replicas",
            &deployments,
            Some("shop"),
            Objects::Named(&web),
            &everything,
            r#"max(kube_deployment_status_replicas{exported_namespace="shop",deployment="web-1"}) by (deployment)"#,
        ),
        (
            7,
            "http_request_duration_seconds_bucket",
            &services,
            Some("shop"),
            Objects::Named(&web),
            &everything,
            "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{namespace=\"shop\",service=\"web-1\"}[5m])))\n",
        ),
        (
            4,
            "http_requests_total",
            &pods,
            Some("shop"),
            Objects::Named(&[]),
            &everything,
            r#"sum(rate(http_requests_total{namespace="shop",pod=~"[^\\x00-\\x{10FFFF}]"}[2m])) by (pod)"#,
        ),
    ];
    for (rule, series, resource, namespace, objects, selector, expected) in cases {
        let query = config.rules()[rule].object_query(&ObjectQuery {
            series: &metric(series),
            resource,
            namespace,
            objects,
            metric_selector: selector,
        })?;
        assert_eq!(query, expected, "rules[{rule}] for {resource}");
        parser::parse(&query).map_err(|e| Error::Invalid {
            at: query.clone(),
            reason: e,
        })?;
    }
    Ok(())
}

#[test]
fn builds_external_metric_queries() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let orders = selector("queue in (orders,refunds)");
    let everything = Selector::everything();
    let cases: &[(usize, &str, Option<&str>, &Selector, &str)] = &[
        (
            0,
            "queue_messages_enqueued_total",
            Some("shop"),
            &orders,
            r#"sum(rate(queue_messages_enqueued_total{queue=~"orders|refunds"}[2m])) by (queue)"#,
        ),
        (
            1,
            "jobs_pending",
            Some("shop"),
            &everything,
            r#"sum(jobs_pending{exported_namespace="shop"})"#,
        ),
        (1, "jobs_pending", None, &everything, "sum(jobs_pending{})"),
    ];
    for (rule, series, namespace, selector, expected) in cases {
        let query = config.external_rules()[*rule].external_query(&ExternalQuery {
            series: &metric(series),
            namespace: *namespace,
            selector,
        })?;
        assert_eq!(query, *expected, "externalRules[{rule}]");
    }
    Ok(())
}

#[test]
fn refuses_what_cannot_be_expressed_safely() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let query = |rule: usize, resource: &str, selector: &str| -> Result<String, String> {
        let selector = Selector::parse(selector).map_err(|e| e.to_string())?;
        config.rules()[rule]
            .object_query(&ObjectQuery {
                series: &metric("x"),
                resource: &gr(resource),
                namespace: Some("shop"),
                objects: Objects::All,
                metric_selector: &selector,
            })
            .map_err(|e| e.to_string())
    };
    let cases: &[(usize, &str, &str, &str)] = &[
        (
            0,
            "services",
            "",
            "rule rules[0] does not associate resource services with a series label",
        ),
        (
            4,
            "pods",
            "app.kubernetes.io/name=web",
            "metricLabelSelector: invalid Prometheus label name",
        ),
    ];
    for (rule, resource, selector, expected) in cases {
        match query(*rule, resource, selector) {
            Ok(q) => panic!("accepted: {q}"),
            Err(message) => assert!(message.starts_with(expected), "{message}"),
        }
    }
    Ok(())
}

/// Every vector selector's matchers in a parsed query, by label.
fn matchers(expr: &Parsed, found: &mut BTreeMap<String, Vec<(String, bool)>>) {
    match expr {
        Parsed::VectorSelector(vs) => {
            for m in &vs.matchers.matchers {
                let regex = matches!(m.op, ParsedOp::Re(_));
                found
                    .entry(m.name.clone())
                    .or_default()
                    .push((m.value.clone(), regex));
            }
        }
        Parsed::MatrixSelector(ms) => matchers(&Parsed::VectorSelector(ms.vs.clone()), found),
        Parsed::Aggregate(a) => matchers(&a.expr, found),
        Parsed::Call(c) => c.args.args.iter().for_each(|arg| matchers(arg, found)),
        Parsed::Paren(p) => matchers(&p.expr, found),
        other => panic!("unexpected node {other:?}"),
    }
}

#[test]
fn hostile_names_stay_literal() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    let rule = &config.rules()[4];
    let hostile = [
        r#"a"}"#,
        r"back\slash",
        r#"x"}) or vector(1) #"#,
        "a|b",
        ".*",
        "new\nline",
        r#"\"}"#,
        "(?i)WEB",
        "ü$^[]{}+?",
    ];
    let mut cases: Vec<Vec<&str>> = hostile.iter().map(|name| vec![*name]).collect();
    cases.push(hostile.to_vec());
    for objects in cases {
        let wanted = names(&objects);
        let query = rule.object_query(&ObjectQuery {
            series: &metric("http_requests_total"),
            resource: &gr("pods"),
            namespace: Some(r#"shop"} or up{a=""#),
            objects: Objects::Named(&wanted),
            metric_selector: &Selector::everything(),
        })?;
        let parsed = parser::parse(&query).map_err(|e| Error::Invalid {
            at: query.clone(),
            reason: e,
        })?;
        assert!(
            matches!(parsed, Parsed::Aggregate(_)),
            "structure changed: {query}"
        );
        let mut found = BTreeMap::new();
        matchers(&parsed, &mut found);
        assert_eq!(found.len(), 2, "{query}: {found:?}");
        assert_eq!(
            found["namespace"],
            [(r#"shop"} or up{a=""#.to_owned(), false)]
        );
        let [(value, regex)] = found["pod"].as_slice() else {
            panic!("{found:?}")
        };
        if let [single] = objects.as_slice() {
            assert_eq!((value.as_str(), *regex), (*single, false), "{query}");
        } else {
            assert!(regex, "{query}");
            let anchored = Regex::new(&format!("^(?:{value})$")).unwrap();
            for name in &objects {
                assert!(anchored.is_match(name), "{name:?} not matched by {value}");
            }
            for other in ["", "a", "ab", "WEB", "web", "x", "anything", "a\"}b"] {
                assert!(!anchored.is_match(other), "{other:?} matched by {value}");
            }
        }
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn any_object_names_stay_literal(
        first in r#"[a-z0-9\\"{}|.*()\[\]^$+?,=~! \n-]{0,10}"#,
        second in r#"[a-z0-9\\"{}|.*()\[\]^$+?,=~! \n-]{0,10}"#,
    ) {
        let config = Config::from_yaml(SAMPLE).unwrap();
        for wanted in [vec![first.clone()], vec![first.clone(), second.clone()]] {
            let query = config.rules()[4]
                .object_query(&ObjectQuery {
                    series: &metric("http_requests_total"),
                    resource: &gr("pods"),
                    namespace: Some(&second),
                    objects: Objects::Named(&wanted),
                    metric_selector: &Selector::everything(),
                })
                .unwrap();
            let parsed = parser::parse(&query).unwrap();
            let mut found = BTreeMap::new();
            matchers(&parsed, &mut found);
            proptest::prop_assert_eq!(&found["namespace"], &vec![(second.clone(), false)]);
            let [(value, regex)] = found["pod"].as_slice() else { panic!("{found:?}") };
            if wanted.len() == 1 {
                proptest::prop_assert_eq!((value, *regex), (&first, false));
            } else {
                let anchored = Regex::new(&format!("^(?:{value})$")).unwrap();
                proptest::prop_assert!(anchored.is_match(&first) && anchored.is_match(&second));
                let other = format!("{first}{second}x");
                proptest::prop_assert!(!anchored.is_match(&other), "{} matched {}", other, value);
            }
        }
    }
}

#[test]
fn root_scoped_objects_are_matched_without_a_namespace() -> Result<()> {
    let config = Config::from_yaml(
        "rules:\n- seriesQuery: 'node_load1'\n  resources: {overrides: {instance: {resource: node}}}\n  \
         metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
    )?;
    let (nodes, one) = (gr("nodes"), names(&["n1"]));
    for (objects, expected) in [
        (
            Objects::Named(&one),
            r#"max(node_load1{instance="n1"}) by (instance)"#,
        ),
        // Every node: no matcher at all (`{}` after a metric name is valid PromQL).
        (Objects::All, "max(node_load1{}) by (instance)"),
    ] {
        let query = config.rules()[0].object_query(&ObjectQuery {
            series: &metric("node_load1"),
            resource: &nodes,
            namespace: None,
            objects,
            metric_selector: &Selector::everything(),
        })?;
        assert_eq!(query, expected);
        parser::parse(&query).map_err(|e| Error::Invalid {
            at: query.clone(),
            reason: e,
        })?;
    }
    Ok(())
}
