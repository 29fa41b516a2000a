//! The adapter's answers when the store fails: unreachable (503), garbage (502), silent past
//! the query timeout (504), for known metrics and for the lookup of unknown ones, and never
//! relisted (not ready, nothing served).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Adapter, TestResult, V2, bounded, config, recent_series, relisted};
use metrics_adapter::registry::Registry;
use metrics_store::{HttpStore, StoreConfig};
use test_support::fault::{Behaviour, FaultyStore};
use test_support::{PrometheusServer, or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_become_503_502_504() -> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let registry = relisted(&HttpStore::new(StoreConfig::new(prometheus.url()))?).await?;
        let path = format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second");

        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}", listener.local_addr()?)
        };
        let down = HttpStore::new(StoreConfig::new(closed))?;
        let adapter = Adapter::start(Arc::clone(&registry), down, Duration::from_secs(5)).await?;
        let message = adapter.status(&path, 503).await?;
        assert!(message.contains("unavailable"), "{message}");
        assert_eq!(
            adapter.get("/readyz").await?.0,
            200,
            "probes never ask the store"
        );
        // A metric not known yet is looked up; the lookup fails as the query would: the store
        // is down, which says more than "no such metric".
        let unknown = format!("{V2}/namespaces/ns1/pods/*/jobs_failed_per_second");
        let message = adapter.status(&unknown, 503).await?;
        assert!(message.contains("unavailable"), "{message}");

        let garbage = FaultyStore::start(Behaviour::Answer {
            status: 200,
            body: "<html>not a Prometheus answer</html>".to_owned(),
        })
        .await?;
        let store = HttpStore::new(StoreConfig::new(garbage.url()))?;
        let adapter = Adapter::start(Arc::clone(&registry), store, Duration::from_secs(5)).await?;
        adapter.status(&path, 502).await?;
        // (Another unknown name: the registry, shared with the adapter over the store that
        // was down, remembers that lookup's failure for a while.)
        let unknown = format!("{V2}/namespaces/ns1/pods/*/jobs_retried_per_second");
        adapter.status(&unknown, 502).await?;
        // The failed lookup is answered again for a while, not asked again of a store in trouble.
        let asked = garbage.requests().len();
        adapter.status(&unknown, 502).await?;
        assert_eq!(garbage.requests().len(), asked, "{:?}", garbage.requests());

        let silent = FaultyStore::start(Behaviour::Silent).await?;
        let store = HttpStore::new(StoreConfig::new(silent.url()))?;
        let adapter = Adapter::start(registry, store, Duration::from_millis(500)).await?;
        let started = std::time::Instant::now();
        let message = adapter.status(&path, 504).await?;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(message.contains("did not answer"), "{message}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn not_ready_before_the_first_relist() -> TestResult {
    bounded(async {
        let registry = Arc::new(Registry::new(Arc::new(config()?), Duration::from_secs(30)));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}", listener.local_addr()?)
        };
        let store = HttpStore::new(StoreConfig::new(closed))?;
        assert!(
            registry
                .relist(&store, Duration::from_secs(2))
                .await
                .is_err()
        );
        let adapter = Adapter::start(registry, store, Duration::from_secs(5)).await?;
        adapter.status("/readyz", 503).await?;
        assert_eq!(adapter.get("/healthz").await?.0, 200);
        // Nothing is known, and the lookup of the metric cannot reach the store either.
        let message = adapter
            .status(
                &format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second"),
                503,
            )
            .await?;
        assert!(message.contains("unavailable"), "{message}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_another_lookup_keeps_its_own_deadline() -> TestResult {
    bounded(async {
        let registry = Arc::new(Registry::new(Arc::new(config()?), Duration::from_secs(30)));
        let silent = FaultyStore::start(Behaviour::Silent).await?;
        let store = HttpStore::new(StoreConfig::new(silent.url()))?;
        let timeout = Duration::from_secs(1);
        let adapter = Adapter::start(registry, store, timeout).await?;
        // Lookups run one at a time: the second request waits for the first one's, which the
        // silent store holds until its deadline. It still answers within its own deadline
        // (plus scheduling), not after the first lookup and then its own.
        let (a, b) = (
            format!("{V2}/namespaces/ns1/pods/*/a_per_second"),
            format!("{V2}/namespaces/ns1/pods/*/b_per_second"),
        );
        let started = std::time::Instant::now();
        let (first, second) = tokio::join!(adapter.status(&a, 504), adapter.status(&b, 504));
        first?;
        second?;
        assert!(
            started.elapsed() < timeout.mul_f64(1.7),
            "both answered within about one deadline: {:?}",
            started.elapsed()
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_resumes_when_the_store_comes_back() -> TestResult {
    bounded(async {
        let Some(prometheus) = or_skip(PrometheusServer::with_series(recent_series()?).await)?
        else {
            return Ok(());
        };
        let registry = relisted(&HttpStore::new(StoreConfig::new(prometheus.url()))?).await?;
        // The store's address, with nothing listening on it yet.
        let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let store = HttpStore::new(StoreConfig::new(format!("http://{address}")))?;
        let adapter = Adapter::start(registry, store, Duration::from_secs(5)).await?;
        let path = format!("{V2}/namespaces/ns1/pods/*/http_requests_per_second");
        adapter.status(&path, 503).await?;

        // The store comes back at the same address (a forwarder to the real Prometheus).
        let listener = tokio::net::TcpListener::bind(address).await?;
        let upstream = prometheus.url().trim_start_matches("http://").to_owned();
        let forwarder = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        let (status, body) = adapter.get(&path).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(common::values(&body).len(), 2, "{body}");
        forwarder.abort();
        Ok(())
    })
    .await
}
