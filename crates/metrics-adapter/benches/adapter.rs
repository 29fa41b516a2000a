//! The adapter against a real Prometheus, for the figures its issue asks for: added latency,
//! throughput over TLS, and discovery time and memory at 100,000 series.
//!
//! **Latency** — one Prometheus (test-support, backfilled with `promtool`) holds
//! `http_requests_total{namespace="ns0".."ns99",pod="pod-0".."pod-99"}`, a sample every 15 s
//! from ten minutes ago to four minutes ahead (so `rate(…[2m])` stays complete while the bench
//! runs). Four ways to the same per-pod request rates of namespace `ns7`, each timed from send to
//! decoded answer:
//!
//! - *direct*: `POST /api/v1/query` to Prometheus with the form body the adapter's store client
//!   sends (`query` — the PromQL the provider renders, computed here with the same catalog entry
//!   and [`metrics_adapter::Rule::object_query`] — and `timeout=10000ms`), over a keep-alive
//!   reqwest client, then the JSON decoded into labels and a parsed value per sample (what the
//!   adapter's store client does with the same answer);
//! - *adapter*: `GET /apis/custom.metrics.k8s.io/v1beta2/namespaces/ns7/pods/*/http_requests_per_second`
//!   over HTTPS with keep-alive and a client certificate (`--client-ca-file`), then the
//!   `MetricValueList` decoded into pod names and quantities. The adapter runs in this process
//!   ([`metrics_adapter::serve::Adapter::start_with`], default rules, the binary's `info` log subscriber) on the same
//!   2-thread runtime as the client, and its store call is exactly the direct call above.
//!
//! SubjectAccessReview is excluded (`--authorization-always-allow`): its decisions are cached
//! per user and attributes for 10 s, so in a steady stream of identical requests it costs one
//! API call per 10 s, which would measure the Kubernetes API server, not the adapter.
//! - *floors*: the same `GET` over HTTPS to two bare proxies ([`floor`]: hyper and rustls as
//!   the adapter uses them, no routing, authentication or rules) that make the direct call and
//!   read Prometheus's whole answer; one replies with the `MetricValueList` the adapter answered
//!   before, the other decodes Prometheus's answer and writes the list by hand (the work no
//!   adapter can skip, as cheap as it gets; checked to answer the adapter's pods, values and
//!   length). Decoded as the adapter's. They show how much of the ratio is the design's (a
//!   second hop, TLS, a 20 KB answer) and how much the adapter's own code.
//!
//! Both answers are checked to name the same 100 pods with equal values (the adapter's value is
//! the store's rounded up to a milli-unit, so the direct value is compared after the same
//! rounding) before anything is timed. Then 2,000 sequential requests to each after 200 warm-up
//! requests each, in blocks of 100 whose order rotates (each way leads a quarter of the rounds)
//! so drift in Prometheus or the machine hits all four alike.
//!
//! **Throughput** — K clients (K = 8, 32), each its own keep-alive connection, issue the request
//! back to back for 10 s after one untimed request each (the TLS handshake); completed 200
//! answers per second and errors are printed, the body read but not decoded. The same for direct
//! Prometheus at the same K, for context. The load generator shares the two cores with the
//! adapter and Prometheus. Whether concurrent identical requests share one store query depends
//! on the adapter being measured (coalescing is being added separately); the bench does not
//! assume either way but prints Prometheus's own count of `/api/v1/query` calls per adapter
//! answer (`prometheus_http_requests_total` from its `/metrics`): 1.00 means no coalescing.
//!
//! **Discovery** — a second Prometheus with 100,000 series: 10 metric names (5 counters
//! `*_total`, 5 gauges) × 100 namespaces × 100 pods, labelled `namespace`, `pod`, `job` and
//! `instance`, two samples each in the last five minutes. (a)
//! [`metrics_adapter::registry::Registry::relist`] in process with the default rules (two
//! `/api/v1/series` calls of 50,000 series each, made at once), min and median of 5 runs, then
//! one relist split into its stages. (b) the `sextant-adapter` binary started
//! against it three times; once its discovery document lists every (resource, metric) pair,
//! `VmRSS` and `VmHWM` (peak) are read from `/proc/<pid>/status`. The target is judged on the
//! highest peak: which worker thread, hence which malloc arena, each rule's relist runs on
//! varies from start to start, and so does the peak.
//!
//! **Selection** — a third Prometheus with one namespace of 5,000 pods, each with a request
//! counter, and the fake API server listing those pods with labels such that `first5=yes`,
//! `first10=yes`, `first100=yes`, `first1000=yes` and `app=web` select 5, 10, 100, 1,000 and
//! 5,000 of them (up to `ALTERNATION_LIMIT`, 8, pods are named in the query; the constant-text
//! target is judged from 10 on). The
//! provider (in process, label cache fed by the fake API's watch) answers each selector; the
//! text of the query the store received is recorded, next to the length a `pod=~"a|b|…"`
//! alternation of the same pods would have, and the answer's p50 over 50 requests.
//!
//! Run: `cargo bench -p metrics-adapter --bench adapter` (about two minutes, needs `prometheus`
//! and `promtool` from the Debian package `prometheus`). Built with the workspace's `bench`
//! profile: fat LTO and one codegen unit, the settings of the `production` profile the images
//! are built with, so the adapter measured is the adapter shipped (linking takes minutes).

