//! Counters without the `_total` suffix, recognised by the store's metadata: a real Prometheus
//! scrapes a target declaring `# TYPE jobs_processed counter` and `# TYPE queue_length gauge`;
//! the default rules serve the counter as a rate (`jobs_processed_per_second`) and not as a
//! gauge, and the gauge as itself.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Adapter, TestResult, V2, bounded, values};
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::registry::Registry;
use metrics_store::{HttpStore, MetricsStore, StoreConfig};
use test_support::{PrometheusConfig, PrometheusServer, or_skip};

/// A scrape target whose counter grows 2 per second since it started.
async fn target() -> Result<(String, tokio::task::JoinHandle<()>), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let count = (started.elapsed().as_secs_f64() * 2.0).floor();
            async move {
                format!(
                    "# HELP jobs_processed Jobs done.\n# TYPE jobs_processed counter\n\
                     jobs_processed{{namespace=\"ns1\",pod=\"worker-1\"}} {count}\n\
                     # HELP queue_length Jobs waiting.\n# TYPE queue_length gauge\n\
                     queue_length{{namespace=\"ns1\",pod=\"worker-1\"}} 7\n"
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_without_total_is_served_as_a_rate_by_its_metadata() -> TestResult {
    bounded(async {
        let (address, target_task) = target().await?;
        let config = PrometheusConfig {
            scrape_targets: vec![address],
            ..PrometheusConfig::default()
        };
        let Some(prometheus) = or_skip(PrometheusServer::start(config).await)? else {
            return Ok(());
        };
        let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
        // Scraped every second: wait for the metadata and a few samples.
        let deadline = Duration::from_secs(5);
        let waited = Instant::now();
        loop {
            let types = store.metric_types(deadline).await?;
            let samples = store
                .instant_query("count_over_time(jobs_processed[1m])", None, deadline)
                .await?;
            if types.get("jobs_processed").map(String::as_str) == Some("counter")
                && samples.first().is_some_and(|s| s.value >= 4.0)
            {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "no metadata or samples after 30 s: {types:?} {samples:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let registry = Arc::new(Registry::new(
            Arc::new(default_config(DEFAULT_WINDOW)?),
            Duration::from_secs(30),
        ));
        registry.relist(&store, deadline).await?;
        let adapter = Adapter::start(registry, store, deadline).await?;

        let (_, discovery) = adapter.get(V2).await?;
        let names = common::resource_names(&discovery);
        assert!(
            names.contains(&"pods/jobs_processed_per_second"),
            "{names:?}"
        );
        assert!(names.contains(&"pods/queue_length"), "{names:?}");
        assert!(
            !names.contains(&"pods/jobs_processed"),
            "a counter is not served as a gauge: {names:?}"
        );
        assert!(
            !names.contains(&"pods/queue_length_per_second"),
            "{names:?}"
        );

        let (status, rate) = adapter
            .get(&format!(
                "{V2}/namespaces/ns1/pods/*/jobs_processed_per_second"
            ))
            .await?;
        assert_eq!(status, 200, "{rate}");
        let found = values(&rate);
        assert_eq!(found.len(), 1, "{rate}");
        // A rate over a few seconds of a 2/s counter in a 2m window: positive and at most 2/s
        // (Prometheus extrapolates only to half a scrape interval past the data), never the
        // raw count (at least 4 by now).
        assert!(
            found[0].2 > 0.0 && found[0].2 <= 2.1,
            "a per-second rate: {found:?}"
        );
        target_task.abort();
        Ok(())
    })
    .await
}
