//! Per-metric authorization by SubjectAccessReview against the fake Kubernetes API: discovery
//! is not reviewed, an allowed user reaches the provider, a denied one gets a 403 `Status`
//! naming the metric, each review carries the request info exactly, decisions are cached, and a
//! failing review fails closed (500).
//!
//! The store is a closed port, so a metric request that passes authorization answers 404 or
//! 503, never 403.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use metrics_adapter::options::Options;
use metrics_adapter::serve::Adapter;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use test_support::kube_api::{FakeApi, ReviewFailures, ReviewFault};
use test_support::pki::TestCa;
use tokio::task::JoinHandle;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";
const SAR: &str = "POST /apis/authorization.k8s.io/v1/subjectaccessreviews";
const METRIC: &str = "http_requests_per_second";

async fn bounded(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), body).await?
}

/// A running adapter authorizing through `fake`, and a client authenticated as `user`.
struct Setup {
    _dir: tempfile::TempDir,
    url: String,
    client: reqwest::Client,
    task: JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(fake: &FakeApi, user: &str) -> Result<Setup, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let server = TestCa::new(dir.path(), "server")?;
    let clients = TestCa::new(dir.path(), "clients")?;
    let serving = server.server_cert("serving")?;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", listener.local_addr()?)
    };
    let options = Options::try_parse_from([
        "sextant-adapter".to_owned(),
        "--secure-port=0".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--tls-cert-file={}", serving.cert_path.display()),
        format!("--tls-private-key-file={}", serving.key_path.display()),
        format!("--client-ca-file={}", clients.cert_path().display()),
        format!("--prometheus-url={closed}"),
        "--query-timeout=2s".to_owned(),
    ])?;
    let adapter = Adapter::start_with(&options, Some(fake.client())).await?;
    let port = adapter.local_addr()?.port();
    let task = tokio::spawn(adapter.serve(std::future::pending()));

    let cert = clients.client_cert(user, &["readers"])?;
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(server.cert_path())?)?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_file_iter(&cert.cert_path)?.collect::<Result<Vec<_>, _>>()?,
        PrivateKeyDer::from_pem_file(&cert.key_path)?,
    )?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()?;
    Ok(Setup {
        _dir: dir,
        url: format!("https://127.0.0.1:{port}"),
        client,
        task,
    })
}

