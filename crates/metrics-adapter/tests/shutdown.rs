//! Termination as kube-apiserver does it: on the shutdown signal `/readyz` fails at once while
//! requests are still served for `--shutdown-delay-duration`; then the listener closes and a
//! request in flight still gets its whole answer before `serve` returns.
//!
//! The store answers every call after 3 s with an empty success, so the first relist succeeds
//! (nothing to serve) and a request for an unknown metric holds a targeted lookup in flight for
//! 3 s before its 404: past the 2 s delay, into the drain. The binary's signal handling (a
//! second SIGTERM exits at once) is checked on the binary itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::https;
use test_support::fault::{Behaviour, FaultyStore};
use test_support::pki::TestCa;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const STORE_DELAY: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_fails_readiness_first_and_finishes_requests_in_flight() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let store = FaultyStore::start(Behaviour::Delayed {
            delay: STORE_DELAY,
            status: 200,
            body: r#"{"status":"success","data":[]}"#.to_owned(),
        })
        .await?;
        let dir = tempfile::tempdir()?;
        let clients = TestCa::new(dir.path(), "clients")?;
        let flags = [
            https::flag("client-ca-file", &clients),
            "--authorization-always-allow".to_owned(),
            "--shutdown-delay-duration=2s".to_owned(),
            "--query-timeout=10s".to_owned(),
        ];
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let setup = https::start_until(dir, None, &flags, Some(store.url().to_owned()), async {
            let _ = stopped.await;
        })
        .await?;
        let user = setup.client(Some(&clients.client_cert("hpa", &[])?));
        let deadline = Instant::now() + Duration::from_secs(30);
        while setup.get(&user, "/readyz", &[]).await?.0 != 200 {
            assert!(Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A request whose targeted lookup is in flight when the signal comes.
        let path = format!("{}/namespaces/ns1/pods/*/late_metric", common::V2);
        let in_flight = tokio::spawn({
            let (user, url) = (user.clone(), format!("{}{path}", setup.url));
            async move {
                let response = user.get(url).send().await?;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await?;
                Ok::<_, reqwest::Error>((status, body, Instant::now()))
            }
        });
        while !store
            .requests()
            .iter()
            .any(|r| r.body.contains("late_metric") || r.request_line.contains("late_metric"))
        {
            assert!(
                Instant::now() < deadline,
                "the lookup never reached the store"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let signalled = Instant::now();
        stop.send(()).unwrap();

        // During the delay: not ready, still serving (on a new connection too).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fresh = setup.client(Some(&clients.client_cert("prober", &[])?));
        let (status, body) = setup.get(&fresh, "/readyz", &[]).await?;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("shutting down"),
            "{body}"
        );
        assert_eq!(setup.get(&fresh, "/healthz", &[]).await?.0, 200);
        assert_eq!(setup.get(&fresh, "/apis", &[]).await?.0, 200);

        // `serve` returns after the delay, and not before the request in flight was answered
        // (its whole answer: the unknown metric's 404 Status).
        while !setup.stopped() {
            assert!(
                signalled.elapsed() < Duration::from_secs(20),
                "serve did not return"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let returned = Instant::now();
        assert!(
            signalled.elapsed() >= Duration::from_secs(2),
            "{:?}",
            signalled.elapsed()
        );
        let (status, body, answered) = in_flight.await??;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["code"], 404, "{body}");
        // Without the drain `serve` would return ≈1 s before the answer (store 3 s, delay 2 s);
        // 0.5 s of slack absorbs a loaded machine's scheduling.
        assert!(
            answered <= returned + Duration::from_millis(500),
            "serve returned {:?} before the request in flight was answered",
            answered - returned
        );
        let refused = setup
            .client(None)
            .get(format!("{}/healthz", setup.url))
            .send()
            .await;
        assert!(refused.is_err(), "still accepting: {refused:?}");
        Ok(())
    })
    .await?
}

/// The binary with `--shutdown-delay-duration=<delay>`, no Kubernetes connection, listening on
/// a loopback port (returned once it accepts connections).
fn start_binary(delay: &str) -> (std::process::Child, u16) {
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
        .args([
            "--prometheus-url=http://127.0.0.1:1",
            &format!("--secure-port={port}"),
            "--bind-address=127.0.0.1",
            "--authorization-always-allow",
            &format!("--shutdown-delay-duration={delay}"),
        ])
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("HOME", home.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the adapter never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits at most `limit` for the process to exit; its status.
fn exit_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_keeps_serving_for_the_delay_then_exits_0_and_a_second_one_exits_1_at_once() {
    let (mut child, port) = start_binary("1s");
    terminate(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the delay"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(
        exit_within(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );

    let (mut child, _) = start_binary("60s");
    terminate(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the delay"
    );
    terminate(&child);
    assert_eq!(
        exit_within(&mut child, Duration::from_secs(5)).code(),
        Some(1)
    );
}
