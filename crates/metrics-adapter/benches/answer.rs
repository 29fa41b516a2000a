//! The adapter's own work per answer, without network, TLS or store: the adapter (its
//! dispatch: a plain custom-metrics path answered straight, anything else by the router) asked
//! `GET …/namespaces/ns7/pods/*/http_requests_per_second` in process over a store that hands
//! back Prometheus's JSON answer for 100 pods at once. What is timed is routing, parsing the
//! request, looking the metric up, rendering the query, reading Prometheus's answer as the
//! store client does ([`metrics_store::read_instant_answer`]), building the 100 values,
//! serializing the 20 KB `MetricValueList` and reading the body. Not timed: TLS,
//! authentication and the store's HTTP call, which the `adapter` bench measures whole. This is
//! the part of the adapter's latency over the `adapter` bench's floor that the adapter's own
//! code decides.
//!
//! Run: `cargo bench -p metrics-adapter --bench answer` (criterion's report, then the mean of a
//! plain loop of `ANSWER_ROUNDS` answers, 20,000 unless set, then the mean of
//! `ANSWER_COLD_ROUNDS` answers, a tenth as many unless set, each after 64 MiB of memory was
//! swept, so code and data come from memory as on the real path). Timings on this shared 2-core VM move by a fifth from run to run;
//! `bash crates/metrics-adapter/benches/answer-instructions.sh` counts the instructions per
//! answer instead (valgrind), exactly and repeatably, and `answer-footprint.sh` the cache lines
//! a cold answer brings in from memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use criterion::Criterion;
use jiff::Timestamp;
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::provider::Provider;
use metrics_adapter::registry::Registry;
use metrics_adapter::server::{DEFAULT_QUERY_TIMEOUT, Server, dispatch, router};
use metrics_store::{KeyedSamples, Labels, MetricsStore, RangeSeries, Sample, TimeRange};

const PATH: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns7/pods/*/http_requests_per_second";

const PODS: usize = 100;

/// A store whose only series is `http_requests_total{namespace, pod}` and whose every instant
/// query is answered with Prometheus's JSON for one sample per pod of `ns7`, as Prometheus
/// answers the rate query, read anew each time as the store client reads it (keyed by `pod`, as the provider asks).
struct Canned {
    body: Vec<u8>,
}

impl Canned {
    fn new() -> Self {
        let result: Vec<String> = (0..PODS)
            .map(|i| {
                format!(
                    r#"{{"metric":{{"pod":"pod-{i}"}},"value":[1795000000.123,"{}"]}}"#,
                    0.5 * (1 + i % 20) as f64
                )
            })
            .collect();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            result.join(",")
        );
        Canned {
            body: body.into_bytes(),
        }
    }
}

impl MetricsStore for Canned {
    fn series(
        &self,
        _matchers: &[String],
        _range: TimeRange,
        _deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<Labels>>> + Send {
        let series = BTreeMap::from([
            ("__name__".to_owned(), "http_requests_total".to_owned()),
            ("namespace".to_owned(), "ns7".to_owned()),
            ("pod".to_owned(), "pod-0".to_owned()),
        ]);
        std::future::ready(Ok(vec![series]))
    }

    fn instant_query(
        &self,
        _query: &str,
        _at: Option<Timestamp>,
        _deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<Sample>>> + Send {
        std::future::ready(metrics_store::read_instant_answer(&self.body))
    }

    fn instant_query_by(
        &self,
        _query: &str,
        label: &str,
        _at: Option<Timestamp>,
        _deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Arc<KeyedSamples>>> + Send {
        std::future::ready(metrics_store::read_instant_answer_by(&self.body, label).map(Arc::new))
    }

    fn range_query(
        &self,
        _query: &str,
        _range: TimeRange,
        _step: Duration,
        _deadline: Duration,
    ) -> impl Future<Output = metrics_store::Result<Vec<RangeSeries>>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
}

/// The adapter's answering: the server and its router, as `serve` dispatches to them.
struct App {
    server: Arc<Server<Canned>>,
    router: axum::Router,
}

/// One request answered as the adapter answers it ([`dispatch`]); the body's length.
async fn answer(app: &mut App) -> usize {
    let request = Request::get(PATH)
        .body(Body::empty())
        .unwrap_or_else(|_| Request::new(Body::empty()));
    let response = dispatch(&app.server, &app.router, request).await;
    assert!(response.status().is_success(), "{}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_or(0, |body| body.len())
}

/// Twice this machine's last-level cache (32 MiB): swept between two cold answers.
const SWEEP_BYTES: usize = 64 << 20;

/// One answer, not inlined, so `answer-footprint.sh` can count the misses inside it alone.
#[inline(never)]
fn cold_answer(runtime: &tokio::runtime::Runtime, app: &mut App) -> usize {
    runtime.block_on(answer(app))
}

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The router over the canned store, its catalog relisted from it.
fn setup() -> BenchResult<(tokio::runtime::Runtime, App)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = Arc::new(Canned::new());
    let registry = Arc::new(Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    ));
    runtime.block_on(registry.relist(&*store, DEFAULT_QUERY_TIMEOUT))?;
    let provider = Provider::new(registry, Arc::clone(&store));
    Ok((runtime, {
        let server = Arc::new(Server::new(provider, DEFAULT_QUERY_TIMEOUT));
        App {
            router: router(Arc::clone(&server)),
            server,
        }
    }))
}

fn main() -> BenchResult {
    let (runtime, mut app) = setup()?;
    let bytes = runtime.block_on(answer(&mut app));
    println!("one answer: {PODS} values, {bytes} bytes of JSON");

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("router answer, 100 pods", |b| {
        b.iter(|| black_box(runtime.block_on(answer(&mut app))));
    });
    criterion.final_summary();

    let rounds: u32 = std::env::var("ANSWER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(runtime.block_on(answer(&mut app)));
    }
    println!(
        "the adapter's own work per answer of {PODS} pods (plain loop of {rounds}): {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
    // The same answers each after a sweep of more memory than the last-level cache holds, as
    // on the adapter bench's real path, where Prometheus and the client run between two
    // answers and the adapter's code and data come back from memory.
    let cold_rounds: u32 = std::env::var("ANSWER_COLD_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(rounds / 10);
    if cold_rounds == 0 {
        return Ok(());
    }
    let mut sweep = vec![0u8; SWEEP_BYTES];
    let mut cold = Duration::ZERO;
    for round in 0..cold_rounds {
        for line in sweep.chunks_mut(64) {
            line[0] = line[0].wrapping_add(round as u8);
        }
        black_box(&sweep);
        let started = Instant::now();
        black_box(cold_answer(&runtime, &mut app));
        cold += started.elapsed();
    }
    println!(
        "the same, each after the caches were swept (loop of {cold_rounds}): {:.1} µs",
        cold.as_secs_f64() * 1e6 / f64::from(cold_rounds)
    );
    Ok(())
}
