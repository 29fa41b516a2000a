//! The harness shared by the adapter's integration tests: recent backfill data, the rules
//! they are served with, and the router on a loopback port called with reqwest.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics_adapter::Config;
use metrics_adapter::config::RuleSpec;
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_spec};
use metrics_adapter::objects::ObjectIndex;
use metrics_adapter::provider::Provider;
use metrics_adapter::registry::Registry;
use metrics_adapter::server::{Server, dispatch, router};
use metrics_store::MetricsStore;
use serde_json::Value;
use test_support::Series;
use tokio::task::JoinHandle;

pub mod https;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

const TEST_TIMEOUT: Duration = Duration::from_secs(90);
pub const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";
pub const V1: &str = "/apis/custom.metrics.k8s.io/v1beta1";

/// Runs a test body with a bound on its duration.
pub async fn bounded(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .map_err(|_| format!("test did not finish within {TEST_TIMEOUT:?}"))?
}

/// Pods and their request rates: ns1 has a (3/s) and b (1.5/s), ns2 has c (5/s).
const PODS: &[(&str, &str, f64)] = &[("ns1", "a", 3.0), ("ns1", "b", 1.5), ("ns2", "c", 5.0)];

/// A counter growing `per_second`, a sample every 15 s over the last five minutes.
pub fn recent_counter(
    name: &str,
    labels: &[(&str, &str)],
    per_second: f64,
) -> Result<Series, Box<dyn std::error::Error>> {
    let start = five_minutes_ago()?;
    Ok((0..=20).fold(Series::new(name, labels), |s, i| {
        s.sample(start + i * 15_000, per_second * 15.0 * i as f64)
    }))
}

fn five_minutes_ago() -> Result<i64, Box<dyn std::error::Error>> {
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    Ok(now - 300_000)
}

/// Counters and one queue gauge, a sample every 15 s over the last five minutes.
pub fn recent_series() -> Result<Vec<Series>, Box<dyn std::error::Error>> {
    let start = five_minutes_ago()?;
    let mut series: Vec<Series> = PODS
        .iter()
        .map(|(namespace, pod, per_second)| {
            (0..=20).fold(
                Series::new(
                    "http_requests_total",
                    &[("namespace", namespace), ("pod", pod), ("job", "web")],
                ),
                |s, i| s.sample(start + i * 15_000, per_second * 15.0 * i as f64),
            )
        })
        .collect();
    series.push((0..=20).fold(
        Series::new(
            "queue_messages_ready",
            &[("namespace", "ns1"), ("queue", "orders")],
        ),
        |s, i| s.sample(start + i * 15_000, 42.0),
    ));
    Ok(series)
}

/// The default rules plus one external rule for the queue gauge.
pub fn config() -> Result<Config, Box<dyn std::error::Error>> {
    let mut spec = default_spec(DEFAULT_WINDOW)?;
    spec.external_rules = Some(vec![RuleSpec {
        series_query: r#"{__name__="queue_messages_ready",namespace!=""}"#.to_owned(),
        metrics_query: "sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)".to_owned(),
        ..RuleSpec::default()
    }]);
    Ok(Config::from_spec(&spec, Vec::new())?)
}

/// A registry relisted against a real store.
pub async fn relisted<S: MetricsStore>(
    store: &S,
) -> Result<Arc<Registry>, Box<dyn std::error::Error>> {
    let registry = Arc::new(Registry::new(Arc::new(config()?), Duration::from_secs(30)));
    registry.relist(store, Duration::from_secs(10)).await?;
    Ok(registry)
}

/// The router on a loopback port; the server stops when this is dropped.
pub struct Adapter {
    pub url: String,
    pub client: reqwest::Client,
    task: JoinHandle<()>,
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Adapter {
    pub async fn start<S: MetricsStore + 'static>(
        registry: Arc<Registry>,
        store: S,
        query_timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_with_objects(registry, store, query_timeout, None).await
    }

    /// As [`Adapter::start`], resolving `labelSelector` with `objects`.
    pub async fn start_with_objects<S: MetricsStore + 'static>(
        registry: Arc<Registry>,
        store: S,
        query_timeout: Duration,
        objects: Option<ObjectIndex>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut provider = Provider::new(registry, Arc::new(store));
        if let Some(objects) = objects {
            provider = provider.with_objects(objects);
        }
        Self::start_provider(provider, query_timeout).await
    }

    /// `provider` answering as the adapter does ([`dispatch`]: plain custom-metrics value
    /// paths straight, the rest through the router).
    pub async fn start_provider<S: MetricsStore + 'static>(
        provider: Provider<S>,
        query_timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let server = Arc::new(Server::new(provider, query_timeout));
        let routes = router(Arc::clone(&server));
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (server, routes) = (Arc::clone(&server), routes.clone());
            async move { dispatch(&server, &routes, request).await }
        });
        Self::serve(app).await
    }

    /// The router alone over `store` (no straight answers), to compare with [`dispatch`].
    pub async fn start_router_only<S: MetricsStore + 'static>(
        registry: Arc<Registry>,
        store: S,
        query_timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let provider = Provider::new(registry, Arc::new(store));
        Self::serve(router(Arc::new(Server::new(provider, query_timeout)))).await
    }

    /// Serves `app` on a loopback port.
    async fn serve(app: axum::Router) -> Result<Self, Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("adapter stopped: {error}");
            }
        });
        // reqwest is built without a TLS provider of its own; it fails only if one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Adapter { url, client, task })
    }

    /// GETs `path`, returning the HTTP status and the JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, Value), Box<dyn std::error::Error>> {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    /// GETs `path` expecting a `Status` with `code`; returns its message.
    pub async fn status(
        &self,
        path: &str,
        code: u16,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let (status, body) = self.get(path).await?;
        assert_eq!(status, code, "{path}: {body}");
        assert_eq!(body["kind"], "Status", "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        Ok(body["message"].as_str().unwrap_or_default().to_owned())
    }
}

/// The resource names (`pods/http_requests_per_second`, …) of a discovery `APIResourceList`.
pub fn resource_names(list: &Value) -> Vec<&str> {
    list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect()
}

/// (name, namespace, value) of each item of a custom-metrics answer, sorted by name.
pub fn values(body: &Value) -> Vec<(String, String, f64)> {
    let mut values: Vec<(String, String, f64)> = body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let object = &item["describedObject"];
            let value = item["value"].as_str().unwrap_or_default();
            (
                object["name"].as_str().unwrap_or_default().to_owned(),
                object["namespace"].as_str().unwrap_or_default().to_owned(),
                parse_quantity(value),
            )
        })
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values
}

/// Reads `3`, `1500m` or `2500u` as a number (the forms a rate answer can take).
fn parse_quantity(text: &str) -> f64 {
    let (number, scale) = match text.chars().last() {
        Some('m') => (&text[..text.len() - 1], 1e-3),
        Some('u') => (&text[..text.len() - 1], 1e-6),
        Some('n') => (&text[..text.len() - 1], 1e-9),
        Some('k') => (&text[..text.len() - 1], 1e3),
        _ => (text, 1.0),
    };
    number.parse::<f64>().map(|n| n * scale).unwrap_or(f64::NAN)
}

pub fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected * 0.01
}
