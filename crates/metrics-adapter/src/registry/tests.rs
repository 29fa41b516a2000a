use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metrics_model::association::GroupResource;

use super::*;
use crate::RuleKind;
use crate::defaults::{DEFAULT_WINDOW, default_config};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The catalog `config`'s custom rules make of `series` (no metric types known).
fn custom_catalog(config: &Config, series: &[BTreeMap<String, String>]) -> Catalog {
    let custom: Vec<_> = config
        .rules()
        .iter()
        .map(|rule| discover_typed(rule, series, &BTreeMap::new()))
        .collect();
    Catalog::build(Arc::new(config.clone()), &custom, &[])
}

#[test]
fn builds_one_entry_per_resource_and_metric_with_shared_names() -> crate::Result<()> {
    let config = default_config(DEFAULT_WINDOW)?;
    let series = [
        labels(&[
            ("__name__", "http_requests_total"),
            ("namespace", "a"),
            ("pod", "p"),
        ]),
        labels(&[
            ("__name__", "http_requests_total"),
            ("namespace", "b"),
            ("service", "s"),
        ]),
        labels(&[
            ("__name__", "queue_depth"),
            ("namespace", "a"),
            ("pod", "p"),
        ]),
    ];
    let catalog = custom_catalog(&config, &series);
    let pods = GroupResource::new("pods", "");
    let services = GroupResource::new("services", "");
    let on_pods = catalog.custom(&pods, "http_requests_per_second");
    let on_services = catalog.custom(&services, "http_requests_per_second");
    let (Some(on_pods), Some(on_services)) = (on_pods, on_services) else {
        panic!("missing entries: {catalog:?}");
    };
    assert_eq!((on_pods.rule, &*on_pods.series), (0, "http_requests_total"));
    assert!(
        Arc::ptr_eq(&on_pods.series, &on_services.series),
        "interned once"
    );
    assert_eq!(
        catalog.custom(&pods, "queue_depth").map(|e| e.rule),
        Some(1)
    );
    assert_eq!(catalog.custom(&services, "queue_depth"), None);
    assert_eq!(
        catalog.known_for(&pods, 10),
        ["http_requests_per_second", "queue_depth"]
    );
    assert!(
        catalog
            .custom_metrics()
            .any(|(r, m)| r.resource == "namespaces" && m == "queue_depth")
    );
    Ok(())
}

#[test]
fn a_new_registry_is_empty_and_not_ready() -> crate::Result<()> {
    let registry = Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    );
    assert!(!registry.is_ready());
    assert_eq!(registry.catalog().custom_metrics().count(), 0);
    Ok(())
}

#[test]
fn scope_of_resources() {
    assert!(is_namespaced(&GroupResource::new("pods", "")));
    assert!(is_namespaced(&GroupResource::new("deployments", "apps")));
    assert!(!is_namespaced(&GroupResource::new("nodes", "")));
    assert!(!is_namespaced(&GroupResource::new("namespaces", "")));
}

