#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn value_paths() {
    let pods = GroupResource::new("pods", "");
    assert_eq!(
        parse_value_path("namespaces/ns1/pods/*/rps"),
        Some(ValuePath {
            namespace: Some("ns1"),
            resource: pods.clone(),
            name: "*",
            metric: "rps",
        })
    );
    let namespaces = GroupResource::new("namespaces", "");
    let own = ValuePath {
        namespace: None,
        resource: namespaces.clone(),
        name: "ns1",
        metric: "rps",
    };
    assert_eq!(parse_value_path("namespaces/ns1/metrics/rps"), Some(own));
    assert_eq!(
        parse_value_path("nodes/n1/load").map(|p| p.resource),
        Some(GroupResource::new("nodes", ""))
    );
    assert_eq!(
        parse_value_path("namespaces/ns1/deployments.apps/web/rps").map(|p| p.resource),
        Some(GroupResource::new("deployments", "apps"))
    );
    for bad in [
        "pods/*/rps",
        "namespaces/ns1/nodes/n1/load",
        "namespaces/ns1/pods//rps",
        "namespaces/ns1/pods/a/rps/extra",
        "namespaces/ns1/Pods/a/rps",
        "rps",
    ] {
        assert_eq!(parse_value_path(bad), None, "{bad}");
    }
}

#[test]
fn query_parameters_are_decoded() {
    let query = Some("labelSelector=app%3Dweb&metricLabelSelector=code+in+(200)");
    assert_eq!(
        parameter(query, "labelSelector").as_deref(),
        Some("app=web")
    );
    assert_eq!(
        parameter(query, "metricLabelSelector").as_deref(),
        Some("code in (200)")
    );
    assert_eq!(parameter(None, "labelSelector"), None);
}

/// A store serving `http_requests_total` of pod `a` in namespace `shop`, recording the deadline
/// of every instant query.
#[derive(Default)]
struct DeadlineStore {
    deadlines: std::sync::Mutex<Vec<Duration>>,
}

impl MetricsStore for DeadlineStore {
    async fn series(
        &self,
        _matchers: &[String],
        _range: metrics_store::TimeRange,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Labels>> {
        Ok(vec![
            [
                ("__name__", "http_requests_total"),
                ("namespace", "shop"),
                ("pod", "a"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ])
    }

    async fn instant_query(
        &self,
        _query: &str,
        _at: Option<jiff::Timestamp>,
        deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Sample>> {
        if let Ok(mut deadlines) = self.deadlines.lock() {
            deadlines.push(deadline);
        }
        Ok(Vec::new())
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
async fn the_store_query_gets_what_is_left_of_the_deadline_since_the_request_arrived() {
    let store = Arc::new(DeadlineStore::default());
    let config = crate::defaults::default_config(crate::defaults::DEFAULT_WINDOW).unwrap();
    let registry = Arc::new(crate::registry::Registry::new(
        Arc::new(config),
        Duration::from_secs(30),
    ));
    registry
        .relist(&*store, Duration::from_secs(5))
        .await
        .unwrap();
    let server = Arc::new(Server::new(
        Provider::new(registry, Arc::clone(&store)),
        Duration::from_secs(5),
    ));
    let app = router(Arc::clone(&server));
    let ask = |arrived: Option<Arrived>, path: &str| {
        let mut request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(arrived) = arrived {
            request.extensions_mut().insert(arrived);
        }
        dispatch(&server, &app, request)
    };
    let custom =
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/*/http_requests_per_second";
    // The same path percent-encoded goes through the router instead of the straight answer.
    let routed =
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/%2A/http_requests_per_second";
    let three_seconds_ago = Instant::now().checked_sub(Duration::from_secs(3)).unwrap();
    for path in [custom, routed] {
        assert_eq!(ask(None, path).await.status(), 200, "{path}");
        assert_eq!(
            ask(Some(Arrived(three_seconds_ago)), path).await.status(),
            200,
            "{path}"
        );
    }
    // A request that used up its deadline before the query gets none at all.
    let long_ago = Instant::now().checked_sub(Duration::from_secs(60)).unwrap();
    ask(Some(Arrived(long_ago)), custom).await;
    let deadlines = store.deadlines.lock().unwrap().clone();
    assert_eq!(deadlines.len(), 5, "{deadlines:?}");
    for (index, deadline) in deadlines.iter().enumerate() {
        let expected = match index {
            0 | 2 => Duration::from_secs(5),
            1 | 3 => Duration::from_secs(2),
            _ => Duration::ZERO,
        };
        assert!(
            *deadline <= expected && *deadline + Duration::from_millis(500) >= expected,
            "query {index}: {deadline:?}, expected about {expected:?}"
        );
    }
}
