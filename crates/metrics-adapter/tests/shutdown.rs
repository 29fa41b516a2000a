//! Termination as kube-apiserver does it: on the shutdown signal `/readyz` fails at once while
//! requests are still served for `--shutdown-delay-duration`; then the listener closes and a
//! request in flight still gets its whole answer before `serve` returns.
//!
//! The store answers every call after 1.5 s with an empty success, so the first relist
//! succeeds (nothing to serve) and a request for an unknown metric holds a targeted lookup in
//! flight for 1.5 s before its 404.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::https;
use test_support::fault::{Behaviour, FaultyStore};
use test_support::pki::TestCa;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_fails_readiness_first_and_finishes_requests_in_flight() -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), async {
        let store = FaultyStore::start(Behaviour::Delayed {
            delay: DELAY,
            status: 200,
            body: r#"{"status":"success","data":[]}"#.to_owned(),
        })
        .await?;
        let dir = tempfile::tempdir()?;
        let clients = TestCa::new(dir.path(), "clients")?;
        let flags = [
            https::flag("client-ca-file", &clients),
            "--authorization-always-allow".to_owned(),
            "--shutdown-delay-duration=1s".to_owned(),
        ];
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let setup = https::start_until(dir, None, &flags, Some(store.url().to_owned()), async {
            let _ = stopped.await;
        })
        .await?;
        let user = setup.client(Some(&clients.client_cert("hpa", &[])?));
        let deadline = Instant::now() + Duration::from_secs(15);
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
            signalled.elapsed() >= Duration::from_secs(1),
            "{:?}",
            signalled.elapsed()
        );
        let (status, body, answered) = in_flight.await??;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["code"], 404, "{body}");
        assert!(
            answered <= returned + Duration::from_millis(100),
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
