//! What the controller tells about itself: Prometheus metrics on `/metrics`, and `/healthz` and
//! `/readyz` for the kubelet's probes (which never wait on the API server or the store).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming one policy.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// The policy's namespace.
    pub namespace: String,
    /// The policy's name.
    pub name: String,
}

/// Labels of a decision's outcome: `scale_up`, `scale_down`, `hold`, `fallback`, `no_metrics`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What the decision did.
    pub outcome: &'static str,
}

/// The controller's own metrics, shared by every reconcile.
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    /// Time from the start of a reconcile to its end.
    pub reconcile_duration: Histogram,
    /// Decisions by outcome.
    pub decisions: Family<OutcomeLabels, Counter>,
    /// Reconciles that ended in an error (then retried with back-off).
    pub errors: Counter,
    /// The replica count each policy last decided on.
    pub desired_replicas: Family<PolicyLabels, Gauge>,
}

impl Default for ControllerMetrics {
    /// Metrics that count but are exported nowhere (tests, tools).
    fn default() -> Self {
        ControllerMetrics {
            reconcile_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            decisions: Family::default(),
            errors: Counter::default(),
            desired_replicas: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers the metrics under the `sextant_controller_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ControllerMetrics::default();
        let registry = registry.sub_registry_with_prefix("sextant_controller");
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile took",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "decisions",
            "Scaling decisions by outcome",
            metrics.decisions.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed and were retried",
            metrics.errors.clone(),
        );
        registry.register(
            "desired_replicas",
            "Replica count each ScalingPolicy last decided on",
            metrics.desired_replicas.clone(),
        );
        metrics
    }
}

/// Serves `/metrics` on `metrics` and `/healthz`, `/readyz` on `health` until the process ends.
pub async fn serve(
    metrics: SocketAddr,
    health: SocketAddr,
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let metrics_app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, &registry) {
                    Ok(()) => (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                        .into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    );
    let health_app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Relaxed);
                async move {
                    match ready {
                        true => (StatusCode::OK, "ok"),
                        false => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: ScalingPolicies not listed yet",
                        ),
                    }
                }
            }),
        );
    let metrics_listener = tokio::net::TcpListener::bind(metrics).await?;
    let health_listener = tokio::net::TcpListener::bind(health).await?;
    tracing::info!(%metrics, %health, "serving /metrics, /healthz and /readyz");
    let metrics_server = axum::serve(metrics_listener, metrics_app);
    let health_server = axum::serve(health_listener, health_app);
    tokio::try_join!(async { metrics_server.await }, async {
        health_server.await
    })?;
    Ok(())
}

/// Times one reconcile into the histogram when dropped.
pub(super) struct ReconcileTimer<'a> {
    histogram: &'a Histogram,
    started: std::time::Instant,
}

impl<'a> ReconcileTimer<'a> {
    /// Starts timing.
    pub(super) fn start(histogram: &'a Histogram) -> Self {
        ReconcileTimer {
            histogram,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// How long a probe may take to answer in tests of this module.
#[cfg(test)]
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_text(url: &str) -> Result<(u16, String), Box<dyn std::error::Error>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = tokio::time::timeout(PROBE_TIMEOUT, reqwest::get(url)).await??;
        Ok((response.status().as_u16(), response.text().await?))
    }

    fn free_addr() -> Result<SocketAddr, std::io::Error> {
        std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
    }

    #[tokio::test]
    async fn probes_and_metrics_answer_on_their_own_ports() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut registry = Registry::default();
        let metrics = ControllerMetrics::register(&mut registry);
        metrics
            .decisions
            .get_or_create(&OutcomeLabels {
                outcome: "scale_up",
            })
            .inc();
        metrics
            .desired_replicas
            .get_or_create(&PolicyLabels {
                namespace: "shop".into(),
                name: "checkout".into(),
            })
            .set(6);
        let ready = Arc::new(AtomicBool::new(false));
        let (metrics_addr, health_addr) = (free_addr()?, free_addr()?);
        tokio::spawn(serve(
            metrics_addr,
            health_addr,
            Arc::new(registry),
            ready.clone(),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;

        assert_eq!(
            get_text(&format!("http://{health_addr}/healthz")).await?.0,
            200
        );
        assert_eq!(
            get_text(&format!("http://{health_addr}/readyz")).await?.0,
            503,
            "not ready before the first list"
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(
            get_text(&format!("http://{health_addr}/readyz")).await?.0,
            200
        );
        let (status, text) = get_text(&format!("http://{metrics_addr}/metrics")).await?;
        assert_eq!(status, 200);
        assert!(
            text.contains(r#"sextant_controller_decisions_total{outcome="scale_up"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"sextant_controller_desired_replicas{namespace="shop",name="checkout"} 6"#
            ),
            "{text}"
        );
        assert_eq!(
            get_text(&format!("http://{metrics_addr}/healthz")).await?.0,
            404,
            "probes live on their own port"
        );
        Ok(())
    }
}
