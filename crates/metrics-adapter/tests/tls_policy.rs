//! `--tls-min-version` and `--tls-cipher-suites` over real HTTPS: clients limited to what the
//! flags leave out fail the handshake, clients offering what they allow are answered.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::https::{self, Setup};
use rustls::{CipherSuite, SupportedProtocolVersion};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A client trusting the adapter's CA that speaks only `versions` and offers only `suites`
/// (all of rustls's when empty).
fn limited_client(
    setup: &Setup,
    versions: &[&'static SupportedProtocolVersion],
    suites: &[CipherSuite],
) -> reqwest::Client {
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider
            .cipher_suites
            .retain(|suite| suites.contains(&suite.suite()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(setup.roots())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Whether `client` gets `/healthz` answered 200; `false` when the request fails (handshake).
async fn answered(setup: &Setup, client: &reqwest::Client) -> bool {
    match client.get(format!("{}/healthz", setup.url)).send().await {
        Ok(response) => response.status() == 200,
        Err(_) => false,
    }
}

async fn start(flags: &[&str]) -> Result<Setup, Box<dyn std::error::Error>> {
    let mut all = vec!["--authorization-always-allow".to_owned()];
    all.extend(flags.iter().map(|flag| (*flag).to_owned()));
    https::start(tempfile::tempdir()?, None, &all).await
}

#[tokio::test]
async fn tls_min_version_13_refuses_tls12_clients() -> TestResult {
    let tls12 = [&rustls::version::TLS12];
    let tls13 = [&rustls::version::TLS13];
    let default = start(&[]).await?;
    assert!(answered(&default, &limited_client(&default, &tls12, &[])).await);

    let strict = start(&["--tls-min-version=VersionTLS13"]).await?;
    assert!(!answered(&strict, &limited_client(&strict, &tls12, &[])).await);
    assert!(answered(&strict, &limited_client(&strict, &tls13, &[])).await);
    Ok(())
}

#[tokio::test]
async fn tls_cipher_suites_limit_what_tls12_clients_may_use() -> TestResult {
    // The test PKI's serving key is ECDSA, so the ECDHE_ECDSA suites are the ones that apply.
    let tls12 = [&rustls::version::TLS12];
    let listed = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384;
    let unlisted = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    let setup = start(&[
        "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA",
    ])
    .await?;
    assert!(answered(&setup, &limited_client(&setup, &tls12, &[listed])).await);
    assert!(!answered(&setup, &limited_client(&setup, &tls12, &[unlisted])).await);
    // TLS 1.3 is not restricted by the list, as in Go.
    let tls13 = [&rustls::version::TLS13];
    assert!(answered(&setup, &limited_client(&setup, &tls13, &[])).await);

    let unlimited = start(&[]).await?;
    assert!(answered(&unlimited, &limited_client(&unlimited, &tls12, &[unlisted])).await);
    Ok(())
}

#[tokio::test]
async fn an_unknown_cipher_suite_stops_the_start_naming_it() -> TestResult {
    let Err(error) = start(&["--tls-cipher-suites=TLS_NOT_A_SUITE"]).await else {
        panic!("started with an unknown cipher suite");
    };
    let message = error.to_string();
    assert!(
        message.contains("--tls-cipher-suites") && message.contains("TLS_NOT_A_SUITE"),
        "{message}"
    );
    Ok(())
}
