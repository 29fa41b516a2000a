//! `--config` reloaded while serving, against a real Prometheus: a valid new file takes effect
//! at once (its metrics served, the old names gone); an invalid or missing file is reported in
//! `/readyz` and `/metrics` while the last good configuration keeps serving.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Adapter, TestResult, V2, bounded, close, recent_series, values};
use metrics_adapter::Config;
use metrics_adapter::registry::Registry;
use metrics_adapter::reload::ConfigWatch;
use metrics_adapter::telemetry::Telemetry;
use metrics_store::{HttpStore, StoreConfig};
use test_support::{PrometheusServer, or_skip};

/// Serves the request counter of pods under `name`.
fn rules(name: &str) -> String {
    format!(
        r#"rules:
- seriesQuery: '{{__name__="http_requests_total",namespace!="",pod!=""}}'
  resources: {{overrides: {{namespace: {{resource: namespace}}, pod: {{resource: pod}}}}}}
  name: {{matches: "^(.*)_total$", as: "{name}"}}
  metricsQuery: sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)
"#
    )
}

const INVALID: &str = "rules:\n- seriesQuery: ''\n  metricsQuery: x\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_applied_and_a_broken_one_reported_while_the_last_good_serves()
-> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.yaml");
        let first = rules("requests_rate");
        std::fs::write(&path, &first)?;
        let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
        let deadline = Duration::from_secs(10);
        let registry = Arc::new(Registry::new(
            Arc::new(Config::load(&path)?),
            Duration::from_secs(30),
        ));
        registry.relist(&store, deadline).await?;
        let telemetry = Telemetry::new(registry.metrics());
        let mut watch = ConfigWatch::new(path.clone(), Some(first));
        let adapter = Adapter::start(
            Arc::clone(&registry),
            HttpStore::new(StoreConfig::new(prometheus.url()))?,
            deadline,
        )
        .await?;
        let pods = |metric: &str| format!("{V2}/namespaces/ns1/pods/*/{metric}");

        assert!(!watch.check(&registry, &store, deadline).await, "unchanged");
        let (status, body) = adapter.get(&pods("requests_rate")).await?;
        assert_eq!((status, values(&body).len()), (200, 2), "{body}");

        // A valid new file: its name is served at once, the old one is gone.
        std::fs::write(&path, rules("hits_per_second"))?;
        assert!(watch.check(&registry, &store, deadline).await, "applied");
        let (status, body) = adapter.get(&pods("hits_per_second")).await?;
        assert_eq!(status, 200, "{body}");
        let found = values(&body);
        assert!(found.len() == 2 && close(found[0].2, 3.0), "{found:?}");
        adapter.status(&pods("requests_rate"), 404).await?;

        // A broken file: reported, and the last good configuration keeps serving.
        std::fs::write(&path, INVALID)?;
        assert!(!watch.check(&registry, &store, deadline).await, "refused");
        let (status, body) = adapter.get(&pods("hits_per_second")).await?;
        assert_eq!((status, values(&body).len()), (200, 2), "{body}");
        let (status, ready) = adapter.get("/readyz").await?;
        let ready = ready.as_str().unwrap_or_default().to_owned();
        assert_eq!(status, 200, "readiness is kept: {ready}");
        assert!(
            ready.starts_with("ok\nwarning:") && ready.contains("seriesQuery"),
            "{ready}"
        );
        let metrics = telemetry.encode();
        assert!(
            metrics.contains("sextant_adapter_config_last_reload_successful 0")
                && metrics.contains("sextant_adapter_config_reloads_total{outcome=\"Failure\"} 1")
                && metrics.contains("sextant_adapter_config_reloads_total{outcome=\"Success\"} 1"),
            "{metrics}"
        );

        // A missing file is reported the same way.
        std::fs::remove_file(&path)?;
        assert!(!watch.check(&registry, &store, deadline).await);
        let (_, ready) = adapter.get("/readyz").await?;
        assert!(
            ready.as_str().is_some_and(|r| r.contains("cannot read")),
            "{ready}"
        );

        // Fixed: applied, and the warning is gone.
        std::fs::write(&path, rules("requests_rate"))?;
        assert!(watch.check(&registry, &store, deadline).await);
        let (_, ready) = adapter.get("/readyz").await?;
        assert_eq!(ready.as_str(), Some("ok"), "{ready}");
        let (status, _) = adapter.get(&pods("requests_rate")).await?;
        assert_eq!(status, 200);
        assert!(
            telemetry
                .encode()
                .contains("sextant_adapter_config_last_reload_successful 1")
        );

        // Unreadable for a moment, then back with the very text that serves: applied again,
        // and the warning is gone too.
        std::fs::remove_file(&path)?;
        assert!(!watch.check(&registry, &store, deadline).await);
        std::fs::write(&path, rules("requests_rate"))?;
        assert!(watch.check(&registry, &store, deadline).await, "re-applied");
        let (_, ready) = adapter.get("/readyz").await?;
        assert_eq!(ready.as_str(), Some("ok"), "{ready}");
        assert!(
            telemetry
                .encode()
                .contains("sextant_adapter_config_last_reload_successful 1")
        );
        Ok(())
    })
    .await
}