#[test]
fn a_missed_metric_is_looked_up_by_its_own_series_name_where_naming_allows() -> crate::Result<()> {
    let config = default_config(DEFAULT_WINDOW)?;
    let rate = targeted_selectors(&config, RuleKind::Custom, "http_requests_per_second");
    let Some(rate) = rate else {
        panic!("the counter rule names http_requests_total as http_requests_per_second");
    };
    assert!(
        rate.iter()
            .any(|(rule, s)| *rule == 0 && s.contains(r#"__name__="http_requests_total""#)),
        "the counter rule asks for the counter: {rate:?}"
    );
    assert!(
        rate.iter()
            .all(|(_, s)| s.matches("__name__=\"").count() == 1),
        "each lookup names exactly one series: {rate:?}"
    );
    assert_eq!(
        targeted_selectors(&config, RuleKind::External, "http_requests_per_second"),
        None,
        "the default configuration has no external rules"
    );
    // The gauge rule serves a series under its own name, restricted to that name.
    let gauge = targeted_selectors(&config, RuleKind::Custom, "queue_depth");
    let gauge = gauge.unwrap_or_default();
    assert!(
        gauge
            .iter()
            .any(|(_, selector)| selector.contains(r#"__name__="queue_depth""#)),
        "{gauge:?}"
    );
    Ok(())
}

#[test]
fn restricting_a_selector_to_one_series() {
    assert_eq!(
        restrict_to_series(r#"{__name__=~"^x_.*",namespace!=""}"#, "x_total").as_deref(),
        Some(r#"{__name__=~"^x_.*",namespace!="",__name__="x_total"}"#)
    );
    assert_eq!(
        restrict_to_series("{}", "up").as_deref(),
        Some(r#"{__name__="up"}"#)
    );
    assert_eq!(
        restrict_to_series(r#"x_total{pod!=""}"#, "x_total").as_deref(),
        Some(r#"x_total{pod!=""}"#)
    );
    assert_eq!(restrict_to_series(r#"y_total{pod!=""}"#, "x_total"), None);
}

#[tokio::test]
async fn rules_with_the_same_series_query_share_one_store_call_per_relist() -> crate::Result<()> {
    use test_support::fault::{Behaviour, FaultyStore};
    let body = r#"{"status":"success","data":[
        {"__name__":"http_requests_total","namespace":"a","pod":"p"},
        {"__name__":"queue_depth","namespace":"a","pod":"p"}]}"#;
    let Ok(fault) = FaultyStore::start(Behaviour::Answer {
        status: 200,
        body: body.to_owned(),
    })
    .await
    else {
        panic!("a loopback store");
    };
    let store = metrics_store::HttpStore::new(metrics_store::StoreConfig::new(fault.url()))?;
    let registry = Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    );
    registry.relist(&store, Duration::from_secs(5)).await?;
    let series_calls = fault
        .requests()
        .iter()
        .filter(|r| r.request_line.contains("/api/v1/series"))
        .count();
    // Three default rules, two distinct selectors (gauges and metadata counters share one).
    assert_eq!(series_calls, 2, "{:?}", fault.requests());
    let catalog = registry.catalog();
    let pods = GroupResource::new("pods", "");
    assert!(catalog.custom(&pods, "http_requests_per_second").is_some());
    assert!(catalog.custom(&pods, "queue_depth").is_some());
    assert!(
        catalog.custom(&pods, "queue_depth_per_second").is_none(),
        "no metadata: not a counter"
    );
    Ok(())
}

/// A store whose `/api/v1/series` calls each take a moment and record how many ran at once.
#[derive(Default)]
struct CountingSeriesStore {
    running: std::sync::atomic::AtomicUsize,
    most_at_once: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
}

impl MetricsStore for CountingSeriesStore {
    async fn series(
        &self,
        matchers: &[String],
        _range: TimeRange,
        deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Labels>> {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most_at_once.fetch_max(now, SeqCst);
        // Each call takes 50 ms: a shorter deadline times out, as a real store's would.
        let answered =
            tokio::time::timeout(deadline, tokio::time::sleep(Duration::from_millis(50)));
        let answered = answered.await;
        self.running.fetch_sub(1, SeqCst);
        if answered.is_err() {
            return Err(metrics_store::Error::Timeout { deadline });
        }
        // `m3{…}` matches series of metric m3.
        let name = matchers[0].split('{').next().unwrap_or_default();
        Ok(vec![labels(&[
            ("__name__", name),
            ("namespace", "a"),
            ("pod", "p"),
        ])])
    }

    async fn instant_query(
        &self,
        _query: &str,
        _at: Option<Timestamp>,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::Sample>> {
        Ok(Vec::new())
    }

    async fn range_query(
        &self,
        _query: &str,
        _range: TimeRange,
        _step: Duration,
        _deadline: Duration,
    ) -> metrics_store::Result<Vec<metrics_store::RangeSeries>> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_relist_asks_for_several_rules_series_at_once_but_boundedly() -> crate::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    // Six rules, six distinct series queries (m0 … m5), and a seventh repeating m0's.
    let rule = |metric: &str| {
        format!(
            "- seriesQuery: '{metric}{{namespace!=\"\",pod!=\"\"}}'\n  \
               resources: {{overrides: {{namespace: {{resource: namespace}}, pod: {{resource: pod}}}}}}\n  \
               metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'\n"
        )
    };
    let mut yaml = "rules:\n".to_owned();
    for metric in ["m0", "m1", "m2", "m3", "m4", "m5", "m0"] {
        yaml.push_str(&rule(metric));
    }
    let store = CountingSeriesStore::default();
    let registry = Registry::new(Arc::new(Config::from_yaml(&yaml)?), Duration::from_secs(30));
    registry.relist(&store, Duration::from_secs(5)).await?;
    assert_eq!(
        store.calls.load(SeqCst),
        6,
        "one call per distinct series query"
    );
    let most = store.most_at_once.load(SeqCst);
    assert!(
        (2..=SERIES_CALLS_AT_ONCE).contains(&most),
        "{most} calls at once, expected 2..={SERIES_CALLS_AT_ONCE}"
    );
    let pods = GroupResource::new("pods", "");
    for metric in ["m0", "m1", "m2", "m3", "m4", "m5"] {
        assert!(
            registry.catalog().custom(&pods, metric).is_some(),
            "{metric}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn external_metrics_without_external_rules_are_never_looked_up() -> crate::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    let store = CountingSeriesStore::default();
    let registry = Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    );
    registry.relist(&store, Duration::from_secs(5)).await?;
    let relisted = store.calls.load(SeqCst);
    let seen = registry.catalog();
    for metric in ["queue_depth", "typo_one", "typo_two"] {
        let changed = registry
            .refresh_on_miss(
                &store,
                &seen,
                RuleKind::External,
                metric,
                Duration::from_secs(5),
            )
            .await?;
        assert!(!changed, "{metric}");
    }
    assert_eq!(store.calls.load(SeqCst), relisted, "no series call");
    Ok(())
}

/// A registry relisted once from a [`CountingSeriesStore`], serving `x_rate` from `x_count`:
/// not a series name Sextant guesses from the metric, so a miss relists every rule.
async fn relisted_with_unguessable_names() -> crate::Result<(CountingSeriesStore, Registry)> {
    let yaml = r#"
rules:
- seriesQuery: 'jobs_count{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^(.*)_count$", as: "${1}_rate"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
"#;
    let store = CountingSeriesStore::default();
    let registry = Registry::new(Arc::new(Config::from_yaml(yaml)?), Duration::from_secs(30));
    registry.relist(&store, Duration::from_secs(5)).await?;
    Ok((store, registry))
}

#[tokio::test]
async fn misses_no_rule_can_guess_relist_every_rule_once_per_interval() -> crate::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    let (store, registry) = relisted_with_unguessable_names().await?;
    assert_eq!(store.calls.load(SeqCst), 1, "the relist");
    let seen = registry.catalog();
    for metric in ["a_rate", "b_rate", "c_rate", "a_rate"] {
        registry
            .refresh_on_miss(
                &store,
                &seen,
                RuleKind::Custom,
                metric,
                Duration::from_secs(5),
            )
            .await?;
    }
    // The first miss relisted; the others, within the interval, asked nothing.
    assert_eq!(store.calls.load(SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn a_relist_for_a_miss_that_ran_out_of_time_does_not_hold_back_the_next() -> crate::Result<()>
{
    use std::sync::atomic::Ordering::SeqCst;
    let (store, registry) = relisted_with_unguessable_names().await?;
    let seen = registry.catalog();
    let miss = |metric, deadline| {
        registry.refresh_on_miss(&store, &seen, RuleKind::Custom, metric, deadline)
    };
    // A request with 10 ms left cannot relist (each series call takes 50 ms) ...
    let hasty = miss("a_rate", Duration::from_millis(10)).await;
    assert!(
        matches!(
            hasty,
            Err(crate::Error::Store(metrics_store::Error::Timeout { .. }))
        ),
        "{hasty:?}"
    );
    assert_eq!(store.calls.load(SeqCst), 2);
    // ... and the next, with time, relists at once instead of being told "unknown" for 5 s.
    miss("a_rate", Duration::from_secs(5)).await?;
    assert_eq!(store.calls.load(SeqCst), 3);
    // That one counts: a miss of another name within the interval asks nothing.
    miss("b_rate", Duration::from_secs(5)).await?;
    assert_eq!(store.calls.load(SeqCst), 3);
    Ok(())
}

#[test]
fn a_resource_named_without_its_group_is_the_one_group_serving_the_metric() -> crate::Result<()> {
    let config = default_config(DEFAULT_WINDOW)?;
    let series = [
        labels(&[
            ("__name__", "http_requests_total"),
            ("namespace", "a"),
            ("deployment", "web"),
        ]),
        labels(&[
            ("__name__", "http_requests_total"),
            ("namespace", "a"),
            ("pod", "web-1"),
        ]),
    ];
    let catalog = custom_catalog(&config, &series);
    let metric = "http_requests_per_second";
    let apps = GroupResource::new("deployments", "apps");
    let bare = GroupResource::new("deployments", "");
    assert!(
        catalog.custom(&bare, metric).is_none(),
        "served as deployments.apps"
    );
    let resolved = catalog
        .custom_resolved(&bare, metric)
        .map(|(r, _)| r.clone());
    assert_eq!(resolved, Some(apps.clone()));
    assert_eq!(
        catalog
            .custom_resolved(&apps, metric)
            .map(|(r, _)| r.clone()),
        Some(apps)
    );
    // A core resource is itself; a group that serves nothing is not guessed.
    let pods = GroupResource::new("pods", "");
    assert_eq!(
        catalog
            .custom_resolved(&pods, metric)
            .map(|(r, _)| r.clone()),
        Some(pods)
    );
    let other = GroupResource::new("deployments", "extensions");
    assert!(catalog.custom_resolved(&other, metric).is_none());
    assert!(catalog.custom_resolved(&bare, "queue_depth").is_none());
    Ok(())
}

#[test]
fn a_group_less_resource_never_resolves_to_one_of_another_scope() -> crate::Result<()> {
    // storageclasses.storage.k8s.io is root-scoped; a bare `storageclasses` is routed as
    // namespaced (`/namespaces/ns1/storageclasses/…`) and must not be answered cluster-wide.
    let yaml = r#"
rules:
- seriesQuery: 'volume_ops_total{storageclass!=""}'
  resources:
    overrides:
      storageclass: {group: storage.k8s.io, resource: storageclasses}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
"#;
    let config = Config::from_yaml(yaml)?;
    let series = [labels(&[
        ("__name__", "volume_ops_total"),
        ("storageclass", "fast"),
    ])];
    let catalog = custom_catalog(&config, &series);
    let metric = "volume_ops_per_second";
    let grouped = GroupResource::new("storageclasses", "storage.k8s.io");
    assert!(catalog.custom(&grouped, metric).is_some(), "{catalog:?}");
    let bare = GroupResource::new("storageclasses", "");
    assert!(is_namespaced(&bare) && !is_namespaced(&grouped));
    assert!(catalog.custom_resolved(&bare, metric).is_none());
    Ok(())
}
