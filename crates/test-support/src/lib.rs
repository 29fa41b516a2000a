//! Test support for Sextant's tests and benchmarks. Real metric stores: a Prometheus or VictoriaMetrics
//! server from the Debian packages, started on a free loopback port with a temporary data
//! directory, loaded with known series, and stopped when dropped.
//!
//! [`kube_api::FakeApi`] stands in for the one part that cannot run here, the Kubernetes API
//! server. Tests never fake the store. Where the store's binary is missing, [`or_skip`] lets a local
//! run skip with a message naming the package, while under CI (`CI` set) the test fails.

mod error;
pub mod fault;
pub mod kube_api;
pub mod pki;
mod process;
mod prometheus;
mod query;
mod series;
mod victoria;

pub use error::{Error, Result};
pub use prometheus::{PrometheusConfig, PrometheusServer};
pub use query::{Sample, instant_query};
pub use series::{Series, openmetrics, prometheus_text};
pub use victoria::VictoriaMetricsServer;

/// An HTTP client for the harness's own calls.
///
/// reqwest is built without a TLS provider of its own (the production client brings a
/// preconfigured rustls), so the harness installs ring as the process default first.
pub(crate) fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client> {
    // Fails only when a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder().timeout(timeout).build()?)
}

/// Turns a missing store binary into a skip on a developer machine and a failure in CI.
///
/// Returns `Ok(None)` (after printing why) when the binary is missing and `CI` is unset, so a
/// test can `return` early; every other error, and a missing binary under CI, is passed on.
pub fn or_skip<T>(started: Result<T>) -> Result<Option<T>> {
    match started {
        Err(Error::Missing { binary, package }) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping: `{binary}` is not installed; install the Debian package `{package}` (apt-get install -y {package})"
            );
            Ok(None)
        }
        other => other.map(Some),
    }
}
