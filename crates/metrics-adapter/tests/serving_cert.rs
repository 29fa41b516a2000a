//! The serving certificate renewed under a running adapter, as cert-manager renews it and the
//! kubelet rewrites the mounted Secret: new connections get the renewed certificate within three
//! poll intervals, without a restart, and a half-written pair (the key before its certificate)
//! is never served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::https;
use metrics_adapter::serving_cert::CERT_POLL_INTERVAL;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use test_support::pki::{IssuedCert, TestCa};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Whether the error, or one it wraps (as a source or inside an `io::Error`), is the client
/// refusing the server's certificate.
fn is_certificate_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    if matches!(
        error.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_))
    ) {
        return true;
    }
    let inside_io = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| is_certificate_refused(inner));
    inside_io || error.source().is_some_and(is_certificate_refused)
}

/// A client (new connections) trusting only `ca`, presenting `cert` if given.
fn client_trusting(ca: &TestCa, cert: Option<&IssuedCert>) -> reqwest::Client {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.cert_path()).unwrap())
        .unwrap();
    https::client_trusting(roots, cert)
}

/// Whether a new connection trusting only `ca` gets `/healthz` answered (the handshake
/// verifies the certificate the adapter serves now): `false` only when the client refuses the
/// certificate; any other failure (the adapter down, a timeout) fails the test.
async fn trusted_by(url: &str, ca: &TestCa) -> bool {
    match client_trusting(ca, None)
        .get(format!("{url}/healthz"))
        .send()
        .await
    {
        Ok(response) => {
            assert!(response.status().is_success(), "{}", response.status());
            true
        }
        Err(error) if is_certificate_refused(&error) => false,
        Err(error) => panic!("not a certificate refusal: {error:?}"),
    }
}

#[tokio::test]
async fn a_renewed_serving_certificate_is_served_without_a_restart() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let clients = TestCa::new(dir.path(), "clients")?;
        let flags = [
            "--authorization-always-allow".to_owned(),
            https::flag("client-ca-file", &clients),
        ];
        let setup = https::start(dir, None, &flags).await?;
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

        // `/metrics` counts the refused pair and the renewal, and shows when the certificate in
        // force expires.
        let operator = clients.client_cert("operator", &[])?;
        let text = client_trusting(&renewal_ca, Some(&operator))
            .get(format!("{}/metrics", setup.url))
            .send()
            .await?
            .text()
            .await?;
        for line in [
            r#"sextant_adapter_tls_reloads_total{file="ServingCertificate",outcome="Failure"} 1"#,
            r#"sextant_adapter_tls_reloads_total{file="ServingCertificate",outcome="Success"} 1"#,
            // rcgen's default end of validity, 4096-01-01T00:00:00Z.
            "sextant_adapter_serving_certificate_expiration_timestamp_seconds 67090118400",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in {text}");
        }
        Ok(())
    })
    .await?
}

/// An adapter started as prometheus-adapter's manifests start it: `--cert-dir`, no TLS files.
async fn start_in_cert_dir(
    certs: &std::path::Path,
) -> Result<(String, tokio::task::JoinHandle<()>), Box<dyn std::error::Error>> {
    use clap::Parser;
    let options = metrics_adapter::options::Options::try_parse_from([
        "sextant-adapter".to_owned(),
        "--secure-port=0".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        "--authorization-always-allow".to_owned(),
        "--prometheus-url=http://127.0.0.1:1".to_owned(),
        format!("--cert-dir={}", certs.display()),
    ])?;
    let adapter = metrics_adapter::serve::Adapter::start_with(&options, None).await?;
    let url = format!("https://127.0.0.1:{}", adapter.local_addr()?.port());
    Ok((url, tokio::spawn(adapter.serve(std::future::pending()))))
}

#[tokio::test]
async fn cert_dir_serves_the_pair_written_there_and_keeps_it_across_restarts() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let certs = dir.path().join("serving-cert");
        let (url, first) = start_in_cert_dir(&certs).await?;
        let written = std::fs::read(certs.join("apiserver.crt"))?;
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(&written)?)?;
        let client = https::client_trusting(roots, None);
        // The handshake verifies the served certificate against the one written to the dir.
        let status = client.get(format!("{url}/healthz")).send().await?.status();
        assert_eq!(status, 200);
        first.abort();

        // A restarted container finds the pair and serves the same certificate.
        let (url, second) = start_in_cert_dir(&certs).await?;
        assert_eq!(std::fs::read(certs.join("apiserver.crt"))?, written);
        let status = client.get(format!("{url}/healthz")).send().await?.status();
        assert_eq!(status, 200);
        second.abort();
        Ok(())
    })
    .await?
}
