//! `--metrics-max-age` (prometheus-adapter's flag): how far back a relist looks for series. A
//! real Prometheus holds a counter last written five hours ago and one written in the last five
//! minutes; the default look-back (10 minutes) serves only the recent one, a six-hour one both.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{TestResult, bounded, recent_counter};
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::registry::Registry;
use metrics_model::association::GroupResource;
use metrics_store::{HttpStore, StoreConfig};
use test_support::{PrometheusServer, Series, or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_max_age_serves_metrics_whose_last_sample_is_older() -> TestResult {
    bounded(async {
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
        // Five hours back: its (two-hour, aligned) block ends three hours ago at the latest, so
        // only a look-back reaching past that finds the series.
        let five_hours_ago = now - 5 * 3_600_000;
        let old = (0..=20).fold(
            Series::new(
                "batch_jobs_total",
                &[("namespace", "ns1"), ("pod", "nightly")],
            ),
            |s, i| s.sample(five_hours_ago + i * 15_000, 15.0 * i as f64),
        );
        let recent = recent_counter(
            "http_requests_total",
            &[("namespace", "ns1"), ("pod", "a")],
            2.0,
        )?;
        let Some(prometheus) = or_skip(PrometheusServer::with_series(vec![old, recent]).await)?
        else {
            return Ok(());
        };
        let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
        let config = Arc::new(default_config(DEFAULT_WINDOW)?);
        let pods = GroupResource::new("pods", "");
        let served =
            |registry: &Registry, metric: &str| registry.catalog().custom(&pods, metric).is_some();

        let default = Registry::new(Arc::clone(&config), Duration::from_secs(30));
        default.relist(&store, Duration::from_secs(10)).await?;
        assert!(served(&default, "http_requests_per_second"));
        assert!(
            !served(&default, "batch_jobs_per_second"),
            "a series last written five hours ago is served with the 10-minute default"
        );

        let six_hours = Registry::new(config, Duration::from_secs(30))
            .with_lookback(Duration::from_secs(6 * 3_600));
        six_hours.relist(&store, Duration::from_secs(10)).await?;
        assert!(served(&six_hours, "http_requests_per_second"));
        assert!(served(&six_hours, "batch_jobs_per_second"));
        Ok(())
    })
    .await
}
