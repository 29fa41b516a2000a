use super::*;

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

/// A store of `http_requests_total{namespace="shop", pod="a"|"b"|"c"}` whose instant queries
/// take a moment (so concurrent ones overlap) and are counted.
struct SlowStore {
    queries: std::sync::atomic::AtomicUsize,
}

impl MetricsStore for SlowStore {
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
        _query: &str,
        _at: Option<jiff::Timestamp>,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<Sample>> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(["a", "b", "c"]
            .into_iter()
            .zip([1.5, 2.0, 0.25])
            .map(|(pod, value)| Sample {
                labels: BTreeMap::from([("pod".to_owned(), pod.to_owned())]),
                timestamp: jiff::Timestamp::from_second(1_795_000_000).unwrap_or_default(),
                value,
            })
            .collect())
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

#[tokio::test]
async fn requests_sharing_one_store_answer_each_get_every_row() -> Result<()> {
    let store = Arc::new(SlowStore {
        queries: std::sync::atomic::AtomicUsize::new(0),
    });
    let coalescing = Arc::new(metrics_store::Coalescing::new(Arc::clone(&store)));
    let registry = Arc::new(Registry::new(
        Arc::new(crate::defaults::default_config(
            crate::defaults::DEFAULT_WINDOW,
        )?),
        Duration::from_secs(30),
    ));
    registry
        .relist(&*coalescing, Duration::from_secs(5))
        .await?;
    let provider = Provider::new(registry, coalescing);
    let pods = GroupResource::new("pods", "");
    let request = |name| CustomRequest {
        namespace: Some("shop"),
        resource: &pods,
        name,
        metric: "http_requests_per_second",
        label_selector: None,
        metric_label_selector: None,
    };
    let (every, named) = (request("*"), request("b"));
    let deadline = Duration::from_secs(5);
    // Three callers of one query at once: the store is asked once, and whoever holds the
    // shared answer last takes it, the others copy what they keep.
    let (first, second, third) = tokio::join!(
        provider.custom(&every, deadline),
        provider.custom(&every, deadline),
        provider.custom(&every, deadline),
    );
    let rows = |answer: v1beta2::MetricValueRows| -> Vec<(String, String)> {
        answer
            .rows
            .into_iter()
            .map(|row| (row.name, row.value.to_string()))
            .collect()
    };
    let expected = vec![
        ("a".to_owned(), "1500m".to_owned()),
        ("b".to_owned(), "2".to_owned()),
        ("c".to_owned(), "250m".to_owned()),
    ];
    for answer in [first?, second?, third?] {
        assert_eq!(answer.object.namespace.as_deref(), Some("shop"));
        assert_eq!(rows(answer), expected);
    }
    assert_eq!(store.queries.load(std::sync::atomic::Ordering::SeqCst), 1);
    // One object by name keeps only its row.
    assert_eq!(
        rows(provider.custom(&named, deadline).await?),
        vec![("b".to_owned(), "2".to_owned())]
    );
    Ok(())
}