impl Setup {
    async fn get(&self, path: &str) -> Result<(u16, Value), Box<dyn std::error::Error>> {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

fn allow(fake: &FakeApi, user: &str, verb: &str, resource: &str, subresource: &str) {
    fake.cluster.lock().unwrap().allowed.push((
        user.to_owned(),
        verb.to_owned(),
        resource.to_owned(),
        subresource.to_owned(),
    ));
}

fn reviews(fake: &FakeApi) -> usize {
    fake.lines().iter().filter(|l| l.starts_with(SAR)).count()
}

#[tokio::test]
async fn discovery_is_not_reviewed() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(&fake, "bob").await?;
        for path in ["/apis", V2, "/apis/external.metrics.k8s.io/v1beta1"] {
            let (status, body) = setup.get(path).await?;
            assert_eq!(status, 200, "{path}: {body}");
        }
        assert_eq!(reviews(&fake), 0, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_allowed_user_passes_and_the_review_carries_the_request_info() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        allow(&fake, "bob", "list", "pods", METRIC);
        let setup = start(&fake, "bob").await?;
        let (status, body) = setup
            .get(&format!("{V2}/namespaces/ns1/pods/*/{METRIC}"))
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let review = fake.body_of(SAR).expect("a SubjectAccessReview");
        assert_eq!(review["apiVersion"], "authorization.k8s.io/v1", "{review}");
        assert_eq!(review["kind"], "SubjectAccessReview", "{review}");
        assert_eq!(
            review["spec"],
            json!({
                "user": "bob",
                "groups": ["readers", "system:authenticated"],
                "resourceAttributes": {
                    "verb": "list",
                    "group": "custom.metrics.k8s.io",
                    "version": "v1beta2",
                    "namespace": "ns1",
                    "resource": "pods",
                    "subresource": METRIC,
                },
            }),
            "{review}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_percent_encoded_path_is_reviewed_as_it_is_served() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(&fake, "bob").await?;
        // `%2A` is `*`: the router serves the list of every pod, so that is what is reviewed
        // (and denied), not a get of a pod named "%2A".
        let (status, body) = setup
            .get(&format!("{V2}/namespaces/ns2/pods/%2A/{METRIC}"))
            .await?;
        assert_eq!((status, &body["code"]), (403, &json!(403)), "{body}");
        let review = fake.body_of(SAR).expect("a SubjectAccessReview");
        assert_eq!(
            review["spec"]["resourceAttributes"],
            json!({"verb": "list", "group": "custom.metrics.k8s.io", "version": "v1beta2",
                   "namespace": "ns2", "resource": "pods", "subresource": METRIC}),
            "{review}"
        );
        // Slashes encoded inside one segment would be one segment to the review and several
        // to the router: refused before either, as is an encoding that is not UTF-8.
        for path in [
            format!("{V2}/namespaces%2Fns2%2Fpods%2F*%2F{METRIC}"),
            format!("{V2}/namespaces/ns2/pods/%2A%2F{METRIC}"),
            format!("{V2}/namespaces/ns2/pods/%FF/{METRIC}"),
        ] {
            let (status, body) = setup.get(&path).await?;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(
                (&body["kind"], &body["code"]),
                (&json!("Status"), &json!(400)),
                "{path}: {body}"
            );
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("malformed request path"),
                "{path}: {body}"
            );
        }
        assert_eq!(reviews(&fake), 1, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_metric_path_without_request_info_is_refused_not_served_unreviewed() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(&fake, "bob").await?;
        // An empty segment is an empty parameter to axum (the external route would serve
        // namespace ""), and no request info to the review: refused before either.
        for path in [
            "/apis/external.metrics.k8s.io/v1beta1/namespaces//queue_depth".to_owned(),
            format!("{V2}/namespaces//pods/*/{METRIC}"),
            format!("{V2}/namespaces/ns1/pods/*/{METRIC}/extra"),
            format!("{V2}/pods"),
        ] {
            let (status, body) = setup.get(&path).await?;
            assert_eq!(status, 404, "{path}: {body}");
            assert_eq!(body["code"], 404, "{path}: {body}");
        }
        assert_eq!(reviews(&fake), 0, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn one_object_is_a_get_with_its_name_and_external_metrics_are_resources() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        allow(&fake, "bob", "get", "pods", METRIC);
        allow(&fake, "bob", "list", "queue_depth", "");
        let setup = start(&fake, "bob").await?;
        let (status, body) = setup
            .get(&format!("{V2}/namespaces/ns1/pods/web-1/{METRIC}"))
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let (status, body) = setup
            .get("/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/queue_depth")
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let calls = fake.calls_to(SAR);
        assert_eq!(calls.len(), 2, "{:?}", fake.lines());
        assert_eq!(
            calls[0]["spec"]["resourceAttributes"],
            json!({"verb": "get", "group": "custom.metrics.k8s.io", "version": "v1beta2",
                   "namespace": "ns1", "resource": "pods", "name": "web-1", "subresource": METRIC})
        );
        assert_eq!(
            calls[1]["spec"]["resourceAttributes"],
            json!({"verb": "list", "group": "external.metrics.k8s.io", "version": "v1beta1",
                   "namespace": "ns1", "resource": "queue_depth"})
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_denied_user_gets_a_403_status_naming_the_metric() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        allow(&fake, "bob", "list", "pods", "another_metric");
        let setup = start(&fake, "mallory").await?;
        let (status, body) = setup
            .get(&format!("{V2}/namespaces/ns1/pods/*/{METRIC}"))
            .await?;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["code"], 403, "{body}");
        assert_eq!(body["reason"], "Forbidden", "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        for part in [
            "\"mallory\"",
            "cannot list",
            &format!("pods/{METRIC}"),
            "ns1",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn metrics_are_a_non_resource_get_of_the_path() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(&fake, "prometheus").await?;
        let (status, body) = setup.get("/metrics").await?;
        assert_eq!(status, 403, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("cannot get path \"/metrics\""),
            "{message}"
        );
        let review = fake
            .calls_to(SAR)
            .pop()
            .ok_or("no SubjectAccessReview was made")?;
        assert_eq!(
            review["spec"]["nonResourceAttributes"],
            serde_json::json!({"path": "/metrics", "verb": "get"}),
            "{review}"
        );
        assert!(review["spec"]["resourceAttributes"].is_null(), "{review}");

        // Granted (the user's decision is cached, so ask as it would after the TTL: another user).
        allow(&fake, "prometheus-2", "get", "/metrics", "");
        let setup = start(&fake, "prometheus-2").await?;
        let response = setup
            .client
            .get(format!("{}/metrics", setup.url))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response
                .text()
                .await?
                .contains("sextant_adapter_config_last_reload_successful")
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn decisions_are_cached_per_user_and_attributes() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(&fake, "mallory").await?;
        let path = format!("{V2}/namespaces/ns1/pods/*/{METRIC}");
        assert_eq!(setup.get(&path).await?.0, 403);
        assert_eq!(setup.get(&path).await?.0, 403);
        assert_eq!(reviews(&fake), 1, "{:?}", fake.lines());
        // Another metric is another decision.
        assert_eq!(
            setup
                .get(&format!("{V2}/namespaces/ns1/pods/*/other"))
                .await?
                .0,
            403
        );
        assert_eq!(reviews(&fake), 2, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_review_the_api_server_fails_once_is_asked_again_within_the_request() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        allow(&fake, "bob", "list", "pods", METRIC);
        fake.cluster.lock().unwrap().subject_access_review_failures =
            ReviewFailures::next(1, ReviewFault::Status(500));
        let setup = start(&fake, "bob").await?;
        let path = format!("{V2}/namespaces/ns1/pods/*/{METRIC}");
        let (status, body) = setup.get(&path).await?;
        // Authorized: what follows is the store's answer (none runs here), not a 403 or 500.
        assert!(status == 404 || status == 503, "{status}: {body}");
        assert_eq!(reviews(&fake), 2, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_failing_review_fails_closed_with_500() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        allow(&fake, "bob", "list", "pods", METRIC);
        // The API server refuses the adapter's reviews (no `system:auth-delegator` binding).
        fake.cluster.lock().unwrap().subject_access_review_failures =
            ReviewFailures::always(ReviewFault::Status(403));
        let setup = start(&fake, "bob").await?;
        let path = format!("{V2}/namespaces/ns1/pods/*/{METRIC}");
        let (status, body) = setup.get(&path).await?;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["code"], 500, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("SubjectAccessReview"), "{message}");
        // Failures are not cached: once the authorizer answers, the request passes.
        fake.cluster.lock().unwrap().subject_access_review_failures = ReviewFailures::none();
        let (status, body) = setup.get(&path).await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        Ok(())
    })
    .await
}
