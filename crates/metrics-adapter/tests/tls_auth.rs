//! The adapter over HTTPS with authentication: front-proxy certificates with request headers,
//! plain client certificates (and their CA file rotated under the running adapter), and every
//! way of being refused (401 `Status`); health probes without credentials; upgrades refused;
//! `kubectl get --raw` against the adapter directly; and the binary's refusal to start without
//! `--authorization-always-allow` or a Kubernetes configuration.
//!
//! The store is a closed port: discovery documents do not need it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::time::Duration;

use common::https::{self, unauthorized};
use serde_json::Value;
use test_support::PrometheusServer;
use test_support::pki::TestCa;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";
const FRONT_PROXY_CN: &str = "front-proxy-client";

async fn bounded(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), body).await?
}

/// A running adapter (see [`https::Setup`]: `server`, `dir`, `url`, `port`, `client`, `get`)
/// with its other CAs: `front` (front proxy), `clients` (`--client-ca-file`) and `other`
/// (trusted by nobody).
struct Setup {
    https: https::Setup,
    front: TestCa,
    clients: TestCa,
    other: TestCa,
}

impl std::ops::Deref for Setup {
    type Target = https::Setup;

    fn deref(&self) -> &https::Setup {
        &self.https
    }
}

/// The adapter with both CAs from flags and `--authorization-always-allow`; the store is a
/// closed port.
async fn start() -> Result<Setup, Box<dyn std::error::Error>> {
    start_against(None).await
}

/// As [`start`], with the store at `store_url`.
async fn start_against(store_url: Option<String>) -> Result<Setup, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let front = TestCa::new(dir.path(), "front")?;
    let clients = TestCa::new(dir.path(), "clients")?;
    let other = TestCa::new(dir.path(), "other")?;
    let flags = [
        https::flag("client-ca-file", &clients),
        https::flag("requestheader-client-ca-file", &front),
        format!("--requestheader-allowed-names={FRONT_PROXY_CN},other-name"),
        "--authorization-always-allow".to_owned(),
    ];
    let https = https::start_with_store(dir, None, &flags, store_url).await?;
    Ok(Setup {
        https,
        front,
        clients,
        other,
    })
}