#[path = "adapter/discovery.rs"]
mod discovery;
#[path = "adapter/floor.rs"]
mod floor;
#[path = "adapter/selection.rs"]
mod selection;
#[path = "adapter/serving.rs"]
mod serving;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use test_support::pki::{IssuedCert, TestCa};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BenchResult<T = ()> = Result<T, BoxError>;

const NAMESPACES: usize = 100;

const PODS: usize = 100;
/// The store deadline the adapter sends with every query (`--query-timeout` default).
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The PASS/FAIL lines, repeated as a summary at the end.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn judge(&mut self, what: &str, value: String, target: &str, pass: bool) {
        let verdict = if pass { "PASS" } else { "FAIL" };
        let line = format!("{what}: {value} (target {target}) → {verdict}");
        println!("{line}");
        self.0.push(line);
    }
}

fn now_millis() -> BenchResult<i64> {
    Ok(i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis(),
    )?)
}

/// The adapter's serving certificate and a client certificate from `--client-ca-file`.
struct Pki {
    dir: tempfile::TempDir,
    server_ca: TestCa,
    serving: IssuedCert,
    clients: TestCa,
    user: IssuedCert,
}

impl Pki {
    fn new() -> BenchResult<Self> {
        let dir = tempfile::tempdir()?;
        let server_ca = TestCa::new(dir.path(), "server")?;
        let serving = server_ca.server_cert("serving")?;
        let clients = TestCa::new(dir.path(), "clients")?;
        let user = clients.client_cert("bench", &["bench"])?;
        Ok(Pki {
            dir,
            server_ca,
            serving,
            clients,
            user,
        })
    }

    /// The adapter's flags: HTTPS on `port`, this PKI, default rules, no SubjectAccessReview.
    fn flags(&self, port: u16, prometheus: &str) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        vec![
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--tls-cert-file={}", path(&self.serving.cert_path)),
            format!("--tls-private-key-file={}", path(&self.serving.key_path)),
            format!("--client-ca-file={}", path(self.clients.cert_path())),
            "--authorization-always-allow".to_owned(),
            format!("--prometheus-url={prometheus}"),
        ]
    }

    /// A keep-alive HTTPS client trusting the adapter and presenting the user's certificate.
    fn client(&self) -> BenchResult<reqwest::Client> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.server_ca.cert_path())?)?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            CertificateDer::pem_file_iter(&self.user.cert_path)?.collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(&self.user.key_path)?,
        )?;
        Ok(client_builder().tls_backend_preconfigured(config).build()?)
    }
}

/// What both clients share: keep-alive, no Nagle, HTTP/1.1, no redirects.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A loopback port that was free a moment ago.
fn free_port() -> BenchResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn main() -> BenchResult {
    // As `main.rs` does: the binary serves with an `info` log subscriber (to stderr).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // reqwest is built without a TLS provider of its own; installing fails only if one is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("sextant-adapter benchmark — cargo bench -p metrics-adapter --bench adapter");
    println!(
        "machine: {cores} cores (tokio multi-thread runtime, {cores} workers, shared by the \
         client, the in-process adapter; Prometheus runs beside them)"
    );
    let wall = Instant::now();
    let mut report = Report::default();
    runtime.block_on(async {
        let pki = Pki::new()?;
        serving::serving(&pki, &mut report).await?;
        selection::selection(&mut report).await?;
        discovery::discovery(&pki, &mut report).await
    })?;
    println!(
        "\nsummary ({:.0} s wall time):",
        wall.elapsed().as_secs_f64()
    );
    for line in &report.0 {
        println!("  {line}");
    }
    Ok(())
}
