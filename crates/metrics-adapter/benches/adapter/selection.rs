//! Query size against the number of selected pods: `labelSelector` resolved from the watch-fed
//! label cache, the store asked per namespace grouped by pod, the selected pods kept.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use metrics_adapter::RuleKind;
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::objects::ObjectIndex;
use metrics_adapter::provider::{CustomRequest, Provider};
use metrics_adapter::querying::{ObjectQuery, Objects};
use metrics_adapter::registry::Registry;
use metrics_model::Selector;
use metrics_model::association::GroupResource;
use metrics_model::promql::MetricName;
use metrics_store::{HttpStore, Labels, MetricsStore, RangeSeries, Sample, StoreConfig, TimeRange};
use serde_json::json;
use test_support::kube_api::FakeApi;
use test_support::{PrometheusServer, Series};

use crate::{BenchResult, QUERY_TIMEOUT, Report, ms, now_millis, percentile};

/// The namespace holding every pod.
const NAMESPACE: &str = "big";
/// Pods in it, all with a request counter.
const PODS: usize = 5_000;
/// Requests timed per selection size.
const REQUESTS: usize = 50;
/// `(labelSelector, pods it selects)`.
const SELECTIONS: [(&str, usize); 5] = [
    ("first5=yes", 5),
    ("first10=yes", 10),
    ("first100=yes", 100),
    ("first1000=yes", 1_000),
    ("app=web", 5_000),
];

/// The real store, recording the text of every instant query it is sent.
struct Recording {
    inner: HttpStore,
    queries: Mutex<Vec<String>>,
}

impl MetricsStore for Recording {
    fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<Labels>>> + Send {
        self.inner.series(matchers, range, deadline)
    }

    fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<Sample>>> + Send {
        if let Ok(mut queries) = self.queries.lock() {
            queries.push(query.to_owned());
        }
        self.inner.instant_query(query, at, deadline)
    }

    fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<RangeSeries>>> + Send {
        self.inner.range_query(query, range, step, deadline)
    }
}

fn pod_name(index: usize) -> String {
    format!("web-{index}")
}

/// Every pod's counter, a sample every 15 s over the last five minutes.
fn counters(now: i64) -> Vec<Series> {
    (0..PODS)
        .map(|index| {
            let pod = pod_name(index);
            let labels = [("namespace", NAMESPACE), ("pod", pod.as_str())];
            (0..=20).fold(Series::new("http_requests_total", &labels), |s, i| {
                s.sample(now - 300_000 + i * 15_000, 15.0 * i as f64)
            })
        })
        .collect()
}

/// The pods as the API server lists them, labelled so each selector picks a prefix of them.
fn pods() -> Vec<serde_json::Value> {
    (0..PODS)
        .map(|index| {
            let mut labels = json!({"app": "web"});
            for (label, below) in [
                ("first5", 5),
                ("first10", 10),
                ("first100", 100),
                ("first1000", 1_000),
            ] {
                if index < below {
                    labels[label] = json!("yes");
                }
            }
            json!({"metadata": {"name": pod_name(index), "namespace": NAMESPACE, "labels": labels}})
        })
        .collect()
}

/// Prints, per selection size, the query text length (and what a name alternation would be)
/// and the request latency; judges whether the length stays constant.
pub async fn selection(report: &mut Report) -> BenchResult {
    let prometheus = PrometheusServer::with_series(counters(now_millis()?)).await?;
    let fake = FakeApi::without_call_log();
    if let Ok(mut cluster) = fake.cluster.lock() {
        cluster.pods.insert(NAMESPACE.to_owned(), pods());
    }
    let store = Arc::new(Recording {
        inner: HttpStore::new(StoreConfig::new(prometheus.url()))?,
        queries: Mutex::new(Vec::new()),
    });
    let registry = Arc::new(Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    ));
    registry.relist(store.as_ref(), QUERY_TIMEOUT).await?;
    let provider = Provider::new(Arc::clone(&registry), Arc::clone(&store))
        .with_objects(ObjectIndex::new(fake.client()));
    let resource = GroupResource::new("pods", "");
    println!(
        "\nlabelSelector over {PODS} pods of one namespace (label cache fed by a watch of the \
         fake API server; Prometheus holds a counter per pod):"
    );
    let mut lengths = Vec::new();
    for (selector, selected) in SELECTIONS {
        let request = CustomRequest {
            namespace: Some(NAMESPACE),
            resource: &resource,
            name: "*",
            metric: "http_requests_per_second",
            label_selector: Some(selector),
            metric_label_selector: None,
        };
        let answer = provider.custom(&request, QUERY_TIMEOUT).await?;
        if answer.len() != selected {
            return Err(format!("{selector}: {} values, expected {selected}", answer.len()).into());
        }
        let sent = store
            .queries
            .lock()
            .map_err(|_| "poisoned")?
            .last()
            .cloned()
            .unwrap_or_default();
        let mut took = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let started = Instant::now();
            std::hint::black_box(provider.custom(&request, QUERY_TIMEOUT).await?);
            took.push(started.elapsed());
        }
        took.sort();
        let alternation = alternation_query(&registry, &resource, selected)?;
        let mut took_alternation = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let started = Instant::now();
            std::hint::black_box(
                store
                    .inner
                    .instant_query(&alternation, None, QUERY_TIMEOUT)
                    .await?,
            );
            took_alternation.push(started.elapsed());
        }
        took_alternation.sort();
        println!(
            "  {selected:>5} selected ({selector}): query {} bytes, answer p50 {:.2} ms; the \
             store alone for a pod=~\"a|b|…\" alternation of them: {} bytes, p50 {:.2} ms",
            sent.len(),
            ms(percentile(&took, 0.5)),
            alternation.len(),
            ms(percentile(&took_alternation, 0.5)),
        );
        if selected >= 10 {
            lengths.push(sent.len());
        }
    }
    // Up to ALTERNATION_LIMIT (8) selected pods are named; from 10 on the text is fixed.
    let constant = lengths.windows(2).all(|w| w[0] == w[1]);
    report.judge(
        "query text length, 10 → 5,000 selected pods",
        format!(
            "{} → {} bytes",
            lengths.first().copied().unwrap_or_default(),
            lengths.last().copied().unwrap_or_default()
        ),
        "constant",
        constant,
    );
    Ok(())
}

/// The query naming the first `selected` pods, for comparison.
fn alternation_query(
    registry: &Registry,
    resource: &GroupResource,
    selected: usize,
) -> BenchResult<String> {
    let catalog = registry.catalog();
    let entry = catalog
        .custom(resource, "http_requests_per_second")
        .ok_or("not discovered")?;
    let rule = catalog
        .rule(RuleKind::Custom, entry.rule)
        .ok_or("no such rule")?;
    let names: Vec<String> = (0..selected).map(pod_name).collect();
    Ok(rule.object_query(&ObjectQuery {
        series: &MetricName::new(&*entry.series)?,
        resource,
        namespace: Some(NAMESPACE),
        objects: Objects::Named(&names),
        metric_selector: &Selector::everything(),
    })?)
}
