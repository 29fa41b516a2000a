//! The serving certificate renewed under a running adapter, as cert-manager renews it and the
//! kubelet rewrites the mounted Secret: new connections get the renewed certificate within two
//! poll intervals, without a restart, and a half-written pair (the key before its certificate)
//! is never served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::https;
use metrics_adapter::serving_cert::CERT_POLL_INTERVAL;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use test_support::pki::TestCa;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Whether a new connection trusting only `ca` gets `/healthz` answered (the handshake
/// verifies the certificate the adapter serves now).
async fn trusted_by(url: &str, ca: &TestCa) -> bool {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.cert_path()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    match client.get(format!("{url}/healthz")).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_renewed_serving_certificate_is_served_without_a_restart() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let flags = ["--authorization-always-allow".to_owned()];
        let setup = https::start(tempfile::tempdir()?, None, &flags).await?;
        // The files the adapter was started with (`--tls-cert-file`, `--tls-private-key-file`).
        let (cert_file, key_file) = (
            setup.dir.path().join("serving.pem"),
            setup.dir.path().join("serving-key.pem"),
        );
        let renewal_ca = setup.ca("renewal");
        let renewed = renewal_ca.server_cert("renewed")?;
        assert!(trusted_by(&setup.url, &setup.server).await);
        assert!(!trusted_by(&setup.url, &renewal_ca).await);

        // The key alone: it does not fit the certificate, so the old pair keeps serving.
        std::fs::copy(&renewed.key_path, &key_file)?;
        tokio::time::sleep(2 * CERT_POLL_INTERVAL + Duration::from_secs(1)).await;
        assert!(trusted_by(&setup.url, &setup.server).await);
        assert!(!trusted_by(&setup.url, &renewal_ca).await);

        // Its certificate follows: new connections get the renewed pair.
        std::fs::copy(&renewed.cert_path, &cert_file)?;
        let deadline = Instant::now() + 3 * CERT_POLL_INTERVAL;
        while !trusted_by(&setup.url, &renewal_ca).await {
            assert!(
                Instant::now() < deadline,
                "the renewed certificate is not served after {:?}",
                3 * CERT_POLL_INTERVAL
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!trusted_by(&setup.url, &setup.server).await);
        Ok(())
    })
    .await?
}
