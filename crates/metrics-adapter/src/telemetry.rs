//! The adapter's own metrics, served at `/metrics` in the Prometheus text format
//! (prometheus-client): API requests by group and code, store calls by operation and outcome
//! ([`metrics_store::StoreMetrics`]), relists, the size of the catalog, configuration
//! reloads, reloads of the TLS files and the serving certificate's expiry. Every name starts
//! with `sextant_adapter_`.
//!
//! No label carries a namespace, object or metric name, so the series count stays fixed
//! whatever the cluster does.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::registry::Catalog;

/// Which API a request was for.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Api {
    /// `custom.metrics.k8s.io` values.
    Custom,
    /// `external.metrics.k8s.io` values.
    External,
    /// Discovery documents, OpenAPI and anything else.
    Other,
}

impl Api {
    /// Every API, in the order of their [`RequestMetrics`] handles.
    const ALL: [Api; 3] = [Api::Custom, Api::External, Api::Other];

    /// The API a request path belongs to.
    pub fn of_path(path: &str) -> Api {
        let values = |group: &str| {
            path.strip_prefix("/apis/")
                .and_then(|rest| rest.strip_prefix(group))
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| rest.contains('/'))
        };
        if values("custom.metrics.k8s.io") {
            Api::Custom
        } else if values("external.metrics.k8s.io") {
            Api::External
        } else {
            Api::Other
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: Api,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: Api,
}

/// How a relist or reload ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// Success when `succeeded`.
    fn of(succeeded: bool) -> Self {
        if succeeded {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

/// Request counts and latencies.
#[derive(Debug, Clone)]
pub struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<ApiLabels, Histogram>,
    /// Each API's count of 200 answers and its latency histogram, by [`Api::ALL`]'s order:
    /// taken from the families once, so a request is recorded without a family lookup (a
    /// lock and a hash of the labels each). Their series are exported from the start, at 0.
    answered: [(Counter, Histogram); 3],
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let answered = Api::ALL.map(|api| {
            (
                requests
                    .get_or_create(&RequestLabels { api, code: 200 })
                    .clone(),
                duration.get_or_create(&ApiLabels { api }).clone(),
            )
        });
        RequestMetrics {
            requests,
            duration,
            answered,
        }
    }
}

impl RequestMetrics {
    /// Counts one answered request for `api` ([`Api::of_path`]) and its latency.
    pub fn record(&self, api: Api, code: u16, took: Duration) {
        let (ok, duration) = &self.answered[api as usize];
        if code == 200 {
            ok.inc();
        } else {
            self.requests
                .get_or_create(&RequestLabels { api, code })
                .inc();
        }
        duration.observe(took.as_secs_f64());
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "API requests answered, by API and HTTP status code",
            self.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an API request, by API",
            self.duration.clone(),
        );
    }
}

/// Relist and configuration-reload metrics, owned by the [`crate::registry::Registry`].
#[derive(Debug, Clone)]
pub struct DiscoveryMetrics {
    relists: Family<OutcomeLabels, Counter>,
    relist_duration: Histogram,
    served: Family<ApiLabels, Gauge>,
    reloads: Family<OutcomeLabels, Counter>,
    config_valid: Gauge,
}

impl Default for DiscoveryMetrics {
    fn default() -> Self {
        let config_valid = Gauge::default();
        config_valid.set(1);
        DiscoveryMetrics {
            relists: Family::default(),
            relist_duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            served: Family::default(),
            reloads: Family::default(),
            config_valid,
        }
    }
}

impl DiscoveryMetrics {
    /// Records one relist and the size of the catalog it left.
    pub fn record_relist(&self, took: Duration, succeeded: bool, catalog: &Catalog) {
        let outcome = Outcome::of(succeeded);
        self.relists.get_or_create(&OutcomeLabels { outcome }).inc();
        self.relist_duration.observe(took.as_secs_f64());
        let (custom, external) = catalog.len();
        for (api, count) in [(Api::Custom, custom), (Api::External, external)] {
            self.served
                .get_or_create(&ApiLabels { api })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Records a configuration reload: applied, or refused (the last good one keeps serving).
    pub fn record_reload(&self, applied: bool) {
        let outcome = Outcome::of(applied);
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
        self.config_valid.set(i64::from(applied));
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "relists",
            "Metric discoveries (series relists), by outcome",
            self.relists.clone(),
        );
        registry.register(
            "relist_duration_seconds",
            "Time a metric discovery took",
            self.relist_duration.clone(),
        );
        registry.register(
            "metrics_served",
            "Servable metrics in the catalog: (resource, metric) pairs for custom, names for external",
            self.served.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration file reloads, by outcome",
            self.reloads.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 when the configuration file on disk is the one served, 0 when it is invalid",
            self.config_valid.clone(),
        );
    }
}

/// A TLS file the adapter reads again when it changes.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum TlsFile {
    /// `--tls-cert-file` and `--tls-private-key-file`.
    ServingCertificate,
    /// `--client-ca-file`.
    ClientCa,
    /// `--requestheader-client-ca-file`.
    RequestheaderClientCa,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsReloadLabels {
    file: TlsFile,
    outcome: Outcome,
}

/// Reloads of the TLS files and when the serving certificate expires, so an operator can
/// alert on a renewal that never arrives or never loads.
#[derive(Debug, Clone, Default)]
pub struct TlsMetrics {
    reloads: Family<TlsReloadLabels, Counter>,
    serving_expiry: Gauge,
}

impl TlsMetrics {
    /// Records a changed file put in force (`true`) or refused, the previous one kept.
    pub fn record_reload(&self, file: TlsFile, applied: bool) {
        let outcome = Outcome::of(applied);
        self.reloads
            .get_or_create(&TlsReloadLabels { file, outcome })
            .inc();
    }

