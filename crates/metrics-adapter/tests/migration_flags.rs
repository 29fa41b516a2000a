//! The binary started with the arguments prometheus-adapter's Helm chart gives it (`/adapter`
//! first, then `--cert-dir`, `--v=4`, `--logtostderr`, `--metrics-relist-interval`,
//! `--config`): it serves HTTPS with the certificate it wrote to the directory and logs its own
//! debug lines (and no library's). Flags it does not support stop it with a message naming them.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::https;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The rules file of a typical chart values.yaml.
const RULES: &str = r#"rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: "namespace"}
      pod: {resource: "pod"}
  name:
    matches: "^(.*)_total"
    as: "${1}_per_second"
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
"#;

/// The binary with `args`, no Kubernetes connection, its stderr into `stderr`.
fn spawn(args: &[String], stderr: &std::path::Path, home: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_helm_chart_command_line_serves_with_the_cert_dir_and_debug_logs() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("config.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let (certs, stderr) = (dir.path().join("cert"), dir.path().join("stderr"));
    let port = free_port();
    let args = [
        "/adapter".to_owned(),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--cert-dir={}", certs.display()),
        format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
        "--metrics-relist-interval=1m".to_owned(),
        "--v=4".to_owned(),
        "--logtostderr=true".to_owned(),
        format!("--config={}", rules.display()),
        "--authorization-always-allow".to_owned(),
    ];
    let mut child = spawn(&args, &stderr, dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "exited {status}: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the adapter never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(certs.join("apiserver.crt")).unwrap())
        .unwrap();
    let answer = https::client_trusting(roots, None)
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    // The first relist fails against the closed store port; at --v=4 that is logged at debug.
    let own_debug = |line: &str| line.contains("DEBUG") && line.contains("metrics_adapter");
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let logs = std::fs::read_to_string(&stderr).unwrap();
        if logs.lines().any(own_debug) || Instant::now() > deadline {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer.unwrap().status(), 200);
    assert!(
        logs.lines().any(own_debug),
        "--v=4 logs no debug line of its own:\n{logs}"
    );
    let library_debug = logs
        .lines()
        .filter(|line| line.contains("DEBUG") && !line.contains("metrics_"))
        .collect::<Vec<_>>();
    assert!(
        library_debug.is_empty(),
        "libraries log at debug: {library_debug:?}"
    );
    assert!(logs.contains("ignoring a leading command"), "{logs}");
}

#[test]
fn flags_it_does_not_support_stop_it_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr");
    for (flag, code) in [
        // Not known at all: a usage error, as any unknown flag.
        ("--audit-log-path=/tmp/audit", 2),
        // Known from prometheus-adapter, refused with what to use instead.
        ("--prometheus-auth-config=/etc/prometheus/kubeconfig", 1),
        // A stray argument other than the chart's leading /adapter.
        ("config.yaml", 1),
    ] {
        let args = [
            "--prometheus-url=http://127.0.0.1:1".to_owned(),
            "--authorization-always-allow".to_owned(),
            format!("--secure-port={}", free_port()),
            "--bind-address=127.0.0.1".to_owned(),
            flag.to_owned(),
        ];
        let mut child = spawn(&args, &stderr, dir.path());
        let status = child.wait().unwrap();
        let message = std::fs::read_to_string(&stderr).unwrap();
        let name = flag.split('=').next().unwrap();
        assert_eq!(status.code(), Some(code), "{flag}: {message}");
        assert!(message.contains(name), "{flag}: {message}");
    }
}
