use super::*;
use metrics_store::{KeyedSample, KeyedSamples};

#[test]
fn kinds_of_resources() {
    let kind = |r: &str, g: &str| kind_of(&GroupResource::new(r, g));
    assert_eq!(kind("pods", ""), "Pod");
    assert_eq!(kind("services", ""), "Service");
    assert_eq!(kind("namespaces", ""), "Namespace");
    assert_eq!(kind("statefulsets", "apps"), "StatefulSet");
    assert_eq!(kind("ingresses", "networking.k8s.io"), "Ingress");
    assert_eq!(kind("widgets", "example.com"), "Widget");
}

#[test]
fn empty_selectors_select_everything_and_bad_ones_are_400() {
    assert!(matches!(parse_selector("labelSelector", Some(" ")), Ok(s) if s.is_empty()));
    let Err(error) = parse_selector("metricLabelSelector", Some("a in (")) else {
        panic!("should not parse");
    };
    assert_eq!(error.status().code, Some(400));
    assert!(
        error
            .to_string()
            .starts_with("invalid metricLabelSelector: ")
    );
}

/// A store of `http_requests_total{namespace="shop", pod="a"|"b"|"c"|"d"}` (d's rate is NaN)
/// whose instant queries take a moment (so concurrent ones overlap) and are counted. It keeps
/// its answer: [`MetricsStore::instant_query_by`] hands out the one it holds, as a flight
/// shared by other callers would.
struct KeptAnswerStore {
    queries: std::sync::atomic::AtomicUsize,
    answer: Arc<KeyedSamples>,
}

impl KeptAnswerStore {
    fn new() -> Self {
        let timestamp = jiff::Timestamp::from_second(1_795_000_000).unwrap_or_default();
        let answer = ["a", "b", "c", "d"]
            .into_iter()
            .zip([1.5, 2.0, 0.25, f64::NAN])
            .map(|(key, value)| KeyedSample {
                key,
                timestamp,
                value,
            })
            .collect();
        KeptAnswerStore {
            queries: std::sync::atomic::AtomicUsize::new(0),
            answer: Arc::new(answer),
        }
    }

    fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl MetricsStore for KeptAnswerStore {
    async fn series(
        &self,
        _matchers: &[String],
        _range: metrics_store::TimeRange,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Labels>> {
        Ok(vec![BTreeMap::from([
            ("__name__".to_owned(), "http_requests_total".to_owned()),
            ("namespace".to_owned(), "shop".to_owned()),
            ("pod".to_owned(), "a".to_owned()),
        ])])
    }

    async fn instant_query(
        &self,
        query: &str,
        at: Option<jiff::Timestamp>,
        deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Sample>> {
        let keyed = self.instant_query_by(query, "pod", at, deadline).await?;
        Ok(keyed
            .iter()
            .map(|sample| metrics_store::Sample {
                labels: BTreeMap::from([("pod".to_owned(), sample.key.to_owned())]),
                timestamp: sample.timestamp,
                value: sample.value,
            })
            .collect())
    }

    async fn instant_query_by(
        &self,
        _query: &str,
        label: &str,
        _at: Option<jiff::Timestamp>,
        _deadline: Duration,
    ) -> metrics_store::Result<Arc<KeyedSamples>> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Its samples have one label, `pod`: keyed by any other, none has it.
        Ok(match label {
            "pod" => Arc::clone(&self.answer),
            _ => Arc::default(),
        })
    }

    async fn range_query(
        &self,
        _query: &str,
        _range: metrics_store::TimeRange,
        _step: Duration,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::RangeSeries>> {
        Ok(Vec::new())
    }
}

/// A provider over `store`, its catalog relisted from it with the default rules.
async fn provider_over<S: MetricsStore + 'static>(store: Arc<S>) -> Result<Provider<S>> {
    let registry = Arc::new(Registry::new(
        Arc::new(crate::defaults::default_config(
            crate::defaults::DEFAULT_WINDOW,
        )?),
        Duration::from_secs(30),
    ));
    registry.relist(&*store, Duration::from_secs(5)).await?;
    Ok(Provider::new(registry, store))
}

/// A request for pods of `shop`: `name`, or every pod with `*`.
fn pods_request<'a>(pods: &'a GroupResource, name: &'a str) -> CustomRequest<'a> {
    CustomRequest {
        namespace: Some("shop"),
        resource: pods,
        name,
        metric: "http_requests_per_second",
        label_selector: None,
        metric_label_selector: None,
    }
}

/// (name, value) of each row.
fn rows(answer: CustomAnswer) -> Vec<(String, String)> {
    answer
        .rows()
        .map(|row| (row.name.to_owned(), row.value.to_string()))
        .collect()
}

/// The finite rates of a, b and c (d's NaN is left out).
fn every_finite_row() -> Vec<(String, String)> {
    [("a", "1500m"), ("b", "2"), ("c", "250m")]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[tokio::test]
async fn requests_coalesced_on_one_store_query_each_get_every_row() -> Result<()> {
    let store = Arc::new(KeptAnswerStore::new());
    let coalescing = Arc::new(metrics_store::Coalescing::new(Arc::clone(&store)));
    let provider = provider_over(coalescing).await?;
    let pods = GroupResource::new("pods", "");
    let every = pods_request(&pods, "*");
    let deadline = Duration::from_secs(5);
    // Three callers of one query at once: the store is asked once; whoever holds the flight's
    // answer last takes it, the others copy the names they keep.
    let (first, second, third) = tokio::join!(
        provider.custom(&every, deadline),
        provider.custom(&every, deadline),
        provider.custom(&every, deadline),
    );
    for answer in [first?, second?, third?] {
        assert_eq!(answer.shape.object.namespace.as_deref(), Some("shop"));
        assert!(
            answer
                .rows()
                .all(|row| row.timestamp.0.as_second() == 1_795_000_000),
            "each value carries its sample's own time, not the request's"
        );
        assert_eq!(rows(answer), every_finite_row());
    }
    assert_eq!(store.queries(), 1);
    Ok(())
}

#[tokio::test]
async fn a_shared_answer_is_read_without_being_taken() -> Result<()> {
    // The store keeps its answer, so the provider never holds the only reference.
    let store = Arc::new(KeptAnswerStore::new());
    let provider = provider_over(Arc::clone(&store)).await?;
    let pods = GroupResource::new("pods", "");
    let deadline = Duration::from_secs(5);
    assert_eq!(
        rows(provider.custom(&pods_request(&pods, "*"), deadline).await?),
        every_finite_row()
    );
    assert_eq!(
        rows(provider.custom(&pods_request(&pods, "b"), deadline).await?),
        vec![("b".to_owned(), "2".to_owned())]
    );
    // A named object whose only value is NaN has no value: 404.
    let Err(error) = provider.custom(&pods_request(&pods, "d"), deadline).await else {
        panic!("d has no finite value");
    };
    assert_eq!(error.status().code, Some(404), "{error}");
    assert_eq!(
        store.answer.get(1).map(|sample| sample.key),
        Some("b"),
        "the store's answer is intact"
    );
    Ok(())
}