    /// Records when the serving certificate in force expires (Unix seconds).
    pub fn set_serving_expiry(&self, not_after: i64) {
        self.serving_expiry.set(not_after);
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "tls_reloads",
            "Changed TLS files put in force (Success) or refused, the previous kept (Failure)",
            self.reloads.clone(),
        );
        registry.register(
            "serving_certificate_expiration_timestamp_seconds",
            "When the serving certificate in force expires (Unix time)",
            self.serving_expiry.clone(),
        );
    }
}

/// Every metric of the adapter, and the text `/metrics` answers.
#[derive(Debug, Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    /// Request counts and latencies, recorded by the HTTPS front.
    pub requests: RequestMetrics,
    /// Store call counts and latencies, recorded by the store wrapper.
    pub store: metrics_store::StoreMetrics,
    /// TLS file reloads and the serving certificate's expiry.
    pub tls: TlsMetrics,
}

impl Telemetry {
    /// Registers the request, store and discovery metrics under `sextant_adapter_`.
    pub fn new(discovery: &DiscoveryMetrics) -> Self {
        let mut registry = Registry::with_prefix("sextant_adapter");
        let requests = RequestMetrics::default();
        requests.register(&mut registry);
        discovery.register(&mut registry);
        let store = metrics_store::StoreMetrics::register(&mut registry);
        let tls = TlsMetrics::default();
        tls.register(&mut registry);
        Telemetry {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            store,
            tls,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::warn!(%error, "cannot encode the adapter's metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn each_api_finds_its_own_handles() {
        // `RequestMetrics::record` indexes the handles by the API's discriminant.
        for (index, api) in Api::ALL.into_iter().enumerate() {
            assert_eq!(api as usize, index, "{api:?}");
        }
    }

    #[test]
    fn paths_are_classified_by_api() {
        let of = Api::of_path;
        assert_eq!(
            of("/apis/custom.metrics.k8s.io/v1beta2/namespaces/a/pods/*/m"),
            Api::Custom
        );
        assert_eq!(of("/apis/custom.metrics.k8s.io/v1beta2"), Api::Other);
        assert_eq!(
            of("/apis/external.metrics.k8s.io/v1beta1/namespaces/a/m"),
            Api::External
        );
        assert_eq!(of("/readyz"), Api::Other);
    }

    #[tokio::test]
    async fn requests_reloads_and_store_calls_are_exported_under_the_prefix() {
        use metrics_store::{HttpStore, Instrumented, MetricsStore, StoreConfig};
        let discovery = DiscoveryMetrics::default();
        let telemetry = Telemetry::new(&discovery);
        telemetry.requests.record(
            Api::of_path("/apis/custom.metrics.k8s.io/v1beta2/namespaces/a/pods/*/m"),
            404,
            Duration::from_millis(3),
        );
        for _ in 0..2 {
            telemetry
                .requests
                .record(Api::Custom, 200, Duration::from_millis(1));
        }
        discovery.record_reload(false);
        telemetry.tls.record_reload(TlsFile::ClientCa, true);
        telemetry.tls.set_serving_expiry(1_893_456_000);
        // Nothing listens on port 1: the call fails at once and is counted as unavailable.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = HttpStore::new(StoreConfig::new("http://127.0.0.1:1"));
        let store = Instrumented::new(store.expect("a store client"), telemetry.store.clone());
        let failed = store
            .instant_query("up", None, Duration::from_secs(2))
            .await;
        assert!(failed.is_err());
        let text = telemetry.encode();
        assert!(
            text.contains("sextant_adapter_requests_total{api=\"Custom\",code=\"404\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sextant_adapter_config_reloads_total{outcome=\"Failure\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sextant_adapter_config_last_reload_successful 0"),
            "{text}"
        );
        assert!(
            text.contains(
                "sextant_adapter_tls_reloads_total{file=\"ClientCa\",outcome=\"Success\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sextant_adapter_serving_certificate_expiration_timestamp_seconds 1893456000"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sextant_adapter_store_requests_total{operation=\"Query\",outcome=\"Unavailable\"} 1"
            ),
            "{text}"
        );
        // 200 answers and every call's time go through handles taken once: the same series.
        for line in [
            "sextant_adapter_requests_total{api=\"Custom\",code=\"200\"} 2",
            "sextant_adapter_request_duration_seconds_count{api=\"Custom\"} 3",
            "sextant_adapter_requests_total{api=\"External\",code=\"200\"} 0",
            "sextant_adapter_store_request_duration_seconds_count{operation=\"Query\"} 1",
            "sextant_adapter_store_requests_total{operation=\"Query\",outcome=\"Success\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
