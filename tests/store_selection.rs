//! A selector and metric built with metrics-model, sent to a real store loaded with 100
//! namespaces × 100 pods, select exactly the series the selector names; label values full of
//! PromQL metacharacters match literally and nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_model::Selector;
use metrics_model::promql::{
    Aggregation, Expr, LabelMatcher, LabelName, MetricName, RangeFunction, VectorSelector,
    selector_matchers,
};
use test_support::{
    PrometheusServer, Sample, Series, VictoriaMetricsServer, instant_query, or_skip,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// 2026-01-01T00:00:00Z: a fixed time, so the data and the answers never depend on the clock.
const T0_MILLIS: i64 = 1_767_225_600_000;
const NAMESPACES: usize = 100;
const PODS: usize = 100;
/// A value no selector string could carry, full of what PromQL strings and regexes treat
/// specially.
const WEIRD: &str = "a\"b\\c}d|e.*f\u{FFFD}";
/// Series that a wrongly escaped query would also select.
const DECOYS: [&str; 5] = [
    "a\"b\\c}d|eXXf\u{FFFD}",
    "e.*f",
    "a",
    "a\"b\\c}d|e.*f\u{FFFD} ",
    r"a\",
];

fn pod_labels(namespace: usize, pod: usize) -> Vec<(String, String)> {
    let mut labels = vec![
        ("namespace".to_owned(), format!("ns-{namespace:03}")),
        ("pod".to_owned(), format!("pod-{pod:03}")),
        (
            "app".to_owned(),
            ["web", "api", "worker"][pod % 3].to_owned(),
        ),
    ];
    if !pod.is_multiple_of(4) {
        labels.push((
            "tier".to_owned(),
            ["front", "cache", "back"][pod % 3].to_owned(),
        ));
    }
    labels
}

fn dataset() -> Vec<Series> {
    let mut series = Vec::with_capacity(NAMESPACES * PODS + DECOYS.len() + 1);
    for namespace in 0..NAMESPACES {
        for pod in 0..PODS {
            let labels = pod_labels(namespace, pod);
            let mut s = Series::new("http_requests_total", &[]);
            s.labels = labels;
            series.push(
                s.sample(T0_MILLIS - 60_000, 0.0)
                    .sample(T0_MILLIS, pod as f64),
            );
        }
    }
    // Metric names the PromQL lexer reads as a keyword and as a number.
    for keyword in ["bool", "NaN"] {
        series.push(
            Series::new(keyword, &[("namespace", "ns-007"), ("pod", "keyword")])
                .sample(T0_MILLIS, 7.0),
        );
    }
    for (index, path) in std::iter::once(WEIRD).chain(DECOYS).enumerate() {
        let pod = format!("weird-{index}");
        let s = Series::new(
            "http_requests_total",
            &[("namespace", "ns-007"), ("pod", &pod), ("path", path)],
        );
        series.push(s.sample(T0_MILLIS, 1.0));
    }
    series
}

fn name(label: &str) -> Result<LabelName, metrics_model::Error> {
    LabelName::new(label)
}

/// `sum by (namespace, pod) (last_over_time(http_requests_total{…}[2m]))`
fn per_pod_query(matchers: Vec<LabelMatcher>) -> Result<String, metrics_model::Error> {
    let series = VectorSelector::metric(MetricName::new("http_requests_total")?).with_all(matchers);
    let query = Expr::range(
        RangeFunction::LastOverTime,
        series,
        Duration::from_secs(120),
    )
    .aggregate(Aggregation::Sum, [name("namespace")?, name("pod")?]);
    Ok(query.to_string())
}

fn pods_of(samples: &[Sample]) -> Vec<(String, String)> {
    samples
        .iter()
        .map(|(labels, _)| {
            (
                labels.get("namespace").cloned().unwrap_or_default(),
                labels.get("pod").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// The pods a selector selects, computed by `Selector::matches` on the generated labels.
fn expected_pods(selector: &Selector, namespace: Option<usize>) -> Vec<(String, String)> {
    let mut pods = Vec::new();
    for ns in (0..NAMESPACES).filter(|ns| namespace.is_none_or(|n| n == *ns)) {
        for pod in 0..PODS {
            let labels: BTreeMap<String, String> = pod_labels(ns, pod).into_iter().collect();
            if selector.matches(&labels) {
                pods.push((format!("ns-{ns:03}"), format!("pod-{pod:03}")));
            }
        }
    }
    pods.sort();
    pods
}

async fn check_store(url: &str) -> TestResult {
    // Evaluate a little after the last sample, as live queries do: VictoriaMetrics leaves out a
    // sample stamped exactly at the evaluation time, Prometheus includes it.
    let at = (T0_MILLIS + 15_000) as f64 / 1000.0;

    // One namespace, a set-based selector with an absent-label case (`tier!=cache` also
    // selects pods without a tier label).
    let selector = Selector::parse("app in (web,api),tier!=cache")?;
    let mut matchers = vec![LabelMatcher::equal(name("namespace")?, "ns-042")];
    matchers.extend(selector_matchers(&selector)?);
    let answer = instant_query(url, &per_pod_query(matchers)?, at).await?;
    let expected = expected_pods(&selector, Some(42));
    assert!(
        expected.len() > 30,
        "the selector should pick a good share of the pods"
    );
    assert_eq!(pods_of(&answer), expected);
    for (labels, value) in &answer {
        let pod: f64 = labels["pod"].trim_start_matches("pod-").parse()?;
        assert_eq!(*value, pod, "value of {labels:?}");
    }

    // Across every namespace: existence tests.
    let selector = Selector::parse("app=worker,!tier")?;
    let answer = instant_query(url, &per_pod_query(selector_matchers(&selector)?)?, at).await?;
    let expected = expected_pods(&selector, None);
    assert_eq!(
        expected.len(),
        NAMESPACES * 8,
        "pods 8, 20, …, 92 are workers without a tier: 8 per namespace"
    );
    assert_eq!(pods_of(&answer), expected);

    // Metacharacters match literally, as an exact value and inside an escaped alternation.
    let path = name("path")?;
    for matcher in [
        LabelMatcher::equal(path.clone(), WEIRD),
        LabelMatcher::one_of(path.clone(), &[WEIRD, "no-such-path"]),
    ] {
        let answer = instant_query(url, &per_pod_query(vec![matcher.clone()])?, at).await?;
        assert_eq!(
            pods_of(&answer),
            vec![("ns-007".to_owned(), "weird-0".to_owned())],
            "{matcher:?}"
        );
    }
    for keyword in ["bool", "NaN"] {
        let series = VectorSelector::metric(MetricName::new(keyword)?)
            .with(LabelMatcher::equal(name("namespace")?, "ns-007"));
        let answer = instant_query(url, &Expr::Vector(series).to_string(), at).await?;
        assert_eq!(answer.len(), 1, "metric {keyword}: {answer:?}");
        assert_eq!(
            answer[0].0.get("__name__").map(String::as_str),
            Some(keyword)
        );
        assert_eq!(answer[0].1, 7.0);
    }
    let excluded = LabelMatcher::none_of(path.clone(), &[WEIRD, "a"]);
    let answer = instant_query(
        url,
        &per_pod_query(vec![LabelMatcher::not_equal(path, ""), excluded])?,
        at,
    )
    .await?;
    let expected: Vec<(String, String)> = [1, 2, 4, 5]
        .iter()
        .map(|i| ("ns-007".to_owned(), format!("weird-{i}")))
        .collect();
    assert_eq!(
        pods_of(&answer),
        expected,
        "every decoy but `a` stays, the exact value goes"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_with_exactly_the_selected_series() -> TestResult {
    let Some(prometheus) = or_skip(PrometheusServer::with_series(dataset()).await)? else {
        return Ok(());
    };
    tokio::time::timeout(Duration::from_secs(120), check_store(prometheus.url())).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_answers_with_exactly_the_selected_series() -> TestResult {
    let Some(victoria) = or_skip(VictoriaMetricsServer::start().await)? else {
        return Ok(());
    };
    victoria.import(&dataset()).await?;
    tokio::time::timeout(Duration::from_secs(120), check_store(victoria.url())).await?
}
