//! Connections that send nothing, or their headers too slowly, are closed after the header
//! read timeout (k8s.io/apiserver's `ReadHeaderTimeout`), so they cannot hold the adapter's
//! connections and file descriptors for ever; a client that sends its request is served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_adapter::options::Options;
use metrics_adapter::serve::Adapter;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use test_support::pki::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The header read timeout the adapter is started with here (32 s in the binary).
const TIMEOUT: Duration = Duration::from_secs(1);

/// A TLS connection to the adapter at `port` on 127.0.0.1, trusting `ca`, presenting no
/// certificate.
async fn connect(
    port: u16,
    ca: &TestCa,
) -> Result<TlsStream<TcpStream>, Box<dyn std::error::Error>> {
    connect_to(IpAddr::from([127, 0, 0, 1]), port, ca).await
}

/// As [`connect`], to `ip`.
async fn connect_to(
    ip: IpAddr,
    port: u16,
    ca: &TestCa,
) -> Result<TlsStream<TcpStream>, Box<dyn std::error::Error>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca.cert_path())?)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect((ip, port)).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// How long until the server closes `stream` (reads until end of stream or an error).
async fn closed_after(stream: &mut TlsStream<TcpStream>, started: Instant) -> Duration {
    let mut buffer = [0_u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_a_prompt_one_is_served() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = tempfile::tempdir()?;
        let server = TestCa::new(dir.path(), "server")?;
        let serving = server.server_cert("serving")?;
        let closed_store = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}", listener.local_addr()?)
        };
        let options = Options::try_parse_from([
            "sextant-adapter".to_owned(),
            "--secure-port=0".to_owned(),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--tls-cert-file={}", serving.cert_path.display()),
            format!("--tls-private-key-file={}", serving.key_path.display()),
            format!("--prometheus-url={closed_store}"),
            "--authorization-always-allow".to_owned(),
        ])?;
        let adapter = Adapter::start_with(&options, None)
            .await?
            .with_header_read_timeout(TIMEOUT);
        let port = adapter.local_addr()?.port();
        let task = tokio::spawn(adapter.serve(std::future::pending()));

        // Connected, then nothing sent.
        let mut idle = connect(port, &server).await?;
        let idle_for = closed_after(&mut idle, Instant::now()).await;

        // Headers begun but never finished.
        let mut slow = connect(port, &server).await?;
        let started = Instant::now();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\n")
            .await?;
        slow.flush().await?;
        let slow_for = closed_after(&mut slow, started).await;

        for (what, after) in [("idle", idle_for), ("slow", slow_for)] {
            assert!(
                after >= TIMEOUT.mul_f64(0.9) && after < TIMEOUT * 5,
                "the {what} connection was closed after {after:?}"
            );
        }

        // A request sent at once is answered.
        let mut prompt = connect(port, &server).await?;
        prompt
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        prompt.read_to_string(&mut answer).await.ok();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        task.abort();
        Ok(())
    })
    .await?
}

/// The answer to `GET /healthz` over a new connection to `ip`.
async fn healthz(ip: IpAddr, port: u16, ca: &TestCa) -> Result<String, Box<dyn std::error::Error>> {
    let mut stream = connect_to(ip, port, ca).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok();
    Ok(answer)
}

#[tokio::test]
async fn the_default_bind_address_serves_ipv4_and_ipv6_alike() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = TestCa::new(dir.path(), "server")?;
    let serving = server.server_cert("serving")?;
    let start = |bind: Option<&str>| {
        let mut args = vec![
            "sextant-adapter".to_owned(),
            "--secure-port=0".to_owned(),
            format!("--tls-cert-file={}", serving.cert_path.display()),
            format!("--tls-private-key-file={}", serving.key_path.display()),
            "--prometheus-url=http://127.0.0.1:1".to_owned(),
            "--authorization-always-allow".to_owned(),
        ];
        args.extend(bind.map(|address| format!("--bind-address={address}")));
        Options::try_parse_from(args)
    };
    let ipv4 = IpAddr::from([127, 0, 0, 1]);
    let ipv6 = IpAddr::from(Ipv6Addr::LOCALHOST);
    if std::net::TcpListener::bind((ipv6, 0)).is_err() {
        eprintln!("skipped: this host has no IPv6 loopback (::1) to connect from");
        return Ok(());
    }

    // No --bind-address (0.0.0.0), and `::`: both families, as k8s.io/apiserver listens.
    for bind in [None, Some("::")] {
        let adapter = Adapter::start_with(&start(bind)?, None).await?;
        let port = adapter.local_addr()?.port();
        let task = tokio::spawn(adapter.serve(std::future::pending()));
        for ip in [ipv4, ipv6] {
            let answer = healthz(ip, port, &server).await?;
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "{bind:?} via {ip}: {answer}"
            );
        }
        task.abort();
    }

    // A specific address: that one only.
    let adapter = Adapter::start_with(&start(Some("127.0.0.1"))?, None).await?;
    let port = adapter.local_addr()?.port();
    let task = tokio::spawn(adapter.serve(std::future::pending()));
    assert!(
        healthz(ipv4, port, &server)
            .await?
            .starts_with("HTTP/1.1 200")
    );
    assert!(healthz(ipv6, port, &server).await.is_err(), "not on ::1");
    task.abort();
    Ok(())
}