#[tokio::test]
async fn front_proxy_certificates_need_an_allowed_cn_and_a_user_header() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let proxy = setup.client(Some(&setup.front.client_cert(FRONT_PROXY_CN, &[])?));
        let (status, body) = setup
            .get(
                &proxy,
                "/apis",
                &[("X-Remote-User", "alice"), ("X-Remote-Group", "dev")],
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "APIGroupList", "{body}");

        let message = unauthorized(setup.get(&proxy, "/apis", &[]).await?);
        assert!(message.contains("X-Remote-User"), "{message}");

        let stranger = setup.client(Some(&setup.front.client_cert("not-allowed", &[])?));
        let message = unauthorized(
            setup
                .get(&stranger, "/apis", &[("X-Remote-User", "alice")])
                .await?,
        );
        assert!(message.contains("requestheader-allowed-names"), "{message}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_certificate_expiring_on_an_open_connection_is_refused_from_then_on() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let brief = setup.clients.client_cert_valid_for(
            "brief",
            &["readers"],
            // X.509 times are whole seconds: the first request has 4–5 s.
            std::time::Duration::from_secs(5),
        )?;
        // One client, so the second request goes over the first one's kept-alive connection,
        // whose certificate was judged valid when it opened.
        let user = setup.client(Some(&brief));
        let (status, body) = setup.get(&user, V2, &[]).await?;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        let message = unauthorized(setup.get(&user, V2, &[]).await?);
        assert!(message.contains("expired"), "{message}");

        // A certificate without a CN names no user.
        let nameless = setup.client(Some(&setup.clients.client_cert("", &["readers"])?));
        let message = unauthorized(setup.get(&nameless, V2, &[]).await?);
        assert!(message.contains("CN is empty"), "{message}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn client_ca_certificates_authenticate_and_others_are_401() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let user = setup.client(Some(&setup.clients.client_cert("bob", &["readers"])?));
        let (status, body) = setup.get(&user, V2, &[]).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "APIResourceList", "{body}");

        // A certificate from an unknown CA passes the handshake and is refused with a Status.
        let other = setup.client(Some(&setup.other.client_cert("eve", &["readers"])?));
        let message = unauthorized(
            setup
                .get(&other, "/apis", &[("X-Remote-User", "eve")])
                .await?,
        );
        assert!(message.contains("does not chain"), "{message}");

        let anonymous = setup.client(None);
        let message = unauthorized(setup.get(&anonymous, "/apis", &[]).await?);
        assert!(message.contains("no client certificate"), "{message}");

        let message = unauthorized(
            setup
                .get(
                    &anonymous,
                    "/apis",
                    &[("Authorization", "Bearer some-token")],
                )
                .await?,
        );
        assert!(message.contains("bearer"), "{message}");

        // A user header without a front-proxy certificate names nobody.
        unauthorized(
            setup
                .get(&anonymous, "/apis", &[("X-Remote-User", "admin")])
                .await?,
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_rotated_client_ca_file_is_trusted_without_a_restart() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let before = setup.clients.client_cert("alice", &[])?;
        let after = setup.other.client_cert("bob", &[])?;
        assert_eq!(setup.until(&before, 200).await.0, 200);
        unauthorized(setup.get(&setup.client(Some(&after)), "/apis", &[]).await?);

        // The --client-ca-file is rewritten with another CA (a rotation).
        std::fs::write(setup.clients.cert_path(), setup.other.cert_pem())?;
        let (status, body) = setup.until(&after, 200).await;
        assert_eq!(status, 200, "the rotated CA is not trusted: {body}");
        let message = unauthorized(
            setup
                .get(&setup.client(Some(&before)), "/apis", &[])
                .await?,
        );
        assert!(message.contains("does not chain"), "{message}");
        // The reload is counted just after the new CA is put in force: allow it a moment.
        let reloaded = r#"sextant_adapter_tls_reloads_total{file="ClientCa",outcome="Success"} 1"#;
        let mut metrics = String::new();
        for _ in 0..40 {
            metrics = setup
                .client(Some(&after))
                .get(format!("{}/metrics", setup.url))
                .send()
                .await?
                .text()
                .await?;
            if metrics.lines().any(|l| l == reloaded) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(metrics.lines().any(|l| l == reloaded), "{metrics}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn probes_need_no_credentials_and_upgrades_are_refused() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let anonymous = setup.client(None);
        for path in ["/healthz", "/livez"] {
            let response = anonymous.get(format!("{}{path}", setup.url)).send().await?;
            assert_eq!(response.status().as_u16(), 200, "{path}");
        }
        let user = setup.client(Some(&setup.clients.client_cert("bob", &[])?));
        let (status, body) = setup
            .get(
                &user,
                "/apis",
                &[("Connection", "upgrade"), ("Upgrade", "websocket")],
            )
            .await?;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], 400, "{body}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn metrics_need_an_authenticated_user_and_count_every_answer() -> TestResult {
    bounded(async {
        let setup = start().await?;
        let anonymous = setup.client(None);
        unauthorized(setup.get(&anonymous, "/metrics", &[]).await?);
        let user = setup.client(Some(&setup.clients.client_cert("prometheus", &[])?));
        for _ in 0..2 {
            assert_eq!(setup.get(&user, "/apis", &[]).await?.0, 200);
        }
        let response = user.get(format!("{}/metrics", setup.url)).send().await?;
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await?;
        for expected in [
            r#"sextant_adapter_requests_total{api="Other",code="200"} 2"#,
            r#"sextant_adapter_requests_total{api="Other",code="401"} 1"#,
            "# TYPE sextant_adapter_relists counter",
            "# TYPE sextant_adapter_store_requests counter",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_raw_reads_values_from_prometheus_with_a_client_certificate() -> TestResult {
    bounded(async {
        let kubectl = std::path::Path::new("/usr/bin/kubectl");
        if !kubectl.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubectl is missing under CI"
            );
            eprintln!("skipped: /usr/bin/kubectl is not installed");
            return Ok(());
        }
        let Some(prometheus) =
            test_support::or_skip(PrometheusServer::with_series(common::recent_series()?).await)?
        else {
            return Ok(());
        };
        let setup = start_against(Some(prometheus.url().to_owned())).await?;
        let cert = setup
            .clients
            .client_cert("kubectl-user", &["sextant-readers"])?;
        let kubeconfig = setup.dir.path().join("empty-kubeconfig");
        std::fs::write(&kubeconfig, "")?;
        let get_raw = |path: String| {
            let mut command = tokio::process::Command::new(kubectl);
            command
                .env("KUBECONFIG", &kubeconfig)
                .arg("--server")
                .arg(format!("https://127.0.0.1:{}", setup.port))
                .arg("--certificate-authority")
                .arg(setup.server.cert_path())
                .arg("--client-certificate")
                .arg(&cert.cert_path)
                .arg("--client-key")
                .arg(&cert.key_path)
                .args(["get", "--raw", &path])
                .kill_on_drop(true);
            async move {
                let output = command.output().await?;
                let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                assert!(
                    output.status.success(),
                    "{path}: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                Ok::<Value, Box<dyn std::error::Error>>(serde_json::from_str(&stdout)?)
            }
        };
        let body = get_raw(V2.to_owned()).await?;
        assert_eq!(body["kind"], "APIResourceList", "{body}");
        assert_eq!(
            body["groupVersion"], "custom.metrics.k8s.io/v1beta2",
            "{body}"
        );
        let list = get_raw(format!(
            "{V2}/namespaces/ns1/pods/*/http_requests_per_second"
        ))
        .await?;
        assert_eq!(list["kind"], "MetricValueList", "{list}");
        let found = common::values(&list);
        assert_eq!(found.len(), 2, "ns1 has pods a and b: {list}");
        assert_eq!((found[0].0.as_str(), found[1].0.as_str()), ("a", "b"));
        assert!(common::close(found[0].2, 3.0), "{found:?}");
        assert!(common::close(found[1].2, 1.5), "{found:?}");
        Ok(())
    })
    .await
}

#[test]
fn the_binary_refuses_to_start_without_authorization_always_allow_or_a_kubeconfig() {
    // No flag, no KUBECONFIG, an empty HOME and no in-cluster environment: no Kubernetes
    // connection for SubjectAccessReviews, so the adapter must not start.
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
        .args([
            "--prometheus-url=http://127.0.0.1:1",
            "--secure-port=0",
            "--bind-address=127.0.0.1",
        ])
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--authorization-always-allow"), "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");
    assert!(stderr.contains("SubjectAccessReview"), "{stderr}");

    // A --kubeconfig that does not exist is named.
    let missing = home.path().join("missing-kubeconfig");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
        .args([
            "--prometheus-url=http://127.0.0.1:1",
            "--secure-port=0",
            "--bind-address=127.0.0.1",
        ])
        .arg(format!("--kubeconfig={}", missing.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}

#[test]
fn the_binary_requires_prometheus_url() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
        .arg("--authorization-always-allow")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a clap usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--prometheus-url"), "{stderr}");
}

#[test]
fn the_binary_names_a_bad_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rules.yaml");
    std::fs::write(&config, "rules: [{seriesQuery: 1, name: {matches: '('}}]").unwrap();
    for file in [config, dir.path().join("missing.yaml")] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
            .args([
                "--prometheus-url=http://127.0.0.1:1",
                "--authorization-always-allow",
            ])
            .arg(format!("--config={}", file.display()))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}
